//! `check`: the misconfigurations that break or weaken mTLS, found in the
//! configuration before users find them in production. Pure over a snapshot,
//! like resolution, whose decisions it reuses.
//!
//! Every finding names the object to fix, states the consequence in the user's
//! words and gives a hint with the fix. None fires on a mesh free of the problems
//! the codes describe.

pub mod authz;
pub mod client;
pub mod destination;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::mode::Mode;
use crate::policy::dataplane::{Dataplane, dataplane_in};
use crate::policy::model::{Labels, TargetPort, selects};
use crate::policy::resolve::{Backing, Decision, Index, Level, Row, Scope as RowScope};
use crate::policy::{PeerAuthentication, Service, Snapshot, Workload};
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding; the JSON keys are the contract's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: &'static str,
    /// `kind NS/NAME`, e.g. `destinationrule shop/ledger`.
    pub object: String,
    pub message: String,
    pub hint: String,
    /// The `get` rows the finding concerns (canonical targets), and the
    /// namespace of the object, for filtering by target.
    #[serde(skip)]
    pub rows: BTreeSet<String>,
    #[serde(skip)]
    pub namespace: String,
}

impl Finding {
    /// The object as `kind NS/NAME`, without what the message adds (a
    /// DestinationRule's subset).
    pub fn object_key(&self) -> &str {
        self.object
            .split_once(" (")
            .map_or(self.object.as_str(), |(key, _)| key)
    }
}

/// A finding as reported: where its object is written (manifests), and what
/// accepted it on purpose, if anything did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reported<'f> {
    #[serde(flatten)]
    pub finding: &'f Finding,
    /// The manifest holding the object, and the line of its document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `--ignore`, or the object's annotation `mtls.istio.io/ignore`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_by: Option<&'static str>,
    /// The kubeconfig context of the cluster the finding is in, when
    /// several are checked (`--context A --context B`); absent otherwise,
    /// and for the findings that compare the clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// The findings to report and those accepted on purpose: by a code of
/// `ignore` (`--ignore`), or by their object's annotation.
pub fn sort_out<'f>(
    snapshot: &Snapshot,
    findings: &'f [Finding],
    ignore: &[String],
) -> (Vec<Reported<'f>>, Vec<Reported<'f>>) {
    let (mut reported, mut ignored) = (Vec::new(), Vec::new());
    for finding in findings {
        let key = finding.object_key();
        let origin = snapshot.origins.get(key);
        let by_annotation = snapshot
            .ignores
            .get(key)
            .is_some_and(|codes| codes.iter().any(|c| c == finding.code));
        let ignored_by = if ignore.iter().any(|c| c == finding.code) {
            Some("--ignore")
        } else if by_annotation {
            Some("annotation mtls.istio.io/ignore")
        } else {
            None
        };
        let r = Reported {
            finding,
            file: origin.map(|(file, _)| file.clone()),
            line: origin.map(|(_, line)| *line),
            ignored_by,
            cluster: None,
        };
        match ignored_by {
            Some(_) => ignored.push(r),
            None => reported.push(r),
        }
    }
    (reported, ignored)
}

