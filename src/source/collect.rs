//! Turning Kubernetes objects — from manifests or from the API server — into a
//! [`Snapshot`]. Both sources feed the same collector, so that a tree of manifests
//! and the cluster it was applied to resolve alike.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::policy::authz::AuthorizationPolicy;
use crate::policy::model::{
    ContainerPort, LegacyKind, Meta, TEMPLATE_KINDS, TargetPort, env_value, metadata_labels,
    selects,
};
use crate::policy::resolve::WorkloadIndex;
use crate::policy::{
    DEFAULT_ROOT_NAMESPACE, DestinationRule, EndpointSlice, IstioApi, Labels, LegacyPolicy,
    Namespace, ObjectRef, PeerAuthentication, Service, SkippedPolicy, Snapshot, Workload,
};
use crate::source::Api;

/// A loaded snapshot, with the warnings the input deserves.
pub struct Loaded {
    pub snapshot: Snapshot,
    pub warnings: Vec<String>,
    /// How many objects of the kinds `mtls` reads were kept: none means the
    /// input held nothing to judge, which is no "all clear".
    pub objects: usize,
    /// Whether the root namespace appears in the input: a Namespace object, or
    /// an object in it.
    pub root_seen: bool,
}

/// Options that decide how the objects are read.
pub struct LoadOptions<'a> {
    pub root_namespace: Option<&'a str>,
    pub api: Api,
}

/// Builds a snapshot from objects, whatever they were read from.
pub struct Collector {
    /// The most objects kept: [`MAX_OBJECTS`].
    limit: usize,
    policies: BTreeMap<(String, String), (PeerAuthentication, String)>,
    skipped: Vec<SkippedPolicy>,
    services: BTreeMap<(String, String), Service>,
    pods: Vec<Workload>,
    templates: Vec<Workload>,
    destination_rules: Vec<DestinationRule>,
    authorization_policies: Vec<AuthorizationPolicy>,
    endpoint_slices: Vec<EndpointSlice>,
    legacy_policies: Vec<LegacyPolicy>,
    namespaces: BTreeMap<String, Namespace>,
    /// ConfigMaps `istio` and `istio-<revision>`, per (namespace, name).
    mesh_configs: BTreeMap<(String, String), Value>,
    /// Where istiod runs: Deployments labelled `app=istiod`.
    control_planes: Vec<ControlPlane>,
    /// Node labels, per node name.
    nodes: BTreeMap<String, Labels>,
    warnings: Vec<String>,
    /// Where the objects being added come from: a manifest's file and the
    /// line of the document.
    origin: Option<(String, usize)>,
    origins: BTreeMap<String, (String, usize)>,
    ignores: BTreeMap<String, Vec<String>>,
    /// The label and annotation maps of the pods so far, each held once.
    label_sets: HashSet<Arc<Labels>>,
}

/// An istiod Deployment: where it runs, which revision, which cluster name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ControlPlane {
    namespace: String,
    /// `istio.io/rev`; `None` or `default` is the default revision.
    revision: Option<String>,
    /// Its `discovery` container's `CLUSTER_ID`.
    cluster_id: Option<String>,
}

impl ControlPlane {
    fn from_deployment(object: &Value) -> Option<ControlPlane> {
        let labels = &object["metadata"]["labels"];
        if labels["app"] != "istiod" {
            return None;
        }
        let discovery = object["spec"]["template"]["spec"]["containers"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == "discovery");
        Some(ControlPlane {
            namespace: object["metadata"]["namespace"].as_str()?.to_string(),
            revision: labels["istio.io/rev"]
                .as_str()
                .filter(|r| *r != "default")
                .map(str::to_string),
            cluster_id: discovery.and_then(|c| env_value(c, "CLUSTER_ID")),
        })
    }
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            limit: MAX_OBJECTS,
            policies: BTreeMap::new(),
            skipped: Vec::new(),
            services: BTreeMap::new(),
            pods: Vec::new(),
            templates: Vec::new(),
            destination_rules: Vec::new(),
            authorization_policies: Vec::new(),
            endpoint_slices: Vec::new(),
            legacy_policies: Vec::new(),
            namespaces: BTreeMap::new(),
            mesh_configs: BTreeMap::new(),
            control_planes: Vec::new(),
            nodes: BTreeMap::new(),
            warnings: Vec::new(),
            origin: None,
            origins: BTreeMap::new(),
            ignores: BTreeMap::new(),
            label_sets: HashSet::new(),
        }
    }
}

