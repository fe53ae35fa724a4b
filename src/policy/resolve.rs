//! Istio's composition of PeerAuthentications, per workload, with provenance.
//!
//! This follows `ComposePeerAuthentication` (pilot/pkg/security/authn/policy_applier.go)
//! and `getConfigsForWorkload` / `addPeerAuthentication`
//! (pilot/pkg/model/authentication.go): policies are ordered by creation time,
//! then name, then namespace; per level the oldest applicable policy wins and the
//! others are dropped whole; levels apply mesh → namespace → workload, an UNSET
//! level inheriting; port overrides come only from the winning workload policy and
//! are keyed by the workload (container) port (docs/semantics.md §1, §2).
//!
//! Rows — what `get` prints — aggregate the decisions of the pods behind a Service.

use std::collections::{BTreeMap, BTreeSet};

// Keyed by the snapshot's own strings, looked up for every pod: foldhash
// (seeded per process) rather than SipHash.
use foldhash::{HashMap, HashMapExt};

use serde::Serialize;

use crate::mode::{Enforced, Mode};
use crate::policy::dataplane::{self, Bypass, Dataplane, Enforcement, dataplane_in};
use crate::policy::model::LEGACY_API_VERSION;
use crate::policy::model::{
    ContainerPort, LegacyKind, LegacyPort, NO_LABELS, ServicePort, selects, selects_with,
};
use crate::policy::{
    EndpointSlice, IstioApi, Labels, LegacyPolicy, ObjectRef, PeerAuthentication, Service,
    Snapshot, Workload,
};
use crate::target::{PortRef, Target};

/// The level of the policy that decides a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No policy sets a mode: Istio's PERMISSIVE.
    Default,
    Mesh,
    Namespace,
    Workload,
    Port,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Default => "default",
            Level::Mesh => "mesh",
            Level::Namespace => "namespace",
            Level::Workload => "workload",
            Level::Port => "port",
        }
    }
}

/// The policy that decides a mode: a PeerAuthentication, or on the legacy API a
/// MeshPolicy or Policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyRef<'a> {
    Peer(&'a PeerAuthentication),
    Legacy(&'a LegacyPolicy),
}

impl<'a> PolicyRef<'a> {
    pub fn id(self) -> &'a ObjectRef {
        match self {
            PolicyRef::Peer(p) => &p.id,
            PolicyRef::Legacy(p) => &p.id,
        }
    }

    pub fn api_version(self) -> &'a str {
        match self {
            PolicyRef::Peer(p) => &p.api_version,
            PolicyRef::Legacy(_) => LEGACY_API_VERSION,
        }
    }

    /// The object as read.
    pub fn object(self) -> &'a serde_json::Value {
        match self {
            PolicyRef::Peer(p) => &p.object,
            PolicyRef::Legacy(p) => &p.object,
        }
    }
}

/// The mode one workload (port) gets, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    pub mode: Mode,
    pub level: Level,
    pub policy: Option<PolicyRef<'a>>,
    /// Policies of the deciding level that also apply but lose to the oldest.
    pub shadowed: Vec<&'a PeerAuthentication>,
}

impl Decision<'_> {
    fn permissive_default() -> Self {
        Decision {
            mode: Mode::Permissive,
            level: Level::Default,
            policy: None,
            shadowed: Vec::new(),
        }
    }
}

/// The policies Istio selects for one workload: the oldest of each level, and the
/// ones that lose to it.
#[derive(Debug, Clone, Default)]
pub struct Composition<'a> {
    pub mesh: Vec<&'a PeerAuthentication>,
    pub namespace: Vec<&'a PeerAuthentication>,
    pub workload: Vec<&'a PeerAuthentication>,
}

impl<'a> Composition<'a> {
    /// The workload's mode, ignoring port overrides.
    pub fn workload_decision(&self) -> Decision<'a> {
        let mut decision = Decision::permissive_default();
        for (level, candidates) in [
            (Level::Mesh, &self.mesh),
            (Level::Namespace, &self.namespace),
            (Level::Workload, &self.workload),
        ] {
            if let Some((winner, losers)) = candidates.split_first()
                && let Some(mode) = winner.mode
            {
                decision = Decision {
                    mode,
                    level,
                    policy: Some(PolicyRef::Peer(winner)),
                    shadowed: losers.to_vec(),
                };
            }
        }
        decision
    }

    /// The mode of one workload port. An UNSET port entry inherits the workload's
    /// mode and source.
    pub fn port_decision(&self, port: u32) -> Decision<'a> {
        if let Some((winner, losers)) = self.workload.split_first()
            && let Some(Some(mode)) = winner.port_modes.get(&port)
        {
            return Decision {
                mode: *mode,
                level: Level::Port,
                policy: Some(PolicyRef::Peer(winner)),
                shadowed: losers.to_vec(),
            };
        }
        self.workload_decision()
    }
}

/// A workload behind a row (or, with no pod known, the Service's selector
/// standing in) and the workload port it serves the row's port on.
type Served<'a> = (Option<&'a Workload>, Option<&'a Labels>, Option<u32>);

/// A pod behind a Service port ([`Index::port_pods`]).
#[derive(Debug)]
pub struct PortPod<'a> {
    pub workload: &'a Workload,
    pub port: Option<u32>,
    pub decision: Decision<'a>,
    pub enforced: Option<Enforced>,
}

/// What the workloads behind a row come to: their decisions in order, what
/// serves and enforces each whose dataplane can be known, and their names.
struct Serving<'a, 's> {
    decisions: Vec<Decision<'a>>,
    enforcement: Vec<(Dataplane, Option<Enforcement>)>,
    pods: Vec<&'s str>,
}

/// The workloads that serve one Service port: each with the workload port it
/// resolves to, or only the Service's selector when no workload is known.
#[derive(Debug, Clone)]
pub enum Endpoints<'a> {
    Workloads(Vec<(&'a Workload, Option<u32>)>),
    Selector(Labels),
}

impl Endpoints<'_> {
    /// The `workloads` count of a port row.
    pub fn count(&self) -> usize {
        match self {
            Endpoints::Workloads(w) => w.len(),
            Endpoints::Selector(_) => 0,
        }
    }
}

