//! Resolution on the legacy API, authentication.istio.io/v1alpha1 (Istio 1.4 and
//! earlier; istio-semantics.md §5, from 1.4's `AuthenticationPolicyForWorkload`).
//!
//! No inheritance: the chosen policy decides alone. For a Service port, the oldest
//! Policy that targets the Service and is either port-less or names the port (by
//! number or name: legacy ports are Service ports); else the namespace's Policy
//! `default` without targets; else the MeshPolicy `default`; else DISABLE. Istio
//! 1.5 mixed mode: where any PeerAuthentication applies to a workload, it decides
//! instead, and the legacy policies are ignored for it.

use crate::mode::Mode;
use crate::policy::Service;
use crate::policy::model::{LegacyKind, LegacyPolicy, LegacyPort, ServicePort};
use crate::policy::resolve::{Composition, Decision, Index, Level, PolicyRef};

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

    /// On the legacy API, the decision Istio 1.5 makes for a workload: its
    /// PeerAuthentications if any applies, else the legacy policies.
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
        if !self.snapshot.legacy || any_peer {
            peer(composition)
        } else {
            self.legacy_decision(namespace, service)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::Snapshot;
    use crate::policy::model::LegacyKind;
    use crate::policy::resolve::RowMode;
    use crate::target::Target;

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
        s.legacy = true;
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
}