impl Collector {
    /// Adds one object (a `kind: List` adds its items). `place` says where it came
    /// from, for warnings.
    pub fn add(&mut self, value: Value, place: &dyn std::fmt::Display) -> anyhow::Result<()> {
        if value.is_null() {
            return Ok(());
        }
        let (api_version, kind) = identity(&value)?;
        self.add_object(value, &api_version, &kind, place)?;
        if self.len() > self.limit {
            return Err(too_many(self.limit));
        }
        Ok(())
    }

    fn add_object(
        &mut self,
        mut value: Value,
        api_version: &str,
        kind: &str,
        place: &dyn std::fmt::Display,
    ) -> anyhow::Result<()> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        if matches!(
            (group, kind),
            (
                "security.istio.io",
                "PeerAuthentication" | "AuthorizationPolicy"
            ) | ("networking.istio.io", "DestinationRule")
                | ("authentication.istio.io", "Policy" | "MeshPolicy")
        ) {
            self.note_object(&value, kind);
        }
        match (group, kind) {
            _ if is_list(api_version, kind) => {
                let items = match value.get_mut("items").map(Value::take) {
                    Some(Value::Array(items)) => items,
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => bail!("items must be a list, found {}", short(&other)),
                };
                for (i, item) in items.into_iter().enumerate() {
                    let place = format!("{place}, item {}", i + 1);
                    self.add(item, &place)
                        .with_context(|| format!("item {}", i + 1))?;
                }
            }
            ("security.istio.io", "PeerAuthentication")
                if matches!(
                    api_version,
                    "security.istio.io/v1" | "security.istio.io/v1beta1"
                ) =>
            {
                self.add_peer_authentication(value, place)?;
            }
            ("security.istio.io", "AuthorizationPolicy")
                if matches!(
                    api_version,
                    "security.istio.io/v1" | "security.istio.io/v1beta1"
                ) =>
            {
                match AuthorizationPolicy::from_object(&value) {
                    Ok(policy) => self.authorization_policies.push(policy),
                    // istiod ignores it too ("unsupported action").
                    Err(why) => self.warnings.push(format!(
                        "{place}: authorizationpolicy {} is ignored, as istiod ignores it: {why}",
                        identity(&value)
                            .map(|(ns, name)| format!("{ns}/{name}"))
                            .unwrap_or_default()
                    )),
                }
            }
            ("networking.istio.io", "DestinationRule") => {
                self.destination_rules
                    .push(DestinationRule::from_object(&value).map_err(anyhow::Error::msg)?);
            }
            ("authentication.istio.io", kind @ ("Policy" | "MeshPolicy")) => {
                let kind = if kind == "MeshPolicy" {
                    LegacyKind::MeshPolicy
                } else {
                    LegacyKind::Policy
                };
                self.add_legacy_policy(kind, value, place)?;
            }
            ("", "Service") => {
                let service = Service::from_object(&value).map_err(anyhow::Error::msg)?;
                self.services.insert(
                    (service.id.namespace.clone(), service.id.name.clone()),
                    service,
                );
            }
            ("", "Pod") => {
                let pod = Workload::from_pod(&value).map_err(anyhow::Error::msg)?;
                let pod = self.sharing_labels(pod);
                self.pods.push(pod);
            }
            ("apps" | "batch", kind) if TEMPLATE_KINDS.contains(&kind) => {
                if kind == "ReplicaSet" && owned_by_deployment(&value) {
                    return Ok(());
                }
                if kind == "Deployment"
                    && let Some(control_plane) = ControlPlane::from_deployment(&value)
                {
                    self.control_planes.push(control_plane);
                }
                self.templates
                    .push(Workload::from_template(kind, &value).map_err(anyhow::Error::msg)?);
            }
            ("", "Namespace") => {
                let namespace = Namespace::from_object(&value).map_err(anyhow::Error::msg)?;
                self.namespaces.insert(namespace.name.clone(), namespace);
            }
            ("", "ConfigMap") => {
                let meta = Meta::of(&value).map_err(anyhow::Error::msg)?;
                let name = &meta.id.name;
                if (name == "istio" || name.starts_with("istio-"))
                    && value["data"].get("mesh").is_some()
                {
                    self.mesh_configs
                        .insert((meta.id.namespace, meta.id.name), value);
                }
            }
            ("discovery.k8s.io", "EndpointSlice") => {
                if let Some(slice) =
                    EndpointSlice::from_object(&value).map_err(anyhow::Error::msg)?
                {
                    self.endpoint_slices.push(slice);
                }
            }
            ("", "Node") => {
                let meta = Meta::of(&value).map_err(anyhow::Error::msg)?;
                let labels = metadata_labels(&value).map_err(anyhow::Error::msg)?;
                self.nodes.insert(meta.id.name, labels);
            }
            _ => {}
        }
        Ok(())
    }

    /// A PeerAuthentication; one Istio cannot decode is skipped, as Istio
    /// skips it, with a warning (docs/semantics.md §3).
    fn add_peer_authentication(
        &mut self,
        value: Value,
        place: &dyn std::fmt::Display,
    ) -> anyhow::Result<()> {
        let meta = Meta::of(&value).map_err(anyhow::Error::msg)?;
        match PeerAuthentication::from_object(value) {
            Ok(policy) => self.keep_policy(policy, place.to_string()),
            Err(reason) => {
                self.warnings.push(format!(
                    "peerauthentication {} ({place}) is ignored, as Istio ignores it: {reason}",
                    meta.id
                ));
                self.skipped.push(SkippedPolicy {
                    id: meta.id,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// A MeshPolicy or Policy of the legacy API; one Istio cannot decode is
    /// skipped with a warning.
    fn add_legacy_policy(
        &mut self,
        kind: LegacyKind,
        value: Value,
        place: &dyn std::fmt::Display,
    ) -> anyhow::Result<()> {
        let meta = Meta::of(&value).map_err(anyhow::Error::msg)?;
        match LegacyPolicy::from_object(kind, value) {
            Ok(policy) => self.legacy_policies.push(policy),
            Err(reason) => self.warnings.push(format!(
                "{} {} ({place}) is ignored, as Istio ignores it: {reason}",
                kind.as_str().to_lowercase(),
                meta.id
            )),
        }
        Ok(())
    }

    /// Keeps a PeerAuthentication read at `place`; a second one of the same
    /// name replaces the first, as the last `kubectl apply` would, with a warning.
    fn keep_policy(&mut self, policy: PeerAuthentication, place: String) {
        let key = (policy.id.namespace.clone(), policy.id.name.clone());
        if let Some((_, first)) = self.policies.get(&key) {
            self.warnings.push(format!(
                "peerauthentication {} is defined twice ({first} and {place}); using the last",
                policy.id
            ));
        }
        self.policies.insert(key, (policy, place));
    }

    /// How many objects are kept.
    pub fn len(&self) -> usize {
        self.policies.len()
            + self.skipped.len()
            + self.services.len()
            + self.pods.len()
            + self.templates.len()
            + self.destination_rules.len()
            + self.authorization_policies.len()
            + self.endpoint_slices.len()
            + self.legacy_policies.len()
            + self.namespaces.len()
            + self.mesh_configs.len()
            + self.nodes.len()
    }

    /// Whether no object is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes in what another collector collected after this one's objects, as if
    /// they had been added here: a list's items are collected apart until the
    /// list's kind is known.
    pub fn absorb(&mut self, other: Collector) -> anyhow::Result<()> {
        if self.len() + other.len() > self.limit {
            return Err(too_many(self.limit));
        }
        self.warnings.extend(other.warnings);
        for (policy, place) in other.policies.into_values() {
            self.keep_policy(policy, place);
        }
        self.skipped.extend(other.skipped);
        self.services.extend(other.services);
        self.pods.extend(other.pods);
        self.templates.extend(other.templates);
        self.destination_rules.extend(other.destination_rules);
        self.authorization_policies
            .extend(other.authorization_policies);
        self.endpoint_slices.extend(other.endpoint_slices);
        self.legacy_policies.extend(other.legacy_policies);
        self.namespaces.extend(other.namespaces);
        self.mesh_configs.extend(other.mesh_configs);
        self.control_planes.extend(other.control_planes);
        self.nodes.extend(other.nodes);
        self.origins.extend(other.origins);
        self.ignores.extend(other.ignores);
        self.label_sets.extend(other.label_sets);
        Ok(())
    }

    /// Whether a Service with a selector has no pod among those collected, so
    /// that pod templates must stand in.
    pub fn has_service_without_pods(&self) -> bool {
        let pods = WorkloadIndex::new(&self.pods, false);
        self.services.values().any(|svc| {
            svc.selector
                .as_ref()
                .is_some_and(|selector| pods.select(&svc.id.namespace, selector).is_empty())
        })
    }

    /// The root namespace the mesh config names, or Istio's default.
    pub fn root_namespace(&self) -> anyhow::Result<String> {
        root_namespace_from(&self.mesh_configs, &self.control_planes)
    }

    /// The objects added from now on come from `origin` (a manifest's file
    /// and line); `None` for a server's.
    pub fn at(&mut self, origin: Option<(String, usize)>) {
        self.origin = origin;
    }

    /// Records where an object findings may name came from, and the codes
    /// its annotation accepts.
    fn note_object(&mut self, object: &Value, kind: &str) {
        let Ok(meta) = Meta::of(object) else {
            return;
        };
        let key = match kind {
            "MeshPolicy" => format!("meshpolicy {}", meta.id.name),
            _ => format!("{} {}", kind.to_lowercase(), meta.id),
        };
        if let Some(origin) = &self.origin {
            self.origins.insert(key.clone(), origin.clone());
        }
        if let Some(codes) =
            object["metadata"]["annotations"][crate::policy::IGNORE_ANNOTATION].as_str()
        {
            let codes: Vec<String> = codes
                .split(',')
                .map(|c| c.trim().to_uppercase())
                .filter(|c| !c.is_empty())
                .collect();
            self.ignores.insert(key, codes);
        }
    }

    /// A warning about what was read, for the user.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Whether a pod or pod template `namespace/name` was collected.
    pub fn has_workload(&self, namespace: &str, name: &str) -> bool {
        self.pods
            .iter()
            .chain(&self.templates)
            .any(|w| w.id.namespace == namespace && w.id.name == name)
    }

    /// Whether the Namespace object `name` was collected.
    pub fn has_namespace(&self, name: &str) -> bool {
        self.namespaces.contains_key(name)
    }

    /// Whether a Service without a selector was collected: its EndpointSlices
    /// say which pods serve it.
    pub fn has_service_without_selector(&self) -> bool {
        self.services.values().any(|s| s.selector.is_none())
    }

    /// Adds a pod of which only the metadata was read
    /// (`PartialObjectMetadata`): [`Collector::complete_partial_pods`]
    /// then completes it from its EndpointSlices.
    pub fn add_pod_metadata(&mut self, value: Value) -> anyhow::Result<()> {
        let pod = Workload::from_pod_metadata(&value).map_err(anyhow::Error::msg)?;
        let pod = self.sharing_labels(pod);
        self.pods.push(pod);
        if self.len() > self.limit {
            return Err(too_many(self.limit));
        }
        Ok(())
    }

    /// Completes the pods of which only the metadata was read from the
    /// EndpointSlices of the Services that select them — the number each
    /// resolves a named target port to, its node — and names those whose
    /// spec must still be read (docs/semantics.md §4.6). Such pods carry the
    /// injector's label, so they run a sidecar; what the metadata cannot say:
    /// - which number a named target port is on a pod that a Service with
    ///   one selects but no slice of it names (no IP yet);
    /// - anything, for a pod without the injector's `sidecar.istio.io/status`
    ///   (a sidecar added by hand, perhaps a gateway's);
    /// - its cluster and node, where a policy selects by topology labels.
    ///
    /// The slices of Services with a selector are then let go: only those of
    /// Services without one decide anything further.
    pub fn complete_partial_pods(&mut self) -> Vec<ObjectRef> {
        let mut partial: HashMap<(String, String), usize> = HashMap::new();
        for (i, pod) in self.pods.iter().enumerate() {
            if pod.partial {
                partial.insert((pod.id.namespace.clone(), pod.id.name.clone()), i);
            }
        }
        let mut sliced: HashSet<(String, String, usize)> = HashSet::new();
        for slice in &self.endpoint_slices {
            let ns = &slice.id.namespace;
            let Some(service) = self
                .services
                .get(&(ns.clone(), slice.service.clone()))
                .filter(|s| s.selector.is_some())
            else {
                continue;
            };
            for (at, name) in slice.pods.iter().enumerate() {
                let Some(&i) = partial.get(&(ns.clone(), name.clone())) else {
                    continue;
                };
                sliced.insert((ns.clone(), slice.service.clone(), i));
                let pod = &mut self.pods[i];
                if pod.node.is_none() {
                    pod.node = slice.nodes.get(at).cloned().flatten();
                }
                for number in &slice.ports {
                    let named = service.ports.iter().find_map(|sp| match &sp.target_port {
                        TargetPort::Name(n)
                            if sp.name == number.name && sp.protocol == number.protocol =>
                        {
                            Some(n)
                        }
                        _ => None,
                    });
                    let Some(name) = named else { continue };
                    let port = ContainerPort {
                        name: Some(name.clone()),
                        port: number.port,
                        protocol: number.protocol.clone(),
                        proxy: false,
                    };
                    if !pod.ports.contains(&port) {
                        pod.ports.push(port);
                    }
                }
            }
        }
        let by_topology = self.policies.values().any(|(p, _)| {
            p.selector
                .keys()
                .any(|k| k.starts_with("topology.") || k == crate::policy::HOSTNAME_LABEL)
        });
        // The Services with a selector and a named target port, by namespace.
        let mut named: HashMap<&str, Vec<&Service>> = HashMap::new();
        for svc in self.services.values() {
            if svc.selector.is_some()
                && svc
                    .ports
                    .iter()
                    .any(|p| matches!(p.target_port, TargetPort::Name(_)))
            {
                named
                    .entry(svc.id.namespace.as_str())
                    .or_default()
                    .push(svc);
            }
        }
        let mut needed = Vec::new();
        for ((ns, _), &i) in &partial {
            let pod = &self.pods[i];
            let unsliced = named.get(ns.as_str()).is_some_and(|services| {
                services.iter().any(|svc| {
                    svc.selector
                        .as_ref()
                        .is_some_and(|s| selects(s, &pod.labels))
                        && !sliced.contains(&(ns.clone(), svc.id.name.clone(), i))
                })
            });
            let injected = pod.annotations.contains_key("sidecar.istio.io/status");
            if unsliced || !injected || by_topology {
                needed.push(pod.id.clone());
            }
        }
        needed.sort();
        let services = &self.services;
        self.endpoint_slices.retain(|slice| {
            services
                .get(&(slice.id.namespace.clone(), slice.service.clone()))
                .is_none_or(|s| s.selector.is_none())
        });
        needed
    }

    /// `pod` with the labels and annotations of earlier pods that have the
    /// same, as the pods of one template do: one map for them all.
    fn sharing_labels(&mut self, mut pod: Workload) -> Workload {
        for map in [&mut pod.labels, &mut pod.annotations] {
            match self.label_sets.get(&**map) {
                Some(shared) => *map = Arc::clone(shared),
                None => {
                    self.label_sets.insert(Arc::clone(map));
                }
            }
        }
        pod
    }

    /// Puts a pod read whole in the place of its metadata.
    pub fn replace_pod(&mut self, value: Value) -> anyhow::Result<()> {
        let pod = Workload::from_pod(&value).map_err(anyhow::Error::msg)?;
        let pod = self.sharing_labels(pod);
        self.pods.retain(|p| p.id != pod.id);
        self.pods.push(pod);
        Ok(())
    }

    /// Forgets a pod of which only the metadata was read (gone since).
    pub fn forget_pod(&mut self, id: &ObjectRef) {
        self.pods.retain(|p| &p.id != id);
    }

    /// Forgets every pod of which only the metadata was read, for the pods
    /// read whole to take their place.
    pub fn forget_partial_pods(&mut self) {
        self.pods.retain(|p| !p.partial);
    }

    /// Whether a collected EndpointSlice names pods.
    pub fn slices_name_pods(&self) -> bool {
        self.endpoint_slices.iter().any(|s| !s.pods.is_empty())
    }

    /// The root namespaces of the control plane revisions, from the mesh
    /// configs collected: their policies decide the pods of those revisions.
    pub fn revision_root_namespaces(&self) -> Vec<String> {
        let mut roots: Vec<String> = revision_roots(&self.mesh_configs, &self.control_planes)
            .into_values()
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }

    /// Whether a mesh config was collected (else the control plane runs
    /// outside the namespaces read).
    pub fn has_mesh_config(&self) -> bool {
        !self.mesh_configs.is_empty()
    }

    /// Whether some policy selects by a label istiod takes from the node.
    pub fn selects_by_node(&self) -> bool {
        self.policies.values().any(|(p, _)| {
            p.selector.keys().any(|k| {
                k == crate::policy::HOSTNAME_LABEL
                    || crate::policy::NODE_TOPOLOGY_LABELS.contains(&k.as_str())
            })
        })
    }

    /// The snapshot, with the warnings its objects deserve.
    pub fn finish(self, options: &LoadOptions<'_>) -> anyhow::Result<Loaded> {
        let objects = self.len();
        let mut warnings = self.warnings;
        let root = match options.root_namespace {
            Some(root) => root.to_string(),
            None => root_namespace_from(&self.mesh_configs, &self.control_planes)?,
        };
        let mut snapshot = Snapshot::new(root);
        snapshot.policies = self.policies.into_values().map(|(p, _)| p).collect();
        snapshot.skipped_policies = self.skipped;
        snapshot.services = self.services.into_values().collect();
        snapshot.pods = self.pods;
        snapshot.templates = self.templates;
        snapshot.destination_rules = self.destination_rules;
        snapshot.authorization_policies = self.authorization_policies;
        snapshot.endpoint_slices = self.endpoint_slices;
        snapshot.legacy_policies = self.legacy_policies;
        snapshot.namespaces = self.namespaces;
        snapshot.nodes = self.nodes;
        snapshot.origins = self.origins;
        snapshot.ignores = self.ignores;
        snapshot.revision_roots = revision_roots(&self.mesh_configs, &self.control_planes);
        snapshot.cluster_id =
            default_control_plane(&self.control_planes).and_then(|c| c.cluster_id.clone());
        let root_seen = snapshot.namespaces.contains_key(&snapshot.root_namespace)
            || snapshot
                .object_namespaces()
                .any(|ns| ns == snapshot.root_namespace);
        snapshot.note_namespaces();
        let legacy_policies = !snapshot.legacy_policies.is_empty();
        snapshot.api = match options.api {
            Api::V1 => IstioApi::PeerAuthentication("security.istio.io/v1".into()),
            Api::V1beta1 => IstioApi::PeerAuthentication("security.istio.io/v1beta1".into()),
            Api::Legacy => IstioApi::Legacy,
            // Only legacy policies: an Istio of 1.5 or older.
            Api::Auto if snapshot.policies.is_empty() && legacy_policies => IstioApi::Legacy,
            Api::Auto => {
                let all_beta = !snapshot.policies.is_empty()
                    && snapshot
                        .policies
                        .iter()
                        .all(|p| p.api_version == "security.istio.io/v1beta1");
                let version = if all_beta {
                    "security.istio.io/v1beta1"
                } else {
                    "security.istio.io/v1"
                };
                // Both APIs in the input: Istio 1.5, where legacy policies
                // still decide the workloads no PeerAuthentication applies to.
                if legacy_policies {
                    IstioApi::Mixed(version.into())
                } else {
                    IstioApi::PeerAuthentication(version.into())
                }
            }
        };
        for policy in &snapshot.policies {
            for problem in &policy.problems {
                warnings.push(format!(
                    "peerauthentication {}: {problem} (Istio's validation rejects this)",
                    policy.id
                ));
            }
        }
        // The labels istiod adds matter only to selectors that use them; a
        // copy per pod otherwise costs memory and decides nothing (at 40,000
        // pods, 22 MB).
        if snapshot.selects_by_topology() {
            snapshot.add_topology();
        }
        Ok(Loaded {
            snapshot,
            warnings,
            objects,
            root_seen,
        })
    }
}

/// The most objects of the kinds `mtls` keeps (Pods, Services, policies, ...)
/// that one snapshot may hold, so that memory stays bounded whatever the input
/// or the server sends: over three times the 150,000 pods Kubernetes supports in
/// a cluster, at about 3.5 KB each (docs/performance.md).
pub const MAX_OBJECTS: usize = 500_000;

fn too_many(limit: usize) -> anyhow::Error {
    anyhow::anyhow!(
        "more than {} objects of the kinds mtls reads; that is its limit",
        crate::text::thousands(limit as u64)
    )
}

/// An object's `apiVersion` and `kind`, or why it is not a Kubernetes object.
pub fn identity(value: &Value) -> anyhow::Result<(String, String)> {
    let Value::Object(_) = value else {
        bail!(
            "expected a Kubernetes object (a map), found {}",
            short(value)
        );
    };
    let api_version = match value.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) if !other.is_null() => {
            bail!("apiVersion must be a string, found {}", short(other))
        }
        _ => bail!("the object has no apiVersion"),
    };
    let kind = match value.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) if !other.is_null() => {
            bail!("kind must be a string, found {}", short(other))
        }
        _ => bail!("the object has no kind"),
    };
    Ok((api_version, kind))
}