/// MTLS019: the clusters of one mesh disagree on what a Service port (or
/// the mesh level) enforces. Every cluster's endpoints serve the Service, so
/// a caller meets the mode of whichever endpoint its call lands on: plaintext
/// works on some calls and fails on others (docs/semantics.md §4.7). `rows`
/// are each cluster's rows (its context, its rows); a row present in a single
/// cluster is nobody's disagreement.
pub fn across_clusters(rows: &[(String, Vec<Row>)]) -> Vec<Finding> {
    let mut by_target: BTreeMap<&str, Vec<(&str, &Row)>> = BTreeMap::new();
    for (context, rows) in rows {
        for row in rows {
            // Rows only gateways serve are not judged: PeerAuthentication
            // does not apply to them.
            let gateways = row.judged().is_none() && row.dataplane.is_some();
            if matches!(row.scope, RowScope::Mesh | RowScope::Port) && !gateways {
                by_target
                    .entry(row.target.as_str())
                    .or_default()
                    .push((context.as_str(), row));
            }
        }
    }
    let mut findings = Vec::new();
    for (target, seen) in by_target {
        if seen.len() < 2 {
            continue;
        }
        let text = |row: &Row| match row.scope {
            RowScope::Mesh => row.mode.as_str().to_string(),
            // What traffic meets; the declared mode where no pod is known.
            _ => row
                .judged()
                .map_or_else(|| row.mode.as_str().to_string(), |e| e.as_str().to_string()),
        };
        let modes: BTreeSet<String> = seen.iter().map(|(_, r)| text(r)).collect();
        if modes.len() < 2 {
            continue;
        }
        let each: Vec<String> = seen
            .iter()
            .map(|(context, row)| format!("{} in {context}", text(row)))
            .collect();
        let (object, namespace, hint) = match (&seen[0].1.namespace, &seen[0].1.service) {
            (Some(ns), Some(svc)) => (
                format!("service {ns}/{svc}"),
                ns.clone(),
                format!(
                    "give the port one mode in every cluster, e.g. `mtls require {target}` with each \
                     --context; `mtls get {target} --context A --context B -o wide` shows what decides in each"
                ),
            ),
            _ => (
                "mesh".to_string(),
                String::new(),
                "give the mesh one mode in every cluster: the mesh-wide PeerAuthentication of each \
                 cluster's root namespace (`mtls get mesh --context A --context B -o wide`)"
                    .to_string(),
            ),
        };
        findings.push(Finding {
            severity: Severity::Warning,
            code: "MTLS019",
            object,
            message: format!(
                "{target} enforces {}: callers meet the mode of the cluster their call lands in, so \
                 plaintext calls work in some clusters and fail in others",
                each.join(", ")
            ),
            hint,
            rows: BTreeSet::from([target.to_string()]),
            namespace,
        });
    }
    findings
}

pub(crate) fn pa_object(p: &PeerAuthentication) -> String {
    format!("peerauthentication {}", p.id)
}

/// Up to five names, then how many more.
pub(crate) fn list(names: &[String]) -> String {
    first_names(names, 5)
}

