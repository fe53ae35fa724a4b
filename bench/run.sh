#!/usr/bin/env bash
# Benchmarks `mtls` against `kubectl` on synthetic meshes served by the loopback
# API server: wall time, API requests, bytes received and peak RSS, at about
# 1,000, 10,000 and 40,000 pods. Prints a Markdown table (docs/performance.md
# holds the last run). Usage: bench/run.sh [SIZES...], a size being
# NAMESPACES,SERVICES_PER_NAMESPACE,PODS_PER_SERVICE. Pods are realistic
# (injected, with status and managedFields, about 12 KB of JSON each);
# PODS=lean gives the small ones of earlier runs.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=("10,25,4" "50,50,4" "100,100,4")
runs=${RUNS:-3}
pod_shape=${PODS:-realistic}

cargo build --release --locked -p mtls -p kube-loopback >&2
mtls=target/release/mtls
loopback=target/release/kube-loopback
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# median wall seconds (millisecond precision), peak RSS (MiB) and median CPU
# seconds (user + system, the command's own) of a command over $runs runs
measure() {
  local times=() cpus=() rss=0 start end m u s
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    /usr/bin/time -f "%M %U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
    read -r m u s <"$work/time"
    cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')")
    (( m > rss )) && rss=$m
  done
  local mid=$(( (runs + 1) / 2 ))
  local median cpu
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "${mid}p")
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "${mid}p")
  echo "$(awk -v ms="$median" 'BEGIN { printf "%.3f", ms / 1000 }') $(( rss / 1024 )) $cpu"
}

# median wall seconds, over $runs runs, of receiving with curl, four at a time,
# what the server's log says the last command asked for (the pages of one LIST
# too run side by side here, so the floor is if anything low)
floor() {
  local view=(kubectl config view --raw -o)
  "${view[@]}" jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$work/cert.pem"
  "${view[@]}" jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$work/key.pem"
  "${view[@]}" jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$work/ca.pem"
  local server times=() start end
  server=$("${view[@]}" jsonpath='{.clusters[0].cluster.server}')
  awk '{ print $2 }' "$work/log" >"$work/uris"
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    xargs -P 4 -I{} sh -c '
      case "$1" in
        *tlsMode%3Distio*) accept="application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json" ;;
        *) accept=application/json ;;
      esac
      curl -sf --cert "$3/cert.pem" --key "$3/key.pem" --cacert "$3/ca.pem" -H "Accept: $accept" -o /dev/null "$2$1"
    ' _ {} "$server" "$work" <"$work/uris"
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  awk -v ms="$median" 'BEGIN { printf "%.3f", ms / 1000 }'
}

# requests and bytes the server saw for one run of a command
traffic() {
  sleep 0.3; : >"$work/log"
  "$@" >/dev/null 2>&1
  sleep 0.3
  awk '{ n++; b += $4 } END { printf "%d %.1f\n", n, b / 1048576 }' "$work/log"
}

notes=()
echo "| pods | services | command | wall s | vs kubectl | CPU s | requests | MiB received | peak RSS MiB |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|"
for size in "${sizes[@]}"; do
  IFS=, read -r ns svc pods <<<"$size"
  : >"$work/log"
  "$loopback" --generate "$size" --pods "$pod_shape" --kubeconfig "$work/kubeconfig" --log "$work/log" >"$work/url" 2>/dev/null &
  server=$!
  for _ in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
  export KUBECONFIG=$work/kubeconfig
  total_pods=$(( ns * svc * pods )); total_svcs=$(( ns * svc ))

  read -r k_t k_rss k_cpu < <(measure kubectl get pods,services,peerauthentications,destinationrules -A -o json)
  read -r k_n k_b < <(traffic kubectl get pods,services,peerauthentications,destinationrules -A -o json)
  row() {
    local label=$1; shift
    read -r t rss cpu < <(measure "$@")
    read -r n b < <(traffic "$@")
    ratio=$(awk -v a="$t" -v b="$k_t" 'BEGIN { printf "%.2f", a / b }')
    echo "| $total_pods | $total_svcs | $label | $t | $ratio | $cpu | $n | $b | $rss |"
  }
  echo "| $total_pods | $total_svcs | kubectl get pods,services,pa,dr -A -o json | $k_t | 1.00 | $k_cpu | $k_n | $k_b | $k_rss |"
  pod_bytes=$(kubectl get --raw /api/v1/pods | wc -c)
  row "mtls get -A -o json" "$mtls" get -A -o json
  # The floor: the LISTs mtls made in its last run, received by curl, four at once.
  floor_t=$(floor)
  floor_ratio=$(awk -v a="$t" -v b="$floor_t" 'BEGIN { printf "%.2f", a / b }')
  echo "| $total_pods | $total_svcs | curl: the same LISTs, 4 at once (the floor) | $floor_t | $(awk -v a="$floor_t" -v b="$k_t" 'BEGIN { printf "%.2f", a / b }') | | | | |"
  notes+=("$total_pods pods ($pod_shape): $(( pod_bytes / total_pods )) bytes of JSON per pod as the server sends it; \`get -A\` at ${floor_ratio}x the floor")
  # check exits 3 on findings: a verdict, not a failure
  row "mtls check -A -o json" bash -c '"$0" check -A -o json >/dev/null; s=$?; [ $s -eq 0 ] || [ $s -eq 3 ]' "$mtls"
  row "mtls get team-000/svc-000:8000" "$mtls" get team-000/svc-000:8000 -o json
  row "mtls explain team-000/svc-000:8000" "$mtls" explain team-000/svc-000:8000
  kill "$server"; wait "$server" 2>/dev/null || true
done
runs=21
read -r v_t _ _ < <(measure "$mtls" --version)
echo
printf '%s\n' "${notes[@]}"
echo
echo "mtls --version: ${v_t}s (median of 21, including /usr/bin/time's own start)"