/// Lookups over a snapshot, built once: policies per namespace in Istio's order,
/// pods and templates per namespace in name order.
pub struct Index<'a> {
    pub snapshot: &'a Snapshot,
    /// Selector-less policies per namespace, oldest first.
    level_policies: HashMap<&'a str, Vec<&'a PeerAuthentication>>,
    /// Workload policies outside the root namespace, per (namespace, label,
    /// value) of the first pair of their selector, oldest first: a workload only
    /// needs the lists of its own labels.
    workload_policies: HashMap<(&'a str, &'a str, &'a str), Vec<&'a PeerAuthentication>>,
    services: HashMap<&'a str, Vec<&'a Service>>,
    /// EndpointSlices per (namespace, Service).
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    pods: WorkloadIndex<'a>,
    templates: WorkloadIndex<'a>,
    /// Whether some policy selects by a label istiod adds.
    topology: bool,
}

/// Workloads per namespace in name order, and per (namespace, label, value), so
/// that a selector finds its workloads without scanning the namespace.
#[derive(Default)]
pub struct WorkloadIndex<'a> {
    by_namespace: HashMap<&'a str, Vec<&'a Workload>>,
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Workload>>,
}

impl<'a> WorkloadIndex<'a> {
    /// Workloads by namespace and label; with `topology`, also by the labels
    /// istiod adds (needed only when a policy selects by one).
    pub fn new(items: &'a [Workload], topology: bool) -> WorkloadIndex<'a> {
        let mut index = WorkloadIndex::default();
        for w in items {
            index
                .by_namespace
                .entry(w.id.namespace.as_str())
                .or_default()
                .push(w);
        }
        for list in index.by_namespace.values_mut() {
            list.sort_by(|a, b| a.id.name.cmp(&b.id.name).then(a.kind.cmp(&b.kind)));
            for w in list.iter() {
                // Own labels and the ones istiod adds: Services match the
                // first, policies both (the filter in `select` decides).
                let added = if topology { Some(&w.topology) } else { None };
                for (k, v) in w.labels.iter().chain(added.into_iter().flatten()) {
                    index
                        .by_label
                        .entry((w.id.namespace.as_str(), k, v))
                        .or_default()
                        .push(w);
                }
            }
        }
        index
    }

    /// The workloads of `namespace` that a Service's `selector` selects, in
    /// name order: the shortest list of one of its labels, filtered by the
    /// others.
    pub fn select(&self, namespace: &str, selector: &Labels) -> Vec<&'a Workload> {
        self.select_by(namespace, selector, |w| selects(selector, &w.labels))
    }

    /// The workloads of `namespace` that a policy's `selector` selects: it
    /// also sees the labels istiod adds.
    pub fn select_for_policy(&self, namespace: &str, selector: &Labels) -> Vec<&'a Workload> {
        self.select_by(namespace, selector, |w| w.policy_selects(selector))
    }

    fn select_by(
        &self,
        namespace: &str,
        selector: &Labels,
        matches: impl Fn(&Workload) -> bool,
    ) -> Vec<&'a Workload> {
        let candidates = if selector.is_empty() {
            self.by_namespace.get(namespace)
        } else {
            let mut shortest: Option<&Vec<&'a Workload>> = None;
            for (k, v) in selector {
                match self.by_label.get(&(namespace, k.as_str(), v.as_str())) {
                    None => return Vec::new(),
                    Some(list) if shortest.is_none_or(|s| list.len() < s.len()) => {
                        shortest = Some(list)
                    }
                    Some(_) => {}
                }
            }
            shortest
        };
        candidates
            .into_iter()
            .flatten()
            .filter(|w| matches(w))
            .copied()
            .collect()
    }
}

/// The workloads behind a Service: its pods, else the pod templates that would
/// create them, else only the Service's selector.
#[derive(Debug, Clone)]
pub enum Backing<'a> {
    Workloads(Vec<&'a Workload>),
    Selector(Labels),
}

impl Backing<'_> {
    /// The `workloads` count of a row: pods or templates, 0 for a bare selector.
    pub fn count(&self) -> usize {
        match self {
            Backing::Workloads(w) => w.len(),
            Backing::Selector(_) => 0,
        }
    }
}

