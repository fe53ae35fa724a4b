//! Dynamic completion through the real bash completion script: bash sources
//! `completions/mtls.bash`, which calls `mtls` back for the candidates.

use std::path::Path;
use std::process::Command;

mod common;

use common::loopback::Loopback;
use common::tmux::Tmux;

/// What bash offers for the last word of `words`, given as words that bash
/// did not split at `:` (COMP_WORDBREAKS without it; the real split is
/// `ports_complete_after_the_colon_in_a_real_bash`'s).
fn complete(words: &[&str], env: &[(&str, &Path)]) -> Vec<String> {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source completions/mtls.bash\n\
         COMP_WORDBREAKS=$' \\t\\n\"\\'><=;|&('\n\
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
    let cluster =
        Loopback::seeded(&std::fs::read_to_string("tests/fixtures/pods.yaml").expect("fixture"));
    let env = [("KUBECONFIG", cluster.kubeconfig.as_path())];
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
    let cluster = Loopback::seeded(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: production}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: preview}\n",
    );
    let kubeconfig = cluster.kubeconfig.clone();
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
    // The kubeconfig outlives its server: completion gives up, quietly.
    let kept = tempfile::tempdir().expect("temp dir");
    let kubeconfig = kept.path().join("config");
    std::fs::copy(&cluster.kubeconfig, &kubeconfig).expect("kept");
    drop(cluster);
    let started = std::time::Instant::now();
    assert_eq!(
        complete(&["mtls", "require", "pr"], &[("KUBECONFIG", &kubeconfig)]),
        Vec::<String>::new()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// In a real bash, where `:` is one of COMP_WORDBREAKS: `NS/SVC:<TAB>`
/// completes the ports of the Service, not namespaces.
#[test]
fn ports_complete_after_the_colon_in_a_real_bash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    let rc = dir.path().join("rc");
    std::fs::write(
        &rc,
        format!(
            "PS1='$ '\nexport NO_COLOR=1 PATH={}:$PATH\nsource {}/completions/mtls.bash\n",
            bin.display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .expect("rc");
    let tmux = Tmux::start(
        "colon",
        &format!(
            "cd {} && env -u KUBECONFIG bash --noprofile --rcfile {}",
            env!("CARGO_MANIFEST_DIR"),
            rc.display()
        ),
    );
    tmux.wait_for("$ ", std::time::Duration::from_secs(10));
    // A tab completes what the ports share; two more list them (readline
    // lists on the second of two tabs that insert nothing).
    tmux.type_keys("mtls get -f examples/ payments/ledger:h");
    tmux.press(&["Tab"]);
    tmux.wait_for("payments/ledger:http", std::time::Duration::from_secs(10));
    tmux.press(&["Tab"]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    tmux.press(&["Tab"]);
    let screen = tmux.wait_for("https", std::time::Duration::from_secs(10));
    assert!(
        screen.contains("http ") && screen.contains("https"),
        "the ports after the colon: {screen}"
    );
    assert!(!screen.contains("bookinfo"), "not namespaces: {screen}");
    // One more letter: `https`, a port by name.
    tmux.type_keys("s");
    tmux.press(&["Enter"]);
    let screen = tmux.wait_for("payments/ledger:443", std::time::Duration::from_secs(10));
    assert!(screen.contains("DISABLE"), "{screen}");
    tmux.type_keys("mtls get -f examples/ payments/fraud-check:7");
    tmux.press(&["Tab"]);
    tmux.wait_for("fraud-check:7070", std::time::Duration::from_secs(10));
    tmux.press(&["Enter"]);
    let screen = tmux.wait_for(
        "payments/fraud-check:7070",
        std::time::Duration::from_secs(10),
    );
    assert!(
        screen.contains("payments/fraud-check:7070   PERMISSIVE"),
        "{screen}"
    );
}

/// `kubectl mtls <TAB>`: kubectl runs `kubectl_complete-mtls` (mtls under
/// that name) with the words after `kubectl mtls`, in Cobra's format.
#[test]
fn kubectl_completes_the_plugin_through_kubectl_complete_mtls() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["kubectl-mtls", "kubectl_complete-mtls"] {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mtls"), dir.path().join(name))
            .expect("symlink");
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &[&str]| -> Vec<String> {
        let out = Command::new("kubectl")
            .arg("__complete")
            .arg("mtls")
            .args(words)
            .env("PATH", &path)
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("[Debug]") && !l.starts_with("Completion ended"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        complete(&["get", "-f", "examples/", "pay"]),
        ["payments", ":4"]
    );
    assert_eq!(
        complete(&["get", "-f", "examples/", "payments/ledger:h"]),
        ["payments/ledger:http", "payments/ledger:https", ":4"]
    );
    let commands = complete(&["ex"]);
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(
        commands[0].starts_with("explain\tExplain why a port has its mode"),
        "{commands:?}"
    );
}

/// fish asks `mtls` through its script, and answers `complete -C` with the
/// candidates, `:` and all.
#[test]
fn targets_complete_in_fish() {
    let bin = Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    let complete = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!(
                "source completions/mtls.fish; complete -C '{line}'"
            ))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env_remove("KUBECONFIG")
            .output()
            .expect("fish is installed (scripts/test.sh installs it)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(complete("mtls get -f examples/ pay"), ["payments"]);
    assert_eq!(
        complete("mtls get -f examples/ payments/ledger:h"),
        ["payments/ledger:http", "payments/ledger:https"]
    );
    assert_eq!(complete("mtls expl"), ["explain"]);
}

/// In a real zsh with compinit, `NS/SVC:PORT` completes in place.
#[test]
fn ports_complete_in_a_real_zsh() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    std::fs::write(
        dir.path().join(".zshrc"),
        format!(
            "PS1='% '\nexport NO_COLOR=1 PATH={}:$PATH\nautoload -U compinit && compinit -u\nsource {}/completions/mtls.zsh\n",
            bin.display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .expect("zshrc");
    let tmux = Tmux::start(
        "zsh",
        &format!(
            "cd {} && env -u KUBECONFIG ZDOTDIR={} zsh -i",
            env!("CARGO_MANIFEST_DIR"),
            dir.path().display()
        ),
    );
    tmux.wait_for("% ", std::time::Duration::from_secs(10));
    tmux.type_keys("mtls get -f examples/ payments/ledger:h");
    tmux.press(&["Tab"]);
    tmux.wait_for("payments/ledger:http", std::time::Duration::from_secs(10));
    tmux.type_keys("s");
    tmux.press(&["Enter"]);
    let screen = tmux.wait_for("payments/ledger:443", std::time::Duration::from_secs(10));
    assert!(screen.contains("payments/ledger:443   DISABLE"), "{screen}");
}

/// The README's bash line installs the script where the bash-completion
/// package loads it from, on first use of `mtls`.
#[test]
fn the_readmes_bash_line_installs_where_bash_completion_loads_it() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let line = readme
        .lines()
        .find(|l| l.contains("mtls completions bash >") && l.contains("bash-completion"))
        .expect("README shows the bash line");
    let home = tempfile::tempdir().expect("temp dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_mtls"))
        .parent()
        .expect("a bin dir");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!(
        "set -e\n{line}\n\
         source /usr/share/bash-completion/bash_completion\n\
         __load_completion mtls\n\
         complete -p mtls\n\
         COMP_WORDS=(mtls get -f examples/ pay)\nCOMP_CWORD=4\nCOMP_TYPE=9\n\
         _clap_complete_mtls mtls pay examples/ 2>/dev/null\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("BASH_COMPLETION_USER_DIR")
        .env_remove("KUBECONFIG")
        .env("PATH", path)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        home.path()
            .join(".local/share/bash-completion/completions/mtls")
            .is_file()
    );
    let mut lines = stdout.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.contains("_clap_complete_mtls") && l.ends_with(" mtls")),
        "{stdout}"
    );
    assert_eq!(lines.collect::<Vec<_>>(), ["payments"], "{stdout}");
}

/// `--context` completes the contexts of the kubeconfig, from every file
/// KUBECONFIG lists.
#[test]
fn contexts_complete_from_the_kubeconfig() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: {name}, cluster: {{server: 'https://127.0.0.1:1'}}}}]\n\
             users: [{{name: {name}, user: {{}}}}]\n\
             contexts: [{{name: {name}, context: {{cluster: {name}, user: {name}}}}}]\ncurrent-context: {name}\n"
        )
    };
    let (east, west) = (dir.path().join("east"), dir.path().join("west"));
    std::fs::write(&east, config("east")).expect("write");
    std::fs::write(&west, config("west")).expect("write");
    let listed = std::env::join_paths([&east, &west]).expect("paths");
    let listed = Path::new(&listed);
    assert_eq!(
        complete(&["mtls", "get", "--context", ""], &[("KUBECONFIG", listed)]),
        ["east", "west"]
    );
    assert_eq!(
        complete(
            &[
                "mtls",
                "check",
                "--kubeconfig",
                west.to_str().expect("UTF-8"),
                "--context",
                ""
            ],
            &[]
        ),
        ["west"]
    );
}
