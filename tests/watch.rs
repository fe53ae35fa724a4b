//! `mtls get --watch` against a loopback API server: the rows, then each row
//! again as policies, Services, pods and EndpointSlices change, from watches;
//! Ctrl-C ends it with exit 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use kube_loopback::{ADMIN, Config, Fault, FaultAction, TOKEN_USER};
use serde_json::{Value, json};

use common::Mtls;
use common::loopback::Loopback;

const SHOP: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: http}]
";

/// An injected pod of `app`, serving `http` on 8080.
fn pod(name: &str, app: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "shop",
            "labels": {"app": app, "security.istio.io/tlsMode": "istio"},
            "annotations": {"sidecar.istio.io/status": "{\"containers\":[\"istio-proxy\"]}"},
        },
        "spec": {"containers": [
            {"name": app, "ports": [{"name": "http", "containerPort": 8080}]},
            {"name": "istio-proxy"},
        ]},
    })
}

/// A running `mtls get --watch`, its stdout read line by line.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

/// Long enough for any machine; a watch that says nothing is a failure,
/// not a hang.
const PATIENCE: Duration = Duration::from_secs(30);

impl Watching {
    fn start(mtls: Mtls) -> Watching {
        let mut child = mtls.command().spawn().expect("mtls starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Watching { child, lines }
    }

    /// The next line of stdout.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .expect("mtls prints a line")
    }

