//! Planning a change: which PeerAuthentication to create, update or delete so that
//! one target's level gets the asked mode (or inherits again), and whether Istio
//! would then actually apply it.
//!
//! The planner works on one target at a time and on a snapshot, so that the
//! offline path can chain targets and the cluster path can re-plan on a fresh read
//! after a conflict. It touches only `spec.mtls` and `spec.portLevelMtls` of the
//! policy Istio already uses at that level; every other field stays as it was.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::mode::Mode;
use crate::policy::model::{
    Created, MANAGED_BY_LABEL, PEER_AUTHENTICATION, ServicePort, object_id,
};
use crate::policy::resolve::{Composition, Index, Level};
use crate::policy::{ObjectRef, PeerAuthentication, Service, Snapshot};
use crate::target::Target;

pub use crate::policy::change::{
    Change, Drift, Edit, EditKind, Impossible, PlanError, PolicyKind, Refusal, Step,
};
use crate::policy::change::{TargetLevel, changed_elsewhere, free_name, target_level};

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
    let object = match current {
        Some(p) => p.object.clone(),
        None => new_policy(snapshot, &namespace, service, level),
    };
    let mode = match change {
        Change::Set(m) => Some(m),
        Change::Unset => None,
    };
    let edit = edit_for(snapshot, current, object, level, &ports, mode);

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

/// The write that gives `object` — the policy Istio uses at the level
/// (`current`), or a new one — the asked mode at the level (on each of
/// `ports` for the port level); `None` when nothing changes.
fn edit_for(
    snapshot: &Snapshot,
    current: Option<&PeerAuthentication>,
    mut object: Value,
    level: Level,
    ports: &BTreeSet<u32>,
    mode: Option<Mode>,
) -> Option<Edit> {
    let before_object = object.clone();
    if level == Level::Port {
        for p in ports {
            set_port_mode(&mut object, *p, mode);
        }
    } else {
        set_mode(&mut object, mode);
    }
    match current {
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
    }
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
    let name = free_name(&base, taken);
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
            seen: false,
        });
    Ok(())
}
