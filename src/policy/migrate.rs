//! `mtls migrate`: PeerAuthentications equivalent to the legacy policies.
//!
//! The translation keeps each Service port's mode, not each object's shape: the
//! MeshPolicy becomes the mesh-wide policy (DISABLE when there is none, legacy's
//! default); each namespace `default` Policy a namespace-wide policy, its mode
//! explicit, since the legacy API does not inherit; and each Service that legacy
//! Service policies target a workload policy on the Service's selector, with port
//! overrides keyed by target port wherever a port's legacy mode differs from the
//! Service's. The result is verified by resolving both and comparing every
//! Service port; what cannot be expressed exactly is listed with the reason.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::mode::Mode;
use crate::policy::model::{Created, LegacyKind, MANAGED_BY_LABEL, PEER_AUTHENTICATION};
use crate::policy::resolve::{Index, RowMode};
use crate::policy::{IstioApi, PeerAuthentication, Service, Snapshot};

/// What a migration would write and how faithful it is.
pub struct Migration {
    pub objects: Vec<Value>,
    /// Service ports whose mode the PeerAuthentications keep.
    pub kept: usize,
    /// Service ports they cannot keep, with the reason.
    pub problems: Vec<String>,
}

/// Migrates the legacy policies of `snapshot` for the Services `wanted` selects
/// (and the namespaces they are in), writing PeerAuthentications of
/// `api_version`.
pub fn migrate(
    snapshot: &Snapshot,
    api_version: &str,
    wanted: &dyn Fn(&Service) -> bool,
) -> Migration {
    let legacy = Index::new(snapshot);
    let services: Vec<&Service> = snapshot.services.iter().filter(|s| wanted(s)).collect();
    let draft = Draft { api_version };
    let mut migration = Migration {
        objects: Vec::new(),
        kept: 0,
        problems: Vec::new(),
    };

    // The mesh: the MeshPolicy's mode, or legacy's DISABLE.
    let mesh_mode = match legacy.mesh_row().mode {
        RowMode::Single(m) => m,
        RowMode::Mixed => Mode::Disable,
    };
    migration
        .objects
        .push(draft.policy(&snapshot.root_namespace, "default", mode_spec(mesh_mode)));
    namespace_policies(snapshot, &legacy, &services, &draft, &mut migration);
    for svc in &services {
        workload_policy(snapshot, &legacy, svc, &draft, &mut migration);
    }
    verify(snapshot, &legacy, &services, api_version, &mut migration);
    migration
}

/// The PeerAuthentications a migration writes, all of one API version.
struct Draft<'a> {
    api_version: &'a str,
}

impl Draft<'_> {
    fn policy(&self, namespace: &str, name: &str, spec: Map<String, Value>) -> Value {
        json!({
            "apiVersion": self.api_version,
            "kind": PEER_AUTHENTICATION,
            "metadata": {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: "mtls"}},
            "spec": spec,
        })
    }
}

fn mode_spec(mode: Mode) -> Map<String, Value> {
    let mut spec = Map::new();
    spec.insert("mtls".into(), json!({"mode": mode.as_str()}));
    spec
}

/// Namespaces: a namespace `default` Policy becomes an explicit namespace mode.
fn namespace_policies(
    snapshot: &Snapshot,
    legacy: &Index,
    services: &[&Service],
    draft: &Draft,
    migration: &mut Migration,
) {
    let mut namespaces: Vec<&str> = services.iter().map(|s| s.id.namespace.as_str()).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    for ns in namespaces {
        let has_default = snapshot.legacy_policies.iter().any(|p| {
            p.kind == LegacyKind::Policy
                && p.id.namespace == ns
                && p.id.name == "default"
                && p.targets.is_empty()
        });
        if has_default && ns != snapshot.root_namespace {
            if let RowMode::Single(mode) = legacy.namespace_row(ns).mode {
                migration
                    .objects
                    .push(draft.policy(ns, "default", mode_spec(mode)));
            }
        } else if has_default {
            migration.problems.push(format!(
                "policy {ns}/default: {ns} is the root namespace, where a namespace-wide PeerAuthentication is the \
                 mesh-wide one; its mode cannot be kept for this namespace alone"
            ));
        }
    }
}

