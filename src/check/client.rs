//! The client side (docs/semantics.md §4): what a sidecar client sends to each
//! pod behind a Service port, against what that pod's port takes.
//!
//! A DestinationRule that sets a TLS mode for the port decides what is sent
//! (MTLS001, MTLS002, MTLS015). Without one, auto mTLS decides, from the namespace-wide
//! (else mesh-wide) mode of the Service's namespace alone: DISABLE there sends
//! plaintext to every pod (MTLS012 where a pod takes only mTLS); otherwise mTLS
//! to the pods with a sidecar, plaintext to the others (MTLS013 where a
//! sidecar takes only plaintext). A headless Service, or a rule's
//! `loadBalancer.simple: PASSTHROUGH`, sends plaintext to every pod as soon as
//! one has no sidecar (MTLS014).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::check::destination::{DestinationIndex, MergedRule, ServiceRules};
use crate::check::{Finding, Severity, list, pa_object, plural};
use crate::mode::{Enforced, Mode};
use crate::policy::dataplane::{self, Dataplane, dataplane_in};
use crate::policy::model::{Labels, ServicePort, Settings, TlsMode, selects};
use crate::policy::resolve::{Composition, Decision, Endpoints, Index, PolicyRef};
use crate::policy::{ObjectRef, Service, Snapshot, Workload};

/// A client-side problem, as findings group them: one object to fix, the
/// same Service (subset), the same thing sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Problem {
    code: &'static str,
    /// `kind NS/NAME` of the object to fix.
    object: String,
    /// The DestinationRule that decides what is sent, `NS/NAME`, if one does.
    rule: Option<String>,
    /// The Service called, `NS/NAME`.
    service: String,
    subset: Option<String>,
    /// What the clients send: a rule's TLS mode, or `None` for auto mTLS.
    tls: Option<TlsMode>,
}

/// Who meets a [`Problem`].
#[derive(Default)]
struct Affected {
    clients: BTreeSet<String>,
    /// The server pods whose calls fail.
    pods: BTreeSet<String>,
    ports: BTreeSet<u16>,
    /// The server's mode and the policy that decides it, as the finding says.
    server: String,
    /// Why auto mTLS sends what it sends: the namespace mode it inferred, or
    /// the pods without a sidecar that make it send plaintext.
    why: String,
}

/// A server pod behind a Service port: what it declares for the port, and
/// what serves and enforces it.
struct ServerPod<'a> {
    workload: &'a Workload,
    decision: Decision<'a>,
    dataplane: Dataplane,
    /// The mode the port meets; `None` on a gateway.
    enforced: Option<Enforced>,
}

/// One route of a client's traffic to a port: the rule's own settings, or a
/// subset's where they differ.
struct Route<'r> {
    subset: Option<&'r str>,
    settings: Settings,
    /// The subset's labels: the pods the route reaches.
    labels: Option<&'r Labels>,
}

/// Every client-side finding of the mesh.
pub fn findings(index: &Index<'_>) -> Vec<Finding> {
    let namespaces = index.snapshot.namespaces.len();
    problems(index)
        .into_iter()
        .map(|(problem, affected)| finding(problem, affected, namespaces))
        .collect()
}

/// Clients that use the same rule for a Service (none: auto mTLS): each
/// namespace looked up, with the namespaces that see the same rules as it.
type ClientGroup<'i, 'a, 'n> = (Option<&'i MergedRule<'a>>, Vec<(&'n String, &'n [String])>);

