//! Observed traffic against a real Prometheus (tests/common/prometheus.rs):
//! `mtls traffic`, `get --traffic`, and the traffic gate of changes, offline
//! with `--prometheus URL` and on a loopback cluster through the API server's
//! service proxy. The samples: mTLS only, plaintext from a caller without a
//! sidecar, plaintext older than the window, a TCP-only Service, an ambient
//! workload with a caller outside the mesh, a Service without traffic.

mod common;

use kube_loopback::Fault;
use pretty_assertions::assert_eq;
use serde_json::Value;

use common::Mtls;
use common::loopback::Loopback;
use common::prometheus::{CONNECTIONS, Prometheus, REQUESTS, Series, service_yaml};

const MESH: &str = "tests/fixtures/traffic.yaml";

/// `to` and `from` as in [`Series`].
const fn series(
    metric: &'static str,
    to: &'static str,
    from: &'static str,
    security: &'static str,
    per_minute: f64,
    (from_hours_ago, to_hours_ago): (f64, f64),
) -> Series {
    Series {
        metric,
        to,
        from,
        security,
        per_minute,
        from_hours_ago,
        to_hours_ago,
    }
}

/// Until about a minute ago.
const NOW: f64 = 0.02;

fn samples() -> Vec<Series> {
    vec![
        // mTLS only, from a caller with a sidecar.
        series(
            REQUESTS,
            "prod/api/api",
            "front/web",
            "mutual_tls",
            10.0,
            (30.0, NOW),
        ),
        // Plaintext from a caller without a sidecar, until 3 hours ago.
        series(
            REQUESTS,
            "prod/api/api",
            "batch/cron",
            "none",
            2.0,
            (20.0, 3.0),
        ),
        // Plaintext older than the day.
        series(
            REQUESTS,
            "prod/api/api",
            "front/old",
            "none",
            5.0,
            (30.0, 26.0),
        ),
        // A TCP-only Service, all mTLS.
        series(
            CONNECTIONS,
            "prod/db/db",
            "prod/api",
            "mutual_tls",
            1.0,
            (30.0, NOW),
        ),
        // An ambient workload, as ztunnel reports it: mTLS from the mesh,
        // plaintext from outside it.
        series(
            CONNECTIONS,
            "ambient/cache/cache",
            "front/web",
            "mutual_tls",
            3.0,
            (20.0, NOW),
        ),
        series(
            CONNECTIONS,
            "ambient/cache/cache",
            "unknown/unknown",
            "none",
            1.0,
            (20.0, NOW),
        ),
    ]
}

