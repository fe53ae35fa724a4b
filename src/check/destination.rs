//! Which DestinationRule a client in a namespace uses for a Service, as Istio
//! looks it up: `PushContext.destinationRule` and `SetDestinationRules`
//! (pilot/pkg/model/push_context.go), `MostSpecificHostMatch`
//! (pilot/pkg/model/destination_rule.go) and `ResolveShortnameToFQDN`
//! (pilot/pkg/model/config.go); docs/semantics.md §4.
//!
//! Rules are indexed per namespace as "namespace local" (visible in their own
//! namespace: no `exportTo`, `*`, `.` or the namespace itself) and "exported"
//! (unless only private), the root namespace keeping its private rules apart. A
//! client looks in its own namespace first (the root namespace's private rules if
//! it is in the root namespace), then at rules exported by the Service's
//! namespace, then by the root namespace, each time taking the most specific host
//! match. Rules of one index for the same host merge: the oldest with a traffic
//! policy gives it. Rules with a `workloadSelector` apply to some clients only and
//! are left out here.

use std::collections::HashMap;

use crate::policy::model::{DestinationRule, Subset, TlsPolicy};
use crate::policy::{ObjectRef, Service};

/// The cluster's DNS suffix for Services.
const DOMAIN: &str = "svc.cluster.local";

/// The rules Istio merges for one host in one index.
#[derive(Debug, Clone)]
pub struct MergedRule<'a> {
    pub host: String,
    /// The rules merged, oldest first; Istio reports the first.
    pub rules: Vec<&'a DestinationRule>,
    pub traffic: Option<&'a TlsPolicy>,
    pub subsets: Vec<&'a Subset>,
    export_to: Vec<String>,
}

impl MergedRule<'_> {
    /// The rule that decides the TLS settings: the one the traffic policy came
    /// from, else the first.
    pub fn decider(&self) -> &ObjectRef {
        self.rules
            .iter()
            .find(|r| r.traffic.is_some())
            .or(self.rules.first())
            .map(|r| &r.id)
            .expect("a merged rule has at least one rule")
    }
}

#[derive(Default)]
struct HostIndex<'a> {
    rules: Vec<MergedRule<'a>>,
}

impl<'a> HostIndex<'a> {
    fn merge(&mut self, rule: &'a DestinationRule, host: &str) {
        match self.rules.iter_mut().find(|m| m.host == host) {
            Some(merged) => {
                if merged.traffic.is_none() {
                    merged.traffic = rule.traffic.as_ref();
                }
                for subset in &rule.subsets {
                    if !merged.subsets.iter().any(|s| s.name == subset.name) {
                        merged.subsets.push(subset);
                    }
                }
                merged.rules.push(rule);
            }
            None => self.rules.push(MergedRule {
                host: host.to_string(),
                rules: vec![rule],
                traffic: rule.traffic.as_ref(),
                subsets: rule.subsets.iter().collect(),
                export_to: rule.export_to.clone(),
            }),
        }
    }

    /// `MostSpecificHostMatch`: an exact host, else the longest wildcard that
    /// matches.
    fn lookup(&self, hostname: &str) -> Option<&MergedRule<'a>> {
        if let Some(exact) = self.rules.iter().find(|m| m.host == hostname) {
            return Some(exact);
        }
        self.rules
            .iter()
            .filter(|m| wildcard_matches(&m.host, hostname))
            .max_by_key(|m| m.host.len())
    }
}

fn wildcard_matches(pattern: &str, hostname: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some("") => true,
        Some(suffix) => hostname.ends_with(suffix),
        None => false,
    }
}

pub struct DestinationIndex<'a> {
    root: String,
    namespace_local: HashMap<String, HostIndex<'a>>,
    exported: HashMap<String, HostIndex<'a>>,
    root_local: HostIndex<'a>,
    /// For each exact host of a namespace-local rule, the namespaces with one;
    /// so that a Service is looked up only where a local rule may match it.
    local_hosts: HashMap<String, Vec<String>>,
    /// Namespaces with a namespace-local wildcard rule.
    local_wildcards: Vec<String>,
}