/// Every client-side problem of the mesh, with who meets it.
fn problems(index: &Index<'_>) -> BTreeMap<Problem, Affected> {
    let snapshot = index.snapshot;
    let rules = DestinationIndex::new(&snapshot.destination_rules, index.root_namespace());
    // Clients in namespaces with rules of their own (read even where the
    // namespace itself was not, as a change reads only what it reaches) see
    // rules others do not; every other namespace sees the same.
    let (distinct, uniform) = client_namespaces(snapshot, &rules);
    let mut problems: BTreeMap<Problem, Affected> = BTreeMap::new();
    for svc in &snapshot.services {
        let used = rules.for_service(svc);
        let groups = client_groups(index, &used, &distinct, &uniform);
        // What auto mTLS infers: the namespace-wide, else mesh-wide, mode.
        let inferred = index
            .compose(&svc.id.namespace, &Labels::new())
            .workload_decision();
        let mut known = Vec::new();
        for port in &svc.ports {
            let servers = server_pods(index, svc, port, &mut known);
            if servers.is_empty() {
                continue;
            }
            for (merged, clients) in &groups {
                for route in routes(*merged, port.port) {
                    for (problem, pod, server_text, why) in
                        judge(svc, *merged, &route, &servers, &inferred)
                    {
                        let affected = problems.entry(problem).or_default();
                        if affected.server.is_empty() {
                            affected.server = server_text;
                            affected.why = why;
                        }
                        for (client_ns, alike) in clients {
                            affected.clients.insert((*client_ns).clone());
                            affected.clients.extend(alike.iter().cloned());
                        }
                        affected.pods.insert(pod.to_string());
                        affected.ports.insert(port.port);
                    }
                }
            }
        }
    }
    problems
}

/// The client namespaces to look up: those with rules of their own (read
/// even where the namespace itself was not, as a change reads only what it
/// reaches), which see rules others do not; and every other namespace, which
/// all see the same.
fn client_namespaces(
    snapshot: &Snapshot,
    rules: &DestinationIndex<'_>,
) -> (Vec<String>, Vec<String>) {
    let special = rules.distinct_namespaces();
    let with_rules: BTreeSet<&str> = snapshot
        .destination_rules
        .iter()
        .map(|r| r.id.namespace.as_str())
        .collect();
    let distinct = special
        .iter()
        .filter(|ns| snapshot.namespaces.contains_key(*ns) || with_rules.contains(ns.as_str()))
        .cloned()
        .collect();
    let uniform = snapshot
        .namespaces
        .keys()
        .filter(|ns| !special.contains(*ns))
        .cloned()
        .collect();
    (distinct, uniform)
}

/// Clients grouped by the rule they use for a Service (none: auto mTLS), so
/// that each group is judged once. Namespaces that see the same rules share
/// one lookup, made for the first of them.
fn client_groups<'i, 'a, 'n>(
    index: &Index<'_>,
    used: &ServiceRules<'i, 'a>,
    distinct: &'n [String],
    uniform: &'n [String],
) -> Vec<ClientGroup<'i, 'a, 'n>> {
    let mut groups: Vec<ClientGroup> = Vec::new();
    let mut lookups: Vec<(&String, &[String])> = distinct.iter().map(|ns| (ns, &[][..])).collect();
    if let Some((first, rest)) = uniform.split_first() {
        lookups.push((first, rest));
    }
    for (client_ns, alike) in lookups {
        for merged in client_rules(index, used, client_ns) {
            let at = groups.iter().position(|(rule, _)| match (rule, merged) {
                (Some(a), Some(b)) => std::ptr::eq(*a, b),
                (None, None) => true,
                _ => false,
            });
            match at {
                Some(i) => groups[i].1.push((client_ns, alike)),
                None => groups.push((merged, vec![(client_ns, alike)])),
            }
        }
    }
    groups
}

/// What the callers of a Service port send, and whether their calls work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Caller {
    /// The client namespaces this holds for: those with rules of their own.
    pub namespaces: Vec<String>,
    /// It also holds for every other namespace (those without rules of
    /// their own, which all see the same).
    pub every_other: bool,
    /// The DestinationRule that decides what they send, `NS/NAME`.
    pub rule: Option<String>,
    /// Rules with a traffic policy they could take their TLS from, but do
    /// not: `rule` (or an older rule merged with it) wins over them.
    pub shadowed: Vec<String>,
    pub subset: Option<String>,
    /// The TLS mode the rule sets; `None`: auto mTLS.
    pub tls: Option<TlsMode>,
    /// What auto mTLS infers from the Service's namespace.
    pub inferred: Option<Mode>,
    /// The findings their calls meet (MTLS001, 002, 012, 013, 014, 015).
    pub failures: Vec<&'static str>,
    /// Their workloads run without a proxy: they send plaintext whatever
    /// the rules say, which a pod that enforces STRICT rejects.
    pub plaintext: bool,
    /// Whether their calls work: no finding, and no plaintext to a pod that
    /// enforces STRICT.
    pub works: bool,
}

