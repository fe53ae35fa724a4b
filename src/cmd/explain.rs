//! `mtls explain`: the whole decision for each Service port the targets name.

use serde::Serialize;

use crate::cli::{ExplainArgs, Output};
use crate::cmd::{Session, parse_targets, print_stdout, scope_of};
use crate::error::UsageError;
use mtls::check::client::Client;
use mtls::check::destination::DestinationIndex;
use mtls::explain::{PortExplanation, explain_port};
use mtls::policy::Service;
use mtls::policy::model::ServicePort;
use mtls::policy::resolve::{Index, find_service_port};
use mtls::render;
use mtls::target::Target;

#[derive(Serialize)]
struct ExplanationList<'a> {
    ports: &'a [PortExplanation],
}

pub fn run(session: &Session<'_>, args: &ExplainArgs) -> anyhow::Result<()> {
    let targets = parse_targets(&args.targets)?;
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(UsageError(
            "-A explains everything: give either targets or -A, not both".into(),
        )
        .into());
    }
    let from = args.from.as_deref().map(parse_from).transpose()?;
    // The caller's namespace is read too: its workloads and their labels.
    let mut reached = targets.clone();
    if let Some((namespace, _)) = &from {
        reached.push(Target::Namespace(namespace.clone()));
    }
    let scope = scope_of(&reached, session.args.all_namespaces);
    // Callers may be in any namespace: their DestinationRules are read too.
    let snapshot = session.snapshot_with_clients(&scope)?;
    let index = Index::new(&snapshot);
    let mut ports: Vec<(&Service, &ServicePort)> = Vec::new();
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
                ports.extend(svc.ports.iter().map(|p| (svc, p)));
            }
            Target::Port {
                namespace,
                service,
                port,
            } => {
                let svc = index.require_service(namespace, service)?;
                ports.push((svc, find_service_port(svc, port)?));
            }
        }
    }
    ports.dedup_by(|a, b| std::ptr::eq(a.1, b.1));
    let client = match &from {
        None => None,
        Some((namespace, workload)) => {
            index.require_namespace(namespace)?;
            let labels = match workload {
                None => None,
                Some(name) => Some(
                    &snapshot
                        .pods
                        .iter()
                        .chain(&snapshot.templates)
                        .find(|w| &w.id.namespace == namespace && &w.id.name == name)
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--from {namespace}/{name}: no pod, Deployment or other workload named {name:?} in {namespace}"
                            )
                        })?
                        .labels,
                ),
            };
            Some(Client {
                namespace: namespace.as_str(),
                labels,
            })
        }
    };
    let rules = DestinationIndex::new(&snapshot.destination_rules, index.root_namespace());
    let explanations: Vec<PortExplanation> = ports
        .into_iter()
        .map(|(svc, port)| explain_port(&index, &rules, svc, port, client))
        .collect();
    if explanations.is_empty() {
        // Said on stderr: stdout keeps its format (an empty list as JSON).
        session.note("no Service port to explain: the targets hold no Service with ports");
    }
    let list = ExplanationList {
        ports: &explanations,
    };
    print_stdout(&match session.args.output {
        Output::Json => render::json(&list),
        Output::Yaml => render::yaml(&list)?,
        Output::Table | Output::Wide => render::explain::tree(&explanations, session.color),
        Output::Dot => render::explain::dot(&explanations),
    })
}

/// Every port of every Service in a namespace, in name order.
fn service_ports<'s>(index: &Index<'s>, namespace: &str) -> Vec<(&'s Service, &'s ServicePort)> {
    index
        .services_in(namespace)
        .iter()
        .flat_map(|svc| svc.ports.iter().map(move |p| (*svc, p)))
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
