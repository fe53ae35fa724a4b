//! `mtls check`: the findings that concern the targets (`-A`: all of them), and
//! exit 3 when one is at or above `--fail-on`.

use serde::Serialize;

use crate::cli::{CheckArgs, FailOn, Output};
use crate::cmd::{Session, default_target, parse_targets, print_stdout};
use crate::error::{UsageError, Verdict};
use mtls::check::{self, Finding, Reported, Severity};
use mtls::policy::resolve::Index;
use mtls::render;
use mtls::source::cluster::{Clients, Scope};
use mtls::target::Target;

#[derive(Serialize)]
struct FindingList<'a> {
    findings: &'a [Reported<'a>],
    /// Accepted on purpose (`--ignore`, the annotation): listed, never failing.
    ignored: &'a [Reported<'a>],
}

pub fn run(session: &Session<'_>, args: &CheckArgs) -> anyhow::Result<()> {
    let mut targets = parse_targets(&args.targets, session.args.namespace.as_deref())?;
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(
            UsageError("-A checks everything: give either targets or -A, not both".into()).into(),
        );
    }
    if targets.is_empty() && !session.args.all_namespaces {
        targets.push(default_target(session.args.namespace.as_deref()));
    }
    if let Some(contexts) = session.clusters()? {
        return run_clusters(session, args, &targets, &contexts);
    }
    // Clients in any namespace may call a Service: check reads everything.
    let snapshot = session.snapshot_with_clients(&Scope::All)?;
    let index = Index::new(&snapshot);
    for target in &targets {
        index.rows_for(target)?;
    }
    let root = snapshot.root_namespace.clone();
    let findings: Vec<Finding> = check::check(&snapshot)
        .into_iter()
        .filter(|f| targets.is_empty() || targets.iter().any(|t| concerns(f, t, &root, &index)))
        .collect();

    let (reported, ignored) = check::sort_out(&snapshot, &findings, &args.ignore);
    report(session, args, reported, ignored)
}

/// `check` of several clusters of one mesh: each cluster's findings, with
/// its context, and MTLS019 where the clusters disagree.
fn run_clusters(
    session: &Session<'_>,
    args: &CheckArgs,
    targets: &[Target],
    contexts: &[String],
) -> anyhow::Result<()> {
    let snapshots = session.read_clusters(contexts, &Scope::All, &Clients::All)?;
    let mut each: Vec<(String, Vec<Finding>)> = Vec::new();
    let mut rows = Vec::new();
    for (context, snapshot) in &snapshots {
        let index = Index::new(snapshot);
        let root = snapshot.root_namespace.clone();
        let findings: Vec<Finding> = check::check(snapshot)
            .into_iter()
            .filter(|f| targets.is_empty() || targets.iter().any(|t| concerns(f, t, &root, &index)))
            .collect();
        each.push((context.clone(), findings));
        rows.push((context.clone(), index.all_rows()));
    }
    let across: Vec<Finding> = check::across_clusters(&rows)
        .into_iter()
        .filter(|f| {
            targets.is_empty()
                || targets.iter().any(|t| {
                    check::concerns(f, t, &snapshots[0].1.root_namespace)
                        || f.rows.iter().any(|r| r == &t.to_string())
                })
        })
        .collect();
    let (mut reported, mut ignored) = (Vec::new(), Vec::new());
    for ((context, findings), (_, snapshot)) in each.iter().zip(&snapshots) {
        let (mut r, mut i) = check::sort_out(snapshot, findings, &args.ignore);
        for one in r.iter_mut().chain(i.iter_mut()) {
            one.cluster = Some(context.clone());
        }
        reported.extend(r);
        ignored.extend(i);
    }
    let (r, i) = check::sort_out(&snapshots[0].1, &across, &args.ignore);
    reported.extend(r);
    ignored.extend(i);
    report(session, args, reported, ignored)
}

/// Prints the findings and chooses the verdict.
fn report(
    session: &Session<'_>,
    args: &CheckArgs,
    reported: Vec<Reported<'_>>,
    ignored: Vec<Reported<'_>>,
) -> anyhow::Result<()> {
    // `-o name`: each object to fix once, `kind/NS/NAME`.
    let mut names: Vec<String> = reported
        .iter()
        .map(|r| r.finding.object_key().replacen(' ', "/", 1))
        .collect();
    names.dedup();
    let list = FindingList {
        findings: &reported,
        ignored: &ignored,
    };
    let text = match session.args.output {
        Output::Sarif => render::sarif::log(&reported, &ignored, env!("CARGO_PKG_VERSION")),
        _ => match session.document(&list, &names)? {
            Some(text) => text,
            None => render::findings::report(&reported, session.color),
        },
    };
    print_stdout(&text)?;
    if !ignored.is_empty() {
        session.note(&format!(
            "accepted on purpose (--ignore, or the annotation mtls.istio.io/ignore): {}",
            render::findings::summary(ignored.iter().map(|r| r.finding))
        ));
    }
    let findings: Vec<&Finding> = reported.iter().map(|r| r.finding).collect();

    let threshold = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    if findings.iter().any(|f| f.severity <= threshold) {
        return Err(Verdict(format!(
            "check found {} (--fail-on {})",
            render::findings::summary(findings.iter().copied()),
            threshold.as_str()
        ))
        .into());
    }
    Ok(())
}

/// Port targets concern the findings about that port's row; pod targets
/// the findings about the Service ports the pod serves (with a port, those
/// that resolve to it) and their Services.
fn concerns(finding: &Finding, target: &Target, root: &str, index: &Index<'_>) -> bool {
    match target {
        Target::Port { .. } => index
            .rows_for(target)
            .is_ok_and(|rows| rows.iter().any(|r| finding.rows.contains(&r.target))),
        Target::Pod {
            namespace,
            pod,
            port,
        } => {
            let Ok(pod) = index.require_pod(namespace, pod) else {
                return false;
            };
            let number = match port {
                Some(port) => match index.require_pod_port(pod, port) {
                    Ok(p) => Some(p.port),
                    Err(_) => return false,
                },
                None => None,
            };
            index
                .served_by(pod)
                .into_iter()
                .filter(|(_, _, tp)| number.is_none() || *tp == number)
                .any(|(svc, sp, _)| {
                    finding.rows.contains(&format!("{}:{}", svc.id, sp.port))
                        || (number.is_none() && finding.rows.contains(&svc.id.to_string()))
                })
        }
        _ => check::concerns(finding, target, root),
    }
}
