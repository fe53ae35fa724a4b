//! `--write` and `--diff`: a change made to a Git tree in place. Every test
//! runs on its own copy of tests/fixtures/gitops and compares whole files:
//! the one the change edits, to the text expected; every other, to itself.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pretty_assertions::assert_eq;

use common::{Mtls, Run};

const FIXTURE: &str = "tests/fixtures/gitops";

/// A copy of the fixture tree, at `<temp>/tree`, and `mtls` run in `<temp>`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        common::copy_tree(Path::new(FIXTURE), &dir.path().join("tree"));
        Tree { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `mtls ARGS -f tree`, in the tree's parent directory.
    fn mtls(&self, args: &[&str]) -> Run {
        self.command(args).run()
    }

    fn command(&self, args: &[&str]) -> Mtls {
        Mtls::new(args)
            .args(["-f", "tree"])
            .current_dir(self.root())
    }

    /// Every file of the tree by its path under the tree, with its text.
    fn files(&self) -> BTreeMap<String, String> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).expect("a tree") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let name = path.strip_prefix(base).expect("under the tree");
                    out.insert(
                        name.display().to_string(),
                        std::fs::read_to_string(&path).expect("text"),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(
            &self.root().join("tree"),
            &self.root().join("tree"),
            &mut out,
        );
        out
    }
}

/// The fixture's files, each as the test expects it after a change.
fn fixture_with(changes: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    let mut files = Tree::new().files();
    for (name, text) in changes {
        match text {
            Some(text) => files.insert(name.to_string(), text.to_string()),
            None => files.remove(*name),
        };
    }
    files
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURE).join(name)).expect("fixture")
}