fn offline(prometheus: &Prometheus, args: &[&str]) -> common::Run {
    Mtls::new(args)
        .args(["-f", MESH, "--prometheus", &prometheus.url()])
        .run()
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Each Service with its plaintext callers, `NS/WORKLOAD`.
fn plaintext_callers(report: &Value) -> Vec<(String, Vec<String>)> {
    report["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| {
            let callers = s["plaintextCallers"]
                .as_array()
                .expect("callers")
                .iter()
                .map(|c| {
                    format!(
                        "{}/{}",
                        c["namespace"].as_str().unwrap_or(""),
                        c["workload"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (s["target"].as_str().unwrap_or("").to_string(), callers)
        })
        .collect()
}

fn near(value: &Value, expected: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|v| (v - expected).abs() <= expected * 0.05)
}

#[test]
fn traffic_names_every_plaintext_caller_and_no_mtls_one() {
    let prometheus = Prometheus::start(&samples());
    let out = offline(&prometheus, &["traffic", "-A", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = json(&out);
    assert_eq!(
        plaintext_callers(&report),
        [
            (
                "ambient/cache".to_string(),
                vec!["unknown/unknown".to_string()]
            ),
            ("prod/api".to_string(), vec!["batch/cron".to_string()]),
            ("prod/db".to_string(), vec![]),
            ("prod/quiet".to_string(), vec![]),
        ]
    );
    let service = |target: &str| {
        report["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|s| s["target"] == target)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let api = service("prod/api");
    // A day of 10 mTLS requests a minute; 17 hours of 2 plaintext ones.
    assert!(near(&api["requests"]["mtls"], 14_400.0), "{api}");
    assert!(near(&api["requests"]["plaintext"], 2_040.0), "{api}");
    assert_eq!(api["connections"]["plaintext"], 0);
    assert_eq!(api["ports"][0]["mode"], "PERMISSIVE");
    let db = service("prod/db");
    assert!(near(&db["connections"]["mtls"], 1_440.0), "{db}");
    assert_eq!(
        (&db["requests"]["mtls"], &db["plaintextShare"]),
        (&Value::from(0), &Value::from(0.0))
    );
    let cache = service("ambient/cache");
    assert!(near(&cache["plaintextShare"], 0.25), "{cache}");
    assert_eq!(cache["ports"][0]["dataplane"], "ambient");
    let quiet = service("prod/quiet");
    assert_eq!(quiet["plaintextShare"], Value::Null);
    assert_eq!(report["since"], "24h");

    // The table: a line per Service, the callers named with their share.
    let table = offline(&prometheus, &["traffic", "-A"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "SERVICE         MODE         REQUESTS   CONNECTIONS   PLAINTEXT     PLAINTEXT CALLERS"
    );
    assert!(
        lines[1].starts_with("ambient/cache   PERMISSIVE   0 "),
        "{}",
        table.stdout
    );
    assert!(
        lines[1].ends_with("25% (1,200)   unknown/unknown 25%"),
        "{}",
        table.stdout
    );
    assert!(lines[2].contains("batch/cron 12%"), "{}", table.stdout);
    assert!(
        lines[4]
            .starts_with("prod/quiet      PERMISSIVE   0          0             -             -"),
        "{}",
        table.stdout
    );
    assert!(
        table.stderr.contains(&format!(
            "calls received in the last 24h, from Prometheus at {}",
            prometheus.url()
        )),
        "{}",
        table.stderr
    );
    // A shorter window: the plaintext of 3 hours ago is out of it.
    let recent = offline(
        &prometheus,
        &["traffic", "prod", "--since", "2h", "-o", "json"],
    );
    assert_eq!(recent.code, 0, "{}", recent.stderr);
    assert!(
        plaintext_callers(&json(&recent))
            .iter()
            .all(|(_, c)| c.is_empty())
    );
}

#[test]
fn expect_no_plaintext_gates_and_a_port_target_says_the_metrics_have_no_port() {
    let prometheus = Prometheus::start(&samples());
    let gate = offline(
        &prometheus,
        &["traffic", "-A", "--expect-no-plaintext", "-q"],
    );
    assert_eq!(gate.code, 3, "{}", gate.stderr);
    assert!(
        gate.stderr
            .starts_with("error: plaintext received in the last 24h: ambient/cache: ")
            && gate.stderr.contains("prod/api: ")
            && gate.stderr.contains("from batch/cron"),
        "{}",
        gate.stderr
    );
    let clean = offline(
        &prometheus,
        &["traffic", "prod/db", "--expect-no-plaintext"],
    );
    assert_eq!(clean.code, 0, "{}", clean.stderr);

    let port = offline(&prometheus, &["traffic", "prod/api:80", "-o", "json"]);
    assert_eq!(port.code, 0, "{}", port.stderr);
    let note = "Istio's standard metrics carry no port: prod/api:80 shows the figures of prod/api, \
                all ports together (its port 80 is PERMISSIVE)";
    assert!(port.stderr.contains(note), "{}", port.stderr);
    assert_eq!(json(&port)["notes"][0], note);
    for (args, code, stderr) in [
        (
            &["traffic", "prod/pod/api-1"][..],
            2,
            "Istio's metrics name workloads and Services, not pods",
        ),
        (
            &["traffic", "prod", "--since", "yesterday"],
            2,
            "\"yesterday\" is no duration",
        ),
        (&["traffic", "nope"], 1, "namespace \"nope\" not found"),
    ] {
        let out = offline(&prometheus, args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(stderr), "{args:?}: {}", out.stderr);
    }
    let unset = Mtls::new(["traffic", "-f", MESH]).run();
    assert_eq!(unset.code, 2, "{}", unset.stderr);
    assert!(
        unset
            .stderr
            .contains("offline (-f) without --prometheus URL"),
        "{}",
        unset.stderr
    );
}

#[test]
fn get_traffic_adds_the_plaintext_share_of_each_row() {
    let prometheus = Prometheus::start(&samples());
    let out = offline(&prometheus, &["get", "prod", "--traffic", "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Each row: where it starts, and its last column (the share in plaintext).
    let rows: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .map(|l| {
            let start = l.split_whitespace().next().unwrap_or("");
            let share = l.rsplit("   ").next().unwrap_or("");
            (start, share.split(" (").next().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("TARGET", "PLAINTEXT"),
            ("prod", "11%"),
            ("prod/api:80", "12%"),
            ("prod/db:5432", "0%"),
            ("prod/quiet:80", "-"),
        ],
        "{}",
        out.stdout
    );
    let rows = json(&offline(
        &prometheus,
        &["get", "prod/api", "--traffic", "-o", "json", "-q"],
    ));
    let port = &rows["items"][1];
    assert_eq!(port["target"], "prod/api:80");
    assert!(
        near(&port["traffic"]["plaintextShare"], 2_040.0 / 16_440.0),
        "{port}"
    );
    // Without --traffic, rows have no `traffic` key.
    let plain = json(&offline(&prometheus, &["get", "prod/api", "-o", "json"]));
    assert!(plain["items"][1].get("traffic").is_none());
}

/// A loopback cluster holding the traffic mesh, and Prometheus behind the
/// Service istio-system/prometheus:9090.
struct Cluster(Loopback);

impl std::ops::Deref for Cluster {
    type Target = Loopback;
    fn deref(&self) -> &Loopback {
        &self.0
    }
}

impl Cluster {
    fn start(prometheus: Option<&Prometheus>) -> Cluster {
        let mut seed = std::fs::read_to_string(MESH).expect("fixture");
        if let Some(p) = prometheus {
            seed.push_str("\n---\n");
            seed.push_str(&service_yaml("istio-system", p.port));
        }
        Cluster(Loopback::seeded(&seed))
    }

    fn run(&self, args: &[&str]) -> common::Run {
        Mtls::new(args).kubeconfig(&self.kubeconfig).run()
    }

    fn prod_policy(&self) -> Option<Value> {
        self.server
            .object("peerauthentications.security.istio.io", "prod", "default")
    }
}

#[test]
fn the_api_servers_service_proxy_reaches_prometheus_with_two_queries() {
    let prometheus = Prometheus::start(&samples());
    let c = Cluster::start(Some(&prometheus));
    c.server.clear_requests();
    let out = c.run(&["traffic", "-A", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let offline = json(&offline(&prometheus, &["traffic", "-A", "-o", "json"]));
    // The cluster has one Service more: Prometheus's own.
    let mut on_cluster = plaintext_callers(&json(&out));
    on_cluster.retain(|(s, _)| s != "istio-system/prometheus");
    assert_eq!(on_cluster, plaintext_callers(&offline));
    assert!(
        out.stderr.contains(
            "from Prometheus at service istio-system/prometheus:9090 (through the API server at https://127.0.0.1:"
        ),
        "{}",
        out.stderr
    );
    let queries: Vec<String> = c
        .server
        .requests()
        .iter()
        .map(|r| r.uri.split('?').next().unwrap_or("").to_string())
        .filter(|u| u.contains("/proxy/"))
        .collect();
    assert_eq!(
        queries, ["/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query"; 2],
        "two queries, whatever the number of Services"
    );
    // -v shows them, as PromQL.
    let verbose = c.run(&["traffic", "prod", "-v"]);
    assert!(
        verbose.stderr.contains(
            "proxy/api/v1/query?query=sum by (destination_service_namespace, destination_service_name, "
        ) && verbose.stderr.contains("istio_requests_total{reporter=\"destination\",destination_service_namespace=\"prod\"}[86400s]"),
        "{}",
        verbose.stderr
    );
}

#[test]
fn require_is_refused_while_plaintext_callers_are_in_the_window() {
    let prometheus = Prometheus::start(&samples());
    let c = Cluster::start(Some(&prometheus));
    let refused = c.run(&["require", "prod"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "error: refused: plaintext reached what the change makes STRICT in the last 24h"
        ) && refused
            .stderr
            .contains("prod/api becomes STRICT on prod/api:80, but received ")
            && refused
                .stderr
                .contains(" calls in plaintext, from batch/cron 12%")
            && refused
                .stderr
                .contains("keep it PERMISSIVE: `mtls allow prod/api:80` first")
            && refused
                .stderr
                .ends_with("nothing was written; --force writes anyway\n"),
        "{}",
        refused.stderr
    );
    assert_eq!(c.prod_policy(), None, "nothing was written");
    let dry = c.run(&["require", "prod", "--dry-run"]);
    assert_eq!(dry.code, 3, "{}", dry.stderr);
    // Once the window holds only mTLS, it goes through.
    let recent = c.run(&["require", "prod", "--since", "2h", "-q"]);
    assert_eq!(recent.code, 0, "{}", recent.stderr);
    assert_eq!(
        c.prod_policy().map(|p| p["spec"]["mtls"]["mode"].clone()),
        Some("STRICT".into())
    );

    // --force writes, and says who will be rejected.
    let forced_cluster = Cluster::start(Some(&prometheus));
    let forced = forced_cluster.run(&["require", "prod", "--force", "-q"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("warning: plaintext callers will be rejected (seen in the last 24h): prod/api becomes STRICT"),
        "{}",
        forced.stderr
    );
    assert!(forced_cluster.prod_policy().is_some());
    // A change that makes nothing STRICT does not ask Prometheus.
    forced_cluster.server.clear_requests();
    let allow = forced_cluster.run(&["allow", "prod/db:5432", "-q"]);
    assert_eq!(allow.code, 0, "{}", allow.stderr);
    assert!(
        !forced_cluster
            .server
            .requests()
            .iter()
            .any(|r| r.uri.contains("/proxy/"))
    );
}

#[test]
fn prometheus_errors_and_absence_never_fail_a_get_or_a_change() {
    // Absent: no Service prometheus anywhere.
    let absent = Cluster::start(None);
    let not_found = "no Prometheus found: no Service prometheus (port 9090) in istio-system, monitoring; \
                     give its address with --prometheus URL";
    let get = absent.run(&["get", "prod", "--traffic"]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    assert!(
        get.stderr
            .contains(&format!("warning: traffic left out: {not_found}")),
        "{}",
        get.stderr
    );
    assert!(!get.stdout.contains("PLAINTEXT"), "{}", get.stdout);
    let traffic = absent.run(&["traffic", "prod"]);
    assert_eq!(
        (traffic.code, traffic.stderr.as_str()),
        (1, format!("error: {not_found}\n").as_str())
    );
    let require = absent.run(&["require", "prod"]);
    assert_eq!(require.code, 0, "{}", require.stderr);
    assert!(
        require.stderr.contains(&format!(
            "traffic check skipped (plaintext callers of what becomes STRICT): {not_found}"
        )),
        "{}",
        require.stderr
    );

    // Answering errors: the proxy path fails.
    let prometheus = Prometheus::start(&samples());
    let failing = Cluster::start(Some(&prometheus));
    failing.server.inject(Fault::status(
        "GET",
        "/proxy/api/v1/query",
        10,
        500,
        "InternalError",
        "query processing would load too many samples",
    ));
    let get = failing.run(&["get", "prod", "--traffic"]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    assert!(
        get.stderr.contains(
            "warning: traffic left out: Prometheus at service istio-system/prometheus:9090"
        ) && get
            .stderr
            .contains("answered 500: query processing would load too many samples"),
        "{}",
        get.stderr
    );

    // Timing out: a server that takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", silent.local_addr().expect("address"));
    let silent_run = |args: &[&str]| {
        Mtls::new(args)
            .args(["-f", MESH, "--prometheus", &url, "--request-timeout", "1"])
            .run()
    };
    let get = silent_run(&["get", "prod", "--traffic"]);
    assert_eq!(get.code, 0, "{}", get.stderr);
    assert!(
        get.stderr
            .contains("did not answer within 1s (--request-timeout)"),
        "{}",
        get.stderr
    );
    let traffic = silent_run(&["traffic"]);
    assert_eq!(traffic.code, 1, "{}", traffic.stderr);
    drop(silent);

    // Turned off: nothing is asked.
    let off = Cluster::start(Some(&prometheus));
    off.server.clear_requests();
    let require = off.run(&["require", "prod", "--prometheus", "none", "-q"]);
    assert_eq!(require.code, 0, "{}", require.stderr);
    assert!(
        !off.server
            .requests()
            .iter()
            .any(|r| r.uri.contains("prometheus"))
    );
}

#[test]
fn credentials_for_prometheus_are_sent_and_never_printed() {
    // A Prometheus behind auth is not at hand: a listener records the request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cr3t-t0ken\n").expect("token");
    listener.set_nonblocking(true).expect("non-blocking");
    let seen = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let started = std::time::Instant::now();
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if started.elapsed() < std::time::Duration::from_secs(20) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return format!("no request came: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        let mut request = [0u8; 4096];
        let n = stream.read(&mut request).expect("a request");
        let body = r#"{"status":"error","errorType":"bad_data","error":"no such thing"}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&request[..n]).to_string()
    });
    let out = Mtls::new([
        "traffic",
        "-f",
        MESH,
        "--prometheus",
        &url,
        "--prometheus-token-file",
    ])
    .arg(&token)
    .arg("-v")
    .run();
    let request = seen.join().expect("the listener");
    assert!(
        request
            .to_lowercase()
            .contains("authorization: bearer s3cr3t-t0ken"),
        "{request}"
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("answered 400: no such thing"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("s3cr3t") && !out.stdout.contains("s3cr3t"),
        "{}",
        out.stderr
    );
    let without_url = Mtls::new(["traffic", "--prometheus-token-file"])
        .arg(&token)
        .run();
    assert_eq!(without_url.code, 2, "{}", without_url.stderr);
}

/// The README's example is what `mtls traffic prod` prints on these samples,
/// its counts within 2% (Prometheus extrapolates `increase()` to the edges of
/// the window, so they move with the second the query runs).
#[test]
fn the_readme_shows_traffic_as_it_prints() {
    let output = common::readme_output("$ mtls traffic prod\n");
    let shown: Vec<&str> = output.lines().collect();
    let prometheus = Prometheus::start(&samples());
    let out = offline(&prometheus, &["traffic", "prod", "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let printed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(printed.len(), shown.len(), "{}", out.stdout);
    for (shown, printed) in shown.iter().zip(&printed) {
        let words =
            |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_string).collect() };
        let (a, b) = (words(shown), words(printed));
        assert_eq!(a.len(), b.len(), "{shown}\n{printed}");
        for (x, y) in a.iter().zip(&b) {
            let number = |w: &str| {
                w.trim_matches(|c| c == '(' || c == ')')
                    .replace(',', "")
                    .parse::<f64>()
                    .ok()
            };
            match (number(x), number(y)) {
                (Some(x), Some(y)) => {
                    assert!((x - y).abs() <= x.max(1.0) * 0.02, "{shown}\n{printed}")
                }
                _ => assert_eq!(x, y, "{shown}\n{printed}"),
            }
        }
    }
}