impl<'a> Index<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Index<'a> {
        let mut sorted: Vec<&PeerAuthentication> = snapshot.policies.iter().collect();
        sorted.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        let mut level_policies: HashMap<&str, Vec<&PeerAuthentication>> = HashMap::new();
        let mut workload_policies: HashMap<(&str, &str, &str), Vec<&PeerAuthentication>> =
            HashMap::new();
        for p in sorted {
            let ns = p.id.namespace.as_str();
            match p.selector.iter().next() {
                None => level_policies.entry(ns).or_default().push(p),
                // A selector policy in the root namespace is ignored by Istio:
                // `compose` never looks for workload policies there.
                Some((k, v)) => workload_policies
                    .entry((ns, k.as_str(), v.as_str()))
                    .or_default()
                    .push(p),
            }
        }
        let mut services: HashMap<&str, Vec<&Service>> = HashMap::new();
        for svc in &snapshot.services {
            services
                .entry(svc.id.namespace.as_str())
                .or_default()
                .push(svc);
        }
        for list in services.values_mut() {
            list.sort_by(|a, b| a.id.name.cmp(&b.id.name));
        }
        let topology = snapshot.selects_by_topology();
        let mut slices: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in &snapshot.endpoint_slices {
            slices
                .entry((slice.id.namespace.as_str(), slice.service.as_str()))
                .or_default()
                .push(slice);
        }
        Index {
            snapshot,
            level_policies,
            workload_policies,
            services,
            slices,
            pods: WorkloadIndex::new(&snapshot.pods, topology),
            templates: WorkloadIndex::new(&snapshot.templates, topology),
            topology,
        }
    }

    pub fn root_namespace(&self) -> &'a str {
        &self.snapshot.root_namespace
    }

    /// The root namespace of the control plane that serves a workload: its
    /// revision's (`istio.io/rev` on the workload, else on its namespace),
    /// else the default one (docs/semantics.md §4).
    pub fn root_for(&self, namespace: &str, labels: &Labels) -> &'a str {
        let roots = &self.snapshot.revision_roots;
        if roots.is_empty() {
            return self.root_namespace();
        }
        labels
            .get("istio.io/rev")
            .or_else(|| self.namespace_labels(namespace).get("istio.io/rev"))
            .and_then(|revision| roots.get(revision))
            .map_or_else(|| self.root_namespace(), String::as_str)
    }

    /// The policies Istio composes for a workload with `labels` in `namespace`.
    pub fn compose(&self, namespace: &str, labels: &Labels) -> Composition<'a> {
        self.compose_labels(namespace, labels, &NO_LABELS)
    }

    /// The policies Istio composes for a workload: its own labels and the ones
    /// istiod adds, without merging them into one map.
    pub fn compose_workload(&self, namespace: &str, workload: &Workload) -> Composition<'a> {
        self.compose_labels(namespace, &workload.labels, &workload.topology)
    }

    /// Composition over a workload's own labels and those istiod adds (its own
    /// win where both have a key).
    fn compose_labels(&self, namespace: &str, own: &Labels, added: &Labels) -> Composition<'a> {
        let root = self.root_for(namespace, own);
        let level = |ns: &str| self.level_policies.get(ns).cloned().unwrap_or_default();
        let mut composition = Composition {
            // Selector-less policies in the root namespace are mesh-wide, also
            // for workloads in the root namespace.
            mesh: level(root),
            ..Composition::default()
        };
        if namespace == root {
            return composition;
        }
        composition.namespace = level(namespace);
        let added = if self.topology { added } else { &NO_LABELS };
        let mut workload: Vec<&'a PeerAuthentication> = own
            .iter()
            .chain(added.iter().filter(|(k, _)| !own.contains_key(*k)))
            .filter_map(|(k, v)| {
                self.workload_policies
                    .get(&(namespace, k.as_str(), v.as_str()))
            })
            .flatten()
            .filter(|p| selects_with(&p.selector, own, added))
            .copied()
            .collect();
        workload.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        workload.dedup_by(|a, b| std::ptr::eq(*a, *b));
        composition.workload = workload;
        composition
    }

    /// The workloads a Service selects in its namespace; for a Service
    /// without a selector, the pods its EndpointSlices name.
    pub fn backing(&self, service: &Service) -> Backing<'a> {
        let Some(selector) = &service.selector else {
            let mut pods: Vec<&'a Workload> = self
                .sliced(service, None)
                .into_iter()
                .map(|(w, _)| w)
                .collect();
            pods.sort_by(|a, b| a.id.name.cmp(&b.id.name));
            pods.dedup_by(|a, b| a.id == b.id);
            if pods.is_empty() {
                // No pod serves it: resolve as a workload no workload
                // policy can select.
                return Backing::Selector(Labels::new());
            }
            return Backing::Workloads(pods);
        };
        let workloads = self.selected_workloads(&service.id.namespace, selector);
        if workloads.is_empty() {
            Backing::Selector(selector.clone())
        } else {
            Backing::Workloads(workloads)
        }
    }

    /// The pods in `namespace` that `selector` selects; when there are none, the
    /// pod templates it selects.
    pub fn selected_workloads(&self, namespace: &str, selector: &Labels) -> Vec<&'a Workload> {
        let pods = self.pods.select(namespace, selector);
        if !pods.is_empty() {
            return pods;
        }
        self.templates.select(namespace, selector)
    }

    /// The pods in `namespace` that a policy's `selector` selects (with the
    /// labels istiod adds); when there are none, the pod templates.
    pub fn policy_workloads(&self, namespace: &str, selector: &Labels) -> Vec<&'a Workload> {
        let pods = self.pods.select_for_policy(namespace, selector);
        if !pods.is_empty() {
            return pods;
        }
        self.templates.select_for_policy(namespace, selector)
    }

    /// The label sets of the workloads behind a Service.
    pub fn workload_labels(&self, service: &Service) -> Vec<Labels> {
        match self.backing(service) {
            Backing::Workloads(ws) => ws.iter().map(|w| w.policy_labels().into_owned()).collect(),
            Backing::Selector(labels) => vec![labels],
        }
    }

    /// Each workload behind the Service with its labels and, for a port, the
    /// workload port it resolves to (`None`: a named port it does not have).
    pub fn port_targets(
        &self,
        service: &Service,
        port: &ServicePort,
    ) -> Vec<(Labels, Option<u32>)> {
        match self.endpoints(service, port) {
            Endpoints::Workloads(ws) => ws
                .into_iter()
                .map(|(w, tp)| (w.policy_labels().into_owned(), tp))
                .collect(),
            Endpoints::Selector(labels) => vec![(labels, port.target_port.number())],
        }
    }

    /// The workloads that serve a Service port, each with the workload port
    /// it resolves the target port to. A pod without a container port of a
    /// named target port (name and protocol) is no endpoint of it
    /// (docs/semantics.md §4); when no workload has one, all of them stand
    /// in, unresolved, and the row has their workload-level mode.
    pub fn endpoints(&self, service: &Service, port: &ServicePort) -> Endpoints<'a> {
        if service.selector.is_none() {
            let served = self.sliced(service, Some(port));
            return if served.is_empty() {
                Endpoints::Selector(Labels::new())
            } else {
                Endpoints::Workloads(served)
            };
        }
        let workloads = match self.backing(service) {
            Backing::Workloads(ws) => ws,
            Backing::Selector(labels) => return Endpoints::Selector(labels),
        };
        let resolved: Vec<(&'a Workload, Option<u32>)> = workloads
            .iter()
            .map(|w| (*w, w.find_port(&port.target_port, &port.protocol)))
            .collect();
        if resolved.iter().any(|(_, tp)| tp.is_some()) {
            Endpoints::Workloads(
                resolved
                    .into_iter()
                    .filter(|(_, tp)| tp.is_some())
                    .collect(),
            )
        } else {
            Endpoints::Workloads(resolved)
        }
    }

    /// The pods the EndpointSlices of a Service name, each with the port it
    /// serves `port` on (the slice's port of the same name and protocol);
    /// without `port`, every pod named, its port unknown.
    fn sliced(
        &self,
        service: &Service,
        port: Option<&ServicePort>,
    ) -> Vec<(&'a Workload, Option<u32>)> {
        let ns = service.id.namespace.as_str();
        let slices = self
            .slices
            .get(&(ns, service.id.name.as_str()))
            .map_or(&[][..], Vec::as_slice);
        let pods = self
            .pods
            .by_namespace
            .get(ns)
            .map_or(&[][..], Vec::as_slice);
        let mut served: Vec<(&'a Workload, Option<u32>)> = Vec::new();
        for slice in slices {
            let number = match port {
                None => None,
                Some(sp) => match slice
                    .ports
                    .iter()
                    .find(|p| p.name == sp.name && p.protocol == sp.protocol)
                {
                    Some(p) => Some(p.port),
                    None => continue,
                },
            };
            for name in &slice.pods {
                if let Some(w) = pods.iter().find(|w| &w.id.name == name)
                    && !served.iter().any(|(s, _)| s.id == w.id)
                {
                    served.push((*w, number));
                }
            }
        }
        served.sort_by(|a, b| a.0.id.name.cmp(&b.0.id.name));
        served
    }

    /// The labels of a namespace (ambient mode and injection are labels).
    fn namespace_labels(&self, namespace: &str) -> &'a Labels {
        self.snapshot
            .namespaces
            .get(namespace)
            .map_or(&NO_LABELS, |n| &n.labels)
    }

    pub fn mesh_row(&self) -> Row {
        let composition = self.compose(self.root_namespace(), &Labels::new());
        // The legacy mesh level is the cluster-scoped MeshPolicy (namespace "").
        let decision = self.legacy_or_peer(&composition, Composition::workload_decision, "", None);
        Row::new(Target::Mesh.to_string(), Scope::Mesh).decided(vec![decision])
    }

    pub fn namespace_row(&self, namespace: &str) -> Row {
        let composition = self.compose(namespace, &Labels::new());
        let decision = self.legacy_or_peer(
            &composition,
            Composition::workload_decision,
            namespace,
            None,
        );
        let mut row = Row::new(
            Target::Namespace(namespace.into()).to_string(),
            Scope::Namespace,
        );
        row.namespace = Some(namespace.into());
        row.decided(vec![decision])
    }

    pub fn service_row(&self, service: &Service) -> Row {
        let ns = &service.id.namespace;
        let backing = self.backing(service);
        let served: Vec<Served> = match &backing {
            Backing::Workloads(ws) => ws.iter().map(|w| (Some(*w), None, None)).collect(),
            Backing::Selector(labels) => vec![(None, Some(labels), None)],
        };
        let Serving {
            decisions,
            enforcement,
            pods,
        } = self.serve(service, None, &served);
        let mut row = Row::new(format!("{ns}/{}", service.id.name), Scope::Service);
        row.namespace = Some(ns.clone());
        row.service = Some(service.id.name.clone());
        row.workloads = Some(backing.count());
        row.decided_by(decisions, &pods).served(&enforcement)
    }

    pub fn port_row(&self, service: &Service, port: &ServicePort) -> Row {
        let ns = &service.id.namespace;
        let endpoints = self.endpoints(service, port);
        let served: Vec<Served> = match &endpoints {
            Endpoints::Workloads(ws) => ws.iter().map(|(w, tp)| (Some(*w), None, *tp)).collect(),
            Endpoints::Selector(labels) => vec![(None, Some(labels), port.target_port.number())],
        };
        let Serving {
            decisions,
            enforcement,
            pods,
        } = self.serve(service, Some(port), &served);
        let distinct: BTreeSet<Option<u32>> = served.iter().map(|(_, _, tp)| *tp).collect();
        let mut row = Row::new(
            format!("{ns}/{}:{}", service.id.name, port.port),
            Scope::Port,
        );
        row.namespace = Some(ns.clone());
        row.service = Some(service.id.name.clone());
        row.port = Some(port.port);
        row.port_name = port.name.clone();
        row.target_port = match distinct.into_iter().collect::<Vec<_>>().as_slice() {
            [Some(p)] => Some(*p),
            _ => None,
        };
        row.workloads = Some(endpoints.count());
        row.decided_by(decisions, &pods).served(&enforcement)
    }

    /// What each workload behind a Service (or one of its ports) decides and
    /// enforces.
    fn serve<'s>(
        &self,
        service: &Service,
        port: Option<&ServicePort>,
        served: &'s [Served<'a>],
    ) -> Serving<'a, 's> {
        let ns = &service.id.namespace;
        let namespace = self.snapshot.namespaces.get(ns.as_str());
        let mut decisions = Vec::new();
        let mut enforcement = Vec::new();
        for (workload, labels, tp) in served {
            let composition = match (workload, labels) {
                (Some(w), _) => self.compose_workload(ns, w),
                (None, labels) => self.compose(ns, labels.unwrap_or(&NO_LABELS)),
            };
            let peer = |c: &Composition<'a>| match tp {
                Some(p) => c.port_decision(*p),
                None => c.workload_decision(),
            };
            let decision = self.legacy_or_peer(&composition, peer, ns, Some((service, port)));
            if let Some(w) = workload
                && let Some(plane) = dataplane_in(w, namespace)
            {
                let at = match (port, tp) {
                    (Some(sp), Some(p)) => Some((*p, sp.protocol.as_str())),
                    _ => None,
                };
                enforcement.push((plane, dataplane::enforcement(plane, decision.mode, w, at)));
            }
            decisions.push(decision);
        }
        let pods = served
            .iter()
            .filter_map(|(w, _, _)| w.map(|w| w.id.name.as_str()))
            .collect();
        Serving {
            decisions,
            enforcement,
            pods,
        }
    }

    /// Each pod that serves a Service port: the container port it serves it
    /// on, what its policies decide there, and what it enforces (`None` for
    /// a gateway, or a dataplane that cannot be known).
    pub fn port_pods(&self, service: &Service, port: &ServicePort) -> Vec<PortPod<'a>> {
        let Endpoints::Workloads(served) = self.endpoints(service, port) else {
            return Vec::new();
        };
        let ns = &service.id.namespace;
        let namespace = self.snapshot.namespaces.get(ns.as_str());
        served
            .into_iter()
            .map(|(workload, tp)| {
                let composition = self.compose_workload(ns, workload);
                let peer = |c: &Composition<'a>| match tp {
                    Some(p) => c.port_decision(p),
                    None => c.workload_decision(),
                };
                let decision =
                    self.legacy_or_peer(&composition, peer, ns, Some((service, Some(port))));
                let enforced = dataplane_in(workload, namespace).and_then(|plane| {
                    let at = tp.map(|p| (p, port.protocol.as_str()));
                    dataplane::enforcement(plane, decision.mode, workload, at).map(|e| e.enforced)
                });
                PortPod {
                    workload,
                    port: tp,
                    decision,
                    enforced,
                }
            })
            .collect()
    }

    /// A pod's row: its workload-level decision (`port` None), or that of one
    /// of its ports; what serves it and what it enforces there.
    pub fn pod_row(&self, pod: &Workload, port: Option<&ContainerPort>) -> Row {
        let ns = pod.id.namespace.as_str();
        let composition = self.compose_workload(ns, pod);
        let legacy = self.legacy_service_of(pod, port);
        let decision = self.legacy_or_peer(
            &composition,
            |c| match port {
                Some(p) => c.port_decision(p.port),
                None => c.workload_decision(),
            },
            ns,
            legacy,
        );
        let plane = dataplane_in(pod, self.snapshot.namespaces.get(ns));
        let at = port.map(|p| (p.port, p.protocol.as_str()));
        let enforcement: Vec<(Dataplane, Option<Enforcement>)> = plane
            .map(|p| (p, dataplane::enforcement(p, decision.mode, pod, at)))
            .into_iter()
            .collect();
        let scope = if port.is_some() {
            Scope::PodPort
        } else {
            Scope::Pod
        };
        let mut row = Row::new(pod_target(pod, port.map(|p| p.port)), scope);
        row.namespace = Some(ns.to_string());
        row.pod = Some(pod.id.name.clone());
        row.port_name = port.and_then(|p| p.name.clone());
        row.target_port = port.map(|p| p.port);
        row.workloads = Some(1);
        row.decided(vec![decision]).served(&enforcement)
    }

    /// The ports a pod's rows list: the application's container ports (the
    /// proxy's own are not captured), then the ports its workload policy
    /// sets, which the sidecar serves whether declared or not
    /// (docs/semantics.md §2).
    pub fn pod_ports(&self, pod: &Workload) -> Vec<ContainerPort> {
        let mut ports: Vec<ContainerPort> =
            pod.ports.iter().filter(|p| !p.proxy).cloned().collect();
        let composition = self.compose_workload(&pod.id.namespace, pod);
        if let Some(policy) = composition.workload.first() {
            for number in policy.port_modes.keys() {
                if !ports.iter().any(|p| p.port == *number) {
                    ports.push(ContainerPort {
                        name: None,
                        port: *number,
                        protocol: "TCP".into(),
                        proxy: false,
                    });
                }
            }
        }
        ports
    }

    /// The running pod `namespace/name`, or why there is none.
    pub fn require_pod(&self, namespace: &str, name: &str) -> Result<&'a Workload, LookupError> {
        self.require_namespace(namespace)?;
        if let Some(pod) = self
            .snapshot
            .pods
            .iter()
            .find(|w| w.id.namespace == namespace && w.id.name == name)
        {
            return Ok(pod);
        }
        let template = self
            .snapshot
            .templates
            .iter()
            .find(|w| w.id.namespace == namespace && w.id.name == name);
        Err(LookupError::Pod {
            pod: format!("{namespace}/{name}"),
            hint: match template {
                Some(t) => format!(
                    "; {} {namespace}/{name} holds a pod template, and pod targets name running pods: \
                     name one of its pods, or a Service that selects them",
                    t.kind.to_lowercase()
                ),
                None => String::new(),
            },
        })
    }

    /// A pod's port, by number (any port: an undeclared one may be served
    /// too) or by the name of a container port.
    pub fn require_pod_port(
        &self,
        pod: &Workload,
        port: &PortRef,
    ) -> Result<ContainerPort, LookupError> {
        let ports = self.pod_ports(pod);
        let found = match port {
            PortRef::Number(n) => Some(
                ports
                    .iter()
                    .find(|p| p.port == u32::from(*n))
                    .cloned()
                    .unwrap_or(ContainerPort {
                        name: None,
                        port: u32::from(*n),
                        protocol: "TCP".into(),
                        proxy: false,
                    }),
            ),
            PortRef::Name(name) => ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .cloned(),
        };
        found.ok_or_else(|| LookupError::PodPort {
            pod: format!("{}/{}", pod.id.namespace, pod.id.name),
            port: port.to_string(),
            ports: listed_ports(ports.iter().map(|p| (p.port, p.name.as_deref()))),
        })
    }

    /// The Service ports a pod serves, with the container port each resolves
    /// to, in Service name order.
    pub fn served_by(&self, pod: &Workload) -> Vec<(&'a Service, &'a ServicePort, Option<u32>)> {
        let mut served = Vec::new();
        for svc in self.services_in(&pod.id.namespace) {
            for port in &svc.ports {
                if let Endpoints::Workloads(ws) = self.endpoints(svc, port)
                    && let Some((_, tp)) = ws.iter().find(|(w, _)| std::ptr::eq(*w, pod))
                {
                    served.push((*svc, port, *tp));
                }
            }
        }
        served
    }

    /// On the legacy API, where policies target Services: the first Service
    /// (in name order) that selects the pod, and with `port`, its Service
    /// port that resolves to it.
    fn legacy_service_of(
        &self,
        pod: &Workload,
        port: Option<&ContainerPort>,
    ) -> Option<(&'a Service, Option<&'a ServicePort>)> {
        if !self.snapshot.api.legacy_decides() {
            return None;
        }
        self.services_in(&pod.id.namespace).iter().find_map(|svc| {
            let selector = svc.selector.as_ref().filter(|s| !s.is_empty())?;
            if !selects(selector, &pod.labels) {
                return None;
            }
            match port {
                None => Some((*svc, None)),
                Some(cp) => svc
                    .ports
                    .iter()
                    .find(|sp| pod.find_port(&sp.target_port, &sp.protocol) == Some(cp.port))
                    .map(|sp| (*svc, Some(sp))),
            }
        })
    }

    /// The rows `get` prints for one target, or why the target does not exist.
    pub fn rows_for(&self, target: &Target) -> Result<Vec<Row>, LookupError> {
        match target {
            Target::Pod {
                namespace,
                pod,
                port,
            } => {
                let pod = self.require_pod(namespace, pod)?;
                match port {
                    Some(port) => {
                        let port = self.require_pod_port(pod, port)?;
                        Ok(vec![self.pod_row(pod, Some(&port))])
                    }
                    None => {
                        let mut rows = vec![self.pod_row(pod, None)];
                        rows.extend(
                            self.pod_ports(pod)
                                .iter()
                                .map(|p| self.pod_row(pod, Some(p))),
                        );
                        Ok(rows)
                    }
                }
            }
            Target::Mesh => Ok(vec![self.mesh_row()]),
            Target::Namespace(ns) => {
                self.require_namespace(ns)?;
                let mut rows = vec![self.namespace_row(ns)];
                for service in self.services_in(ns) {
                    rows.extend(service.ports.iter().map(|p| self.port_row(service, p)));
                }
                Ok(rows)
            }
            Target::Service { namespace, service } => {
                let service = self.require_service(namespace, service)?;
                let mut rows = vec![self.service_row(service)];
                rows.extend(service.ports.iter().map(|p| self.port_row(service, p)));
                Ok(rows)
            }
            Target::Port {
                namespace,
                service,
                port,
            } => {
                let (service, port) = self.require_port(namespace, service, port)?;
                Ok(vec![self.port_row(service, port)])
            }
        }
    }

    /// `get -A`: the mesh, then every namespace with its Service ports.
    pub fn all_rows(&self) -> Vec<Row> {
        // Sized once: at 40,000 pods the rows are some 15 MB, and a vector
        // that doubles as it grows would hold up to twice that.
        let ports: usize = self
            .services
            .values()
            .flatten()
            .map(|s| s.ports.len())
            .sum();
        let mut rows = Vec::with_capacity(1 + self.snapshot.namespaces.len() + ports);
        rows.push(self.mesh_row());
        for ns in self.snapshot.namespaces.keys() {
            rows.push(self.namespace_row(ns));
            for service in self.services_in(ns) {
                rows.extend(service.ports.iter().map(|p| self.port_row(service, p)));
            }
        }
        rows
    }

    /// The Services of a namespace, in name order.
    pub fn services_in(&self, namespace: &str) -> &[&'a Service] {
        self.services.get(namespace).map_or(&[], Vec::as_slice)
    }

    pub fn require_namespace(&self, namespace: &str) -> Result<(), LookupError> {
        if self.snapshot.namespaces.contains_key(namespace) {
            Ok(())
        } else {
            Err(LookupError::Namespace(namespace.into()))
        }
    }

    /// The Service port a `NS/SVC:PORT` target names, or why there is none.
    pub fn require_port(
        &self,
        namespace: &str,
        service: &str,
        port: &PortRef,
    ) -> Result<(&'a Service, &'a ServicePort), LookupError> {
        let service = self.require_service(namespace, service)?;
        Ok((service, find_service_port(service, port)?))
    }

    pub fn require_service(&self, namespace: &str, name: &str) -> Result<&'a Service, LookupError> {
        self.require_namespace(namespace)?;
        self.snapshot
            .service(namespace, name)
            .ok_or_else(|| LookupError::Service(format!("{namespace}/{name}")))
    }
}

