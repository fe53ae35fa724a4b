//! Property tests of resolution and planning over random meshes: the invariants
//! that must hold whatever the policies are.

use proptest::prelude::*;
use serde_json::json;

use crate::mode::Mode;
use crate::policy::plan::{Change, apply_edit, plan_change};
use crate::policy::resolve::{Index, Row};
use crate::policy::{PeerAuthentication, Service, Snapshot, Workload};
use crate::target::Target;

const NAMESPACES: [&str; 3] = ["istio-system", "prod", "shop"];
const APPS: [&str; 3] = ["api", "web", "db"];

fn mode_strategy() -> impl Strategy<Value = Option<Mode>> {
    prop_oneof![
        Just(None),
        Just(Some(Mode::Strict)),
        Just(Some(Mode::Permissive)),
        Just(Some(Mode::Disable))
    ]
}

/// (namespace, app selector or none, mode, port override, creation second)
type PolicySpec = (
    usize,
    Option<usize>,
    Option<Mode>,
    Option<(u32, Option<Mode>)>,
    u8,
);

fn policy_strategy() -> impl Strategy<Value = PolicySpec> {
    (
        0..NAMESPACES.len(),
        proptest::option::of(0..APPS.len()),
        mode_strategy(),
        proptest::option::of((prop_oneof![Just(80u32), Just(8080u32)], mode_strategy())),
        0u8..50,
    )
}

fn policy(i: usize, (ns, app, mode, port, second): &PolicySpec) -> PeerAuthentication {
    let mut spec = serde_json::Map::new();
    if let Some(app) = app {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"app": APPS[*app]}}),
        );
    }
    if let Some(m) = mode {
        spec.insert("mtls".into(), json!({"mode": m.as_str()}));
    }
    if let (Some(_), Some((p, m))) = (app, port) {
        let entry = m.map_or_else(|| json!({}), |m| json!({"mode": m.as_str()}));
        spec.insert("portLevelMtls".into(), json!({p.to_string(): entry}));
    }
    PeerAuthentication::from_object(json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": format!("p{i}"), "namespace": NAMESPACES[*ns],
                     "creationTimestamp": format!("2024-01-01T00:00:{second:02}Z")},
        "spec": spec,
    }))
    .expect("generated policies are valid")
}

/// Every namespace has the three apps, each a Service (port 80 -> 8080) and a pod.
fn world(policies: &[PolicySpec]) -> Snapshot {
    let mut s = Snapshot::new("istio-system");
    for ns in NAMESPACES {
        for app in APPS {
            s.services.push(
                Service::from_object(&json!({"metadata": {"name": app, "namespace": ns},
                    "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}))
                .expect("service"),
            );
            s.pods.push(
                Workload::from_pod(&json!({"metadata": {"name": format!("{app}-1"), "namespace": ns, "labels": {"app": app}},
                    "spec": {"containers": [{"name": app, "ports": [{"containerPort": 8080}]}]}}))
                .expect("pod"),
            );
        }
    }
    s.policies = policies
        .iter()
        .enumerate()
        .map(|(i, p)| policy(i, p))
        .collect();
    s.note_namespaces();
    s
}

fn rows_of(s: &Snapshot, namespace: &str) -> Vec<Row> {
    Index::new(s)
        .rows_for(&Target::Namespace(namespace.into()))
        .expect("the namespace exists")
}

/// Mode and deciding policy of every row: what a newer duplicate must not change
/// (its name may appear among the shadowed).
fn decisions(rows: Vec<Row>) -> Vec<(String, String, Option<String>)> {
    rows.into_iter()
        .map(|r| {
            (
                r.target,
                r.mode.as_str().to_string(),
                r.source.and_then(|s| s.policy),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_policy_in_one_namespace_never_changes_another(policies in proptest::collection::vec(policy_strategy(), 0..8),
                                                         extra in policy_strategy()) {
        // A namespace or workload policy outside the root namespace.
        let extra = (1 + extra.0 % 2, extra.1, extra.2, extra.3, extra.4);
        let before = world(&policies);
        let mut with = policies.clone();
        with.push(extra);
        let after = world(&with);
        for ns in NAMESPACES.iter().filter(|ns| **ns != NAMESPACES[extra.0]) {
            prop_assert_eq!(rows_of(&before, ns), rows_of(&after, ns));
        }
    }

    #[test]
    fn a_newer_duplicate_never_changes_a_result(policies in proptest::collection::vec(policy_strategy(), 1..8),
                                                pick in 0usize..8, mode in mode_strategy()) {
        let copy = policies[pick % policies.len()];
        // Same level and selector, another mode, newer than every policy.
        let duplicate = (copy.0, copy.1, mode, copy.3, 59);
        let before = world(&policies);
        let mut with = policies.clone();
        with.push(duplicate);
        let after = world(&with);
        for ns in NAMESPACES {
            prop_assert_eq!(decisions(rows_of(&before, ns)), decisions(rows_of(&after, ns)));
        }
    }

    #[test]
    fn unset_after_require_on_an_unset_level_gives_back_the_table(policies in proptest::collection::vec(policy_strategy(), 0..8),
                                                                   target in 0usize..4, ns in 1usize..3, app in 0usize..3) {
        let original = world(&policies);
        let target = match target {
            0 => Target::Namespace(NAMESPACES[ns].into()),
            1 => Target::Service { namespace: NAMESPACES[ns].into(), service: APPS[app].into() },
            2 => Target::Port { namespace: NAMESPACES[ns].into(), service: APPS[app].into(), port: crate::target::PortRef::Number(80) },
            _ => Target::Mesh,
        };
        let mut s = original.clone();
        let step = plan_change(&s, &target, Change::Set(Mode::Strict)).expect("plans");
        // Only where the level had no setting and nothing blocks the change.
        prop_assume!(step.before.first().and_then(|r| r.source.as_ref()).is_none_or(|src| src.level < step.level));
        prop_assume!(step.blocked.is_none());
        if let Some(edit) = &step.edit {
            apply_edit(&mut s, edit).expect("applies");
        }
        let step = plan_change(&s, &target, Change::Unset).expect("plans");
        prop_assume!(step.blocked.is_none());
        if let Some(edit) = &step.edit {
            apply_edit(&mut s, edit).expect("applies");
        }
        prop_assert_eq!(Index::new(&s).all_rows(), Index::new(&original).all_rows());
    }
}
