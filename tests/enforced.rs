//! What ports really enforce, beside what their policies declare
//! (docs/semantics.md §4): rows for a pod without a sidecar, a port the sidecar
//! does not capture, UDP, an ambient DISABLE workload, a gateway, a Service port
//! only some pods serve, and a half-migrated Service — in JSON, in the table,
//! and as `--expect` judges them.

mod common;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use common::Mtls;

const MESH: &str = "tests/fixtures/enforced/";

fn get(args: &[&str]) -> common::Run {
    Mtls::new(["get"]).args(args).args(["-f", MESH]).run()
}

/// Each port row as (target, protocol-free summary) in the order printed.
fn port_rows(json: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(json).expect("valid JSON");
    value["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|row| row["scope"] == "port")
        .map(|row| {
            json!([
                row["target"],
                row["mode"],
                row["dataplane"],
                row["enforced"],
                row["workloads"],
                row["targetPort"]
            ])
        })
        .collect()
}

#[test]
fn every_row_says_what_serves_it_and_the_mode_traffic_meets() {
    let out = get(&["-A", "-o", "json"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        port_rows(&out.stdout),
        vec![
            json!([
                "ambient/legacy:80",
                "DISABLE",
                "ambient",
                "PERMISSIVE",
                1,
                8080
            ]),
            json!(["shop/dns:53", "STRICT", "sidecar", "STRICT", 1, 5353]),
            json!(["shop/dns:53", "STRICT", "sidecar", "NONE", 1, 5353]),
            json!(["shop/half:80", "STRICT", "mixed", "MIXED", 2, 8080]),
            json!(["shop/ingress:80", "STRICT", "gateway", null, 1, 8080]),
            json!(["shop/metrics:80", "STRICT", "sidecar", "STRICT", 1, 8080]),
            json!(["shop/metrics:9090", "STRICT", "sidecar", "NONE", 1, 9090]),
            // partial-b has no port named http: it is no endpoint of the port.
            json!(["shop/partial:80", "STRICT", "sidecar", "STRICT", 1, 8080]),
            // No selector: served by the pod its EndpointSlice names.
            json!(["shop/pg:5432", "STRICT", "none", "NONE", 1, 15432]),
            json!(["shop/plain:80", "STRICT", "none", "NONE", 1, 8080]),
        ]
    );
    let value: Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    let half = value["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["target"] == "shop/half:80")
        .expect("the half-migrated row");
    assert_eq!(half["enforcedModes"], json!({"NONE": 1, "STRICT": 1}));
    // Levels have no pods: nothing is known of what serves them.
    let mesh = &value["items"][0];
    assert_eq!(
        (&mesh["dataplane"], &mesh["enforced"]),
        (&Value::Null, &Value::Null)
    );
}

#[test]
fn the_table_shows_the_enforced_mode_where_it_differs_and_why() {
    let out = get(&["shop", "ambient"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "\
TARGET              MODE                                      SOURCE
ambient             STRICT                                    mesh istio-system/default
ambient/legacy:80   DISABLE → PERMISSIVE (ambient)            workload ambient/legacy
shop                STRICT                                    mesh istio-system/default
shop/dns:53         STRICT                                    mesh istio-system/default
shop/dns:53         STRICT → NONE (UDP)                       mesh istio-system/default
shop/half:80        STRICT → MIXED (pods: 1 STRICT, 1 NONE)   mesh istio-system/default
shop/ingress:80     STRICT → n/a (gateway)                    mesh istio-system/default
shop/metrics:80     STRICT                                    mesh istio-system/default
shop/metrics:9090   STRICT → NONE (port not captured)         mesh istio-system/default
shop/partial:80     STRICT                                    mesh istio-system/default
shop/pg:5432        STRICT → NONE (no sidecar)                mesh istio-system/default
shop/plain:80       STRICT → NONE (no sidecar)                mesh istio-system/default
"
    );
}

#[test]
fn expect_judges_the_enforced_mode_and_leaves_gateways_out() {
    let out = get(&["-A", "--expect", "STRICT"]);
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr,
        "error: expected STRICT everywhere, but 6 of 13 rows differ: \
         ambient/legacy:80 (PERMISSIVE, declared DISABLE: ambient), \
         shop/dns:53 (NONE, declared STRICT: UDP), \
         shop/half:80 (MIXED, declared STRICT: pods: 1 STRICT, 1 NONE), \
         shop/metrics:9090 (NONE, declared STRICT: port not captured), \
         shop/pg:5432 (NONE, declared STRICT: no sidecar), \
         shop/plain:80 (NONE, declared STRICT: no sidecar)\n"
    );

    // A gateway's port is not judged: PeerAuthentication does not apply there.
    let gateway = get(&["shop/ingress:80", "--expect", "STRICT"]);
    assert_eq!((gateway.code, gateway.stderr.as_str()), (0, ""));

    // Declared STRICT everywhere is not enough for --expect-at-least.
    let least = get(&["shop/plain", "shop/half", "--expect-at-least", "disable"]);
    assert_eq!(least.code, 3, "{}", least.stderr);
    assert!(
        least
            .stderr
            .contains("shop/half:80 (MIXED, NONE at weakest)")
            && least
                .stderr
                .contains("shop/plain:80 (NONE, declared STRICT: no sidecar)"),
        "{}",
        least.stderr
    );
    let none = get(&["-A", "--expect-at-least", "none"]);
    assert_eq!((none.code, none.stderr.as_str()), (0, ""));
    let expect_none = get(&["shop/plain:80", "--expect", "NONE"]);
    assert_eq!((expect_none.code, expect_none.stderr.as_str()), (0, ""));
}

/// Regression: a Service port number served over TCP and UDP (DNS) is two
/// rows; overlapping targets dropped one of them as a repeat.
#[test]
fn a_port_number_served_over_tcp_and_udp_keeps_both_rows() {
    let out = get(&["shop", "shop/dns", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dns: Vec<Value> = port_rows(&out.stdout)
        .into_iter()
        .filter(|r| r[0] == "shop/dns:53")
        .collect();
    assert_eq!(
        dns,
        vec![
            json!(["shop/dns:53", "STRICT", "sidecar", "STRICT", 1, 5353]),
            json!(["shop/dns:53", "STRICT", "sidecar", "NONE", 1, 5353]),
        ]
    );
}

/// Regression: a GitOps tree often holds Deployments but not their Namespace
/// objects. Whether the injector adds a sidecar is then not known, and rows
/// must not read as NONE (failing every `--expect STRICT` gate): they are
/// judged by their declared mode until the Namespace object says more.
#[test]
fn templates_in_a_namespace_not_read_are_judged_by_their_declared_mode() {
    let tree = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, ports: [{containerPort: 8080}]}]}
";
    let run = |extra: &str| {
        Mtls::new([
            "get",
            "prod/api:80",
            "-o",
            "json",
            "--expect",
            "STRICT",
            "-f",
            "-",
        ])
        .stdin(format!("{tree}{extra}"))
        .run()
    };
    let fields = |out: &common::Run| {
        let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
        let row = &value["items"][0];
        (row["dataplane"].clone(), row["enforced"].clone())
    };

    let unknown = run("");
    assert_eq!((unknown.code, unknown.stderr.as_str()), (0, ""));
    assert_eq!(fields(&unknown), (Value::Null, Value::Null));

    let injected = run(
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {istio-injection: enabled}}\n",
    );
    assert_eq!((injected.code, injected.stderr.as_str()), (0, ""));
    assert_eq!(fields(&injected), (json!("sidecar"), json!("STRICT")));

    let plain = run("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n");
    assert_eq!(plain.code, 3, "{}", plain.stderr);
    assert_eq!(fields(&plain), (json!("none"), json!("NONE")));
}
