//! A deterministic synthetic mesh, for benchmarks: namespaces with Services of
//! one to three ports (some with named target ports), pods with realistic labels,
//! container ports and sidecars (their EndpointSlices are the server's
//! controller's), and a mix of mesh, namespace,
//! workload and port-level PeerAuthentications and DestinationRules.
//!
//! Pods come in two shapes that decide the same: lean (what decides mTLS and
//! little else, about 1.5 KB of JSON) and realistic (about 12 KB: what a
//! Deployment's pod holds once Istio's injector and the kubelet are done with
//! it — env, probes rewritten for the sidecar, the injected `istio-proxy` and
//! `istio-init`, volumes, status and `managedFields`).

use serde_json::{Value, json};

/// The shape of a generated mesh.
#[derive(Debug, Clone, Copy)]
pub struct MeshSize {
    pub namespaces: usize,
    pub services_per_namespace: usize,
    pub pods_per_service: usize,
    pub seed: u64,
    pub shape: PodShape,
}

/// How much a generated pod holds besides what decides mTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodShape {
    #[default]
    Lean,
    Realistic,
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
            for i in 0..size.pods_per_service {
                let pod = format!("{app}-7d9f8c{:04x}-{i}", rng.below(0xffff));
                let ip = format!("10.{}.{}.{}", 100 + n % 150, s % 250, 1 + i % 250);
                let pod_object = json!({"apiVersion": "v1", "kind": "Pod",
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
                    "status": {"phase": "Running", "podIP": ip}});
                objects.push(match size.shape {
                    PodShape::Lean => pod_object,
                    PodShape::Realistic => realistic(pod_object),
                });
            }
            // Their EndpointSlices are the server's EndpointSlice controller's.
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

