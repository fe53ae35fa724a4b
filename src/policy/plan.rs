//! Planning a change: which PeerAuthentication to create, update or delete so that
//! one target's level gets the asked mode (or inherits again), and whether Istio
//! would then actually apply it.
//!
//! The planner works on one target at a time and on a snapshot, so that the
//! offline path can chain targets and the cluster path can re-plan on a fresh read
//! after a conflict. It touches only `spec.mtls` and `spec.portLevelMtls` of the
//! policy Istio already uses at that level; every other field stays as it was.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::mode::Mode;
use crate::policy::model::{
    Created, MANAGED_BY_LABEL, PEER_AUTHENTICATION, ServicePort, TargetPort, object_id,
};
use crate::policy::resolve::{
    Composition, Index, Level, LookupError, Row, RowMode, find_service_port,
};
use crate::policy::{ObjectRef, PeerAuthentication, Service, Snapshot};
use crate::target::Target;

/// What to do to a target's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Set(Mode),
    /// Remove the level's setting, so that it inherits from the level above.
    Unset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditKind {
    Create,
    Update,
    Delete,
}

impl EditKind {
    /// The API verb, as RBAC rules and messages name it.
    pub fn verb(self) -> &'static str {
        match self {
            EditKind::Create => "create",
            EditKind::Update => "update",
            EditKind::Delete => "delete",
        }
    }

    pub fn past_tense(self) -> &'static str {
        match self {
            EditKind::Create => "created",
            EditKind::Update => "updated",
            EditKind::Delete => "deleted",
        }
    }
}

/// One write: the whole object as it should be after the change (for a delete,
/// the object as it was).
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub kind: EditKind,
    pub id: ObjectRef,
    pub object: Value,
}

/// The kinds of object a change writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    PeerAuthentication,
    /// authentication.istio.io/v1alpha1, namespaced.
    Policy,
    /// authentication.istio.io/v1alpha1, cluster-scoped.
    MeshPolicy,
}

impl PolicyKind {
    /// The resource, as API paths and RBAC rules name it.
    pub fn resource(self) -> &'static str {
        match self {
            PolicyKind::PeerAuthentication => "peerauthentications",
            PolicyKind::Policy => "policies",
            PolicyKind::MeshPolicy => "meshpolicies",
        }
    }

    /// One object of the kind, as messages and kubectl name it.
    pub fn singular(self) -> &'static str {
        match self {
            PolicyKind::PeerAuthentication => "peerauthentication",
            PolicyKind::Policy => "policy",
            PolicyKind::MeshPolicy => "meshpolicy",
        }
    }

    pub fn namespaced(self) -> bool {
        self != PolicyKind::MeshPolicy
    }
}

impl Edit {
    /// The kind of the edited object.
    pub fn policy_kind(&self) -> PolicyKind {
        match self.object["kind"].as_str() {
            Some("MeshPolicy") => PolicyKind::MeshPolicy,
            Some("Policy") => PolicyKind::Policy,
            _ => PolicyKind::PeerAuthentication,
        }
    }

    /// The namespace of the edited object; `None` for a cluster-scoped one.
    pub fn namespace(&self) -> Option<&str> {
        self.policy_kind()
            .namespaced()
            .then_some(self.id.namespace.as_str())
    }

    /// `kind NS/NAME` of the object, as messages name it (`meshpolicy NAME` for
    /// the cluster-scoped MeshPolicy).
    pub fn describe(&self) -> String {
        let kind = self.policy_kind().singular();
        match self.namespace() {
            Some(_) => format!("{kind} {}", self.id),
            None => format!("{kind} {}", self.id.name),
        }
    }
}

/// A target whose row, read back after its change was written, is not what
/// the change asked for: another writer, a mutating webhook or a server that
/// answered without writing got in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub target: String,
    /// The row's mode as read back.
    pub read: RowMode,
    /// The level that decides it as read back (`None` for a `MIXED` row).
    pub level: Option<Level>,
}

/// The plan for one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The target as canonical text (a port by its Service port number).
    pub target: String,
    pub change: Change,
    /// The level the change writes.
    pub level: Level,
    /// `None` when the level already is as asked: nothing to write.
    pub edit: Option<Edit>,
    /// Why the result would not take effect, naming what is in the way.
    pub blocked: Option<Refusal>,
    /// The target's rows before and after the change.
    pub before: Vec<Row>,
    pub after: Vec<Row>,
    /// Rows outside the target that the change changes too, as far as the
    /// snapshot reaches: `(target, before, after)`. E.g. on Istio 1.5, a first
    /// PeerAuthentication for a workload takes all its ports from the legacy
    /// policies.
    pub elsewhere: Vec<(String, RowMode, RowMode)>,
}

