//! Table-driven tests of resolution and planning: one named case per rule of
//! docs/semantics.md §2, each looped over every mode where a mode is involved.

use serde_json::{Value, json};

use crate::mode::Mode;
use crate::policy::model::TargetPort;
use crate::policy::plan::{Change, EditKind, Impossible, PlanError, Refusal, plan_change};
use crate::policy::resolve::{Index, Level, Row, RowMode};
use crate::policy::{ObjectRef, PeerAuthentication, Service, Snapshot, Workload};
use crate::target::Target;

const ROOT: &str = "istio-system";

/// A policy: `selector` as `k=v` pairs, `mode` None for UNSET, ports as
/// (port, mode), `created` an RFC 3339 time or None.
fn policy(
    ns: &str,
    name: &str,
    created: Option<&str>,
    selector: &[(&str, &str)],
    mode: Option<Mode>,
    ports: &[(u32, Option<Mode>)],
) -> PeerAuthentication {
    let mut spec = serde_json::Map::new();
    if !selector.is_empty() {
        let labels: serde_json::Map<String, Value> = selector
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        spec.insert("selector".into(), json!({ "matchLabels": labels }));
    }
    if let Some(m) = mode {
        spec.insert("mtls".into(), json!({ "mode": m.as_str() }));
    }
    if !ports.is_empty() {
        let entries: serde_json::Map<String, Value> = ports
            .iter()
            .map(|(p, m)| {
                let entry = m.map_or_else(|| json!({}), |m| json!({ "mode": m.as_str() }));
                (p.to_string(), entry)
            })
            .collect();
        spec.insert("portLevelMtls".into(), Value::Object(entries));
    }
    let mut metadata = json!({ "name": name, "namespace": ns });
    if let Some(t) = created {
        metadata["creationTimestamp"] = json!(t);
    }
    PeerAuthentication::from_object(json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }))
    .expect("test policy is valid")
}

fn pod(ns: &str, name: &str, labels: &[(&str, &str)], ports: &[(&str, u32)]) -> Workload {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p)| json!({ "name": n, "containerPort": p }))
        .collect();
    Workload::from_pod(&json!({
        "metadata": { "name": name, "namespace": ns, "labels": labels },
        "spec": { "containers": [{ "name": "app", "ports": ports }] },
    }))
    .expect("test pod is valid")
}

/// A Service selecting `app=<name>` with ports (port, targetPort as JSON).
fn service(ns: &str, name: &str, ports: &[(u16, Value)]) -> Service {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(p, t)| json!({ "name": format!("p{p}"), "port": p, "targetPort": t }))
        .collect();
    Service::from_object(&json!({
        "metadata": { "name": name, "namespace": ns },
        "spec": { "selector": { "app": name }, "ports": ports },
    }))
    .expect("test service is valid")
}

fn snapshot(
    policies: Vec<PeerAuthentication>,
    services: Vec<Service>,
    pods: Vec<Workload>,
) -> Snapshot {
    let mut s = Snapshot::new(ROOT);
    s.policies = policies;
    s.services = services;
    s.pods = pods;
    s.note_namespaces();
    s
}

/// The usual fixture: service `api` in `prod`, port 80 → container port 8080,
/// one pod `api-1` with labels app=api, version=v1.
fn api_world(policies: Vec<PeerAuthentication>) -> Snapshot {
    snapshot(
        policies,
        vec![service("prod", "api", &[(80, json!(8080))])],
        vec![pod(
            "prod",
            "api-1",
            &[("app", "api"), ("version", "v1")],
            &[("http", 8080)],
        )],
    )
}

fn row(s: &Snapshot, target: &str) -> Row {
    let target: Target = target.parse().expect("valid target");
    let rows = Index::new(s).rows_for(&target).expect("target exists");
    rows.into_iter()
        .find(|r| r.target == target.to_string() || matches!(target, Target::Port { .. }))
        .expect("a row for the target")
}

/// (mode, level, policy) of a row.
fn decided(r: &Row) -> (RowMode, Level, Option<String>) {
    let source = r.source.as_ref().expect("single-mode rows have a source");
    (r.mode, source.level, source.policy.clone())
}

fn single(m: Mode) -> RowMode {
    RowMode::Single(m)
}

const WL: &[(&str, &str)] = &[("app", "api")];

#[test]
fn rule_nothing_at_all_is_permissive_by_default() {
    let s = api_world(vec![]);
    for target in ["mesh", "prod", "prod/api", "prod/api:80"] {
        assert_eq!(
            decided(&row(&s, target)),
            (single(Mode::Permissive), Level::Default, None),
            "{target}"
        );
    }
}