/// Finds a Service port by number or name.
pub fn find_service_port<'s>(
    service: &'s Service,
    port: &PortRef,
) -> Result<&'s ServicePort, LookupError> {
    service
        .ports
        .iter()
        .find(|p| match port {
            PortRef::Number(n) => p.port == *n,
            PortRef::Name(name) => p.name.as_deref() == Some(name.as_str()),
        })
        .ok_or_else(|| LookupError::Port {
            service: service.id.to_string(),
            port: port.to_string(),
            ports: listed_ports(
                service
                    .ports
                    .iter()
                    .map(|p| (u32::from(p.port), p.name.as_deref())),
            ),
        })
}

/// Ports as an error lists them: `80 (http), 9090`, or `none`.
fn listed_ports<'n>(ports: impl Iterator<Item = (u32, Option<&'n str>)>) -> String {
    let ports: Vec<String> = ports
        .map(|(number, name)| match name {
            Some(name) => format!("{number} ({name})"),
            None => number.to_string(),
        })
        .collect();
    if ports.is_empty() {
        "none".into()
    } else {
        ports.join(", ")
    }
}

/// `NS/pod/NAME`, or `NS/pod/NAME:PORT`.
fn pod_target(pod: &Workload, port: Option<u32>) -> String {
    match port {
        Some(port) => format!("{}/pod/{}:{port}", pod.id.namespace, pod.id.name),
        None => format!("{}/pod/{}", pod.id.namespace, pod.id.name),
    }
}

