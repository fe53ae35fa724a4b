//! The labels istiod adds before matching policy selectors, and the root
//! namespace of a control plane outside istio-system (docs/semantics.md §4),
//! offline. tests/cluster.rs runs the same fixture against the loopback API
//! server.

mod common;

use pretty_assertions::assert_eq;

use common::Mtls;

const MESH: &str = "tests/fixtures/topology/";

#[test]
fn selectors_see_the_cluster_network_and_node_labels_istiod_adds() {
    let out = Mtls::new(["get", "-A", "-f", MESH]).run();
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
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
    // Policies that select by those labels select pods: no MTLS005.
    let check = Mtls::new(["check", "-A", "-f", MESH, "-o", "json"]).run();
    let found: serde_json::Value = serde_json::from_str(&check.stdout).expect("JSON");
    let codes: Vec<&str> = found["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(!codes.contains(&"MTLS005"), "{codes:?}");
    // What they select is what MTLS013 names: DISABLE workloads under a STRICT
    // mesh, which auto mTLS clients reach with mTLS.
    assert_eq!(codes, ["MTLS013", "MTLS013"], "{}", check.stdout);
}

#[test]
fn the_cluster_name_comes_from_istiod_where_no_sidecar_reports_it() {
    // A Deployment with no pods yet stands in with its template, whose sidecar
    // is not injected yet: the cluster's name is istiod's CLUSTER_ID.
    let template = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: geo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app}]}
";
    let fixture = std::fs::read_to_string(format!("{MESH}mesh.yaml")).expect("fixture");
    // The fixture without its web pod.
    let without_pod: String = fixture
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: web-1"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let out = Mtls::new(["get", "geo/web:80", "-f", "-"])
        .stdin(format!("{without_pod}\n---\n{template}"))
        .run();
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert!(
        out.stdout.contains("workload geo/east-only"),
        "{}",
        out.stdout
    );
}

/// Pods on a control plane revision (`istio.io/rev` on the pod or its
/// namespace) take their mesh-wide policy from that revision's root namespace.
#[test]
fn each_revision_has_the_root_namespace_its_mesh_config_names() {
    let out = Mtls::new(["get", "-A", "-f", "tests/fixtures/revisions/"]).run();
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
TARGET          MODE         SOURCE
mesh            PERMISSIVE   mesh istio-system/default
bank            PERMISSIVE   mesh istio-system/default
bank/vault:80   MIXED        pods: 1 STRICT, 1 PERMISSIVE
canary-root     STRICT       namespace canary-root/default
istio-system    PERMISSIVE   mesh istio-system/default
shop            STRICT       mesh canary-root/default
shop/web:80     STRICT       mesh canary-root/default
"
    );
}