/// The lean pod as the API server would serve it once a Deployment made it,
/// Istio's injector wrote its sidecar and the kubelet runs it. Nothing that
/// decides mTLS changes: the same labels, Istio annotations, ports and node.
fn realistic(mut pod: Value) -> Value {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let name = text(&pod["metadata"]["name"]);
    let ns = text(&pod["metadata"]["namespace"]);
    let app = text(&pod["metadata"]["labels"]["app"]);
    let ip = text(&pod["status"]["podIP"]);
    let node = text(&pod["spec"]["nodeName"]);
    let replica_set = name
        .rsplit_once('-')
        .map_or(name.as_str(), |(rs, _)| rs)
        .to_string();
    let uid = |salt: &str| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes().chain(salt.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff,
            h & 0xffff_ffff_ffff
        )
    };
    let started = "2024-05-02T09:14:07Z";
    let app_container = pod["spec"]["containers"][0].clone();
    let app_ports = app_container["ports"].clone();
    let pod_ports: Vec<Value> = app_ports
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"name": p["name"], "containerPort": p["containerPort"], "protocol": "TCP"}))
        .collect();
    let probe_port = &app_ports[0]["containerPort"];
    let kube_api_access = json!({"name": "kube-api-access-x7k2p", "readOnly": true,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"});
    let field =
        |path: &str| json!({"valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}});
    let env = |name: &str, value: Value| {
        let mut e = json!({"name": name});
        match value {
            Value::String(s) => e["value"] = json!(s),
            other => e["valueFrom"] = other["valueFrom"].clone(),
        }
        e
    };
    let mut application = app_container;
    application["imagePullPolicy"] = json!("IfNotPresent");
    application["env"] = json!([
        env("LOG_LEVEL", json!("info")),
        env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            json!("http://otel-collector.observability:4317")
        ),
        env("OTEL_SERVICE_NAME", json!(app)),
        env("POD_NAME", field("metadata.name")),
        env("POD_NAMESPACE", field("metadata.namespace")),
        env("GOMAXPROCS", json!("2")),
    ]);
    application["resources"] = json!({"limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"}});
    application["livenessProbe"] = json!({"httpGet": {"path": format!("/app-health/{app}/livez"),
        "port": 15020, "scheme": "HTTP"}, "initialDelaySeconds": 10, "periodSeconds": 10,
        "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3});
    application["readinessProbe"] = json!({"httpGet": {"path": format!("/app-health/{app}/readyz"),
        "port": 15020, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1,
        "successThreshold": 1, "failureThreshold": 3});
    application["terminationMessagePath"] = json!("/dev/termination-log");
    application["terminationMessagePolicy"] = json!("File");
    application["securityContext"] = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
        "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}});
    application["volumeMounts"] = json!([{"name": "tmp", "mountPath": "/tmp"}, kube_api_access]);

    let probers = format!(
        "{{\"/app-health/{app}/livez\":{{\"httpGet\":{{\"path\":\"/livez\",\"port\":{probe_port},\"scheme\":\"HTTP\"}},\"timeoutSeconds\":1}},\
         \"/app-health/{app}/readyz\":{{\"httpGet\":{{\"path\":\"/readyz\",\"port\":{probe_port},\"scheme\":\"HTTP\"}},\"timeoutSeconds\":1}}}}"
    );
    let proxy = json!({
        "name": "istio-proxy",
        "image": "docker.io/istio/proxyv2:1.24.0",
        "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
                 "--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"],
        "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
        "env": [
            env("PILOT_CERT_PROVIDER", json!("istiod")),
            env("CA_ADDR", json!("istiod.istio-system.svc:15012")),
            env("POD_NAME", field("metadata.name")),
            env("POD_NAMESPACE", field("metadata.namespace")),
            env("INSTANCE_IP", field("status.podIP")),
            env("SERVICE_ACCOUNT", field("spec.serviceAccountName")),
            env("HOST_IP", field("status.hostIP")),
            env("ISTIO_CPU_LIMIT", json!({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "0"}}})),
            env("PROXY_CONFIG", json!("{}\n")),
            env("ISTIO_META_POD_PORTS", json!(serde_json::to_string(&pod_ports).unwrap_or_default())),
            env("ISTIO_META_APP_CONTAINERS", json!(app)),
            env("GOMEMLIMIT", json!({"valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "0"}}})),
            env("GOMAXPROCS", json!({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "0"}}})),
            env("ISTIO_META_CLUSTER_ID", json!("Kubernetes")),
            env("ISTIO_META_NODE_NAME", field("spec.nodeName")),
            env("ISTIO_META_INTERCEPTION_MODE", json!("REDIRECT")),
            env("ISTIO_META_WORKLOAD_NAME", json!(app)),
            env("ISTIO_META_OWNER", json!(format!("kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{app}"))),
            env("ISTIO_META_MESH_ID", json!("cluster.local")),
            env("TRUST_DOMAIN", json!("cluster.local")),
            env("ISTIO_KUBE_APP_PROBERS", json!(probers)),
        ],
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "initialDelaySeconds": 0, "periodSeconds": 15, "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 4},
        "startupProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021, "scheme": "HTTP"},
            "initialDelaySeconds": 0, "periodSeconds": 1, "timeoutSeconds": 3, "successThreshold": 1, "failureThreshold": 600},
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "privileged": false,
            "readOnlyRootFilesystem": true, "runAsGroup": 1337, "runAsNonRoot": true, "runAsUser": 1337},
        "volumeMounts": [
            {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
            {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
            {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"},
            {"name": "istiod-ca-cert", "mountPath": "/var/run/secrets/istio"},
            {"name": "istio-data", "mountPath": "/var/lib/istio/data"},
            {"name": "istio-envoy", "mountPath": "/etc/istio/proxy"},
            {"name": "istio-token", "mountPath": "/var/run/secrets/tokens"},
            {"name": "istio-podinfo", "mountPath": "/etc/istio/pod"},
            kube_api_access,
        ],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    let init = json!({
        "name": "istio-init",
        "image": "docker.io/istio/proxyv2:1.24.0",
        "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
                 "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"],
        "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"],
            "drop": ["ALL"]}, "privileged": false, "readOnlyRootFilesystem": false, "runAsGroup": 0,
            "runAsNonRoot": false, "runAsUser": 0},
        "volumeMounts": [kube_api_access],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    let spec = &mut pod["spec"];
    spec["containers"] = json!([application, proxy]);
    spec["initContainers"] = json!([init]);
    spec["volumes"] = json!([
        {"name": "workload-socket", "emptyDir": {}},
        {"name": "credential-socket", "emptyDir": {}},
        {"name": "workload-certs", "emptyDir": {}},
        {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
        {"name": "istio-data", "emptyDir": {}},
        {"name": "istio-podinfo", "downwardAPI": {"defaultMode": 420, "items": [
            {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations"}}]}},
        {"name": "istio-token", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken":
            {"audience": "istio-ca", "expirationSeconds": 43200, "path": "istio-token"}}]}},
        {"name": "istiod-ca-cert", "configMap": {"defaultMode": 420, "name": "istio-ca-root-cert"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                "fieldPath": "metadata.namespace"}}]}}]}},
    ]);
    for (key, value) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("enableServiceLinks", json!(true)),
        ("preemptionPolicy", json!("PreemptLowerPriority")),
        ("priority", json!(0)),
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        (
            "securityContext",
            json!({"fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}}),
        ),
        ("serviceAccount", json!(app)),
        ("terminationGracePeriodSeconds", json!(30)),
        (
            "tolerations",
            json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]),
        ),
    ] {
        spec[key] = value;
    }

    let meta = &mut pod["metadata"];
    meta["generateName"] = json!(format!("{replica_set}-"));
    meta["uid"] = json!(uid("pod"));
    meta["resourceVersion"] = json!("48213977");
    meta["creationTimestamp"] = json!("2024-05-02T09:13:58Z");
    meta["labels"]["service.istio.io/canonical-revision"] = meta["labels"]["version"].clone();
    meta["annotations"]["istio.io/rev"] = json!("default");
    meta["annotations"]["kubectl.kubernetes.io/default-container"] = json!(app);
    meta["annotations"]["kubectl.kubernetes.io/default-logs-container"] = json!(app);
    meta["annotations"]["prometheus.io/path"] = json!("/stats/prometheus");
    meta["annotations"]["sidecar.istio.io/status"] = json!(
        "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"workload-socket\",\
         \"credential-socket\",\"workload-certs\",\"istio-envoy\",\"istio-data\",\"istio-podinfo\",\"istio-token\",\
         \"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"default\"}"
    );
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set,
        "uid": uid("replicaset"), "controller": true, "blockOwnerDeletion": true}]);
    let fields = |keys: &[&str]| -> Value {
        keys.iter()
            .map(|k| ((*k).to_string(), json!({})))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    meta["managedFields"] = json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2024-05-02T09:13:58Z",
         "fieldsType": "FieldsV1", "fieldsV1": {
            "f:metadata": {"f:generateName": {}, "f:labels": fields(&[".", "f:app", "f:pod-template-hash", "f:version"]),
                "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{}\"}}", uid("replicaset")): {}}},
            "f:spec": {format!("f:containers"): {format!("k:{{\"name\":\"{app}\"}}"): fields(&[".",
                "f:env", "f:image", "f:imagePullPolicy", "f:livenessProbe", "f:name", "f:ports", "f:readinessProbe",
                "f:resources", "f:securityContext", "f:terminationMessagePath", "f:terminationMessagePolicy",
                "f:volumeMounts"])},
                "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                "f:securityContext": fields(&[".", "f:fsGroup", "f:seccompProfile"]), "f:serviceAccount": {},
                "f:serviceAccountName": {}, "f:terminationGracePeriodSeconds": {}, "f:volumes": fields(&[".", "k:{\"name\":\"tmp\"}"])}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": started,
         "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": fields(&[
            "f:conditions", "f:containerStatuses", "f:hostIP", "f:hostIPs", "f:initContainerStatuses", "f:phase",
            "f:podIP", "f:podIPs", "f:startTime"])}},
    ]);

    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "lastProbeTime": null,
        "lastTransitionTime": started})
    };
    let statuses: Vec<Value> = [app.as_str(), "istio-proxy"]
        .iter()
        .map(|c| {
            let image = if *c == "istio-proxy" {
                "docker.io/istio/proxyv2:1.24.0".to_string()
            } else {
                format!("registry.example.com/{ns}/{app}")
            };
            json!({"name": c, "ready": true, "restartCount": 0, "started": true, "image": image,
                "imageID": format!("registry.example.com/{c}@sha256:{}", uid(c).replace('-', "")),
                "containerID": format!("containerd://{}", uid(c).replace('-', "")),
                "lastState": {}, "state": {"running": {"startedAt": started}}})
        })
        .collect();
    let host_ip = format!("192.168.{}.{}", node.len() % 250, 10 + node.len());
    pod["status"] = json!({
        "phase": "Running",
        "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"),
                       condition("ContainersReady"), condition("PodScheduled")],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": "2024-05-02T09:13:58Z",
        "qosClass": "Burstable",
        "initContainerStatuses": [{"name": "istio-init", "ready": true, "restartCount": 0,
            "image": "docker.io/istio/proxyv2:1.24.0", "imageID": "docker.io/istio/proxyv2@sha256:5b3ae6b4ba9bd04cc1c7d66fc4b3bbbeb6bb28ea0f83c20ad4fb25a80f3a5b7a",
            "containerID": format!("containerd://{}", uid("init").replace('-', "")),
            "started": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                "startedAt": started, "finishedAt": started,
                "containerID": format!("containerd://{}", uid("init").replace('-', ""))}}}],
        "containerStatuses": statuses,
    });
    pod
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
            shape: PodShape::Lean,
        };
        let a = generate_mesh(size);
        assert_eq!(a, generate_mesh(size));
        assert_ne!(a, generate_mesh(MeshSize { seed: 8, ..size }));
        let count = |kind: &str| a.iter().filter(|o| o["kind"] == kind).count();
        assert_eq!((count("Pod"), count("Service")), (60, 12));
        assert_eq!(count("Namespace"), 4);
    }
}