/// Whether objects of this kind are lists whose `items` are objects: `List`,
/// and the typed lists the API server answers a LIST with (`PodList`,
/// `PeerAuthenticationList`, ...), as `kubectl get --raw` or an API dump has
/// them.
pub fn is_list(_api_version: &str, kind: &str) -> bool {
    kind.strip_suffix("List")
        .is_some_and(|item| item.is_empty() || item.starts_with(|c: char| c.is_ascii_uppercase()))
}

fn owned_by_deployment(object: &Value) -> bool {
    object["metadata"]
        .get("ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners
                .iter()
                .any(|o| o.get("kind").and_then(Value::as_str) == Some("Deployment"))
        })
}

/// `rootNamespace` from the mesh config: the ConfigMap `istio`, else the first
/// `istio-<revision>` by name, key `mesh` (a YAML document).
/// The root namespace each revision's mesh config (`istio-<revision>`) names,
/// preferring the config in the namespace where that revision's istiod runs.
fn revision_roots(
    configs: &BTreeMap<(String, String), Value>,
    control_planes: &[ControlPlane],
) -> BTreeMap<String, String> {
    let mut roots: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for ((namespace, name), config) in configs {
        let Some(revision) = name.strip_prefix("istio-") else {
            continue;
        };
        let Some(root) = config["data"]["mesh"]
            .as_str()
            .and_then(|mesh| serde_saphyr::from_str::<Value>(mesh).ok())
            .and_then(|mesh| mesh["rootNamespace"].as_str().map(str::to_string))
            .filter(|root| !root.is_empty())
        else {
            continue;
        };
        let served_here = control_planes
            .iter()
            .any(|c| c.revision.as_deref() == Some(revision) && &c.namespace == namespace);
        match roots.get(revision) {
            Some((true, _)) => {}
            Some((false, _)) if !served_here => {}
            _ => {
                roots.insert(revision.to_string(), (served_here, root));
            }
        }
    }
    roots
        .into_iter()
        .map(|(rev, (_, root))| (rev, root))
        .collect()
}

