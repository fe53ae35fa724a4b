//! `mtls` in a real terminal (tmux): colored modes and a spinner while a slow
//! cluster read runs; in a pipe, neither.

use std::path::Path;
use std::time::Duration;

mod common;

use common::Mtls;
use common::tmux::Tmux;
use kube_loopback::{ADMIN, Config, Fault, FaultAction, Server};

const SEED: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: prod}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}
";

fn slow_server(dir: &Path) -> (Server, std::path::PathBuf) {
    let server = Server::start(Config::default().seed_yaml(SEED).expect("seed")).expect("server");
    server.inject(Fault {
        method: Some("GET".into()),
        path_contains: Some("/peerauthentications".into()),
        times: 1,
        action: FaultAction::Delay(Duration::from_millis(2500)),
    });
    let kubeconfig = dir.join("config");
    server
        .write_kubeconfig(&kubeconfig, ADMIN)
        .expect("kubeconfig");
    (server, kubeconfig)
}

#[test]
fn a_terminal_gets_colors_and_a_spinner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kubeconfig) = slow_server(dir.path());
    let command = format!(
        "env -u NO_COLOR TERM=xterm-256color {} get prod --kubeconfig {}; sleep 30",
        env!("CARGO_BIN_EXE_mtls"),
        kubeconfig.display()
    );
    let tmux = Tmux::start("color", &command);
    let spinning = tmux.wait_for("reading peerauthentications", Duration::from_secs(10));
    assert!(
        spinning.contains("reading peerauthentications in prod from https://127.0.0.1:"),
        "the spinner says what is read: {spinning:?}"
    );
    let done = tmux.wait_for("TARGET", Duration::from_secs(15));
    assert!(
        !done.contains("reading peerauthentications"),
        "the spinner is wiped: {done:?}"
    );
    let line = done
        .lines()
        .find(|l| l.contains("prod "))
        .expect("the prod row");
    assert!(line.contains("\x1b["), "STRICT is colored: {line:?}");
    assert!(line.contains("STRICT"), "{line:?}");
}

#[test]
fn a_pipe_gets_neither() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kubeconfig) = slow_server(dir.path());
    let out = Mtls::new(["get", "prod"])
        .kubeconfig(&kubeconfig)
        .colors()
        .run();
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "TARGET   MODE     SOURCE\nprod     STRICT   namespace prod/default\n"
    );
    assert_eq!(out.stderr, "", "no spinner, no escape sequences");
}

#[test]
fn no_color_turns_colors_off_in_a_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kubeconfig) = slow_server(dir.path());
    let command = format!(
        "env NO_COLOR=1 TERM=xterm-256color {} get prod --kubeconfig {}; sleep 30",
        env!("CARGO_BIN_EXE_mtls"),
        kubeconfig.display()
    );
    let tmux = Tmux::start("nocolor", &command);
    let done = tmux.wait_for("TARGET", Duration::from_secs(15));
    let line = done
        .lines()
        .find(|l| l.contains("prod "))
        .expect("the prod row");
    assert!(!line.contains("\x1b["), "{line:?}");
}

/// A server with `prod` STRICT, and a kubeconfig for it.
fn strict_prod(dir: &Path) -> (Server, std::path::PathBuf) {
    let server = Server::start(Config::default().seed_yaml(SEED).expect("seed")).expect("server");
    let kubeconfig = dir.join("config");
    server
        .write_kubeconfig(&kubeconfig, ADMIN)
        .expect("kubeconfig");
    (server, kubeconfig)
}

fn prod_mode(server: &Server) -> String {
    server
        .object("peerauthentications.security.istio.io", "prod", "default")
        .expect("prod/default exists")["spec"]["mtls"]["mode"]
        .as_str()
        .expect("a mode")
        .to_string()
}

