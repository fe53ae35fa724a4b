//! Changes on the legacy API, authentication.istio.io/v1alpha1 (Istio 1.4 and
//! earlier; docs/semantics.md §5): the MeshPolicy and Policy objects a change
//! writes. Their resolution is in `resolve.rs`, beside PeerAuthentication's.

use serde_json::{Value, json};

use crate::mode::Mode;
use crate::policy::change::{
    Change, Edit, EditKind, Impossible, PlanError, PolicyKind, Refusal, Step, TargetLevel,
    changed_elsewhere, free_name, target_level,
};
use crate::policy::model::{
    Created, LEGACY_API_VERSION, LegacyKind, LegacyPolicy, LegacyPort, MANAGED_BY_LABEL,
    ServicePort,
};
use crate::policy::resolve::{Index, Level, Row, RowMode};
use crate::policy::{ObjectRef, Service, Snapshot};
use crate::target::Target;

/// Plans a change on the legacy API: the MeshPolicy `default` for the mesh, the
/// namespace's Policy `default`, a port-less Policy targeting the Service, or a
/// Policy targeting exactly the Service port. Only `peers`' mtls entry is
/// changed; `origins`, `principalBinding` and other peers stay.
pub fn plan_legacy_change(
    snapshot: &Snapshot,
    target: &Target,
    change: Change,
) -> Result<Step, PlanError> {
    let index = Index::new(snapshot);
    let TargetLevel {
        level,
        namespace,
        service,
        port,
        canonical,
    } = target_level(&index, target, None)?;
    let before = index.rows_for(target)?;

    let current = policy_of_level(&snapshot.legacy_policies, level, &namespace, service, port);
    if let Some(p) = current
        && level == Level::Namespace
        && !p.targets.is_empty()
    {
        return Err(PlanError::Impossible(Impossible::LegacyDefaultHasTargets {
            policy: format!("policy {}", p.id),
        }));
    }
    let edit = match (current, change) {
        (Some(p), Change::Set(mode)) if p.mode == mode => None,
        (Some(p), Change::Set(mode)) => {
            let mut object = p.object.clone();
            set_peer_mode(&mut object, Some(mode));
            Some(Edit {
                kind: EditKind::Update,
                id: p.id.clone(),
                object,
            })
        }
        (None, Change::Set(mode)) => {
            let mut object = new_legacy_policy(snapshot, &namespace, service, port);
            set_peer_mode(&mut object, Some(mode));
            Some(Edit {
                kind: EditKind::Create,
                id: crate::policy::model::object_id(&object),
                object,
            })
        }
        (None, Change::Unset) => None,
        (Some(p), Change::Unset) => Some(deletion(p)?),
    };

    let mut after_snapshot = snapshot.clone();
    if let Some(e) = &edit {
        apply_legacy_edit(&mut after_snapshot, e)
            .map_err(|e| PlanError::Impossible(Impossible::Inapplicable(e)))?;
    }
    let after_index = Index::new(&after_snapshot);
    let after = after_index.rows_for(target)?;
    let elsewhere = match &edit {
        Some(_) => changed_elsewhere(&index, &after_index, &after),
        None => Vec::new(),
    };
    let ours = edit
        .as_ref()
        .map(|e| e.id.clone())
        .or_else(|| current.map(|p| p.id.clone()));
    let blocked = after
        .first()
        .and_then(|row| refusal(row, change, level, ours.as_ref()));
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

/// The policy of exactly this level, the one a change edits: the MeshPolicy
/// `default`, the namespace's Policy `default`, or the oldest Policy targeting
/// just the Service (port-less) or just the Service port.
fn policy_of_level<'a>(
    policies: &'a [LegacyPolicy],
    level: Level,
    namespace: &str,
    service: Option<&Service>,
    port: Option<&ServicePort>,
) -> Option<&'a LegacyPolicy> {
    let in_namespace =
        |p: &&LegacyPolicy| p.kind == LegacyKind::Policy && p.id.namespace == namespace;
    let only_target =
        |p: &&LegacyPolicy, svc: &Service| p.targets.len() == 1 && p.targets[0].name == svc.id.name;
    match (service, port) {
        (None, _) if level == Level::Mesh => policies
            .iter()
            .find(|p| p.kind == LegacyKind::MeshPolicy && p.id.name == "default"),
        (None, _) => policies
            .iter()
            .filter(in_namespace)
            .find(|p| p.id.name == "default"),
        (Some(svc), None) => oldest_of(
            policies
                .iter()
                .filter(in_namespace)
                .filter(|p| only_target(p, svc) && p.targets[0].ports.is_empty())
                .collect(),
        ),
        (Some(svc), Some(sp)) => oldest_of(
            policies
                .iter()
                .filter(in_namespace)
                .filter(|p| {
                    only_target(p, svc)
                        && p.targets[0].ports.len() == 1
                        && match &p.targets[0].ports[0] {
                            LegacyPort::Number(n) => *n == sp.port,
                            LegacyPort::Name(name) => sp.name.as_deref() == Some(name.as_str()),
                        }
                })
                .collect(),
        ),
    }
}