/// One caller to explain alone (`--from`): a namespace, and the labels of
/// one of its workloads where known.
#[derive(Debug, Clone, Copy)]
pub struct Client<'x> {
    pub namespace: &'x str,
    pub labels: Option<&'x Labels>,
}

/// Every caller of a Service port: each group of client namespaces by the
/// rule (and subset) they use, what they send, and the failures they meet;
/// with `from`, that one caller only. `rules` is the snapshot's
/// DestinationRule index, built once for every port explained.
pub fn callers(
    index: &Index<'_>,
    rules: &DestinationIndex<'_>,
    svc: &Service,
    port: &ServicePort,
    from: Option<Client<'_>>,
) -> Vec<Caller> {
    let (mut distinct, mut uniform) = client_namespaces(index.snapshot, rules);
    let unproxied = unproxied_clients(index, from);
    // Namespaces whose workloads all run without a proxy use no rule.
    let plain_only: BTreeSet<&str> = unproxied
        .iter()
        .filter(|(_, all)| *all)
        .map(|(ns, _)| ns.as_str())
        .collect();
    distinct.retain(|ns| !plain_only.contains(ns.as_str()));
    uniform.retain(|ns| !plain_only.contains(ns.as_str()));
    // Namespaces not read (or not there yet) see what those without rules of
    // their own see: one lookup stands for them all.
    if uniform.is_empty() {
        uniform.push(String::new());
    }
    if let Some(client) = from {
        distinct.clear();
        if !plain_only.contains(client.namespace) {
            distinct.push(client.namespace.to_string());
        }
        uniform.clear();
    }
    let used = rules.for_service(svc);
    let inferred = index
        .compose(&svc.id.namespace, &Labels::new())
        .workload_decision();
    let servers = server_pods(index, svc, port, &mut Vec::new());
    let mut callers = Vec::new();
    let groups = match (from, distinct.first()) {
        (
            Some(Client {
                namespace,
                labels: Some(labels),
            }),
            Some(first),
        ) => vec![(used.lookup(namespace, Some(labels)), vec![(first, &[][..])])],
        _ => client_groups(index, &used, &distinct, &uniform),
    };
    for (merged, clients) in groups {
        let every_other = clients.iter().any(|(ns, _)| uniform.first() == Some(*ns));
        let mut namespaces: Vec<String> = clients
            .iter()
            .filter(|(ns, _)| uniform.first() != Some(*ns))
            .map(|(ns, _)| (*ns).clone())
            .collect();
        namespaces.sort();
        let mut shadowed: Vec<String> = Vec::new();
        for (ns, _) in &clients {
            let labels = from.and_then(|c| c.labels);
            for id in used.shadowed(ns, labels) {
                let id = id.to_string();
                if !shadowed.contains(&id) {
                    shadowed.push(id);
                }
            }
        }
        for route in routes(merged, port.port) {
            let mut failures: Vec<&'static str> = judge(svc, merged, &route, &servers, &inferred)
                .into_iter()
                .map(|(problem, ..)| problem.code)
                .collect();
            failures.sort_unstable();
            failures.dedup();
            callers.push(Caller {
                namespaces: namespaces.clone(),
                every_other,
                rule: merged.map(|m| m.decider().to_string()),
                shadowed: shadowed.clone(),
                subset: route.subset.map(str::to_string),
                tls: route.settings.tls,
                inferred: route.settings.tls.is_none().then_some(inferred.mode),
                works: failures.is_empty(),
                failures,
                plaintext: false,
            });
        }
    }
    let mut callers = merge_alike(callers);
    if !unproxied.is_empty() {
        let strict = servers.iter().any(|s| s.enforced == Some(Enforced::Strict));
        callers.push(Caller {
            namespaces: unproxied.into_iter().map(|(ns, _)| ns).collect(),
            every_other: false,
            rule: None,
            shadowed: Vec::new(),
            subset: None,
            tls: None,
            inferred: None,
            failures: Vec::new(),
            plaintext: true,
            works: !strict,
        });
    }
    callers
}

