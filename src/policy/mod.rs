//! The pure core: a snapshot of the objects that decide mTLS, Istio's resolution
//! over it, and the planning of changes. Nothing here does I/O; the cluster and the
//! manifest loaders both produce a [`Snapshot`], and everything else reads one.

pub mod authz;
pub mod change;
pub mod dataplane;
pub mod explain;
pub mod legacy;
pub mod migrate;
pub mod model;
pub mod owner;
pub mod plan;
pub mod resolve;

use std::collections::{BTreeMap, BTreeSet};

pub use model::{
    DestinationRule, EndpointSlice, Labels, LegacyPolicy, Namespace, ObjectRef, PeerAuthentication,
    Service, Workload,
};

/// A PeerAuthentication that Istio cannot decode, and so ignores.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedPolicy {
    pub id: ObjectRef,
    pub reason: String,
}

/// Everything resolution needs, for the namespaces that were read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub root_namespace: String,
    /// Namespaces known to exist: from Namespace objects, or named by any object.
    pub namespaces: BTreeMap<String, Namespace>,
    pub policies: Vec<PeerAuthentication>,
    pub skipped_policies: Vec<SkippedPolicy>,
    pub services: Vec<Service>,
    pub pods: Vec<Workload>,
    pub templates: Vec<Workload>,
    pub destination_rules: Vec<DestinationRule>,
    /// AuthorizationPolicies, where they were read (`check`, changes, the
    /// wide view): their rules that depend on the caller's identity.
    pub authorization_policies: Vec<authz::AuthorizationPolicy>,
    /// The EndpointSlices of Services without a selector.
    pub endpoint_slices: Vec<EndpointSlice>,
    pub legacy_policies: Vec<LegacyPolicy>,
    /// Which API decides, and which a change writes.
    pub api: IstioApi,
    /// The labels of the nodes pods run on, where they were read: only when a
    /// policy selects by a node's topology label.
    pub nodes: BTreeMap<String, Labels>,
    /// The cluster's name in the mesh (istiod's `CLUSTER_ID`); `None` is
    /// Istio's default, `Kubernetes`.
    pub cluster_id: Option<String>,
    /// The root namespace of each control plane revision whose mesh config
    /// names one (`istio-<revision>`): pods on `istio.io/rev: R`, or in a
    /// namespace labelled so, are served by revision R.
    pub revision_roots: BTreeMap<String, String>,
    /// Where each object that findings name came from, in manifests: its
    /// file and the line of its document (`kind NS/NAME`, as findings name
    /// objects).
    pub origins: BTreeMap<String, (String, usize)>,
    /// The finding codes an object accepts on purpose: its annotation
    /// `mtls.istio.io/ignore: MTLS005,MTLS008` (`kind NS/NAME` as above).
    pub ignores: BTreeMap<String, Vec<String>>,
}

/// The annotation by which an object accepts findings on purpose.
pub const IGNORE_ANNOTATION: &str = "mtls.istio.io/ignore";

pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";
/// istiod's `CLUSTER_ID` when none is set.
pub const DEFAULT_CLUSTER_ID: &str = "Kubernetes";

/// The node labels istiod copies onto a workload's labels (its locality).
pub const NODE_TOPOLOGY_LABELS: [&str; 3] = [
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];
/// The label istiod adds with the name of the pod's node.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const DEFAULT_API_VERSION: &str = "security.istio.io/v1";

/// Which Istio API decides the modes, and which objects a change writes
/// (docs/semantics.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IstioApi {
    /// PeerAuthentications alone; changes write them at this apiVersion
    /// (`security.istio.io/v1` or `v1beta1`).
    PeerAuthentication(String),
    /// The legacy API alone (Istio 1.4 and older): MeshPolicy and Policy
    /// objects decide, and changes write them.
    Legacy,
    /// Istio 1.5: PeerAuthentications decide the workloads they apply to,
    /// legacy policies the others; changes write PeerAuthentications at this
    /// apiVersion.
    Mixed(String),
}

impl Default for IstioApi {
    fn default() -> Self {
        IstioApi::PeerAuthentication(DEFAULT_API_VERSION.into())
    }
}

impl IstioApi {
    /// The apiVersion of the objects a change writes.
    pub fn write_version(&self) -> &str {
        match self {
            IstioApi::PeerAuthentication(v) | IstioApi::Mixed(v) => v,
            IstioApi::Legacy => model::LEGACY_API_VERSION,
        }
    }

