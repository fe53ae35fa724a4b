//! Pods as targets (`NS/pod/NAME`, `NS/pod/NAME:PORT`): `get` shows a pod's
//! workload-level decision and each of its ports, `check` the findings about
//! the Service ports it serves, `explain` the chains; changes refuse them.

mod common;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use common::Mtls;

const PODS: &str = "tests/fixtures/pods.yaml";
const MIXED: &str = "tests/fixtures/mixed.yaml";

fn run(args: &[&str], input: &str) -> common::Run {
    Mtls::new(args).args(["-q", "-f", input]).run()
}

fn json_of(args: &[&str], input: &str) -> Value {
    let out = run(&[args, &["-o", "json"]].concat(), input);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{args:?}");
    serde_json::from_str(&out.stdout).expect("JSON")
}

#[test]
fn get_lists_the_pod_then_its_ports_and_not_the_proxys_own() {
    let out = run(&["get", "shop/pod/web-1"], PODS);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
TARGET                MODE      SOURCE
shop/pod/web-1        STRICT    namespace shop/default
shop/pod/web-1:8080   STRICT    namespace shop/default
shop/pod/web-1:9000   DISABLE   port shop/web
"
    );
    // 15090, the proxy's metrics port, is not the application's.
    assert!(!out.stdout.contains("15090"), "{}", out.stdout);
}

#[test]
fn a_pod_port_row_in_json_names_the_pod_and_its_container_port() {
    let value = json_of(&["get", "shop/pod/web-1:9000"], PODS);
    assert_eq!(
        value["items"],
        json!([{
            "target": "shop/pod/web-1:9000", "scope": "podPort", "namespace": "shop",
            "service": null, "pod": "web-1", "port": null, "portName": null, "targetPort": 9000,
            "mode": "DISABLE", "dataplane": "sidecar", "enforced": "DISABLE",
            "source": {"level": "port", "policy": "shop/web", "apiVersion": "security.istio.io/v1"},
            "shadowed": [], "workloads": 1
        }])
    );
    let pod = json_of(&["get", "shop/pod/web-1"], PODS);
    assert_eq!(
        (&pod["items"][0]["scope"], &pod["items"][0]["pod"]),
        (&json!("pod"), &json!("web-1"))
    );
    // Rows of other scopes do not grow a `pod` key.
    let service = json_of(&["get", "shop/web"], PODS);
    assert!(
        service["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|r| r.get("pod").is_none())
    );
}

#[test]
fn a_port_by_container_port_name_or_any_number_and_what_is_not_there() {
    let by_name = run(&["get", "shop/pod/web-1:http"], PODS);
    assert_eq!(by_name.code, 0, "{}", by_name.stderr);
    assert!(by_name.stdout.contains("shop/pod/web-1:8080   STRICT"));
    // An undeclared port is served too: the workload's mode.
    let undeclared = run(&["get", "shop/pod/web-1:7777"], PODS);
    assert!(
        undeclared
            .stdout
            .contains("shop/pod/web-1:7777   STRICT   namespace shop/default"),
        "{}",
        undeclared.stdout
    );
    let cases = [
        (
            "shop/pod/web-1:grpc",
            1,
            "error: pod shop/web-1 has no container port \"grpc\"; its ports: 8080 (http), 9000\n",
        ),
        ("shop/pod/nope", 1, "error: pod shop/nope not found\n"),
        (
            "shop/pod/web",
            1,
            "error: pod shop/web not found; deployment shop/web holds a pod template, and pod targets \
             name running pods: name one of its pods, or a Service that selects them\n",
        ),
        ("nope/pod/web-1", 1, "error: namespace \"nope\" not found\n"),
        (
            "shop/pod/Web",
            2,
            "error: invalid target \"shop/pod/Web\": pod name \"Web\" is not a valid name",
        ),
    ];
    for (target, code, stderr) in cases {
        let out = run(&["get", target], PODS);
        assert_eq!(out.code, code, "{target}: {}", out.stderr);
        assert!(out.stderr.starts_with(stderr), "{target}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{target}");
    }
}

#[test]
fn expect_judges_pod_rows_by_what_they_enforce() {
    let out = run(&["get", "shop/pod/web-1", "--expect", "STRICT"], PODS);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("1 of 3 rows differ: shop/pod/web-1:9000 (DISABLE)"),
        "{}",
        out.stderr
    );
}

