//! The committed man pages and completion scripts are what the CLI definition
//! generates: these tests fail when they drift. Regenerate them with
//! `cargo run --features docs -- generate-docs .`.

mod common;

use std::path::Path;

use common::Mtls;

#[test]
fn completion_scripts_match_mtls_completions() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = Mtls::new(["completions", shell]).run();
        assert_eq!(out.code, 0, "{shell}");
        let committed =
            std::fs::read_to_string(format!("completions/mtls.{shell}")).expect("committed script");
        assert!(
            out.stdout == committed,
            "completions/mtls.{shell} drifted from `mtls completions {shell}`: run `cargo run --features docs -- generate-docs .`"
        );
    }
}

/// The generator is a maintainer's subcommand, built with `--features docs`
/// only (the project's test command, scripts/test.sh, builds every feature).
#[test]
#[cfg_attr(
    not(feature = "docs"),
    ignore = "generate-docs is built with --features docs (scripts/test.sh builds all features)"
)]
fn man_pages_and_completions_match_the_cli_definition() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Mtls::new(["generate-docs"]).arg(dir.path()).run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut generated = Vec::new();
    for sub in ["docs/man", "completions"] {
        for entry in std::fs::read_dir(dir.path().join(sub)).expect("generated") {
            let path = entry.expect("entry").path();
            let relative = Path::new(sub).join(path.file_name().expect("a file name"));
            let committed = std::fs::read(&relative).unwrap_or_default();
            assert!(
                std::fs::read(&path).expect("generated file") == committed,
                "{} drifted from the CLI definition: run `cargo run --features docs -- generate-docs .`",
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