    /// The next `n` JSON events, as (type, target, mode).
    fn events(&self, n: usize) -> Vec<(String, String, String)> {
        (0..n)
            .map(|_| {
                let line = self.line();
                let event: Value = serde_json::from_str(&line).expect("one JSON event per line");
                (
                    event["type"].as_str().unwrap_or_default().to_string(),
                    event["object"]["target"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    event["object"]["mode"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    /// Ctrl-C: the exit code and stderr.
    fn interrupt(self) -> (i32, String) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let out = self.child.wait_with_output().expect("mtls ends");
        (
            out.status.code().expect("an exit code, not a signal"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// `mtls allow shop`, and the two rows it changes, once each.
fn allow_shop(cluster: &Loopback, watching: &Watching) {
    let allowed = mtls(cluster, &["allow", "shop", "--yes"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert_eq!(
        watching.events(2),
        [
            event("MODIFIED", "shop", "PERMISSIVE"),
            event("MODIFIED", "shop/api:80", "PERMISSIVE")
        ]
    );
}

/// A Service `shop/cart` comes, as if created.
fn add_cart(cluster: &Loopback) {
    cluster
        .server
        .seed(vec![json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"selector": {"app": "cart"}, "ports": [{"port": 8000}]},
        })])
        .expect("seed");
}

/// `kubectl delete service api -n shop`.
fn delete_api(cluster: &Loopback) {
    let deleted = std::process::Command::new("kubectl")
        .args(["delete", "service", "api", "-n", "shop"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HOME", cluster.dir.path())
        .output()
        .expect("kubectl runs");
    assert!(deleted.status.success());
}

fn event(kind: &str, target: &str, mode: &str) -> (String, String, String) {
    (kind.into(), target.into(), mode.into())
}

/// `mtls ARGS` as another user than the watch's, so that the server's log
/// tells their requests apart.
fn mtls(cluster: &Loopback, args: &[&str]) -> common::Run {
    let other = cluster.dir.path().join("other-user");
    if !other.exists() {
        std::fs::write(&other, cluster.server.kubeconfig(TOKEN_USER)).expect("kubeconfig");
    }
    Mtls::new(args).kubeconfig(&other).run()
}

#[test]
fn watch_prints_each_row_a_change_touches_as_json_lines_and_ctrl_c_exits_0() {
    let cluster = Loopback::seeded(SHOP);
    let watching = Watching::start(
        Mtls::new(["get", "shop", "--watch", "-o", "json"]).kubeconfig(&cluster.kubeconfig),
    );
    assert_eq!(
        watching.events(2),
        [
            event("ADDED", "shop", "STRICT"),
            event("ADDED", "shop/api:80", "STRICT")
        ]
    );

    // A policy changes: both rows, once each.
    allow_shop(&cluster, &watching);

    // A Service comes; another goes.
    add_cart(&cluster);
    assert_eq!(
        watching.events(1),
        [event("ADDED", "shop/cart:8000", "PERMISSIVE")]
    );
    delete_api(&cluster);
    assert_eq!(
        watching.events(1),
        [event("DELETED", "shop/api:80", "PERMISSIVE")]
    );

    // Watched, not polled: one LIST then one WATCH per collection, however
    // long it ran and whatever changed.
    let requests: Vec<_> = cluster
        .server
        .requests()
        .into_iter()
        .filter(|r| r.user == ADMIN)
        .collect();
    let watches = requests
        .iter()
        .filter(|r| r.uri.contains("watch=true"))
        .count();
    let lists_of_services = requests
        .iter()
        .filter(|r| r.uri.contains("/services?") && !r.uri.contains("watch=true"))
        .count();
    assert!(watches >= 4, "{requests:#?}");
    assert_eq!(lists_of_services, 1, "{requests:#?}");

    let (code, stderr) = watching.interrupt();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_pod_that_starts_changes_the_row_of_the_service_it_serves() {
    let cluster = Loopback::seeded(SHOP);
    let watching = Watching::start(
        Mtls::new(["get", "shop/api:http", "-w", "-o", "json"]).kubeconfig(&cluster.kubeconfig),
    );
    let first: Value = serde_json::from_str(&watching.line()).expect("JSON");
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["target"], "shop/api:80");
    assert_eq!(first["object"]["workloads"], 0);
    assert_eq!(first["object"]["targetPort"], Value::Null);

    // The kubelet runs it and the EndpointSlice controller names it: the
    // row now has a pod, and the named port its number.
    cluster
        .server
        .seed(vec![pod("api-1", "api")])
        .expect("seed");
    let started: Value = serde_json::from_str(&watching.line()).expect("JSON");
    assert_eq!(started["type"], "MODIFIED");
    assert_eq!(started["object"]["workloads"], 1);
    assert_eq!(started["object"]["targetPort"], 8080);
    assert_eq!(started["object"]["enforced"], "STRICT");

    // A pod of another Service changes nothing this watch shows.
    cluster
        .server
        .seed(vec![pod("web-1", "web")])
        .expect("seed");
    let allowed = mtls(&cluster, &["allow", "shop/api", "--yes"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let next: Value = serde_json::from_str(&watching.line()).expect("JSON");
    assert_eq!(
        (next["type"].as_str(), next["object"]["mode"].as_str()),
        (Some("MODIFIED"), Some("PERMISSIVE")),
        "the pod of web is no change to shop/api:80: {next}"
    );

    // The pod restarts without its sidecar: nothing enforces the mode now.
    let deleted = std::process::Command::new("kubectl")
        .args(["delete", "pod", "api-1", "-n", "shop"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HOME", cluster.dir.path())
        .output()
        .expect("kubectl runs");
    assert!(deleted.status.success());
    let mut plain = pod("api-2", "api");
    plain["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("security.istio.io/tlsMode");
    plain["metadata"]["annotations"] = json!({});
    plain["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .pop();
    cluster.server.seed(vec![plain]).expect("seed");
    let restarted = loop {
        let event: Value = serde_json::from_str(&watching.line()).expect("JSON");
        // The deletion may come as an event of its own, with no pod left.
        if event["object"]["workloads"] == 1 {
            break event;
        }
    };
    assert_eq!(restarted["type"], "MODIFIED");
    assert_eq!(restarted["object"]["dataplane"], "none");
    assert_eq!(restarted["object"]["enforced"], "NONE");
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn the_table_is_printed_once_then_each_changed_row_under_it() {
    let cluster = Loopback::seeded(SHOP);
    cluster
        .server
        .seed(vec![pod("api-1", "api")])
        .expect("seed");
    let watching =
        Watching::start(Mtls::new(["get", "shop", "-w"]).kubeconfig(&cluster.kubeconfig));
    let header = watching.line();
    assert!(header.starts_with("TARGET"), "{header}");
    assert!(watching.line().starts_with("shop "));
    assert!(watching.line().starts_with("shop/api:80 "));
    let required = mtls(&cluster, &["disable", "shop/api:80", "--yes", "--force"]);
    assert_eq!(required.code, 0, "{}", required.stderr);
    let changed = watching.line();
    let cells: Vec<&str> = changed.split_whitespace().collect();
    assert_eq!(&cells[..2], ["shop/api:80", "DISABLE"], "{changed}");
    // A row that goes is said on stderr; stdout carries rows only.
    delete_api(&cluster);
    add_cart(&cluster);
    assert!(watching.line().starts_with("shop/cart:8000 "));
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, 0);
    assert!(stderr.contains("shop/api:80: no longer listed"), "{stderr}");
}

/// The server forgot the revision the watch was at while it was away: kube's
/// watcher LISTs again, and the change made meanwhile is still seen.
#[test]
fn a_watch_lists_again_when_the_server_no_longer_has_its_revision() {
    let cluster = Loopback::seeded(SHOP);
    let watching = Watching::start(
        Mtls::new(["get", "shop", "-w", "-o", "json"]).kubeconfig(&cluster.kubeconfig),
    );
    assert_eq!(watching.events(2).len(), 2);
    let lists_before = policy_lists(&cluster);
    // The next watch of the policies arrives late: meanwhile the policy
    // changes and the server compacts its history.
    cluster.server.inject(Fault {
        method: Some("GET".into()),
        path_contains: Some("/namespaces/shop/peerauthentications".into()),
        times: 1,
        action: FaultAction::Delay(Duration::from_secs(1)),
    });
    cluster.server.end_watches();
    let mut policy = cluster
        .server
        .object("peerauthentications.security.istio.io", "shop", "default")
        .expect("stored");
    policy["spec"]["mtls"]["mode"] = json!("DISABLE");
    cluster.server.seed(vec![policy]).expect("seed");
    cluster.server.compact();
    assert_eq!(
        watching.events(2),
        [
            event("MODIFIED", "shop", "DISABLE"),
            event("MODIFIED", "shop/api:80", "DISABLE")
        ]
    );
    let requests = cluster.server.requests();
    let expired = requests.iter().any(|r| {
        r.uri.contains("/namespaces/shop/peerauthentications") && r.uri.contains("watch=true")
    });
    assert!(expired);
    assert_eq!(policy_lists(&cluster), lists_before + 1, "{requests:#?}");
    let (code, _) = watching.interrupt();
    assert_eq!(code, 0);
}

fn policy_lists(cluster: &Loopback) -> usize {
    cluster
        .server
        .requests()
        .iter()
        .filter(|r| {
            r.user == ADMIN
                && r.uri.contains("/namespaces/shop/peerauthentications?")
                && !r.uri.contains("watch=true")
        })
        .count()
}

#[test]
fn watch_refuses_what_it_cannot_follow_with_exit_2() {
    let cluster = Loopback::start(Config::default());
    for (args, says) in [
        (&["get", "-A", "-w", "--expect", "STRICT"][..], "--expect"),
        (
            &["get", "-A", "-w", "-o", "yaml"][..],
            "-o table, wide or json",
        ),
        (&["get", "-A", "-w", "--traffic"][..], "--traffic"),
        (
            &["get", "-A", "-w", "--context", "a", "--context", "b"][..],
            "one --context",
        ),
    ] {
        let run = mtls(&cluster, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let offline = Mtls::new(["get", "-w", "-f", "-"]).stdin(SHOP).run();
    assert_eq!(offline.code, 2, "{}", offline.stderr);
    assert!(
        offline.stderr.contains("-f reads files once"),
        "{}",
        offline.stderr
    );
}

#[test]
fn watching_a_service_that_is_not_there_fails_as_get_does() {
    let cluster = Loopback::seeded(SHOP);
    let run = mtls(&cluster, &["get", "shop/nope", "-w"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn a_closed_stdout_ends_the_watch_quietly() {
    let cluster = Loopback::seeded(SHOP);
    let mut child = Mtls::new(["get", "shop", "-w", "-o", "json"])
        .kubeconfig(&cluster.kubeconfig)
        .command()
        .spawn()
        .expect("starts");
    // The reader goes away after the first line, as `| head -1` does.
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a line");
    drop(stdout);
    let allowed = mtls(&cluster, &["allow", "shop", "--yes"]);
    assert_eq!(allowed.code, 0);
    let out = child.wait_with_output().expect("mtls ends by itself");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The server fails the watch of the policies for a while: mtls says so on
/// stderr, kube's watcher tries again, and once it works the rows follow.
#[test]
fn a_watch_the_server_fails_is_said_and_tried_again() {
    let cluster = Loopback::seeded(SHOP);
    let watching = Watching::start(
        Mtls::new(["get", "shop", "-w", "-o", "json"]).kubeconfig(&cluster.kubeconfig),
    );
    assert_eq!(watching.events(2).len(), 2);
    cluster.server.inject(Fault::status(
        "GET",
        "/namespaces/shop/peerauthentications",
        2,
        500,
        "InternalError",
        "etcd is unavailable",
    ));
    cluster.server.end_watches();
    while cluster.server.faults_left() > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    allow_shop(&cluster, &watching);
    let (code, stderr) = watching.interrupt();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "the watch of peerauthentications in shop failed: etcd is unavailable; retrying"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("the watch of peerauthentications in shop works again"),
        "{stderr}"
    );
}

/// The wide view under a watch marks rows with findings, AuthorizationPolicies'
/// among them, and marks them anew when a change undoes one.
#[test]
fn the_wide_view_keeps_its_marks_as_policies_change() {
    let cluster = Loopback::seeded(
        &std::fs::read_to_string("tests/fixtures/check/MTLS016-ok.yaml").expect("fixture"),
    );
    let watching = Watching::start(
        Mtls::new(["get", "shop", "-w", "-o", "wide"]).kubeconfig(&cluster.kubeconfig),
    );
    assert!(watching.line().starts_with("TARGET"));
    assert!(watching.line().starts_with("shop "));
    let first = watching.line();
    assert!(
        first.starts_with("shop/api:80 ") && !first.contains("MTLS016"),
        "{first}"
    );
    let forced = mtls(&cluster, &["allow", "shop", "--yes", "--force", "-q"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let lines = [watching.line(), watching.line()];
    let port = lines
        .iter()
        .find(|l| l.starts_with("shop/api:80 "))
        .expect("the port's row again");
    assert!(port.trim_end().ends_with("MTLS016"), "{lines:?}");
    let (code, _) = watching.interrupt();
    assert_eq!(code, 0);
}