#[cfg(test)]
mod realistic_tests {
    use super::*;

    /// Realistic pods hold what the lean ones do, and their JSON is the size
    /// of a real injected pod's.
    #[test]
    fn realistic_pods_add_bytes_but_change_nothing_that_decides() {
        let size = MeshSize {
            namespaces: 2,
            services_per_namespace: 3,
            pods_per_service: 2,
            seed: 3,
            shape: PodShape::Lean,
        };
        let lean = generate_mesh(size);
        let real = generate_mesh(MeshSize {
            shape: PodShape::Realistic,
            ..size
        });
        assert_eq!(lean.len(), real.len());
        for (l, r) in lean.iter().zip(&real) {
            if l["kind"] != "Pod" {
                assert_eq!(l, r);
                continue;
            }
            for (key, value) in l["metadata"]["labels"].as_object().expect("labels") {
                assert_eq!(&r["metadata"]["labels"][key], value);
            }
            assert_eq!(
                r["metadata"]["annotations"]["sidecar.istio.io/status"]
                    .as_str()
                    .map(|s| s.starts_with(
                        "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"]"
                    )),
                Some(true)
            );
            assert_eq!(
                r["spec"]["containers"][0]["ports"],
                l["spec"]["containers"][0]["ports"]
            );
            assert_eq!(r["spec"]["containers"][1]["name"], "istio-proxy");
            assert_eq!(r["spec"]["nodeName"], l["spec"]["nodeName"]);
            let bytes = serde_json::to_vec(r).expect("JSON").len();
            assert!((10_000..=20_000).contains(&bytes), "{bytes} bytes");
        }
    }
}
