//! Dynamic completion through the real bash completion script: bash sources
//! `completions/mtls.bash`, which calls `mtls` back for the candidates.

use std::path::Path;
use std::process::Command;

use kube_loopback::{ADMIN, Config, Server};

/// What bash offers for the last word of `words`.
fn complete(words: &[&str], env: &[(&str, &Path)]) -> Vec<String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source completions/mtls.bash\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_TYPE=9\n\
         _clap_complete_mtls mtls '{current}' '{previous}' 2>/dev/null\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words = quoted.join(" "),
        cword = words.len() - 1,
        current = words[words.len() - 1],
        previous = words[words.len() - 2],
    );
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env_remove("KUBECONFIG");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("bash runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A loopback server holding `seed`, and a directory with its kubeconfig,
/// `config`.
fn serve(seed: &str) -> (Server, tempfile::TempDir) {
    let server =
        Server::start(Config::default().seed_yaml(seed).expect("seed")).expect("server starts");
    let dir = tempfile::tempdir().expect("temp dir");
    server
        .write_kubeconfig(&dir.path().join("config"), ADMIN)
        .expect("kubeconfig");
    (server, dir)
}

#[test]
fn targets_complete_from_the_manifests_of_the_command_line() {
    assert_eq!(
        complete(&["mtls", "require", "-f", "examples/", "pa"], &[]),
        ["payments"]
    );
    assert_eq!(
        complete(&["mtls", "get", "-f", "examples/", "payments/le"], &[]),
        ["payments/ledger"]
    );
    assert_eq!(
        complete(
            &["mtls", "get", "-f", "examples/", "payments/ledger:h"],
            &[]
        ),
        ["payments/ledger:http", "payments/ledger:https"]
    );
    assert_eq!(
        complete(&["mtls", "get", "-f", "examples/", "me"], &[]),
        ["mesh"]
    );
    assert_eq!(complete(&["mtls", "che"], &[]), ["check"]);
}

#[test]
fn pod_targets_complete_for_the_commands_that_read_pods() {
    let pods = "tests/fixtures/pods.yaml";
    assert_eq!(
        complete(&["mtls", "get", "-f", pods, "shop/"], &[]),
        ["shop/web", "shop/pod/"]
    );
    assert_eq!(
        complete(&["mtls", "explain", "-f", pods, "shop/pod/w"], &[]),
        ["shop/pod/web-1"]
    );
    // The application's ports, not the proxy's.
    assert_eq!(
        complete(&["mtls", "check", "-f", pods, "shop/pod/web-1:"], &[]),
        ["shop/pod/web-1:8080", "shop/pod/web-1:http"]
    );
    // A change takes no pod.
    assert_eq!(
        complete(&["mtls", "require", "-f", pods, "shop/"], &[]),
        ["shop/web"]
    );
}

#[test]
fn pod_targets_complete_from_the_cluster() {
    let (_server, dir) =
        serve(&std::fs::read_to_string("tests/fixtures/pods.yaml").expect("fixture"));
    let kubeconfig = dir.path().join("config");
    let env = [("KUBECONFIG", kubeconfig.as_path())];
    assert_eq!(
        complete(&["mtls", "explain", "shop/pod/"], &env),
        ["shop/pod/web-1"]
    );
    assert_eq!(
        complete(&["mtls", "get", "shop/pod/web-1:"], &env),
        ["shop/pod/web-1:8080", "shop/pod/web-1:http"]
    );
}

#[test]
fn namespaces_complete_from_the_cluster_and_nothing_when_none_answers() {
    let (server, dir) = serve(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: production}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: preview}\n",
    );
    let kubeconfig = dir.path().join("config");
    assert_eq!(
        complete(&["mtls", "require", "pr"], &[("KUBECONFIG", &kubeconfig)]),
        ["preview", "production"]
    );
    assert_eq!(
        complete(
            &[
                "mtls",
                "require",
                "--kubeconfig",
                kubeconfig.to_str().expect("utf-8"),
                "prod"
            ],
            &[]
        ),
        ["production"]
    );
    drop(server);
    let started = std::time::Instant::now();
    assert_eq!(
        complete(&["mtls", "require", "pr"], &[("KUBECONFIG", &kubeconfig)]),
        Vec::<String>::new()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