/// A target that names something the snapshot does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("namespace {0:?} not found")]
    Namespace(String),
    #[error("service {0} not found")]
    Service(String),
    #[error("service {service} has no port {port:?}; its ports: {ports}")]
    Port {
        service: String,
        port: String,
        ports: String,
    },
    #[error("pod {pod} not found{hint}")]
    Pod { pod: String, hint: String },
    #[error("pod {pod} has no container port {port:?}; its ports: {ports}")]
    PodPort {
        pod: String,
        port: String,
        ports: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Mesh,
    Namespace,
    Service,
    Port,
    Pod,
    /// One port of a pod.
    #[serde(rename = "podPort")]
    PodPort,
}

/// A row's mode: one mode, or `MIXED` when the pods behind it disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowMode {
    Single(Mode),
    Mixed,
}

impl RowMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RowMode::Single(m) => m.as_str(),
            RowMode::Mixed => "MIXED",
        }
    }
}

impl Serialize for RowMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Pods of a `MIXED` row that come to the same decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDecision {
    pub pods: Vec<String>,
    pub mode: Mode,
    pub level: Level,
    pub policy: Option<String>,
}

/// What serves a row's pods: one dataplane, or `mixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowDataplane {
    Single(Dataplane),
    Mixed,
}

impl RowDataplane {
    pub fn as_str(self) -> &'static str {
        match self {
            RowDataplane::Single(d) => d.as_str(),
            RowDataplane::Mixed => "mixed",
        }
    }
}