#[test]
fn rule_mesh_policy_sets_every_level_below() {
    for mode in Mode::ALL {
        let s = api_world(vec![policy(ROOT, "default", None, &[], Some(mode), &[])]);
        let want = (
            single(mode),
            Level::Mesh,
            Some("istio-system/default".to_string()),
        );
        for target in ["mesh", "prod", "prod/api", "prod/api:80"] {
            assert_eq!(decided(&row(&s, target)), want, "{mode} {target}");
        }
    }
}

#[test]
fn rule_unset_mesh_policy_is_the_permissive_default() {
    let s = api_world(vec![policy(ROOT, "default", None, &[], None, &[])]);
    assert_eq!(
        decided(&row(&s, "mesh")),
        (single(Mode::Permissive), Level::Default, None)
    );
}

#[test]
fn rule_namespace_overrides_mesh_and_unset_namespace_inherits() {
    for mesh in Mode::ALL {
        for ns in Mode::ALL {
            let s = api_world(vec![
                policy(ROOT, "default", None, &[], Some(mesh), &[]),
                policy("prod", "default", None, &[], Some(ns), &[]),
            ]);
            let want = (
                single(ns),
                Level::Namespace,
                Some("prod/default".to_string()),
            );
            assert_eq!(decided(&row(&s, "prod")), want, "mesh {mesh} ns {ns}");
            assert_eq!(decided(&row(&s, "prod/api:80")), want);
            assert_eq!(decided(&row(&s, "mesh")).0, single(mesh));
        }
        let s = api_world(vec![
            policy(ROOT, "default", None, &[], Some(mesh), &[]),
            policy("prod", "default", None, &[], None, &[]),
        ]);
        assert_eq!(
            decided(&row(&s, "prod/api:80")),
            (
                single(mesh),
                Level::Mesh,
                Some("istio-system/default".to_string())
            )
        );
    }
}

#[test]
fn rule_workload_overrides_namespace_and_unset_workload_inherits() {
    for ns in Mode::ALL {
        for wl in Mode::ALL {
            let s = api_world(vec![
                policy("prod", "default", None, &[], Some(ns), &[]),
                policy("prod", "api", None, WL, Some(wl), &[]),
            ]);
            let want = (single(wl), Level::Workload, Some("prod/api".to_string()));
            assert_eq!(decided(&row(&s, "prod/api")), want, "ns {ns} wl {wl}");
            assert_eq!(decided(&row(&s, "prod/api:80")), want);
            assert_eq!(
                decided(&row(&s, "prod")).0,
                single(ns),
                "the namespace row ignores workloads"
            );
        }
        let s = api_world(vec![
            policy("prod", "default", None, &[], Some(ns), &[]),
            policy("prod", "api", None, WL, None, &[]),
        ]);
        assert_eq!(
            decided(&row(&s, "prod/api:80")),
            (
                single(ns),
                Level::Namespace,
                Some("prod/default".to_string())
            )
        );
    }
}

#[test]
fn rule_port_entry_overrides_the_workload_keyed_by_target_port() {
    for wl in Mode::ALL {
        for port in Mode::ALL {
            let s = api_world(vec![policy(
                "prod",
                "api",
                None,
                WL,
                Some(wl),
                &[(8080, Some(port))],
            )]);
            let r = row(&s, "prod/api:80");
            assert_eq!(
                decided(&r),
                (single(port), Level::Port, Some("prod/api".to_string())),
                "{wl} {port}"
            );
            assert_eq!(r.target_port, Some(8080));
            assert_eq!(
                decided(&row(&s, "prod/api")).0,
                single(wl),
                "the service row is the workload mode"
            );
        }
    }
}

#[test]
fn rule_a_port_entry_keyed_by_the_service_port_does_nothing() {
    for mode in Mode::ALL {
        let s = api_world(vec![
            policy("prod", "default", None, &[], Some(Mode::Strict), &[]),
            policy("prod", "api", None, WL, None, &[(80, Some(mode))]),
        ]);
        assert_eq!(
            decided(&row(&s, "prod/api:80")),
            (
                single(Mode::Strict),
                Level::Namespace,
                Some("prod/default".to_string())
            ),
            "{mode}"
        );
    }
}

#[test]
fn rule_unset_port_entry_inherits_the_workload_mode_and_source() {
    for wl in Mode::ALL {
        let s = api_world(vec![policy(
            "prod",
            "api",
            None,
            WL,
            Some(wl),
            &[(8080, None)],
        )]);
        assert_eq!(
            decided(&row(&s, "prod/api:80")),
            (single(wl), Level::Workload, Some("prod/api".to_string()))
        );
    }
    // ... and through an UNSET workload, from the mesh.
    let s = api_world(vec![
        policy(ROOT, "default", None, &[], Some(Mode::Disable), &[]),
        policy("prod", "api", None, WL, None, &[(8080, None)]),
    ]);
    assert_eq!(
        decided(&row(&s, "prod/api:80")),
        (
            single(Mode::Disable),
            Level::Mesh,
            Some("istio-system/default".to_string())
        )
    );
}

