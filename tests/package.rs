//! Release archives and their krew manifest (`scripts/package.sh`): the
//! manifest passes krew's validation rules (krew's
//! internal/index/validation/validate.go), each entry's sha256 is its
//! archive's, the archive holds what the entry installs, and kubectl runs the
//! installed plugin as `kubectl mtls`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const URL: &str = "https://releases.example.test/mtls/v0.1.0";

/// Packs `binary` for `target` into `out`.
fn package(binary: &Path, out: &Path, target: &str) {
    let run = Command::new("scripts/package.sh")
        .args(["--base-url", URL, "--binary"])
        .arg(binary)
        .args(["--target", target])
        .arg("--out")
        .arg(out)
        .output()
        .expect("package.sh runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_string()
}

/// krew's checks of a manifest named `name`, as its validation code makes them.
fn krew_validate(name: &str, plugin: &Value) -> Result<(), String> {
    let spec = &plugin["spec"];
    let check = |ok: bool, why: &str| if ok { Ok(()) } else { Err(why.to_string()) };
    check(
        plugin["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2",
        "apiVersion",
    )?;
    check(plugin["kind"] == "Plugin", "kind")?;
    check(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "unsafe name",
    )?;
    check(plugin["metadata"]["name"] == name, "named after its file")?;
    let short = spec["shortDescription"].as_str().unwrap_or_default();
    check(
        !short.is_empty() && !short.contains(['\r', '\n']),
        "shortDescription",
    )?;
    let version = spec["version"].as_str().unwrap_or_default();
    let semver = version.strip_prefix('v').is_some_and(|v| {
        let core = v.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    check(semver, "version is no vMAJOR.MINOR.PATCH")?;
    let platforms = spec["platforms"].as_array().cloned().unwrap_or_default();
    check(!platforms.is_empty(), "no platform")?;
    for platform in &platforms {
        check(
            platform["uri"].as_str().is_some_and(|u| !u.is_empty()),
            "uri",
        )?;
        let sum = platform["sha256"].as_str().unwrap_or_default();
        check(
            sum.len() == 64
                && sum
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "sha256",
        )?;
        check(
            platform["bin"].as_str().is_some_and(|b| !b.is_empty()),
            "bin",
        )?;
        let labels = platform["selector"]["matchLabels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        check(!labels.is_empty(), "empty selector")?;
        check(
            labels.keys().all(|k| k == "os" || k == "arch"),
            "selector keys",
        )?;
    }
    Ok(())
}

#[test]
fn the_krew_manifest_is_valid_and_matches_its_archives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("dist");
    // The manifest does not depend on what the binary is: a small stand-in.
    let binary = dir.path().join("mtls");
    std::fs::write(&binary, "#!/bin/sh\necho mtls\n").expect("write");
    package(&binary, &out, "x86_64-unknown-linux-gnu");
    package(&binary, &out, "aarch64-apple-darwin");

    let manifest = out.join("plugins/mtls.yaml");
    let text = std::fs::read_to_string(&manifest).expect("the manifest");
    let plugin: Value = serde_saphyr::from_str(&text).expect("YAML");
    krew_validate("mtls", &plugin).expect("krew accepts the manifest");

    // One entry per archive, each with its archive's URL and sum.
    let platforms = plugin["spec"]["platforms"].as_array().expect("platforms");
    let mut seen: Vec<(String, String)> = Vec::new();
    for platform in platforms {
        let labels = &platform["selector"]["matchLabels"];
        seen.push((
            labels["os"].as_str().expect("os").to_string(),
            labels["arch"].as_str().expect("arch").to_string(),
        ));
        let uri = platform["uri"].as_str().expect("uri");
        let name = uri
            .strip_prefix(&format!("{URL}/"))
            .expect("under the base URL");
        assert_eq!(
            platform["sha256"].as_str(),
            Some(sha256(&out.join(name)).as_str())
        );
        assert_eq!(platform["bin"], "mtls");
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("darwin".to_string(), "arm64".to_string()),
            ("linux".to_string(), "amd64".to_string())
        ]
    );

    // Packing again gives the same bytes: the sums hold.
    let archive = out.join("mtls-v0.1.0-x86_64-unknown-linux-gnu.tar.gz");
    let before = sha256(&archive);
    package(&binary, &out, "x86_64-unknown-linux-gnu");
    assert_eq!(sha256(&archive), before);
}

#[test]
fn the_archive_installs_a_plugin_kubectl_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("dist");
    package(
        Path::new(env!("CARGO_BIN_EXE_mtls")),
        &out,
        "x86_64-unknown-linux-gnu",
    );
    // What krew does: unpack, then link kubectl-NAME to `bin`.
    let root = dir.path().join("installed");
    std::fs::create_dir_all(&root).expect("mkdir");
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(out.join("mtls-v0.1.0-x86_64-unknown-linux-gnu.tar.gz"))
        .arg("-C")
        .arg(&root)
        .status()
        .expect("tar runs");
    assert!(untar.success());
    for file in [
        "mtls",
        "LICENSE",
        "README.md",
        "completions/mtls.bash",
        "completions/mtls.zsh",
        "completions/mtls.fish",
        "man/mtls.1",
    ] {
        assert!(root.join(file).is_file(), "the archive lacks {file}");
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink(root.join("mtls"), bin.join("kubectl-mtls")).expect("link");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("kubectl")
        .args(["mtls", "get", "-A", "-f", "examples/"])
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .output()
        .expect("kubectl runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(table.starts_with("TARGET"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("payments/ledger:443 ") && l.contains(" DISABLE ")),
        "{table}"
    );
}

#[test]
fn packaging_needs_an_https_base_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [vec![], vec!["--base-url", "http://plain.example.test/"]] {
        let run = Command::new("scripts/package.sh")
            .args(&args)
            .args(["--binary", env!("CARGO_BIN_EXE_mtls"), "--out"])
            .arg(dir.path())
            .output()
            .expect("package.sh runs");
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&run.stderr).contains("--base-url"),
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}
