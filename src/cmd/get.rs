//! `mtls get`: the effective mode of targets, and the policy that decides it.

use crate::cli::GetArgs;
use crate::cmd::{Session, parse_targets, print_stdout, scope_of, sort_rows};
use crate::error::{UsageError, Verdict};
use crate::policy::resolve::{Index, RowMode};
use crate::target::Target;

pub fn run(session: &Session<'_>, args: &GetArgs) -> anyhow::Result<()> {
    let mut targets = parse_targets(&args.targets)?;
    if session.args.all_namespaces && !targets.is_empty() {
        return Err(
            UsageError("-A lists everything: give either targets or -A, not both".into()).into(),
        );
    }
    if targets.is_empty() {
        targets.push(Target::Mesh);
    }
    let snapshot = session.snapshot(&scope_of(&targets, session.args.all_namespaces))?;
    let index = Index::new(&snapshot);
    let rows = if session.args.all_namespaces {
        index.all_rows()
    } else {
        let mut rows = Vec::new();
        for target in &targets {
            rows.extend(index.rows_for(target)?);
        }
        sort_rows(rows)
    };
    print_stdout(&session.format_rows(&rows, session.color)?)?;

    if let Some(expect) = args.expect {
        let off: Vec<String> = rows
            .iter()
            .filter(|r| r.mode != RowMode::Single(expect))
            .map(|r| format!("{} ({})", r.target, r.mode.as_str()))
            .collect();
        if !off.is_empty() {
            return Err(Verdict(format!(
                "expected {expect} everywhere, but {} of {} rows differ: {}",
                off.len(),
                rows.len(),
                off.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}
