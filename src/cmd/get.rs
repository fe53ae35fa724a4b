//! `mtls get`: the effective mode of targets, and the policy that decides it.

use std::collections::BTreeMap;

use crate::cli::{GetArgs, Output};
use crate::cmd::observe::{Traffic, observe};
use crate::cmd::{Session, default_target, parse_targets, scope_of, sort_rows};
use crate::error::{UsageError, Verdict};
use mtls::check;
use mtls::policy::resolve::{Index, LookupError, Row, RowEnforced, row_key};
use mtls::render::table::judged_text;
use mtls::source::cluster::{Clients, Scope};
use mtls::target::Target;

pub fn run(session: &Session<'_>, args: &GetArgs) -> anyhow::Result<()> {
    let mut targets = parse_targets(&args.targets, session.args.namespace.as_deref())?;
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(
            UsageError("-A lists everything: give either targets or -A, not both".into()).into(),
        );
    }
    if targets.is_empty() {
        targets.push(default_target(session.args.namespace.as_deref()));
    }
    let scope = scope_of(&targets, session.args.all_namespaces);
    if args.watch {
        crate::cmd::watch::refuse(session, args)?;
        return crate::cmd::watch::run(session, &targets, scope);
    }
    let wide = session.args.output == Output::Wide;
    if let Some(contexts) = session.clusters()? {
        if args.traffic {
            return Err(UsageError(
                "--traffic reads one cluster's Prometheus: give one --context".into(),
            )
            .into());
        }
        let clients = if wide { Clients::All } else { Clients::None };
        let mut rows = Vec::new();
        let mut marks: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut missing: Vec<(String, anyhow::Error)> = Vec::new();
        // A Service or pod may be in some clusters only.
        let scope = scope.whole_namespace();
        let snapshots = session.read_clusters(&contexts, &scope, &clients)?;
        let mut found = vec![false; targets.len()];
        for (context, snapshot) in &snapshots {
            let index = Index::new(snapshot);
            let (of_cluster, not_here) = rows_of(&index, &targets, session.args.all_namespaces);
            for (i, f) in found.iter_mut().enumerate() {
                *f |= !not_here.iter().any(|(j, _)| *j == i);
            }
            missing.extend(
                not_here
                    .into_iter()
                    .map(|(_, e)| (context.clone(), e.into())),
            );
            if wide {
                mark(&mut marks, &check::check(snapshot), Some(context));
            }
            for mut row in of_cluster {
                row.cluster = Some(context.clone());
                rows.push(row);
            }
        }
        if let Some(i) = found.iter().position(|f| !f) {
            let why = missing
                .into_iter()
                .map(|(c, e)| format!("{c}: {e}"))
                .collect::<Vec<_>>();
            anyhow::bail!(
                "{} is in none of the clusters read: {}",
                targets[i],
                why.join("; ")
            );
        }
        let rows = sort_rows(rows);
        drop(snapshots);
        session.print_rows_with(&rows, session.color, &marks)?;
        return judge(args, &rows);
    }
    // The wide view marks rows with findings, which need the clients' side.
    let snapshot = if wide {
        session.snapshot_with_clients(&scope)?
    } else {
        session.snapshot(&scope)?
    };
    let index = Index::new(&snapshot);
    let (rows, missing) = rows_of(&index, &targets, session.args.all_namespaces);
    if let Some((_, e)) = missing.into_iter().next() {
        return Err(e.into());
    }
    drop(index);
    let mut marks: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    if wide {
        mark(&mut marks, &check::check(&snapshot), None);
    }
    // The rows are all that is left to print: the snapshot goes before they
    // are rendered, so that the two never take memory at once.
    let root_namespace = snapshot.root_namespace.clone();
    drop(snapshot);
    let mut rows = rows;
    if args.traffic {
        let namespace = match &scope {
            Scope::All | Scope::Mesh => None,
            scope => scope.namespace(),
        };
        // Traffic is an addition: when it cannot be had, the rows still are.
        match observe(session, &args.since, namespace, &root_namespace)? {
            Traffic::Observed { observed, from } => {
                mtls::traffic::annotate(&mut rows, &observed);
                session.note(&format!(
                    "calls received in the last {}, from {from}",
                    args.since
                ));
            }
            Traffic::Off(why) => session.warn(&format!("traffic left out: {why}")),
            Traffic::Unavailable(why) => session.warn(&format!("traffic left out: {why}")),
        }
    }
    session.print_rows_with(&rows, session.color, &marks)?;
    judge(args, &rows)
}

/// The rows of `targets` (every row, with `all`), sorted; and the targets
/// that have none in this snapshot, by their index, with why.
pub(crate) fn rows_of(
    index: &Index<'_>,
    targets: &[Target],
    all: bool,
) -> (Vec<Row>, Vec<(usize, LookupError)>) {
    if all {
        return (index.all_rows(), Vec::new());
    }
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        match index.rows_for(target) {
            Ok(r) => rows.extend(r),
            Err(e) => missing.push((i, e)),
        }
    }
    (sort_rows(rows), missing)
}

/// Marks each row the findings concern with their codes, for the wide view,
/// keyed as `Row::key` names rows (with the cluster, where there are several).
pub(crate) fn mark(
    marks: &mut BTreeMap<String, Vec<&'static str>>,
    findings: &[check::Finding],
    cluster: Option<&str>,
) {
    for f in findings {
        for row in &f.rows {
            let codes = marks.entry(row_key(row, cluster)).or_default();
            if !codes.contains(&f.code) {
                codes.push(f.code);
            }
        }
    }
}

/// `--expect` and `--expect-at-least`. Rows are judged by what their pods
/// enforce; rows only gateways serve are not judged (PeerAuthentication does
/// not apply to them).
fn judge(args: &GetArgs, rows: &[Row]) -> anyhow::Result<()> {
    let judged: Vec<(&Row, RowEnforced)> =
        rows.iter().filter_map(|r| Some((r, r.judged()?))).collect();
    if let Some(expect) = args.expect {
        let off: Vec<String> = judged
            .iter()
            .filter(|(_, e)| *e != RowEnforced::Single(expect))
            .map(|(r, _)| format!("{} ({})", r.key(), judged_text(r)))
            .collect();
        if !off.is_empty() {
            return Err(Verdict(format!(
                "expected {expect} everywhere, but {} of {} rows differ: {}",
                off.len(),
                judged.len(),
                off.join(", ")
            ))
            .into());
        }
    }
    if let Some(least) = args.expect_at_least {
        let weaker: Vec<String> = judged
            .iter()
            .filter(|(r, _)| r.weakest_judged().is_some_and(|w| w < least))
            .map(|(r, e)| match e {
                RowEnforced::Mixed => format!(
                    "{} (MIXED, {} at weakest)",
                    r.key(),
                    r.weakest_judged().map_or("?", |w| w.as_str())
                ),
                RowEnforced::Single(_) => format!("{} ({})", r.key(), judged_text(r)),
            })
            .collect();
        if !weaker.is_empty() {
            return Err(Verdict(format!(
                "expected {least} or stronger everywhere, but {} of {} rows {} weaker: {}",
                weaker.len(),
                judged.len(),
                if weaker.len() == 1 { "is" } else { "are" },
                weaker.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}