/// Up to `at_most` names, then how many more: `a, b and 3 more`.
pub fn first_names(names: &[String], at_most: usize) -> String {
    let mut text = names
        .iter()
        .take(at_most)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > at_most {
        text.push_str(&format!(" and {} more", names.len() - at_most));
    }
    text
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Every finding of the snapshot, errors first.
pub fn check(snapshot: &Snapshot) -> Vec<Finding> {
    let index = Index::new(snapshot);
    let mut findings = Vec::new();
    findings.extend(duplicate_level_policies(&index));
    findings.extend(overlapping_workload_policies(&index));
    findings.extend(policies_without_pods(&index));
    findings.extend(port_levels_without_selector(snapshot));
    findings.extend(root_namespace_selectors(snapshot));
    findings.extend(unknown_port_keys(&index));
    findings.extend(dataplane_findings(&index));
    findings.extend(legacy_policies(snapshot));
    findings.extend(client::findings(&index));
    findings.extend(authz::findings(&index));
    findings.sort_by(|a, b| (a.severity, a.code, &a.object).cmp(&(b.severity, b.code, &b.object)));
    findings
}

/// The client-side failures (MTLS001, 002, 012, 013, 014, 015) and the
/// authorization policies undone (MTLS016, 017) that `after` has and
/// `before` had not: the calls a change from one to the other would break,
/// or let through. One that reaches more ports or clients than before counts.
pub fn broken_by(before: &Snapshot, after: &Snapshot) -> Vec<Finding> {
    let gated = |snapshot: &Snapshot| {
        let index = Index::new(snapshot);
        let mut findings = client::findings(&index);
        findings.extend(
            authz::findings(&index)
                .into_iter()
                .filter(|f| f.severity == Severity::Error),
        );
        findings
    };
    let mut known: BTreeMap<(&'static str, String), BTreeSet<String>> = BTreeMap::new();
    for f in gated(before) {
        known.entry((f.code, f.object)).or_default().extend(f.rows);
    }
    gated(after)
        .into_iter()
        .filter(|f| match known.get(&(f.code, f.object.clone())) {
            Some(rows) => !f.rows.is_subset(rows),
            None => true,
        })
        .collect()
}

/// Whether a finding concerns a target.
pub fn concerns(finding: &Finding, target: &Target, root: &str) -> bool {
    match target {
        Target::Mesh => finding.namespace == root,
        Target::Namespace(ns) => {
            &finding.namespace == ns
                || finding
                    .rows
                    .iter()
                    .any(|r| r.split('/').next() == Some(ns.as_str()))
        }
        Target::Service { namespace, service } => {
            let prefix = format!("{namespace}/{service}");
            finding.rows.iter().any(|r| {
                r == &prefix
                    || r.strip_prefix(&prefix)
                        .is_some_and(|rest| rest.starts_with(':'))
            })
        }
        // Decided by the rows they have: see `Index::rows_for`.
        Target::Port { .. } | Target::Pod { .. } => false,
    }
}

/// MTLS003: more than one mesh-wide or namespace-wide policy.
fn duplicate_level_policies(index: &Index<'_>) -> Vec<Finding> {
    let root = index.root_namespace();
    let mut by_namespace: BTreeMap<&str, Vec<&PeerAuthentication>> = BTreeMap::new();
    for p in index
        .snapshot
        .policies
        .iter()
        .filter(|p| !p.is_workload_policy())
    {
        by_namespace.entry(&p.id.namespace).or_default().push(p);
    }
    let mut findings = Vec::new();
    for (ns, mut policies) in by_namespace {
        policies.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        let Some((winner, losers)) = policies.split_first() else {
            continue;
        };
        let level = if ns == root {
            "mesh-wide"
        } else {
            "namespace-wide"
        };
        for loser in losers {
            let sets = match loser.mode {
                Some(m) => format!("its {m}"),
                None => "its settings".to_string(),
            };
            findings.push(Finding {
                severity: Severity::Warning,
                code: "MTLS003",
                object: pa_object(loser),
                message: format!(
                    "peerauthentication {} is ignored: peerauthentication {} is older, and Istio uses only the oldest \
                     {level} policy of a namespace, so {sets} never applies",
                    loser.id, winner.id
                ),
                hint: format!(
                    "keep one {level} policy: move what {} should set into {} and delete it \
                     (`kubectl delete peerauthentication -n {ns} {}`)",
                    loser.id, winner.id, loser.id.name
                ),
                rows: BTreeSet::from([if ns == root { "mesh".to_string() } else { Target::Namespace(ns.to_string()).to_string() }]),
                namespace: ns.to_string(),
            });
        }
    }
    findings
}

/// Pods (or templates) of a namespace with the Services that select them.
fn workloads_in<'a>(index: &Index<'a>, ns: &str) -> Vec<&'a Workload> {
    index.selected_workloads(ns, &Labels::new())
}

/// MTLS004: several workload policies select the same pods.
fn overlapping_workload_policies(index: &Index<'_>) -> Vec<Finding> {
    let mut losers: BTreeMap<
        (&str, &str),
        (&PeerAuthentication, &PeerAuthentication, Vec<String>),
    > = BTreeMap::new();
    for ns in index.snapshot.namespaces.keys() {
        for w in workloads_in(index, ns) {
            let composition = index.compose_workload(ns, w);
            if let Some((winner, rest)) = composition.workload.split_first() {
                for loser in rest {
                    losers
                        .entry((&loser.id.namespace, &loser.id.name))
                        .or_insert((loser, winner, Vec::new()))
                        .2
                        .push(w.id.name.clone());
                }
            }
        }
    }
    losers
        .into_values()
        .map(|(loser, winner, pods)| Finding {
            severity: Severity::Warning,
            code: "MTLS004",
            object: pa_object(loser),
            message: format!(
                "peerauthentication {} is ignored for {} ({}) because the older peerauthentication {} selects {} \
                 too: only the oldest workload policy applies, so its mode and port settings are dropped",
                loser.id,
                plural(pods.len(), "workload", "workloads"),
                list(&pods),
                winner.id,
                if pods.len() == 1 { "it" } else { "them" }
            ),
            hint: format!(
                "give the two policies selectors that do not overlap, or merge {} into {}",
                loser.id, winner.id
            ),
            rows: service_rows_selecting(index, &loser.id.namespace, &loser.selector),
            namespace: loser.id.namespace.clone(),
        })
        .collect()
}