/// Callers that differ only in their namespaces, as one (the namespaces of a
/// client's own rules and those it takes from elsewhere may come to the
/// same rule, sent the same way).
fn merge_alike(callers: Vec<Caller>) -> Vec<Caller> {
    let mut merged: Vec<Caller> = Vec::new();
    for caller in callers {
        let alike = merged.iter_mut().find(|m| {
            (
                &m.rule,
                &m.shadowed,
                &m.subset,
                m.tls,
                m.inferred,
                &m.failures,
            ) == (
                &caller.rule,
                &caller.shadowed,
                &caller.subset,
                caller.tls,
                caller.inferred,
                &caller.failures,
            )
        });
        match alike {
            Some(m) => {
                m.every_other |= caller.every_other;
                m.namespaces.extend(caller.namespaces);
                m.namespaces.sort();
                m.namespaces.dedup();
            }
            None => merged.push(caller),
        }
    }
    merged
}

/// The client namespaces with workloads that run without a proxy (no
/// sidecar, gateway or ambient capture), and whether that is all of their
/// workloads; with `from`, that caller alone. A workload whose dataplane
/// cannot be known is not counted either way.
fn unproxied_clients(index: &Index<'_>, from: Option<Client<'_>>) -> Vec<(String, bool)> {
    let snapshot = index.snapshot;
    let namespaces: Vec<&str> = match from {
        Some(client) => vec![client.namespace],
        None => snapshot.namespaces.keys().map(String::as_str).collect(),
    };
    let mut found = Vec::new();
    for ns in namespaces {
        let namespace = snapshot.namespaces.get(ns);
        let planes: Vec<Dataplane> = index
            .selected_workloads(ns, &Labels::new())
            .into_iter()
            .filter(|w| match from.and_then(|c| c.labels) {
                Some(labels) => *w.labels == *labels,
                None => true,
            })
            .filter_map(|w| dataplane_in(w, namespace))
            .collect();
        let plain = planes.iter().filter(|p| **p == Dataplane::None).count();
        if plain > 0 {
            found.push((ns.to_string(), plain == planes.len()));
        }
    }
    found
}

/// The rules the clients of a namespace use for a Service: one for all of
/// them, or where a rule of theirs selects some by `workloadSelector`, each
/// distinct one their workloads get.
fn client_rules<'i, 'a>(
    index: &Index<'_>,
    used: &ServiceRules<'i, 'a>,
    client_ns: &str,
) -> Vec<Option<&'i MergedRule<'a>>> {
    if !used.selective(client_ns) {
        return vec![used.lookup(client_ns, None)];
    }
    let mut rules: Vec<Option<&'i MergedRule<'a>>> = Vec::new();
    for w in index.selected_workloads(client_ns, &Labels::new()) {
        let rule = used.lookup(client_ns, Some(&w.labels));
        let known = rules.iter().any(|r| match (r, rule) {
            (Some(a), Some(b)) => std::ptr::eq(*a, b),
            (None, None) => true,
            _ => false,
        });
        if !known {
            rules.push(rule);
        }
    }
    if rules.is_empty() {
        rules.push(used.lookup(client_ns, None));
    }
    rules
}

/// The problems of one route of the clients that use `merged` (none: auto
/// mTLS), against the server pods it reaches.
fn judge<'s>(
    svc: &Service,
    merged: Option<&MergedRule<'_>>,
    route: &Route<'_>,
    servers: &'s [ServerPod<'s>],
    inferred: &Decision<'_>,
) -> Vec<(Problem, &'s str, String, String)> {
    let reached: Vec<&ServerPod> = servers
        .iter()
        .filter(|s| route.labels.is_none_or(|l| selects(l, &s.workload.labels)))
        .collect();
    let context = Context {
        svc,
        rule: merged.map(|m| m.decider()),
        subset: route.subset,
        inferred,
    };
    route_problems(&context, route.settings, &reached)
}