#[test]
fn pods_and_services_of_one_namespace_sort_services_first() {
    let out = run(
        &["get", "shop/pod/web-a", "shop/web", "shop/pod/web-b:8080"],
        MIXED,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let targets: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        targets,
        [
            "shop/web",
            "shop/web:80",
            "shop/pod/web-a",
            "shop/pod/web-a:8080",
            "shop/pod/web-b:8080"
        ]
    );
}

#[test]
fn check_on_a_pod_reports_the_findings_of_the_service_ports_it_serves() {
    // web-a serves shop/web:80, where auto mTLS meets its DISABLE (MTLS013).
    let pod = run(&["check", "shop/pod/web-a"], MIXED);
    assert_eq!(pod.code, 3, "{}", pod.stderr);
    assert!(
        pod.stdout
            .starts_with("error[MTLS013] peerauthentication shop/web\n")
    );
    let port = run(&["check", "shop/pod/web-a:8080"], MIXED);
    assert_eq!(port.code, 3, "{}", port.stderr);
    // No Service port reaches 9999: nothing concerns it.
    let idle = run(&["check", "shop/pod/web-a:9999"], MIXED);
    assert_eq!(
        (idle.code, idle.stdout.as_str()),
        (0, "no findings: nothing breaks or weakens mTLS here\n")
    );
    let missing = run(&["check", "shop/pod/web-z"], MIXED);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("pod shop/web-z not found"));
}

#[test]
fn changes_refuse_pods_before_reading_anything() {
    for verb in ["require", "allow", "disable", "unset"] {
        // No manifests and no cluster: the refusal comes first.
        let out = Mtls::new([verb, "shop/pod/web-1", "shop/web"]).run();
        assert_eq!(out.code, 2, "{verb}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            format!(
                "error: shop/pod/web-1: `mtls {verb}` changes the mesh, a namespace, a Service or a Service port, \
                 not a pod (its mode follows the policies of its Service); `mtls get shop/pod/web-1` and \
                 `mtls explain shop/pod/web-1` show it\n"
            )
        );
    }
    let migrate = Mtls::new(["migrate", "shop/pod/web-1"]).run();
    assert_eq!(migrate.code, 2, "{}", migrate.stderr);
}

#[test]
fn explain_shows_the_pods_chain_and_each_port_with_the_services_it_serves() {
    let out = run(&["explain", "shop/pod/web-1"], PODS);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
shop/pod/web-1 (sidecar)
├─ pod as a whole: STRICT from namespace shop/default (sidecar, enforced STRICT)
│  ├─ mesh      -
│  ├─ namespace shop/default STRICT: decides
│  └─ workload  shop/web UNSET: inherits
├─ port 8080 (http) TCP: STRICT from namespace shop/default (sidecar, enforced STRICT); serves shop/web:80
│  ├─ mesh      -
│  ├─ namespace shop/default STRICT: decides
│  ├─ workload  shop/web UNSET: inherits
│  └─ port      shop/web UNSET: no entry for the port: inherits
│               shop/default PERMISSIVE: ignored: portLevelMtls on a policy without selector
└─ port 9000 TCP, undeclared: its policy sets it: DISABLE from port shop/web (sidecar, enforced DISABLE); no Service port reaches it
   ├─ mesh      -
   ├─ namespace shop/default STRICT: decides
   ├─ workload  shop/web UNSET: inherits
   └─ port      shop/web DISABLE: decides
"
    );
    let value = json_of(&["explain", "shop/pod/web-1:http"], PODS);
    assert_eq!(value["ports"], json!([]));
    let pod = &value["pods"][0];
    assert_eq!(
        (
            &pod["target"],
            &pod["dataplane"],
            &pod["chain"]["mode"],
            &pod["ports"].as_array().map(Vec::len)
        ),
        (
            &json!("shop/pod/web-1"),
            &json!("sidecar"),
            &json!("STRICT"),
            &Some(1)
        )
    );
    let port = &pod["ports"][0];
    assert_eq!(
        (
            &port["target"],
            &port["containerPort"],
            &port["declared"],
            &port["services"],
            &port["enforced"]
        ),
        (
            &json!("shop/pod/web-1:8080"),
            &json!(8080),
            &json!(true),
            &json!(["shop/web:80"]),
            &json!("STRICT")
        )
    );
}