impl Serialize for RowDataplane {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The mode a row's pods meet: one, or `MIXED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowEnforced {
    Single(Enforced),
    Mixed,
}

impl RowEnforced {
    pub fn as_str(self) -> &'static str {
        match self {
            RowEnforced::Single(e) => e.as_str(),
            RowEnforced::Mixed => "MIXED",
        }
    }
}

impl Serialize for RowEnforced {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which policy decides a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub level: Level,
    /// `NS/NAME`; `None` for the default.
    pub policy: Option<String>,
    pub api_version: Option<String>,
    /// Who else manages the policy (Argo CD, Flux, Helm); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::policy::owner::Owner>,
}

/// One line of `get`: the effective mode of a target, with its provenance. The
/// JSON form is the contract's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The kubeconfig context of the cluster the row was read from, when a
    /// command reads several (`--context A --context B`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub target: String,
    pub scope: Scope,
    pub namespace: Option<String>,
    pub service: Option<String>,
    /// The pod of a `pod` or `podPort` row; absent from other rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    pub port: Option<u16>,
    pub port_name: Option<String>,
    pub target_port: Option<u32>,
    pub mode: RowMode,
    /// For `MIXED` rows: how many pods have each mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modes: Option<BTreeMap<Mode, usize>>,
    /// What serves the pods behind the row; `None` where no pod is known
    /// (mesh and namespace rows, a Service without pods or templates).
    pub dataplane: Option<RowDataplane>,
    /// The mode traffic meets (docs/semantics.md §4); `None` where no pod is
    /// known, and where only gateways serve the row.
    pub enforced: Option<RowEnforced>,
    /// For a `MIXED` enforced mode: how many pods meet each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforced_modes: Option<BTreeMap<Enforced, usize>>,
    /// Why the enforced mode is not the declared one, when all pods agree.
    #[serde(skip)]
    pub bypass: Option<Bypass>,
    /// For a `MIXED` row: the pods of each decision (mode, level, policy).
    #[serde(skip)]
    pub mixed: Vec<PodDecision>,
    pub source: Option<Source>,
    pub shadowed: Vec<String>,
    pub workloads: Option<usize>,
    /// With `get --traffic`: the calls the row's Services received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<crate::traffic::RowTraffic>,
}

