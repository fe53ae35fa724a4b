//! Credential plugins that hang are stopped.
//!
//! kube-rs runs a kubeconfig's exec plugin and waits for it without a limit,
//! blocking the thread that makes the request: a plugin stuck on a network
//! call or a prompt nobody sees would hang `mtls` for ever, in CI too. So the
//! plugin is run through `mtls` itself ([`WRAPPER`]): the wrapper starts the
//! plugin, passes its input and output through, and stops it once
//! `--request-timeout` has passed, exiting with [`EXIT_TIMED_OUT`], which the
//! error messages recognise (`redact`).
//!
//! The wrapper exits at the deadline even when the plugin left a child behind
//! that holds its output open: its own output then closes, which is what
//! kube-rs waits for.
//!
//! An interactive plugin (interactiveMode `IfAvailable` or `Always`) run at a
//! terminal may be waiting for the person at it, who can press Ctrl-C: it is
//! not bounded.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first argument that makes `mtls` run as the wrapper of a plugin.
pub const WRAPPER: &str = "__bounded-credential-plugin";

/// The wrapper's exit code when it stopped the plugin (as `timeout(1)`'s).
pub const EXIT_TIMED_OUT: i32 = 124;

/// The wrapper's exit code when the plugin cannot be started (as a shell's).
pub const EXIT_CANNOT_RUN: i32 = 127;

/// A kubeconfig's credential plugin, as errors name it.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub command: String,
    /// Set when the plugin runs bounded.
    pub timeout: Option<Duration>,
}

/// Makes kube-rs run the plugin of `exec` through the wrapper, bounded by
/// `timeout`; returns the plugin as errors name it.
pub fn bound(exec: &mut kube::config::ExecConfig, timeout: Duration) -> Option<Plugin> {
    let command = exec.command.clone()?;
    let interactive = !matches!(
        exec.interactive_mode,
        Some(kube::config::ExecInteractiveMode::Never)
    );
    let at_terminal = interactive && std::io::stdin().is_terminal();
    let wrapper = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string));
    let (Some(wrapper), false) = (wrapper, at_terminal) else {
        return Some(Plugin {
            command,
            timeout: None,
        });
    };
    let mut args = vec![
        WRAPPER.to_string(),
        timeout.as_millis().to_string(),
        "--".to_string(),
        command.clone(),
    ];
    args.extend(exec.args.take().unwrap_or_default());
    exec.command = Some(wrapper);
    exec.args = Some(args);
    Some(Plugin {
        command,
        timeout: Some(timeout),
    })
}

/// The wrapper: `WRAPPER MILLISECONDS -- COMMAND [ARG]...` (the arguments
/// after the program's name). Runs COMMAND with this process's input and
/// environment, copies its output, and exits with its exit code, or with
/// [`EXIT_TIMED_OUT`] after stopping it when it runs past the deadline.
pub fn run_wrapper(args: &[OsString]) -> ExitCode {
    let (Some(millis), Some(command)) = (
        args.get(1)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<u64>().ok()),
        args.get(3)
            .filter(|_| args.get(2).is_some_and(|a| a == "--")),
    ) else {
        eprintln!("usage: mtls {WRAPPER} MILLISECONDS -- COMMAND [ARG]...");
        return ExitCode::from(2);
    };
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut child = match Command::new(command)
        .args(&args[4..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("cannot run {}: {e}", command.to_string_lossy());
            return exit_code(EXIT_CANNOT_RUN);
        }
    };
    // The output is copied on threads of their own, so that a child of the
    // plugin that holds it open cannot keep the wrapper past the deadline.
    let (done, copied) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        copy_on_thread(out, std::io::stdout(), done.clone());
    }
    if let Some(err) = child.stderr.take() {
        copy_on_thread(err, std::io::stderr(), done);
    }
    let mut status = None;
    let mut open = 2;
    while status.is_none() || open > 0 {
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return exit_code(EXIT_TIMED_OUT);
        }
        if status.is_none() {
            status = child.try_wait().ok().flatten();
        }
        let wait = (deadline - now).min(Duration::from_millis(20));
        if open == 0 {
            std::thread::sleep(wait);
        } else if copied.recv_timeout(wait).is_ok() {
            open -= 1;
        }
    }
    exit_code(status.and_then(|s| s.code()).unwrap_or(1))
}

fn copy_on_thread(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.flush();
        let _ = done.send(());
    });
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