impl Step {
    /// The target's rows whose mode the change makes weaker: `(target, from,
    /// to)`.
    pub fn weakened(&self) -> Vec<(String, Mode, Mode)> {
        self.after
            .iter()
            .filter_map(|after| {
                let before = self.before.iter().find(|b| b.target == after.target)?;
                weaker(before.mode, after.mode).map(|(from, to)| (after.target.clone(), from, to))
            })
            .collect()
    }

    /// Whether `rows`, read back after the change was written, hold what it
    /// asked: the mode at the target's row (`Set`), or no setting left at the
    /// target's level (`Unset`). A change written with `--force` that was known
    /// not to take effect is not held to it.
    pub fn drift(&self, rows: &[Row]) -> Option<Drift> {
        if self.blocked.is_some() {
            return None;
        }
        let row = rows.iter().find(|r| r.target == self.target)?;
        let level = row.source.as_ref().map(|s| s.level);
        let holds = match self.change {
            Change::Set(mode) => row.mode == RowMode::Single(mode),
            Change::Unset => level != Some(self.level),
        };
        (!holds).then(|| Drift {
            target: self.target.clone(),
            read: row.mode,
            level,
        })
    }

    /// Rows outside the target whose mode the change makes weaker.
    pub fn weakened_elsewhere(&self) -> Vec<(String, Mode, Mode)> {
        self.elsewhere
            .iter()
            .filter_map(|(target, before, after)| {
                weaker(*before, *after).map(|(from, to)| (target.clone(), from, to))
            })
            .collect()
    }
}

fn weaker(before: RowMode, after: RowMode) -> Option<(Mode, Mode)> {
    match (before, after) {
        (RowMode::Single(from), RowMode::Single(to)) if to.strength() < from.strength() => {
            Some((from, to))
        }
        _ => None,
    }
}

/// The rows outside `target_rows` whose mode differs between two resolutions
/// of the same snapshot, before and after a change.
pub(crate) fn changed_elsewhere(
    before: &Index<'_>,
    after: &Index<'_>,
    target_rows: &[Row],
) -> Vec<(String, RowMode, RowMode)> {
    let before_rows = before.all_rows();
    let after_rows: BTreeMap<String, RowMode> = after
        .all_rows()
        .into_iter()
        .map(|row| (row.target, row.mode))
        .collect();
    before_rows
        .into_iter()
        .filter(|row| !target_rows.iter().any(|t| t.target == row.target))
        .filter_map(|row| {
            let now = *after_rows.get(&row.target)?;
            (now != row.mode).then_some((row.target, row.mode, now))
        })
        .collect()
}

/// A change that cannot be planned at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NotFound(LookupError),
    /// Nothing could be written that would take effect, even with `--force`.
    Impossible(Impossible),
}

impl From<LookupError> for PlanError {
    fn from(e: LookupError) -> Self {
        PlanError::NotFound(e)
    }
}

/// Why nothing can be written for a target: the facts, which
/// `render::plan` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Impossible {
    /// A Service without a selector: no workload policy can select its pods.
    NoSelector { service: ObjectRef },
    /// A named target port that no pod or pod template has: there is no
    /// workload port to key `portLevelMtls` on.
    UnresolvedPort {
        service: ObjectRef,
        port: u16,
        target: TargetPort,
    },
    /// Legacy API: the namespace's `default` Policy has targets.
    LegacyDefaultHasTargets { policy: String },
    /// Legacy API: unsetting would delete a policy that holds other
    /// authentication settings.
    LegacyOtherSettings { policy: String },
    /// The planned edit does not apply to the snapshot it was planned on.
    Inapplicable(String),
}

/// Why a change that can be written would not take effect (`--force` writes
/// it anyway): the facts, which `render::plan` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A selector policy in the root namespace, which Istio ignores.
    SelectorInRootNamespace { namespace: String, change: Change },
    /// An older policy of the written level wins, and Istio ignores the
    /// changed one whole; `workload` when the level is the workload's.
    OlderPolicyWins {
        winner: ObjectRef,
        workload: bool,
        result: Mode,
        level: Level,
    },
    /// Another policy would still decide.
    StillDecided {
        policy: String,
        level: Level,
        mode: Mode,
    },
    /// No policy decides: Istio's default does.
    IstiosDefault { mode: Mode },
    /// Legacy API: another policy decides instead.
    LegacyOtherDecides {
        policy: String,
        mode: RowMode,
        level: Option<Level>,
    },
    /// Legacy API: the row would still end up otherwise.
    LegacyResult { mode: RowMode, level: Option<Level> },
}

