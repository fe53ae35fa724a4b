//! End-to-end tests against a live API server: the real `mtls` binary, a real
//! kubeconfig, real HTTPS, talking to the loopback API server of this workspace.

use std::path::PathBuf;
use std::process::{Child, Command as Process, Output, Stdio};
use std::time::Duration;

use kube_loopback::{ADMIN, Config, Deny, Fault, FaultAction, Server, TOKEN_USER};
use pretty_assertions::assert_eq;

mod common;

use common::Mtls;
use serde_json::{Value, json};

const PA: &str = "peerauthentications.security.istio.io";

/// A loopback cluster seeded with the demo fixture, and a kubeconfig for it.
struct Cluster {
    server: Server,
    dir: tempfile::TempDir,
    /// The credentials of the kubeconfigs: the bearer token and the client
    /// key. No output of any run may contain them.
    secrets: Vec<String>,
}

impl Cluster {
    /// The demo fixture plus `config`'s seed.
    fn start(config: Config) -> Cluster {
        let fixture =
            std::fs::read_to_string("tests/fixtures/cluster/demo.yaml").expect("fixture exists");
        Cluster::serve(config.seed_yaml(&fixture).expect("fixture is valid YAML"))
    }

    /// Only `seed`.
    fn with_seed(seed: Vec<Value>) -> Cluster {
        Cluster::serve(Config {
            seed,
            ..Config::default()
        })
    }

    fn serve(config: Config) -> Cluster {
        let server = Server::start(config).expect("the loopback server starts");
        let dir = tempfile::tempdir().expect("temp dir");
        server
            .write_kubeconfig(&dir.path().join("admin.yaml"), ADMIN)
            .expect("kubeconfig written");
        server
            .write_kubeconfig(&dir.path().join("token.yaml"), TOKEN_USER)
            .expect("kubeconfig written");
        let mut secrets = vec![kube_loopback::TOKEN.to_string()];
        secrets.extend(
            server
                .kubeconfig(ADMIN)
                .lines()
                .filter_map(|l| l.trim().strip_prefix("client-key-data: "))
                .map(str::to_string),
        );
        Cluster {
            server,
            dir,
            secrets,
        }
    }

    fn demo() -> Cluster {
        Cluster::start(Config::default())
    }

    fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.path().join(if user == ADMIN {
            "admin.yaml"
        } else {
            "token.yaml"
        })
    }

    /// `mtls ARGS` as the cluster's admin. Traffic is left out
    /// (`MTLS_PROMETHEUS_URL=none`): these clusters run no Prometheus, and
    /// tests/traffic.rs covers it, with one and without.
    fn command(&self, args: &[&str]) -> Process {
        Mtls::new(args)
            .kubeconfig(&self.kubeconfig(ADMIN))
            .env("MTLS_PROMETHEUS_URL", "none")
            .command()
    }

    /// Runs a command that must not change the server: a read, a dry run, a
    /// refused or failed change. Asserted by diffing the server's whole state.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_changing(args, &[])
    }

    /// Runs a command and asserts that it changed exactly the objects named
    /// (`Kind NS/NAME`), by diffing the server's whole state before and after:
    /// a change never writes outside the level asked for.
    fn run_changing(&self, args: &[&str], expected: &[&str]) -> (i32, String, String) {
        let before = self.state();
        let result = output(self.command(args).output().expect("mtls runs"));
        self.assert_changed(&before, expected, &format!("mtls {args:?}"));
        self.assert_no_secrets(&result);
        result
    }

    /// Runs a command as the user of `kubeconfig`; it must not change the server.
    fn run_as(&self, kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        let before = self.state();
        let result = mtls_with(kubeconfig, args);
        self.assert_changed(&before, &[], &format!("mtls {args:?}"));
        self.assert_no_secrets(&result);
        result
    }

    /// Asserts that no credential appears in a run's output.
    fn assert_no_secrets(&self, (_, stdout, stderr): &(i32, String, String)) {
        for secret in &self.secrets {
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "a credential leaked:\n{stdout}\n{stderr}"
            );
        }
    }

    /// Asserts that exactly the objects named (`Kind NS/NAME`) differ between
    /// `before` and now.
    fn assert_changed(&self, before: &[Value], expected: &[&str], what: &str) {
        let key = |o: &Value| {
            format!(
                "{} {}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        };
        let index = |objects: &[Value]| -> std::collections::BTreeMap<String, Value> {
            objects.iter().map(|o| (key(o), o.clone())).collect()
        };
        let before = index(before);
        let after = index(&self.state());
        let mut changed: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        changed.sort();
        changed.dedup();
        assert_eq!(
            changed,
            expected.iter().collect::<Vec<_>>(),
            "objects changed by {what}"
        );
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mtls starts")
    }

    /// Waits until every injected fault has met its request: a delayed
    /// request is then being held.
    fn wait_for_held_request(&self) {
        while self.server.faults_left() > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn policy(&self, ns: &str, name: &str) -> Option<Value> {
        self.server.object(PA, ns, name)
    }

    /// An executable shell script in the cluster's directory.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// Every stored object, resourceVersion included: a write that changes
    /// nothing else still shows.
    fn state(&self) -> Vec<Value> {
        self.server.objects()
    }
}

/// Runs `mtls ARGS --kubeconfig PATH`, whatever KUBECONFIG says, without
/// traffic (as [`Cluster::command`]).
fn mtls_with(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    Mtls::new(args)
        .kubeconfig(kubeconfig)
        .env("MTLS_PROMETHEUS_URL", "none")
        .run()
        .into()
}

/// Sends SIG`name` (`INT`, `TERM`) to a running mtls.
fn send_signal(child: &Child, name: &str) {
    let sent = Process::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

fn output(out: Output) -> (i32, String, String) {
    (
        out.status.code().expect("mtls exits with a code"),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

fn spec(policy: Option<Value>) -> Value {
    policy.expect("the policy exists")["spec"].clone()
}

#[test]
fn the_backyards_walkthrough() {
    let c = Cluster::demo();

    // 1. allow mesh: creates the mesh-wide policy.
    let (code, stdout, stderr) = c.run_changing(
        &["allow", "mesh"],
        &["PeerAuthentication istio-system/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "mesh: set to PERMISSIVE (peerauthentication istio-system/default created)\n"
    );
    assert_eq!(
        stdout,
        "TARGET   MODE         SOURCE\nmesh     PERMISSIVE   mesh istio-system/default\n"
    );
    let mesh = c
        .policy("istio-system", "default")
        .expect("mesh policy created");
    assert_eq!(mesh["spec"], json!({"mtls": {"mode": "PERMISSIVE"}}));
    assert_eq!(
        mesh["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "mtls"})
    );

    // 2. get mesh.
    let (code, stdout, _) = c.run(&["get", "mesh"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "TARGET   MODE         SOURCE\nmesh     PERMISSIVE   mesh istio-system/default\n"
    );

    // 3. require demo.
    let (code, stdout, stderr) =
        c.run_changing(&["require", "demo"], &["PeerAuthentication demo/default"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "demo: set to STRICT (peerauthentication demo/default created)\n"
    );
    assert!(stdout.starts_with("TARGET"), "{stdout}");
    assert!(
        stdout.contains("\ndemo/echo:8080   STRICT   namespace demo/default\n"),
        "{stdout}"
    );
    assert_eq!(
        spec(c.policy("demo", "default")),
        json!({"mtls": {"mode": "STRICT"}})
    );

    // 4. allow demo/echo:8080: that port PERMISSIVE while the namespace is STRICT.
    // Service port 8080 reaches the container port named http, 8081: the key.
    let (code, stdout, stderr) = c.run_changing(
        &["allow", "demo/echo:8080"],
        &["PeerAuthentication demo/echo"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "demo/echo:8080: set to PERMISSIVE (peerauthentication demo/echo created)\n\
         warning: demo/echo:8080: mTLS gets weaker, from STRICT to PERMISSIVE\n"
    );
    assert_eq!(
        stdout,
        "TARGET           MODE         SOURCE\ndemo/echo:8080   PERMISSIVE   port demo/echo\n"
    );
    assert_eq!(
        spec(c.policy("demo", "echo")),
        json!({"selector": {"matchLabels": {"app": "echo"}}, "portLevelMtls": {"8081": {"mode": "PERMISSIVE"}}})
    );
    let (_, json_out, _) = c.run(&["get", "demo/echo:http", "-o", "json"]);
    let row: Value = serde_json::from_str(&json_out).expect("JSON");
    assert_eq!(
        (
            row["items"][0]["port"].clone(),
            row["items"][0]["targetPort"].clone()
        ),
        (json!(8080), json!(8081))
    );
    let (_, table, _) = c.run(&["get", "demo/echo:9000"]);
    assert_eq!(
        table,
        "TARGET           MODE     SOURCE\ndemo/echo:9000   STRICT   namespace demo/default\n"
    );

    // 5. unset demo/echo:8080: back to STRICT from the namespace; the policy is
    // left empty, so it is deleted.
    let (code, stdout, stderr) = c.run_changing(
        &["unset", "demo/echo:8080"],
        &["PeerAuthentication demo/echo"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "demo/echo:8080: unset, inherits STRICT from namespace demo/default (peerauthentication demo/echo deleted)\n"
    );
    assert_eq!(
        stdout,
        "TARGET           MODE     SOURCE\ndemo/echo:8080   STRICT   namespace demo/default\n"
    );
    assert_eq!(c.policy("demo", "echo"), None);

    // 6. unset demo: back to the mesh's PERMISSIVE.
    let (code, stdout, stderr) =
        c.run_changing(&["unset", "demo"], &["PeerAuthentication demo/default"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with(
            "demo: unset, inherits PERMISSIVE from mesh istio-system/default (peerauthentication demo/default deleted)\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: demo: mTLS gets weaker, from STRICT to PERMISSIVE"),
        "{stderr}"
    );
    assert!(
        stdout.contains("\ndemo             PERMISSIVE   mesh istio-system/default\n"),
        "{stdout}"
    );
    assert_eq!(c.policy("demo", "default"), None);
}

#[test]
fn sixteen_concurrent_writers_on_sixteen_ports_all_succeed() {
    for with_conflicts in [false, true] {
        let c = Cluster::demo();
        if with_conflicts {
            // Besides the real races: the first writes of all are refused with a 409.
            c.server
                .inject(Fault::conflict("PUT", "/peerauthentications/echo", 3));
            c.server.inject(Fault::status(
                "POST",
                "/peerauthentications",
                1,
                409,
                "AlreadyExists",
                "injected",
            ));
        }
        let before = c.state();
        let children: Vec<Child> = (8001..=8016)
            .map(|port| c.spawn(&["allow", &format!("demo/echo:{port}"), "-q"]))
            .collect();
        for child in children {
            let result = output(child.wait_with_output().expect("mtls finishes"));
            c.assert_no_secrets(&result);
            assert_eq!(result.0, 0, "{}", result.2);
        }
        c.assert_changed(
            &before,
            &["PeerAuthentication demo/echo"],
            "sixteen writers",
        );
        let ports = spec(c.policy("demo", "echo"))["portLevelMtls"].clone();
        let keys: Vec<u32> = ports
            .as_object()
            .expect("a map of ports")
            .keys()
            .map(|k| k.parse().expect("numeric keys"))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (8001..=8016).collect::<Vec<u32>>(),
            "with conflicts: {with_conflicts}"
        );
        assert!(
            ports
                .as_object()
                .expect("map")
                .values()
                .all(|v| v == &json!({"mode": "PERMISSIVE"}))
        );
    }
}

#[test]
fn a_changed_policy_keeps_its_labels_annotations_and_other_ports() {
    let c = Cluster::demo();
    c.server
        .seed(vec![json!({
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {
                "name": "echo-policy", "namespace": "demo",
                "labels": {"team": "edge"}, "annotations": {"owner": "alice@example.com"},
            },
            "spec": {
                "selector": {"matchLabels": {"app": "echo"}},
                "mtls": {"mode": "STRICT"},
                "portLevelMtls": {"9000": {"mode": "DISABLE"}},
            },
        })])
        .expect("seeded");
    let (code, _, stderr) = c.run_changing(
        &["allow", "demo/echo:8001"],
        &["PeerAuthentication demo/echo-policy"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "demo/echo:8001: set to PERMISSIVE (peerauthentication demo/echo-policy updated)\nwarning: demo/echo:8001: mTLS gets weaker, from STRICT to PERMISSIVE\n"
    );
    let policy = c.policy("demo", "echo-policy").expect("still there");
    assert_eq!(policy["metadata"]["labels"], json!({"team": "edge"}));
    assert_eq!(
        policy["metadata"]["annotations"],
        json!({"owner": "alice@example.com"})
    );
    assert_eq!(
        policy["spec"],
        json!({
            "selector": {"matchLabels": {"app": "echo"}},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {"9000": {"mode": "DISABLE"}, "8001": {"mode": "PERMISSIVE"}},
        })
    );
    // Idempotent: nothing is written the second time.
    c.server.clear_requests();
    let (code, _, stderr) = c.run(&["allow", "demo/echo:8001"]);
    assert_eq!(code, 0);
    assert!(
        stderr
            .starts_with("demo/echo:8001: already PERMISSIVE at the port level; nothing to change"),
        "{stderr}"
    );
    assert!(
        c.server.requests().iter().all(|r| r.method == "GET"),
        "no write: {:?}",
        c.server.requests()
    );
}

#[test]
fn failed_writes_exit_1_and_leave_the_server_unchanged() {
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "500",
            Fault::status(
                "POST",
                "/peerauthentications",
                1,
                500,
                "InternalError",
                "etcdserver: request timed out",
            ),
            "error: cannot create peerauthentication demo/default\n  etcdserver: request timed out (500 InternalError)\n",
        ),
        (
            // Every attempt: a write whose answer is lost once is read back
            // and written again (a_write_whose_answer_is_lost_is_looked_up_not_guessed).
            "dropped connections",
            Fault {
                method: Some("POST".into()),
                path_contains: None,
                times: 3,
                action: FaultAction::Drop,
            },
            "warning: demo: no answer to the write of peerauthentication demo/default (the connection to the API server at",
        ),
    ];
    for (what, fault, expected) in cases {
        let c = Cluster::demo();
        c.server.inject(fault);
        // `run` asserts that the server's state is unchanged.
        let (code, stdout, stderr) = c.run(&["require", "demo", "--request-timeout", "1"]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{what}: {stderr}");
        assert!(stderr.starts_with(expected), "{what}: {stderr}");
    }
}

#[test]
fn forbidden_requests_name_the_verb_resource_and_namespace() {
    let c = Cluster::demo();
    c.server.deny(Deny {
        verb: Some("create".into()),
        resource: Some("peerauthentications".into()),
        ..Deny::default()
    });
    let (code, _, stderr) = c.run(&["require", "demo"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error: cannot create peerauthentication demo/default\n  \
         peerauthentications.security.istio.io is forbidden: User \"admin\" cannot create resource \
         \"peerauthentications\" in API group \"security.istio.io\" in the namespace \"demo\"\n  \
         mtls needs to create peerauthentications.security.istio.io; check with \
         `kubectl auth can-i create peerauthentications.security.istio.io -n demo`\n"
    );

    let c = Cluster::demo();
    c.server.deny(Deny {
        verb: Some("list".into()),
        resource: Some("peerauthentications".into()),
        namespace: Some("istio-system".into()),
        ..Deny::default()
    });
    // The target's own namespace must be readable; the root namespace may
    // not be (a namespace-scoped user), which is said.
    let (code, _, stderr) = c.run(&["get", "istio-system"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "error: peerauthentications.security.istio.io is forbidden: User \"admin\" cannot list resource \
         \"peerauthentications\" in API group \"security.istio.io\" in the namespace \"istio-system\"\n  \
         mtls needs to list peerauthentications.security.istio.io; check with \
         `kubectl auth can-i list peerauthentications.security.istio.io -n istio-system`\n"
    );
    let (code, _, stderr) = c.run(&["get", "demo/echo:8080"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with("warning: cannot read the mesh-wide PeerAuthentications"),
        "{stderr}"
    );
}

#[test]
fn a_cluster_without_istio_says_so() {
    let c = Cluster::start(Config {
        disable: vec![
            "security.istio.io/v1".into(),
            "security.istio.io/v1beta1".into(),
        ],
        ..Config::default()
    });
    let (code, _, stderr) = c.run(&["get", "mesh"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "error: the API server at {} does not serve security.istio.io (PeerAuthentication): is Istio installed?\n",
            c.server.url()
        )
    );
}

#[test]
fn an_older_istio_serving_only_v1beta1_is_read_and_written_as_v1beta1() {
    let c = Cluster::start(Config {
        disable: vec!["security.istio.io/v1".into()],
        ..Config::default()
    });
    let (code, _, stderr) =
        c.run_changing(&["require", "demo"], &["PeerAuthentication demo/default"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(c.server.requests().iter().any(|r| {
        r.uri
            .starts_with("/apis/security.istio.io/v1beta1/namespaces/demo/peerauthentications")
            && r.method == "POST"
    }));
    let (_, out, _) = c.run(&["get", "demo", "-o", "json"]);
    let value: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        value["items"][0]["source"]["apiVersion"],
        "security.istio.io/v1beta1"
    );
}

#[test]
fn missing_targets_exit_1_listing_the_ports() {
    let c = Cluster::demo();
    let (code, _, stderr) = c.run(&["get", "demo/nope"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: service demo/nope not found\n")
    );
    let (code, _, stderr) = c.run(&["get", "nope/echo"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: namespace \"nope\" not found\n")
    );
    let (code, _, stderr) = c.run(&["disable", "demo/echo:grpc"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "error: service demo/echo has no port \"grpc\"; its ports: 8001 (p8001), 8002 (p8002)"
        ),
        "{stderr}"
    );
}

/// `get -A` makes its LISTs at once: held by the server, the policies,
/// namespaces, Services and pods are all asked for before any is answered —
/// four in flight, never more — and the table is the same as one LIST at a
/// time gives.
#[test]
fn get_all_lists_at_once_four_in_flight() {
    let c = Cluster::demo();
    let (_, sequential, _) = c.run(&["get", "-A", "-o", "json"]);
    // `/namespaces` is first in the mesh config's path, read before the rest.
    for (kind, times) in [
        ("peerauthentications", 1),
        ("namespaces", 2),
        ("services", 1),
        ("pods", 1),
    ] {
        c.server.inject(Fault {
            method: Some("GET".into()),
            path_contains: Some(format!("/{kind}")),
            times,
            action: FaultAction::Delay(Duration::from_millis(400)),
        });
    }
    c.server.clear_requests();
    let (code, stdout, stderr) = c.run(&["get", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, sequential);
    let in_flight: Vec<(usize, String)> = c
        .server
        .requests()
        .iter()
        .map(|r| {
            (
                r.in_flight,
                r.uri.split('?').next().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let most = in_flight.iter().map(|(n, _)| *n).max().unwrap_or(0);
    assert_eq!(most, 4, "{in_flight:#?}");
}

#[test]
fn request_budgets_hold() {
    let c = Cluster::demo();
    let (code, _, stderr) = c.run(&["get", "demo/echo:8080"]);
    assert_eq!(code, 0, "{stderr}");
    let requests = c.server.requests();
    assert!(
        requests.len() <= 6,
        "get NS/SVC:PORT made {} requests: {requests:#?}",
        requests.len()
    );
    for r in &requests {
        for ns in ["/namespaces/"] {
            if let Some(rest) = r.uri.split(ns).nth(1) {
                let namespace = rest.split('/').next().unwrap_or_default();
                assert!(
                    ["demo", "istio-system"].contains(&namespace),
                    "read only the target's and the root namespace: {}",
                    r.uri
                );
            }
        }
    }

    c.server.clear_requests();
    let (code, _, _) = c.run(&["get", "-A"]);
    assert_eq!(code, 0);
    // The kind and the label selector of each request.
    let lists: Vec<String> = c
        .server
        .requests()
        .iter()
        .map(|r| {
            let (path, query) = r.uri.split_once('?').unwrap_or((&r.uri, ""));
            let selector = query
                .split('&')
                .find(|p| p.starts_with("labelSelector="))
                .unwrap_or_default();
            format!("{path} {selector}").trim().to_string()
        })
        .collect();
    let mut unique = lists.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(lists.len(), unique.len(), "one LIST per kind: {lists:#?}");
    // Pods in two: the injected ones (as metadata), and the others.
    let pods: Vec<&String> = lists
        .iter()
        .filter(|l| l.starts_with("/api/v1/pods"))
        .collect();
    assert_eq!(
        pods,
        [
            "/api/v1/pods labelSelector=security.istio.io%2FtlsMode%3Distio",
            "/api/v1/pods labelSelector=security.istio.io%2FtlsMode%21%3Distio"
        ],
        "{lists:#?}"
    );
    assert!(
        lists
            .iter()
            .all(|p| !p.contains("/namespaces/")
                || p.contains("/namespaces/istio-system/configmaps")),
        "no per-namespace requests: {lists:#?}"
    );

    // -v shows each request, and never a credential.
    let (_, _, stderr) = c.run(&["get", "demo/echo:8080", "-v"]);
    assert!(
        stderr.contains("GET /api/v1/namespaces/demo/services/echo 200 "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("BEGIN") && !stderr.to_lowercase().contains("bearer"),
        "{stderr}"
    );
}

#[test]
fn bearer_token_users_work_too() {
    let c = Cluster::demo();
    let (code, stdout, stderr) = c.run_as(&c.kubeconfig(TOKEN_USER), &["get", "demo/echo:8080"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "TARGET           MODE         SOURCE\ndemo/echo:8080   PERMISSIVE   default\n"
    );
    assert!(c.server.requests().iter().all(|r| r.user == TOKEN_USER));
}

#[test]
fn dry_run_validates_with_the_server_and_writes_nothing() {
    let c = Cluster::demo();
    let (code, stdout, stderr) = c.run(&["require", "demo", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("demo: set to STRICT (peerauthentication demo/default to be created)\n"),
        "{stderr}"
    );
    assert!(
        c.server
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.uri.contains("dryRun=All"))
    );
}

#[test]
fn connection_failures_name_the_server_and_the_cause() {
    // Unreachable: the server is gone.
    let c = Cluster::demo();
    let url = c.server.url().to_string();
    let kubeconfig = c.kubeconfig(ADMIN);
    let dir = c.dir;
    drop(c.server);
    let (code, _, stderr) = mtls_with(&kubeconfig, &["get", "mesh"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!("error: cannot reach the API server at {url}: connection refused\n")
    );
    drop(dir);

    // Untrusted: the kubeconfig trusts another server's CA.
    let a = Cluster::demo();
    let b = Cluster::demo();
    let mixed = a
        .server
        .kubeconfig(ADMIN)
        .replace(a.server.url(), b.server.url());
    let path = a.dir.path().join("mixed.yaml");
    std::fs::write(&path, mixed).expect("written");
    let (code, _, stderr) = b.run_as(&path, &["get", "mesh"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "error: the TLS handshake with the API server at {} failed: ",
            b.server.url()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("certificate"), "{stderr}");

    // Rejected credentials: 401.
    let bad = a
        .server
        .kubeconfig(TOKEN_USER)
        .replace(kube_loopback::TOKEN, "not-the-token");
    let path = a.dir.path().join("bad-token.yaml");
    std::fs::write(&path, bad).expect("written");
    let (code, _, stderr) = a.run_as(&path, &["get", "mesh"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "error: the API server at {} rejected the credentials (401 Unauthorized)\n  \
             check the user of the kubeconfig's current context: `kubectl config view --minify`\n",
            a.server.url()
        )
    );
    assert!(!stderr.contains("not-the-token"));
}

#[test]
fn exec_credential_plugins_and_contexts_work_as_in_kubectl() {
    let c = Cluster::demo();
    // A kubeconfig with two contexts: the current one points nowhere, the other
    // gets its token from an exec plugin, as cloud providers' kubeconfigs do.
    let plugin = c.script(
        "token-plugin.sh",
        &format!(
            "echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'",
            kube_loopback::TOKEN
        ),
    );
    let admin: Value =
        serde_saphyr::from_str(&c.server.kubeconfig(ADMIN)).expect("kubeconfig YAML");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            admin["clusters"][0],
            {"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}},
        ],
        "users": [{"name": "sso", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.to_str().expect("utf-8 path"),
            "interactiveMode": "Never",
        }}}],
        "contexts": [
            {"name": "broken", "context": {"cluster": "nowhere", "user": "sso"}},
            {"name": "loopback-sso", "context": {"cluster": "loopback", "user": "sso"}},
        ],
        "current-context": "broken",
    });
    let path = c.dir.path().join("exec.yaml");
    std::fs::write(&path, serde_json::to_string(&config).expect("JSON")).expect("written");
    let run = |extra: &[&str]| {
        let before = c.state();
        let args: Vec<&str> = ["get", "demo/echo:8080"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let result = Mtls::new(args).env("KUBECONFIG", &path).run().into();
        c.assert_changed(&before, &[], "mtls get with an exec plugin");
        c.assert_no_secrets(&result);
        result
    };
    let (code, stdout, stderr) = run(&["--context", "loopback-sso"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "TARGET           MODE         SOURCE\ndemo/echo:8080   PERMISSIVE   default\n"
    );
    assert!(
        c.server.requests().iter().all(|r| r.user == TOKEN_USER),
        "the plugin's token was used"
    );
    assert!(!stderr.contains(kube_loopback::TOKEN));

    let (code, _, stderr) = run(&[]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: cannot reach the API server at https://127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn failing_credential_plugins_and_broken_kubeconfigs_never_show_a_secret() {
    let c = Cluster::demo();
    let token = kube_loopback::TOKEN;
    let admin: Value =
        serde_saphyr::from_str(&c.server.kubeconfig(ADMIN)).expect("kubeconfig YAML");
    // Plugins that print the token and fail, that break off after it, that give
    // it where a string belongs; each gets the token as an argument too.
    let plugins = [
        (
            "fails",
            format!(
                "echo '{{\"status\": {{\"token\": \"{token}\"}}}}'; echo 'cannot refresh {token}' >&2; exit 1"
            ),
            "failed (exit status: 1); mtls does not show what it printed, as that may hold \
             credentials: run it to see why",
        ),
        (
            "breaks-off",
            format!("echo '{{\"kind\": \"ExecCredential\", \"status\": {{\"token\": \"{token}\"'"),
            "printed something that is not an ExecCredential (at line 1, column 38); mtls does \
             not show what it printed, as that may hold credentials",
        ),
        (
            "list",
            format!(
                "echo '{{\"kind\": \"ExecCredential\", \"status\": {{\"token\": [\"{token}\"]}}}}'"
            ),
            "printed something that is not an ExecCredential (at line 1, column 48); mtls does \
             not show what it printed, as that may hold credentials",
        ),
    ];
    // And one that works once, with a token already expired, and fails when
    // kube-rs runs it again to refresh the token before the first request.
    let count = c.dir.path().join("refreshes");
    let refresh = format!(
        "if [ -e {count} ]; then echo '{{\"status\": {{\"token\": \"{token}\"}}}}'; exit 2; fi\n\
         touch {count}\n\
         echo '{{\"kind\": \"ExecCredential\", \"status\": {{\"token\": \"{token}\", \
         \"expirationTimestamp\": \"2020-01-01T00:00:00Z\"}}}}'",
        count = count.display()
    );
    let refreshed = "failed (exit status: 2); mtls does not show what it printed, as that may \
                     hold credentials: run it to see why";
    for (name, script, reason) in plugins.into_iter().chain([("refresh", refresh, refreshed)]) {
        let plugin = c.script(&format!("{name}.sh"), &script);
        let command = plugin.to_str().expect("utf-8 path");
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [admin["clusters"][0]],
            "users": [{"name": "sso", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": command,
                "args": ["--client-secret", token],
                "interactiveMode": "Never",
            }}}],
            "contexts": [{"name": "sso", "context": {"cluster": "loopback", "user": "sso"}}],
            "current-context": "sso",
        });
        let path = c.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, serde_json::to_string(&config).expect("JSON")).expect("written");
        let (code, stdout, stderr) = c.run_as(&path, &["get", "mesh"]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{name}: {stderr}");
        let expected = if name == "refresh" {
            format!(
                "error: cannot authenticate to the API server at {}: the credential plugin {command} {reason}\n",
                c.server.url()
            )
        } else {
            format!(
                "error: cannot set up the Kubernetes client\n  the credential plugin {command} {reason}\n"
            )
        };
        assert_eq!(stderr, expected, "{name}");
        // With -v, the request log adds nothing secret either.
        c.run_as(&path, &["get", "mesh", "-v"]);
    }

    // A kubeconfig broken next to its token: where, never what.
    let path = c.dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: {token}\n    bad: [\n"),
    )
    .expect("written");
    let (code, _, stderr) = c.run_as(&path, &["get", "mesh"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        format!(
            "error: cannot read the kubeconfig {}\n  the kubeconfig is not valid YAML at line 7, \
             column 10; its text is not shown, as it holds credentials\n",
            path.display()
        )
    );
}

#[test]
fn the_root_namespace_comes_from_the_mesh_config() {
    // A revisioned install: no ConfigMap `istio`, but `istio-1-24` names the root.
    let fixture =
        std::fs::read_to_string("tests/fixtures/cluster/demo.yaml").expect("fixture exists");
    let mut seed: Vec<Value> = kube_loopback::parse_objects(&fixture)
        .expect("fixture")
        .into_iter()
        .filter(|o| o["kind"] != "ConfigMap")
        .collect();
    seed.extend(
        kube_loopback::parse_objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-1-24, namespace: istio-system}\n\
             data: {mesh: 'rootNamespace: istio-config'}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-config}\n",
        )
        .expect("seed"),
    );
    let c = Cluster::with_seed(seed);
    let (code, _, stderr) = c.run_changing(
        &["require", "mesh"],
        &["PeerAuthentication istio-config/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "mesh: set to STRICT (peerauthentication istio-config/default created)\n"
    );
    assert!(c.policy("istio-config", "default").is_some());
    let (code, out, _) = c.run(&["get", "demo/echo:8080", "-o", "json"]);
    assert_eq!(code, 0);
    let value: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        value["items"][0]["source"]["policy"],
        "istio-config/default"
    );
    let (code, out, stderr) = c.run(&["get", "mesh", "--root-namespace", "istio-conf"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        stderr.starts_with(
            "error: the root namespace \"istio-conf\" (--root-namespace) does not exist: \
             the API server has no such namespace\n"
        ),
        "{stderr}"
    );
    let (code, out, stderr) = c.run(&["get", "mesh", "--root-namespace", "istio-config"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(out.contains("mesh istio-config/default"), "{out}");
}

#[test]
fn check_reads_destination_rules_from_the_cluster() {
    let c = Cluster::start(
        Config::default()
            .seed_yaml(
                "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                 metadata: {name: default, namespace: demo}\nspec: {mtls: {mode: STRICT}}\n---\n\
                 apiVersion: v1\nkind: Namespace\nmetadata: {name: front}\n---\n\
                 apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
                 metadata: {name: echo-plain, namespace: front}\n\
                 spec: {host: echo.demo.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}\n",
            )
            .expect("seed"),
    );
    let (code, stdout, stderr) = c.run(&["check", "-A", "-o", "json"]);
    assert_eq!(code, 3, "{stderr}");
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    let findings = value["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["code"], "MTLS001");
    assert_eq!(findings[0]["object"], "destinationrule front/echo-plain");
    assert!(
        findings[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(
                "calls from namespace front to demo/echo (ports 8001, 8002, 8003, 8004, 8005 and 13 more) will fail"
            )),
        "{findings:#?}"
    );
    assert!(c.server.requests().iter().any(|r| {
        r.uri
            .starts_with("/apis/networking.istio.io/v1/destinationrules")
    }));

    let (code, stdout, _) = c.run(&["get", "demo/echo:8080", "-o", "wide"]);
    assert_eq!(code, 0);
    assert!(
        stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.ends_with("! MTLS001")),
        "{stdout}"
    );
}

#[test]
fn kubectl_runs_mtls_as_a_plugin() {
    let c = Cluster::demo();
    let plugins = tempfile::tempdir().expect("temp dir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_mtls"),
        plugins.path().join("kubectl-mtls"),
    )
    .expect("link");
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = |args: &[&str], changes: &[&str]| {
        let before = c.state();
        let result = output(
            Process::new("kubectl")
                .args(args)
                .env("PATH", &path)
                .env("KUBECONFIG", c.kubeconfig(ADMIN))
                .env("HOME", c.dir.path())
                .output()
                .expect("kubectl runs"),
        );
        c.assert_changed(&before, changes, &format!("kubectl {args:?}"));
        c.assert_no_secrets(&result);
        result
    };
    let (code, stdout, stderr) = kubectl(
        &["mtls", "require", "demo"],
        &["PeerAuthentication demo/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("\ndemo             STRICT   namespace demo/default\n"),
        "{stdout}"
    );
    let (code, stdout, _) = kubectl(&["mtls", "get", "mesh"], &[]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            0,
            "TARGET   MODE         SOURCE\nmesh     PERMISSIVE   default\n"
        )
    );
    let (_, help, _) = kubectl(&["mtls", "--help"], &[]);
    assert!(
        help.contains("Usage: kubectl mtls [OPTIONS] <COMMAND>"),
        "{help}"
    );
}

/// A cluster of Istio 1.4: only the legacy API is served.
fn legacy_cluster() -> Cluster {
    Cluster::start(Config {
        enable: vec!["authentication.istio.io/v1alpha1".into()],
        disable: vec![
            "security.istio.io/v1".into(),
            "security.istio.io/v1beta1".into(),
        ],
        ..Config::default()
    })
}

const LEGACY: &str = "authentication.istio.io";

/// The istiod Deployment of an Istio `version`, as the control plane's
/// version is read from it.
fn istiod(version: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: istiod, namespace: istio-system, labels: {{app: istiod}}}}\n\
         spec:\n  selector: {{matchLabels: {{app: istiod}}}}\n  template:\n    metadata: {{labels: {{app: istiod}}}}\n    \
         spec: {{containers: [{{name: discovery, image: 'docker.io/istio/pilot:{version}'}}]}}\n"
    )
}

#[test]
fn the_backyards_walkthrough_on_the_legacy_api() {
    let c = legacy_cluster();
    let meshpolicy = || {
        c.server
            .object(&format!("meshpolicies.{LEGACY}"), "", "default")
    };
    let policy = |name: &str| c.server.object(&format!("policies.{LEGACY}"), "demo", name);

    let (code, stdout, stderr) = c.run_changing(&["allow", "mesh"], &["MeshPolicy /default"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        "mesh: set to PERMISSIVE (meshpolicy default created)\n"
    );
    assert_eq!(
        stdout,
        "TARGET   MODE         SOURCE\nmesh     PERMISSIVE   mesh /default\n"
    );
    assert_eq!(
        meshpolicy().expect("created")["spec"],
        json!({"peers": [{"mtls": {"mode": "PERMISSIVE"}}]})
    );

    let (_, stdout, _) = c.run(&["get", "mesh", "-o", "json"]);
    let value: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        value["items"][0]["source"],
        json!({"level": "mesh", "policy": "/default", "apiVersion": "authentication.istio.io/v1alpha1"})
    );

    let (code, _, stderr) = c.run_changing(&["require", "demo"], &["Policy demo/default"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        policy("default").expect("created")["spec"],
        json!({"peers": [{"mtls": {}}]})
    );

    // Service port 8080: legacy policies name Service ports, not target ports.
    let (code, stdout, stderr) =
        c.run_changing(&["allow", "demo/echo:8080"], &["Policy demo/echo-8080"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "TARGET           MODE         SOURCE\ndemo/echo:8080   PERMISSIVE   port demo/echo-8080\n"
    );
    assert_eq!(
        policy("echo-8080").expect("created")["spec"],
        json!({"targets": [{"name": "echo", "ports": [{"number": 8080}]}], "peers": [{"mtls": {"mode": "PERMISSIVE"}}]})
    );
    let (_, stdout, _) = c.run(&["get", "demo/echo:9000"]);
    assert_eq!(
        stdout,
        "TARGET           MODE     SOURCE\ndemo/echo:9000   STRICT   namespace demo/default\n"
    );

    let (code, stdout, _) =
        c.run_changing(&["unset", "demo/echo:8080"], &["Policy demo/echo-8080"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "TARGET           MODE     SOURCE\ndemo/echo:8080   STRICT   namespace demo/default\n"
    );
    assert_eq!(policy("echo-8080"), None);

    let (code, stdout, _) = c.run_changing(&["unset", "demo"], &["Policy demo/default"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("\ndemo             PERMISSIVE   mesh /default\n"),
        "{stdout}"
    );
    assert_eq!(policy("default"), None);
}

#[test]
fn legacy_writes_keep_origins_and_other_peers() {
    let c = legacy_cluster();
    c.server
        .seed(kube_loopback::parse_objects(
            "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\n\
             metadata: {name: default, namespace: demo}\n\
             spec:\n  origins: [{jwt: {issuer: https://issuer.example.com}}]\n  principalBinding: USE_ORIGIN\n\
             \x20 peers: [{jwt: {issuer: https://peer.example.com}}, {mtls: {mode: PERMISSIVE}}]\n",
        ).expect("seed"))
        .expect("seeded");
    let (code, _, stderr) = c.run_changing(&["require", "demo"], &["Policy demo/default"]);
    assert_eq!(code, 0, "{stderr}");
    let spec = c
        .server
        .object(&format!("policies.{LEGACY}"), "demo", "default")
        .expect("kept")["spec"]
        .clone();
    assert_eq!(
        spec,
        json!({
            "origins": [{"jwt": {"issuer": "https://issuer.example.com"}}],
            "principalBinding": "USE_ORIGIN",
            "peers": [{"jwt": {"issuer": "https://peer.example.com"}}, {"mtls": {}}],
        })
    );
    // DISABLE removes only the mtls peer.
    let (code, _, _) = c.run_changing(&["disable", "demo"], &["Policy demo/default"]);
    assert_eq!(code, 0);
    let spec = c
        .server
        .object(&format!("policies.{LEGACY}"), "demo", "default")
        .expect("kept")["spec"]
        .clone();
    assert_eq!(
        spec["peers"],
        json!([{"jwt": {"issuer": "https://peer.example.com"}}])
    );
    assert_eq!(spec["principalBinding"], "USE_ORIGIN");
    // Unset would have to delete the policy and its origins: refused.
    let (code, _, stderr) = c.run(&["unset", "demo"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("also holds other authentication settings"),
        "{stderr}"
    );
}

#[test]
fn auto_on_an_istio_1_5_cluster_reads_both_apis_as_istio_does() {
    // Istio 1.5 serves both APIs. Where no PeerAuthentication applies to a
    // workload, the legacy policies decide; where one applies, it decides alone.
    let c = Cluster::start(
        Config {
            enable: vec!["authentication.istio.io/v1alpha1".into()],
            disable: vec!["security.istio.io/v1".into()],
            ..Config::default()
        }
        .seed_yaml(&(
            "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\n\
             spec: {peers: [{mtls: {mode: PERMISSIVE}}]}\n---\n\
             apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: echo-8080, namespace: demo}\n\
             spec: {targets: [{name: echo, ports: [{number: 8080}]}], peers: [{mtls: {}}]}\n---\n"
                .to_string()
                + &istiod("1.5.10")
        ))
        .expect("seed"),
    );
    let rows = |args: &[&str]| -> Vec<(String, String, String)> {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let (code, stdout, stderr) = c.run(&args);
        assert_eq!(code, 0, "{stderr}");
        let value: Value = serde_json::from_str(&stdout).expect("JSON");
        value["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| {
                (
                    r["target"].as_str().unwrap_or("").to_string(),
                    r["mode"].as_str().unwrap_or("").to_string(),
                    format!(
                        "{} {} {}",
                        r["source"]["level"].as_str().unwrap_or("-"),
                        r["source"]["policy"].as_str().unwrap_or("-"),
                        r["source"]["apiVersion"].as_str().unwrap_or("-")
                    ),
                )
            })
            .collect()
    };
    let row = |target: &str, mode: &str, source: &str| {
        (target.to_string(), mode.to_string(), source.to_string())
    };
    assert_eq!(
        rows(&["get", "demo/echo:8080", "demo/echo:9000"]),
        [
            row(
                "demo/echo:8080",
                "STRICT",
                "port demo/echo-8080 authentication.istio.io/v1alpha1"
            ),
            row(
                "demo/echo:9000",
                "PERMISSIVE",
                "mesh /default authentication.istio.io/v1alpha1"
            ),
        ]
    );
    assert!(
        c.server.requests().iter().any(|r| r
            .uri
            .starts_with("/apis/authentication.istio.io/v1alpha1/meshpolicies")),
        "auto read the legacy policies"
    );

    // A change writes a PeerAuthentication. It then applies to echo's workload,
    // so the legacy Policy no longer decides port 8080: the change says so.
    // DISABLE where auto mTLS clients send mTLS breaks their calls: refused,
    // then forced.
    let (code, _, stderr) = c.run(&["disable", "demo/echo:9000"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("refused: the change would make calls fail that work today (1 failure):")
            && stderr.contains("error[MTLS013] peerauthentication demo/echo"),
        "{stderr}"
    );
    let (code, _, stderr) = c.run_changing(
        &["disable", "demo/echo:9000", "--force"],
        &["PeerAuthentication demo/echo"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: the change breaks calls (MTLS013 peerauthentication demo/echo)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: demo/echo:8080: mTLS gets weaker too, from STRICT to PERMISSIVE, \
             though the change is to demo/echo:9000\n"
        ),
        "{stderr}"
    );
    assert_eq!(
        c.policy("demo", "echo").expect("written")["apiVersion"],
        "security.istio.io/v1beta1"
    );
    assert_eq!(
        rows(&["get", "demo/echo:8080", "demo/echo:9000"]),
        [
            row("demo/echo:8080", "PERMISSIVE", "default - -"),
            row(
                "demo/echo:9000",
                "DISABLE",
                "port demo/echo security.istio.io/v1beta1"
            ),
        ]
    );
}

#[test]
fn migrate_apply_writes_peer_authentications_on_an_istio_1_5_cluster() {
    // Istio 1.5: both APIs are served; the legacy policies still decide.
    let c = Cluster::start(
        Config {
            enable: vec!["authentication.istio.io/v1alpha1".into()],
            disable: vec!["security.istio.io/v1".into()],
            ..Config::default()
        }
        .seed_yaml(&(
            "apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\n\
             spec: {peers: [{mtls: {mode: PERMISSIVE}}]}\n---\n\
             apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: echo-8080, namespace: demo}\n\
             spec: {targets: [{name: echo, ports: [{number: 8080}]}], peers: [{mtls: {}}]}\n---\n"
                .to_string()
                + &istiod("1.5.10")
        ))
        .expect("seed"),
    );
    let (_, before, _) = c.run(&["get", "demo/echo", "--api", "legacy", "-o", "json"]);
    let (code, stdout, stderr) = c.run_changing(
        &["migrate", "--apply"],
        &[
            "PeerAuthentication demo/echo",
            "PeerAuthentication istio-system/default",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("kind: PeerAuthentication"), "{stdout}");
    assert!(
        stderr.contains("peerauthentication demo/echo created\n"),
        "{stderr}"
    );
    let echo = c.policy("demo", "echo").expect("written");
    assert_eq!(echo["apiVersion"], "security.istio.io/v1beta1");
    assert_eq!(
        echo["spec"],
        json!({"selector": {"matchLabels": {"app": "echo"}}, "mtls": {"mode": "PERMISSIVE"}, "portLevelMtls": {"8081": {"mode": "STRICT"}}})
    );
    // Now PeerAuthentications decide (1.5 mixed mode), with the same modes.
    let (_, after, _) = c.run(&["get", "demo/echo", "-o", "json"]);
    let modes = |text: &str| -> Vec<(String, String)> {
        let value: Value = serde_json::from_str(text).expect("JSON");
        value["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| (r["target"].to_string(), r["mode"].to_string()))
            .collect()
    };
    assert_eq!(modes(&before), modes(&after));
    let value: Value = serde_json::from_str(&after).expect("JSON");
    assert_eq!(
        value["items"][1]["source"]["apiVersion"],
        "security.istio.io/v1beta1"
    );
}

#[test]
fn insecure_skip_tls_verify_works_and_says_so() {
    let c = Cluster::demo();
    let mut config: Value =
        serde_saphyr::from_str(&c.server.kubeconfig(ADMIN)).expect("kubeconfig YAML");
    let cluster = &mut config["clusters"][0]["cluster"];
    if let Value::Object(fields) = cluster {
        fields.remove("certificate-authority-data");
    }
    cluster["insecure-skip-tls-verify"] = json!(true);
    let path = c.dir.path().join("insecure.yaml");
    std::fs::write(&path, serde_json::to_string(&config).expect("JSON")).expect("written");
    let (code, stdout, stderr) = c.run_as(&path, &["get", "mesh"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "TARGET   MODE         SOURCE\nmesh     PERMISSIVE   default\n"
    );
    assert!(
        stderr.starts_with("warning: the kubeconfig says insecure-skip-tls-verify"),
        "{stderr}"
    );
    let (code, _, stderr) = c.run_as(&path, &["get", "mesh", "-q"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.starts_with("warning: the kubeconfig says insecure-skip-tls-verify"),
        "-q never hides it: {stderr}"
    );
}

#[test]
fn endless_answers_stop_at_the_response_cap_the_timeout_or_the_page_cap() {
    let endless = |action: FaultAction| Fault {
        method: Some("GET".into()),
        path_contains: Some("/pods".into()),
        times: usize::MAX,
        action,
    };
    // A body that never ends, sent as fast as it is read: the 256 MiB cap.
    let c = Cluster::demo();
    c.server.inject(endless(FaultAction::Flood));
    let (code, stdout, stderr) = c.run(&["get", "-A", "--request-timeout", "120"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains(
            " sent more than 256 MiB for /api/v1/pods?limit=500&labelSelector=security.istio.io%2FtlsMode%3Distio; \
             mtls reads at most that much per response"
        ),
        "{stderr}"
    );
    // A body that never ends, a few bytes at a time: the request timeout.
    let c = Cluster::demo();
    c.server
        .inject(endless(FaultAction::Trickle(Duration::from_millis(50))));
    let (code, _, stderr) = c.run(&["get", "-A", "--request-timeout", "2"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(" did not answer within 2s (--request-timeout)"),
        "{stderr}"
    );
    // Pages that never end: a fresh continue token every time.
    let c = Cluster::demo();
    c.server.inject(endless(FaultAction::EndlessPages));
    let (code, _, stderr) = c.run(&["get", "-A"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(" sent more than 2000 pages of pods; mtls reads at most that many"),
        "{stderr}"
    );
    let pages = c
        .server
        .requests()
        .iter()
        .filter(|r| r.uri.starts_with("/api/v1/pods"))
        .count();
    assert_eq!(pages, 2000);
    // The same token twice.
    let c = Cluster::demo();
    c.server.inject(Fault {
        method: Some("GET".into()),
        path_contains: Some("/pods".into()),
        times: usize::MAX,
        action: FaultAction::Json(serde_json::json!({
            "apiVersion": "v1", "kind": "PodList", "items": [],
            "metadata": {"continue": "again"}
        })),
    });
    let (code, _, stderr) = c.run(&["get", "-A"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            " sent the same continue token twice while listing pods; the list would never end"
        ),
        "{stderr}"
    );
}

#[test]
fn a_hostile_status_message_cannot_steer_the_terminal() {
    let c = Cluster::demo();
    c.server.inject(Fault::status(
        "GET",
        "/services/echo",
        1,
        500,
        "InternalError",
        "boom\u{1b}[2J\u{1b}[31m red\u{7}",
    ));
    let (code, _, stderr) = c.run(&["get", "demo/echo:8080"]);
    assert_eq!(code, 1);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("boom\\u{1b}[2J\\u{1b}[31m red\\u{7} (500 InternalError)"),
        "escaped, as every text from outside is: {stderr}"
    );
}

#[test]
fn credentials_never_appear_in_any_output() {
    let c = Cluster::demo();
    let admin = std::fs::read_to_string(c.kubeconfig(ADMIN)).expect("kubeconfig");
    let key = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-key-data: "))
        .expect("a client key")
        .to_string();
    c.server.deny(Deny {
        verb: Some("create".into()),
        ..Deny::default()
    });
    c.server.inject(Fault::status(
        "GET",
        "/services/",
        1,
        500,
        "InternalError",
        "boom",
    ));
    let mut all = String::new();
    for user in [ADMIN, TOKEN_USER] {
        for args in [
            &["get", "-A", "-v"][..],
            &["get", "demo/echo:8080", "-v"],
            &["require", "demo", "-v"],
            &["check", "-A", "-v", "-o", "json"],
            &["get", "nope/echo", "-v"],
        ] {
            let (_, stdout, stderr) = c.run_as(&c.kubeconfig(user), args);
            all.push_str(&stdout);
            all.push_str(&stderr);
        }
    }
    assert!(all.contains("GET /apis 200"), "the -v logs were captured");
    assert!(all.contains("is forbidden"), "the failures were captured");
    for secret in [
        kube_loopback::TOKEN,
        key.as_str(),
        "BEGIN",
        "Bearer",
        "Authorization",
    ] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_password_in_the_server_url_is_never_shown() {
    let c = Cluster::demo();
    let url = c.server.url().to_string();
    let with_password = url.replacen("https://", "https://admin:hunter2@", 1);
    let config = c.server.kubeconfig(ADMIN).replace(&url, &with_password);
    let path = c.dir.path().join("userinfo.yaml");
    std::fs::write(&path, config).expect("written");
    let shown = url.replacen("https://", "https://admin:***@", 1);

    let (code, _, stderr) = c.run_as(&path, &["get", "mesh", "-v"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // Unreachable: the error names the server, with the password masked.
    let kubeconfig = c.dir.path().join("gone.yaml");
    std::fs::copy(&path, &kubeconfig).expect("copied");
    let dir = c.dir;
    drop(c.server);
    let (code, stdout, stderr) = mtls_with(&kubeconfig, &["get", "mesh", "-v"]);
    assert_eq!(code, 1);
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "cannot reach the API server at {shown}: connection refused"
        )),
        "{stderr}"
    );
    drop(dir);
}

#[test]
fn kubeconfig_lists_skip_missing_files_as_kubectl_does() {
    let c = Cluster::demo();
    let run = |kubeconfig: &str| {
        <(i32, String, String)>::from(
            Mtls::new(["get", "mesh"])
                .env("KUBECONFIG", kubeconfig)
                .env("HOME", c.dir.path())
                .run(),
        )
    };
    let good = c.kubeconfig(ADMIN).display().to_string();
    let missing = c.dir.path().join("missing.yaml").display().to_string();
    for listed in [
        format!("{missing}:{good}"),
        format!("{good}:{missing}"),
        format!(":{missing}::{good}:"),
    ] {
        let (code, stdout, stderr) = run(&listed);
        assert_eq!((code, stderr.as_str()), (0, ""), "KUBECONFIG={listed}");
        assert!(stdout.starts_with("TARGET"), "{stdout}");
    }
    let also_missing = c.dir.path().join("also-missing.yaml").display().to_string();
    let (code, _, stderr) = run(&format!("{missing}:{also_missing}"));
    assert_eq!(
        (code, stderr),
        (
            1,
            format!(
                "error: no kubeconfig: none of the files KUBECONFIG lists exists ({missing}, {also_missing})\n"
            )
        )
    );
}

#[test]
fn a_hanging_credential_plugin_is_stopped_after_the_request_timeout() {
    let c = Cluster::demo();
    // The plugin never answers, and leaves a child behind that holds its
    // output open.
    let plugin = c.script("hangs.sh", "sleep 25 &\nsleep 25");
    let admin: Value =
        serde_saphyr::from_str(&c.server.kubeconfig(ADMIN)).expect("kubeconfig YAML");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [admin["clusters"][0]],
        "users": [{"name": "sso", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": plugin.to_str().expect("utf-8 path"),
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": "sso", "context": {"cluster": "loopback", "user": "sso"}}],
        "current-context": "sso",
    });
    let path = c.dir.path().join("hanging.yaml");
    std::fs::write(&path, serde_json::to_string(&config).expect("JSON")).expect("written");
    let mut child = Mtls::new(["get", "mesh", "--request-timeout", "1"])
        .kubeconfig(&path)
        .command()
        .spawn()
        .expect("mtls starts");
    // Far more than the timeout, far less than the plugin's 25 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("kill");
            panic!("mtls waits for a hanging credential plugin");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, stdout, stderr) = output(child.wait_with_output().expect("output"));
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        format!(
            "error: cannot set up the Kubernetes client\n  \
             the credential plugin {} did not answer within 1 s (--request-timeout) and was stopped; \
             run it to see why it hangs\n",
            plugin.display()
        )
    );
}

#[test]
fn a_busy_server_is_asked_again_and_then_named_busy() {
    for (code, reason, said) in [
        (
            429,
            "TooManyRequests",
            "is throttling requests (429 Too Many Requests)",
        ),
        (
            503,
            "ServiceUnavailable",
            "is unavailable (503 Service Unavailable)",
        ),
        (
            504,
            "Timeout",
            "timed out behind a gateway (504 Gateway Timeout)",
        ),
    ] {
        // Twice turned away: the third attempt is served.
        let c = Cluster::demo();
        c.server.inject(Fault::status(
            "GET",
            "/peerauthentications",
            2,
            code,
            reason,
            "busy",
        ));
        let (exit, stdout, stderr) = c.run(&["get", "demo/echo:8080"]);
        assert_eq!((exit, stderr.as_str()), (0, ""), "{code}");
        assert!(stdout.starts_with("TARGET"));

        // Always turned away: said so, not called a timeout.
        c.server.inject(Fault::status(
            "GET",
            "/peerauthentications",
            100,
            code,
            reason,
            "busy",
        ));
        let (exit, stdout, stderr) = c.run(&["get", "demo/echo:8080"]);
        assert_eq!((exit, stdout.as_str()), (1, ""));
        assert_eq!(
            stderr,
            format!(
                "error: the API server at {} {said}, still after 3 attempts: busy\n  \
                 try again later; `kubectl get --raw /readyz?verbose` shows the server's health\n",
                c.server.url()
            )
        );
    }
}

#[test]
fn a_write_turned_away_as_busy_is_not_taken_for_a_lost_answer() {
    // 429 says the write was not served: asked again twice, then an error;
    // never read back and written again as a write whose answer was lost.
    let c = Cluster::demo();
    c.server.inject(Fault::status(
        "POST",
        "/peerauthentications",
        100,
        429,
        "TooManyRequests",
        "busy",
    ));
    let (code, _, stderr) = c.run(&["require", "demo"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "error: cannot create peerauthentication demo/default\n  the API server at "
        ) && !stderr.contains("no answer to the write"),
        "{stderr}"
    );
    let posts = c
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 3);
}

#[test]
fn a_resource_the_server_does_not_serve_is_named_with_the_next_step() {
    let c = Cluster::start(Config {
        disable: vec!["security.istio.io/v1".into()],
        ..Config::default()
    });
    let (code, stdout, stderr) = c.run(&["get", "demo", "--api", "v1"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        format!(
            "error: the API server at {} does not serve peerauthentications.security.istio.io/v1 (404 NotFound)\n  \
             `kubectl api-resources --api-group=security.istio.io` lists what it serves; --api auto reads that\n",
            c.server.url()
        )
    );
}

#[test]
fn several_targets_are_written_in_one_command_folding_edits_of_one_object() {
    let c = Cluster::demo();
    // Three ports and the Service of one workload: one policy, written three
    // times as it folds in each edit; the namespace and the mesh besides.
    let (code, stdout, stderr) = c.run_changing(
        &[
            "disable",
            "demo/echo:8001",
            "demo/echo:p8002",
            "demo/echo",
            "demo/echo:8001",
            "demo",
            "mesh",
        ],
        &[
            "PeerAuthentication demo/default",
            "PeerAuthentication demo/echo",
            "PeerAuthentication istio-system/default",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let spec = spec(c.policy("demo", "echo"));
    assert_eq!(
        spec,
        json!({
            "selector": {"matchLabels": {"app": "echo"}},
            "mtls": {"mode": "DISABLE"},
            "portLevelMtls": {"8001": {"mode": "DISABLE"}, "8002": {"mode": "DISABLE"}},
        })
    );
    assert!(
        stderr.contains("demo/echo:8001: already DISABLE at the port level; nothing to change"),
        "{stderr}"
    );
    // The rows of all targets, each once, in the contract's order.
    let targets: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().expect("a target"))
        .collect();
    let mut expected = vec!["mesh", "demo", "demo/echo"];
    let ports: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("demo/echo:"))
        .map(|l| l.split_whitespace().next().expect("a target").to_string())
        .collect();
    expected.extend(ports.iter().map(String::as_str));
    assert_eq!(targets, expected);
    assert_eq!(ports.len(), 18, "every port of demo/echo once: {stdout}");
}

#[test]
fn a_refusal_on_a_cluster_exits_3_and_writes_nothing() {
    let fixture = std::fs::read_to_string("tests/fixtures/shadowed.yaml").expect("fixture");
    let c = Cluster::start(Config::default().seed_yaml(&fixture).expect("seed"));
    // The first target could be written; the second is shadowed: nothing is.
    let (code, stdout, stderr) = c.run(&["require", "demo", "prod/api"]);
    assert_eq!((code, stdout.as_str()), (3, ""));
    assert!(
        stderr.starts_with("error: prod/api: refused: ") && stderr.contains("nothing was written"),
        "{stderr}"
    );
}

#[test]
fn a_write_that_fails_part_way_says_what_was_written_and_what_was_not() {
    for quiet in [false, true] {
        let c = Cluster::demo();
        c.server.deny(Deny {
            verb: Some("create".into()),
            resource: Some("peerauthentications".into()),
            namespace: Some("istio-system".into()),
            ..Deny::default()
        });
        let mut args = vec!["require", "demo/echo:8080", "mesh", "demo"];
        if quiet {
            args.push("-q");
        }
        let (code, stdout, stderr) = c.run_changing(&args, &["PeerAuthentication demo/echo"]);
        assert_eq!(code, 1, "{stderr}");
        let expected_error = "error: the change stopped after 1 of 3 targets: written: demo/echo:8080; \
             not written: mesh, demo\n  \
             cannot create peerauthentication istio-system/default\n  \
             peerauthentications.security.istio.io is forbidden: User \"admin\" cannot create resource \
             \"peerauthentications\" in API group \"security.istio.io\" in the namespace \"istio-system\"\n  \
             mtls needs to create peerauthentications.security.istio.io; check with \
             `kubectl auth can-i create peerauthentications.security.istio.io -n istio-system`\n  \
             the table above is read back from the server\n";
        if quiet {
            assert_eq!(stderr, expected_error);
        } else {
            assert_eq!(
                stderr,
                format!(
                    "demo/echo:8080: set to STRICT (peerauthentication demo/echo created)\n{expected_error}"
                )
            );
        }
        assert!(stdout.starts_with("TARGET"), "{stdout}");
        assert!(stdout.contains("\ndemo/echo:8080   STRICT"), "{stdout}");
        assert!(stdout.contains("\nmesh             PERMISSIVE"), "{stdout}");
    }
}

#[test]
fn an_interrupt_between_writes_finishes_the_write_in_flight_and_stops() {
    for signal in ["INT", "TERM"] {
        let c = Cluster::demo();
        // The first write is slow: the signal comes while it is in flight.
        c.server.inject(Fault {
            method: Some("POST".into()),
            path_contains: None,
            times: 1,
            action: FaultAction::Delay(Duration::from_millis(1500)),
        });
        let before = c.state();
        let child = c.spawn(&["allow", "demo/echo:8001", "demo/echo:8002", "demo"]);
        c.wait_for_held_request();
        send_signal(&child, signal);
        let (code, stdout, stderr) = output(child.wait_with_output().expect("mtls finishes"));
        c.assert_changed(
            &before,
            &["PeerAuthentication demo/echo"],
            &format!("an interrupted change: {stderr}"),
        );
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.ends_with(&format!(
                "error: the change stopped after 1 of 3 targets: written: demo/echo:8001; \
                 not written: demo/echo:8002, demo\n  interrupted by SIG{signal}\n  \
                 the table above is read back from the server\n"
            )),
            "{stderr}"
        );
        assert!(
            stdout.contains("\ndemo/echo:8001   PERMISSIVE   port demo/echo"),
            "{stdout}"
        );
    }

    // A second signal ends mtls at once, as 128 + the signal's number.
    let c = Cluster::demo();
    c.server.inject(Fault {
        method: Some("POST".into()),
        path_contains: None,
        times: 1,
        action: FaultAction::Delay(Duration::from_secs(20)),
    });
    let child = c.spawn(&["allow", "demo/echo:8001", "demo"]);
    c.wait_for_held_request();
    for _ in 0..2 {
        send_signal(&child, "INT");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _, _) = output(child.wait_with_output().expect("mtls finishes"));
    assert_eq!(code, 130);
}

#[test]
fn a_write_whose_answer_is_lost_is_looked_up_not_guessed() {
    for (what, action) in [
        ("slow", FaultAction::Delay(Duration::from_millis(1500))),
        ("dropped", FaultAction::Drop),
    ] {
        let c = Cluster::demo();
        c.server.inject(Fault {
            method: Some("POST".into()),
            path_contains: None,
            times: 1,
            action,
        });
        let before = c.state();
        let (code, stdout, stderr) = output(
            c.command(&["require", "demo", "--request-timeout", "1"])
                .output()
                .expect("mtls runs"),
        );
        assert_eq!(code, 0, "{what}: {stderr}");
        assert!(
            stderr.starts_with(
                "warning: demo: no answer to the write of peerauthentication demo/default ("
            ),
            "{what}: {stderr}"
        );
        assert!(
            stderr.contains("); reading it back\ndemo: set to STRICT (peerauthentication demo/default created)\n"),
            "{what}: {stderr}"
        );
        assert!(stdout.contains("namespace demo/default"), "{stdout}");
        // A late answer to the first write changes nothing more.
        std::thread::sleep(Duration::from_millis(800));
        c.assert_changed(&before, &["PeerAuthentication demo/default"], what);
        assert_eq!(
            spec(c.policy("demo", "default")),
            json!({"mtls": {"mode": "STRICT"}})
        );
    }

    // No write is ever answered: said so, with how to check.
    let c = Cluster::demo();
    c.server.inject(Fault {
        method: Some("POST".into()),
        path_contains: None,
        times: 100,
        action: FaultAction::Drop,
    });
    let (code, _, stderr) = c.run(&["require", "demo", "--request-timeout", "1", "-q"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error: the API server answered none of 3 writes of peerauthentication demo/default; read back, \
             the change was not in place, but a late write may still land: check with \
             `kubectl get peerauthentication -n demo default -o yaml`, then run the command again\n  \
             cannot create peerauthentication demo/default\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_change_the_server_does_not_keep_is_an_error_naming_the_rows() {
    let c = Cluster::demo();
    // The server answers 200 to the create, and writes nothing.
    c.server.inject(Fault {
        method: Some("POST".into()),
        path_contains: None,
        times: 1,
        action: FaultAction::Json(json!({"kind": "PeerAuthentication"})),
    });
    let (code, stdout, stderr) = c.run(&["disable", "demo"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["demo", "PERMISSIVE", "default"])),
        "the table read back: {stdout}"
    );
    assert!(
        stderr.ends_with(
            "error: the change was written but does not hold: demo reads back PERMISSIVE from the \
             default level, not DISABLE as asked\n  \
             another writer, a mutating webhook or the API server changed it; \
             `mtls get -o wide` shows what decides now\n"
        ),
        "{stderr}"
    );
}

#[test]
fn a_change_on_a_cluster_names_every_row_it_weakens_as_the_offline_plan_does() {
    let c = Cluster::demo();
    let (code, _, stderr) = c.run_changing(
        &["require", "mesh"],
        &["PeerAuthentication istio-system/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    // The server's objects, as manifests.
    let dump = c.dir.path().join("dump.json");
    std::fs::write(
        &dump,
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": c.state()}))
            .expect("JSON"),
    )
    .expect("written");
    let offline = Mtls::new(["disable", "mesh", "-f"]).arg(&dump).run();
    let offline_warnings: Vec<String> = offline
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .map(str::to_string)
        .collect();
    let (code, _, stderr) = c.run_changing(
        &["disable", "mesh"],
        &["PeerAuthentication istio-system/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings, offline_warnings);
    assert!(
        warnings.iter().any(|w| w.contains("(and 19 more rows)")),
        "demo, its 18 ports and istio-system: {warnings:?}"
    );
}

#[test]
fn lingering_legacy_crds_are_not_istio_1_5() {
    // Upgraded past 1.5, the cluster still serves the legacy API, and a legacy
    // policy is left: PeerAuthentications alone decide, as in this Istio.
    let legacy = "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\n\
                  metadata: {name: echo-8080, namespace: demo}\n\
                  spec: {targets: [{name: echo, ports: [{number: 8080}]}], peers: [{mtls: {}}]}\n---\n\
                  apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
                  metadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: PERMISSIVE}}\n---\n";
    for (istio, said) in [
        (
            istiod("1.22.3"),
            "warning: the API server still serves authentication.istio.io, but the control plane is \
             Istio 1.22.3, which ignores legacy policies: PeerAuthentications alone decide\n",
        ),
        (
            String::new(),
            "warning: the API server still serves authentication.istio.io, but no istiod of Istio 1.5 \
             was found (Deployments labelled app=istiod): PeerAuthentications alone decide\n",
        ),
    ] {
        let c = Cluster::start(
            Config {
                enable: vec!["authentication.istio.io/v1alpha1".into()],
                ..Config::default()
            }
            .seed_yaml(&format!("{legacy}{istio}"))
            .expect("seed"),
        );
        let (code, stdout, stderr) = c.run(&["get", "demo/echo:8080"]);
        assert_eq!((code, stderr.as_str()), (0, said));
        assert_eq!(
            stdout,
            "TARGET           MODE         SOURCE\ndemo/echo:8080   PERMISSIVE   mesh istio-system/default\n",
            "the legacy STRICT is ignored"
        );
        let (code, stdout, _) = c.run(&["check", "-A", "--fail-on", "warning"]);
        assert_eq!(code, 3);
        assert!(
            stdout.contains("warning[MTLS011] policy demo/echo-8080"),
            "{stdout}"
        );
    }
}

#[test]
fn an_offline_plan_means_to_kubectl_what_the_document_meant() {
    // Fields mtls does not touch, in the spellings YAML 1.1 (kubectl) reads
    // as booleans, octal and other numbers, or that only quotes keep strings.
    let original = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: prod
  annotations: {quoted-yes: \"yes\", quoted-octal: \"012\", quoted-on: \"on\", quoted-null: \"~\"}
spec:
  mtls: {mode: PERMISSIVE}
  untouched: {a: yes, b: No, c: on, d: OFF, e: y, f: n, g: 012, h: 0x1F, i: 1_000, k: 08, l: ~, m: 1e3, o: Yes}
";
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("prod.yaml");
    std::fs::write(&manifest, original).expect("written");
    let out = Mtls::new(["require", "prod", "-f"]).arg(&manifest).run();
    assert_eq!(out.code, 0);
    let plan = out.stdout;

    // What kubectl makes of each, on a server of its own.
    let created = |yaml: &str| -> Value {
        let c = Cluster::with_seed(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}),
        ]);
        let mut child = Process::new("kubectl")
            .args(["create", "-f", "-", "--kubeconfig"])
            .arg(c.kubeconfig(ADMIN))
            .env("HOME", c.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("written");
        let done = child.wait_with_output().expect("kubectl finishes");
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        c.policy("prod", "default").expect("created")
    };
    let before = created(original);
    let after = created(&plan);
    assert_eq!(
        after["spec"]["untouched"], before["spec"]["untouched"],
        "{plan}"
    );
    assert_eq!(
        after["metadata"]["annotations"], before["metadata"]["annotations"],
        "{plan}"
    );
    assert_eq!(
        before["spec"]["untouched"]["a"],
        json!(true),
        "kubectl reads YAML 1.1"
    );
    assert_eq!(before["spec"]["untouched"]["g"], json!(10));
    assert_eq!(after["spec"]["mtls"], json!({"mode": "STRICT"}));
}

/// An Istio 1.5 cluster with legacy policies: the mesh PERMISSIVE, a Service
/// port STRICT, and `extra` besides.
fn istio_1_5(extra: &str) -> Cluster {
    Cluster::start(
        Config {
            enable: vec!["authentication.istio.io/v1alpha1".into()],
            disable: vec!["security.istio.io/v1".into()],
            ..Config::default()
        }
        .seed_yaml(
            &("apiVersion: authentication.istio.io/v1alpha1\nkind: MeshPolicy\nmetadata: {name: default}\n\
               spec: {peers: [{mtls: {mode: PERMISSIVE}}]}\n---\n\
               apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: echo-8080, namespace: demo}\n\
               spec: {targets: [{name: echo, ports: [{number: 8080}]}], peers: [{mtls: {}}]}\n---\n"
                .to_string()
                + &istiod("1.5.10")
                + extra),
        )
        .expect("seed"),
    )
}

#[test]
fn migrate_apply_refuses_with_nothing_written_when_a_mode_cannot_be_kept() {
    let c = istio_1_5(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: external, namespace: demo}\n\
         spec: {ports: [{port: 443}]}\n---\n\
         apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: external, namespace: demo}\n\
         spec: {targets: [{name: external}], peers: [{mtls: {}}]}\n",
    );
    for quiet in [&[][..], &["-q"][..]] {
        let (code, _, stderr) = c.run(&[&["migrate", "--apply"][..], quiet].concat());
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains(
                "\n  service demo/external: legacy policies target it, but it has no selector, so no \
                 PeerAuthentication can select its workloads\n"
            ) && stderr.ends_with("\n  nothing was written\n"),
            "{stderr}"
        );
    }
}

#[test]
fn migrate_apply_that_fails_part_way_says_what_was_written() {
    let c = istio_1_5(
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
         spec: {selector: {app: web}, ports: [{port: 80}]}\n---\n\
         apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: default, namespace: shop}\n\
         spec: {peers: [{mtls: {}}]}\n",
    );
    c.server.deny(Deny {
        verb: Some("create".into()),
        resource: Some("peerauthentications".into()),
        namespace: Some("shop".into()),
        ..Deny::default()
    });
    let (code, stdout, stderr) = c.run_changing(
        &["migrate", "--apply", "-q"],
        &["PeerAuthentication istio-system/default"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("name: default\n  namespace: shop\n"),
        "the plan is printed: {stdout}"
    );
    assert!(
        stderr.starts_with(
            "error: the migration stopped after 1 of 3 PeerAuthentications: written: \
             peerauthentication istio-system/default; \
             not written: peerauthentication shop/default, peerauthentication demo/echo\n  \
             cannot create peerauthentication shop/default\n  \
             peerauthentications.security.istio.io is forbidden"
        ),
        "{stderr}"
    );
}

/// A control plane outside istio-system: its mesh config names the root
/// namespace; selectors see the labels istiod adds, the node's among them,
/// and nodes are read only when a selector needs them.
#[test]
fn the_root_namespace_and_topology_labels_come_from_the_control_plane_and_nodes() {
    let fixture = std::fs::read_to_string("tests/fixtures/topology/mesh.yaml").expect("fixture");
    let c = Cluster::with_seed(kube_loopback::parse_objects(&fixture).expect("valid YAML"));
    let (code, stdout, stderr) = c.run(&["get", "-A"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        "\
TARGET          MODE         SOURCE
mesh            STRICT       mesh istio-control/default
geo             STRICT       mesh istio-control/default
geo/api:80      MIXED        pods: 1 STRICT, 1 DISABLE
geo/db:5432     DISABLE      workload geo/net-1
geo/web:80      PERMISSIVE   workload geo/east-only
istio-control   STRICT       mesh istio-control/default
"
    );
    let read_nodes = |c: &Cluster| {
        c.server
            .requests()
            .iter()
            .any(|r| r.uri.starts_with("/api/v1/nodes"))
    };
    assert!(read_nodes(&c), "a selector names a zone: nodes are read");

    // Without the zone policy, no selector needs a node: none is read.
    let seed: Vec<Value> = kube_loopback::parse_objects(&fixture)
        .expect("valid YAML")
        .into_iter()
        .filter(|o| o["metadata"]["name"] != "zone-a")
        .collect();
    let c = Cluster::with_seed(seed);
    let (code, _, stderr) = c.run(&["get", "geo/api:80"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(!read_nodes(&c), "{:#?}", c.server.requests());
}

/// What ports really enforce, read from a cluster as from manifests.
#[test]
fn enforced_modes_read_from_a_cluster_match_the_manifests() {
    let fixture = std::fs::read_to_string("tests/fixtures/enforced/mesh.yaml").expect("fixture");
    let c = Cluster::with_seed(kube_loopback::parse_objects(&fixture).expect("valid YAML"));
    let (code, from_cluster, stderr) = c.run(&["get", "-A", "-o", "json"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let offline = Mtls::new(["get", "-A", "-o", "json", "-f", "tests/fixtures/enforced/"]).run();
    let strip = |text: &str| -> Value {
        let mut value: Value = serde_json::from_str(text).expect("JSON");
        // The port rows: the server adds namespaces manifests only name.
        value["items"]
            .as_array_mut()
            .expect("items")
            .retain(|row| row["scope"] == "port");
        value
    };
    assert_eq!(strip(&from_cluster), strip(&offline.stdout));
}

/// A Service without a selector, read alone: its EndpointSlices, then the pods
/// they name; the row is the same as read with the whole namespace.
#[test]
fn a_service_without_a_selector_is_served_by_the_pods_its_slices_name() {
    let fixture = std::fs::read_to_string("tests/fixtures/enforced/mesh.yaml").expect("fixture");
    let c = Cluster::with_seed(kube_loopback::parse_objects(&fixture).expect("valid YAML"));
    let (code, alone, stderr) = c.run(&["get", "shop/pg:5432", "-o", "json"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let row: Value = serde_json::from_str(&alone).expect("JSON");
    let row = &row["items"][0];
    assert_eq!(
        (
            &row["targetPort"],
            &row["workloads"],
            &row["dataplane"],
            &row["enforced"]
        ),
        (&json!(15432), &json!(1), &json!("none"), &json!("NONE"))
    );
    assert!(
        c.server
            .requests()
            .iter()
            .any(|r| r.uri.contains("/endpointslices?") && r.uri.contains("service-name")),
        "{:#?}",
        c.server.requests()
    );
}

/// Revisions with their own root namespace, read from a cluster.
#[test]
fn revision_roots_read_from_a_cluster_match_the_manifests() {
    let fixture = std::fs::read_to_string("tests/fixtures/revisions/mesh.yaml").expect("fixture");
    let c = Cluster::with_seed(kube_loopback::parse_objects(&fixture).expect("valid YAML"));
    // One target reads its namespace, the root and the revisions' roots.
    let (code, stdout, stderr) = c.run(&["get", "shop/web:80"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        stdout,
        "\
TARGET        MODE     SOURCE
shop/web:80   STRICT   mesh canary-root/default
"
    );
    let (code, stdout, stderr) = c.run(&["get", "bank/vault:80"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.contains("MIXED   pods: 1 STRICT, 1 PERMISSIVE"),
        "{stdout}"
    );
}

/// The change gate on a cluster: `--dry-run` and a real change are refused
/// alike, before anything is sent; `--force` writes.
#[test]
fn a_change_that_would_break_calls_is_refused_on_a_cluster_too() {
    let fixture = std::fs::read_to_string("tests/fixtures/gate.yaml").expect("fixture");
    let c = Cluster::with_seed(kube_loopback::parse_objects(&fixture).expect("valid YAML"));
    for args in [&["require", "shop", "--dry-run"][..], &["require", "shop"]] {
        c.server.clear_requests();
        let (code, stdout, stderr) = c.run(args);
        assert_eq!(code, 3, "{args:?}: {stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains("error[MTLS001] destinationrule front/plaintext"),
            "{stderr}"
        );
        assert!(
            c.server.requests().iter().all(|r| r.method == "GET"),
            "nothing is sent: {:#?}",
            c.server.requests()
        );
    }
    let (code, _, stderr) = c.run_changing(
        &["require", "shop", "--force", "--yes"],
        &["PeerAuthentication shop/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: the change breaks calls (MTLS001"),
        "{stderr}"
    );
}

/// `explain` reads a cluster as it reads manifests: the same JSON for the
/// bundled example.
#[test]
fn explain_on_a_cluster_matches_the_manifests() {
    let mut seed = Vec::new();
    for file in [
        "bookinfo/bookinfo.yaml",
        "bookinfo/security.yaml",
        "istio-system/mesh.yaml",
        "payments/payments.yaml",
        "payments/security.yaml",
    ] {
        let text = std::fs::read_to_string(format!("examples/{file}")).expect("example");
        // What the server serves (ServiceAccounts are not mtls's business).
        seed.extend(
            kube_loopback::parse_objects(&text)
                .expect("valid YAML")
                .into_iter()
                .filter(kube_loopback::knows),
        );
    }
    let c = Cluster::with_seed(seed);
    for target in ["bookinfo/ratings:9080", "payments/ledger"] {
        let (code, from_cluster, stderr) = c.run(&["explain", target, "-o", "json"]);
        assert_eq!((code, stderr.as_str()), (0, ""), "{target}");
        let offline = Mtls::new(["explain", target, "-o", "json", "-f", "examples/"]).run();
        let parse = |text: &str| -> Value { serde_json::from_str(text).expect("JSON") };
        let mut cluster = parse(&from_cluster);
        let mut manifests = parse(&offline.stdout);
        // Creation times exist only on the server.
        for value in [&mut cluster, &mut manifests] {
            for port in value["ports"].as_array_mut().expect("ports") {
                for group in port["groups"].as_array_mut().expect("groups") {
                    for link in group["chain"]["links"].as_array_mut().expect("links") {
                        for c in link["candidates"].as_array_mut().expect("candidates") {
                            c["created"] = Value::Null;
                        }
                    }
                }
            }
        }
        assert_eq!(cluster, manifests, "{target}");
    }
}

/// Pod targets and `--from` on a cluster: the same answers as the manifests
/// give, from reads of the target's namespace, the root namespace and — for
/// one caller — its namespace and the rules it can use; never a list of
/// every pod or every DestinationRule in the cluster.
#[test]
fn pods_and_one_caller_are_read_narrowly_on_a_cluster() {
    let text = std::fs::read_to_string("tests/fixtures/pods.yaml").expect("fixture");
    let seed = kube_loopback::parse_objects(&text)
        .expect("valid YAML")
        .into_iter()
        .filter(kube_loopback::knows)
        .collect();
    let c = Cluster::with_seed(seed);
    let offline = |args: &[&str]| {
        let out = Mtls::new(args)
            .args(["-q", "-f", "tests/fixtures/pods.yaml"])
            .run();
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout).expect("JSON")
    };
    let uris = |c: &Cluster| -> Vec<String> {
        c.server
            .requests()
            .iter()
            .map(|r| r.uri.split('?').next().unwrap_or_default().to_string())
            .collect()
    };

    c.server.clear_requests();
    let (code, stdout, stderr) = c.run(&["get", "shop/pod/web-1", "-o", "json", "-q"]);
    assert_eq!(code, 0, "{stderr}");
    let read = uris(&c);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).expect("JSON"),
        offline(&["get", "shop/pod/web-1", "-o", "json"])
    );
    assert!(
        read.contains(&"/api/v1/namespaces/shop/pods/web-1".to_string()),
        "{read:#?}"
    );
    assert!(
        read.len() <= 7,
        "get NS/pod/NAME made {} requests: {read:#?}",
        read.len()
    );
    for uri in &read {
        if let Some(rest) = uri.split("/namespaces/").nth(1) {
            let namespace = rest.split('/').next().unwrap_or_default();
            assert!(["shop", "istio-system"].contains(&namespace), "{uri}");
        }
    }
    let (code, _, stderr) = c.run(&["get", "shop/pod/nope"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: pod shop/nope not found\n")
    );

    c.server.clear_requests();
    let args = [
        "explain",
        "shop/web:80",
        "--from",
        "batch/cron-1",
        "-o",
        "json",
        "-q",
    ];
    let (code, stdout, stderr) = c.run(&args);
    assert_eq!(code, 0, "{stderr}");
    let read = uris(&c);
    let mut from_cluster: Value = serde_json::from_str(&stdout).expect("JSON");
    let mut manifests = offline(&args[..6]);
    for value in [&mut from_cluster, &mut manifests] {
        for link in value["ports"][0]["groups"][0]["chain"]["links"]
            .as_array_mut()
            .expect("links")
        {
            for candidate in link["candidates"].as_array_mut().expect("candidates") {
                candidate["created"] = Value::Null;
            }
        }
    }
    assert_eq!(from_cluster, manifests);
    assert_eq!(from_cluster["ports"][0]["callers"][0]["plaintext"], true);
    assert!(
        !read.iter().any(|u| u == "/api/v1/pods"),
        "no pod list across the cluster: {read:#?}"
    );
    // The caller is read by name, not by listing its namespace.
    assert!(read.contains(&"/api/v1/namespaces/batch/pods/cron-1".to_string()));
    assert!(!read.contains(&"/api/v1/namespaces/batch/pods".to_string()));
    let rules: Vec<&String> = read
        .iter()
        .filter(|u| u.ends_with("/destinationrules"))
        .collect();
    assert_eq!(
        rules,
        [
            "/apis/networking.istio.io/v1/namespaces/batch/destinationrules",
            "/apis/networking.istio.io/v1/namespaces/istio-system/destinationrules",
            "/apis/networking.istio.io/v1/namespaces/shop/destinationrules",
        ],
        "only the rules the caller can use"
    );
}

/// A user whose Roles cover only their namespace: the mesh config, the root
/// namespace and Namespace objects are forbidden. mtls falls back to
/// istio-system as the root, says once what it could not read, and answers
/// for the namespace it can.
#[test]
fn a_namespace_scoped_user_works_on_their_namespace() {
    let c = Cluster::demo();
    c.server.deny(Deny {
        user: Some(TOKEN_USER.into()),
        except_namespaces: vec!["demo".into()],
        ..Deny::default()
    });
    let kubeconfig = c.kubeconfig(TOKEN_USER);
    let warnings = "warning: cannot read the mesh config (list configmaps in istio-system is forbidden): \
                    the root namespace is taken to be istio-system; --root-namespace names another\n\
                    warning: cannot read the mesh-wide PeerAuthentications (list peerauthentications in \
                    istio-system is forbidden): rows that no namespace or workload policy decides show \
                    Istio's default, PERMISSIVE, which a mesh-wide policy may override\n";
    for target in ["demo/echo:8080", "demo/echo"] {
        let (code, stdout, stderr) = c.run_as(&kubeconfig, &["get", target]);
        assert_eq!((code, stderr.as_str()), (0, warnings), "{target}");
        assert!(stdout.contains("demo/echo:8080"), "{target}: {stdout}");
    }
    let (code, stdout, stderr) = c.run_as(&kubeconfig, &["get", "demo"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("demo/echo:8080"), "{stdout}");
    assert!(
        stderr.ends_with(
            "warning: cannot read the Namespace demo (get namespaces is forbidden): its labels \
             (injection, ambient) are unknown, and so is what serves its pod templates\n"
        ),
        "{stderr}"
    );
    // What is out of reach stays an error that names the permission.
    let (code, _, stderr) = c.run_as(&kubeconfig, &["get", "-A"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot list resource"), "{stderr}");
    // Changes in their namespace go through.
    let (code, _, stderr) = mtls_with(&kubeconfig, &["require", "demo/echo:8080", "-q"]);
    assert_eq!(code, 0, "{stderr}");
}

/// A policy Argo CD manages: a change over it is reverted at the next sync,
/// so it is refused naming the Application, unless --force; `get -o wide`
/// shows the owner.
#[test]
fn policies_a_gitops_controller_manages_are_not_changed_behind_its_back() {
    let seed = kube_loopback::parse_objects(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n\
         apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata:\n  name: default\n  namespace: shop\n  annotations:\n    \
         argocd.argoproj.io/tracking-id: \"shop-mesh:security.istio.io/PeerAuthentication:shop/default\"\n\
         spec: {mtls: {mode: PERMISSIVE}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
         spec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n",
    )
    .expect("seed");
    let c = Cluster::with_seed(seed);
    let (code, _, stderr) = c.run(&["require", "shop"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            3,
            "error: refused: peerauthentication shop/default is managed by Argo CD (Application shop-mesh): \
             its next sync reverts the change; edit the source there\n  nothing was written; --force writes anyway\n"
        )
    );
    let (code, _, stderr) = c.run(&["require", "shop", "--dry-run"]);
    assert_eq!(code, 3, "{stderr}");
    let (code, stdout, _) = c.run(&["get", "shop", "-o", "wide"]);
    assert_eq!(code, 0);
    assert!(
        stdout.lines().next().is_some_and(|h| h.contains("OWNER")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Argo CD (Application shop-mesh)"),
        "{stdout}"
    );
    let (code, stdout, _) = c.run(&["get", "shop", "-o", "json"]);
    assert_eq!(code, 0);
    let rows: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(rows["items"][0]["source"]["owner"]["tool"], "Argo CD");
    let (code, _, stderr) = c.run_changing(
        &["require", "shop", "--force", "-q"],
        &["PeerAuthentication shop/default"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: written because of --force: peerauthentication shop/default is managed by Argo CD"),
        "{stderr}"
    );
}