/// The service and port rows of the Services whose pods `selector` selects.
fn service_rows_selecting(index: &Index<'_>, ns: &str, selector: &Labels) -> BTreeSet<String> {
    let selected: Vec<&Workload> = index.policy_workloads(ns, selector);
    let mut rows = BTreeSet::new();
    for svc in index.services_in(ns) {
        let backs = match index.backing(svc) {
            Backing::Workloads(ws) => ws
                .iter()
                .any(|w| selected.iter().any(|s| s.id == w.id && s.kind == w.kind)),
            Backing::Selector(labels) => !labels.is_empty() && selects(selector, &labels),
        };
        if backs {
            rows.insert(svc.id.to_string());
            rows.extend(svc.ports.iter().map(|p| format!("{}:{}", svc.id, p.port)));
        }
    }
    rows
}

/// The service and port rows of the Services a workload backs.
fn rows_backed_by(index: &Index<'_>, workload: &Workload) -> BTreeSet<String> {
    let mut rows = BTreeSet::new();
    for svc in index.services_in(&workload.id.namespace) {
        if let Backing::Workloads(ws) = index.backing(svc)
            && ws
                .iter()
                .any(|w| w.id == workload.id && w.kind == workload.kind)
        {
            rows.insert(svc.id.to_string());
            rows.extend(svc.ports.iter().map(|p| format!("{}:{}", svc.id, p.port)));
        }
    }
    rows
}

/// MTLS005: a workload policy selects no pods.
fn policies_without_pods(index: &Index<'_>) -> Vec<Finding> {
    let root = index.root_namespace();
    index
        .snapshot
        .policies
        .iter()
        .filter(|p| p.is_workload_policy() && p.id.namespace != root)
        // Only where the namespace's workloads are known: a tree of policies
        // alone says nothing about pods.
        .filter(|p| !workloads_in(index, &p.id.namespace).is_empty())
        .filter(|p| index.policy_workloads(&p.id.namespace, &p.selector).is_empty())
        .map(|p| {
            let selector: Vec<String> = p.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Finding {
                severity: Severity::Warning,
                code: "MTLS005",
                object: pa_object(p),
                message: format!(
                    "peerauthentication {} selects no pods: no workload in {} has the labels {}, so it does nothing",
                    p.id,
                    p.id.namespace,
                    selector.join(",")
                ),
                hint: format!(
                    "compare spec.selector.matchLabels with the pods' labels (`kubectl get pods -n {} --show-labels`), \
                     or delete the policy",
                    p.id.namespace
                ),
                rows: BTreeSet::new(),
                namespace: p.id.namespace.clone(),
            }
        })
        .collect()
}

/// MTLS006: `portLevelMtls` on a policy without selector.
fn port_levels_without_selector(snapshot: &Snapshot) -> Vec<Finding> {
    snapshot
        .policies
        .iter()
        .filter(|p| !p.is_workload_policy() && !p.port_modes.is_empty())
        .map(|p| {
            let ports: Vec<String> = p.port_modes.keys().map(u32::to_string).collect();
            Finding {
                severity: Severity::Error,
                code: "MTLS006",
                object: pa_object(p),
                message: format!(
                    "the portLevelMtls of peerauthentication {} (ports {}) is ignored: Istio applies port settings only \
                     from policies with a selector, and its validation rejects this policy",
                    p.id,
                    ports.join(", ")
                ),
                hint: "move the port settings to a policy that selects the workload, e.g. \
                       `mtls disable NAMESPACE/SERVICE:PORT`, and remove them from this one"
                    .to_string(),
                rows: BTreeSet::from([Target::Namespace(p.id.namespace.clone()).to_string()]),
                namespace: p.id.namespace.clone(),
            }
        })
        .collect()
}