#[test]
fn rule_oldest_policy_of_a_level_wins_and_the_others_are_shadowed() {
    for old in Mode::ALL {
        for new in Mode::ALL {
            let s = api_world(vec![
                policy(
                    ROOT,
                    "zz-old",
                    Some("2020-01-01T00:00:00Z"),
                    &[],
                    Some(old),
                    &[],
                ),
                policy(
                    ROOT,
                    "aa-new",
                    Some("2021-01-01T00:00:00Z"),
                    &[],
                    Some(new),
                    &[],
                ),
                policy(
                    "prod",
                    "b-new",
                    Some("2021-01-01T00:00:00Z"),
                    &[],
                    Some(new),
                    &[],
                ),
                policy(
                    "prod",
                    "a-old",
                    Some("2020-01-01T00:00:00Z"),
                    &[],
                    Some(old),
                    &[],
                ),
            ]);
            let mesh = row(&s, "mesh");
            assert_eq!(
                decided(&mesh),
                (single(old), Level::Mesh, Some("istio-system/zz-old".into()))
            );
            assert_eq!(mesh.shadowed, ["istio-system/aa-new"]);
            let ns = row(&s, "prod");
            assert_eq!(
                decided(&ns),
                (single(old), Level::Namespace, Some("prod/a-old".into()))
            );
            assert_eq!(ns.shadowed, ["prod/b-new"]);
        }
    }
}

#[test]
fn rule_ties_in_creation_time_go_to_the_first_name() {
    let t = Some("2020-01-01T00:00:00Z");
    let s = api_world(vec![
        policy("prod", "b", t, &[], Some(Mode::Disable), &[]),
        policy("prod", "a", t, &[], Some(Mode::Strict), &[]),
    ]);
    assert_eq!(
        decided(&row(&s, "prod")),
        (
            single(Mode::Strict),
            Level::Namespace,
            Some("prod/a".into())
        )
    );
}

#[test]
fn rule_a_missing_creation_time_is_the_oldest() {
    let s = api_world(vec![
        policy(
            "prod",
            "a-dated",
            Some("1970-01-01T00:00:00Z"),
            &[],
            Some(Mode::Disable),
            &[],
        ),
        policy("prod", "z-undated", None, &[], Some(Mode::Strict), &[]),
    ]);
    assert_eq!(decided(&row(&s, "prod")).2, Some("prod/z-undated".into()));
}

#[test]
fn rule_the_losing_workload_policy_is_dropped_whole_ports_included() {
    for mode in Mode::ALL {
        let s = api_world(vec![
            policy(
                "prod",
                "old",
                Some("2020-01-01T00:00:00Z"),
                &[("version", "v1")],
                None,
                &[],
            ),
            policy(
                "prod",
                "new",
                Some("2021-01-01T00:00:00Z"),
                WL,
                Some(Mode::Strict),
                &[(8080, Some(mode))],
            ),
        ]);
        let r = row(&s, "prod/api:80");
        assert_eq!(
            decided(&r),
            (single(Mode::Permissive), Level::Default, None),
            "{mode}"
        );
        let svc = row(&s, "prod/api");
        assert_eq!(decided(&svc).0, single(Mode::Permissive));
    }
    // The shadowed list names the loser at the deciding level.
    let s = api_world(vec![
        policy(
            "prod",
            "old",
            Some("2020-01-01T00:00:00Z"),
            &[("version", "v1")],
            Some(Mode::Strict),
            &[],
        ),
        policy(
            "prod",
            "new",
            Some("2021-01-01T00:00:00Z"),
            WL,
            Some(Mode::Disable),
            &[],
        ),
    ]);
    let r = row(&s, "prod/api");
    assert_eq!(
        decided(&r),
        (
            single(Mode::Strict),
            Level::Workload,
            Some("prod/old".into())
        )
    );
    assert_eq!(r.shadowed, ["prod/new"]);
}

#[test]
fn rule_selector_policies_in_the_root_namespace_are_ignored() {
    for mode in Mode::ALL {
        let mut s = api_world(vec![policy(
            ROOT,
            "sel",
            None,
            WL,
            Some(mode),
            &[(8080, Some(mode))],
        )]);
        s.pods.push(pod(ROOT, "gw", &[("app", "api")], &[]));
        s.services.push(service(ROOT, "gw", &[(80, json!(8080))]));
        assert_eq!(
            decided(&row(&s, "prod/api:80")),
            (single(Mode::Permissive), Level::Default, None)
        );
        assert_eq!(
            decided(&row(&s, "mesh")),
            (single(Mode::Permissive), Level::Default, None)
        );
    }
}

