//! The snapshot that resolution works on: Kubernetes and Istio objects cut down to
//! the fields that decide mTLS, converted from their JSON form.
//!
//! Conversion is pure and lenient where Istio is lenient: a PeerAuthentication that
//! Istio's validation would reject but Istio's code still uses is kept, with its
//! problems listed; one that Istio cannot decode at all is returned as an error so
//! that the caller can report it and leave it out, as Istio does.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::mode::Mode;

pub type Labels = BTreeMap<String, String>;

/// No labels: what an object without any has.
pub static NO_LABELS: Labels = BTreeMap::new();

/// Whether a selector selects an object with these labels: every key and value
/// of the selector is among them (a label subset, as Kubernetes' and Istio's
/// selectors match). An empty selector selects everything.
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Labels from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels_of(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// [`selects`] over an object's own labels and labels added to them (the
/// own ones win where both have a key), without merging the two.
pub fn selects_with(selector: &Labels, own: &Labels, added: &Labels) -> bool {
    selector
        .iter()
        .all(|(k, v)| own.get(k).or_else(|| added.get(k)) == Some(v))
}

pub const PEER_AUTHENTICATION: &str = "PeerAuthentication";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// `namespace/name` of a namespaced object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// When an object was created, as Istio orders policies. A missing timestamp is
/// Go's zero time (the oldest possible); an object this tool is about to create
/// is newer than everything that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Created {
    Zero,
    At(jiff::Timestamp),
    Pending,
}

impl Created {
    /// Reads `metadata.creationTimestamp` (RFC 3339, as the API server writes it).
    pub fn parse(value: Option<&str>) -> Result<Created, String> {
        match value {
            None | Some("") => Ok(Created::Zero),
            Some(s) => parse_rfc3339(s)
                .map(Created::At)
                .ok_or_else(|| format!("creationTimestamp {s:?} is not an RFC 3339 time")),
        }
    }
}

/// Parses a time as the API server writes and reads `metav1.Time`
/// (docs/semantics.md §3): Go's
/// `time.RFC3339` layout, `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`. jiff does the
/// calendar; the shape is checked first, since jiff also takes forms the API
/// server refuses (a space for `T`, basic format, an offset of hours only).
fn parse_rfc3339(s: &str) -> Option<jiff::Timestamp> {
    let b = s.as_bytes();
    let shaped = s.is_ascii()
        && b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && (s.ends_with('Z') || (b[b.len() - 3] == b':' && matches!(b[b.len() - 6], b'+' | b'-')));
    if !shaped {
        return None;
    }
    s.parse().ok()
}

/// A PeerAuthentication, as Istio's composition sees it, plus the whole object so
/// that a change can write it back with every other field intact.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerAuthentication {
    pub id: ObjectRef,
    pub api_version: String,
    pub created: Created,
    /// `spec.selector.matchLabels`; empty when there is no selector or it is empty,
    /// which Istio treats alike (mesh- or namespace-wide).
    pub selector: Labels,
    /// `spec.mtls.mode`; `None` is UNSET.
    pub mode: Option<Mode>,
    /// `spec.portLevelMtls`, keyed by workload port; `None` is UNSET.
    pub port_modes: BTreeMap<u32, Option<Mode>>,
    /// What Istio's validation would reject or warn about; Istio's code still
    /// uses the policy as described in docs/semantics.md §3.
    pub problems: Vec<String>,
    pub object: Value,
}

impl PeerAuthentication {
    pub fn is_workload_policy(&self) -> bool {
        !self.selector.is_empty()
    }

    /// The ordering Istio uses to pick the oldest policy of a level
    /// (`configCompareByCreationTime`: creation time, then name, then namespace).
    pub fn age_key(&self) -> (Created, &str, &str) {
        (self.created, &self.id.name, &self.id.namespace)
    }

