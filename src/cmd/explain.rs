//! `mtls explain`: the whole decision for each Service port the targets name.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;

use crate::cli::{ExplainArgs, Output};
use crate::cmd::{Session, parse_targets, print_stdout, scope_of};
use crate::error::UsageError;
use mtls::check::client::Client;
use mtls::check::destination::DestinationIndex;
use mtls::explain::{PodExplanation, PortExplanation, explain_pod, explain_port};
use mtls::policy::Service;
use mtls::policy::model::ServicePort;
use mtls::policy::resolve::Index;
use mtls::render;
use mtls::source::cluster::{Clients, Scope};
use mtls::target::Target;

#[derive(Serialize)]
struct ExplanationList<'a> {
    ports: &'a [PortExplanation],
    pods: &'a [PodExplanation],
}

pub fn run(session: &Session<'_>, args: &ExplainArgs) -> anyhow::Result<()> {
    let targets = parse_targets(&args.targets, session.args.namespace.as_deref())?;
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(UsageError(
            "-A explains everything: give either targets or -A, not both".into(),
        )
        .into());
    }
    let from = args.from.as_deref().map(parse_from).transpose()?;
    // `mesh` explains every Service port: everything is read.
    let all = session.args.all_namespaces || targets.contains(&Target::Mesh);
    let scope = match (scope_of(&targets, all), &from) {
        // The caller's workloads are in the namespace read.
        (scope, Some((namespace, _))) if scope.namespace() == Some(namespace.as_str()) => {
            Scope::Namespace(namespace.clone())
        }
        (scope, _) => scope,
    };
    let snapshot = match &from {
        // Callers may be in any namespace: their DestinationRules are read too.
        None => session.snapshot_with_clients(&scope)?,
        // One caller: its workloads, and the rules it can use.
        Some((namespace, workload)) => session.snapshot_with_caller(
            &scope,
            Clients::From {
                namespace: namespace.clone(),
                workload: workload.clone(),
            },
        )?,
    };
    let index = Index::new(&snapshot);
    // Each Service port, and whether it was named only as part of a wider
    // target (the tree then gives it a line per pod group).
    let mut ports: Vec<(&Service, &ServicePort, bool)> = Vec::new();
    let mut pods = Vec::new();
    if session.args.all_namespaces {
        for ns in snapshot.namespaces.keys() {
            ports.extend(service_ports(&index, ns));
        }
    }
    for target in &targets {
        match target {
            Target::Mesh => {
                for ns in snapshot.namespaces.keys() {
                    ports.extend(service_ports(&index, ns));
                }
            }
            Target::Namespace(ns) => {
                index.require_namespace(ns)?;
                ports.extend(service_ports(&index, ns));
            }
            Target::Service { namespace, service } => {
                let svc = index.require_service(namespace, service)?;
                ports.extend(svc.ports.iter().map(|p| (svc, p, true)));
            }
            Target::Port {
                namespace,
                service,
                port,
            } => {
                let (svc, port) = index.require_port(namespace, service, port)?;
                ports.push((svc, port, false));
            }
            Target::Pod {
                namespace,
                pod,
                port,
            } => {
                let pod = index.require_pod(namespace, pod)?;
                let port = port
                    .as_ref()
                    .map(|p| index.require_pod_port(pod, p))
                    .transpose()?;
                pods.push(explain_pod(&index, pod, port.as_ref()));
            }
        }
    }
    // Each port once, where it first comes; in full if named on its own.
    let mut unique: Vec<(&Service, &ServicePort, bool)> = Vec::new();
    let mut at: HashMap<*const ServicePort, usize> = HashMap::new();
    for (svc, port, brief) in ports {
        match at.entry(std::ptr::from_ref(port)) {
            Entry::Occupied(known) => unique[*known.get()].2 &= brief,
            Entry::Vacant(slot) => {
                slot.insert(unique.len());
                unique.push((svc, port, brief));
            }
        }
    }
    pods.dedup_by(|a, b| a.target == b.target && a.ports == b.ports);
    let client = match &from {
        None => None,
        Some((namespace, workload)) => {
            index.require_namespace(namespace)?;
            let labels = match workload {
                None => None,
                Some(name) => Some(
                    snapshot
                        .pods
                        .iter()
                        .chain(&snapshot.templates)
                        .find(|w| &w.id.namespace == namespace && &w.id.name == name)
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--from {namespace}/{name}: no pod, Deployment or other workload named {name:?} in {namespace}"
                            )
                        })?
                        .labels
                        .as_ref(),
                ),
            };
            Some(Client {
                namespace: namespace.as_str(),
                labels,
            })
        }
    };
    let rules = DestinationIndex::new(&snapshot.destination_rules, index.root_namespace());
    let explanations: Vec<PortExplanation> = unique
        .into_iter()
        .map(|(svc, port, brief)| PortExplanation {
            brief,
            ..explain_port(&index, &rules, svc, port, client)
        })
        .collect();
    if explanations.is_empty() && pods.is_empty() {
        // Said on stderr: stdout keeps its format (an empty list as JSON).
        session.note("no Service port to explain: the targets hold no Service with ports");
    }
    let list = ExplanationList {
        ports: &explanations,
        pods: &pods,
    };
    let names: Vec<String> = explanations
        .iter()
        .map(|e| e.target.clone())
        .chain(pods.iter().map(|p| p.target.clone()))
        .collect();
    if let Some(text) = session.document(&list, &names)? {
        return print_stdout(&text);
    }
    print_stdout(&match session.args.output {
        Output::Dot => render::explain::dot(&explanations),
        _ => render::explain::tree(&explanations, &pods, session.color),
    })
}

/// Every port of every Service in a namespace, in name order, each to be
/// explained briefly.
fn service_ports<'s>(
    index: &Index<'s>,
    namespace: &str,
) -> Vec<(&'s Service, &'s ServicePort, bool)> {
    index
        .services_in(namespace)
        .iter()
        .flat_map(|svc| svc.ports.iter().map(move |p| (*svc, p, true)))
        .collect()
}

/// `--from NS[/WORKLOAD]`: a namespace, and maybe a workload's name in it.
fn parse_from(raw: &str) -> Result<(String, Option<String>), UsageError> {
    let (namespace, workload) = match raw.split_once('/') {
        Some((ns, name)) => (ns, Some(name)),
        None => (raw, None),
    };
    mtls::target::check_label("namespace", namespace)
        .map_err(|e| UsageError(format!("--from {raw:?}: {e}")))?;
    if let Some(name) = workload {
        mtls::target::check_label("workload", name)
            .map_err(|e| UsageError(format!("--from {raw:?}: {e}")))?;
    }
    Ok((namespace.to_string(), workload.map(str::to_string)))
}
