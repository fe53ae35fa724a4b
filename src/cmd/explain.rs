//! `mtls explain`: the whole decision for each Service port the targets name.

use serde::Serialize;

use crate::cli::{ExplainArgs, Output};
use crate::cmd::{Session, parse_targets, print_stdout, scope_of};
use crate::error::UsageError;
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
    let scope = scope_of(&targets, session.args.all_namespaces);
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
    let explanations: Vec<PortExplanation> = ports
        .into_iter()
        .map(|(svc, port)| explain_port(&index, svc, port))
        .collect();
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