    /// Converts a PeerAuthentication object. An error means Istio could not decode
    /// the policy (an unknown mode, a port key that is no number) and ignores it.
    pub fn from_object(object: Value) -> Result<PeerAuthentication, String> {
        let meta = Meta::of(&object)?;
        let api_version = str_at(&object, &["apiVersion"])
            .unwrap_or_default()
            .to_string();
        let spec = object.get("spec");
        let mut problems = Vec::new();

        let selector_value = spec
            .and_then(|s| s.get("selector"))
            .filter(|v| !v.is_null());
        let selector = match selector_value.and_then(|s| s.get("matchLabels")) {
            None | Some(Value::Null) => Labels::new(),
            Some(labels) => {
                string_map(labels).map_err(|e| format!("spec.selector.matchLabels: {e}"))?
            }
        };
        if selector_value.is_some() && selector.is_empty() {
            problems.push(
                "the selector has no labels: the policy applies to the whole namespace".into(),
            );
        }
        for (key, value) in &selector {
            if key.is_empty() {
                problems.push("spec.selector.matchLabels has an empty key".into());
            }
            if key.contains('*') || value.contains('*') {
                problems.push(format!(
                    "spec.selector.matchLabels {key}={value}: wildcards are not allowed"
                ));
            }
        }

        let mode = match spec.and_then(|s| s.get("mtls")) {
            None | Some(Value::Null) => None,
            Some(mtls) => parse_mode(mtls).map_err(|e| format!("spec.mtls.mode: {e}"))?,
        };

        let mut port_modes = BTreeMap::new();
        match spec.and_then(|s| s.get("portLevelMtls")) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                if entries.is_empty() {
                    problems.push("spec.portLevelMtls is empty".into());
                }
                for (key, entry) in entries {
                    let port = parse_port_key(key).ok_or_else(|| {
                        format!("spec.portLevelMtls: key {key:?} is not a port number")
                    })?;
                    if port_modes.contains_key(&port) {
                        return Err(format!("spec.portLevelMtls: port {port} has two keys"));
                    }
                    if !(1..=65535).contains(&port) {
                        problems.push(format!(
                            "spec.portLevelMtls: port {port} is out of range 1..65535"
                        ));
                    }
                    let mode = parse_mode(entry)
                        .map_err(|e| format!("spec.portLevelMtls[{key}].mode: {e}"))?;
                    port_modes.insert(port, mode);
                }
            }
            Some(other) => {
                return Err(format!(
                    "spec.portLevelMtls: expected a map, found {}",
                    kind_of(other)
                ));
            }
        }
        if !port_modes.is_empty() && selector.is_empty() {
            problems.push("portLevelMtls requires a selector: Istio ignores it on mesh- and namespace-wide policies".into());
        }

        Ok(PeerAuthentication {
            id: meta.id,
            api_version,
            created: meta.created,
            selector,
            mode,
            port_modes,
            problems,
            object,
        })
    }
}

/// A `portLevelMtls` key as Istio's decoder reads it (docs/semantics.md §3) (protojson's map keys of
/// type uint32: Go's `strconv.ParseUint(key, 10, 32)`): decimal digits only, no
/// sign, no spaces, leading zeros allowed, at most 4294967295.
fn parse_port_key(key: &str) -> Option<u32> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match key.trim_start_matches('0') {
        "" => Some(0),
        digits if digits.len() > 10 => None,
        digits => u32::try_from(digits.parse::<u64>().ok()?).ok(),
    }
}

