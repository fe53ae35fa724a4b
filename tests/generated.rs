//! The committed man pages and completion scripts are what the CLI definition
//! generates: these tests fail when they drift. Regenerate them with
//! `cargo run -- generate-docs .`.

use std::path::Path;
use std::process::Command;

fn mtls(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mtls"))
        .args(args)
        .output()
        .expect("mtls runs")
}

#[test]
fn completion_scripts_match_mtls_completions() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = mtls(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let committed =
            std::fs::read(format!("completions/mtls.{shell}")).expect("committed script");
        assert!(
            out.stdout == committed,
            "completions/mtls.{shell} drifted from `mtls completions {shell}`: run `cargo run -- generate-docs .`"
        );
    }
}

#[test]
fn man_pages_and_completions_match_the_cli_definition() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = mtls(&["generate-docs", dir.path().to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut generated = Vec::new();
    for sub in ["docs/man", "completions"] {
        for entry in std::fs::read_dir(dir.path().join(sub)).expect("generated") {
            let path = entry.expect("entry").path();
            let relative = Path::new(sub).join(path.file_name().expect("a file name"));
            let committed = std::fs::read(&relative).unwrap_or_default();
            assert!(
                std::fs::read(&path).expect("generated file") == committed,
                "{} drifted from the CLI definition: run `cargo run -- generate-docs .`",
                relative.display()
            );
            generated.push(relative);
        }
    }
    let committed_pages = std::fs::read_dir("docs/man").expect("docs/man").count();
    assert_eq!(
        committed_pages,
        generated
            .iter()
            .filter(|p| p.starts_with("docs/man"))
            .count(),
        "no stale pages"
    );
    assert!(generated.iter().any(|p| p.ends_with("mtls-check.1")));
}