    /// Whether changes write legacy policies.
    pub fn is_legacy(&self) -> bool {
        *self == IstioApi::Legacy
    }

    /// Whether legacy policies decide anything.
    pub fn legacy_decides(&self) -> bool {
        !matches!(self, IstioApi::PeerAuthentication(_))
    }
}

impl Snapshot {
    pub fn new(root_namespace: impl Into<String>) -> Snapshot {
        Snapshot {
            root_namespace: root_namespace.into(),
            ..Snapshot::default()
        }
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.id.namespace == namespace && s.id.name == name)
    }

    pub fn policy(&self, id: &ObjectRef) -> Option<&PeerAuthentication> {
        self.policies.iter().find(|p| &p.id == id)
    }

    /// The namespace of every namespaced object, repeats included.
    pub fn object_namespaces(&self) -> impl Iterator<Item = &str> {
        self.policies
            .iter()
            .map(|p| &p.id)
            .chain(self.skipped_policies.iter().map(|p| &p.id))
            .chain(self.services.iter().map(|s| &s.id))
            .chain(self.pods.iter().map(|w| &w.id))
            .chain(self.templates.iter().map(|w| &w.id))
            .chain(self.destination_rules.iter().map(|r| &r.id))
            .map(|id| id.namespace.as_str())
    }

    /// Records every namespace that an object names, so that a namespace with
    /// policies or services but no Namespace object still exists; the root
    /// namespace, where the mesh is configured, always exists.
    pub fn note_namespaces(&mut self) {
        let named: BTreeSet<String> = self
            .object_namespaces()
            .map(str::to_string)
            .chain(std::iter::once(self.root_namespace.clone()))
            .collect();
        for name in named {
            self.namespaces.entry(name.clone()).or_insert(Namespace {
                name,
                labels: Labels::new(),
                seen: false,
            });
        }
    }

    /// Whether some policy selects by a label istiod takes from the pod's node:
    /// only then are nodes worth reading.
    pub fn selects_by_node(&self) -> bool {
        self.policies.iter().any(|p| {
            p.selector
                .keys()
                .any(|k| k == HOSTNAME_LABEL || NODE_TOPOLOGY_LABELS.contains(&k.as_str()))
        })
    }

    /// Whether some policy selects by a label istiod adds (cluster, network,
    /// node): only then do selectors need more than a workload's own labels.
    pub fn selects_by_topology(&self) -> bool {
        self.policies.iter().any(|p| {
            p.selector
                .keys()
                .any(|k| k.starts_with("topology.") || k == HOSTNAME_LABEL)
        })
    }

    /// Gives each workload the labels istiod adds before it matches policy
    /// selectors (Istio's `AugmentLabels`, docs/semantics.md §4): the
    /// cluster's name, the network (the namespace's
    /// `topology.istio.io/network` unless the pod names its own), and for a
    /// pod on a known node, the node's name, region, zone and subzone.
    pub fn add_topology(&mut self) {
        let cluster = self
            .cluster_id
            .clone()
            .unwrap_or_else(|| DEFAULT_CLUSTER_ID.to_string());
        let namespaces = &self.namespaces;
        let nodes = &self.nodes;
        for w in self.pods.iter_mut().chain(self.templates.iter_mut()) {
            let mut topology = Labels::new();
            let cluster = w.proxy_cluster.clone().unwrap_or_else(|| cluster.clone());
            topology.insert("topology.istio.io/cluster".into(), cluster);
            if let Some(network) = namespaces
                .get(&w.id.namespace)
                .and_then(|ns| ns.labels.get("topology.istio.io/network"))
            {
                topology.insert("topology.istio.io/network".into(), network.clone());
            }
            if let Some(node) = &w.node {
                topology.insert(HOSTNAME_LABEL.into(), node.clone());
                for key in NODE_TOPOLOGY_LABELS {
                    if let Some(value) = nodes.get(node).and_then(|n| n.get(key)) {
                        topology.insert(key.into(), value.clone());
                    }
                }
            }
            w.topology = topology;
        }
    }

    /// Replaces the policy with the same id, adds it if there is none, or removes
    /// it (`None`).
    pub fn put_policy(&mut self, id: &ObjectRef, policy: Option<PeerAuthentication>) {
        let at = self.policies.iter().position(|p| &p.id == id);
        match (at, policy) {
            (Some(i), Some(p)) => self.policies[i] = p,
            (Some(i), None) => {
                self.policies.remove(i);
            }
            (None, Some(p)) => self.policies.push(p),
            (None, None) => {}
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