fn parse_mode(mtls: &Value) -> Result<Option<Mode>, String> {
    match mtls {
        Value::Object(fields) => match fields.get("mode") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Mode::parse_policy_mode(s).map_err(|e| e.to_string()),
            Some(other) => Err(format!("expected a string, found {}", kind_of(other))),
        },
        other => Err(format!(
            "expected a map with a mode, found {}",
            kind_of(other)
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPort {
    Number(u32),
    Name(String),
}

impl TargetPort {
    /// The workload port, where the Service names it by number; a named one
    /// depends on each pod.
    pub fn number(&self) -> Option<u32> {
        match self {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: String,
    pub target_port: TargetPort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: ObjectRef,
    /// `spec.selector`; `None` (or empty) selects no pods.
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    /// `clusterIP: None`: clients reach the endpoints directly (Istio's
    /// passthrough resolution).
    pub headless: bool,
}

impl Service {
    pub fn from_object(object: &Value) -> Result<Service, String> {
        let meta = Meta::of(object)?;
        let spec = object.get("spec");
        let selector = match spec.and_then(|s| s.get("selector")) {
            None | Some(Value::Null) => None,
            Some(v) => Some(string_map(v).map_err(|e| format!("spec.selector: {e}"))?)
                .filter(|s| !s.is_empty()),
        };
        let mut ports = Vec::new();
        for (i, p) in array_at(spec, "ports")?.iter().enumerate() {
            let port =
                port_number(p.get("port")).map_err(|e| format!("spec.ports[{i}].port: {e}"))?;
            let target_port = match p.get("targetPort") {
                None | Some(Value::Null) => TargetPort::Number(port.into()),
                Some(Value::String(s))
                    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() =>
                {
                    TargetPort::Number(s.parse().map_err(|_| {
                        format!("spec.ports[{i}].targetPort: {s:?} is out of range")
                    })?)
                }
                Some(Value::String(s)) => TargetPort::Name(s.clone()),
                Some(n) => TargetPort::Number(
                    port_number(Some(n))
                        .map_err(|e| format!("spec.ports[{i}].targetPort: {e}"))?
                        .into(),
                ),
            };
            ports.push(ServicePort {
                name: opt_string(p.get("name"))
                    .map_err(|e| format!("spec.ports[{i}].name: {e}"))?,
                port,
                protocol: protocol(p).map_err(|e| format!("spec.ports[{i}].protocol: {e}"))?,
                target_port,
            });
        }
        ports.sort_by_key(|p| p.port);
        Ok(Service {
            id: meta.id,
            selector,
            ports,
            headless: spec
                .and_then(|s| s.get("clusterIP"))
                .and_then(Value::as_str)
                == Some("None"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u32,
    pub protocol: String,
    /// Declared by the `istio-proxy` container: the proxy's own ports, not
    /// the application's.
    pub proxy: bool,
}

/// Where a workload's labels come from, in the order the contract prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadOrigin {
    Pod,
    /// A pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job.
    Template,
}

/// A pod, or a pod template standing in for the pods it would create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub id: ObjectRef,
    /// `Pod`, or the kind of the object holding the template.
    pub kind: String,
    pub origin: WorkloadOrigin,
    /// Shared between the pods of one template, which have the same labels
    /// (`Collector` interns them: 40,000 pods hold some 10,000 label maps).
    pub labels: std::sync::Arc<Labels>,
    /// Istio's annotations (`sidecar.istio.io/*`, `traffic.sidecar.istio.io/*`,
    /// `inject.istio.io/*`, `ambient.istio.io/*`); pods carry many others.
    /// Shared, as the labels are.
    pub annotations: std::sync::Arc<Labels>,
    /// Container ports in the order `FindPort` searches them: containers, then
    /// native-sidecar init containers (`restartPolicy: Always`).
    pub ports: Vec<ContainerPort>,
    pub container_names: Vec<String>,
    /// `spec.hostNetwork`: no sidecar is injected, no ambient capture.
    pub host_network: bool,
    /// A gateway proxy, not a sidecar: its `istio-proxy` container runs
    /// `proxy router`, or it was injected with the `gateway` template.
    pub router: bool,
    /// `spec.nodeName`, for the topology labels istiod adds from the node.
    pub node: Option<String>,
    /// The cluster its sidecar reports (`ISTIO_META_CLUSTER_ID`).
    pub proxy_cluster: Option<String>,
    /// The labels istiod adds before matching policy selectors (cluster,
    /// network, node name, region, zone): see `Snapshot::add_topology`.
    pub topology: Labels,
    /// Only the pod's metadata was read: its containers are those its
    /// `sidecar.istio.io/status` names, and its ports and node are what its
    /// EndpointSlices say (`Snapshot`'s reader completes them, or reads the
    /// pod whole where they cannot: docs/semantics.md §4.6).
    pub partial: bool,
}

/// The annotation by which Istio's injector records what it added to a pod.
pub const SIDECAR_STATUS: &str = "sidecar.istio.io/status";

/// Kinds whose `spec.template` is a pod template.
pub const TEMPLATE_KINDS: [&str; 5] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
];

impl Workload {
    pub fn from_pod(object: &Value) -> Result<Workload, String> {
        let meta = Meta::of(object)?;
        Self::build(
            meta,
            "Pod".into(),
            WorkloadOrigin::Pod,
            object,
            object.get("spec"),
            "spec",
        )
    }

    pub fn from_template(kind: &str, object: &Value) -> Result<Workload, String> {
        let meta = Meta::of(object)?;
        let template = object.get("spec").and_then(|s| s.get("template"));
        let Some(template) = template else {
            return Err("spec.template is missing".into());
        };
        Self::build(
            meta,
            kind.to_string(),
            WorkloadOrigin::Template,
            template,
            template.get("spec"),
            "spec.template.spec",
        )
    }

    fn build(
        meta: Meta,
        kind: String,
        origin: WorkloadOrigin,
        labelled: &Value,
        pod_spec: Option<&Value>,
        path: &str,
    ) -> Result<Workload, String> {
        let md = labelled.get("metadata");
        let labels = match md.and_then(|m| m.get("labels")) {
            None | Some(Value::Null) => Labels::new(),
            Some(v) => string_map(v).map_err(|e| format!("labels: {e}"))?,
        };
        let mut annotations = match md.and_then(|m| m.get("annotations")) {
            None | Some(Value::Null) => Labels::new(),
            Some(v) => string_map(v)
                .map_err(|e| format!("annotations: {e}"))?
                .into_iter()
                .filter(|(k, _)| {
                    k.split_once('/')
                        .is_some_and(|(domain, _)| domain.ends_with("istio.io"))
                })
                .collect(),
        };
        let mut router = false;
        let mut proxy_cluster = None;
        let mut ports = Vec::new();
        let mut container_names = Vec::new();
        for field in ["containers", "initContainers"] {
            for (i, c) in array_at(pod_spec, field)
                .map_err(|e| format!("{path}.{e}"))?
                .iter()
                .enumerate()
            {
                let restart_always =
                    c.get("restartPolicy").and_then(Value::as_str) == Some("Always");
                if field == "initContainers" && !restart_always {
                    continue;
                }
                if let Some(name) = c.get("name").and_then(Value::as_str) {
                    container_names.push(name.to_string());
                    // The gateway template starts the proxy as `proxy router`.
                    router |= name == "istio-proxy"
                        && c.get("args")
                            .and_then(Value::as_array)
                            .is_some_and(|args| args.iter().any(|a| a == "router"));
                    if name == "istio-proxy" {
                        proxy_cluster = env_value(c, "ISTIO_META_CLUSTER_ID");
                    }
                }
                for (j, p) in array_at(Some(c), "ports")
                    .map_err(|e| format!("{path}.{field}[{i}].{e}"))?
                    .iter()
                    .enumerate()
                {
                    let at = |e: String| format!("{path}.{field}[{i}].ports[{j}]: {e}");
                    ports.push(ContainerPort {
                        name: opt_string(p.get("name")).map_err(at)?,
                        port: port_number(p.get("containerPort")).map_err(at)?.into(),
                        protocol: protocol(p).map_err(at)?,
                        proxy: c.get("name").and_then(Value::as_str) == Some("istio-proxy"),
                    });
                }
            }
        }
        // A running pod records what it was injected with: the templates
        // and, for a pod whose spec was not read, its containers.
        let status: Option<Value> = annotations
            .get(SIDECAR_STATUS)
            .and_then(|status| serde_json::from_str(status).ok());
        let names = |key: &str| -> Vec<String> {
            status
                .as_ref()
                .and_then(|s| s[key].as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        router |= names("templates").iter().any(|t| t == "gateway");
        if pod_spec.is_none() && origin == WorkloadOrigin::Pod {
            container_names = [names("containers"), names("initContainers")].concat();
        }
        // From here on only its presence is read: its text, some hundred
        // bytes a pod, is let go.
        if let Some(text) = annotations.get_mut(SIDECAR_STATUS) {
            *text = String::new();
        }
        Ok(Workload {
            id: meta.id,
            kind,
            origin,
            labels: labels.into(),
            annotations: annotations.into(),
            ports,
            container_names,
            host_network: pod_spec
                .and_then(|s| s.get("hostNetwork"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            router,
            node: pod_spec
                .and_then(|s| s.get("nodeName"))
                .and_then(Value::as_str)
                .map(str::to_string),
            proxy_cluster,
            topology: Labels::new(),
            partial: false,
        })
    }

    /// A pod of which only the metadata was read (`PartialObjectMetadata`):
    /// its labels and Istio's annotations, and as its containers the ones
    /// the injector's `sidecar.istio.io/status` records. Its ports and node
    /// come later, from its EndpointSlices.
    pub fn from_pod_metadata(object: &Value) -> Result<Workload, String> {
        let meta = Meta::of(object)?;
        let mut workload = Self::build(
            meta,
            "Pod".into(),
            WorkloadOrigin::Pod,
            object,
            None,
            "spec",
        )?;
        workload.partial = true;
        Ok(workload)
    }

    /// Whether a PeerAuthentication `selector` selects the workload: it sees
    /// the workload's own labels and the ones istiod adds (docs/semantics.md
    /// §4); a Service's selector sees only the workload's own.
    pub fn policy_selects(&self, selector: &Labels) -> bool {
        selects_with(selector, &self.labels, &self.topology)
    }

    /// The labels a PeerAuthentication selector sees, as one map.
    pub fn policy_labels(&self) -> std::borrow::Cow<'_, Labels> {
        if self.topology.is_empty() {
            return std::borrow::Cow::Borrowed(&self.labels);
        }
        let mut labels = self.topology.clone();
        // The workload's own labels win (a pod may set its network itself).
        labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        std::borrow::Cow::Owned(labels)
    }

    /// Istio's `FindPort`: the container port a Service port's target port names,
    /// matched by name and protocol.
    pub fn find_port(&self, target: &TargetPort, protocol: &str) -> Option<u32> {
        match target {
            TargetPort::Number(n) => Some(*n),
            TargetPort::Name(name) => self
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol == protocol)
                .map(|p| p.port),
        }
    }
}

/// An EndpointSlice of a Service, cut down to the pods it names and its
/// ports: what serves a Service without a selector (docs/semantics.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSlice {
    pub id: ObjectRef,
    /// The Service, from the `kubernetes.io/service-name` label.
    pub service: String,
    /// The pods its endpoints name (`targetRef` of kind Pod), in order.
    pub pods: Vec<String>,
    /// Each of those pods' node (`nodeName`), where the endpoint says.
    pub nodes: Vec<Option<String>>,
    /// Its ports: name (as the Service port's), number, protocol.
    pub ports: Vec<ContainerPort>,
}

impl EndpointSlice {
    pub fn from_object(object: &Value) -> Result<Option<EndpointSlice>, String> {
        let meta = Meta::of(object)?;
        let labels = metadata_labels(object)?;
        let Some(service) = labels.get("kubernetes.io/service-name").cloned() else {
            return Ok(None);
        };
        let (pods, nodes) = array_at(Some(object), "endpoints")?
            .iter()
            .filter_map(|e| {
                let target = e.get("targetRef")?;
                let pod = (target.get("kind")?.as_str()? == "Pod")
                    .then(|| target.get("name")?.as_str().map(str::to_string))??;
                let node = e
                    .get("nodeName")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some((pod, node))
            })
            .unzip();
        let mut ports = Vec::new();
        for (i, p) in array_at(Some(object), "ports")?.iter().enumerate() {
            let at = |e: String| format!("ports[{i}]: {e}");
            let Some(number) = p.get("port").filter(|v| !v.is_null()) else {
                continue;
            };
            ports.push(ContainerPort {
                name: opt_string(p.get("name")).map_err(at)?,
                port: port_number(Some(number)).map_err(at)?.into(),
                protocol: protocol(p).map_err(at)?,
                proxy: false,
            });
        }
        Ok(Some(EndpointSlice {
            id: meta.id,
            service,
            pods,
            nodes,
            ports,
        }))
    }
}

/// An object's `metadata.labels`.
pub fn metadata_labels(object: &Value) -> Result<Labels, String> {
    match object.get("metadata").and_then(|m| m.get("labels")) {
        None | Some(Value::Null) => Ok(Labels::new()),
        Some(v) => string_map(v).map_err(|e| format!("metadata.labels: {e}")),
    }
}

/// The literal value of a container's environment variable.
pub fn env_value(container: &Value, name: &str) -> Option<String> {
    container
        .get("env")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
    /// Read as a Namespace object; `false` when only other objects name it,
    /// so that its labels (injection, ambient) are not known.
    pub seen: bool,
}

impl Namespace {
    /// A Namespace object: its name and labels (ambient mode is a label).
    pub fn from_object(object: &Value) -> Result<Namespace, String> {
        let name = Meta::of(object)?.id.name;
        let labels = metadata_labels(object)?;
        Ok(Namespace {
            name,
            labels,
            seen: true,
        })
    }
}

/// Name, namespace and creation time of an object.
pub struct Meta {
    pub id: ObjectRef,
    pub created: Created,
}

/// Namespace given to namespaced objects that name none, as `kubectl apply` does
/// with a kubeconfig that sets no namespace.
pub const DEFAULT_NAMESPACE: &str = "default";

impl Meta {
    pub fn of(object: &Value) -> Result<Meta, String> {
        let name = match object.get("metadata").and_then(|m| m.get("name")) {
            Some(Value::String(name)) if !name.is_empty() => name.as_str(),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                return Err("metadata.name is missing".into());
            }
            Some(other) => {
                return Err(format!(
                    "metadata.name: expected a string, found {}",
                    kind_of(other)
                ));
            }
        };
        let namespace = match object.get("metadata").and_then(|m| m.get("namespace")) {
            None | Some(Value::Null) => DEFAULT_NAMESPACE.to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => DEFAULT_NAMESPACE.to_string(),
            Some(other) => {
                return Err(format!(
                    "metadata.namespace: expected a string, found {}",
                    kind_of(other)
                ));
            }
        };
        let created = match object
            .get("metadata")
            .and_then(|m| m.get("creationTimestamp"))
        {
            None | Some(Value::Null) => Created::Zero,
            Some(Value::String(s)) => Created::parse(Some(s))?,
            Some(other) => {
                return Err(format!(
                    "metadata.creationTimestamp: expected a string, found {}",
                    kind_of(other)
                ));
            }
        };
        Ok(Meta {
            id: ObjectRef {
                namespace,
                name: name.to_string(),
            },
            created,
        })
    }
}

/// `namespace/name` of an object (namespace empty when it has none).
pub fn object_id(object: &Value) -> ObjectRef {
    ObjectRef {
        namespace: str_at(object, &["metadata", "namespace"])
            .unwrap_or_default()
            .to_string(),
        name: str_at(object, &["metadata", "name"])
            .unwrap_or_default()
            .to_string(),
    }
}

pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// `spec.selector.matchLabels` of a policy; `None` without a selector, or
/// with an empty one (both select the whole namespace).
pub fn selector_labels(spec: Option<&Value>) -> Result<Option<Labels>, String> {
    match spec
        .and_then(|s| s.get("selector"))
        .and_then(|s| s.get("matchLabels"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(labels) => {
            let labels =
                string_map(labels).map_err(|e| format!("spec.selector.matchLabels: {e}"))?;
            Ok(Some(labels).filter(|l| !l.is_empty()))
        }
    }
}

fn string_map(value: &Value) -> Result<Labels, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "expected a map of strings, found {}",
            kind_of(value)
        ));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(format!("{k}: expected a string, found {}", kind_of(other))),
        })
        .collect()
}

fn array_at<'a>(parent: Option<&'a Value>, field: &str) -> Result<&'a [Value], String> {
    match parent.and_then(|p| p.get(field)) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!(
            "{field}: expected a list, found {}",
            kind_of(other)
        )),
    }
}

