//! End-to-end tests: the built `mtls` binary on fixture manifests, checking
//! stdout, stderr and the exit code as a user or a CI script sees them.

mod common;

use common::Mtls;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// Runs mtls and asserts that it left the manifests it read (`-f`) as they
/// were: offline, nothing is ever written.
fn mtls(args: &[&str]) -> common::Run {
    let inputs: Vec<&str> = args
        .windows(2)
        .filter(|w| matches!(w[0], "-f" | "--filename") && w[1] != "-")
        .map(|w| w[1])
        .collect();
    let before = contents(&inputs);
    let out = Mtls::new(args).colors().run();
    assert!(
        contents(&inputs) == before,
        "mtls {args:?} changed its input files"
    );
    out
}

/// Every file under `paths`, with its bytes.
fn contents(paths: &[&str]) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    fn walk(
        path: &std::path::Path,
        into: &mut std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    ) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).expect("readable directory") {
                walk(&entry.expect("directory entry").path(), into);
            }
        } else if let Ok(bytes) = std::fs::read(path) {
            into.insert(path.to_path_buf(), bytes);
        }
    }
    let mut all = std::collections::BTreeMap::new();
    for path in paths {
        walk(std::path::Path::new(path), &mut all);
    }
    all
}

fn run(args: &[&str]) -> (i32, String, String) {
    mtls(args).into()
}

const EXAMPLES: &str = "examples/";

