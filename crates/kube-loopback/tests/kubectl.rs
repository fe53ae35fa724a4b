//! kubectl must be able to use the loopback server: if it cannot, the server is
//! not faithful. These tests drive the real kubectl against it.

use std::io::Write;
use std::process::{Command, Stdio};

use kube_loopback::{ADMIN, Config, Server};
use serde_json::Value;

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
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: prod, labels: {app: api}}
spec: {containers: [{name: api}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: prod, labels: {app: web}}
spec: {containers: [{name: web}]}
";

struct Kubectl {
    server: Server,
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

impl Kubectl {
    fn new() -> Kubectl {
        let server =
            Server::start(Config::default().seed_yaml(SEED).expect("seed")).expect("server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("config");
        server
            .write_kubeconfig(&kubeconfig, ADMIN)
            .expect("kubeconfig");
        Kubectl {
            server,
            _dir: dir,
            kubeconfig,
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl is installed (it is part of the machine image)");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("kubectl finishes");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn kubectl_gets_lists_with_selectors_and_pages() {
    let k = Kubectl::new();
    let (code, out, err) = k.run(&["get", "pa", "-n", "prod"], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("AGE"),
        "{out}"
    );
    assert!(lines[1].starts_with("default "), "{out}");

    let (code, out, err) = k.run(
        &["get", "pods", "-n", "prod", "-l", "app=api", "-o", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["api-1"]);

    // --chunk-size makes kubectl page with limit and continue.
    let (code, out, err) = k.run(&["get", "pods", "-A", "--chunk-size=1", "-o", "name"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "pod/api-1\npod/web-1\n");
    let pages = k
        .server
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/pods?") && r.uri.contains("limit=1"))
        .count();
    assert_eq!(pages, 2, "{:#?}", k.server.requests());

    let (code, _, err) = k.run(&["get", "pa", "missing", "-n", "prod"], None);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): peerauthentications.security.istio.io \"missing\" not found"
    );
}

#[test]
fn kubectl_applies_and_deletes() {
    let k = Kubectl::new();
    let manifest = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\nspec: {selector: {matchLabels: {app: api}}, mtls: {mode: DISABLE}}\n";
    let (code, out, err) = k.run(&["apply", "-f", "-"], Some(manifest));
    assert_eq!(
        (code, out.trim()),
        (0, "peerauthentication.security.istio.io/api created"),
        "{err}"
    );

    let (code, out, err) = k.run(
        &["apply", "-f", "-"],
        Some(&manifest.replace("DISABLE", "STRICT")),
    );
    assert_eq!(
        (code, out.trim()),
        (0, "peerauthentication.security.istio.io/api configured"),
        "{err}"
    );
    let stored = k
        .server
        .object("peerauthentications.security.istio.io", "prod", "api")
        .expect("stored");
    assert_eq!(stored["spec"]["mtls"]["mode"], "STRICT");
    assert!(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let (code, out, _) = k.run(
        &["apply", "-f", "-"],
        Some(&manifest.replace("DISABLE", "STRICT")),
    );
    assert_eq!(
        (code, out.trim()),
        (0, "peerauthentication.security.istio.io/api unchanged")
    );

    let (code, _, err) = k.run(
        &["apply", "-f", "-"],
        Some(&manifest.replace("DISABLE", "Strict")),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("spec.mtls.mode: Unsupported value: \"Strict\": supported values: \"UNSET\", \"DISABLE\", \"PERMISSIVE\", \"STRICT\""),
        "{err}"
    );

    let (code, out, err) = k.run(&["delete", "pa", "api", "-n", "prod"], None);
    assert_eq!(
        (code, out.trim()),
        (0, "peerauthentication.security.istio.io \"api\" deleted"),
        "{err}"
    );
    assert!(
        k.server
            .object("peerauthentications.security.istio.io", "prod", "api")
            .is_none()
    );
}

/// `kubectl get -w` LISTs, then watches from the list's revision: it must
/// see each change once, in order, deletions included.
#[test]
fn kubectl_watches_changes_as_they_are_stored() {
    use std::io::BufRead;
    let k = Kubectl::new();
    let mut watching = Command::new("kubectl")
        .args([
            "get",
            "peerauthentications",
            "-n",
            "prod",
            "--watch",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.metadata.name} {.object.spec.mtls.mode}{\"\\n\"}",
        ])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", k._dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is installed");
    let mut lines = std::io::BufReader::new(watching.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(next(), "ADDED default STRICT");
    // The watch is open once the list is printed; what follows is a change.
    let manifest = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\nspec: {mtls: {mode: DISABLE}}\n";
    let (code, _, err) = k.run(&["apply", "-f", "-"], Some(manifest));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = k.run(
        &[
            "patch",
            "pa",
            "default",
            "-n",
            "prod",
            "--type=merge",
            "-p",
            r#"{"spec":{"mtls":{"mode":"PERMISSIVE"}}}"#,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = k.run(&["delete", "pa", "api", "-n", "prod"], None);
    assert_eq!(code, 0, "{err}");
    let seen = [next(), next(), next()];
    let _ = watching.kill();
    let _ = watching.wait();
    assert_eq!(
        seen,
        [
            "ADDED api DISABLE",
            "MODIFIED default PERMISSIVE",
            "DELETED api DISABLE"
        ]
    );
}