/// MTLS007: a selector policy in the root namespace.
fn root_namespace_selectors(snapshot: &Snapshot) -> Vec<Finding> {
    let root = &snapshot.root_namespace;
    snapshot
        .policies
        .iter()
        .filter(|p| p.is_workload_policy() && &p.id.namespace == root)
        .map(|p| Finding {
            severity: Severity::Warning,
            code: "MTLS007",
            object: pa_object(p),
            message: format!(
                "peerauthentication {} is ignored: Istio ignores policies with a selector in the root namespace {root}",
                p.id
            ),
            hint: "move it to the namespace of the workloads it should select, or remove spec.selector to make it \
                   the mesh-wide policy"
                .to_string(),
            rows: BTreeSet::new(),
            namespace: root.clone(),
        })
        .collect()
}

/// MTLS008: a `portLevelMtls` key that is no target port of the selected pods.
fn unknown_port_keys(index: &Index<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let root = index.root_namespace();
    for p in index
        .snapshot
        .policies
        .iter()
        .filter(|p| p.is_workload_policy() && p.id.namespace != root)
    {
        let ns = &p.id.namespace;
        let selected = index.policy_workloads(ns, &p.selector);
        if selected.is_empty() || p.port_modes.is_empty() {
            continue;
        }
        // Workload ports: declared container ports, and numeric target ports of
        // the Services that select these workloads.
        let mut known: BTreeSet<u32> = selected
            .iter()
            .flat_map(|w| w.ports.iter().map(|c| c.port))
            .collect();
        let services: Vec<&Service> = index
            .services_in(ns)
            .iter()
            .copied()
            .filter(|s| {
                s.selector
                    .as_ref()
                    .is_some_and(|sel| selected.iter().any(|w| selects(sel, &w.labels)))
            })
            .collect();
        for svc in &services {
            for port in &svc.ports {
                if let TargetPort::Number(n) = port.target_port {
                    known.insert(n);
                }
                for w in &selected {
                    if let Some(n) = w.find_port(&port.target_port, &port.protocol) {
                        known.insert(n);
                    }
                }
            }
        }
        for key in p.port_modes.keys().filter(|k| !known.contains(k)) {
            let verb = match p.port_modes.get(key) {
                Some(Some(Mode::Strict)) => "require",
                Some(Some(Mode::Permissive)) => "allow",
                Some(Some(Mode::Disable)) => "disable",
                _ => "unset",
            };
            let meant = services.iter().find_map(|svc| {
                let port = svc.ports.iter().find(|sp| u32::from(sp.port) == *key)?;
                let target = selected
                    .iter()
                    .find_map(|w| w.find_port(&port.target_port, &port.protocol))?;
                Some((svc, port, target))
            });
            let (hint, rows) = match meant {
                Some((svc, port, target)) => (
                    format!(
                        "{key} is the Service port of {}, whose pods listen on {target}: portLevelMtls is keyed by the \
                         workload port, so use {target} (`mtls {verb} {}:{}` maps it for you)",
                        svc.id, svc.id, port.port
                    ),
                    BTreeSet::from([format!("{}:{}", svc.id, port.port)]),
                ),
                None => (
                    format!(
                        "the selected pods' ports are {}: key portLevelMtls by one of them",
                        {
                            let ports: Vec<String> = known.iter().map(u32::to_string).collect();
                            ports.join(", ")
                        }
                    ),
                    BTreeSet::new(),
                ),
            };
            findings.push(Finding {
                severity: Severity::Warning,
                code: "MTLS008",
                object: pa_object(p),
                message: format!(
                    "the portLevelMtls entry {key} of peerauthentication {} does nothing: no pod it selects has a \
                     workload port {key}",
                    p.id
                ),
                hint,
                rows,
                namespace: ns.clone(),
            });
        }
    }
    findings
}

