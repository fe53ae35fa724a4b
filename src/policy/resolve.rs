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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::mode::Mode;
use crate::policy::model::LEGACY_API_VERSION;
use crate::policy::model::{LegacyKind, LegacyPort, ServicePort, TargetPort, selects};
use crate::policy::{
    Labels, LegacyPolicy, ObjectRef, PeerAuthentication, Service, Snapshot, Workload,
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
    pods: WorkloadIndex<'a>,
    templates: WorkloadIndex<'a>,
}

/// Workloads per namespace in name order, and per (namespace, label, value), so
/// that a selector finds its workloads without scanning the namespace.
#[derive(Default)]
pub struct WorkloadIndex<'a> {
    by_namespace: HashMap<&'a str, Vec<&'a Workload>>,
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Workload>>,
}

impl<'a> WorkloadIndex<'a> {
    pub fn new(items: &'a [Workload]) -> WorkloadIndex<'a> {
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
                for (k, v) in &w.labels {
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

    /// The workloads of `namespace` that `selector` selects, in name order: the
    /// shortest list of one of its labels, filtered by the others.
    pub fn select(&self, namespace: &str, selector: &Labels) -> Vec<&'a Workload> {
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
            .filter(|w| selects(selector, &w.labels))
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
                // A selector policy in the root namespace is ignored by Istio.
                Some(_) if ns == snapshot.root_namespace => {}
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
        Index {
            snapshot,
            level_policies,
            workload_policies,
            services,
            pods: WorkloadIndex::new(&snapshot.pods),
            templates: WorkloadIndex::new(&snapshot.templates),
        }
    }

    pub fn root_namespace(&self) -> &'a str {
        &self.snapshot.root_namespace
    }

    /// The policies Istio composes for a workload with `labels` in `namespace`.
    pub fn compose(&self, namespace: &str, labels: &Labels) -> Composition<'a> {
        let root = self.root_namespace();
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
        let mut workload: Vec<&'a PeerAuthentication> = labels
            .iter()
            .filter_map(|(k, v)| {
                self.workload_policies
                    .get(&(namespace, k.as_str(), v.as_str()))
            })
            .flatten()
            .filter(|p| selects(&p.selector, labels))
            .copied()
            .collect();
        workload.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        composition.workload = workload;
        composition
    }

    /// The workloads a Service selects in its namespace.
    pub fn backing(&self, service: &Service) -> Backing<'a> {
        let Some(selector) = &service.selector else {
            // A Service without a selector selects nothing: resolve as a workload
            // no workload policy can select.
            return Backing::Selector(Labels::new());
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

    /// The label sets of the workloads behind a Service.
    pub fn workload_labels(&self, service: &Service) -> Vec<Labels> {
        match self.backing(service) {
            Backing::Workloads(ws) => ws.iter().map(|w| w.labels.clone()).collect(),
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
        match self.backing(service) {
            Backing::Workloads(ws) => ws
                .iter()
                .map(|w| {
                    (
                        w.labels.clone(),
                        w.find_port(&port.target_port, &port.protocol),
                    )
                })
                .collect(),
            Backing::Selector(labels) => {
                let tp = match &port.target_port {
                    TargetPort::Number(n) => Some(*n),
                    TargetPort::Name(_) => None,
                };
                vec![(labels, tp)]
            }
        }
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
        let decisions = self
            .workload_labels(service)
            .iter()
            .map(|labels| {
                let composition = self.compose(ns, labels);
                self.legacy_or_peer(
                    &composition,
                    Composition::workload_decision,
                    ns,
                    Some((service, None)),
                )
            })
            .collect();
        let mut row = Row::new(format!("{ns}/{}", service.id.name), Scope::Service);
        row.namespace = Some(ns.clone());
        row.service = Some(service.id.name.clone());
        row.workloads = Some(self.backing(service).count());
        row.decided(decisions)
    }

    pub fn port_row(&self, service: &Service, port: &ServicePort) -> Row {
        let backing = self.backing(service);
        let ns = &service.id.namespace;
        let targets = self.port_targets(service, port);
        let decisions = targets
            .iter()
            .map(|(labels, tp)| {
                let composition = self.compose(ns, labels);
                let peer = |c: &Composition<'a>| match tp {
                    Some(p) => c.port_decision(*p),
                    None => c.workload_decision(),
                };
                self.legacy_or_peer(&composition, peer, ns, Some((service, Some(port))))
            })
            .collect();
        let distinct: BTreeSet<Option<u32>> = targets.iter().map(|(_, tp)| *tp).collect();
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
        row.workloads = Some(backing.count());
        row.decided(decisions)
    }

    /// The rows `get` prints for one target, or why the target does not exist.
    pub fn rows_for(&self, target: &Target) -> Result<Vec<Row>, LookupError> {
        match target {
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
                let service = self.require_service(namespace, service)?;
                let port = find_service_port(service, port)?;
                Ok(vec![self.port_row(service, port)])
            }
        }
    }

