//! Which DestinationRule a client uses for a Service, as Istio looks it up:
//! `PushContext.destinationRule` and `SetDestinationRules`
//! (pilot/pkg/model/push_context.go), `mergeDestinationRule`
//! (pilot/pkg/model/destination_rule.go), `SidecarScope.DestinationRule`
//! (pilot/pkg/model/sidecar.go), `MostSpecificHostMatch` and
//! `ResolveShortnameToFQDN`; docs/semantics.md §4.
//!
//! Rules are indexed per namespace as "namespace local" (visible in their own
//! namespace: no `exportTo`, `*`, `.` or the namespace itself) and "exported"
//! (unless only private), the root namespace keeping its private rules apart.
//! Within one index, rules for one host merge in age order only where their
//! `exportTo` sets are equal (and their workload selectors agree); a rule whose
//! set is a superset of an earlier one's merges into it and also stands alone;
//! any other stays apart. A client looks in its own namespace first (the root
//! namespace's private rules if it is in the root namespace), then at the
//! entries the Service's namespace exports to it, then the root's, each time
//! for the most specific host; the first place with entries decides. Of those,
//! a rule of the client's own namespace whose `workloadSelector` selects the
//! client wins; else the last entry without a selector.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt};

use crate::policy::model::{DestinationRule, Labels, Subset, TlsPolicy, selects};
use crate::policy::{ObjectRef, Service};

/// The cluster's DNS suffix for Services.
const DOMAIN: &str = "svc.cluster.local";

/// The rules Istio merges into one entry for a host in one index.
#[derive(Debug, Clone)]
pub struct MergedRule<'a> {
    pub host: String,
    /// The rules merged, oldest first; Istio reports the first.
    pub rules: Vec<&'a DestinationRule>,
    pub traffic: Option<&'a TlsPolicy>,
    pub subsets: Vec<&'a Subset>,
    /// Who sees the entry: namespaces, or `*` (`.` resolved; none is `*`).
    export_to: BTreeSet<String>,
    /// The namespace of its first rule.
    namespace: &'a str,
    /// Its first rule's `workloadSelector`: the clients it is for.
    selector: Option<&'a Labels>,
}

impl<'a> MergedRule<'a> {
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

    /// Whether a client in `namespace` sees this entry where it is exported.
    fn admits(&self, namespace: &str) -> bool {
        self.export_to.contains("*") || self.export_to.contains(namespace)
    }

    /// Takes in a younger rule for the same host: subsets it does not have,
    /// and the traffic policy when it has none.
    fn absorb(&mut self, rule: &'a DestinationRule) {
        if self.traffic.is_none() {
            self.traffic = rule.traffic.as_ref();
        }
        for subset in &rule.subsets {
            if !self.subsets.iter().any(|s| s.name == subset.name) {
                self.subsets.push(subset);
            }
        }
        self.rules.push(rule);
    }
}

/// A rule's `exportTo` as Istio's set: `.` is its own namespace, none is the
/// default, `*`.
fn export_set(rule: &DestinationRule) -> BTreeSet<String> {
    if rule.export_to.is_empty() {
        return BTreeSet::from(["*".to_string()]);
    }
    rule.export_to
        .iter()
        .map(|e| {
            if e == "." {
                rule.id.namespace.clone()
            } else {
                e.clone()
            }
        })
        .collect()
}

#[derive(Default)]
struct HostIndex<'a> {
    /// Per host, its entries in the order Istio keeps them.
    hosts: HashMap<String, Vec<MergedRule<'a>>>,
}

impl<'a> HostIndex<'a> {
    /// `mergeDestinationRule`, with enhanced merging (Istio's default).
    fn merge(&mut self, rule: &'a DestinationRule, host: &str) {
        let export_to = export_set(rule);
        let selector = rule.workload_selector.as_ref();
        let entries = self.hosts.entry(host.to_string()).or_default();
        let mut apart = true;
        for entry in entries.iter_mut() {
            let same_selector = entry.selector == selector;
            if entry.export_to == export_to {
                apart = !same_selector;
            } else if !entry.export_to.is_empty() && export_to.is_superset(&entry.export_to) {
                apart = true;
            } else {
                apart = true;
                continue;
            }
            if entry.selector.is_some() && selector.is_some() && !same_selector {
                apart = true;
                continue;
            }
            entry.absorb(rule);
        }
        if apart || entries.is_empty() {
            entries.push(MergedRule {
                host: host.to_string(),
                rules: vec![rule],
                traffic: rule.traffic.as_ref(),
                subsets: rule.subsets.iter().collect(),
                export_to,
                namespace: &rule.id.namespace,
                selector,
            });
        }
    }