#[test]
fn rule_port_level_mtls_on_a_namespace_policy_is_ignored() {
    let s = api_world(vec![policy(
        "prod",
        "default",
        None,
        &[],
        Some(Mode::Strict),
        &[(8080, Some(Mode::Disable))],
    )]);
    assert_eq!(decided(&row(&s, "prod/api:80")).0, single(Mode::Strict));
}

#[test]
fn rule_root_namespace_workloads_get_mesh_policies_only() {
    let mut s = snapshot(
        vec![policy(ROOT, "default", None, &[], Some(Mode::Strict), &[])],
        vec![service(ROOT, "gw", &[(80, json!(8080))])],
        vec![pod(ROOT, "gw-1", &[("app", "gw")], &[])],
    );
    s.note_namespaces();
    assert_eq!(
        decided(&row(&s, "istio-system/gw:80")),
        (
            single(Mode::Strict),
            Level::Mesh,
            Some("istio-system/default".into())
        )
    );
    assert_eq!(decided(&row(&s, "istio-system")).1, Level::Mesh);
}

#[test]
fn rule_policies_apply_only_in_their_namespace_and_select_by_label_subset() {
    let s = api_world(vec![
        policy("other", "default", None, &[], Some(Mode::Disable), &[]),
        policy("other", "api", None, WL, Some(Mode::Disable), &[]),
        policy(
            "prod",
            "v2",
            None,
            &[("app", "api"), ("version", "v2")],
            Some(Mode::Disable),
            &[],
        ),
        policy(
            "prod",
            "v1",
            Some("2022-01-01T00:00:00Z"),
            &[("app", "api"), ("version", "v1")],
            Some(Mode::Strict),
            &[],
        ),
    ]);
    assert_eq!(
        decided(&row(&s, "prod/api")),
        (
            single(Mode::Strict),
            Level::Workload,
            Some("prod/v1".into())
        )
    );
}

/// Service `api` in `prod`, port 80 → target port `http`; its workload
/// policy is STRICT, DISABLE for workload port 8080; `ports` per pod.
fn named_port_world(pods: &[(&str, (&str, u32))]) -> Snapshot {
    snapshot(
        vec![policy(
            "prod",
            "api",
            None,
            WL,
            Some(Mode::Strict),
            &[(8080, Some(Mode::Disable))],
        )],
        vec![service("prod", "api", &[(80, json!("http"))])],
        pods.iter()
            .map(|(name, port)| pod("prod", name, &[("app", "api")], &[*port]))
            .collect(),
    )
}

#[test]
fn named_target_ports_resolve_per_pod_and_disagreeing_pods_make_a_mixed_row() {
    let mut s = named_port_world(&[
        ("api-a", ("http", 8080)),
        ("api-b", ("http", 9090)),
        ("api-c", ("http", 9090)),
    ]);
    let r = row(&s, "prod/api:80");
    assert_eq!(r.mode, RowMode::Mixed);
    assert_eq!(r.target_port, None);
    assert_eq!(r.source, None);
    assert!(r.shadowed.is_empty());
    let modes = r.modes.expect("mixed rows count modes");
    assert_eq!(modes.get(&Mode::Disable), Some(&1));
    assert_eq!(modes.get(&Mode::Strict), Some(&2));
    assert_eq!(r.workloads, Some(3));

    // All pods on 8080: one target port, DISABLE from the port entry.
    s.pods.retain(|p| p.id.name == "api-a");
    let r = row(&s, "prod/api:80");
    assert_eq!((r.mode, r.target_port), (single(Mode::Disable), Some(8080)));

    // A named port no pod has: workload mode, no target port.
    s.pods = vec![pod("prod", "api-a", &[("app", "api")], &[("grpc", 8080)])];
    let r = row(&s, "prod/api:80");
    assert_eq!(
        (decided(&r), r.target_port),
        (
            (
                single(Mode::Strict),
                Level::Workload,
                Some("prod/api".into())
            ),
            None
        )
    );
}

#[test]
fn rule_a_pod_without_the_named_target_port_is_no_endpoint_of_it() {
    let s = named_port_world(&[("api-a", ("http", 8080)), ("api-b", ("admin", 9000))]);
    let r = row(&s, "prod/api:80");
    assert_eq!(
        (r.mode, r.target_port, r.workloads),
        (single(Mode::Disable), Some(8080), Some(1)),
        "api-b serves no port named http: only api-a decides the row"
    );
    // The Service as a whole is still both pods.
    assert_eq!(row(&s, "prod/api").workloads, Some(2));
}