fn opt_string(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("expected a string, found {}", kind_of(other))),
    }
}

fn port_number(value: Option<&Value>) -> Result<u16, String> {
    match value {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{n} is not a port number (1..65535)")),
        None | Some(Value::Null) => Err("missing".into()),
        Some(other) => Err(format!("expected a number, found {}", kind_of(other))),
    }
}

fn protocol(port: &Value) -> Result<String, String> {
    Ok(opt_string(port.get("protocol"))?.unwrap_or_else(|| "TCP".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creation_timestamps_order_like_go_times() {
        let t = |s| Created::parse(Some(s)).unwrap_or_else(|e| panic!("{e}"));
        let at = |secs, nanos| Created::At(jiff::Timestamp::new(secs, nanos).expect("in range"));
        assert_eq!(t("1970-01-01T00:00:00Z"), at(0, 0));
        assert_eq!(t("2024-02-29T12:00:00Z"), at(1_709_208_000, 0));
        assert_eq!(t("1969-12-31T23:59:59.5Z"), at(-1, 500_000_000));
        assert!(t("1969-12-31T23:59:59.25Z") < t("1969-12-31T23:59:59.5Z"));
        assert_eq!(t("2024-02-29T13:00:00+01:00"), t("2024-02-29T12:00:00Z"));
        assert_eq!(t("2024-02-29T12:00:00.5Z"), at(1_709_208_000, 500_000_000));
        assert!(t("2023-12-31T23:59:59Z") < t("2024-01-01T00:00:00Z"));
        assert!(Created::Zero < t("1970-01-01T00:00:00Z"));
        assert!(t("2999-01-01T00:00:00Z") < Created::Pending);
        assert_eq!(Created::parse(None), Ok(Created::Zero));
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00+01",
            "2024-01-01T00:00:00+aé00",
            "2024-01-01T00:00:00é",
            "2024-02-30T00:00:00Z",
        ] {
            assert!(Created::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_keys_are_read_as_istios_decoder_reads_them() {
        for (key, port) in [
            ("8080", Some(8080)),
            ("08080", Some(8080)),
            ("0", Some(0)),
            ("000", Some(0)),
            ("4294967295", Some(u32::MAX)),
            ("00004294967295", Some(u32::MAX)),
            ("4294967296", None),
            ("99999999999", None),
            ("+8080", None),
            ("-1", None),
            (" 8080", None),
            ("8080 ", None),
            ("8_080", None),
            ("0x1f90", None),
            ("８０８０", None),
            ("", None),
        ] {
            assert_eq!(parse_port_key(key), port, "{key:?}");
        }
    }

    fn pa(spec: Value) -> Result<PeerAuthentication, String> {
        PeerAuthentication::from_object(json!({
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
        }))
    }

    #[test]
    fn absent_empty_and_unset_mtls_are_all_unset() {
        for spec in [
            json!({}),
            json!({"mtls": {}}),
            json!({"mtls": {"mode": "UNSET"}}),
            json!({"mtls": null}),
        ] {
            assert_eq!(pa(spec.clone()).map(|p| p.mode), Ok(None), "{spec}");
        }
        let p =
            pa(json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"8080": {}}}))
                .expect("valid");
        assert_eq!(p.port_modes.get(&8080), Some(&None));
    }

    #[test]
    fn policies_istio_cannot_decode_are_errors() {
        for spec in [
            json!({"mtls": {"mode": "strict"}}),
            json!({"mtls": {"mode": 3}}),
            json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"http": {"mode": "STRICT"}}}),
            json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"80": {"mode": "MUTUAL"}}}),
        ] {
            assert!(pa(spec.clone()).is_err(), "{spec}");
        }
    }

    #[test]
    fn policies_istio_would_reject_but_uses_carry_their_problems() {
        let p =
            pa(json!({"mtls": {"mode": "STRICT"}, "portLevelMtls": {"80": {"mode": "DISABLE"}}}))
                .expect("decodes");
        assert_eq!(p.mode, Some(Mode::Strict));
        assert!(
            p.problems[0].starts_with("portLevelMtls requires a selector"),
            "{:?}",
            p.problems
        );
        let p = pa(json!({"selector": {}, "mtls": {"mode": "STRICT"}})).expect("decodes");
        assert!(!p.is_workload_policy());
        assert_eq!(p.problems.len(), 1);
        let p = pa(json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {}}))
            .expect("decodes");
        assert_eq!(p.problems, ["spec.portLevelMtls is empty"]);
        let p = pa(json!({"selector": {"matchLabels": {"app": "a"}}, "portLevelMtls": {"70000": {"mode": "STRICT"}}})).expect("decodes");
        assert_eq!(
            p.problems,
            ["spec.portLevelMtls: port 70000 is out of range 1..65535"]
        );
    }

    #[test]
    fn named_target_ports_resolve_by_name_and_protocol_including_native_sidecars() {
        let pod = Workload::from_pod(&json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}},
            "spec": {
                "containers": [{"name": "app", "ports": [
                    {"name": "http", "containerPort": 8080},
                    {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                ]}],
                "initContainers": [
                    {"name": "setup", "ports": [{"name": "init", "containerPort": 1}]},
                    {"name": "helper", "restartPolicy": "Always", "ports": [{"name": "metrics", "containerPort": 9090}]},
                ],
            },
        }))
        .expect("valid pod");
        let name = |n: &str| TargetPort::Name(n.into());
        assert_eq!(pod.find_port(&name("http"), "TCP"), Some(8080));
        assert_eq!(pod.find_port(&name("http"), "UDP"), None);
        assert_eq!(pod.find_port(&name("dns"), "UDP"), Some(5353));
        assert_eq!(pod.find_port(&name("metrics"), "TCP"), Some(9090));
        assert_eq!(pod.find_port(&name("init"), "TCP"), None);
        assert_eq!(pod.find_port(&TargetPort::Number(7), "TCP"), Some(7));
    }

    #[test]
    fn service_ports_default_target_port_to_port() {
        let svc = Service::from_object(&json!({
            "metadata": {"name": "s"},
            "spec": {"selector": {"app": "a"}, "ports": [
                {"name": "web", "port": 80, "targetPort": "http"},
                {"port": 9080},
                {"port": 81, "targetPort": 8081},
                {"port": 82, "targetPort": "8082"},
            ]},
        }))
        .expect("valid service");
        assert_eq!(svc.id.namespace, "default");
        let targets: Vec<_> = svc
            .ports
            .iter()
            .map(|p| (p.port, p.target_port.clone()))
            .collect();
        assert_eq!(
            targets,
            [
                (80, TargetPort::Name("http".into())),
                (81, TargetPort::Number(8081)),
                (82, TargetPort::Number(8082)),
                (9080, TargetPort::Number(9080)),
            ]
        );
    }
}