#[test]
fn a_weakening_change_at_a_terminal_asks_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, kubeconfig) = strict_prod(dir.path());
    let command = |extra: &str| {
        format!(
            "{} disable prod --kubeconfig {} {extra}; echo exit=$?; sleep 30",
            env!("CARGO_BIN_EXE_mtls"),
            kubeconfig.display()
        )
    };
    for (name, answer, mode) in [
        ("no", "n", "STRICT"),
        ("empty", "", "STRICT"),
        ("yes", "y", "DISABLE"),
    ] {
        let tmux = Tmux::start(&format!("ask-{name}"), &command("--no-color"));
        let asked = tmux.wait_for("Write it? [y/N]", Duration::from_secs(15));
        assert!(
            asked.contains("This change makes mTLS weaker on 1 row:\n  prod: STRICT -> DISABLE\n"),
            "{asked}"
        );
        assert_eq!(
            prod_mode(&server),
            "STRICT",
            "nothing is written before the answer"
        );
        tmux.send(answer);
        let done = tmux.wait_for("exit=", Duration::from_secs(15));
        assert_eq!(prod_mode(&server), mode, "answered {answer:?}: {done}");
        if mode == "STRICT" {
            assert!(
                done.contains("nothing was written: the change was not confirmed"),
                "{done}"
            );
            assert!(done.contains("exit=1"), "{done}");
        } else {
            assert!(done.contains("exit=0"), "{done}");
        }
    }
    // --yes answers for the user.
    let (server, kubeconfig) = strict_prod(dir.path());
    let command = format!(
        "{} disable prod --yes --kubeconfig {}; echo exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_mtls"),
        kubeconfig.display()
    );
    let tmux = Tmux::start("ask-never", &command);
    let done = tmux.wait_for("exit=", Duration::from_secs(15));
    assert!(
        !done.contains("Write it?") && done.contains("exit=0"),
        "{done}"
    );
    assert_eq!(prod_mode(&server), "DISABLE");
}

#[test]
fn an_interactive_credential_plugin_at_a_terminal_may_take_its_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_server, kubeconfig) = strict_prod(dir.path());
    // A plugin that asks the person at the terminal: slower than the timeout.
    let plugin = dir.path().join("login.sh");
    let credential = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": kube_loopback::TOKEN},
    });
    std::fs::write(
        &plugin,
        format!("#!/bin/sh\nsleep 2\necho '{credential}'\n"),
    )
    .expect("plugin written");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut config: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&kubeconfig).expect("kubeconfig"))
            .expect("YAML");
    config["users"][0]["user"] = serde_json::json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": plugin.to_str().expect("utf-8 path"),
        "interactiveMode": "IfAvailable",
    }});
    let interactive = dir.path().join("interactive.yaml");
    std::fs::write(&interactive, serde_json::to_string(&config).expect("JSON")).expect("written");
    let command = format!(
        "{} get prod --no-color --request-timeout 1 --kubeconfig {}; echo exit=$?; sleep 30",
        env!("CARGO_BIN_EXE_mtls"),
        interactive.display()
    );
    let tmux = Tmux::start("interactive-plugin", &command);
    let done = tmux.wait_for("exit=", Duration::from_secs(15));
    assert!(
        done.contains("prod     STRICT") && done.contains("exit=0"),
        "{done}"
    );

    // Without a terminal, the same plugin is stopped at the timeout.
    let out = Mtls::new(["get", "prod", "--request-timeout", "1"])
        .kubeconfig(&interactive)
        .run();
    let stderr = out.stderr;
    assert_eq!(out.code, 1, "{stderr}");
    assert!(
        stderr.contains("did not answer within 1 s (--request-timeout)"),
        "{stderr}"
    );
}

/// `--write` reads the files, asks, then writes each by a rename — unless the
/// file changed while the question was on the screen: then it is left as it
/// is now, and the command says so (exit 1).
#[test]
fn a_file_that_changed_while_asked_is_left_as_it_is_now() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("k8s");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let file = tree.join("prod.yaml");
    std::fs::write(&file, SEED).expect("write");
    let command = format!(
        "cd {} && {} disable prod -f k8s --write --no-color; echo exit=$?; sleep 30",
        dir.path().display(),
        env!("CARGO_BIN_EXE_mtls"),
    );
    let tmux = Tmux::start("write-changed", &command);
    tmux.wait_for("Write it? [y/N]", Duration::from_secs(15));
    // Another writer (a `git pull`, an editor) changes the file meanwhile.
    let theirs = format!("{SEED}# kept by another writer\n");
    std::fs::write(&file, &theirs).expect("write");
    tmux.send("y");
    let done = tmux.wait_for("exit=", Duration::from_secs(15));
    assert!(done.contains("exit=1"), "{done}");
    assert!(
        done.contains("k8s/prod.yaml changed while mtls was editing it; it was left as it is now"),
        "{done}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), theirs);
    let leftovers: Vec<_> = std::fs::read_dir(&tree)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file is left: {leftovers:?}"
    );
}