/// The control plane of the default revision, if one was read.
fn default_control_plane(control_planes: &[ControlPlane]) -> Option<&ControlPlane> {
    control_planes
        .iter()
        .find(|c| c.revision.is_none())
        .or_else(|| control_planes.first())
}

/// The root namespace (docs/semantics.md §4): `rootNamespace` of the mesh
/// config of the control plane that serves the default revision — ConfigMap
/// `istio` (or `istio-<revision>`) in the namespace where istiod runs, else
/// in istio-system, else in any namespace — or Istio's default.
fn root_namespace_from(
    configs: &BTreeMap<(String, String), Value>,
    control_planes: &[ControlPlane],
) -> anyhow::Result<String> {
    let control_plane = default_control_plane(control_planes);
    let mut namespaces: Vec<&str> = control_plane
        .map(|c| c.namespace.as_str())
        .into_iter()
        .collect();
    namespaces.push(DEFAULT_ROOT_NAMESPACE);
    namespaces.extend(configs.keys().map(|(ns, _)| ns.as_str()));
    let names: Vec<String> = match control_plane.and_then(|c| c.revision.as_ref()) {
        Some(revision) => vec![format!("istio-{revision}"), "istio".into()],
        None => vec!["istio".into()],
    };
    let chosen = namespaces.iter().find_map(|ns| {
        names
            .iter()
            .find_map(|name| configs.get(&(ns.to_string(), name.clone())))
            .or_else(|| configs.iter().find(|((n, _), _)| n == ns).map(|(_, c)| c))
    });
    let Some(config) = chosen else {
        return Ok(DEFAULT_ROOT_NAMESPACE.into());
    };
    let Some(mesh) = config["data"].get("mesh").and_then(Value::as_str) else {
        return Ok(DEFAULT_ROOT_NAMESPACE.into());
    };
    let name = config["metadata"]["name"].as_str().unwrap_or("istio");
    let namespace = config["metadata"]["namespace"].as_str().unwrap_or_default();
    let mesh: Value = serde_saphyr::from_str(mesh).map_err(|e| {
        anyhow::anyhow!(
            "invalid manifest: configmap {namespace}/{name}: data.mesh is not valid YAML: {}",
            e.render_with_options(
                serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off }
            )
        )
    })?;
    match mesh.get("rootNamespace") {
        Some(Value::String(root)) if !root.is_empty() => Ok(root.clone()),
        _ => Ok(DEFAULT_ROOT_NAMESPACE.into()),
    }
}

fn short(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a map".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn namespace(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    }

    #[test]
    fn objects_past_the_limit_fail_whether_added_or_absorbed() {
        let mut collector = Collector {
            limit: 3,
            ..Collector::default()
        };
        for name in ["a", "b", "c"] {
            collector
                .add(namespace(name), &"test")
                .expect("within the limit");
        }
        // Kinds that are not kept cost nothing.
        collector
            .add(
                json!({"apiVersion": "example.com/v1", "kind": "Widget"}),
                &"test",
            )
            .expect("skipped");
        let err = collector
            .add(namespace("d"), &"test")
            .expect_err("over the limit");
        assert_eq!(
            err.to_string(),
            "more than 3 objects of the kinds mtls reads; that is its limit"
        );

        let mut collector = Collector {
            limit: 3,
            ..Collector::default()
        };
        collector.add(namespace("a"), &"test").expect("added");
        let mut items = Collector::default();
        for name in ["b", "c", "d"] {
            items.add(namespace(name), &"test").expect("added");
        }
        assert!(collector.absorb(items).is_err());
        assert_eq!(crate::text::thousands(MAX_OBJECTS as u64), "500,000");
    }
}