#[test]
fn pods_agreeing_on_the_mode_show_the_first_pods_source() {
    let s = snapshot(
        vec![
            policy("prod", "default", None, &[], Some(Mode::Strict), &[]),
            policy(
                "prod",
                "b-only",
                None,
                &[("pod", "b")],
                Some(Mode::Strict),
                &[],
            ),
        ],
        vec![service("prod", "api", &[(80, json!(8080))])],
        vec![
            pod("prod", "api-b", &[("app", "api"), ("pod", "b")], &[]),
            pod("prod", "api-a", &[("app", "api")], &[]),
        ],
    );
    assert_eq!(
        decided(&row(&s, "prod/api:80")),
        (
            single(Mode::Strict),
            Level::Namespace,
            Some("prod/default".into())
        )
    );
}

#[test]
fn labels_come_from_pods_else_templates_else_the_selector() {
    let wl_policy = policy("prod", "api", None, WL, Some(Mode::Disable), &[]);
    let mut s = api_world(vec![wl_policy]);
    s.pods.clear();
    let r = row(&s, "prod/api:80");
    assert_eq!(
        (r.mode, r.workloads),
        (single(Mode::Disable), Some(0)),
        "from the selector"
    );

    s.templates.push(
        Workload::from_template(
            "Deployment",
            &json!({
                "metadata": {"name": "api", "namespace": "prod"},
                "spec": {"template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": []}}},
            }),
        )
        .expect("valid template"),
    );
    let r = row(&s, "prod/api:80");
    assert_eq!(
        (r.mode, r.workloads),
        (single(Mode::Disable), Some(1)),
        "from the template"
    );
}

#[test]
fn a_service_without_selector_selects_nothing() {
    let mut s = api_world(vec![
        policy("prod", "default", None, &[], Some(Mode::Strict), &[]),
        policy("prod", "api", None, WL, Some(Mode::Disable), &[]),
    ]);
    s.services[0].selector = None;
    let r = row(&s, "prod/api:80");
    assert_eq!(
        (decided(&r).0, decided(&r).1, r.workloads),
        (single(Mode::Strict), Level::Namespace, Some(0))
    );
}

#[test]
fn missing_targets_are_lookup_errors_that_list_ports() {
    let s = api_world(vec![]);
    let index = Index::new(&s);
    let err = |t: &str| {
        index
            .rows_for(&t.parse().expect("valid"))
            .expect_err(t)
            .to_string()
    };
    assert_eq!(err("nope"), "namespace \"nope\" not found");
    assert_eq!(err("prod/nope"), "service prod/nope not found");
    assert_eq!(
        err("prod/api:81"),
        "service prod/api has no port \"81\"; its ports: 80 (p80)"
    );
}

#[test]
fn get_all_lists_mesh_then_namespaces_with_their_ports() {
    let s = api_world(vec![policy(
        ROOT,
        "default",
        None,
        &[],
        Some(Mode::Strict),
        &[],
    )]);
    let targets: Vec<String> = Index::new(&s)
        .all_rows()
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(targets, ["mesh", "istio-system", "prod", "prod/api:80"]);
}

// ---- planning ----

fn plan(
    s: &Snapshot,
    target: &str,
    change: Change,
) -> Result<crate::policy::plan::Step, PlanError> {
    plan_change(s, &target.parse().expect("valid target"), change)
}