    /// `MostSpecificHostMatch`: the entries of an exact host, else of the
    /// longest wildcard that matches.
    fn lookup(&self, hostname: &str) -> &[MergedRule<'a>] {
        if let Some(exact) = self.hosts.get(hostname) {
            return exact;
        }
        self.hosts
            .iter()
            .filter(|(host, _)| wildcard_matches(host, hostname))
            .max_by_key(|(host, _)| host.len())
            .map_or(&[], |(_, entries)| entries.as_slice())
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

/// The rules every client uses for one Service, worked out once for the
/// Service: the namespace-local entries that match it, and the exported
/// entries of its namespace and of the root.
pub struct ServiceRules<'i, 'a> {
    root: &'i str,
    local: Vec<(&'i str, &'i [MergedRule<'a>])>,
    root_local: &'i [MergedRule<'a>],
    in_service_namespace: &'i [MergedRule<'a>],
    in_root: &'i [MergedRule<'a>],
}

impl<'i, 'a> ServiceRules<'i, 'a> {
    /// The entry a client in `client_ns` with `labels` (`None`: no particular
    /// workload) uses, if any.
    pub fn lookup(&self, client_ns: &str, labels: Option<&Labels>) -> Option<&'i MergedRule<'a>> {
        let (entries, exported) = self.place(client_ns)?;
        let mut catch_all = None;
        for entry in entries {
            if exported && !entry.admits(client_ns) {
                continue;
            }
            match entry.selector {
                None => catch_all = Some(entry),
                Some(selector)
                    if entry.namespace == client_ns
                        && labels.is_some_and(|l| selects(selector, l)) =>
                {
                    return Some(entry);
                }
                Some(_) => {}
            }
        }
        catch_all
    }

