//! The one way the end-to-end tests run `mtls`: the built binary with its
//! arguments, in the environment of a user's shell that has no kubeconfig and
//! no color — each test adds what it needs (a kubeconfig, manifests on stdin,
//! colors, variables) — and its exit code, stdout and stderr as text.

#![allow(dead_code)] // each test binary uses a part

pub mod loopback;
pub mod prometheus;
pub mod tmux;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

/// `mtls` about to run.
pub struct Mtls {
    command: Command,
    stdin: Option<Vec<u8>>,
}

/// How a run of `mtls` ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Mtls {
    /// `mtls ARGS`, with `NO_COLOR`, no `KUBECONFIG`, no `COLUMNS` and no
    /// standard input.
    pub fn new<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Mtls {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mtls"));
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("KUBECONFIG")
            // Tables fit COLUMNS where it is set; the tests' own set it.
            .env_remove("COLUMNS")
            .stdin(Stdio::null());
        Mtls {
            command,
            stdin: None,
        }
    }

    /// One more argument (a path, say).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Mtls {
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Mtls {
        self.command.args(args);
        self
    }

    /// With `--kubeconfig PATH`.
    pub fn kubeconfig(mut self, path: &Path) -> Mtls {
        self.command.arg("--kubeconfig").arg(path);
        self
    }

    /// Run in `dir`, as from a shell there.
    pub fn current_dir(mut self, dir: &Path) -> Mtls {
        self.command.current_dir(dir);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Mtls {
        self.command.env_remove(key);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Mtls {
        self.command.env(key, value);
        self
    }

    /// Colors allowed, as in a terminal that has them (they still appear only
    /// where mtls writes to a terminal).
    pub fn colors(mut self) -> Mtls {
        self.command
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color");
        self
    }

    /// `input` on standard input.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Mtls {
        self.stdin = Some(input.into());
        self
    }

    /// The command, for a test that spawns it and acts while it runs; its
    /// output is piped.
    pub fn command(mut self) -> Command {
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.command
    }

    /// Runs mtls to its end.
    pub fn run(mut self) -> Run {
        use std::io::Write;
        if self.stdin.is_some() {
            self.command.stdin(Stdio::piped());
        }
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mtls starts");
        if let Some(input) = self.stdin.take() {
            let mut pipe = child.stdin.take().expect("stdin piped");
            // mtls may stop reading early (an error): a closed pipe is fine.
            let _ = pipe.write_all(&input);
        }
        Run::from(child.wait_with_output().expect("mtls finishes"))
    }
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().expect("mtls exits with a code"),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }
}

impl From<Run> for (i32, String, String) {
    fn from(run: Run) -> Self {
        (run.code, run.stdout, run.stderr)
    }
}

/// Copies the tree at `from` to `to`, as a test's own copy of a fixture.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("a tree") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// What the README shows after the line `$ COMMAND` (given with its line
/// break) up to the end of its code block: the output it promises.
pub fn readme_output(command: &str) -> String {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let (_, rest) = readme
        .split_once(command)
        .unwrap_or_else(|| panic!("README shows {command:?}"));
    rest.split("```").next().expect("its output").to_string()
}
