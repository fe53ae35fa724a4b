//! `mtls allow|require|disable|unset`: plan the change for every target first,
//! refuse the whole command if any target would not take effect (unless
//! `--force`), then print the plan — offline, nothing is ever written.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cli::ChangeArgs;
use crate::cmd::{Session, parse_targets, print_stdout, sort_rows};
use crate::error::Verdict;
use crate::policy::ObjectRef;
use crate::policy::plan::{Change, Edit, EditKind, PlanError, Step, apply_edit, plan_change};
use crate::policy::resolve::{Index, Level, RowMode};
use crate::render;

pub fn run(session: &Session<'_>, args: &ChangeArgs, change: Change) -> anyhow::Result<()> {
    let targets = parse_targets(&args.targets)?;
    let mut snapshot = session.snapshot()?;

    let mut steps = Vec::new();
    for target in &targets {
        let step = plan_change(&snapshot, target, change).map_err(|e| match e {
            PlanError::NotFound(e) => anyhow::Error::from(e),
            PlanError::Impossible(reason) => {
                Verdict(format!("{target}: cannot be changed: {reason}")).into()
            }
        })?;
        if let Some(edit) = &step.edit {
            apply_edit(&mut snapshot, edit).map_err(anyhow::Error::msg)?;
        }
        steps.push(step);
    }

    let refused: Vec<String> = steps
        .iter()
        .filter_map(|s| {
            let reason = s.blocked.as_ref()?;
            (!args.force || s.edit.is_none()).then(|| format!("{}: refused: {reason}", s.target))
        })
        .collect();
    if !refused.is_empty() {
        let hint = if steps
            .iter()
            .any(|s| s.blocked.is_some() && s.edit.is_some())
        {
            "\nnothing was written; --force writes anyway"
        } else {
            "\nnothing was written"
        };
        return Err(Verdict(format!("{}{hint}", refused.join("\n"))).into());
    }

    for step in &steps {
        session.note(&confirmation(step));
        if let Some(reason) = &step.blocked {
            session.warn(&format!(
                "{}: written because of --force, but it will not take effect: {reason}",
                step.target
            ));
        }
        if let Some((first, from, to)) = step.weakened().first() {
            let more = step.weakened().len() - 1;
            let others = if more > 0 {
                format!(" (and {more} more rows of {})", step.target)
            } else {
                String::new()
            };
            session.warn(&format!(
                "{first}: mTLS gets weaker, from {from} to {to}{others}"
            ));
        }
    }

    print_stdout(&plan_stream(&steps)?)?;

    // The effective table after the change goes to stderr, so that stdout pipes.
    let index = Index::new(&snapshot);
    let mut rows = Vec::new();
    for target in &targets {
        rows.extend(index.rows_for(target)?);
    }
    if !session.args.quiet {
        eprint!("{}", session.format_rows(&sort_rows(rows), false)?);
    }
    Ok(())
}

fn confirmation(step: &Step) -> String {
    let level = step.level.as_str();
    let Some(edit) = &step.edit else {
        return match step.change {
            Change::Set(mode) => format!(
                "{}: already {mode} at the {level} level; nothing to change",
                step.target
            ),
            Change::Unset => format!(
                "{}: nothing is set at the {level} level; nothing to change",
                step.target
            ),
        };
    };
    let written = format!(
        "peerauthentication {} to be {}",
        edit.id,
        edit.kind.past_tense()
    );
    match step.change {
        Change::Set(mode) => format!("{}: set to {mode} ({written})", step.target),
        Change::Unset => {
            let inherited = step
                .after
                .iter()
                .find(|r| r.target == step.target)
                .map(|r| match (&r.mode, &r.source) {
                    (RowMode::Single(m), Some(s)) if s.level == Level::Default => {
                        format!("{m} (Istio's default)")
                    }
                    (RowMode::Single(m), Some(s)) => {
                        format!(
                            "{m} from {} {}",
                            s.level.as_str(),
                            s.policy.as_deref().unwrap_or("-")
                        )
                    }
                    (mode, _) => mode.as_str().to_string(),
                })
                .unwrap_or_default();
            format!("{}: unset, inherits {inherited} ({written})", step.target)
        }
    }
}

/// The objects to create or update as a YAML stream for `kubectl apply -f -`, and
/// each deletion as a `# delete peerauthentication NS/NAME` comment; each object
/// once, in its final state.
fn plan_stream(steps: &[Step]) -> anyhow::Result<String> {
    let mut order: Vec<ObjectRef> = Vec::new();
    let mut last: BTreeMap<ObjectRef, (bool, &Edit)> = BTreeMap::new();
    for edit in steps.iter().filter_map(|s| s.edit.as_ref()) {
        let created_here = edit.kind == EditKind::Create
            || last.get(&edit.id).is_some_and(|(created, _)| *created);
        if !last.contains_key(&edit.id) {
            order.push(edit.id.clone());
        }
        last.insert(edit.id.clone(), (created_here, edit));
    }
    let mut out = String::new();
    for id in order {
        let (created_here, edit) = last[&id];
        match edit.kind {
            EditKind::Delete if created_here => {}
            EditKind::Delete => out.push_str(&format!("# delete peerauthentication {id}\n")),
            EditKind::Create | EditKind::Update => {
                out.push_str("---\n");
                out.push_str(&render::yaml(&for_apply(&edit.object))?);
            }
        }
    }
    Ok(out)
}

/// The object as `kubectl apply` takes it: without server-managed fields.
fn for_apply(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.remove("managedFields");
    }
    if let Value::Object(map) = &mut object {
        map.remove("status");
    }
    object
}
