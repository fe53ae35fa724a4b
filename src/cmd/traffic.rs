//! `mtls traffic`: what each Service received over a window, mTLS or
//! plaintext, and who sends plaintext, beside its declared and enforced modes.

use serde::Serialize;

use crate::cli::{Output, TrafficArgs};
use crate::cmd::observe::{Traffic, observe};
use crate::cmd::{Session, parse_targets, print_stdout, scope_of};
use crate::error::{UsageError, Verdict};
use mtls::policy::Service;
use mtls::policy::resolve::Index;
use mtls::render;
use mtls::source::cluster::Scope;
use mtls::target::Target;
use mtls::traffic::{ServiceTraffic, service_traffic, unknown_service_traffic};

/// The document `traffic -o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrafficList<'a> {
    /// The window, as given (`24h`).
    since: String,
    /// Where the figures come from.
    source: &'a str,
    services: &'a [ServiceTraffic],
    /// What the figures cannot say (a port target shows its Service's).
    notes: &'a [String],
}

pub fn run(session: &Session<'_>, args: &TrafficArgs) -> anyhow::Result<()> {
    let mut targets = parse_targets(&args.targets, session.args.namespace.as_deref())?;
    if let (true, Some(ns)) = (targets.is_empty(), &session.args.namespace) {
        targets.push(Target::Namespace(ns.clone()));
    }
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(
            UsageError("-A lists everything: give either targets or -A, not both".into()).into(),
        );
    }
    if let Some(pod) = targets.iter().find(|t| matches!(t, Target::Pod { .. })) {
        return Err(UsageError(format!(
            "{pod}: Istio's metrics name workloads and Services, not pods: name the pod's Service"
        ))
        .into());
    }
    // No target, -A or `mesh`: every Service.
    let all = session.args.all_namespaces || targets.is_empty() || targets.contains(&Target::Mesh);
    let scope = scope_of(&targets, all);
    let snapshot = session.snapshot(&scope)?;
    let index = Index::new(&snapshot);

    let mut services: Vec<&Service> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut namespaces: Vec<&str> = Vec::new();
    for target in &targets {
        match target {
            Target::Mesh | Target::Pod { .. } => {}
            Target::Namespace(ns) => {
                index.require_namespace(ns)?;
                services.extend(index.services_in(ns));
                namespaces.push(ns);
            }
            Target::Service { namespace, service } => {
                services.push(index.require_service(namespace, service)?);
            }
            Target::Port {
                namespace,
                service,
                port,
            } => {
                let (svc, port) = index.require_port(namespace, service, port)?;
                notes.push(format!(
                    "Istio's standard metrics carry no port: {target} shows the figures of {}, \
                     all ports together (its port {} is {})",
                    svc.id,
                    port.port,
                    render::table::enforced_text(&index.port_row(svc, port))
                ));
                services.push(svc);
            }
        }
    }
    if all {
        services = snapshot
            .namespaces
            .keys()
            .flat_map(|ns| index.services_in(ns).iter().copied())
            .collect();
    }
    let mut seen = std::collections::HashSet::new();
    services.retain(|s| seen.insert((&s.id.namespace, &s.id.name)));

    // One namespace: Prometheus sums only its Services.
    let one_namespace = match scope {
        Scope::All | Scope::Mesh => None,
        ref scope => scope.namespace().map(str::to_string),
    };
    let (observed, from) = match observe(
        session,
        &args.since,
        one_namespace.as_deref(),
        &snapshot.root_namespace,
    )? {
        Traffic::Observed { observed, from } => (observed, from),
        Traffic::Off(why) => {
            return Err(UsageError(format!(
                "mtls traffic reads Istio's metrics from Prometheus, but {why}: give --prometheus URL"
            ))
            .into());
        }
        Traffic::Unavailable(why) => anyhow::bail!("{why}"),
    };

    let mut report: Vec<ServiceTraffic> = services
        .iter()
        .map(|s| service_traffic(&index, s, &observed))
        .collect();
    // Services only the metrics name, in the namespaces asked for.
    if all || !namespaces.is_empty() {
        for (ns, name) in observed.services() {
            let asked = all || namespaces.contains(&ns);
            if asked && snapshot.service(ns, name).is_none() {
                report.push(unknown_service_traffic(ns, name, &observed));
            }
        }
        report.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
    }

    for note in &notes {
        session.note(note);
    }
    let list = TrafficList {
        since: args.since.to_string(),
        source: &from,
        services: &report,
        notes: &notes,
    };
    let names: Vec<String> = report.iter().map(|s| s.target.clone()).collect();
    print_stdout(&match session.document(&list, &names)? {
        Some(text) => text,
        None => {
            render::traffic::services(&report, session.args.output == Output::Wide, session.color)
        }
    })?;
    session.note(&format!(
        "calls received in the last {}, from {from}",
        args.since
    ));

    if args.expect_no_plaintext {
        let plaintext: Vec<String> = report
            .iter()
            .filter(|s| s.observed.calls.plaintext() > 0)
            .map(|s| {
                let calls = &s.observed.calls;
                format!(
                    "{}: {} of {} calls, from {}",
                    s.target,
                    mtls::text::thousands(calls.plaintext()),
                    mtls::text::thousands(calls.total()),
                    render::traffic::callers(&s.observed.plaintext_callers, 3)
                )
            })
            .collect();
        if !plaintext.is_empty() {
            return Err(Verdict(format!(
                "plaintext received in the last {}: {}",
                args.since,
                plaintext.join("; ")
            ))
            .into());
        }
    }
    Ok(())
}
