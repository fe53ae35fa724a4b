//! What the rest of a cluster does to the objects the server stores, so that
//! a test's seed reads back as a running cluster's would: the kubelet gives
//! each pod an IP and runs it, and kube-controller-manager's EndpointSlice
//! controller keeps one set of slices per Service with a selector — its pods'
//! addresses, and each Service port as the number the pod's container
//! declares (a named target port is resolved per pod, and pods that resolve
//! alike share a slice), as `pkg/controller/endpointslice` does.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The label of the slices the controller owns; it leaves others alone.
pub const MANAGED_BY: (&str, &str) = (
    "endpointslice.kubernetes.io/managed-by",
    "endpointslice-controller.k8s.io",
);
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The IP the kubelet gives the `n`th pod it runs.
pub fn pod_ip(n: u64) -> String {
    format!("10.244.{}.{}", (n / 250) % 250, 1 + n % 250)
}

/// A pod as the kubelet leaves it once running: an IP and phase Running,
/// where the pod has none. A pod that says it is `Pending` stays so, without
/// an IP, as one not yet scheduled.
pub fn run(pod: &mut Value, n: u64) {
    if pod["status"]["phase"] == "Pending" {
        return;
    }
    if pod["status"]["podIP"].as_str().is_none_or(str::is_empty) {
        let ip = pod_ip(n);
        pod["status"]["podIP"] = json!(ip);
        pod["status"]["podIPs"] = json!([{"ip": ip}]);
    }
    if pod["status"]["phase"].is_null() {
        pod["status"]["phase"] = json!("Running");
    }
}

/// The slices of a namespace's Services with a selector, given its Services
/// and pods: what the controller keeps, without server-set metadata.
pub fn slices(services: &[&Value], pods: &[&Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for service in services {
        let Some(selector) = service["spec"]["selector"]
            .as_object()
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let name = service["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = service["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let service_ports = service["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Pods grouped by how they resolve the Service's ports.
        let mut groups: BTreeMap<Vec<(String, u64, String)>, Vec<Value>> = BTreeMap::new();
        for pod in pods {
            let labels = &pod["metadata"]["labels"];
            let selected = selector.iter().all(|(k, v)| labels.get(k) == Some(v));
            let ip = pod["status"]["podIP"].as_str().unwrap_or_default();
            let over = matches!(
                pod["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
            if !selected || ip.is_empty() || over || !pod["metadata"]["deletionTimestamp"].is_null()
            {
                continue;
            }
            let ports: Vec<(String, u64, String)> = service_ports
                .iter()
                .filter_map(|p| {
                    let port = resolve(pod, p)?;
                    Some((
                        p["name"].as_str().unwrap_or_default().to_string(),
                        port,
                        p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    ))
                })
                .collect();
            let ready = !pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "False");
            let mut endpoint = json!({
                "addresses": [ip],
                "conditions": {"ready": ready, "serving": ready, "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": namespace,
                    "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
            });
            if let Some(node) = pod["spec"]["nodeName"].as_str() {
                endpoint["nodeName"] = json!(node);
            }
            groups.entry(ports).or_default().push(endpoint);
        }
        for (i, (ports, endpoints)) in groups.into_iter().enumerate() {
            let ports: Vec<Value> = ports
                .into_iter()
                .map(|(name, port, protocol)| json!({"name": name, "port": port, "protocol": protocol}))
                .collect();
            out.push(json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": format!("{name}-{}", suffix(name, i)),
                    "namespace": namespace,
                    "labels": {SERVICE_NAME: name, MANAGED_BY.0: MANAGED_BY.1},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                        "uid": service["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": ports,
            }));
        }
    }
    out
}

/// The container port a Service port reaches on a pod: its `targetPort`
/// number, or the number of the container port of that name (`FindPort`);
/// `None` when no container declares the name.
fn resolve(pod: &Value, service_port: &Value) -> Option<u64> {
    match &service_port["targetPort"] {
        Value::Null => service_port["port"].as_u64(),
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        Value::String(name) => pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"].as_str() == Some(name.as_str()))
            .and_then(|p| p["containerPort"].as_u64()),
        _ => None,
    }
}

/// The five characters the controller's generated names end in: random
/// there, derived from the Service and the slice's place here.
fn suffix(service: &str, index: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in service.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = h
        .wrapping_add(index as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    const LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|i| LETTERS[((h >> (i * 8)) % LETTERS.len() as u64) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_that_resolve_a_named_port_alike_share_a_slice() {
        let service = json!({"metadata": {"name": "api", "namespace": "prod", "uid": "u"},
            "spec": {"selector": {"app": "api"}, "ports": [
                {"name": "http", "port": 80, "targetPort": "web"},
                {"name": "admin", "port": 9000}]}});
        let pod = |name: &str, web: u64, ip: &str| {
            json!({
            "metadata": {"name": name, "namespace": "prod", "labels": {"app": "api"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": web}]}]},
            "status": {"podIP": ip, "phase": "Running"}})
        };
        let (a, b, c) = (
            pod("a", 8080, "10.0.0.1"),
            pod("b", 8080, "10.0.0.2"),
            pod("c", 8081, "10.0.0.3"),
        );
        let other = json!({"metadata": {"name": "x", "labels": {"app": "web"}}, "status": {"podIP": "10.0.0.9"}});
        let made = slices(&[&service], &[&a, &b, &c, &other]);
        assert_eq!(made.len(), 2);
        let ports = |s: &Value| {
            s["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["port"].as_u64().unwrap_or(0),
                    )
                })
                .collect::<Vec<_>>()
        };
        let names = |s: &Value| {
            s["endpoints"]
                .as_array()
                .expect("endpoints")
                .iter()
                .map(|e| {
                    e["targetRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ports(&made[0]),
            [("http".to_string(), 8080), ("admin".to_string(), 9000)]
        );
        assert_eq!(names(&made[0]), ["a", "b"]);
        assert_eq!(
            ports(&made[1]),
            [("http".to_string(), 8081), ("admin".to_string(), 9000)]
        );
        assert_eq!(names(&made[1]), ["c"]);
        assert_eq!(made[0]["metadata"]["labels"][SERVICE_NAME], "api");
        assert_eq!(made[0]["endpoints"][0]["nodeName"], "n1");
    }
}
