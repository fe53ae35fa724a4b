//! `mtls`: show and control Istio mutual TLS.
//!
//! `main` stays thin: parse, run, print `error: ...` with the whole cause chain,
//! and choose the exit code (0 done, 1 failed, 2 usage, 3 verdict). A closed
//! stdout pipe is a success.

mod check;
mod cli;
mod cmd;
mod error;
mod mode;
mod policy;
mod render;
mod source;
mod target;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use colored::Colorize;

use crate::cli::{Cli, Command};
use crate::error::{EXIT_FAILURE, EXIT_USAGE, EXIT_VERDICT, UsageError, Verdict};
use crate::mode::Mode;
use crate::policy::plan::Change;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let session = cmd::Session::new(&cli.global);
    match &cli.command {
        Command::Get(args) => cmd::get::run(&session, args),
        Command::Allow(args) => cmd::change::run(&session, args, Change::Set(Mode::Permissive)),
        Command::Require(args) => cmd::change::run(&session, args, Change::Set(Mode::Strict)),
        Command::Disable(args) => cmd::change::run(&session, args, Change::Set(Mode::Disable)),
        Command::Unset(args) => cmd::change::run(&session, args, Change::Unset),
        Command::Check(args) => cmd::check::run(&session, args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "mtls", &mut out);
            cmd::print_stdout(&String::from_utf8_lossy(&out))
        }
    }
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
        lines.extend(cause.to_string().lines().map(str::to_string));
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