/// The rules every client namespace uses for one Service, worked out once for
/// the Service: the namespace-local rules that match it, and the exported rules
/// of its namespace and of the root.
pub struct ServiceRules<'i, 'a> {
    root: &'i str,
    local: Vec<(&'i str, &'i MergedRule<'a>)>,
    root_local: Option<&'i MergedRule<'a>>,
    in_service_namespace: Option<&'i MergedRule<'a>>,
    in_root: Option<&'i MergedRule<'a>>,
}

impl<'i, 'a> ServiceRules<'i, 'a> {
    /// The rules a client in `client_ns` uses, if any: its own namespace's,
    /// else those the Service's namespace exports to it, else the root's.
    pub fn lookup(&self, client_ns: &str) -> Option<&'i MergedRule<'a>> {
        let local = if client_ns != self.root {
            self.local
                .iter()
                .find(|(ns, _)| *ns == client_ns)
                .map(|(_, m)| *m)
        } else {
            self.root_local
        };
        if local.is_some() {
            return local;
        }
        let admits = |m: &&MergedRule<'a>| {
            m.export_to.is_empty() || m.export_to.iter().any(|e| e == "*" || e == client_ns)
        };
        self.in_service_namespace
            .filter(admits)
            .or_else(|| self.in_root.filter(admits))
    }
}

/// `ResolveShortnameToFQDN`: a host without a dot is a short name in the rule's
/// namespace.
pub fn resolve_host(host: &str, namespace: &str) -> String {
    if host == "*" || host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.{namespace}.{DOMAIN}")
    }
}

pub fn service_hostname(service: &Service) -> String {
    format!("{}.{}.{DOMAIN}", service.id.name, service.id.namespace)
}