/// A DestinationRule's client-side TLS mode (`ClientTLSSettings.TLSmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsMode {
    /// Plaintext.
    Disable,
    /// One-way TLS: no client certificate.
    Simple,
    /// Mutual TLS with certificates the rule names.
    Mutual,
    /// Mutual TLS with Istio's certificates.
    IstioMutual,
}

impl serde::Serialize for TlsMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "DISABLE",
            TlsMode::Simple => "SIMPLE",
            TlsMode::Mutual => "MUTUAL",
            TlsMode::IstioMutual => "ISTIO_MUTUAL",
        }
    }

    pub fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "DISABLE" => Some(TlsMode::Disable),
            "SIMPLE" => Some(TlsMode::Simple),
            "MUTUAL" => Some(TlsMode::Mutual),
            "ISTIO_MUTUAL" => Some(TlsMode::IstioMutual),
            _ => None,
        }
    }
}

/// What decides the TLS a client sends under one traffic policy, or one of
/// its port-level entries (docs/semantics.md §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    /// `tls.mode`; a `tls` block without a mode is DISABLE (the enum's zero
    /// value). `None`: no `tls` at all, so auto mTLS decides.
    pub tls: Option<TlsMode>,
    /// `loadBalancer`: `Some(true)` for `simple: PASSTHROUGH`, `Some(false)`
    /// for any other load balancer, `None` when absent.
    pub passthrough: Option<bool>,
}