/// A row's target with its cluster, where it has one: `prod/api:80 (cluster
/// east)`.
pub fn row_key(target: &str, cluster: Option<&str>) -> String {
    match cluster {
        Some(cluster) => format!("{target} (cluster {cluster})"),
        None => target.to_string(),
    }
}

impl Row {
    /// The weakest mode a pod behind the row has: the mode itself, or for a
    /// `MIXED` row the weakest of its pods' modes.
    pub fn weakest(&self) -> Mode {
        match self.mode {
            RowMode::Single(mode) => mode,
            RowMode::Mixed => self
                .modes
                .iter()
                .flat_map(BTreeMap::keys)
                .copied()
                .min_by_key(|m| m.strength())
                .unwrap_or(Mode::Disable),
        }
    }

    fn new(target: String, scope: Scope) -> Row {
        Row {
            cluster: None,
            target,
            scope,
            namespace: None,
            service: None,
            pod: None,
            port: None,
            port_name: None,
            target_port: None,
            mode: RowMode::Single(Mode::Permissive),
            modes: None,
            dataplane: None,
            enforced: None,
            enforced_modes: None,
            bypass: None,
            mixed: Vec::new(),
            source: None,
            shadowed: Vec::new(),
            workloads: None,
            traffic: None,
        }
    }

    /// Fills dataplane and enforced from what serves each pod behind the row
    /// (`None`: a gateway).
    fn served(mut self, pods: &[(Dataplane, Option<Enforcement>)]) -> Row {
        let planes: BTreeSet<Dataplane> = pods.iter().map(|(plane, _)| *plane).collect();
        self.dataplane = match planes.len() {
            0 => None,
            1 => planes.first().map(|p| RowDataplane::Single(*p)),
            _ => Some(RowDataplane::Mixed),
        };
        let enforced: Vec<Enforcement> = pods.iter().filter_map(|(_, e)| *e).collect();
        let modes: BTreeSet<Enforced> = enforced.iter().map(|e| e.enforced).collect();
        match modes.len() {
            0 => {}
            1 => {
                self.enforced = modes.first().map(|e| RowEnforced::Single(*e));
                let reasons: BTreeSet<Option<Bypass>> = enforced.iter().map(|e| e.bypass).collect();
                if reasons.len() == 1 {
                    self.bypass = reasons.into_iter().next().flatten();
                }
            }
            _ => {
                let mut counts = BTreeMap::new();
                for e in &enforced {
                    *counts.entry(e.enforced).or_insert(0) += 1;
                }
                self.enforced = Some(RowEnforced::Mixed);
                self.enforced_modes = Some(counts);
            }
        }
        self
    }

    /// What `--expect` judges: the enforced mode where pods are known, the
    /// declared one where none are (mesh and namespace rows, Services without
    /// pods); `None` for rows only gateways serve, where PeerAuthentication
    /// does not apply.
    pub fn judged(&self) -> Option<RowEnforced> {
        match (&self.enforced, &self.dataplane) {
            (Some(e), _) => Some(*e),
            (None, Some(_)) => None,
            (None, None) => Some(match self.mode {
                RowMode::Single(m) => RowEnforced::Single(m.into()),
                RowMode::Mixed => RowEnforced::Mixed,
            }),
        }
    }

    /// The weakest mode a pod behind the row meets, as `judged` sees it.
    pub fn weakest_judged(&self) -> Option<Enforced> {
        match self.judged()? {
            RowEnforced::Single(e) => Some(e),
            RowEnforced::Mixed if self.enforced.is_some() => {
                self.enforced_modes.as_ref()?.keys().next().copied()
            }
            RowEnforced::Mixed => Some(self.weakest().into()),
        }
    }

    /// Fills mode, source and shadowed from the decisions of the workloads behind
    /// the row, in workload name order.
    fn decided(self, decisions: Vec<Decision<'_>>) -> Row {
        self.decided_by(decisions, &[])
    }

    /// Like [`Row::decided`], with the pods behind the decisions (in the same
    /// order), so that a `MIXED` row can say which pods decide how.
    fn decided_by(mut self, decisions: Vec<Decision<'_>>, pods: &[&str]) -> Row {
        let modes: BTreeSet<Mode> = decisions.iter().map(|d| d.mode).collect();
        if modes.len() > 1 {
            let mut counts = BTreeMap::new();
            for (i, d) in decisions.iter().enumerate() {
                *counts.entry(d.mode).or_insert(0) += 1;
                let policy = d.policy.map(|p| p.id().to_string());
                let pod = pods.get(i).map(|p| p.to_string());
                match self
                    .mixed
                    .iter_mut()
                    .find(|g| g.mode == d.mode && g.level == d.level && g.policy == policy)
                {
                    Some(group) => group.pods.extend(pod),
                    None => self.mixed.push(PodDecision {
                        pods: pod.into_iter().collect(),
                        mode: d.mode,
                        level: d.level,
                        policy,
                    }),
                }
            }
            self.mode = RowMode::Mixed;
            self.modes = Some(counts);
            return self;
        }
        let Some(first) = decisions.first() else {
            return self;
        };
        self.mode = RowMode::Single(first.mode);
        self.source = Some(Source {
            level: first.level,
            policy: first.policy.map(|p| p.id().to_string()),
            api_version: first.policy.map(|p| p.api_version().to_string()),
            owner: first
                .policy
                .and_then(|p| crate::policy::owner::owner_of(p.object())),
        });
        let shadowed: BTreeSet<String> = decisions
            .iter()
            .flat_map(|d| d.shadowed.iter().map(|p| p.id.to_string()))
            .collect();
        self.shadowed = shadowed.into_iter().collect();
        self
    }

