
_clap_complete_mtls() {
    local IFS=$'\013'
    local _CLAP_COMPLETE_INDEX=${COMP_CWORD}
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE}
    if compopt +o nospace 2> /dev/null; then
        local _CLAP_COMPLETE_SPACE=false
    else
        local _CLAP_COMPLETE_SPACE=true
    fi
    local words=() _mtls_cword=0 _mtls_i
    for (( _mtls_i = 0; _mtls_i < ${#COMP_WORDS[@]}; _mtls_i++ )); do
        local _mtls_w="${COMP_WORDS[_mtls_i]}"
        if [[ "$COMP_WORDBREAKS" == *:* && $_mtls_i -gt 1 ]]             && [[ "$_mtls_w" == :* || "${COMP_WORDS[_mtls_i-1]}" == *: ]]; then
            words[${#words[@]}-1]+="$_mtls_w"
        else
            words+=("$_mtls_w")
        fi
        if [[ $_mtls_i -eq $COMP_CWORD ]]; then
            _mtls_cword=$(( ${#words[@]} - 1 ))
        fi
    done
    _CLAP_COMPLETE_INDEX=$_mtls_cword
    local _mtls_kept=""
    if [[ "$COMP_WORDBREAKS" == *:* && "${words[_mtls_cword]}" == *:* ]]; then
        _mtls_kept="${words[_mtls_cword]%"${words[_mtls_cword]##*:}"}"
    fi
    COMPREPLY=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$_CLAP_COMPLETE_INDEX" \
        _CLAP_COMPLETE_COMP_TYPE="$_CLAP_COMPLETE_COMP_TYPE" \
        _CLAP_COMPLETE_SPACE="$_CLAP_COMPLETE_SPACE" \
        COMPLETE="bash" \
        "mtls" -- "${words[@]}" \
    ) )
    local _mtls_status=$?
    if [[ -n $_mtls_kept ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$_mtls_kept"}")
    fi
    if [[ $_mtls_status != 0 ]]; then
        unset COMPREPLY
    elif [[ $_CLAP_COMPLETE_SPACE == false ]] && [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
        compopt -o nospace
    fi
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -o nospace -o bashdefault -o nosort -F _clap_complete_mtls mtls
else
    complete -o nospace -o bashdefault -F _clap_complete_mtls mtls
fi

