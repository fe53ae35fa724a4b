//! `mtls`: show and control Istio mutual TLS.
//!
//! `main` stays thin: parse, run, print `error: ...` with the whole cause chain,
//! and choose the exit code (0 done, 1 failed, 2 usage, 3 verdict). A closed
//! stdout pipe is a success, but never hides a verdict or a failure: output
//! stops, the command goes on (`cmd::print_stdout`).

use std::process::ExitCode;

use clap::CommandFactory;
use colored::Colorize;

mod cli;
mod cmd;
mod complete;
mod error;

use cli::{Cli, Command};
use error::{EXIT_FAILURE, EXIT_USAGE, EXIT_VERDICT, UsageError, Verdict};
use mtls::mode::Mode;
use mtls::policy::plan::Change;

fn main() -> ExitCode {
    // kube-rs runs a credential plugin through mtls, to bound it (source::plugin).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args
        .first()
        .is_some_and(|a| a == mtls::source::plugin::WRAPPER)
    {
        return mtls::source::plugin::run_wrapper(&args);
    }
    // kubectl completing `kubectl mtls ...` runs `kubectl_complete-mtls`.
    let invoked_as = std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_os_string())
        })
        .unwrap_or_default();
    if invoked_as == "kubectl_complete-mtls" {
        return complete::kubectl_plugin(&args);
    }
    // A shell asking for completions (`COMPLETE=bash mtls -- ...`) is answered here.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .completer("mtls")
        .complete();
    let cli = parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Parses the command line; installed as `kubectl-mtls`, `mtls` is a kubectl
/// plugin, and its help says `kubectl mtls`.
fn parse() -> Cli {
    use clap::FromArgMatches;
    let as_plugin = std::env::args_os()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_os_string())
        })
        .is_some_and(|name| name == "kubectl-mtls");
    let mut command = Cli::command();
    if as_plugin {
        command = command
            .bin_name("kubectl mtls")
            .display_name("kubectl mtls");
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    if cli.global.output == cli::Output::Dot && !matches!(cli.command, Command::Explain(_)) {
        return Err(error::UsageError(
            "-o dot draws the graph of `mtls explain`; this command prints table, wide, json or yaml"
                .into(),
        )
        .into());
    }
    if cli.global.output == cli::Output::Sarif && !matches!(cli.command, Command::Check(_)) {
        return Err(error::UsageError(
            "-o sarif reports the findings of `mtls check`; this command prints table, wide, json or yaml"
                .into(),
        )
        .into());
    }
    let session = cmd::Session::new(&cli.global);
    match &cli.command {
        Command::Get(args) => cmd::get::run(&session, args),
        Command::Allow(args) => cmd::change::run(&session, args, Change::Set(Mode::Permissive)),
        Command::Require(args) => cmd::change::run(&session, args, Change::Set(Mode::Strict)),
        Command::Disable(args) => cmd::change::run(&session, args, Change::Set(Mode::Disable)),
        Command::Unset(args) => cmd::change::run(&session, args, Change::Unset),
        Command::Check(args) => cmd::check::run(&session, args),
        Command::Explain(args) => cmd::explain::run(&session, args),
        Command::Traffic(args) => cmd::traffic::run(&session, args),
        Command::Migrate(args) => cmd::migrate::run(&session, args),
        Command::Completions { shell } => cmd::print_stdout(&completion_script(*shell)?),
        #[cfg(feature = "docs")]
        Command::GenerateDocs { dir } => generate_docs(dir),
    }
}

/// The script that registers `mtls`'s completion with a shell.
fn completion_script(shell: cli::Shell) -> anyhow::Result<String> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .ok_or_else(|| anyhow::anyhow!("no completion support for {}", shell.name()))?;
    let mut out = Vec::new();
    completer.write_registration("COMPLETE", "mtls", "mtls", "mtls", &mut out)?;
    let script = String::from_utf8_lossy(&out).into_owned();
    Ok(match shell {
        cli::Shell::Bash => bash_colons(&script)?,
        _ => script,
    })
}

/// Bash splits the words it completes at the characters of
/// `COMP_WORDBREAKS`, `:` among them, so `ns/svc:po` arrives as `ns/svc`,
/// `:` and `po`, and only `po` is replaced by a reply. The script joins the
/// words back as typed before asking `mtls`, and takes off each reply what
/// bash keeps before the last `:` (as bash-completion's
/// `__ltrim_colon_completions` does).
fn bash_colons(script: &str) -> anyhow::Result<String> {
    const WORDS: &str = r#"    local words=("${COMP_WORDS[@]}")
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        words[COMP_CWORD]="$2"
    fi
"#;
    const JOINED: &str = r#"    local words=() _mtls_cword=0 _mtls_i
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
"#;
    const REPLIED: &str = "    if [[ $? != 0 ]]; then
        unset COMPREPLY
";
    const TRIMMED: &str = r#"    local _mtls_status=$?
    if [[ -n $_mtls_kept ]]; then
        COMPREPLY=("${COMPREPLY[@]#"$_mtls_kept"}")
    fi
    if [[ $_mtls_status != 0 ]]; then
        unset COMPREPLY
"#;
    if !script.contains(WORDS) || !script.contains(REPLIED) {
        anyhow::bail!("clap_complete's bash script changed: the handling of ':' needs a look");
    }
    Ok(script
        .replacen(WORDS, JOINED, 1)
        .replacen(REPLIED, TRIMMED, 1))
}

/// Writes `docs/man/*.1` (one page for `mtls`, one per subcommand) and
/// `completions/mtls.SHELL` below `dir`.
#[cfg(feature = "docs")]
fn generate_docs(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let man = dir.join("docs/man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut command = Cli::command();
    // Propagates the global flags into each subcommand's page.
    command.build();
    let mut pages = vec![("mtls".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("mtls-{}", sub.get_name());
        pages.push((
            name.clone(),
            sub.clone()
                .name(name)
                .display_name(format!("mtls {}", sub.get_name())),
        ));
    }
    for (name, page) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        let path = man.join(format!("{name}.1"));
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for shell in [
        cli::Shell::Bash,
        cli::Shell::Zsh,
        cli::Shell::Fish,
        cli::Shell::Powershell,
        cli::Shell::Elvish,
    ] {
        let path = completions.join(format!("mtls.{}", shell.name()));
        std::fs::write(&path, completion_script(shell)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn report(err: &anyhow::Error) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let code = if err.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else if err.downcast_ref::<Verdict>().is_some() {
        EXIT_VERDICT
    } else {
        EXIT_FAILURE
    };
    let prefix = "error:".red().bold();
    // One cause per line: the error, then what it came from.
    let mut lines = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        lines.extend(
            text.lines()
                .map(|l| mtls::render::printable(l).into_owned()),
        );
    }
    let mut first = true;
    for line in lines {
        if first {
            eprintln!("{prefix} {line}");
            first = false;
        } else {
            eprintln!("  {line}");
        }
    }
    ExitCode::from(code)
}
