//! Pods read as their metadata: the pods Istio's injector gave a sidecar
//! (`security.istio.io/tlsMode=istio`) come as `PartialObjectMetadata`, their
//! ports from their EndpointSlices; every other pod comes whole. Each test
//! compares the answer with what the same cluster gives when its server
//! serves no metadata (every pod read whole, as before Kubernetes 1.15), and
//! looks at what was asked for.

mod common;

use kube_loopback::{Config, Deny, MeshSize, PodShape, RequestRecord, generate_mesh};
use serde_json::Value;

use common::Mtls;
use common::loopback::Loopback;

/// A cluster holding `seed`, with or without metadata served.
fn cluster(seed: Vec<Value>, metadata: bool) -> Loopback {
    Loopback::start(Config {
        seed,
        metadata,
        ..Config::default()
    })
}

fn mesh(shape: PodShape) -> Vec<Value> {
    generate_mesh(MeshSize {
        namespaces: 4,
        services_per_namespace: 6,
        pods_per_service: 3,
        seed: 11,
        shape,
    })
}

/// `mtls ARGS` against `c`, with its exit code and stdout.
fn mtls(c: &Loopback, args: &[&str]) -> (i32, String) {
    let run = Mtls::new(args).kubeconfig(&c.kubeconfig).run();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    (run.code, run.stdout)
}

/// The pod requests a run made: (path and query, bytes of the answer).
fn pod_requests(c: &Loopback) -> Vec<(String, usize)> {
    c.server
        .requests()
        .iter()
        .filter(|r: &&RequestRecord| r.uri.starts_with("/api/v1/pods") || r.uri.contains("/pods/"))
        .map(|r| (r.uri.clone(), r.bytes))
        .collect()
}

const INJECTED: &str = "/api/v1/pods?limit=500&labelSelector=security.istio.io%2FtlsMode%3Distio";
const OTHERS: &str = "/api/v1/pods?limit=500&labelSelector=security.istio.io%2FtlsMode%21%3Distio";

#[test]
fn injected_pods_as_metadata_give_the_answers_whole_pods_give() {
    for shape in [PodShape::Lean, PodShape::Realistic] {
        let lean = cluster(mesh(shape), true);
        let whole = cluster(mesh(shape), false);
        for args in [
            &["get", "-A", "-o", "json"][..],
            &["check", "-A", "-o", "json"],
            &["get", "team-001", "-o", "wide"],
            &["explain", "team-002/svc-003"],
        ] {
            lean.server.clear_requests();
            whole.server.clear_requests();
            let answer = mtls(&lean, args);
            assert_eq!(answer, mtls(&whole, args), "{shape:?} {args:?}");
            assert!(!answer.1.is_empty());
        }
        // `get -A`: two LISTs of pods, no pod read alone.
        lean.server.clear_requests();
        whole.server.clear_requests();
        mtls(&lean, &["get", "-A"]);
        mtls(&whole, &["get", "-A"]);
        let (lean_pods, whole_pods) = (pod_requests(&lean), pod_requests(&whole));
        let paths = |r: &[(String, usize)]| r.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&lean_pods), [INJECTED, OTHERS], "{shape:?}");
        assert_eq!(paths(&whole_pods), [INJECTED, OTHERS], "{shape:?}");
        // The metadata of an injected pod is a fraction of the pod.
        let (metadata, full) = (lean_pods[0].1, whole_pods[0].1);
        let most = match shape {
            PodShape::Lean => full * 3 / 4,
            PodShape::Realistic => full / 3,
        };
        assert!(
            metadata < most,
            "{shape:?}: {metadata} bytes of metadata, {full} whole"
        );
    }
}

/// A few pods the metadata cannot answer for are read alone; many, in one
/// more LIST of the injected pods.
#[test]
fn what_metadata_cannot_say_is_read_whole() {
    let mut seed = mesh(PodShape::Lean);
    // Not scheduled yet: no IP, in no slice, and team-000's Services name
    // their target ports.
    let mut pending = Vec::new();
    for object in seed.iter_mut().filter(|o| o["kind"] == "Pod") {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        if ns == "team-000" && pending.len() < 2 {
            object["status"] = serde_json::json!({"phase": "Pending"});
            pending.push(
                object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    // A sidecar the injector did not write: its label, no status annotation.
    let by_hand = seed
        .iter_mut()
        .find(|o| o["kind"] == "Pod" && o["metadata"]["namespace"] == "team-003")
        .expect("a pod");
    by_hand["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("sidecar.istio.io/status");
    let by_hand = by_hand["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let lean = cluster(seed.clone(), true);
    let whole = cluster(seed.clone(), false);
    let answer = mtls(&lean, &["get", "-A", "-o", "json"]);
    assert_eq!(answer, mtls(&whole, &["get", "-A", "-o", "json"]));
    let alone: Vec<String> = pod_requests(&lean)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains("/pods/"))
        .collect();
    // Only the pending pods of Services with named target ports need it.
    let named = seed.iter().any(|o| {
        o["kind"] == "Service"
            && o["metadata"]["namespace"] == "team-000"
            && o["spec"]["ports"][0]["targetPort"].is_string()
    });
    assert!(
        alone.contains(&format!("/api/v1/namespaces/team-003/pods/{by_hand}")),
        "{alone:?}"
    );
    assert!(alone.len() <= 3, "{alone:?}");
    assert!(named || alone.len() == 1, "{alone:?}");

    // Many of them: one more LIST, of the injected pods, whole.
    let mut seed = mesh(PodShape::Lean);
    for object in seed.iter_mut().filter(|o| o["kind"] == "Pod") {
        if let Some(a) = object["metadata"]["annotations"].as_object_mut() {
            a.remove("sidecar.istio.io/status");
        }
    }
    let lean = cluster(seed.clone(), true);
    let whole = cluster(seed, false);
    let answer = mtls(&lean, &["get", "-A", "-o", "json"]);
    assert_eq!(answer, mtls(&whole, &["get", "-A", "-o", "json"]));
    let paths: Vec<String> = pod_requests(&lean).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [INJECTED, OTHERS, INJECTED]);
}

/// Where EndpointSlices may not be read, or a policy selects by topology,
/// the injected pods are read whole, and the answer is the same.
#[test]
fn without_slices_or_with_topology_selectors_pods_are_read_whole() {
    let lean = Loopback::start_as(
        Config {
            seed: mesh(PodShape::Lean),
            ..Config::default()
        },
        kube_loopback::ADMIN,
    );
    lean.server.deny(Deny {
        resource: Some("endpointslices".into()),
        ..Deny::default()
    });
    let whole = cluster(mesh(PodShape::Lean), false);
    let args = ["get", "-A", "-o", "json"];
    assert_eq!(mtls(&lean, &args), mtls(&whole, &args));
    let paths: Vec<String> = pod_requests(&lean).into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, [INJECTED, OTHERS, INJECTED]);

    let mut seed = mesh(PodShape::Lean);
    seed.push(serde_json::json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "zonal", "namespace": "team-001"},
        "spec": {"selector": {"matchLabels": {"topology.istio.io/cluster": "Kubernetes", "app": "svc-001"}},
                 "mtls": {"mode": "DISABLE"}}}));
    let lean = cluster(seed.clone(), true);
    let whole = cluster(seed, false);
    let answer = mtls(&lean, &args);
    assert_eq!(answer, mtls(&whole, &args));
    assert!(
        answer.1.contains("team-001/zonal"),
        "the topology selector selects"
    );
}