/// TLS settings of a traffic policy: for all ports, and per destination (Service)
/// port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    pub top: Settings,
    /// `portLevelSettings`, each of which replaces the whole policy for its
    /// port: an entry without `tls` means no TLS setting there.
    pub ports: BTreeMap<u16, Settings>,
}

impl TlsPolicy {
    fn from_traffic_policy(policy: Option<&Value>) -> TlsPolicy {
        let Some(policy) = policy else {
            return TlsPolicy::default();
        };
        let ports = policy
            .get("portLevelSettings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let port = u16::try_from(s.get("port")?.get("number")?.as_u64()?).ok()?;
                Some((port, Settings::of(s)))
            })
            .collect();
        TlsPolicy {
            top: Settings::of(policy),
            ports,
        }
    }

    /// The settings for a Service port: a port-level entry replaces the
    /// policy's whole (Istio's `MergeTrafficPolicy` with port-level settings).
    pub fn for_port(&self, port: u16) -> Settings {
        self.ports.get(&port).copied().unwrap_or(self.top)
    }

    /// The settings a subset's policy gives a port over the rule's `base`:
    /// its port-level entry for the port replaces them whole; else each of
    /// its fields that is set overrides (Istio's `MergeSubsetTrafficPolicy`).
    pub fn over(&self, base: Settings, port: u16) -> Settings {
        match self.ports.get(&port) {
            Some(entry) => *entry,
            None => Settings {
                tls: self.top.tls.or(base.tls),
                passthrough: self.top.passthrough.or(base.passthrough),
            },
        }
    }
}