/// Deleting a level's policy, the only way a legacy level inherits: refused
/// when the policy holds authentication settings the deletion would lose.
fn deletion(policy: &LegacyPolicy) -> Result<Edit, PlanError> {
    let spec = policy.object.get("spec");
    let keeps = |key: &str| {
        spec.and_then(|s| s.get(key))
            .is_some_and(|v| !v.is_null() && v != &json!([]))
    };
    let other_peers = spec
        .and_then(|s| s.get("peers"))
        .and_then(Value::as_array)
        .is_some_and(|peers| peers.iter().any(|peer| peer.get("mtls").is_none()));
    if keeps("origins") || keeps("principalBinding") || other_peers {
        return Err(PlanError::Impossible(Impossible::LegacyOtherSettings {
            policy: policy.display(),
        }));
    }
    Ok(Edit {
        kind: EditKind::Delete,
        id: policy.id.clone(),
        object: policy.object.clone(),
    })
}

/// Why the planned state does not hold the change, if it does not: another
/// policy decides the row, or ours does with another result.
fn refusal(row: &Row, change: Change, level: Level, ours: Option<&ObjectRef>) -> Option<Refusal> {
    let source = row.source.as_ref();
    let ours = ours.map(ObjectRef::to_string);
    let holds = match change {
        Change::Set(mode) => {
            row.mode == RowMode::Single(mode)
                && source.is_some_and(|s| s.level == level && s.policy == ours)
        }
        Change::Unset => source.is_some_and(|s| s.level < level),
    };
    if holds {
        return None;
    }
    let level = source.map(|s| s.level);
    Some(match source.and_then(|s| s.policy.clone()) {
        Some(policy) if Some(&policy) != ours.as_ref() => Refusal::LegacyOtherDecides {
            policy,
            mode: row.mode,
            level,
        },
        _ => Refusal::LegacyResult {
            mode: row.mode,
            level,
        },
    })
}

/// The oldest of some legacy policies (creation time, then name).
fn oldest_of(candidates: Vec<&LegacyPolicy>) -> Option<&LegacyPolicy> {
    candidates
        .into_iter()
        .min_by(|a, b| (a.created, &a.id.name).cmp(&(b.created, &b.id.name)))
}

/// Sets the mode of the first mtls peer (`{mtls: {}}` for STRICT, `{mtls: {mode:
/// PERMISSIVE}}`), or removes the mtls peers for DISABLE (`None` is also DISABLE
/// here: no mtls peer); other peers stay where they are.
fn set_peer_mode(object: &mut Value, mode: Option<Mode>) {
    if !object.get("spec").is_some_and(Value::is_object) {
        object["spec"] = json!({});
    }
    let mut peers: Vec<Value> = object["spec"]["peers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mtls = match mode {
        Some(Mode::Strict) => Some(json!({"mtls": {}})),
        Some(Mode::Permissive) => Some(json!({"mtls": {"mode": "PERMISSIVE"}})),
        Some(Mode::Disable) | None => None,
    };
    let first = peers.iter().position(|p| p.get("mtls").is_some());
    match (mtls, first) {
        (Some(entry), Some(i)) => peers[i] = entry,
        (Some(entry), None) => peers.push(entry),
        (None, _) => peers.retain(|p| p.get("mtls").is_none()),
    }
    if let Some(spec) = object["spec"].as_object_mut() {
        if peers.is_empty() {
            spec.remove("peers");
        } else {
            spec.insert("peers".into(), Value::Array(peers));
        }
    }
}