    /// The rules with a traffic policy that a client in `client_ns` (with
    /// `labels`) could take its TLS from but does not: younger rules merged
    /// into the entry it uses (the oldest traffic policy wins), the other
    /// entries of its namespace that apply to it, and the entries of the later
    /// places in the lookup (the Service's namespace, the root) exported to
    /// it. In Istio's order, without repeats.
    pub fn shadowed(&self, client_ns: &str, labels: Option<&Labels>) -> Vec<&'a ObjectRef> {
        let chosen = self.lookup(client_ns, labels);
        let decider = chosen.map(MergedRule::decider);
        let local = self.local_entries(client_ns);
        let applies = |entry: &MergedRule<'_>, exported: bool| {
            (!exported || entry.admits(client_ns))
                && entry.selector.is_none_or(|selector| {
                    entry.namespace == client_ns && labels.is_some_and(|l| selects(selector, l))
                })
        };
        let mut shadowed: Vec<&'a ObjectRef> = Vec::new();
        for (entries, exported) in [
            (local, false),
            (self.in_service_namespace, true),
            (self.in_root, true),
        ] {
            for entry in entries.iter().filter(|e| applies(e, exported)) {
                for rule in entry.rules.iter().filter(|r| r.traffic.is_some()) {
                    let id = &rule.id;
                    if Some(id) != decider && !shadowed.contains(&id) {
                        shadowed.push(id);
                    }
                }
            }
        }
        shadowed
    }

    /// Whether clients of `client_ns` may get different entries by their
    /// labels: an entry they see selects workloads of their namespace.
    pub fn selective(&self, client_ns: &str) -> bool {
        self.place(client_ns).is_some_and(|(entries, _)| {
            entries
                .iter()
                .any(|e| e.selector.is_some() && e.namespace == client_ns)
        })
    }

    /// The entries of `client_ns`'s own namespace for the Service (in the
    /// root namespace, its private ones).
    fn local_entries(&self, client_ns: &str) -> &'i [MergedRule<'a>] {
        if client_ns == self.root {
            return self.root_local;
        }
        self.local
            .iter()
            .find(|(ns, _)| *ns == client_ns)
            .map_or(&[][..], |(_, m)| *m)
    }

    /// The entries that decide for `client_ns`: its own namespace's (the
    /// root's private ones in the root), else those the Service's namespace,
    /// else the root, exports to it; and whether they are exported ones.
    fn place(&self, client_ns: &str) -> Option<(&'i [MergedRule<'a>], bool)> {
        let local = self.local_entries(client_ns);
        if !local.is_empty() {
            return Some((local, false));
        }
        [self.in_service_namespace, self.in_root]
            .into_iter()
            .find(|entries| entries.iter().any(|e| e.admits(client_ns)))
            .map(|entries| (entries, true))
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
        let mut sorted: Vec<&DestinationRule> = rules.iter().collect();
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
            let export = export_set(rule);
            if export.contains("*") || export.contains(ns) {
                index
                    .namespace_local
                    .entry(ns.clone())
                    .or_default()
                    .merge(rule, &host);
            }
            let private_only = export.len() == 1 && export.contains(ns);
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
            for host in local.hosts.keys() {
                if host.starts_with('*') {
                    index.local_wildcards.push(ns.clone());
                } else {
                    index
                        .local_hosts
                        .entry(host.clone())
                        .or_default()
                        .push(ns.clone());
                }
            }
        }
        index.local_wildcards.sort();
        index.local_wildcards.dedup();
        index
    }

    /// The rules every client uses for `service`, worked out once.
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
                let entries = self.namespace_local.get(ns)?.lookup(&hostname);
                (!entries.is_empty()).then_some((ns.as_str(), entries))
            })
            .collect();
        let exported = |ns: &str| {
            self.exported
                .get(ns)
                .map_or(&[][..], |i| i.lookup(&hostname))
        };
        ServiceRules {
            root: &self.root,
            local,
            root_local: self.root_local.lookup(&hostname),
            in_service_namespace: exported(&service.id.namespace),
            in_root: exported(&self.root),
        }
    }

    /// The namespaces whose clients may see rules others do not: those with
    /// rules of their own, the root namespace, and those an `exportTo` names.
    /// Clients in every other namespace see the same rules.
    pub fn distinct_namespaces(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.namespace_local.keys().cloned().collect();
        names.insert(self.root.clone());
        for index in self.exported.values() {
            for entry in index.hosts.values().flatten() {
                names.extend(
                    entry
                        .export_to
                        .iter()
                        .filter(|e| !matches!(e.as_str(), "*" | "~"))
                        .cloned(),
                );
            }
        }
        names
    }

    /// The rule a client in `client_ns` (with `labels`, if known) uses for
    /// `service`, if any.
    pub fn lookup(
        &self,
        client_ns: &str,
        labels: Option<&Labels>,
        service: &Service,
    ) -> Option<&MergedRule<'a>> {
        self.for_service(service).lookup(client_ns, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::labels_of as labels;
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
            .lookup(client, None, svc)
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

    #[test]
    fn rules_for_one_host_with_different_export_to_stay_apart() {
        let api = service("prod", "api");
        let mut to_web = rule("prod", "a-to-web", "api", &["web"]);
        to_web.created = at(1);
        let mut to_all = rule("prod", "b-to-all", "api", &["*"]);
        to_all.created = at(2);
        to_all.traffic = None;
        let rules = [to_web, to_all];
        // web sees both entries and takes the last; shop only the public one.
        assert_eq!(used(&rules, "web", &api), Some("prod/b-to-all".into()));
        assert_eq!(used(&rules, "shop", &api), Some("prod/b-to-all".into()));
        // Merged as one (old merging), shop would have seen a-to-web's policy,
        // or nothing at all.
        let index = DestinationIndex::new(&rules, "istio-system");
        let shop = index.lookup("shop", None, &api).expect("an entry");
        assert!(
            shop.traffic.is_none(),
            "shop gets b-to-all alone: no TLS setting"
        );
    }

    #[test]
    fn a_workload_selector_applies_to_the_clients_it_selects_in_its_namespace() {
        let api = service("prod", "api");
        let mut selective = rule("web", "canary", "api.prod.svc.cluster.local", &[]);
        selective.workload_selector = Some(labels(&[("track", "canary")]));
        let everyone = rule("web", "all", "api.prod.svc.cluster.local", &[]);
        let rules = [selective, everyone];
        let index = DestinationIndex::new(&rules, "istio-system");
        let pick = |ns: &str, l: &[(&str, &str)]| {
            index
                .lookup(ns, Some(&labels(l)), &api)
                .map(|m| m.decider().to_string())
        };
        assert_eq!(
            pick("web", &[("track", "canary")]),
            Some("web/canary".into())
        );
        assert_eq!(pick("web", &[("track", "stable")]), Some("web/all".into()));
        assert_eq!(used(&rules, "web", &api), Some("web/all".into()));
        assert!(index.for_service(&api).selective("web"));
        assert!(!index.for_service(&api).selective("shop"));
    }

    fn at(second: i64) -> crate::policy::model::Created {
        crate::policy::model::Created::At(jiff::Timestamp::from_second(second).expect("in range"))
    }

    /// A rule's exportTo as a set: none is `*`, `.` its own namespace.
    fn plain_export(r: &DestinationRule) -> BTreeSet<String> {
        if r.export_to.is_empty() {
            return BTreeSet::from(["*".to_string()]);
        }
        r.export_to
            .iter()
            .map(|e| {
                if e == "." {
                    r.id.namespace.clone()
                } else {
                    e.clone()
                }
            })
            .collect()
    }

    /// One place's rules for the most specific host, in entries: each a list
    /// of rules, the first of which gives its exportTo and selector.
    fn plain_entries<'r>(
        tier: Vec<&'r DestinationRule>,
        hostname: &str,
    ) -> Vec<Vec<&'r DestinationRule>> {
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
        let mut out: Vec<Vec<&DestinationRule>> = Vec::new();
        for r in tier.into_iter().filter(|r| Some(host(r)) == chosen) {
            let mut apart = true;
            for entry in out.iter_mut() {
                let head = entry[0];
                let same_selector = head.workload_selector == r.workload_selector;
                if plain_export(head) == plain_export(r) {
                    apart = !same_selector;
                } else if plain_export(r).is_superset(&plain_export(head)) {
                    apart = true;
                } else {
                    apart = true;
                    continue;
                }
                if head.workload_selector.is_some()
                    && r.workload_selector.is_some()
                    && !same_selector
                {
                    apart = true;
                    continue;
                }
                entry.push(r);
            }
            if apart || out.is_empty() {
                out.push(vec![r]);
            }
        }
        out
    }

    /// Istio's lookup written plainly from the rules (module doc), with no
    /// index: the oracle for `DestinationIndex`. The rule a client in
    /// `client_ns` with `labels` uses for `service`, as the one whose traffic
    /// policy decides.
    fn naive(
        rules: &[DestinationRule],
        root: &str,
        client_ns: &str,
        labels: Option<&Labels>,
        service: &Service,
    ) -> Option<ObjectRef> {
        let hostname = service_hostname(service);
        let mut sorted: Vec<&DestinationRule> = rules.iter().collect();
        sorted.sort_by(|a, b| {
            (a.created, &a.id.name, &a.id.namespace).cmp(&(b.created, &b.id.name, &b.id.namespace))
        });
        let export = plain_export;
        let private = |r: &DestinationRule| export(r) == BTreeSet::from([r.id.namespace.clone()]);
        let local = |r: &DestinationRule| {
            let e = export(r);
            e.contains("*") || e.contains(&r.id.namespace)
        };
        let entries = |tier| plain_entries(tier, &hostname);
        let decider = |group: &[&DestinationRule]| {
            group
                .iter()
                .find(|r| r.traffic.is_some())
                .or(group.first())
                .map(|r| r.id.clone())
        };
        let pick = |entries: Vec<Vec<&DestinationRule>>| {
            let mut catch_all = None;
            for entry in &entries {
                match &entry[0].workload_selector {
                    None => catch_all = decider(entry),
                    Some(sel)
                        if entry[0].id.namespace == client_ns
                            && labels.is_some_and(|l| selects(sel, l)) =>
                    {
                        return decider(entry);
                    }
                    Some(_) => {}
                }
            }
            catch_all
        };
        // The client's own namespace (in the root namespace: its private rules).
        let own = entries(
            sorted
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
                .collect(),
        );
        if !own.is_empty() {
            return pick(own);
        }
        // Then what the Service's namespace, then the root namespace, export
        // to the client.
        for owner in [service.id.namespace.as_str(), root] {
            let visible: Vec<Vec<&DestinationRule>> = entries(
                sorted
                    .iter()
                    .copied()
                    .filter(|r| r.id.namespace == owner && !private(r))
                    .collect(),
            )
            .into_iter()
            .filter(|entry| {
                let e = export(entry[0]);
                e.contains("*") || e.contains(client_ns)
            })
            .collect();
            if !visible.is_empty() {
                return pick(visible);
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
                    proptest::option::of(proptest::sample::select(vec!["a", "b"])),
                    proptest::bool::ANY,
                ),
                0..8,
            ),
        ) {
            let rules: Vec<DestinationRule> = rules
                .iter()
                .enumerate()
                .map(|(i, (ns, host, export_to, selector, traffic))| {
                    let mut r = rule(NAMESPACES[*ns], &format!("r{i}"), host, export_to);
                    r.workload_selector = selector.map(|app| labels(&[("app", app)]));
                    if !traffic {
                        r.traffic = None;
                    }
                    r
                })
                .collect();
            let index = DestinationIndex::new(&rules, "istio-system");
            let clients = [None, Some(labels(&[("app", "a")])), Some(labels(&[("app", "b")]))];
            for svc_ns in NAMESPACES {
                for name in ["api", "web"] {
                    let svc = service(svc_ns, name);
                    for client in NAMESPACES {
                        for client_labels in &clients {
                            let indexed = index
                                .lookup(client, client_labels.as_ref(), &svc)
                                .map(|m| m.decider().clone());
                            let plain = naive(&rules, "istio-system", client, client_labels.as_ref(), &svc);
                            proptest::prop_assert_eq!(indexed, plain, "client {} {:?} service {}", client, client_labels, svc.id);
                        }
                    }
                }
            }
        }
    }
}