    /// `get -A`: the mesh, then every namespace with its Service ports.
    pub fn all_rows(&self) -> Vec<Row> {
        let mut rows = vec![self.mesh_row()];
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
        .ok_or_else(|| {
            let ports: Vec<String> = service
                .ports
                .iter()
                .map(|p| match &p.name {
                    Some(name) => format!("{} ({name})", p.port),
                    None => p.port.to_string(),
                })
                .collect();
            LookupError::Port {
                service: service.id.to_string(),
                port: port.to_string(),
                ports: if ports.is_empty() {
                    "none".into()
                } else {
                    ports.join(", ")
                },
            }
        })
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Mesh,
    Namespace,
    Service,
    Port,
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

/// Which policy decides a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub level: Level,
    /// `NS/NAME`; `None` for the default.
    pub policy: Option<String>,
    pub api_version: Option<String>,
}

/// One line of `get`: the effective mode of a target, with its provenance. The
/// JSON form is the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub target: String,
    pub scope: Scope,
    pub namespace: Option<String>,
    pub service: Option<String>,
    pub port: Option<u16>,
    pub port_name: Option<String>,
    pub target_port: Option<u32>,
    pub mode: RowMode,
    /// For `MIXED` rows: how many pods have each mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modes: Option<BTreeMap<Mode, usize>>,
    pub source: Option<Source>,
    pub shadowed: Vec<String>,
    pub workloads: Option<usize>,
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
            target,
            scope,
            namespace: None,
            service: None,
            port: None,
            port_name: None,
            target_port: None,
            mode: RowMode::Single(Mode::Permissive),
            modes: None,
            source: None,
            shadowed: Vec::new(),
            workloads: None,
        }
    }

    /// Fills mode, source and shadowed from the decisions of the workloads behind
    /// the row, in workload name order.
    fn decided(mut self, decisions: Vec<Decision<'_>>) -> Row {
        let modes: BTreeSet<Mode> = decisions.iter().map(|d| d.mode).collect();
        if modes.len() > 1 {
            let mut counts = BTreeMap::new();
            for d in &decisions {
                *counts.entry(d.mode).or_insert(0) += 1;
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
        });
        let shadowed: BTreeSet<String> = decisions
            .iter()
            .flat_map(|d| d.shadowed.iter().map(|p| p.id.to_string()))
            .collect();
        self.shadowed = shadowed.into_iter().collect();
        self
    }

    /// Rows sort as the contract says: mesh, then by namespace, service, port.
    pub fn sort_key(&self) -> (u8, &str, &str, u8, u16) {
        let rank = |scope| match scope {
            Scope::Mesh => 0,
            _ => 1,
        };
        let inner = match self.scope {
            Scope::Mesh | Scope::Namespace => 0,
            Scope::Service => 1,
            Scope::Port => 2,
        };
        (
            rank(self.scope),
            self.namespace.as_deref().unwrap_or(""),
            self.service.as_deref().unwrap_or(""),
            inner,
            self.port.unwrap_or(0),
        )
    }
}

// Resolution on the legacy API (docs/semantics.md §5, from 1.4's
// `AuthenticationPolicyForWorkload`). No inheritance: the chosen policy decides
// alone. For a Service port, the oldest Policy that targets the Service and is
// either port-less or names the port (by number or name: legacy ports are
// Service ports); else the namespace's Policy `default` without targets; else
// the MeshPolicy `default`; else DISABLE. Istio 1.5 mixed mode: where any
// PeerAuthentication applies to a workload, it decides instead.
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
            let winner = oldest(matching.iter().map(|(p, _)| *p).collect());
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
        Decision {
            mode: Mode::Disable,
            level: Level::Default,
            policy: None,
            shadowed: Vec::new(),
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