impl<'a> DestinationIndex<'a> {
    pub fn new(rules: &'a [DestinationRule], root: &str) -> DestinationIndex<'a> {
        let mut sorted: Vec<&DestinationRule> = rules
            .iter()
            .filter(|r| r.workload_selector.is_none())
            .collect();
        sorted.sort_by(|a, b| {
            (a.created, &a.id.name, &a.id.namespace).cmp(&(b.created, &b.id.name, &b.id.namespace))
        });
        let mut index = DestinationIndex {
            root: root.to_string(),
            namespace_local: HashMap::new(),
            exported: HashMap::new(),
            root_local: HostIndex::default(),
            local_hosts: HashMap::new(),
            local_wildcards: Vec::new(),
        };
        for rule in sorted {
            let ns = &rule.id.namespace;
            let host = resolve_host(&rule.host, ns);
            let export = &rule.export_to;
            let visible_locally =
                export.is_empty() || export.iter().any(|e| e == "*" || e == "." || e == ns);
            if visible_locally {
                index
                    .namespace_local
                    .entry(ns.clone())
                    .or_default()
                    .merge(rule, &host);
            }
            let private_only = export.len() == 1 && (export[0] == "." || &export[0] == ns);
            if !private_only {
                index
                    .exported
                    .entry(ns.clone())
                    .or_default()
                    .merge(rule, &host);
            } else if ns == root {
                index.root_local.merge(rule, &host);
            }
        }
        for (ns, local) in &index.namespace_local {
            for merged in &local.rules {
                if merged.host.starts_with('*') {
                    index.local_wildcards.push(ns.clone());
                } else {
                    index
                        .local_hosts
                        .entry(merged.host.clone())
                        .or_default()
                        .push(ns.clone());
                }
            }
        }
        index.local_wildcards.sort();
        index.local_wildcards.dedup();
        index
    }

    /// The rules every client namespace uses for `service`, worked out once.
    pub fn for_service(&self, service: &Service) -> ServiceRules<'_, 'a> {
        let hostname = service_hostname(service);
        let mut candidates: Vec<&String> = self
            .local_hosts
            .get(&hostname)
            .into_iter()
            .flatten()
            .chain(&self.local_wildcards)
            .collect();
        candidates.sort();
        candidates.dedup();
        let local = candidates
            .into_iter()
            .filter(|ns| **ns != self.root)
            .filter_map(|ns| {
                let merged = self.namespace_local.get(ns)?.lookup(&hostname)?;
                Some((ns.as_str(), merged))
            })
            .collect();
        ServiceRules {
            root: &self.root,
            local,
            root_local: self.root_local.lookup(&hostname),
            in_service_namespace: self
                .exported
                .get(&service.id.namespace)
                .and_then(|i| i.lookup(&hostname)),
            in_root: self
                .exported
                .get(&self.root)
                .and_then(|i| i.lookup(&hostname)),
        }
    }

    /// The namespaces whose clients may see rules others do not: those with
    /// rules of their own, the root namespace, and those an `exportTo` names.
    /// Clients in every other namespace see the same rules.
    pub fn distinct_namespaces(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> =
            self.namespace_local.keys().cloned().collect();
        names.insert(self.root.clone());
        for index in self.exported.values() {
            for rule in &index.rules {
                names.extend(
                    rule.export_to
                        .iter()
                        .filter(|e| !matches!(e.as_str(), "*" | "." | "~"))
                        .cloned(),
                );
            }
        }
        names
    }

    /// The rules a client in `client_ns` uses for `service`, if any.
    pub fn lookup(&self, client_ns: &str, service: &Service) -> Option<&MergedRule<'a>> {
        self.for_service(service).lookup(client_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(ns: &str, name: &str, host: &str, export_to: &[&str]) -> DestinationRule {
        DestinationRule::from_object(&json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"host": host, "exportTo": export_to, "trafficPolicy": {"tls": {"mode": "DISABLE"}}},
        }))
        .expect("valid rule")
    }

    fn service(ns: &str, name: &str) -> Service {
        Service::from_object(&json!({"metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"app": name}}}))
            .expect("valid service")
    }

    fn used(rules: &[DestinationRule], client: &str, svc: &Service) -> Option<String> {
        DestinationIndex::new(rules, "istio-system")
            .lookup(client, svc)
            .map(|m| m.decider().to_string())
    }

    #[test]
    fn hosts_match_short_names_fqdns_and_wildcards() {
        let api = service("prod", "api");
        for host in [
            "api",
            "api.prod.svc.cluster.local",
            "*.prod.svc.cluster.local",
            "*.local",
            "*",
        ] {
            let rules = [rule("prod", "r", host, &[])];
            assert_eq!(used(&rules, "prod", &api), Some("prod/r".into()), "{host}");
        }
        for host in ["api.prod", "web", "*.other.svc.cluster.local"] {
            let rules = [rule("prod", "r", host, &[])];
            assert_eq!(used(&rules, "prod", &api), None, "{host}");
        }
    }

    #[test]
    fn the_client_namespace_wins_then_the_service_namespace_then_the_root() {
        let api = service("prod", "api");
        let rules = [
            rule("istio-system", "root", "*.local", &[]),
            rule("prod", "owner", "api", &[]),
            rule("web", "client", "api.prod.svc.cluster.local", &[]),
        ];
        assert_eq!(used(&rules, "web", &api), Some("web/client".into()));
        assert_eq!(used(&rules, "shop", &api), Some("prod/owner".into()));
        assert_eq!(
            used(&rules[..1], "shop", &api),
            Some("istio-system/root".into())
        );
    }

    #[test]
    fn the_most_specific_host_wins_in_one_namespace() {
        let api = service("prod", "api");
        let rules = [
            rule("prod", "wide", "*.local", &[]),
            rule("prod", "narrow", "*.prod.svc.cluster.local", &[]),
            rule("prod", "any", "*", &[]),
        ];
        assert_eq!(used(&rules, "prod", &api), Some("prod/narrow".into()));
    }

    #[test]
    fn export_to_limits_who_sees_a_rule() {
        let api = service("prod", "api");
        let private = [rule("prod", "r", "api", &["."])];
        assert_eq!(used(&private, "prod", &api), Some("prod/r".into()));
        assert_eq!(used(&private, "web", &api), None);
        let to_web = [rule("prod", "r", "api", &["web"])];
        assert_eq!(used(&to_web, "web", &api), Some("prod/r".into()));
        assert_eq!(used(&to_web, "shop", &api), None);
        assert_eq!(
            used(&to_web, "prod", &api),
            None,
            "not exported to its own namespace"
        );
        let hidden = [rule("prod", "r", "api", &["~"])];
        assert_eq!(used(&hidden, "web", &api), None);
        let root_private = [rule("istio-system", "r", "*", &["."])];
        assert_eq!(
            used(&root_private, "istio-system", &api),
            Some("istio-system/r".into())
        );
        assert_eq!(used(&root_private, "web", &api), None);
    }

    #[test]
    fn merged_rules_take_the_oldest_traffic_policy() {
        let api = service("prod", "api");
        let mut newer = rule("prod", "a-newer", "api", &[]);
        newer.created =
            crate::policy::model::Created::At(jiff::Timestamp::from_second(2).expect("in range"));
        let mut older = rule("prod", "z-older", "api", &[]);
        older.created =
            crate::policy::model::Created::At(jiff::Timestamp::from_second(1).expect("in range"));
        let rules = [newer, older];
        assert_eq!(used(&rules, "prod", &api), Some("prod/z-older".into()));
    }

    /// Istio's lookup written plainly from the rules (module doc), with no
    /// index: the oracle for `DestinationIndex`. The rule a client in
    /// `client_ns` uses for `service`, as the one whose traffic policy decides.
    fn naive(
        rules: &[DestinationRule],
        root: &str,
        client_ns: &str,
        service: &Service,
    ) -> Option<ObjectRef> {
        let hostname = service_hostname(service);
        let mut sorted: Vec<&DestinationRule> = rules
            .iter()
            .filter(|r| r.workload_selector.is_none())
            .collect();
        sorted.sort_by(|a, b| {
            (a.created, &a.id.name, &a.id.namespace).cmp(&(b.created, &b.id.name, &b.id.namespace))
        });
        let private = |r: &DestinationRule| {
            r.export_to.len() == 1 && (r.export_to[0] == "." || r.export_to[0] == r.id.namespace)
        };
        let local = |r: &DestinationRule| {
            r.export_to.is_empty()
                || r.export_to
                    .iter()
                    .any(|e| e == "*" || e == "." || *e == r.id.namespace)
        };
        // Among some rules of one namespace: the most specific host that
        // matches; the rules of that host in age order.
        fn most_specific<'r>(
            tier: Vec<&'r DestinationRule>,
            hostname: &str,
        ) -> Vec<&'r DestinationRule> {
            let host = |r: &DestinationRule| resolve_host(&r.host, &r.id.namespace);
            let chosen = tier
                .iter()
                .map(|r| host(r))
                .filter(|h| {
                    h == hostname
                        || h.strip_prefix('*')
                            .is_some_and(|suffix| hostname.ends_with(suffix))
                })
                .max_by_key(|h| (h == hostname, h.len()));
            match chosen {
                Some(chosen) => tier.into_iter().filter(|r| host(r) == chosen).collect(),
                None => Vec::new(),
            }
        }
        let decider = |group: &[&DestinationRule]| {
            group
                .iter()
                .find(|r| r.traffic.is_some())
                .or(group.first())
                .map(|r| r.id.clone())
        };
        // The client's own namespace (in the root namespace: its private rules).
        let own: Vec<&DestinationRule> = sorted
            .iter()
            .copied()
            .filter(|r| r.id.namespace == client_ns)
            .filter(|r| {
                if client_ns == root {
                    private(r)
                } else {
                    local(r)
                }
            })
            .collect();
        let group = most_specific(own, &hostname);
        if !group.is_empty() {
            return decider(&group);
        }
        // Then what the Service's namespace, then the root namespace, export:
        // the first rule of the most specific host says to whom.
        for owner in [service.id.namespace.as_str(), root] {
            let exported: Vec<&DestinationRule> = sorted
                .iter()
                .copied()
                .filter(|r| r.id.namespace == owner && !private(r))
                .collect();
            let group = most_specific(exported, &hostname);
            let Some(first) = group.first() else { continue };
            if first.export_to.is_empty()
                || first.export_to.iter().any(|e| e == "*" || e == client_ns)
            {
                return decider(&group);
            }
        }
        None
    }

    const NAMESPACES: [&str; 4] = ["istio-system", "prod", "dev", "web"];

    proptest::proptest! {
        #[test]
        fn the_index_agrees_with_the_lookup_written_plainly(
            rules in proptest::collection::vec(
                (
                    0..NAMESPACES.len(),
                    proptest::sample::select(vec![
                        "api", "web", "api.prod", "api.prod.svc.cluster.local", "*.prod.svc.cluster.local",
                        "*", "*.svc.cluster.local", "web.dev.svc.cluster.local",
                    ]),
                    proptest::sample::subsequence(vec!["*", ".", "prod", "dev", "istio-system"], 0..3),
                ),
                0..8,
            ),
        ) {
            let rules: Vec<DestinationRule> = rules
                .iter()
                .enumerate()
                .map(|(i, (ns, host, export_to))| rule(NAMESPACES[*ns], &format!("r{i}"), host, export_to))
                .collect();
            let index = DestinationIndex::new(&rules, "istio-system");
            for svc_ns in NAMESPACES {
                for name in ["api", "web"] {
                    let svc = service(svc_ns, name);
                    for client in NAMESPACES {
                        let indexed = index.lookup(client, &svc).map(|m| m.decider().clone());
                        let plain = naive(&rules, "istio-system", client, &svc);
                        proptest::prop_assert_eq!(indexed, plain, "client {} service {}", client, svc.id);
                    }
                }
            }
        }
    }
}