#[test]
fn a_port_entry_is_added_at_its_mappings_indentation_and_nothing_else_moves() {
    let tree = Tree::new();
    let run = tree.mtls(&["require", "orders/api:metrics", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let security = fixture("orders/security.yaml") + "        9090:\n            mode: STRICT\n";
    assert_eq!(
        tree.files(),
        fixture_with(&[("orders/security.yaml", Some(&security))])
    );
    // The diff of what was written, on stdout; the table after, on stderr.
    assert_eq!(
        run.stdout,
        "--- tree/orders/security.yaml\n+++ tree/orders/security.yaml\n@@ -23,3 +23,5 @@\n         \
         # kubelet probes come in plaintext\n         8080:\n             mode: \"PERMISSIVE\"\n\
         +        9090:\n+            mode: STRICT\n"
    );
    assert!(
        run.stderr.contains(
            "orders/api:9090: set to STRICT (peerauthentication orders/api updated)\n\
             tree/orders/security.yaml: edited (peerauthentication orders/api)\n"
        ),
        "{}",
        run.stderr
    );
    // The tree, read again, has the table the change predicted.
    let table = run.stderr.split_once("TARGET").expect("a table").1;
    let get = tree.mtls(&["get", "orders/api:metrics"]);
    assert_eq!(get.stdout.split_once("TARGET").expect("a table").1, table);
}

#[test]
fn a_mode_changes_in_its_quotes_and_a_comment_on_its_line_stays() {
    let tree = Tree::new();
    // Auto mTLS would break: written all the same, with --force.
    let run = tree.mtls(&["disable", "orders/api:http", "--write", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = tree.mtls(&["allow", "orders", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let security = fixture("orders/security.yaml")
        .replace("mode: \"PERMISSIVE\"", "mode: \"DISABLE\"")
        .replace(
            "mode: STRICT   # since the 2026 audit",
            "mode: PERMISSIVE   # since the 2026 audit",
        );
    assert_eq!(
        tree.files(),
        fixture_with(&[("orders/security.yaml", Some(&security))])
    );
}

#[test]
fn a_policy_left_with_nothing_to_set_loses_its_document_and_only_it() {
    let tree = Tree::new();
    let run = tree.mtls(&["unset", "orders/api:http", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let original = fixture("orders/security.yaml");
    let kept = &original[..original.find("---\n").expect("two documents")];
    assert_eq!(
        tree.files(),
        fixture_with(&[("orders/security.yaml", Some(kept))])
    );
    assert!(
        run.stderr
            .contains("(peerauthentication orders/api deleted)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_left_without_objects_is_removed() {
    let tree = Tree::new();
    let run = tree.mtls(&["unset", "mesh", "--write"]);
    // The mesh-wide policy shares its file with the namespace istio-system.
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mesh = fixture("istio-system/mesh.yaml");
    let kept = &mesh[..mesh.find("---\n").expect("two documents")];
    assert_eq!(
        tree.files(),
        fixture_with(&[("istio-system/mesh.yaml", Some(kept))])
    );
    // A file that held only the policy goes with it.
    let only = "# the only object\nkind: PeerAuthentication\napiVersion: security.istio.io/v1\n\
                metadata: {name: default, namespace: billing}\nspec: {mtls: {mode: STRICT}}\n";
    std::fs::write(tree.root().join("tree/billing/policy.yaml"), only).expect("write");
    let run = tree.mtls(&["unset", "billing", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!tree.root().join("tree/billing/policy.yaml").exists());
    assert!(
        run.stderr
            .contains("tree/billing/policy.yaml: deleted (peerauthentication billing/default)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .starts_with("--- tree/billing/policy.yaml\n+++ /dev/null\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_new_policy_goes_next_to_its_namespaces_policies_or_in_a_file_of_its_own() {
    let tree = Tree::new();
    // orders has policies in orders/security.yaml: a new one joins them.
    std::fs::write(
        tree.root().join("tree/orders/workloads.yaml"),
        fixture("orders/workloads.yaml")
            + "---\napiVersion: v1\nkind: Service\nmetadata: {name: worker, namespace: orders}\n\
               spec:\n  selector: {app: worker}\n  ports:\n  - {name: grpc, port: 7070}\n",
    )
    .expect("write");
    let run = tree.mtls(&["disable", "orders/worker", "--write", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let security = tree.files()["orders/security.yaml"].clone();
    assert_eq!(
        security,
        fixture("orders/security.yaml")
            + "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  \
               name: worker\n  namespace: orders\n  labels:\n    app.kubernetes.io/managed-by: mtls\n\
               spec:\n  selector:\n    matchLabels:\n      app: worker\n  mtls:\n    mode: DISABLE\n"
    );

    // billing has none: NS/peerauthentication-NAME.yaml under the -f directory.
    let run = tree.mtls(&["allow", "billing", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let created = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  \
                   name: default\n  namespace: billing\n  labels:\n    \
                   app.kubernetes.io/managed-by: mtls\nspec:\n  mtls:\n    mode: PERMISSIVE\n";
    assert_eq!(
        tree.files().get("billing/peerauthentication-default.yaml"),
        Some(&created.to_string())
    );
    assert!(
        run.stdout.starts_with(
            "--- /dev/null\n+++ tree/billing/peerauthentication-default.yaml\n@@ -0,0 +1,10 @@\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn write_to_chooses_the_file_of_a_new_policy() {
    let tree = Tree::new();
    let run = tree.mtls(&[
        "require",
        "billing/ledger:http",
        "--write",
        "--write-to",
        "tree/billing/workloads.yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let workloads = fixture("billing/workloads.yaml")
        + "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  \
           name: ledger\n  namespace: billing\n  labels:\n    app.kubernetes.io/managed-by: mtls\n\
           spec:\n  selector:\n    matchLabels:\n      app: ledger\n  portLevelMtls:\n    \
           8080:\n      mode: STRICT\n";
    assert_eq!(
        tree.files(),
        fixture_with(&[("billing/workloads.yaml", Some(&workloads))])
    );
    // A file that does not exist yet is created, with its directories.
    let run = tree.mtls(&[
        "allow",
        "billing",
        "--write",
        "--write-to",
        "tree/policies/billing.yaml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        tree.files()["policies/billing.yaml"].contains("  namespace: billing\n"),
        "{:?}",
        tree.files().keys()
    );
}

#[test]
fn diff_writes_nothing_and_patch_applies_it_to_the_same_tree_write_makes() {
    let targets = ["require", "orders/api:metrics", "billing"];
    let shown = Tree::new();
    let run = shown.mtls(&[&targets[..], &["--diff"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(shown.files(), Tree::new().files(), "--diff wrote");
    assert!(
        run.stderr
            .contains("tree/orders/security.yaml: would be edited")
            && run
                .stderr
                .contains("tree/billing/peerauthentication-default.yaml: would be created"),
        "{}",
        run.stderr
    );

    let patch = Command::new("patch")
        .args(["-p0", "--quiet", "--input", "-"])
        .current_dir(shown.root())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(run.stdout.as_bytes())?;
            child.wait()
        })
        .expect("patch runs");
    assert!(patch.success(), "patch rejected:\n{}", run.stdout);

    let written = Tree::new();
    let run = written.mtls(&[&targets[..], &["--write"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(shown.files(), written.files());
    assert_ne!(written.files(), Tree::new().files());
}

#[test]
fn a_change_that_is_already_made_writes_nothing_and_prints_no_diff() {
    let tree = Tree::new();
    let run = tree.mtls(&["require", "orders", "--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("orders: already STRICT at the namespace level; nothing to change"),
        "{}",
        run.stderr
    );
    assert_eq!(tree.files(), Tree::new().files());
}

#[test]
fn a_generated_file_is_refused_by_name_and_nothing_is_written() {
    let tree = Tree::new();
    // Two targets: the first could be written, the second's file is Helm's.
    let run = tree.mtls(&["require", "billing", "legacy", "--write"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "error: cannot edit tree/rendered/legacy.yaml: it is the output of `helm template` \
         (line 2: `# Source: legacy/templates/namespace.yaml`): edit the chart or its values; \
         nothing was written\n"
    );
    assert_eq!(tree.files(), Tree::new().files());

    // A template that still reads as YAML.
    let template = fixture("orders/security.yaml")
        .replace("owner: \"team-orders\"", "owner: \"{{ .Values.owner }}\"");
    std::fs::write(tree.root().join("tree/orders/security.yaml"), &template).expect("write");
    let run = tree.mtls(&["require", "orders/api:metrics", "--write"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "cannot edit tree/orders/security.yaml: it is a template, not a manifest (line 17"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(tree.files()["orders/security.yaml"], template);
}

#[test]
fn a_refused_change_writes_nothing() {
    let tree = Tree::new();
    // A DestinationRule makes callers send plaintext to api: STRICT would break them.
    std::fs::write(
        tree.root().join("tree/orders/rule.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {name: api, namespace: orders}\n\
         spec:\n  host: api.orders.svc.cluster.local\n  trafficPolicy: {tls: {mode: DISABLE}}\n",
    )
    .expect("write");
    let before = tree.files();
    let run = tree.mtls(&["require", "orders/api:http", "--write"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(tree.files(), before);
}

#[test]
fn write_is_for_manifests_it_can_write_back() {
    let tree = Tree::new();
    for (args, says) in [
        (
            vec!["require", "orders", "--write", "--dry-run"],
            "cannot be used with",
        ),
        (
            vec!["require", "orders", "--write-to", "x.yaml"],
            "--write-to names where",
        ),
    ] {
        let run = tree.mtls(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    // Against a cluster there is no tree to write.
    let run = Mtls::new(["require", "orders", "--write"]).run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--filename"), "{}", run.stderr);
    // Stdin cannot be written back.
    let run = Mtls::new(["require", "orders/api:metrics", "--write", "-f", "-"])
        .stdin(fixture("orders/security.yaml") + "---\n" + &fixture("orders/workloads.yaml"))
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "peerauthentication orders/api was read from stdin, which --write cannot edit"
        ),
        "{}",
        run.stderr
    );
    // A new policy needs a directory, or --write-to.
    let file = tree.root().join("tree/billing/workloads.yaml");
    let run = Mtls::new(["allow", "billing", "--write", "-f"])
        .arg(&file)
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "peerauthentication billing/default is new, and no -f names a directory to put it in: \
             choose its file with --write-to FILE"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(tree.files(), Tree::new().files());
}

#[test]
fn a_closed_stdout_does_not_stop_the_write() {
    let tree = Tree::new();
    let mtls = PathBuf::from(env!("CARGO_BIN_EXE_mtls"));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' require orders/api:metrics billing -f tree --write | head -c 1 >/dev/null",
            mtls.display()
        ))
        .current_dir(tree.root())
        .env("NO_COLOR", "1")
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = tree.files();
    assert!(files["orders/security.yaml"].ends_with("        9090:\n            mode: STRICT\n"));
    assert!(files.contains_key("billing/peerauthentication-default.yaml"));
}

/// The README's `--diff` example prints what it shows, and writes nothing.
#[test]
fn the_readme_shows_diff_as_it_prints() {
    let shown = common::readme_output("$ mtls require payments -f examples/ --diff\n");
    let dir = tempfile::tempdir().expect("temp dir");
    common::copy_tree(Path::new("examples"), &dir.path().join("examples"));
    let run = Mtls::new(["require", "payments", "-f", "examples/", "--diff"])
        .current_dir(dir.path())
        .run();
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, shown.as_str()),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("examples/payments/security.yaml")).expect("read"),
        std::fs::read_to_string("examples/payments/security.yaml").expect("read")
    );
}

/// Each kind of file `--write` will not edit is refused by name, with the
/// reason, and the tree is left as it was: JSON, a generated file, kustomize's
/// output and a document with anchors.
#[test]
fn every_file_write_cannot_edit_safely_is_refused_by_name() {
    let security = fixture("orders/security.yaml");
    let cases: [(&str, String, &str); 4] = [
        (
            "orders/security.json",
            serde_json::to_string(&kube_loopback::parse_objects(&security).expect("YAML")[1])
                .expect("JSON"),
            "it is JSON, and --write edits YAML only",
        ),
        (
            "orders/security.yaml",
            format!("# Code generated by policygen. DO NOT EDIT.\n{security}"),
            "it says it is generated (line 1",
        ),
        (
            "orders/security.yaml",
            security.replace(
                "    annotations:\n",
                "    annotations:\n        config.kubernetes.io/origin: \"path: base/pa.yaml\"\n",
            ),
            "it is the output of `kustomize build`",
        ),
        (
            "orders/security.yaml",
            security.replace(
                "        8080:\n            mode: \"PERMISSIVE\"",
                "        8080: &open\n            mode: \"PERMISSIVE\"\n        8081: *open",
            ),
            "uses YAML anchors or aliases",
        ),
    ];
    for (file, text, reason) in cases {
        let tree = Tree::new();
        let path = tree.root().join("tree").join(file);
        if file.ends_with(".json") {
            // The JSON file holds the api policy; the YAML keeps the namespace's.
            let kept = &security[..security.find("---\n").expect("two documents")];
            std::fs::write(tree.root().join("tree/orders/security.yaml"), kept).expect("write");
        }
        std::fs::write(&path, &text).expect("write");
        let before = tree.files();
        let run = tree.mtls(&["require", "orders/api:metrics", "--write"]);
        assert_eq!(run.code, 1, "{file}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("cannot edit tree/{file}")) && run.stderr.contains(reason),
            "{file}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert_eq!(tree.files(), before, "{file}");
    }
}