impl Settings {
    /// The settings of a traffic policy or a port-level entry.
    fn of(policy: &Value) -> Settings {
        let tls = match policy.get("tls") {
            None | Some(Value::Null) => None,
            Some(tls) => match tls.get("mode") {
                None | Some(Value::Null) => Some(TlsMode::Disable),
                Some(mode) => mode.as_str().and_then(TlsMode::parse),
            },
        };
        let passthrough = match policy.get("loadBalancer") {
            None | Some(Value::Null) => None,
            Some(lb) => Some(lb.get("simple").and_then(Value::as_str) == Some("PASSTHROUGH")),
        };
        Settings { tls, passthrough }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subset {
    pub name: String,
    pub labels: Labels,
    pub traffic: TlsPolicy,
}

/// A DestinationRule, cut down to what decides the TLS a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRule {
    pub id: ObjectRef,
    pub created: Created,
    pub host: String,
    pub export_to: Vec<String>,
    pub workload_selector: Option<Labels>,
    /// `spec.trafficPolicy`'s TLS; `None` when the rule has no traffic policy at
    /// all (when rules merge, the first one that has one wins it whole).
    pub traffic: Option<TlsPolicy>,
    pub subsets: Vec<Subset>,
}

impl DestinationRule {
    pub fn from_object(object: &Value) -> Result<DestinationRule, String> {
        let meta = Meta::of(object)?;
        let spec = object.get("spec");
        let host = spec
            .and_then(|s| s.get("host"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let export_to = spec
            .and_then(|s| s.get("exportTo"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let workload_selector = match spec
            .and_then(|s| s.get("workloadSelector"))
            .and_then(|w| w.get("matchLabels"))
        {
            Some(labels) if !labels.is_null() => Some(string_map(labels)?),
            _ => None,
        };
        let subsets = array_at(spec, "subsets")?
            .iter()
            .map(|s| {
                Ok(Subset {
                    name: s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    labels: match s.get("labels") {
                        Some(l) if !l.is_null() => string_map(l)?,
                        _ => Labels::new(),
                    },
                    traffic: TlsPolicy::from_traffic_policy(s.get("trafficPolicy")),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(DestinationRule {
            id: meta.id,
            created: meta.created,
            host,
            export_to,
            workload_selector,
            traffic: spec
                .and_then(|s| s.get("trafficPolicy"))
                .filter(|t| !t.is_null())
                .map(|t| TlsPolicy::from_traffic_policy(Some(t))),
            subsets,
        })
    }
}

pub const LEGACY_API_VERSION: &str = "authentication.istio.io/v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LegacyKind {
    /// Cluster-scoped; the one named `default` is mesh-wide.
    MeshPolicy,
    /// Namespaced: `default` without targets is namespace-wide; with targets it
    /// applies to those Services (and ports).
    Policy,
}

impl LegacyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyKind::MeshPolicy => "MeshPolicy",
            LegacyKind::Policy => "Policy",
        }
    }
}

/// A Service port a legacy policy names: `{number: N}` or `{name: P}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyPort {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTarget {
    pub name: String,
    pub ports: Vec<LegacyPort>,
}

/// A legacy `authentication.istio.io/v1alpha1` policy (Istio 1.5 and earlier).
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyPolicy {
    pub kind: LegacyKind,
    /// A MeshPolicy's namespace is empty.
    pub id: ObjectRef,
    pub created: Created,
    pub targets: Vec<LegacyTarget>,
    /// The mode of its first mtls peer: `mtls: {}` (or null) is STRICT, `mode:
    /// PERMISSIVE` PERMISSIVE; no mtls peer is DISABLE.
    pub mode: Mode,
    pub object: Value,
}

impl LegacyPolicy {
    pub fn from_object(kind: LegacyKind, object: Value) -> Result<LegacyPolicy, String> {
        let meta = Meta::of(&object)?;
        let id = match kind {
            LegacyKind::MeshPolicy => ObjectRef {
                namespace: String::new(),
                name: meta.id.name,
            },
            LegacyKind::Policy => meta.id,
        };
        let spec = object.get("spec");
        let mut targets = Vec::new();
        for (i, t) in array_at(spec, "targets")?.iter().enumerate() {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                return Err(format!("spec.targets[{i}].name is missing"));
            }
            let mut ports = Vec::new();
            for p in array_at(Some(t), "ports").map_err(|e| format!("spec.targets[{i}].{e}"))? {
                match (
                    p.get("number").and_then(Value::as_u64),
                    p.get("name").and_then(Value::as_str),
                ) {
                    (Some(n), _) => ports
                        .push(LegacyPort::Number(u16::try_from(n).map_err(|_| {
                            format!("spec.targets[{i}]: port {n} is out of range")
                        })?)),
                    (None, Some(name)) => ports.push(LegacyPort::Name(name.to_string())),
                    (None, None) => {
                        return Err(format!(
                            "spec.targets[{i}].ports: a port needs a number or a name"
                        ));
                    }
                }
            }
            targets.push(LegacyTarget { name, ports });
        }
        let mut mode = Mode::Disable;
        for peer in array_at(spec, "peers")? {
            if let Some(mtls) = peer.as_object().and_then(|p| p.get("mtls")) {
                mode = match mtls.get("mode").and_then(Value::as_str) {
                    None | Some("STRICT") => Mode::Strict,
                    Some("PERMISSIVE") => Mode::Permissive,
                    Some(other) => return Err(format!("spec.peers: unknown mtls mode {other:?}")),
                };
                break;
            }
        }
        Ok(LegacyPolicy {
            kind,
            id,
            created: meta.created,
            targets,
            mode,
            object,
        })
    }

    /// `kind NS/NAME`, or `meshpolicy NAME`.
    pub fn display(&self) -> String {
        match self.kind {
            LegacyKind::MeshPolicy => format!("meshpolicy {}", self.id.name),
            LegacyKind::Policy => format!("policy {}", self.id),
        }
    }
}
