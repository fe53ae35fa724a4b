//! A deterministic synthetic mesh, for benchmarks: namespaces with Services of
//! one to three ports (some with named target ports), pods with realistic labels,
//! container ports and sidecars, EndpointSlices, and a mix of mesh, namespace,
//! workload and port-level PeerAuthentications and DestinationRules.

use serde_json::{Value, json};

/// The shape of a generated mesh.
#[derive(Debug, Clone, Copy)]
pub struct MeshSize {
    pub namespaces: usize,
    pub services_per_namespace: usize,
    pub pods_per_service: usize,
    pub seed: u64,
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const MODES: [&str; 3] = ["STRICT", "PERMISSIVE", "DISABLE"];

/// Every object of the mesh, namespaces first.
pub fn generate_mesh(size: MeshSize) -> Vec<Value> {
    let mut rng = Rng(size.seed);
    let mut objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"},
               "data": {"mesh": "rootNamespace: istio-system\ntrustDomain: cluster.local\n"}}),
        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
               "metadata": {"name": "default", "namespace": "istio-system", "creationTimestamp": "2024-01-01T00:00:00Z"},
               "spec": {"mtls": {"mode": "PERMISSIVE"}}}),
    ];
    for n in 0..size.namespaces {
        let ns = format!("team-{n:03}");
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"istio-injection": "enabled", "team": format!("t{n}")}}}));
        if rng.chance(60) {
            objects.push(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": ns, "creationTimestamp": "2024-02-01T00:00:00Z"},
                "spec": {"mtls": {"mode": MODES[rng.below(2) as usize]}}}));
        }
        for s in 0..size.services_per_namespace {
            let app = format!("svc-{s:03}");
            let port_count = 1 + rng.below(3) as usize;
            let named = rng.chance(40);
            let mut service_ports = Vec::new();
            let mut container_ports = Vec::new();
            for p in 0..port_count {
                let (port, target) = (8000 + 10 * p as u64, 18000 + 10 * p as u64);
                let name = ["http", "grpc", "metrics"][p];
                service_ports.push(if named {
                    json!({"name": name, "port": port, "targetPort": name, "protocol": "TCP"})
                } else {
                    json!({"name": name, "port": port, "targetPort": target, "protocol": "TCP"})
                });
                container_ports
                    .push(json!({"name": name, "containerPort": target, "protocol": "TCP"}));
            }
            objects.push(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": app, "namespace": ns, "labels": {"app": app}},
                "spec": {"selector": {"app": app}, "ports": service_ports, "type": "ClusterIP",
                         "clusterIP": format!("10.{}.{}.{}", n % 250, s % 250, 1 + rng.below(250))}}));
            let mut endpoints = Vec::new();
            for i in 0..size.pods_per_service {
                let pod = format!("{app}-7d9f8c{:04x}-{i}", rng.below(0xffff));
                let ip = format!("10.{}.{}.{}", 100 + n % 150, s % 250, 1 + i % 250);
                endpoints.push(json!({"addresses": [ip], "conditions": {"ready": true},
                    "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}}));
                objects.push(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": ns,
                        "labels": {"app": app, "version": format!("v{}", 1 + rng.below(3)),
                                   "pod-template-hash": "7d9f8c", "security.istio.io/tlsMode": "istio",
                                   "service.istio.io/canonical-name": app},
                        "annotations": {"sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"]}",
                                        "prometheus.io/scrape": "true", "prometheus.io/port": "15020"}},
                    "spec": {"containers": [
                        {"name": app, "image": format!("registry.example.com/{ns}/{app}:1.{}", rng.below(40)),
                         "ports": container_ports, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                        {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0",
                         "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]}],
                        "serviceAccountName": app, "nodeName": format!("node-{}", rng.below(50))},
                    "status": {"phase": "Running", "podIP": ip}}));
            }
            objects.push(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{app}-abcde"), "namespace": ns,
                             "labels": {"kubernetes.io/service-name": app}},
                "addressType": "IPv4", "endpoints": endpoints,
                "ports": container_ports.iter().map(|p| json!({"name": p["name"], "port": p["containerPort"], "protocol": "TCP"})).collect::<Vec<_>>()}));
            if rng.chance(20) {
                let mut spec = json!({"selector": {"matchLabels": {"app": app}}, "mtls": {"mode": MODES[rng.below(3) as usize]}});
                if rng.chance(50) {
                    spec["portLevelMtls"] = json!({(18000 + 10 * rng.below(port_count as u64)).to_string(): {"mode": MODES[rng.below(3) as usize]}});
                }
                objects.push(json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                    "metadata": {"name": app, "namespace": ns, "creationTimestamp": "2024-03-01T00:00:00Z"}, "spec": spec}));
            }
            if rng.chance(10) {
                let mode = if rng.chance(90) {
                    "ISTIO_MUTUAL"
                } else {
                    "DISABLE"
                };
                objects.push(
                    json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                    "metadata": {"name": app, "namespace": ns},
                    "spec": {"host": app, "trafficPolicy": {"tls": {"mode": mode}}}}),
                );
            }
        }
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mesh_and_sizes_hold() {
        let size = MeshSize {
            namespaces: 3,
            services_per_namespace: 4,
            pods_per_service: 5,
            seed: 7,
        };
        let a = generate_mesh(size);
        assert_eq!(a, generate_mesh(size));
        assert_ne!(a, generate_mesh(MeshSize { seed: 8, ..size }));
        let count = |kind: &str| a.iter().filter(|o| o["kind"] == kind).count();
        assert_eq!(
            (count("Pod"), count("Service"), count("EndpointSlice")),
            (60, 12, 12)
        );
        assert_eq!(count("Namespace"), 4);
    }
}