/// What a change to a target writes: the level, the namespace of the object,
/// the Service and Service port, and the target's canonical spelling (a port by
/// its Service port number).
pub(crate) struct TargetLevel<'s> {
    pub level: Level,
    pub namespace: String,
    pub service: Option<&'s Service>,
    pub port: Option<&'s ServicePort>,
    pub canonical: String,
}

/// Looks a target up. With `root` (PeerAuthentication), the mesh level lives in
/// the root namespace, and a namespace target naming it is the mesh level;
/// without (the legacy API), the mesh level has no namespace.
pub(crate) fn target_level<'s>(
    index: &Index<'s>,
    target: &Target,
    root: Option<&str>,
) -> Result<TargetLevel<'s>, PlanError> {
    let (level, namespace, service, port) = match target {
        Target::Mesh => (
            Level::Mesh,
            root.unwrap_or_default().to_string(),
            None,
            None,
        ),
        Target::Namespace(ns) => {
            index.require_namespace(ns)?;
            let level = if Some(ns.as_str()) == root {
                Level::Mesh
            } else {
                Level::Namespace
            };
            (level, ns.clone(), None, None)
        }
        Target::Service { namespace, service } => {
            let svc = index.require_service(namespace, service)?;
            (Level::Workload, namespace.clone(), Some(svc), None)
        }
        Target::Port {
            namespace,
            service,
            port,
        } => {
            let svc = index.require_service(namespace, service)?;
            let port = find_service_port(svc, port)?;
            (Level::Port, namespace.clone(), Some(svc), Some(port))
        }
    };
    let canonical = match (service, port) {
        (Some(svc), Some(p)) => format!("{}:{}", svc.id, p.port),
        _ => target.to_string(),
    };
    Ok(TargetLevel {
        level,
        namespace,
        service,
        port,
        canonical,
    })
}

/// Plans `change` on `target` against `snapshot`.
pub fn plan_change(
    snapshot: &Snapshot,
    target: &Target,
    change: Change,
) -> Result<Step, PlanError> {
    if snapshot.api.is_legacy() {
        return crate::policy::legacy::plan_legacy_change(snapshot, target, change);
    }
    let index = Index::new(snapshot);
    let root = snapshot.root_namespace.as_str();
    let TargetLevel {
        level,
        namespace,
        service,
        port,
        canonical,
    } = target_level(&index, target, Some(root))?;
    let before = index.rows_for(target)?;

    // The policy Istio uses at this level, if any.
    let current: Option<&PeerAuthentication> = match service {
        None => {
            let composition = index.compose(&namespace, &Default::default());
            match level {
                Level::Mesh => composition.mesh.first().copied(),
                _ => composition.namespace.first().copied(),
            }
        }
        Some(svc) => {
            let selector = svc.selector.as_ref().ok_or_else(|| {
                PlanError::Impossible(Impossible::NoSelector {
                    service: svc.id.clone(),
                })
            })?;
            workload_policy_for(snapshot, &svc.id.namespace, selector)
        }
    };
    let ports: BTreeSet<u32> = match (service, port) {
        (Some(svc), Some(p)) => {
            let ports: BTreeSet<u32> = index
                .port_targets(svc, p)
                .into_iter()
                .filter_map(|(_, tp)| tp)
                .collect();
            if ports.is_empty() {
                return Err(PlanError::Impossible(Impossible::UnresolvedPort {
                    service: svc.id.clone(),
                    port: p.port,
                    target: p.target_port.clone(),
                }));
            }
            ports
        }
        _ => BTreeSet::new(),
    };

    // Change the object, or decide there is nothing to change.
    let mut object = match current {
        Some(p) => p.object.clone(),
        None => new_policy(snapshot, &namespace, service, level),
    };
    let before_object = object.clone();
    let mode = match change {
        Change::Set(m) => Some(m),
        Change::Unset => None,
    };
    if level == Level::Port {
        for p in &ports {
            set_port_mode(&mut object, *p, mode);
        }
    } else {
        set_mode(&mut object, mode);
    }
    let edit = match current {
        _ if object == before_object && current.is_some() => None,
        None if mode.is_none() => None,
        None => Some(Edit {
            kind: EditKind::Create,
            id: object_id(&object),
            object,
        }),
        // A policy left without a setting is deleted, unless it is the one
        // Istio uses at its level over newer ones: then deleting it would hand
        // the level to them, so it stays, empty.
        Some(p) if !has_effect(&object) && !shadows_others(snapshot, p, &object) => Some(Edit {
            kind: EditKind::Delete,
            id: p.id.clone(),
            object: p.object.clone(),
        }),
        Some(p) => Some(Edit {
            kind: EditKind::Update,
            id: p.id.clone(),
            object,
        }),
    };

    let mut after_snapshot;
    let after_index;
    let (check_index, ours) = match &edit {
        None => (&index, current.map(|p| p.id.clone())),
        Some(e) => {
            after_snapshot = snapshot.clone();
            apply_edit(&mut after_snapshot, e)
                .map_err(|e| PlanError::Impossible(Impossible::Inapplicable(e)))?;
            after_index = Index::new(&after_snapshot);
            (&after_index, Some(e.id.clone()))
        }
    };
    let after = check_index.rows_for(target)?;
    let elsewhere = match &edit {
        Some(_) => changed_elsewhere(&index, check_index, &after),
        None => Vec::new(),
    };
    let blocked = verify(
        check_index,
        &namespace,
        service,
        port,
        level,
        mode,
        ours.as_ref(),
    );
    Ok(Step {
        target: canonical,
        change,
        level,
        edit,
        blocked,
        before,
        after,
        elsewhere,
    })
}

