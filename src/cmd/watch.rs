//! `mtls get --watch`: the rows, then each row again as it changes.
//!
//! The snapshot is read once with every LIST turned into a watch
//! (src/source/watch.rs); each time the watched objects change, it is read
//! again from the watches' stores and the rows are compared with those
//! shown: rows that changed or appeared are printed, rows that went are
//! said on stderr (`-o json`: one event per line, `ADDED`, `MODIFIED` or
//! `DELETED`). Ctrl-C ends the watch with exit 0.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::Output;
use crate::cmd::{Session, print_stdout, sort_rows, stdout_closed};
use crate::error::UsageError;
use mtls::check;
use mtls::policy::resolve::{Index, Row};
use mtls::source::cluster::Scope;
use mtls::target::Target;

/// How long the watches must be quiet before the rows are read again: the
/// writes of one change (a pod, then its EndpointSlice) come close together.
const SETTLE: Duration = Duration::from_millis(150);

/// Refuses what a watch cannot do, before anything is read.
pub fn refuse(session: &Session<'_>, args: &crate::cli::GetArgs) -> Result<(), UsageError> {
    let refused = if session.offline() {
        Some("--watch follows a cluster; -f reads files once")
    } else if session.args.context.len() > 1 || session.args.all_contexts {
        Some("--watch follows one cluster: give one --context")
    } else if args.expect.is_some() || args.expect_at_least.is_some() {
        Some("--expect and --expect-at-least judge rows once; they do not go with --watch")
    } else if args.traffic {
        Some("--traffic is read once; it does not go with --watch")
    } else if !matches!(
        session.args.output,
        Output::Table | Output::Wide | Output::Json
    ) {
        Some("--watch prints a table, or one JSON event per line: -o table, wide or json")
    } else {
        None
    };
    match refused {
        Some(why) => Err(UsageError(why.into())),
        None => Ok(()),
    }
}

pub fn run(session: &Session<'_>, targets: &[Target], scope: Scope) -> anyhow::Result<()> {
    let connection = session.connection()?;
    connection.block_on(connection.cluster().watch())?;
    // A Service or pod may go and come back while watched: its absence is
    // a change rather than a failure.
    let scope = scope.whole_namespace();
    let mut interrupt = connection.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    })?;
    let (rows, marks, missing) = read(session, targets, &scope)?;
    if let Some((target, why)) = missing.into_iter().next() {
        return Err(why.context(format!("cannot watch {target}")));
    }
    let json = session.args.output == Output::Json;
    if json {
        for row in &rows {
            print_stdout(&event("ADDED", row)?)?;
        }
    } else {
        print_stdout(&session.format_rows_with(&rows, session.color, &marks)?)?;
    }
    let mut shown = keyed(rows)?;
    let mut gone_targets: Vec<String> = Vec::new();
    loop {
        if stdout_closed() {
            return Ok(());
        }
        let changes = connection.block_on(async {
            tokio::select! {
                changes = connection.cluster().changes(SETTLE) => Some(changes),
                _ = interrupt.recv() => None,
            }
        });
        let Some(changes) = changes else {
            return Ok(());
        };
        for note in &changes.notes {
            session.warn(note);
        }
        if changes.objects == 0 {
            continue;
        }
        let (rows, marks, missing) = match read(session, targets, &scope) {
            Ok(read) => read,
            Err(e) => {
                session.warn(&format!("cannot read the rows again: {e:#}"));
                continue;
            }
        };
        // A target that is no longer there is said once, when it goes.
        for (target, why) in &missing {
            if !gone_targets.contains(target) {
                session.warn(&format!("{target}: {why:#}"));
            }
        }
        gone_targets = missing.into_iter().map(|(t, _)| t).collect();
        let now = keyed(rows)?;
        let mut changed: Vec<(&'static str, Row)> = Vec::new();
        for (key, (row, value)) in &now {
            match shown.get(key) {
                None => changed.push(("ADDED", row.clone())),
                Some((_, before)) if before != value => changed.push(("MODIFIED", row.clone())),
                Some(_) => {}
            }
        }
        let gone: Vec<Row> = shown
            .iter()
            .filter(|(key, _)| !now.contains_key(*key))
            .map(|(_, (row, _))| row.clone())
            .collect();
        shown = now;
        if json {
            let mut lines = String::new();
            for (kind, row) in &changed {
                lines.push_str(&event(kind, row)?);
            }
            for row in &gone {
                lines.push_str(&event("DELETED", row)?);
            }
            print_stdout(&lines)?;
            continue;
        }
        for row in &gone {
            session.note(&format!("{}: no longer listed", row.key()));
        }
        if !changed.is_empty() {
            let rows = sort_rows(changed.into_iter().map(|(_, r)| r).collect());
            let table = session.format_rows_with(&rows, session.color, &marks)?;
            // The header was printed with the first table.
            let body: String = table.lines().skip(1).map(|l| format!("{l}\n")).collect();
            print_stdout(&body)?;
        }
    }
}

/// Rows by their key, each with its JSON form, which says whether it
/// changed.
fn keyed(rows: Vec<Row>) -> anyhow::Result<BTreeMap<String, (Row, Value)>> {
    rows.into_iter()
        .map(|row| {
            let value = serde_json::to_value(&row)?;
            Ok((row.key(), (row, value)))
        })
        .collect()
}

/// One event of `-o json`: a line, as Kubernetes' watch events are shaped.
fn event(kind: &str, row: &Row) -> anyhow::Result<String> {
    let mut line = serde_json::to_string(&json!({"type": kind, "object": row}))?;
    line.push('\n');
    Ok(line)
}

/// A target's rows cannot be listed: which, and why.
type Missing = Vec<(String, anyhow::Error)>;

/// The rows of the wide view's findings, by row key.
type Marks = BTreeMap<String, Vec<&'static str>>;

/// Reads the snapshot (from the watches' stores) and lists the targets'
/// rows, with the wide view's marks.
fn read(
    session: &Session<'_>,
    targets: &[Target],
    scope: &Scope,
) -> anyhow::Result<(Vec<Row>, Marks, Missing)> {
    let wide = session.args.output == Output::Wide;
    let snapshot = if wide {
        session.snapshot_with_clients(scope)?
    } else {
        session.snapshot(scope)?
    };
    let index = Index::new(&snapshot);
    let (rows, missing) = crate::cmd::get::rows_of(&index, targets, session.args.all_namespaces);
    let missing = missing
        .into_iter()
        .map(|(i, e)| (targets[i].to_string(), e.into()))
        .collect();
    let mut marks = BTreeMap::new();
    if wide {
        crate::cmd::get::mark(&mut marks, &check::check(&snapshot), None);
    }
    Ok((rows, marks, missing))
}