#[test]
fn get_all_prints_the_example_mesh_table() {
    let (code, stdout, stderr) = run(&["get", "-A", "-f", EXAMPLES]);
    assert_eq!(
        stdout,
        "\
TARGET                      MODE         SOURCE
mesh                        PERMISSIVE   mesh istio-system/default
bookinfo                    STRICT       namespace bookinfo/default
bookinfo/details:9080       STRICT       namespace bookinfo/default
bookinfo/productpage:9080   STRICT       namespace bookinfo/default
bookinfo/ratings:9080       STRICT       namespace bookinfo/default
bookinfo/reviews:9080       STRICT       namespace bookinfo/default
istio-system                PERMISSIVE   mesh istio-system/default
payments                    PERMISSIVE   namespace payments/default
payments/fraud-check:7070   PERMISSIVE   namespace payments/default
payments/ledger:80          STRICT       workload payments/ledger
payments/ledger:443         DISABLE      port payments/ledger
"
    );
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn get_wide_adds_enforced_dataplane_level_policy_target_port_workloads_shadowed_and_findings() {
    let (code, stdout, _) = run(&[
        "get",
        "bookinfo/reviews",
        "payments/ledger",
        "-f",
        EXAMPLES,
        "-o",
        "wide",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "\
TARGET                  MODE      ENFORCED   DATAPLANE   LEVEL       POLICY             TARGET PORT   WORKLOADS   SHADOWED                        CHECK
bookinfo/reviews        STRICT    STRICT     sidecar     namespace   bookinfo/default   -             3           bookinfo/migration-permissive   -
bookinfo/reviews:9080   STRICT    STRICT     sidecar     namespace   bookinfo/default   9080          3           bookinfo/migration-permissive   -
payments/ledger         STRICT    STRICT     sidecar     workload    payments/ledger    -             1           -                               -
payments/ledger:80      STRICT    STRICT     sidecar     workload    payments/ledger    8080          1           -                               -
payments/ledger:443     DISABLE   DISABLE    sidecar     port        payments/ledger    8443          1           -                               -
"
    );
}

#[test]
fn get_json_answers_with_the_mode_the_target_port_and_the_deciding_policy() {
    let (code, stdout, stderr) =
        run(&["get", "payments/ledger:https", "-f", EXAMPLES, "-o", "json"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let value: Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(
        value,
        json!({"items": [{
            "target": "payments/ledger:443",
            "scope": "port",
            "namespace": "payments",
            "service": "ledger",
            "port": 443,
            "portName": "https",
            "targetPort": 8443,
            "mode": "DISABLE",
            "dataplane": "sidecar",
            "enforced": "DISABLE",
            "source": {"level": "port", "policy": "payments/ledger", "apiVersion": "security.istio.io/v1"},
            "shadowed": [],
            "workloads": 1,
        }]})
    );
}

#[test]
fn get_json_rows_for_mesh_and_namespace_have_null_fields() {
    let (_, stdout, _) = run(&["get", "mesh", "bookinfo/", "-f", EXAMPLES, "-o", "json"]);
    let value: Value = serde_json::from_str(&stdout).expect("valid JSON");
    let items = value["items"].as_array().expect("items");
    assert_eq!(items[0]["target"], "mesh");
    assert_eq!(items[0]["namespace"], Value::Null);
    assert_eq!(items[0]["workloads"], Value::Null);
    assert_eq!(items[1]["target"], "bookinfo");
    assert_eq!(items[1]["scope"], "namespace");
    assert_eq!(
        items[1]["shadowed"],
        json!(["bookinfo/migration-permissive"])
    );
    assert_eq!(
        items.len(),
        6,
        "the namespace row, then its five Service ports"
    );
}

#[test]
fn get_yaml_has_the_json_structure() {
    let (code, yaml, _) = run(&["get", "payments/ledger", "-f", EXAMPLES, "-o", "yaml"]);
    let (_, json_text, _) = run(&["get", "payments/ledger", "-f", EXAMPLES, "-o", "json"]);
    assert_eq!(code, 0);
    let from_yaml: Value = serde_saphyr::from_str(&yaml).expect("valid YAML");
    let from_json: Value = serde_json::from_str(&json_text).expect("valid JSON");
    assert_eq!(from_yaml, from_json);
}

#[test]
fn mixed_rows_count_pods_per_mode_and_have_no_source() {
    let (code, stdout, _) = run(&[
        "get",
        "shop/web:http",
        "-f",
        "tests/fixtures/mixed.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let value: Value = serde_json::from_str(&stdout).expect("valid JSON");
    let row = &value["items"][0];
    assert_eq!(row["mode"], "MIXED");
    assert_eq!(row["modes"], json!({"DISABLE": 1, "STRICT": 1}));
    assert_eq!(
        (&row["source"], &row["targetPort"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(row["workloads"], 2);
}

#[test]
fn expect_exits_3_and_names_the_rows_that_differ() {
    let (code, stdout, stderr) = run(&["get", "-A", "-f", EXAMPLES, "--expect", "STRICT"]);
    assert_eq!(code, 3);
    assert!(stdout.starts_with("TARGET"), "the table is still printed");
    assert_eq!(
        stderr,
        "error: expected STRICT everywhere, but 5 of 11 rows differ: mesh (PERMISSIVE), \
         istio-system (PERMISSIVE), payments (PERMISSIVE), payments/fraud-check:7070 (PERMISSIVE), \
         payments/ledger:443 (DISABLE)\n"
    );
    let (code, _, stderr) = run(&["get", "bookinfo", "-f", EXAMPLES, "--expect", "STRICT"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[test]
fn manifests_can_come_from_stdin() {
    let input = std::fs::read_to_string("examples/payments/security.yaml").expect("example exists");
    let out = Mtls::new(["get", "payments", "-f", "-", "-o", "json"])
        .stdin(input)
        .run();
    assert_eq!(out.code, 0);
    let value: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(value["items"][0]["mode"], "PERMISSIVE");
    assert_eq!(value["items"][0]["source"]["policy"], "payments/default");
}

#[test]
fn require_prints_the_plan_on_stdout_and_the_result_on_stderr() {
    let (code, stdout, stderr) = run(&["require", "payments", "-f", EXAMPLES]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "\
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: payments
spec:
  mtls:
    mode: STRICT
"
    );
    assert_eq!(
        stderr,
        "\
payments: set to STRICT (peerauthentication payments/default to be updated)
TARGET                      MODE      SOURCE
payments                    STRICT    namespace payments/default
payments/fraud-check:7070   STRICT    namespace payments/default
payments/ledger:80          STRICT    workload payments/ledger
payments/ledger:443         DISABLE   port payments/ledger
"
    );
}

#[test]
fn disable_on_a_port_creates_a_workload_policy_keyed_by_target_port_and_warns() {
    // bookinfo/reviews's DestinationRule sends ISTIO_MUTUAL to the port: the
    // change breaks those calls, so it is forced (tests/gate.rs has the gate).
    let (code, stdout, stderr) = run(&[
        "disable",
        "bookinfo/reviews:http",
        "-f",
        EXAMPLES,
        "--force",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "\
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: reviews
  namespace: bookinfo
  labels:
    app.kubernetes.io/managed-by: mtls
spec:
  selector:
    matchLabels:
      app: reviews
  portLevelMtls:
    \"9080\":
      mode: DISABLE
"
    );
    assert_eq!(
        stderr,
        "\
warning: the change breaks calls (MTLS015 destinationrule bookinfo/reviews): calls from sidecar clients in every \
namespace to bookinfo/reviews:9080 will fail: destinationrule bookinfo/reviews sends mTLS (ISTIO_MUTUAL), but the \
sidecars of 3 workloads (reviews-v1, reviews-v2, reviews-v3) take only plaintext (DISABLE from port policy bookinfo/reviews)
bookinfo/reviews:9080: set to DISABLE (peerauthentication bookinfo/reviews to be created)
warning: bookinfo/reviews:9080: mTLS gets weaker, from STRICT to DISABLE
TARGET                  MODE      SOURCE
bookinfo/reviews:9080   DISABLE   port bookinfo/reviews
"
    );
}

#[test]
fn unset_of_the_only_setting_deletes_the_policy() {
    let (code, stdout, stderr) =
        run(&["unset", "payments", "-f", "examples/payments/security.yaml"]);
    assert_eq!(code, 0);
    // The comment, then the policy emptied: `kubectl apply` of the plan alone
    // gives the table shown (a plan of deletions only is still something to
    // apply), and the comment says what may then be deleted.
    assert_eq!(
        stdout,
        "# delete peerauthentication payments/default\n---\napiVersion: security.istio.io/v1\n\
         kind: PeerAuthentication\nmetadata:\n  name: default\n  namespace: payments\nspec:\n  mtls: null\n"
    );
    assert!(
        stderr.starts_with(
            "payments: unset, inherits PERMISSIVE (Istio's default) (peerauthentication payments/default to be deleted)\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_change_already_in_place_writes_nothing_and_says_so() {
    let (code, stdout, stderr) = run(&["allow", "mesh", "-f", EXAMPLES]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert!(
        stderr.starts_with("mesh: already PERMISSIVE at the mesh level; nothing to change\n"),
        "{stderr}"
    );
}

#[test]
fn a_shadowed_change_is_refused_with_exit_3_unless_forced() {
    let fixture = "tests/fixtures/shadowed.yaml";
    let (code, stdout, stderr) = run(&["require", "prod/api", "-f", fixture]);
    assert_eq!((code, stdout.as_str()), (3, ""));
    assert_eq!(
        stderr,
        "error: prod/api: refused: peerauthentication prod/api-canary is an older workload policy for \
         the same pods, so Istio uses it and ignores the changed one whole (the result would be \
         PERMISSIVE from the workload level)\n  nothing was written; --force writes anyway\n"
    );
    let (code, stdout, stderr) = run(&["require", "prod/api", "-f", fixture, "--force"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("apiVersion: security.istio.io/v1beta1\n"),
        "creates with the tree's API: {stdout}"
    );
    assert!(
        stderr
            .contains("warning: prod/api: written because of --force, but it will not take effect"),
        "{stderr}"
    );
}

#[test]
fn a_refused_target_stops_every_target_of_the_command() {
    let (code, stdout, _) = run(&[
        "require",
        "prod",
        "prod/api",
        "-f",
        "tests/fixtures/shadowed.yaml",
    ]);
    assert_eq!((code, stdout.as_str()), (3, ""), "nothing is half-done");
}

#[test]
fn invalid_policies_are_warned_about_and_resolved_as_istio_does() {
    let (code, stdout, stderr) =
        run(&["get", "prod", "-f", "tests/fixtures/invalid-policies.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "TARGET   MODE     SOURCE\nprod     STRICT   namespace prod/default\n"
    );
    assert_eq!(
        stderr,
        "\
warning: peerauthentication prod/typo (tests/fixtures/invalid-policies.yaml: document 2 at line 11) is ignored, as Istio ignores it: spec.mtls.mode: unknown mTLS mode \"Strict\" (expected UNSET, DISABLE, PERMISSIVE or STRICT)
warning: peerauthentication prod/default: portLevelMtls requires a selector: Istio ignores it on mesh- and namespace-wide policies (Istio's validation rejects this)
"
    );
}

#[test]
fn malformed_manifests_exit_1_naming_file_position_and_reason() {
    let (code, stdout, stderr) = run(&["get", "-A", "-f", "tests/fixtures/no-apiversion.yaml"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "error: invalid manifest tests/fixtures/no-apiversion.yaml: document 2 at line 5\n  the object has no apiVersion\n"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Service\nmetadata: {name: a\n").expect("write");
    let (code, _, stderr) = run(&["get", "-f", bad.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    // The file and the place in it; the reason is the YAML parser's wording.
    let place = format!(
        "error: invalid manifest {}: line 3, column 11: ",
        bad.display()
    );
    assert!(
        stderr.starts_with(&place) && stderr.lines().count() == 1 && stderr.len() > place.len() + 1,
        "{stderr}"
    );

    let (code, _, stderr) = run(&["get", "-f", "tests/fixtures/does-not-exist.yaml"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: cannot read tests/fixtures/does-not-exist.yaml\n  No such file"),
        "{stderr}"
    );
}

#[test]
fn bad_targets_and_flags_are_usage_errors() {
    let (code, _, stderr) = run(&["get", "prod/api:http:8080", "-f", EXAMPLES]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "error: invalid target \"prod/api:http:8080\": expected NAMESPACE/SERVICE:PORT\n"
    );

    let (code, _, stderr) = run(&["require", "Prod", "-f", EXAMPLES]);
    assert_eq!(code, 2);
    assert!(
        stderr
            .starts_with("error: invalid target \"Prod\": namespace \"Prod\" is not a valid name"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["get", "--bogus"]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: unexpected argument '--bogus' found"),
        "{stderr}"
    );

    let (code, _, _) = run(&["get", "-A", "mesh", "-f", EXAMPLES]);
    assert_eq!(code, 2);
}

#[test]
fn targets_that_do_not_exist_exit_1() {
    let (code, _, stderr) = run(&["get", "nope", "-f", EXAMPLES]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: namespace \"nope\" not found\n")
    );
    let (code, _, stderr) = run(&["disable", "payments/ledger:grpc", "-f", EXAMPLES]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            1,
            "error: service payments/ledger has no port \"grpc\"; its ports: 80 (http), 443 (https)\n"
        )
    );
}

#[test]
fn root_namespace_flag_moves_the_mesh_level() {
    let (code, stdout, _) = run(&[
        "get",
        "mesh",
        "-f",
        EXAMPLES,
        "--root-namespace",
        "payments",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let value: Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(value["items"][0]["source"]["policy"], "payments/default");
}

#[test]
fn a_root_namespace_that_does_not_exist_is_an_error() {
    let (code, stdout, stderr) = run(&[
        "get",
        "-A",
        "-f",
        EXAMPLES,
        "--root-namespace",
        "istio-config",
    ]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "error: the root namespace \"istio-config\" (--root-namespace) does not exist: \
         the manifests hold no Namespace and no object in it\n  \
         name the namespace where the mesh-wide PeerAuthentication lives, or leave the flag out \
         to read rootNamespace from the mesh config\n"
    );
}

#[test]
fn migrate_prints_peer_authentications_that_keep_every_service_port_mode() {
    let legacy_tree = "tests/fixtures/legacy/mesh.yaml";
    let (code, before, _) = run(&["get", "-A", "-f", legacy_tree, "-o", "json"]);
    assert_eq!(code, 0);
    let (code, migrated, stderr) = run(&["migrate", "-f", legacy_tree]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "3 Service ports keep their mode with these 4 PeerAuthentications\n"
    );
    assert!(
        migrated.contains("  portLevelMtls:\n    \"9090\":\n      mode: PERMISSIVE\n"),
        "{migrated}"
    );

    // The tree with its legacy policies replaced by the migration resolves alike.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(legacy_tree).expect("fixture");
    let workloads: Vec<&str> = text
        .split("\n---\n")
        .filter(|doc| !doc.contains("authentication.istio.io"))
        .collect();
    std::fs::write(dir.path().join("workloads.yaml"), workloads.join("\n---\n")).expect("write");
    std::fs::write(dir.path().join("migrated.yaml"), &migrated).expect("write");
    let (code, after, stderr) = run(&[
        "get",
        "-A",
        "-f",
        dir.path().to_str().expect("utf-8"),
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let modes = |text: &str| -> Vec<(String, String)> {
        let value: Value = serde_json::from_str(text).expect("JSON");
        value["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|row| row["scope"] == "port")
            .map(|row| {
                (
                    row["target"].as_str().unwrap_or("").to_string(),
                    row["mode"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    assert_eq!(modes(&before), modes(&after));
    assert_eq!(
        modes(&after),
        [
            ("legacy/billing:8080".to_string(), "DISABLE".to_string()),
            ("shop/web:80".to_string(), "STRICT".to_string()),
            ("shop/web:9090".to_string(), "PERMISSIVE".to_string()),
        ]
    );
}

#[test]
fn hostile_manifests_fail_fast_and_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);

    // 257 MiB of zero bytes (a sparse file): refused at the first byte, not
    // read whole.
    let zeros = std::fs::File::create(path("zeros.yaml")).expect("create");
    zeros.set_len(257 * 1024 * 1024).expect("sparse file");
    // One object over 16 MiB, ten times what etcd stores: refused once its
    // first 16 MiB are read.
    let blob = "x".repeat(17 * 1024 * 1024);
    let big = format!(
        r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "big", "namespace": "prod"}}, "data": {{"blob": "{blob}"}}}}"#
    );
    // "Billion laughs": nine levels of ten aliases.
    let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (prev, name) in ('a'..='i').zip('b'..='j') {
        let refs = vec![format!("*{prev}"); 10].join(",");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let deep: String = (0..100).map(|i| format!("{}-\n", "  ".repeat(i))).collect();
    let files: [(&str, &[u8]); 5] = [
        ("big.json", big.as_bytes()),
        ("bomb.yaml", bomb.as_bytes()),
        ("deep.yaml", deep.as_bytes()),
        ("garbage.yaml", &[0xff, 0xfe, 0x00, 0x01]),
        (
            "number.yaml",
            b"apiVersion: v1\nkind: Service\nmetadata: {name: 5, namespace: prod}\n",
        ),
    ];
    for (name, content) in files {
        std::fs::write(path(name), content).expect("write");
    }

    for (name, ending) in [
        (
            "zeros.yaml",
            "zeros.yaml: not a text file (control character 0x00 at byte 0)",
        ),
        (
            "big.json",
            "big.json: document 1 at line 1: an object is larger than the 16 MiB an object may be",
        ),
        (
            "bomb.yaml",
            "bomb.yaml: line 5, column 29: aliases expand to more than 100000 parser events",
        ),
        (
            "deep.yaml",
            "deep.yaml: line 65, column 129: nested more than 64 deep",
        ),
        (
            "garbage.yaml",
            "garbage.yaml: not a text file (invalid UTF-8 at byte 0)",
        ),
        (
            "number.yaml",
            "document 1 at line 1\n  metadata.name: expected a string, found a number",
        ),
    ] {
        let (code, stdout, stderr) = run(&["get", "-f", path(name).to_str().expect("utf-8")]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{name}: {stderr}");
        assert!(stderr.ends_with(&format!("{ending}\n")), "{name}: {stderr}");
    }
}

#[test]
fn control_characters_from_manifests_never_reach_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("evil.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: \"evil\\e[31m\\a\", namespace: prod}\nspec: {mtls: {mode: STRICT}}\n",
    )
    .expect("write");
    for output in ["table", "wide"] {
        let (code, stdout, stderr) = run(&[
            "get",
            "prod",
            "-f",
            manifest.to_str().expect("utf-8"),
            "-o",
            output,
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
            "{stdout:?}"
        );
        assert!(stdout.contains("prod/evil\\u{1b}[31m\\u{7}"), "{stdout}");
    }
    let (_, stdout, _) = run(&[
        "get",
        "prod",
        "-f",
        manifest.to_str().expect("utf-8"),
        "-o",
        "json",
    ]);
    assert!(
        stdout.contains("\"prod/evil\\u001b[31m\\u0007\""),
        "JSON escapes them: {stdout}"
    );
}

/// A mesh of `services` Services in namespace `big` under a PERMISSIVE mesh
/// policy, and for each of `duplicated` namespaces two namespace-wide policies
/// (an MTLS003 warning each): output well over a pipe's 64 KiB buffer.
fn big_mesh(dir: &std::path::Path, services: usize, duplicated: usize) -> String {
    use std::fmt::Write;
    let mut yaml = String::from(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: PERMISSIVE}}\n",
    );
    for i in 0..services {
        write!(
            yaml,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: service-{i:05}, namespace: big}}\n\
             spec: {{selector: {{app: s{i}}}, ports: [{{port: 80}}]}}\n"
        )
        .expect("write to a String");
    }
    for i in 0..duplicated {
        for name in ["a-first", "b-second"] {
            write!(
                yaml,
                "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                 metadata: {{name: {name}, namespace: dup-{i:04}}}\nspec: {{mtls: {{mode: STRICT}}}}\n"
            )
            .expect("write to a String");
        }
    }
    let path = dir.join("big.yaml");
    std::fs::write(&path, yaml).expect("manifest written");
    path.to_str().expect("utf-8 path").to_string()
}

/// Runs mtls with stdout read for its first line only, then closed, as
/// `mtls ... | head -1` does; the exit code and stderr.
fn run_into_head(args: &[&str]) -> (i32, String) {
    use std::io::{BufRead, Read};
    let mut child = Mtls::new(args).command().spawn().expect("mtls starts");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut first)
        .expect("a first line");
    // The reader is dropped here: the pipe is closed after one line.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .expect("stderr read");
    let status = child.wait().expect("mtls exits");
    (status.code().expect("an exit code"), stderr)
}

#[test]
fn a_closed_stdout_never_hides_a_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = big_mesh(dir.path(), 2000, 300);
    for output in ["table", "wide", "json", "yaml"] {
        let (code, stderr) =
            run_into_head(&["get", "-A", "-f", &big, "--expect", "STRICT", "-o", output]);
        assert_eq!(code, 3, "get -o {output} | head -1: {stderr}");
        assert!(
            stderr.contains("expected STRICT everywhere, but"),
            "the verdict is still said: {stderr}"
        );
        let (code, stderr) = run_into_head(&[
            "check",
            "-A",
            "-f",
            &big,
            "--fail-on",
            "warning",
            "-o",
            output,
        ]);
        assert_eq!(code, 3, "check -o {output} | head -1: {stderr}");
        assert!(
            stderr.contains("300 warnings (--fail-on warning)"),
            "{stderr}"
        );
    }
    // A closed pipe alone is no failure.
    let other = tempfile::tempdir().expect("temp dir");
    let permissive = big_mesh(other.path(), 2000, 0);
    let (code, stderr) = run_into_head(&["get", "-A", "-f", &permissive, "--expect", "PERMISSIVE"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    // A change whose plan (some 80 KiB) is cut short still reports every target.
    let small = tempfile::tempdir().expect("temp dir");
    let big = big_mesh(small.path(), 350, 0);
    let targets: Vec<String> = (0..350).map(|i| format!("big/service-{i:05}")).collect();
    let mut args = vec!["require"];
    args.extend(targets.iter().map(String::as_str));
    args.extend(["-f", &big]);
    let (code, stderr) = run_into_head(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches(": set to STRICT (").count(),
        350,
        "every target is still reported"
    );
}

/// Writes `files` (name, content) into a new temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("directory");
        std::fs::write(path, content).expect("file written");
    }
    dir
}

fn path_of(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().expect("utf-8 path")
}

#[test]
fn inputs_without_objects_are_an_error_not_all_clear() {
    let empty = tree(&[]);
    let unused = tree(&[(
        "secret.yaml",
        "# nothing mtls reads\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
    )]);
    for dir in [&empty, &unused] {
        let dir = path_of(dir);
        for args in [
            vec!["get", "-f", dir, "--expect", "PERMISSIVE"],
            vec!["get", "-A", "-f", dir],
            vec!["check", "-A", "-f", dir],
            vec!["require", "mesh", "-f", dir],
        ] {
            let (code, stdout, stderr) = run(&args);
            assert_eq!(
                (code, stdout.as_str(), stderr.as_str()),
                (
                    1,
                    "",
                    format!(
                        "error: no Kubernetes objects found in {dir}\n  \
                         mtls reads PeerAuthentications, Services, Pods, workloads, Namespaces, \
                         DestinationRules and the mesh config\n"
                    )
                    .as_str()
                ),
                "{args:?}"
            );
        }
    }
    let out = Mtls::new(["check", "-A", "-f", "-"]).stdin("").run();
    assert_eq!(out.code, 1, "empty stdin");
    assert!(
        out.stderr
            .contains("no Kubernetes objects found in <stdin>")
    );
}

#[test]
fn typed_lists_are_read_like_kind_list() {
    let dir = tree(&[(
        "dump.json",
        r#"{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthenticationList",
            "metadata": {"resourceVersion": "7"},
            "items": [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                       "metadata": {"name": "default", "namespace": "istio-system"},
                       "spec": {"mtls": {"mode": "STRICT"}}}]}"#,
    )]);
    let (code, stdout, stderr) = run(&["get", "-f", path_of(&dir)]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        "TARGET   MODE     SOURCE\nmesh     STRICT   mesh istio-system/default\n"
    );
}

#[test]
fn a_dangling_symlink_in_a_directory_is_an_error_naming_it() {
    let dir = tree(&[(
        "mesh.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n",
    )]);
    let link = dir.path().join("policies.yaml");
    std::os::unix::fs::symlink(dir.path().join("gone.yaml"), &link).expect("symlink");
    let (code, stdout, stderr) = run(&["get", "-f", path_of(&dir), "--expect", "STRICT"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(
        stderr.starts_with(&format!("error: cannot read {}", link.display())),
        "{stderr}"
    );
}

#[test]
fn modes_are_case_insensitive_and_expect_at_least_is_a_threshold() {
    let (code, _, lower) = run(&["get", "-A", "-f", EXAMPLES, "--expect", "strict"]);
    let (_, _, upper) = run(&["get", "-A", "-f", EXAMPLES, "--expect", "STRICT"]);
    assert_eq!((code, lower.as_str()), (3, upper.as_str()));

    let (code, stdout, stderr) = run(&[
        "get",
        "-A",
        "-f",
        EXAMPLES,
        "--expect-at-least",
        "permissive",
    ]);
    assert_eq!(code, 3);
    assert!(stdout.starts_with("TARGET"), "the table is still printed");
    assert_eq!(
        stderr,
        "error: expected PERMISSIVE or stronger everywhere, but 1 of 11 rows is weaker: \
         payments/ledger:443 (DISABLE)\n"
    );
    let (code, _, stderr) = run(&["get", "-A", "-f", EXAMPLES, "--expect-at-least", "Disable"]);
    assert_eq!((code, stderr.as_str()), (0, ""));

    // A MIXED row is as weak as its weakest pod.
    let mixed = ["get", "shop/web:http", "-f", "tests/fixtures/mixed.yaml"];
    let (code, _, stderr) = run(&[&mixed[..], &["--expect-at-least", "PERMISSIVE"]].concat());
    assert_eq!(
        (code, stderr.as_str()),
        (
            3,
            "error: expected PERMISSIVE or stronger everywhere, but 1 of 1 rows is weaker: \
             shop/web:80 (MIXED, DISABLE at weakest)\n"
        )
    );
    let (code, _, _) = run(&[&mixed[..], &["--expect-at-least", "DISABLE"]].concat());
    assert_eq!(code, 0);
    let (code, _, stderr) = run(&[
        &mixed[..],
        &["--expect", "STRICT", "--expect-at-least", "STRICT"],
    ]
    .concat());
    assert_eq!(code, 2, "one verdict at a time: {stderr}");
}

#[test]
fn a_broken_creation_timestamp_is_an_error_never_a_panic() {
    for stamp in [
        "2024-01-01T00:00:00+aé00",
        "2024-01-01T00:00:00é",
        "é024-01-01T00:00:00Z",
    ] {
        let dir = tree(&[(
            "p.yaml",
            &format!(
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                 metadata: {{name: default, namespace: istio-system, creationTimestamp: \"{stamp}\"}}\n\
                 spec: {{mtls: {{mode: STRICT}}}}\n"
            ),
        )]);
        let (code, stdout, stderr) = run(&["get", "-f", path_of(&dir)]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{stamp}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "creationTimestamp {stamp:?} is not an RFC 3339 time"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn port_keys_istio_cannot_decode_make_the_policy_ignored() {
    for key in [
        "+8080",
        " 8080",
        "8080 ",
        "-1",
        "0x1f90",
        "4294967296",
        "8_080",
    ] {
        let dir = tree(&[(
            "p.yaml",
            &format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: prod}}\n\
                 spec: {{selector: {{app: api}}, ports: [{{port: 8080}}]}}\n---\n\
                 apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                 metadata: {{name: api, namespace: prod}}\n\
                 spec: {{selector: {{matchLabels: {{app: api}}}}, mtls: {{mode: STRICT}}, \
                 portLevelMtls: {{\"{key}\": {{mode: DISABLE}}}}}}\n"
            ),
        )]);
        let (code, stdout, stderr) = run(&["get", "prod/api:8080", "-f", path_of(&dir)]);
        assert_eq!(code, 0, "{key:?}: {stderr}");
        assert_eq!(
            stdout, "TARGET          MODE         SOURCE\nprod/api:8080   PERMISSIVE   default\n",
            "{key:?}: the policy is ignored whole, as Istio ignores it"
        );
        assert!(
            stderr.starts_with("warning: peerauthentication prod/api (")
                && stderr.contains("is ignored"),
            "{key:?}: {stderr}"
        );
    }
    // Leading zeros are decimal to Istio too: "08080" is port 8080, and a
    // second key for the same port makes the policy undecodable.
    let dir = tree(&[(
        "p.yaml",
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: api, namespace: prod}\n\
         spec: {selector: {matchLabels: {app: api}}, portLevelMtls: {\"08080\": {mode: DISABLE}, \"8080\": {mode: STRICT}}}\n",
    )]);
    let (code, _, stderr) = run(&["get", "-f", path_of(&dir)]);
    assert_eq!(code, 0);
    assert!(stderr.contains("port 8080 has two keys"), "{stderr}");
}

#[test]
fn quiet_never_hides_a_security_warning() {
    let (code, _, stderr) = run(&[
        "disable",
        "payments/ledger:80",
        "payments",
        "-f",
        EXAMPLES,
        "-q",
        "--force",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        stderr,
        "warning: the change breaks calls (MTLS015 destinationrule payments/ledger): calls from sidecar clients in \
         every namespace to payments/ledger:80 will fail: destinationrule payments/ledger sends mTLS (ISTIO_MUTUAL), \
         but the sidecar of 1 workload (ledger) takes only plaintext (DISABLE from port policy payments/ledger)\n\
         warning: payments/ledger:80: mTLS gets weaker, from STRICT to DISABLE\n\
         warning: payments: mTLS gets weaker, from PERMISSIVE to DISABLE (and 1 more rows of payments)\n",
        "-q leaves out the confirmations and the table, never a weakening"
    );
    let (code, _, stderr) = run(&["require", "bookinfo", "-f", EXAMPLES, "-q"]);
    assert_eq!(
        (code, stderr.as_str()),
        (0, ""),
        "nothing weakened, nothing said"
    );
}

/// Colors follow the conventions other tools do: CLICOLOR_FORCE colors a pipe
/// too (a CI log that renders them), and NO_COLOR or --no-color still win.
#[test]
fn clicolor_force_colors_a_pipe_and_no_color_still_wins() {
    let get = || Mtls::new(["get", "bookinfo", "-f", EXAMPLES]).colors();
    let esc = |run: &common::Run| run.stdout.contains('\x1b');

    let plain = get().run();
    assert!(!esc(&plain), "a pipe gets no colors: {:?}", plain.stdout);

    let forced = get().env("CLICOLOR_FORCE", "1").run();
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        esc(&forced),
        "CLICOLOR_FORCE colors a pipe: {:?}",
        forced.stdout
    );
    assert!(forced.stdout.contains("STRICT"));

    let flag = get().arg("--no-color").env("CLICOLOR_FORCE", "1").run();
    assert!(!esc(&flag), "--no-color wins: {:?}", flag.stdout);

    let env = get().env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1").run();
    assert!(!esc(&env), "NO_COLOR wins: {:?}", env.stdout);
}

/// A MIXED row in the wide view names the pods of each decision and the
/// policy behind it, not only how many pods have each mode.
#[test]
fn wide_mixed_rows_list_the_pod_groups_and_their_deciding_policies() {
    let (code, stdout, stderr) = run(&[
        "get",
        "shop/web:80",
        "-f",
        "tests/fixtures/mixed.yaml",
        "-o",
        "wide",
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.contains("MIXED   MIXED      sidecar     -       web-a: DISABLE port shop/web; web-b: STRICT workload shop/web"),
        "{stdout}"
    );
}