/// What a route's problems are found against.
struct Context<'a, 'd> {
    svc: &'a Service,
    rule: Option<&'a ObjectRef>,
    subset: Option<&'a str>,
    inferred: &'a Decision<'d>,
}

/// The problems of one route: each with the pod whose calls fail, the
/// server's mode as the finding says it, and why auto mTLS sends what it does.
fn route_problems<'s>(
    context: &Context<'_, '_>,
    settings: Settings,
    reached: &[&'s ServerPod<'s>],
) -> Vec<(Problem, &'s str, String, String)> {
    let problem = |code, object: String, tls| Problem {
        code,
        object,
        rule: context.rule.map(ToString::to_string),
        service: context.svc.id.to_string(),
        subset: context.subset.map(str::to_string),
        tls,
    };
    let mut out = Vec::new();
    let strict = |s: &ServerPod| s.enforced == Some(Enforced::Strict);
    match settings.tls {
        Some(tls) => {
            let Some(rule) = context.rule else {
                return out;
            };
            for server in reached {
                let code = match tls {
                    TlsMode::Disable | TlsMode::Simple if strict(server) => "MTLS001",
                    TlsMode::IstioMutual if server.dataplane == Dataplane::None => "MTLS002",
                    TlsMode::IstioMutual | TlsMode::Mutual
                        if server.dataplane == Dataplane::Sidecar
                            && server.enforced == Some(Enforced::Disable) =>
                    {
                        "MTLS015"
                    }
                    _ => continue,
                };
                out.push((
                    problem(code, format!("destinationrule {rule}"), Some(tls)),
                    server.workload.id.name.as_str(),
                    server_text(&server.decision),
                    String::new(),
                ));
            }
        }
        None => {
            // Auto mTLS. Passthrough: plaintext to all as soon as one pod
            // has no sidecar (Istio's `BestEffortInferServiceMTLSMode`).
            let passthrough = context.svc.headless || settings.passthrough == Some(true);
            let bare = |s: &&&ServerPod| s.dataplane != Dataplane::Sidecar;
            if passthrough && reached.iter().any(|s| bare(&s)) {
                let bare: Vec<String> = reached
                    .iter()
                    .filter(bare)
                    .map(|s| s.workload.id.name.clone())
                    .collect();
                let how = if context.svc.headless {
                    format!("service {} is headless", context.svc.id)
                } else {
                    format!(
                        "destinationrule {} sets loadBalancer PASSTHROUGH",
                        context.rule.map(ToString::to_string).unwrap_or_default()
                    )
                };
                let why = format!(
                    "{how} and {} ({}) {} no sidecar",
                    plural(bare.len(), "endpoint", "endpoints"),
                    list(&bare),
                    if bare.len() == 1 { "has" } else { "have" }
                );
                for server in reached.iter().filter(|s| strict(s)) {
                    out.push((
                        problem("MTLS014", format!("service {}", context.svc.id), None),
                        server.workload.id.name.as_str(),
                        server_text(&server.decision),
                        why.clone(),
                    ));
                }
                return out;
            }
            for server in reached {
                let Some(policy) = server.decision.policy else {
                    continue;
                };
                let code = match context.inferred.mode {
                    Mode::Disable if strict(server) => "MTLS012",
                    Mode::Strict | Mode::Permissive
                        if server.dataplane == Dataplane::Sidecar
                            && server.enforced == Some(Enforced::Disable) =>
                    {
                        "MTLS013"
                    }
                    _ => continue,
                };
                let object = match policy {
                    PolicyRef::Peer(p) => pa_object(p),
                    PolicyRef::Legacy(p) => p.display(),
                };
                out.push((
                    problem(code, object, None),
                    server.workload.id.name.as_str(),
                    server_text(&server.decision),
                    inferred_text(context),
                ));
            }
        }
    }
    out
}

/// `STRICT from port policy NS/NAME`.
fn server_text(decision: &Decision<'_>) -> String {
    match decision.policy {
        Some(p) => format!(
            "{} from {} policy {}",
            decision.mode,
            decision.level.as_str(),
            p.id()
        ),
        None => decision.mode.to_string(),
    }
}