#[test]
fn set_mode_reuses_the_oldest_policy_of_the_level_or_creates_default() {
    for mode in Mode::ALL {
        let s = api_world(vec![]);
        let step = plan(&s, "prod", Change::Set(mode)).expect("plans");
        let edit = step.edit.clone().expect("writes");
        assert_eq!(
            (edit.kind, edit.id.to_string()),
            (EditKind::Create, "prod/default".into())
        );
        assert_eq!(
            edit.object["spec"],
            json!({ "mtls": { "mode": mode.as_str() } })
        );
        assert_eq!(
            edit.object["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "mtls"
        );
        assert_eq!(step.blocked, None);
        assert_eq!(step.after[0].mode, single(mode));
    }
    let s = api_world(vec![
        policy(
            "prod",
            "newer",
            Some("2021-01-01T00:00:00Z"),
            &[],
            Some(Mode::Permissive),
            &[],
        ),
        policy(
            "prod",
            "older",
            Some("2020-01-01T00:00:00Z"),
            &[],
            None,
            &[],
        ),
    ]);
    let edit = plan(&s, "prod", Change::Set(Mode::Strict))
        .expect("plans")
        .edit
        .expect("writes");
    assert_eq!(
        (edit.kind, edit.id.to_string()),
        (EditKind::Update, "prod/older".into())
    );
}

#[test]
fn a_level_already_set_as_asked_writes_nothing() {
    for mode in Mode::ALL {
        let s = api_world(vec![policy(ROOT, "default", None, &[], Some(mode), &[])]);
        let step = plan(&s, "mesh", Change::Set(mode)).expect("plans");
        assert_eq!((step.edit, step.blocked), (None, None));
    }
    let s = api_world(vec![]);
    let step = plan(&s, "prod/api:80", Change::Unset).expect("plans");
    assert_eq!(step.edit, None);
}

#[test]
fn port_changes_write_the_target_port_on_the_service_policy_and_keep_other_fields() {
    let mut existing = policy(
        "prod",
        "api",
        None,
        WL,
        Some(Mode::Strict),
        &[(9090, Some(Mode::Disable))],
    );
    existing.object["metadata"]["labels"] = json!({ "team": "payments" });
    existing.object["metadata"]["annotations"] = json!({ "note": "keep me" });
    let s = api_world(vec![existing]);
    let step = plan(&s, "prod/api:80", Change::Set(Mode::Permissive)).expect("plans");
    assert_eq!(step.target, "prod/api:80");
    let edit = step.edit.clone().expect("writes");
    assert_eq!(edit.kind, EditKind::Update);
    assert_eq!(
        edit.object["spec"]["portLevelMtls"],
        json!({ "9090": { "mode": "DISABLE" }, "8080": { "mode": "PERMISSIVE" } })
    );
    assert_eq!(
        edit.object["metadata"]["labels"],
        json!({ "team": "payments" })
    );
    assert_eq!(
        edit.object["metadata"]["annotations"],
        json!({ "note": "keep me" })
    );
    assert_eq!(edit.object["spec"]["mtls"], json!({ "mode": "STRICT" }));
    assert_eq!(
        step.weakened(),
        [("prod/api:80".to_string(), Mode::Strict, Mode::Permissive)]
    );
}

#[test]
fn a_new_service_policy_is_named_after_the_service_and_selects_its_pods() {
    let s = api_world(vec![]);
    let edit = plan(&s, "prod/api:80", Change::Set(Mode::Disable))
        .expect("plans")
        .edit
        .expect("writes");
    assert_eq!(
        (edit.kind, edit.id.to_string()),
        (EditKind::Create, "prod/api".into())
    );
    assert_eq!(
        edit.object["spec"],
        json!({ "selector": { "matchLabels": { "app": "api" } }, "portLevelMtls": { "8080": { "mode": "DISABLE" } } })
    );
}

#[test]
fn unset_removes_the_setting_and_deletes_a_policy_left_empty() {
    let s = api_world(vec![
        policy("prod", "default", None, &[], Some(Mode::Strict), &[]),
        policy(
            "prod",
            "api",
            None,
            WL,
            None,
            &[(8080, Some(Mode::Permissive))],
        ),
    ]);
    let step = plan(&s, "prod/api:80", Change::Unset).expect("plans");
    let edit = step.edit.clone().expect("writes");
    assert_eq!(
        (edit.kind, edit.id.to_string()),
        (EditKind::Delete, "prod/api".into())
    );
    assert_eq!(
        decided(&step.after[0]),
        (
            single(Mode::Strict),
            Level::Namespace,
            Some("prod/default".into())
        )
    );

    let s = api_world(vec![policy(
        "prod",
        "api",
        None,
        WL,
        Some(Mode::Strict),
        &[(8080, Some(Mode::Permissive))],
    )]);
    let edit = plan(&s, "prod/api:80", Change::Unset)
        .expect("plans")
        .edit
        .expect("writes");
    assert_eq!(edit.kind, EditKind::Update);
    assert_eq!(
        edit.object["spec"].get("portLevelMtls"),
        None,
        "an empty map is dropped"
    );
    assert_eq!(edit.object["spec"]["mtls"], json!({ "mode": "STRICT" }));
}

#[test]
fn a_change_an_older_policy_would_shadow_is_blocked_and_names_it() {
    let s = api_world(vec![policy(
        "prod",
        "api-v1",
        Some("2020-01-01T00:00:00Z"),
        &[("version", "v1")],
        None,
        &[],
    )]);
    for mode in Mode::ALL {
        let step = plan(&s, "prod/api", Change::Set(mode)).expect("plans");
        assert!(step.edit.is_some());
        let older = |reason: Option<Refusal>| match reason {
            Some(Refusal::OlderPolicyWins {
                winner, workload, ..
            }) => Some((winner.to_string(), workload)),
            _ => None,
        };
        assert_eq!(
            older(step.blocked),
            Some(("prod/api-v1".to_string(), true)),
            "{mode}"
        );
        let step = plan(&s, "prod/api:80", Change::Set(mode)).expect("plans");
        assert_eq!(
            older(step.blocked),
            Some(("prod/api-v1".to_string(), true)),
            "{mode}"
        );
    }
}

#[test]
fn unsetting_the_oldest_of_two_namespace_policies_keeps_it_empty_to_shadow_the_next() {
    // Istio uses the oldest of a level. Deleting `a` would hand the namespace to
    // `b` (DISABLE); emptied, `a` still wins the level, which then inherits.
    let s = api_world(vec![
        policy(
            "prod",
            "a",
            Some("2020-01-01T00:00:00Z"),
            &[],
            Some(Mode::Strict),
            &[],
        ),
        policy(
            "prod",
            "b",
            Some("2021-01-01T00:00:00Z"),
            &[],
            Some(Mode::Disable),
            &[],
        ),
    ]);
    let step = plan(&s, "prod", Change::Unset).expect("plans");
    assert_eq!(step.blocked, None);
    let edit = step.edit.as_ref().expect("a write");
    assert_eq!(
        (edit.kind, edit.id.to_string()),
        (EditKind::Update, "prod/a".to_string())
    );
    assert_eq!(edit.object["spec"].get("mtls"), None);
    let source = step.after[0].source.as_ref().expect("a source");
    assert!(source.level < Level::Namespace, "{source:?}");

    // Alone at its level, an emptied policy is deleted.
    let s = api_world(vec![policy(
        "prod",
        "a",
        Some("2020-01-01T00:00:00Z"),
        &[],
        Some(Mode::Strict),
        &[],
    )]);
    let step = plan(&s, "prod", Change::Unset).expect("plans");
    assert_eq!(step.edit.as_ref().map(|e| e.kind), Some(EditKind::Delete));
}

#[test]
fn changes_that_cannot_be_expressed_are_impossible() {
    let mut s = api_world(vec![]);
    s.services[0].selector = None;
    let err = plan(&s, "prod/api", Change::Set(Mode::Strict)).expect_err("no selector");
    assert_eq!(
        err,
        PlanError::Impossible(Impossible::NoSelector {
            service: ObjectRef {
                namespace: "prod".into(),
                name: "api".into()
            }
        })
    );

    let s = snapshot(
        vec![],
        vec![service("prod", "api", &[(80, json!("http"))])],
        vec![],
    );
    let err = plan(&s, "prod/api:80", Change::Set(Mode::Strict)).expect_err("unresolvable");
    assert!(
        matches!(
            err,
            PlanError::Impossible(Impossible::UnresolvedPort { port: 80, target: TargetPort::Name(ref name), .. })
                if name == "http"
        ),
        "{err:?}"
    );

    let s = api_world(vec![]);
    assert!(matches!(
        plan(&s, "nope", Change::Unset),
        Err(PlanError::NotFound(_))
    ));
}

#[test]
fn service_policies_in_the_root_namespace_are_refused() {
    let s = snapshot(
        vec![],
        vec![service(ROOT, "gw", &[(80, json!(8080))])],
        vec![pod(ROOT, "gw-1", &[("app", "gw")], &[])],
    );
    let reason = plan(&s, "istio-system/gw", Change::Set(Mode::Strict))
        .expect("plans")
        .blocked;
    assert_eq!(
        reason,
        Some(Refusal::SelectorInRootNamespace {
            namespace: ROOT.into(),
            change: Change::Set(Mode::Strict)
        })
    );
}

#[test]
fn require_then_unset_gives_back_the_original_table() {
    // No level the targets name has a setting of its own.
    let mut original = api_world(vec![policy(
        "other",
        "default",
        None,
        &[],
        Some(Mode::Disable),
        &[],
    )]);
    original.namespaces.insert(
        "other".into(),
        crate::policy::Namespace {
            name: "other".into(),
            labels: Default::default(),
            seen: true,
        },
    );
    for target in ["mesh", "prod", "prod/api", "prod/api:80"] {
        let mut s = original.clone();
        for change in [Change::Set(Mode::Strict), Change::Unset] {
            let step = plan(&s, target, change).expect("plans");
            assert_eq!(step.blocked, None, "{target}");
            if let Some(edit) = &step.edit {
                crate::policy::plan::apply_edit(&mut s, edit).expect("applies");
            }
        }
        assert_eq!(
            Index::new(&s).all_rows(),
            Index::new(&original).all_rows(),
            "{target}"
        );
    }
}

mod explain {
    use super::*;
    use crate::policy::explain::{Candidate, Outcome, chain};
    use crate::policy::resolve::Index;

    const T1: &str = "2024-01-01T00:00:00Z";
    const T2: &str = "2024-02-01T00:00:00Z";

    /// (policy, mode, outcome) of a level's candidates.
    fn summary(candidates: &[Candidate]) -> Vec<(String, String, Outcome)> {
        candidates
            .iter()
            .map(|c| {
                (
                    c.policy.clone(),
                    c.mode.map_or("UNSET", Mode::as_str).to_string(),
                    c.outcome.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn each_level_lists_the_winner_the_shadowed_and_the_policies_that_do_not_apply() {
        let s = api_world(vec![
            policy(ROOT, "default", None, &[], Some(Mode::Permissive), &[]),
            policy(ROOT, "root-selector", None, WL, Some(Mode::Disable), &[]),
            policy("prod", "default", Some(T1), &[], None, &[]),
            policy("prod", "younger", Some(T2), &[], Some(Mode::Strict), &[]),
            policy(
                "prod",
                "api",
                Some(T1),
                WL,
                Some(Mode::Strict),
                &[(8080, Some(Mode::Disable))],
            ),
            policy(
                "prod",
                "api-2",
                Some(T2),
                WL,
                Some(Mode::Permissive),
                &[(8080, Some(Mode::Strict))],
            ),
            policy(
                "prod",
                "web",
                None,
                &[("app", "web")],
                Some(Mode::Disable),
                &[],
            ),
        ]);
        let index = Index::new(&s);
        let pod = &s.pods[0];
        let c = chain(&index, "prod", Some(pod), &pod.labels, Some(8080));
        let levels: Vec<Level> = c.links.iter().map(|l| l.level).collect();
        assert_eq!(
            levels,
            [Level::Mesh, Level::Namespace, Level::Workload, Level::Port]
        );
        let s = |i: usize| summary(&c.links[i].candidates);
        let shadowed = |by: &str| Outcome::Shadowed { by: by.into() };
        assert_eq!(
            s(0),
            [
                (
                    "istio-system/default".into(),
                    "PERMISSIVE".into(),
                    Outcome::Decides
                ),
                (
                    "istio-system/root-selector".into(),
                    "DISABLE".into(),
                    Outcome::IgnoredInRoot
                ),
            ]
        );
        assert_eq!(
            s(1),
            [
                ("prod/default".into(), "UNSET".into(), Outcome::Inherits),
                (
                    "prod/younger".into(),
                    "STRICT".into(),
                    shadowed("prod/default")
                ),
            ]
        );
        assert_eq!(
            s(2),
            [
                ("prod/api".into(), "STRICT".into(), Outcome::Decides),
                (
                    "prod/api-2".into(),
                    "PERMISSIVE".into(),
                    shadowed("prod/api")
                ),
                ("prod/web".into(), "DISABLE".into(), Outcome::NotSelected),
            ]
        );
        assert_eq!(
            s(3),
            [
                ("prod/api".into(), "DISABLE".into(), Outcome::Decides),
                ("prod/api-2".into(), "STRICT".into(), shadowed("prod/api")),
            ]
        );
        assert_eq!(
            (c.mode, c.level, c.policy.as_deref()),
            (Mode::Disable, Level::Port, Some("prod/api"))
        );
        assert_eq!(c.links[1].candidates[0].created.as_deref(), Some(T1));
    }

    #[test]
    fn undecodable_policies_are_listed_where_istio_would_have_looked() {
        let mut s = api_world(vec![]);
        s.skipped_policies.push(crate::policy::SkippedPolicy {
            id: ObjectRef {
                namespace: "prod".into(),
                name: "broken".into(),
            },
            reason: "unknown mTLS mode \"strict\"".into(),
        });
        let index = Index::new(&s);
        let pod = &s.pods[0];
        let c = chain(&index, "prod", Some(pod), &pod.labels, None);
        assert_eq!(
            summary(&c.links[1].candidates),
            [(
                "prod/broken".into(),
                "UNSET".into(),
                Outcome::Undecodable {
                    reason: "unknown mTLS mode \"strict\"".into()
                }
            )]
        );
        assert_eq!((c.mode, c.level), (Mode::Permissive, Level::Default));
    }

    #[test]
    fn the_chain_comes_to_the_decision_resolution_makes() {
        // Without a port entry the port level inherits, and the workload decides.
        let s = api_world(vec![policy(
            "prod",
            "api",
            None,
            WL,
            Some(Mode::Strict),
            &[],
        )]);
        let index = Index::new(&s);
        let pod = &s.pods[0];
        let c = chain(&index, "prod", Some(pod), &pod.labels, Some(8080));
        assert_eq!(
            summary(&c.links[3].candidates),
            [("prod/api".into(), "UNSET".into(), Outcome::Inherits)]
        );
        let row = row(&s, "prod/api:80");
        let source = row.source.expect("a source");
        assert_eq!(
            (RowMode::Single(c.mode), c.level, c.policy),
            (row.mode, source.level, source.policy)
        );
    }
}