/// A Service that legacy Service policies target: a workload policy on its
/// selector, with port overrides keyed by target port where a port's mode
/// differs from the Service's.
fn workload_policy(
    snapshot: &Snapshot,
    legacy: &Index,
    svc: &Service,
    draft: &Draft,
    migration: &mut Migration,
) {
    let targeted = snapshot.legacy_policies.iter().any(|p| {
        p.kind == LegacyKind::Policy
            && p.id.namespace == svc.id.namespace
            && p.targets.iter().any(|t| t.name == svc.id.name)
    });
    if !targeted {
        return;
    }
    let Some(selector) = &svc.selector else {
        migration.problems.push(format!(
            "service {}: legacy policies target it, but it has no selector, so no PeerAuthentication can select \
             its workloads",
            svc.id
        ));
        return;
    };
    let RowMode::Single(workload_mode) = legacy.service_row(svc).mode else {
        return;
    };
    let mut ports: BTreeMap<String, Value> = BTreeMap::new();
    for port in &svc.ports {
        let RowMode::Single(want) = legacy.port_row(svc, port).mode else {
            continue;
        };
        if want == workload_mode {
            continue;
        }
        let targets: Vec<u32> = legacy
            .port_targets(svc, port)
            .into_iter()
            .filter_map(|(_, tp)| tp)
            .collect();
        if targets.is_empty() {
            migration.problems.push(format!(
                "service {}:{}: its target port is named and no pod or pod template resolves it, so there is no \
                 workload port to key portLevelMtls by",
                svc.id, port.port
            ));
        }
        for tp in targets {
            ports.insert(tp.to_string(), json!({"mode": want.as_str()}));
        }
    }
    let mut spec = Map::new();
    spec.insert("selector".into(), json!({"matchLabels": selector}));
    spec.extend(mode_spec(workload_mode));
    if !ports.is_empty() {
        spec.insert("portLevelMtls".into(), json!(ports));
    }
    migration
        .objects
        .push(draft.policy(&svc.id.namespace, &svc.id.name, spec));
}

/// Resolves the PeerAuthentications in place of the legacy policies and
/// compares every Service port: each is kept, or a problem says why not.
fn verify(
    snapshot: &Snapshot,
    legacy: &Index,
    services: &[&Service],
    api_version: &str,
    migration: &mut Migration,
) {
    let mut migrated = snapshot.clone();
    migrated.api = IstioApi::PeerAuthentication(api_version.to_string());
    migrated.legacy_policies.clear();
    for object in &migration.objects {
        if let Ok(mut pa) = PeerAuthentication::from_object(object.clone()) {
            pa.created = Created::Pending;
            let id = pa.id.clone();
            migrated.put_policy(&id, Some(pa));
        }
    }
    let migrated_index = Index::new(&migrated);
    for svc in services {
        for port in &svc.ports {
            let before = legacy.port_row(svc, port);
            let after = migrated_index.port_row(svc, port);
            if before.mode == after.mode {
                migration.kept += 1;
                continue;
            }
            let why = match after.source.and_then(|s| s.policy) {
                Some(policy) => format!("peerauthentication {policy} decides it instead"),
                None => "the pods behind it resolve differently".to_string(),
            };
            migration.problems.push(format!(
                "{}: {} on the legacy API, {} after the migration: {why}",
                before.target,
                before.mode.as_str(),
                after.mode.as_str()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::model::LegacyPolicy;

    #[test]
    fn modes_survive_where_legacy_and_modern_inheritance_differ() {
        let legacy = |kind, ns: &str, name: &str, spec: Value| {
            let mut metadata = json!({"name": name});
            if kind == LegacyKind::Policy {
                metadata["namespace"] = json!(ns);
            }
            LegacyPolicy::from_object(kind, json!({"metadata": metadata, "spec": spec}))
                .expect("valid")
        };
        let mut s = Snapshot::new("istio-system");
        s.api = IstioApi::Legacy;
        s.legacy_policies = vec![
            legacy(
                LegacyKind::MeshPolicy,
                "",
                "default",
                json!({"peers": [{"mtls": {}}]}),
            ),
            // No inheritance: this namespace is DISABLE under a STRICT mesh.
            legacy(LegacyKind::Policy, "old", "default", json!({})),
            // A service port PERMISSIVE; the service's other port falls to the mesh.
            legacy(
                LegacyKind::Policy,
                "shop",
                "web-metrics",
                json!({"targets": [{"name": "web", "ports": [{"name": "metrics"}]}], "peers": [{"mtls": {"mode": "PERMISSIVE"}}]}),
            ),
        ];
        let svc = |ns: &str, name: &str| {
            Service::from_object(&json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090, "targetPort": 19090}]},
            }))
            .expect("service")
        };
        s.services = vec![svc("shop", "web"), svc("old", "billing"), svc("new", "api")];
        s.note_namespaces();

        let migration = migrate(&s, "security.istio.io/v1beta1", &|_| true);
        assert_eq!(migration.problems, Vec::<String>::new());
        assert_eq!(migration.kept, 6);
        let names: Vec<String> = migration
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect();
        assert_eq!(names, ["istio-system/default", "old/default", "shop/web"]);
        assert_eq!(
            migration.objects[1]["spec"],
            json!({"mtls": {"mode": "DISABLE"}})
        );
        assert_eq!(
            migration.objects[2]["spec"],
            json!({"selector": {"matchLabels": {"app": "web"}}, "mtls": {"mode": "STRICT"}, "portLevelMtls": {"19090": {"mode": "PERMISSIVE"}}})
        );
    }
}