/// `namespace shop is DISABLE (namespace policy shop/default)`.
fn inferred_text(context: &Context<'_, '_>) -> String {
    let ns = &context.svc.id.namespace;
    match context.inferred.policy {
        Some(p) => format!(
            "namespace {ns} is {} ({} policy {})",
            context.inferred.mode,
            context.inferred.level.as_str(),
            p.id()
        ),
        None => format!("namespace {ns} is {} (no policy)", context.inferred.mode),
    }
}

/// The pods that serve a Service port, with what each declares and enforces
/// there.
fn server_pods<'a>(
    index: &Index<'a>,
    svc: &Service,
    port: &ServicePort,
    known: &mut Vec<(&'a Workload, Composition<'a>, Option<Dataplane>)>,
) -> Vec<ServerPod<'a>> {
    let Endpoints::Workloads(endpoints) = index.endpoints(svc, port) else {
        return Vec::new();
    };
    let namespace = index.snapshot.namespaces.get(&svc.id.namespace);
    endpoints
        .into_iter()
        .filter_map(|(w, tp)| {
            // A workload's composition and dataplane serve all its ports; a
            // pod whose dataplane cannot be known is not judged.
            let at = match known.iter().position(|(k, _, _)| std::ptr::eq(*k, w)) {
                Some(i) => i,
                None => {
                    let composition = index.compose_workload(&svc.id.namespace, w);
                    known.push((w, composition, dataplane_in(w, namespace)));
                    known.len() - 1
                }
            };
            let (_, composition, plane) = &known[at];
            let plane = (*plane)?;
            let decision = match tp {
                Some(p) => composition.port_decision(p),
                None => composition.workload_decision(),
            };
            let at = tp.map(|p| (p, port.protocol.as_str()));
            let enforced = dataplane::enforcement(plane, decision.mode, w, at).map(|e| e.enforced);
            Some(ServerPod {
                workload: w,
                decision,
                dataplane: plane,
                enforced,
            })
        })
        .collect()
}

/// The routes of a client's traffic to a port: the rule's settings (none
/// without a rule), and each subset whose settings differ.
fn routes<'r>(merged: Option<&'r MergedRule<'r>>, port: u16) -> Vec<Route<'r>> {
    let base = merged
        .and_then(|m| m.traffic)
        .map(|t| t.for_port(port))
        .unwrap_or_default();
    let mut routes = vec![Route {
        subset: None,
        settings: base,
        labels: None,
    }];
    for subset in merged.map_or(&[][..], |m| m.subsets.as_slice()) {
        let settings = subset.traffic.over(base, port);
        if settings != base {
            routes.push(Route {
                subset: Some(&subset.name),
                settings,
                labels: Some(&subset.labels),
            });
        }
    }
    routes
}

