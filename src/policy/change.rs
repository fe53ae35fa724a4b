//! What a change is, as both planners (PeerAuthentication, `plan.rs`; the
//! legacy API, `legacy.rs`) and the command line see it: the change asked for,
//! the edits that carry it out, the plan for one target with its rows before and
//! after, and why a change cannot be made or would not take effect — typed facts
//! that `render::plan` puts into words.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::mode::Mode;
use crate::policy::model::{ServicePort, TargetPort};
use crate::policy::resolve::{Index, Level, LookupError, Row, RowMode};
use crate::policy::{ObjectRef, Service};
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

    /// The object as `kubectl apply -f` must get it for the cluster to end up
    /// as planned, given the object as it is now (`original`): server-managed
    /// fields left out, and every `spec` field the edit removes set to `null`,
    /// which a merge patch deletes — `kubectl apply` removes only fields it
    /// recorded itself, and an object written by anything else records none.
    /// A deleted PeerAuthentication comes as itself with `mtls` and
    /// `portLevelMtls` null: it then sets nothing, which is what its deletion
    /// does to the modes (a policy is deleted only when no younger one of its
    /// level would take over). `None` for a deletion of a legacy policy, which
    /// only `kubectl delete` can do (an emptied one still decides).
    pub fn for_apply(&self, original: Option<&Value>) -> Option<Value> {
        let mut object = match self.kind {
            EditKind::Delete if self.policy_kind() != PolicyKind::PeerAuthentication => {
                return None;
            }
            EditKind::Delete => {
                let mut emptied = original.unwrap_or(&self.object).clone();
                if let Some(Value::Object(spec)) = emptied.get_mut("spec") {
                    spec.remove("mtls");
                    spec.remove("portLevelMtls");
                }
                emptied
            }
            EditKind::Create | EditKind::Update => self.object.clone(),
        };
        if let Some(Value::Object(meta)) = object.get_mut("metadata") {
            for server in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
            ] {
                meta.remove(server);
            }
        }
        if let Value::Object(map) = &mut object {
            map.remove("status");
        }
        if let (Some(before), Some(after)) =
            (original.and_then(|o| o.get("spec")), object.get_mut("spec"))
        {
            null_removed(before, after);
        }
        Some(object)
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

/// Sets to `null` in `after` each key of `before` it lacks, map by map.
fn null_removed(before: &Value, after: &mut Value) {
    let (Value::Object(before), Value::Object(after)) = (before, after) else {
        return;
    };
    for (key, old) in before {
        match after.get_mut(key) {
            None => {
                after.insert(key.clone(), Value::Null);
            }
            Some(new) => null_removed(old, new),
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
    /// A pod: changes act on the levels policies have (mesh, namespace,
    /// Service, Service port), and a pod's mode follows its Service's.
    Pod { target: String },
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

/// The name for a new policy: `base`, else `base-mtls`, else `base-mtls-2`, ...
/// — the first that `taken` says is free.
pub(crate) fn free_name(base: &str, taken: impl Fn(&str) -> bool) -> String {
    std::iter::once(base.to_string())
        .chain((1..).map(|i| match i {
            1 => format!("{base}-mtls"),
            i => format!("{base}-mtls-{i}"),
        }))
        .find(|name| !taken(name))
        .unwrap_or_else(|| base.to_string())
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
            let (svc, port) = index.require_port(namespace, service, port)?;
            (Level::Port, namespace.clone(), Some(svc), Some(port))
        }
        Target::Pod { .. } => {
            return Err(PlanError::Impossible(Impossible::Pod {
                target: target.to_string(),
            }));
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
