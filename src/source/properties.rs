//! Property test of the collector: an arbitrary string in any field it reads
//! (names, timestamps, labels, ports, modes, hosts, the mesh config) is
//! accepted or rejected with an error, never a panic, and what is accepted
//! resolves and checks without one. A non-ASCII creationTimestamp once
//! panicked in a hand-written parser.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::check;
use crate::policy::resolve::Index;
use crate::source::Api;
use crate::source::collect::{Collector, LoadOptions};

/// A small mesh that reaches every field the collector reads.
fn mesh() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "prod", "labels": {"istio-injection": "enabled"}}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "istio", "namespace": "istio-system"},
               "data": {"mesh": "rootNamespace: istio-system"}}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "api", "namespace": "prod"},
               "spec": {"selector": {"app": "api"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "api-1", "namespace": "prod", "labels": {"app": "api"},
                            "annotations": {"sidecar.istio.io/status": "{}",
                                            "traffic.sidecar.istio.io/excludeInboundPorts": "9000"}},
               "spec": {"containers": [{"name": "api", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "prod"},
               "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"sidecar.istio.io/inject": "true"}},
                                     "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}]}}}}),
        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
               "metadata": {"name": "api", "namespace": "prod", "creationTimestamp": "2024-01-01T00:00:00Z"},
               "spec": {"selector": {"matchLabels": {"app": "api"}}, "mtls": {"mode": "STRICT"},
                        "portLevelMtls": {"8080": {"mode": "DISABLE"}}}}),
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
               "metadata": {"name": "api", "namespace": "prod"},
               "spec": {"host": "api.prod.svc.cluster.local", "exportTo": ["."],
                        "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"},
                                          "portLevelSettings": [{"port": {"number": 80}, "tls": {"mode": "DISABLE"}}]}}}),
        json!({"apiVersion": "authentication.istio.io/v1alpha1", "kind": "Policy",
               "metadata": {"name": "api", "namespace": "prod"},
               "spec": {"targets": [{"name": "api", "ports": [{"name": "http"}]}], "peers": [{"mtls": {"mode": "PERMISSIVE"}}]}}),
    ]
}

/// The path of every string-valued field of `value`, and of every map key.
fn string_places(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    match value {
        Value::String(_) => out.push((path.clone(), false)),
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                out.push((path.clone(), true));
                string_places(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(i.to_string());
                string_places(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `value` with the string at `path` (or, with `key`, the map key the path
/// ends at) replaced by `text`.
fn replaced(value: &Value, path: &[String], key: bool, text: &str) -> Value {
    let mut value = value.clone();
    let (last, parents) = path.split_last().expect("a non-empty path");
    let mut at = &mut value;
    for step in parents {
        at = match at {
            Value::Array(items) => &mut items[step.parse::<usize>().expect("an index")],
            other => &mut other[step.as_str()],
        };
    }
    match at {
        Value::Object(map) if key => {
            if let Some(child) = map.remove(last) {
                map.insert(text.to_string(), child);
            }
        }
        Value::Object(map) => {
            map.insert(last.clone(), Value::String(text.to_string()));
        }
        Value::Array(items) => items[last.parse::<usize>().expect("an index")] = json!(text),
        _ => {}
    }
    value
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9TZ:+\\-.é ]{0,30}",
        Just("2024-01-01T00:00:00+aé00".to_string()),
        Just("+8080".to_string()),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_string_in_any_field_is_read_or_refused_never_a_panic(
        object in 0..8usize,
        place in any::<prop::sample::Index>(),
        text in text_strategy(),
    ) {
        let objects = mesh();
        let mut places = Vec::new();
        string_places(&objects[object], &mut Vec::new(), &mut places);
        let (path, key) = place.get(&places).clone();
        let mut collector = Collector::default();
        let mut accepted = true;
        for (i, original) in objects.iter().enumerate() {
            let value = if i == object { replaced(original, &path, key, &text) } else { original.clone() };
            if let Err(e) = collector.add(value, &"test") {
                // Refused: the error says something, whatever the text.
                let message = format!("{e:#}");
                prop_assert!(!message.is_empty());
                accepted = false;
            }
        }
        if accepted
            && let Ok(loaded) = collector.finish(&LoadOptions { root_namespace: None, api: Api::Auto })
        {
            let index = Index::new(&loaded.snapshot);
            let rows = index.all_rows();
            prop_assert!(!rows.is_empty(), "the mesh row at least");
            let _findings = check::check(&loaded.snapshot);
        }
    }
}