    /// Rows sort as the contract says: mesh, then by namespace, service, port;
    /// a namespace's pods after its Services.
    /// The row's target, and its cluster where it has one: how findings
    /// and messages tell the rows of several clusters apart.
    pub fn key(&self) -> String {
        row_key(&self.target, self.cluster.as_deref())
    }

    pub fn sort_key(&self) -> (u8, &str, u8, &str, u8, u32) {
        let rank = |scope| match scope {
            Scope::Mesh => 0,
            _ => 1,
        };
        let (group, inner) = match self.scope {
            Scope::Mesh | Scope::Namespace => (0, 0),
            Scope::Service => (1, 1),
            Scope::Port => (1, 2),
            Scope::Pod => (2, 0),
            Scope::PodPort => (2, 1),
        };
        let port = match self.scope {
            Scope::PodPort => self.target_port.unwrap_or(0),
            _ => self.port.map_or(0, u32::from),
        };
        (
            rank(self.scope),
            self.namespace.as_deref().unwrap_or(""),
            group,
            self.service
                .as_deref()
                .or(self.pod.as_deref())
                .unwrap_or(""),
            inner,
            port,
        )
    }
}

// Resolution on the legacy API (docs/semantics.md §5, from 1.4's
// `AuthenticationPolicyForWorkload`). No inheritance: the chosen policy decides
// alone. For a Service port, the oldest Policy that targets the Service and is
// either port-less or names the port (by number or name: legacy ports are
// Service ports); else the namespace's Policy `default` without targets; else
// the MeshPolicy `default`; else DISABLE. Istio 1.5 mixed mode: where any
// PeerAuthentication applies to a workload, it decides instead; among Service
// policies one naming the port beats a port-less one whatever their age; and
// no policy at all is PERMISSIVE.
impl<'a> Index<'a> {
    /// The legacy decision for a namespace (`service` None), a Service's
    /// workload level (`port` None), or a Service port.
    pub fn legacy_decision(
        &self,
        namespace: &str,
        service: Option<(&Service, Option<&ServicePort>)>,
    ) -> Decision<'a> {
        let policies = &self.snapshot.legacy_policies;
        let oldest = |candidates: Vec<&'a LegacyPolicy>| {
            candidates
                .into_iter()
                .min_by(|a, b| (a.created, &a.id.name).cmp(&(b.created, &b.id.name)))
        };
        let decided = |policy: &'a LegacyPolicy, level| Decision {
            mode: policy.mode,
            level,
            policy: Some(PolicyRef::Legacy(policy)),
            shadowed: Vec::new(),
        };
        if let Some((svc, port)) = service {
            // (policy, names the port)
            let mut matching: Vec<(&'a LegacyPolicy, bool)> = Vec::new();
            for p in policies
                .iter()
                .filter(|p| p.kind == LegacyKind::Policy && p.id.namespace == namespace)
            {
                for target in p.targets.iter().filter(|t| t.name == svc.id.name) {
                    let names_port = port.is_some_and(|sp| {
                        target.ports.iter().any(|tp| match tp {
                            LegacyPort::Number(n) => *n == sp.port,
                            LegacyPort::Name(name) => sp.name.as_deref() == Some(name.as_str()),
                        })
                    });
                    if target.ports.is_empty() || names_port {
                        matching.push((p, names_port));
                    }
                }
            }
            // Istio 1.5 prefers a policy naming the port to a port-less one
            // whatever their age; 1.4 takes the oldest of both.
            let istio_1_5 = matches!(self.snapshot.api, IstioApi::Mixed(_));
            let naming: Vec<&'a LegacyPolicy> = matching
                .iter()
                .filter(|(_, named)| *named)
                .map(|(p, _)| *p)
                .collect();
            let winner = if istio_1_5 && !naming.is_empty() {
                oldest(naming)
            } else {
                oldest(matching.iter().map(|(p, _)| *p).collect())
            };
            if let Some(winner) = winner {
                let names_port = matching
                    .iter()
                    .any(|(p, named)| std::ptr::eq(*p, winner) && *named);
                let level = if names_port {
                    Level::Port
                } else {
                    Level::Workload
                };
                let mut decision = decided(winner, level);
                decision.shadowed = Vec::new();
                return decision;
            }
        }
        let namespace_default = policies.iter().find(|p| {
            p.kind == LegacyKind::Policy
                && p.id.namespace == namespace
                && p.id.name == "default"
                && p.targets.is_empty()
        });
        if let Some(p) = namespace_default {
            return decided(p, Level::Namespace);
        }
        if let Some(p) = policies
            .iter()
            .find(|p| p.kind == LegacyKind::MeshPolicy && p.id.name == "default")
        {
            return decided(p, Level::Mesh);
        }
        // No policy at all: 1.4 has no mTLS; 1.5 falls back to the
        // PeerAuthentication default, PERMISSIVE.
        match self.snapshot.api {
            IstioApi::Mixed(_) => Decision::permissive_default(),
            _ => Decision {
                mode: Mode::Disable,
                level: Level::Default,
                policy: None,
                shadowed: Vec::new(),
            },
        }
    }

    /// On the legacy API (or beside it, in Istio 1.5), the decision Istio 1.5
    /// makes for a workload: its PeerAuthentications if any applies, else the
    /// legacy policies.
    pub fn legacy_or_peer(
        &self,
        composition: &Composition<'a>,
        peer: impl FnOnce(&Composition<'a>) -> Decision<'a>,
        namespace: &str,
        service: Option<(&Service, Option<&ServicePort>)>,
    ) -> Decision<'a> {
        let any_peer = !(composition.mesh.is_empty()
            && composition.namespace.is_empty()
            && composition.workload.is_empty());
        if !self.snapshot.api.legacy_decides() || any_peer {
            peer(composition)
        } else {
            self.legacy_decision(namespace, service)
        }
    }
}