/// The workload policy a Service's changes go to: the oldest whose
/// `selector.matchLabels` equals the Service's selector.
fn workload_policy_for<'a>(
    snapshot: &'a Snapshot,
    namespace: &str,
    selector: &crate::policy::Labels,
) -> Option<&'a PeerAuthentication> {
    snapshot
        .policies
        .iter()
        .filter(|p| {
            p.id.namespace == namespace && p.is_workload_policy() && &p.selector == selector
        })
        .min_by(|a, b| a.age_key().cmp(&b.age_key()))
}

/// Checks that every workload behind the target ends up as asked; if not, says
/// which policy or rule is in the way.
fn verify(
    index: &Index<'_>,
    namespace: &str,
    service: Option<&Service>,
    port: Option<&ServicePort>,
    level: Level,
    mode: Option<Mode>,
    ours: Option<&ObjectRef>,
) -> Option<Refusal> {
    // Each workload's composition, and the port it resolves the target to.
    let workloads: Vec<(Composition<'_>, Option<u32>)> = match (service, port) {
        (None, _) => vec![(index.compose(namespace, &Default::default()), None)],
        (Some(svc), None) => index
            .workload_labels(svc)
            .iter()
            .map(|labels| (index.compose(namespace, labels), None))
            .collect(),
        (Some(svc), Some(p)) => index
            .port_targets(svc, p)
            .iter()
            .filter_map(|(labels, tp)| Some((index.compose(namespace, labels), Some((*tp)?))))
            .collect(),
    };
    let root = index.root_namespace();
    for (composition, port) in workloads {
        let decision = match port {
            Some(p) => composition.port_decision(p),
            None => composition.workload_decision(),
        };
        let holds = match mode {
            Some(m) => {
                decision.level == level
                    && decision.mode == m
                    && decision.policy.map(|p| p.id()) == ours
            }
            None => decision.level < level,
        };
        if holds {
            continue;
        }
        if service.is_some() && namespace == root {
            return Some(Refusal::SelectorInRootNamespace {
                namespace: namespace.to_string(),
                change: mode.map_or(Change::Unset, Change::Set),
            });
        }
        // The policy Istio uses at the written level, if it is not ours.
        let level_winner = match level {
            Level::Mesh => composition.mesh.first(),
            Level::Namespace => composition.namespace.first(),
            _ => composition.workload.first(),
        };
        return Some(match (mode, level_winner) {
            (Some(_), Some(winner)) if Some(&winner.id) != ours => Refusal::OlderPolicyWins {
                winner: winner.id.clone(),
                workload: matches!(level, Level::Workload | Level::Port),
                result: decision.mode,
                level: decision.level,
            },
            _ => match decision.policy {
                Some(p) => Refusal::StillDecided {
                    policy: p.id().to_string(),
                    level: decision.level,
                    mode: decision.mode,
                },
                None => Refusal::IstiosDefault {
                    mode: decision.mode,
                },
            },
        });
    }
    None
}

