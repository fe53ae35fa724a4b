//! Every example of `--help` runs as written: each line under `Examples:` of
//! `mtls --help` and of each command's, through a shell, in a directory that
//! has the trees they name (`k8s/`, `examples/`, `legacy-tree/`), against a
//! loopback cluster holding the same objects for the lines without `-f`, with a
//! Prometheus behind its service proxy.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::prometheus::{Prometheus, REQUESTS, Series, service_yaml};
use kube_loopback::{ADMIN, Config, Server};

const COMMANDS: [&str; 11] = [
    "",
    "get",
    "allow",
    "require",
    "disable",
    "unset",
    "check",
    "explain",
    "traffic",
    "migrate",
    "completions",
];

/// The example lines of one command's help, comments removed.
fn examples(command: &str) -> Vec<String> {
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.push("--help");
    let out = Command::new(env!("CARGO_BIN_EXE_mtls"))
        .args(&args)
        .output()
        .expect("mtls runs");
    let help = String::from_utf8(out.stdout).expect("UTF-8");
    let Some((_, section)) = help.split_once("\nExamples:\n") else {
        return Vec::new();
    };
    section
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| match l.find(" # ") {
            Some(at) if !l[..at].contains('\'') => l[..at].trim().to_string(),
            _ => l.trim().to_string(),
        })
        .collect()
}

#[test]
fn every_example_of_the_help_runs_as_written() {
    let help = Path::new("tests/fixtures/help");
    let mut seed = String::new();
    for file in ["k8s/mesh.yaml", "legacy-tree/policies.yaml"] {
        seed.push_str(&std::fs::read_to_string(help.join(file)).expect("fixture"));
        seed.push_str("\n---\n");
    }
    // mTLS calls to prod/api, which `mtls traffic` reports and `require` lets through.
    let prometheus = Prometheus::start(&[Series {
        metric: REQUESTS,
        to: "prod/api/api",
        from: "web/frontend",
        security: "mutual_tls",
        per_minute: 5.0,
        from_hours_ago: 30.0,
        to_hours_ago: 0.02,
    }]);
    seed.push_str(&service_yaml("istio-system", prometheus.port));
    // Istio 1.5: both APIs served, for `migrate` against the cluster.
    let server = Server::start(
        Config {
            enable: vec!["authentication.istio.io/v1alpha1".into()],
            ..Config::default()
        }
        .seed_yaml(&seed)
        .expect("seed"),
    )
    .expect("server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/fish")).expect("mkdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server
        .write_kubeconfig(&kubeconfig, ADMIN)
        .expect("kubeconfig");
    common::copy_tree(&help.join("k8s"), &dir.path().join("k8s"));
    common::copy_tree(&help.join("legacy-tree"), &dir.path().join("legacy-tree"));
    common::copy_tree(Path::new("examples"), &dir.path().join("examples"));
    // Graphviz's `dot`, standing in: it takes a graph on stdin and fails on
    // anything else.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let dot = bin.join("dot");
    std::fs::write(
        &dot,
        "#!/bin/sh\nread -r first\n[ \"$first\" = 'digraph mtls {' ] || exit 1\n\
         last=$(tail -n 1)\n[ \"$last\" = '}' ] || exit 1\necho '<svg/>'\n",
    )
    .expect("write dot");
    std::fs::set_permissions(&dot, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mtls_dir = PathBuf::from(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin.display(),
        mtls_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut ran = 0;
    for command in COMMANDS {
        for line in examples(command) {
            // The shell lines install completions where users keep them: here
            // under a home of the test's own. `$fpath` is zsh's, 1-based: in
            // bash its element 1 is the second.
            let script = line.replace("/etc/bash_completion.d/", "$HOME/");
            let mut bash = Command::new("bash");
            bash.current_dir(dir.path())
                .env("PATH", &path)
                .env("HOME", &home)
                .env("KUBECONFIG", &kubeconfig)
                .env("NO_COLOR", "1");
            let out = if line.contains(" -w") || line.contains("--watch") {
                // A watch runs until Ctrl-C: pressed once it has printed.
                watched(bash.arg("-c").arg(format!("exec {script}")))
            } else {
                bash.arg("-c")
                    .arg(format!("fpath=(\"$HOME\" \"$HOME\")\nset -u\n{script}"))
                    .output()
                    .expect("bash runs")
            };
            let code = out.status.code().unwrap_or(-1);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Gates may find what they gate on; nothing else may fail.
            let gate = line.contains("--expect") || line.contains(" check ");
            assert!(
                code == 0 || (gate && code == 3),
                "`{line}` (mtls {command} --help) exited {code}:\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "`{line}`: {stderr}");
            // What reads prints its answer.
            let reads = ["mtls get", "mtls check", "mtls explain", "mtls traffic"]
                .iter()
                .any(|c| line.starts_with(c));
            if reads && !line.contains('>') {
                assert!(
                    !out.stdout.is_empty(),
                    "`{line}` printed nothing:\n{stderr}"
                );
            }
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} examples found");
    // What the redirections wrote is what was asked for.
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    // The last plan written: `unset` of a port no policy sets, nothing to do.
    assert!(dir.path().join("plan.yaml").exists());
    assert!(read(&dir.path().join("peerauthentications.yaml")).contains("app: api"));
    assert_eq!(read(&dir.path().join("calls.svg")), "<svg/>\n");
    assert!(read(&home.join("mtls")).contains("_clap_complete_mtls"));
    assert!(read(&home.join("_mtls")).contains("compdef"));
    assert!(
        read(&home.join(".config/fish/config.fish")).contains("mtls completions fish | source")
    );
}

/// Runs a watch (`bash -c 'exec mtls get ... -w'`) until its first line,
/// then presses Ctrl-C: its output, as `Command::output` gives it.
fn watched(command: &mut Command) -> std::process::Output {
    use std::io::{BufRead, Read};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("bash runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a line");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("the rest");
    let mut out = child.wait_with_output().expect("the watch ends");
    out.stdout = [first.into_bytes(), rest].concat();
    out
}