/// The finding for a client-side problem; `namespaces` is how many the
/// snapshot has, so that "every namespace" can be said.
fn finding(problem: Problem, affected: Affected, namespaces: usize) -> Finding {
    let Problem {
        code,
        object,
        rule,
        service,
        subset,
        tls,
    } = problem;
    let clients: Vec<String> = affected.clients.iter().cloned().collect();
    let pods: Vec<String> = affected.pods.into_iter().collect();
    let server = affected.server;
    let ports: Vec<String> = affected.ports.iter().map(u16::to_string).collect();
    let rows: BTreeSet<String> = affected
        .ports
        .iter()
        .map(|p| format!("{service}:{p}"))
        .collect();
    // One port: `ns/svc:port`; several: `ns/svc` and the list.
    let (target, fix_target) = match ports.as_slice() {
        [one] => (format!("{service}:{one}"), format!("{service}:{one}")),
        _ => (
            format!("{service} (ports {})", list(&ports)),
            service.clone(),
        ),
    };
    let from = if clients.len() == namespaces && namespaces > 1 {
        format!("calls from sidecar clients in every namespace to {target}")
    } else {
        format!(
            "calls from {} {} to {target}",
            if clients.len() == 1 {
                "namespace"
            } else {
                "namespaces"
            },
            list(&clients)
        )
    };
    let workloads = format!(
        "{} ({})",
        plural(pods.len(), "workload", "workloads"),
        list(&pods)
    );
    let (take, those, sidecars) = if pods.len() == 1 {
        ("takes", "it takes", "sidecar")
    } else {
        ("take", "they take", "sidecars")
    };
    let (svc_ns, svc_name) = service.split_once('/').unwrap_or_default();
    let host = format!("{svc_name}.{svc_ns}.svc.cluster.local");
    let rule_text = rule.clone().unwrap_or_default();
    let via = match &subset {
        Some(s) => format!("destinationrule {rule_text} (subset {s})"),
        None => format!("destinationrule {rule_text}"),
    };
    let why = affected.why;
    let (message, hint) = match code {
        "MTLS001" => {
            let sends = if tls == Some(TlsMode::Disable) {
                "plaintext (tls mode DISABLE)"
            } else {
                "one-way TLS (tls mode SIMPLE)"
            };
            (
                format!(
                    "{from} will fail (503, \"upstream connect error\"): {via} sends {sends}, but the port accepts \
                     only mTLS ({server}) on {}",
                    plural(pods.len(), "workload", "workloads")
                ),
                format!(
                    "set the tls mode to ISTIO_MUTUAL in destinationrule {rule_text} (or remove its tls settings and \
                     let auto mTLS choose), or `mtls allow {fix_target}` if plaintext must be accepted"
                ),
            )
        }
        "MTLS002" => (
            format!(
                "{from} will fail: {via} sends Istio mTLS (ISTIO_MUTUAL), but {workloads} {} no sidecar to \
                 terminate it",
                if pods.len() == 1 { "has" } else { "have" }
            ),
            format!(
                "inject the sidecar into the workloads behind {fix_target}, or remove the tls settings of \
                 destinationrule {rule_text} so that auto mTLS sends plaintext to workloads without one"
            ),
        ),
        "MTLS015" => (
            format!(
                "{from} will fail: {via} sends mTLS ({}), but the {sidecars} of {workloads} {take} only \
                 plaintext ({server})",
                tls.map_or("", TlsMode::as_str)
            ),
            format!(
                "set the tls mode to DISABLE for this port in destinationrule {rule_text} (a portLevelSettings \
                 entry), or `mtls unset {fix_target}` so that the port takes mTLS again"
            ),
        ),
        "MTLS012" => (
            format!(
                "{from} will fail: no DestinationRule sets their TLS, so auto mTLS infers the server's mode from \
                 the namespace alone: {why}, so they send plaintext; but {workloads} {take} only mTLS ({server})"
            ),
            format!(
                "state the mode where clients look for it: make {svc_ns}'s namespace mode STRICT or PERMISSIVE \
                 (`mtls require {svc_ns}`), or add a DestinationRule for {host} with tls mode ISTIO_MUTUAL; \
                 or `mtls allow {fix_target}` to accept plaintext"
            ),
        ),
        "MTLS013" => (
            format!(
                "{from} will fail: no DestinationRule sets their TLS, so auto mTLS infers the server's mode from \
                 the namespace alone: {why}, so they send mTLS to the {sidecars} of {workloads}; but {those} \
                 only plaintext ({server})"
            ),
            format!(
                "`mtls unset {fix_target}` to take the namespace's mode, or add a DestinationRule for {host} with \
                 tls mode DISABLE for the port so that clients send plaintext"
            ),
        ),
        _ => (
            format!(
                "{from} will fail: {why}, so auto mTLS sends plaintext to all of them; but {workloads} {take} \
                 only mTLS ({server})"
            ),
            format!(
                "inject the sidecar into every endpoint of {service}, or `mtls allow {fix_target}` to accept \
                 plaintext on the STRICT ones"
            ),
        ),
    };
    let namespace = object
        .split_once(' ')
        .and_then(|(_, id)| id.split('/').next())
        .unwrap_or_default()
        .to_string();
    Finding {
        severity: Severity::Error,
        code,
        object,
        message,
        hint,
        rows,
        namespace,
    }
}