/// A new MeshPolicy or Policy with a deterministic name: `default` for the mesh
/// and namespaces, the Service's name, or `SERVICE-PORT` for a Service port.
fn new_legacy_policy(
    snapshot: &Snapshot,
    namespace: &str,
    service: Option<&Service>,
    port: Option<&ServicePort>,
) -> Value {
    let base = match (service, port) {
        (Some(svc), Some(p)) => format!("{}-{}", svc.id.name, p.port),
        (Some(svc), None) => svc.id.name.clone(),
        _ => "default".to_string(),
    };
    let taken = |name: &str| {
        snapshot
            .legacy_policies
            .iter()
            .any(|p| p.id.namespace == namespace && p.id.name == name)
    };
    // The namespace's `default` and the MeshPolicy `default` have fixed names.
    let name = match service {
        Some(_) => free_name(&base, taken),
        None => base,
    };
    let kind = if namespace.is_empty() {
        "MeshPolicy"
    } else {
        "Policy"
    };
    let metadata = if namespace.is_empty() {
        json!({"name": name, "labels": {MANAGED_BY_LABEL: "mtls"}})
    } else {
        json!({"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: "mtls"}})
    };
    let mut spec = serde_json::Map::new();
    if let Some(svc) = service {
        let mut target = json!({"name": svc.id.name});
        if let Some(p) = port {
            target["ports"] = json!([{"number": p.port}]);
        }
        spec.insert("targets".into(), json!([target]));
    }
    json!({"apiVersion": LEGACY_API_VERSION, "kind": kind, "metadata": metadata, "spec": spec})
}

/// Applies a legacy edit to a snapshot, as the server would.
pub fn apply_legacy_edit(snapshot: &mut Snapshot, edit: &Edit) -> Result<(), String> {
    let kind = match edit.policy_kind() {
        PolicyKind::MeshPolicy => LegacyKind::MeshPolicy,
        _ => LegacyKind::Policy,
    };
    let at = snapshot
        .legacy_policies
        .iter()
        .position(|p| p.kind == kind && p.id == edit.id);
    let created = at.map_or(Created::Pending, |i| snapshot.legacy_policies[i].created);
    match (edit.kind, at) {
        (EditKind::Delete, Some(i)) => {
            snapshot.legacy_policies.remove(i);
        }
        (EditKind::Delete, None) => {}
        (_, at) => {
            let mut policy = LegacyPolicy::from_object(kind, edit.object.clone())?;
            policy.created = created;
            match at {
                Some(i) => snapshot.legacy_policies[i] = policy,
                None => snapshot.legacy_policies.push(policy),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::IstioApi;

    fn legacy(
        kind: LegacyKind,
        ns: &str,
        name: &str,
        created: &str,
        spec: serde_json::Value,
    ) -> LegacyPolicy {
        let mut metadata = json!({"name": name, "creationTimestamp": created});
        if kind == LegacyKind::Policy {
            metadata["namespace"] = json!(ns);
        }
        LegacyPolicy::from_object(kind, json!({"metadata": metadata, "spec": spec}))
            .expect("valid legacy policy")
    }

    fn world(policies: Vec<LegacyPolicy>) -> Snapshot {
        let mut s = Snapshot::new("istio-system");
        s.api = IstioApi::Legacy;
        s.legacy_policies = policies;
        s.services = vec![
            Service::from_object(&json!({
                "metadata": {"name": "api", "namespace": "prod"},
                "spec": {"selector": {"app": "api"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "grpc", "port": 9090}]},
            }))
            .expect("service"),
        ];
        s.note_namespaces();
        s
    }

    fn decided(s: &Snapshot, target: &str) -> (RowMode, Level, Option<String>) {
        let rows = Index::new(s)
            .rows_for(&target.parse::<Target>().expect("target"))
            .expect("rows");
        let row = rows.first().expect("a row");
        let source = row.source.clone().expect("a source");
        (row.mode, source.level, source.policy)
    }

    const T0: &str = "2019-01-01T00:00:00Z";
    const T1: &str = "2019-06-01T00:00:00Z";

    #[test]
    fn peers_give_the_mode_strict_is_the_zero_value_and_no_mtls_peer_is_disable() {
        let cases = [
            (json!({"peers": [{"mtls": {}}]}), Mode::Strict),
            (json!({"peers": [{"mtls": null}]}), Mode::Strict),
            (
                json!({"peers": [{"mtls": {"mode": "PERMISSIVE"}}]}),
                Mode::Permissive,
            ),
            (
                json!({"peers": [{"jwt": {}}, {"mtls": {"mode": "PERMISSIVE"}}]}),
                Mode::Permissive,
            ),
            (json!({"peers": [{"jwt": {}}]}), Mode::Disable),
            (json!({}), Mode::Disable),
        ];
        for (spec, mode) in cases {
            assert_eq!(
                legacy(LegacyKind::MeshPolicy, "", "default", T0, spec.clone()).mode,
                mode,
                "{spec}"
            );
        }
    }

    #[test]
    fn no_policy_at_all_is_disable() {
        let s = world(vec![]);
        for target in ["mesh", "prod", "prod/api", "prod/api:80"] {
            assert_eq!(
                decided(&s, target),
                (RowMode::Single(Mode::Disable), Level::Default, None),
                "{target}"
            );
        }
    }

    #[test]
    fn there_is_no_inheritance_the_chosen_policy_decides_alone() {
        // A namespace default without peers is DISABLE even under a PERMISSIVE mesh.
        let s = world(vec![
            legacy(
                LegacyKind::MeshPolicy,
                "",
                "default",
                T0,
                json!({"peers": [{"mtls": {"mode": "PERMISSIVE"}}]}),
            ),
            legacy(LegacyKind::Policy, "prod", "default", T0, json!({})),
        ]);
        assert_eq!(
            decided(&s, "mesh"),
            (
                RowMode::Single(Mode::Permissive),
                Level::Mesh,
                Some("/default".into())
            )
        );
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Disable),
                Level::Namespace,
                Some("prod/default".into())
            )
        );
    }

    /// Istio 1.5 (1.5.10 `authenticationPolicyForWorkload`): a Service policy
    /// naming the port beats a port-less one whatever their age, and no policy
    /// in either API is PERMISSIVE, not DISABLE.
    #[test]
    fn istio_1_5_prefers_the_port_naming_policy_and_defaults_to_permissive() {
        let mut s = world(vec![
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-all",
                T0,
                json!({"targets": [{"name": "api"}], "peers": [{"mtls": {}}]}),
            ),
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-http",
                T1,
                json!({"targets": [{"name": "api", "ports": [{"number": 80}]}]}),
            ),
        ]);
        s.api = IstioApi::Mixed("security.istio.io/v1beta1".into());
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Disable),
                Level::Port,
                Some("prod/api-http".into())
            ),
            "the younger port-naming policy wins on 1.5"
        );
        assert_eq!(
            decided(&s, "prod/api:9090"),
            (
                RowMode::Single(Mode::Strict),
                Level::Workload,
                Some("prod/api-all".into())
            )
        );

        s.legacy_policies.clear();
        let rows = Index::new(&s)
            .rows_for(&"prod/api:80".parse::<Target>().expect("target"))
            .expect("rows");
        let row = rows.first().expect("a row");
        assert_eq!(row.mode, RowMode::Single(Mode::Permissive));
        assert_eq!(row.source.as_ref().map(|s| s.level), Some(Level::Default));

        s.api = IstioApi::Legacy;
        let rows = Index::new(&s)
            .rows_for(&"prod/api:80".parse::<Target>().expect("target"))
            .expect("rows");
        assert_eq!(
            rows.first().expect("a row").mode,
            RowMode::Single(Mode::Disable),
            "1.4: no policy, no mTLS"
        );
    }

    #[test]
    fn service_policies_win_the_oldest_portless_or_port_naming_one() {
        let s = world(vec![
            legacy(
                LegacyKind::MeshPolicy,
                "",
                "default",
                T0,
                json!({"peers": [{"mtls": {}}]}),
            ),
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-http",
                T1,
                json!({"targets": [{"name": "api", "ports": [{"name": "http"}]}], "peers": [{"mtls": {"mode": "PERMISSIVE"}}]}),
            ),
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-grpc",
                T0,
                json!({"targets": [{"name": "api", "ports": [{"number": 9090}]}]}),
            ),
            legacy(
                LegacyKind::Policy,
                "prod",
                "other",
                T0,
                json!({"targets": [{"name": "web"}]}),
            ),
        ]);
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Permissive),
                Level::Port,
                Some("prod/api-http".into())
            )
        );
        assert_eq!(
            decided(&s, "prod/api:9090"),
            (
                RowMode::Single(Mode::Disable),
                Level::Port,
                Some("prod/api-grpc".into())
            )
        );
        assert_eq!(
            decided(&s, "prod/api"),
            (
                RowMode::Single(Mode::Strict),
                Level::Mesh,
                Some("/default".into())
            )
        );

        let s = world(vec![
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-all",
                T0,
                json!({"targets": [{"name": "api"}], "peers": [{"mtls": {}}]}),
            ),
            legacy(
                LegacyKind::Policy,
                "prod",
                "api-http",
                T1,
                json!({"targets": [{"name": "api", "ports": [{"number": 80}]}]}),
            ),
        ]);
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Strict),
                Level::Workload,
                Some("prod/api-all".into())
            )
        );
        assert_eq!(
            decided(&s, "prod/api"),
            (
                RowMode::Single(Mode::Strict),
                Level::Workload,
                Some("prod/api-all".into())
            )
        );
    }

    #[test]
    fn a_peer_authentication_that_applies_wins_over_legacy_policies() {
        let mut s = world(vec![legacy(
            LegacyKind::Policy,
            "prod",
            "default",
            T0,
            json!({"peers": [{"mtls": {}}]}),
        )]);
        s.policies.push(
            crate::policy::PeerAuthentication::from_object(json!({
                "apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
                "metadata": {"name": "default", "namespace": "prod"}, "spec": {"mtls": {"mode": "PERMISSIVE"}},
            }))
            .expect("policy"),
        );
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Permissive),
                Level::Namespace,
                Some("prod/default".into())
            )
        );
        let rows = Index::new(&s)
            .rows_for(&"prod/api:80".parse().expect("target"))
            .expect("rows");
        assert_eq!(
            rows[0]
                .source
                .as_ref()
                .and_then(|s| s.api_version.clone())
                .as_deref(),
            Some("security.istio.io/v1beta1")
        );
    }

    #[test]
    fn auto_on_both_apis_lets_legacy_policies_decide_where_no_peer_authentication_applies() {
        use crate::source::Api;
        use crate::source::manifests::{Input, LoadOptions, load};
        let text = "\
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: default, namespace: prod}
spec: {peers: [{mtls: {}}]}
---
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata: {name: default, namespace: dev}
spec: {peers: [{mtls: {}}]}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: dev}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: prod}
spec: {selector: {app: api}, ports: [{port: 80, targetPort: 8080}, {port: 90}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: dev}
spec: {selector: {app: web}, ports: [{port: 80}]}
";
        let load_with = |api| {
            load(
                &[Input::text("mixed.yaml", text)],
                &LoadOptions {
                    root_namespace: None,
                    api,
                },
            )
            .expect("loads")
            .snapshot
        };
        let s = load_with(Api::Auto);
        assert_eq!(s.api, IstioApi::Mixed("security.istio.io/v1beta1".into()));
        // prod: no PeerAuthentication applies, the legacy Policy decides; dev:
        // the PeerAuthentication decides, and the legacy Policy is ignored.
        assert_eq!(
            decided(&s, "prod/api:80"),
            (
                RowMode::Single(Mode::Strict),
                Level::Namespace,
                Some("prod/default".into())
            )
        );
        assert_eq!(
            decided(&s, "dev/web:80").0,
            RowMode::Single(Mode::Permissive)
        );
        // Asked for v1 only, the legacy policies are left out.
        let s = load_with(Api::V1);
        assert!(!s.api.legacy_decides());
        assert_eq!(
            decided(&s, "prod/api:80").0,
            RowMode::Single(Mode::Permissive)
        );

        // A change writes a PeerAuthentication, which then applies to api's
        // workload: its other port leaves the legacy Policy too, and says so.
        let s = load_with(Api::Auto);
        let step = crate::policy::plan::plan_change(
            &s,
            &"prod/api:80".parse().expect("target"),
            crate::policy::plan::Change::Set(Mode::Disable),
        )
        .expect("plans");
        let edit = step.edit.as_ref().expect("a write");
        assert_eq!(edit.object["kind"], "PeerAuthentication");
        assert_eq!(
            step.weakened_elsewhere(),
            [("prod/api:90".to_string(), Mode::Strict, Mode::Permissive)]
        );
    }
}