fn new_policy(
    snapshot: &Snapshot,
    namespace: &str,
    service: Option<&Service>,
    level: Level,
) -> Value {
    let base = match (service, level) {
        (Some(svc), _) => svc.id.name.clone(),
        _ => "default".to_string(),
    };
    let taken = |name: &str| {
        snapshot
            .policies
            .iter()
            .map(|p| &p.id)
            .chain(snapshot.skipped_policies.iter().map(|p| &p.id))
            .any(|id| id.namespace == namespace && id.name == name)
    };
    let name = std::iter::once(base.clone())
        .chain((1..).map(|i| {
            if i == 1 {
                format!("{base}-mtls")
            } else {
                format!("{base}-mtls-{i}")
            }
        }))
        .find(|n| !taken(n))
        .unwrap_or(base);
    let mut spec = Map::new();
    if let Some(selector) = service.and_then(|s| s.selector.as_ref()) {
        spec.insert("selector".into(), json!({ "matchLabels": selector }));
    }
    json!({
        "apiVersion": snapshot.api.write_version(),
        "kind": PEER_AUTHENTICATION,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: "mtls" },
        },
        "spec": spec,
    })
}

fn spec_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("spec").is_some_and(Value::is_object) {
        object["spec"] = json!({});
    }
    match object.get_mut("spec") {
        Some(Value::Object(spec)) => spec,
        _ => unreachable!("spec was just made a map"),
    }
}

/// Sets `spec.mtls.mode`, or removes `spec.mtls` (`None`).
fn set_mode(object: &mut Value, mode: Option<Mode>) {
    let spec = spec_mut(object);
    match mode {
        Some(m) => {
            let mtls = spec.entry("mtls").or_insert_with(|| json!({}));
            if !mtls.is_object() {
                *mtls = json!({});
            }
            mtls["mode"] = json!(m.as_str());
        }
        None => {
            if let Some(mtls) = spec.get("mtls")
                && mtls
                    .get("mode")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m != "UNSET")
            {
                spec.remove("mtls");
            }
        }
    }
}

/// Sets one `spec.portLevelMtls` entry, or removes it (`None`), dropping the map
/// when it becomes empty (Istio rejects an empty one).
fn set_port_mode(object: &mut Value, port: u32, mode: Option<Mode>) {
    let spec = spec_mut(object);
    let key = port.to_string();
    match mode {
        Some(m) => {
            let ports = spec.entry("portLevelMtls").or_insert_with(|| json!({}));
            if !ports.is_object() {
                *ports = json!({});
            }
            ports[key.as_str()] = json!({ "mode": m.as_str() });
        }
        None => {
            let Some(Value::Object(ports)) = spec.get_mut("portLevelMtls") else {
                return;
            };
            let sets_mode = ports
                .get(&key)
                .and_then(|e| e.get("mode"))
                .and_then(Value::as_str)
                .is_some_and(|m| m != "UNSET");
            if sets_mode {
                ports.remove(&key);
            }
            if ports.is_empty() {
                spec.remove("portLevelMtls");
            }
        }
    }
}

/// Whether a policy still does anything: it has `mtls` or `portLevelMtls`.
/// Whether deleting `policy`, emptied to `emptied`, would resolve otherwise
/// than keeping it empty: it wins its level over newer policies.
fn shadows_others(snapshot: &Snapshot, policy: &PeerAuthentication, emptied: &Value) -> bool {
    let resolve = |kind: EditKind, object: &Value| {
        let mut s = snapshot.clone();
        let edit = Edit {
            kind,
            id: policy.id.clone(),
            object: object.clone(),
        };
        apply_edit(&mut s, &edit).map(|()| Index::new(&s).all_rows())
    };
    match (
        resolve(EditKind::Update, emptied),
        resolve(EditKind::Delete, &policy.object),
    ) {
        (Ok(kept), Ok(deleted)) => kept != deleted,
        _ => false,
    }
}

fn has_effect(object: &Value) -> bool {
    object
        .get("spec")
        .is_some_and(|s| s.get("mtls").is_some() || s.get("portLevelMtls").is_some())
}

/// Applies an edit to a snapshot, as the server would.
pub fn apply_edit(snapshot: &mut Snapshot, edit: &Edit) -> Result<(), String> {
    if edit.policy_kind() != PolicyKind::PeerAuthentication {
        return crate::policy::legacy::apply_legacy_edit(snapshot, edit);
    }
    let policy = match edit.kind {
        EditKind::Delete => None,
        EditKind::Create | EditKind::Update => {
            let mut policy = PeerAuthentication::from_object(edit.object.clone())?;
            // A policy keeps its age: one created by an earlier step of the same
            // plan is still newer than everything else.
            policy.created = match snapshot.policy(&edit.id) {
                Some(existing) => existing.created,
                None => Created::Pending,
            };
            Some(policy)
        }
    };
    snapshot.put_policy(&edit.id, policy);
    snapshot
        .namespaces
        .entry(edit.id.namespace.clone())
        .or_insert_with(|| crate::policy::Namespace {
            name: edit.id.namespace.clone(),
            labels: Default::default(),
        });
    Ok(())
}