/// MTLS009 (DISABLE in ambient mode) and MTLS010 (STRICT or DISABLE where no
/// sidecar enforces it).
fn dataplane_findings(index: &Index<'_>) -> Vec<Finding> {
    type Key = (&'static str, String);
    let mut groups: BTreeMap<Key, (Mode, Vec<String>, String, BTreeSet<String>)> = BTreeMap::new();
    let root = index.root_namespace();
    for (ns, namespace) in &index.snapshot.namespaces {
        if ns == root {
            // The control plane and gateways live here; gateways run their own proxy.
            continue;
        }
        for w in workloads_in(index, ns) {
            // Unknown (a template whose namespace was not read): no finding.
            let Some(plane) = dataplane_in(w, Some(namespace)) else {
                continue;
            };
            if plane == Dataplane::Sidecar {
                continue;
            }
            let composition = index.compose_workload(ns, w);
            let mut decisions: Vec<Decision<'_>> = vec![composition.workload_decision()];
            if let Some(winner) = composition.workload.first() {
                decisions.extend(
                    winner
                        .port_modes
                        .keys()
                        .map(|p| composition.port_decision(*p)),
                );
            }
            for d in decisions {
                let Some(policy) = d.policy else { continue };
                let policy_id = policy.id();
                let code = match (plane, d.mode) {
                    (Dataplane::Ambient, Mode::Disable) => "MTLS009",
                    // Explicit settings for this namespace or workload only: a
                    // mesh-wide mode over namespaces outside the mesh is expected.
                    (Dataplane::None, Mode::Strict | Mode::Disable) if d.level != Level::Mesh => {
                        "MTLS010"
                    }
                    _ => continue,
                };
                let entry = groups.entry((code, policy_id.to_string())).or_insert((
                    d.mode,
                    Vec::new(),
                    policy_id.namespace.clone(),
                    BTreeSet::new(),
                ));
                if !entry.1.contains(&w.id.name) {
                    entry.1.push(w.id.name.clone());
                    entry.3.extend(rows_backed_by(index, w));
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|((code, policy), (mode, pods, namespace, rows))| {
            let pods_text = format!("{} ({})", plural(pods.len(), "workload", "workloads"), list(&pods));
            let (message, hint) = if code == "MTLS009" {
                (
                    format!(
                        "{pods_text} in {namespace} {} in ambient mode, where ztunnel treats DISABLE as PERMISSIVE: \
                         peerauthentication {policy} sets DISABLE, but {} still accept{} mTLS and plaintext",
                        if pods.len() == 1 { "runs" } else { "run" },
                        if pods.len() == 1 { "it" } else { "they" },
                        if pods.len() == 1 { "s" } else { "" }
                    ),
                    "DISABLE has no effect in ambient mode: set PERMISSIVE to say what happens, or remove the setting"
                        .to_string(),
                )
            } else {
                let (have, them) = if pods.len() == 1 { ("has", "it") } else { ("have", "them") };
                (
                    format!(
                        "{pods_text} in {namespace} {have} no sidecar, so nothing enforces the {mode} that \
                         peerauthentication {policy} sets for {them}: {them} accept{} whatever reaches {them}",
                        if pods.len() == 1 { "s" } else { "" }
                    ),
                    format!(
                        "have the injector add the sidecar (label namespace {namespace} istio-injection=enabled, or \
                         the pods sidecar.istio.io/inject=true) and restart {them}, or enroll {them} in ambient mode; \
                         otherwise drop the setting"
                    ),
                )
            };
            Finding {
                severity: Severity::Warning,
                code,
                object: format!("peerauthentication {policy}"),
                message,
                hint,
                rows,
                namespace,
            }
        })
        .collect()
}

/// MTLS011: legacy authentication.istio.io policies beside PeerAuthentications.
fn legacy_policies(snapshot: &Snapshot) -> Vec<Finding> {
    if snapshot.policies.is_empty() {
        return Vec::new();
    }
    snapshot
        .legacy_policies
        .iter()
        .map(|p| {
            let object = p.display();
            Finding {
                severity: Severity::Warning,
                code: "MTLS011",
                object: object.clone(),
                message: format!(
                    "{object} is a legacy authentication.istio.io policy beside PeerAuthentications: Istio 1.6 and \
                     later ignore it, and Istio 1.5 ignores it for every workload a PeerAuthentication applies to"
                ),
                hint: "express its settings as PeerAuthentications, check them with `mtls get -A`, then delete it"
                    .to_string(),
                rows: BTreeSet::new(),
                namespace: p.id.namespace.clone(),
            }
        })
        .collect()
}
