//! `mtls allow|require|disable|unset`: plan the change for every target first and
//! refuse the whole command if any target would not take effect (unless
//! `--force`). Offline (`-f`) and with `--dry-run`, print the plan; against a
//! cluster, write each target's edit with optimistic concurrency, reading and
//! planning again when another writer got there first.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use crate::cli::{ChangeArgs, Output};
use crate::cmd::interrupt::Interrupt;
use crate::cmd::observe::{Traffic, observe};
use crate::cmd::write;
use crate::cmd::{Session, listed, parse_change_targets, print_stdout, scope_of, sort_rows};
use crate::error::{UsageError, Verdict};
use mtls::check::{self, Finding};
use mtls::mode::Mode;
use mtls::policy::plan::{
    Change, Edit, EditKind, PlanError, PolicyKind, Step, apply_edit, plan_change,
};
use mtls::policy::resolve::{Index, Level, RowMode};
use mtls::policy::{ObjectRef, Snapshot};
use mtls::render;
use mtls::source::cluster::{ApiError, Cluster, Scope};
use mtls::source::connection::Connection;
use mtls::target::Target;
use mtls::traffic;

/// How often one target's write is redone after losing a race to another
/// writer. Sixteen writers on one policy need at most fifteen redos each.
const MAX_ATTEMPTS: u32 = 40;

pub fn run(session: &Session<'_>, args: &ChangeArgs, change: Change) -> anyhow::Result<()> {
    let command = match change {
        Change::Set(Mode::Strict) => "require",
        Change::Set(Mode::Permissive) => "allow",
        Change::Set(Mode::Disable) => "disable",
        Change::Unset => "unset",
    };
    if args.write_to.is_some() && !(args.write || args.diff) {
        return Err(UsageError(
            "--write-to names where --write or --diff puts a new policy; add one of them".into(),
        )
        .into());
    }
    let targets = parse_change_targets(&args.targets, session.args.namespace.as_deref(), command)?;
    if let Some(contexts) = session.clusters()? {
        return run_clusters(session, args, change, &targets, &contexts);
    }
    let prepared = prepare(session, args, change, &targets)?;
    execute(session, args, change, &targets, prepared)
}

/// A change planned on one cluster (or the manifests), that passed every
/// gate: what it reads, writes and leaves.
struct Prepared {
    scope: Scope,
    snapshot: Snapshot,
    steps: Vec<Step>,
    after: Snapshot,
    edits: Vec<Edit>,
}

/// Reads, plans every target and refuses (exit 3) what would not take
/// effect, would break calls or traffic, or fight a GitOps owner. Writes
/// nothing.
fn prepare(
    session: &Session<'_>,
    args: &ChangeArgs,
    change: Change,
    targets: &[Target],
) -> anyhow::Result<Prepared> {
    let scope = reach_of(targets);
    // With the clients' side: a change must not break their calls.
    let snapshot = session.snapshot_with_clients(&scope)?;

    // Every target is planned, and refused, before anything is written.
    let (steps, after) = plan_all(snapshot.clone(), targets, change)?;
    refuse_blocked(&steps, args.force)?;
    refuse_breaking(session, &check::broken_by(&snapshot, &after), args.force)?;
    refuse_plaintext_callers(session, &snapshot, &after, args)?;
    // What the targets' steps write, each object once.
    let edits = final_edits(&steps);
    if !session.offline() {
        refuse_owned(session, &edits, &snapshot, args.force)?;
    }
    Ok(Prepared {
        scope,
        snapshot,
        steps,
        after,
        edits,
    })
}

/// A change on the clusters of one mesh: planned and gated in every one
/// before it is written to any, then written to each in turn, as several
/// targets are. A failure stops it, saying which clusters were written.
fn run_clusters(
    session: &Session<'_>,
    args: &ChangeArgs,
    change: Change,
    targets: &[Target],
    contexts: &[String],
) -> anyhow::Result<()> {
    let globals: Vec<crate::cli::GlobalArgs> = contexts
        .iter()
        .map(|context| {
            let mut global = session.args.clone();
            global.context = vec![context.clone()];
            global.all_contexts = false;
            global
        })
        .collect();
    let sessions: Vec<Session<'_>> = globals
        .iter()
        .zip(contexts)
        .map(|(global, context)| {
            let mut cluster = Session::new(global);
            cluster.cluster = Some(context.clone());
            cluster
        })
        .collect();
    let mut prepared = Vec::new();
    for (context, cluster) in contexts.iter().zip(&sessions) {
        prepared.push(
            prepare(cluster, args, change, targets)
                .map_err(|e| e.context(format!("cluster {context}: nothing was written")))?,
        );
    }
    let mut written: Vec<&str> = Vec::new();
    for ((context, cluster), prepared) in contexts.iter().zip(&sessions).zip(prepared) {
        if let Err(e) = execute(cluster, args, change, targets, prepared) {
            let unwritten: Vec<&str> = contexts[written.len()..]
                .iter()
                .map(String::as_str)
                .collect();
            let done = if written.is_empty() {
                "none".to_string()
            } else {
                written.join(", ")
            };
            return Err(e.context(format!(
                "the change stopped in cluster {context}: clusters written: {done}; not written \
                 (or in part, as said above): {}",
                unwritten.join(", ")
            )));
        }
        written.push(context);
    }
    Ok(())
}

/// Prints the plan (offline, `--dry-run`), edits the manifests (`--write`),
/// or writes each target to the cluster, and reads the result back.
fn execute(
    session: &Session<'_>,
    args: &ChangeArgs,
    change: Change,
    targets: &[Target],
    prepared: Prepared,
) -> anyhow::Result<()> {
    let Prepared {
        scope,
        snapshot,
        steps,
        after,
        edits,
    } = prepared;
    if args.write || args.diff {
        return write_tree(session, args, &steps, &edits, &snapshot, &after, targets);
    }
    if session.offline() || args.dry_run {
        if !session.offline() {
            let connection = session.connection()?;
            for edit in &edits {
                connection
                    .write(edit, true)
                    .map_err(|e| explain_write(connection.cluster(), e, edit))?;
            }
        }
        for step in &steps {
            report(session, step, false);
        }
        print_stdout(&plan(session, &edits, &snapshot)?)?;
        return table_after(session, &after, targets);
    }

    confirm_weakening(&steps, args.yes)?;
    let connection = session.connection()?;
    let stop = Interrupt::install();
    let mut done: Vec<Step> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut fresh = Some(snapshot);
    for target in targets {
        if let Some(signal) = stop.raised() {
            failure = Some(anyhow::anyhow!("interrupted by {signal}"));
            break;
        }
        match write_target(
            session,
            connection,
            &scope,
            target,
            change,
            args.force,
            fresh.take(),
        ) {
            Ok(step) => {
                report(session, &step, true);
                done.push(step);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }

    // Nothing written and not interrupted: the error alone says it all.
    if done.is_empty()
        && stop.raised().is_none()
        && let Some(failure) = failure
    {
        return Err(failure);
    }
    // The table is read back for every target, whatever happened.
    let read_back = session
        .snapshot(&scope)
        .and_then(|after| rows_after(&after, targets));
    if let Ok(rows) = &read_back {
        print_stdout(&session.format_rows(rows, session.color)?)?;
    }
    if let Some(failure) = failure {
        return Err(stopped(failure, &done, targets, read_back.err()));
    }
    let rows = read_back.map_err(|e| {
        e.context("every change was written, but the table could not be read back to check it")
    })?;
    let drifted: Vec<String> = done
        .iter()
        .filter(|step| step.edit.is_some())
        .filter_map(|step| step.drift(&rows))
        .map(|d| {
            let asked = match change {
                Change::Set(mode) => format!("not {mode} as asked"),
                Change::Unset => "still set at the level that was unset".to_string(),
            };
            let level = d
                .level
                .map_or(String::new(), |l| format!(" from the {} level", l.as_str()));
            format!(
                "{} reads back {}{level}, {asked}",
                d.target,
                d.read.as_str()
            )
        })
        .collect();
    if !drifted.is_empty() {
        anyhow::bail!(
            "the change was written but does not hold: {}\n\
             another writer, a mutating webhook or the API server changed it; \
             `mtls get -o wide` shows what decides now",
            drifted.join("; ")
        );
    }
    Ok(())
}

/// `--write` and `--diff`: the change made to the manifests `-f` read. The
/// diff goes to stdout, the table after the change to stderr, as with a plan.
fn write_tree(
    session: &Session<'_>,
    args: &ChangeArgs,
    steps: &[Step],
    edits: &[Edit],
    before: &Snapshot,
    after: &Snapshot,
    targets: &[Target],
) -> anyhow::Result<()> {
    let originals = |edit: &Edit| original(before, edit).cloned();
    let files = write::plan(
        edits,
        before,
        &originals,
        &session.args.filenames,
        args.write_to.as_deref(),
    )?;
    if args.write {
        confirm_weakening(steps, args.yes)?;
        write::commit(&files)?;
    }
    for step in steps {
        report(session, step, args.write);
    }
    for file in &files {
        session.note(&format!(
            "{}: {} ({})",
            file.path.display(),
            file.verb(args.write),
            file.objects.join(", ")
        ));
    }
    print_stdout(&write::diff(&files, session.color))?;
    table_after(session, after, targets)
}

/// The table the targets would have after an offline change, on stderr, so
/// that stdout pipes.
fn table_after(session: &Session<'_>, after: &Snapshot, targets: &[Target]) -> anyhow::Result<()> {
    if !session.args.quiet {
        eprint!(
            "{}",
            render::table::rows(
                &rows_after(after, targets)?,
                &render::table::Style {
                    wide: false,
                    color: false,
                    width: None,
                },
                &BTreeMap::new(),
            )
        );
    }
    Ok(())
}

/// What a change must read: everything it can reach, so that every row it
/// weakens is named. The mesh level reaches every namespace; a Service's
/// workload policy reaches the other Services of its pods, in its namespace.
fn reach_of(targets: &[Target]) -> Scope {
    let widened: Vec<Target> = targets
        .iter()
        .map(|t| match t {
            Target::Service { namespace, .. } | Target::Port { namespace, .. } => {
                Target::Namespace(namespace.clone())
            }
            other => other.clone(),
        })
        .collect();
    if widened.contains(&Target::Mesh) {
        Scope::All
    } else {
        scope_of(&widened, false)
    }
}

/// The error of a change that stopped part way: which targets were written,
/// which were not, and why it stopped. Exit 1, whatever stopped it: part of the
/// command took effect.
fn stopped(
    failure: anyhow::Error,
    done: &[Step],
    targets: &[Target],
    read_back: Option<anyhow::Error>,
) -> anyhow::Error {
    let mut text = format!(
        "the change stopped after {} of {} targets: written: {}; not written: {}",
        done.len(),
        targets.len(),
        listed(done.iter().map(|s| s.target.clone())),
        listed(targets[done.len()..].iter().map(Target::to_string))
    );
    for cause in failure.chain() {
        text.push('\n');
        text.push_str(&cause.to_string());
    }
    match read_back {
        Some(e) => text.push_str(&format!("\nthe table could not be read back: {e:#}")),
        None => text.push_str("\nthe table above is read back from the server"),
    }
    anyhow::Error::msg(text)
}

/// At a terminal, a change that makes any row weaker lists them and asks
/// before anything is written; `--yes` answers for the user. Without a
/// terminal (CI, pipes) nothing is asked.
fn confirm_weakening(steps: &[Step], yes: bool) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let weakened: Vec<(String, Mode, Mode)> = steps
        .iter()
        .flat_map(|s| s.weakened().into_iter().chain(s.weakened_elsewhere()))
        .collect();
    if yes
        || weakened.is_empty()
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return Ok(());
    }
    eprintln!(
        "This change makes mTLS weaker on {} {}:",
        weakened.len(),
        if weakened.len() == 1 { "row" } else { "rows" }
    );
    for (row, from, to) in &weakened {
        eprintln!("  {}: {from} -> {to}", render::printable(row));
    }
    eprint!("Write it? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    anyhow::bail!("nothing was written: the change was not confirmed (--yes writes without asking)")
}

/// Plans every target in turn, each on the result of the ones before.
fn plan_all(
    mut snapshot: Snapshot,
    targets: &[Target],
    change: Change,
) -> anyhow::Result<(Vec<Step>, Snapshot)> {
    let mut steps = Vec::new();
    for target in targets {
        let step = plan_change(&snapshot, target, change).map_err(|e| plan_error(target, e))?;
        if let Some(edit) = &step.edit {
            apply_edit(&mut snapshot, edit).map_err(anyhow::Error::msg)?;
        }
        steps.push(step);
    }
    Ok((steps, snapshot))
}

fn plan_error(target: &Target, error: PlanError) -> anyhow::Error {
    match error {
        PlanError::NotFound(e) => e.into(),
        PlanError::Impossible(reason) => Verdict(format!(
            "{target}: cannot be changed: {}",
            render::plan::impossible(&reason)
        ))
        .into(),
    }
}

/// Exit 3 naming every target that would not take effect, unless `--force`
/// (which cannot help where there is nothing to write).
fn refuse_blocked(steps: &[Step], force: bool) -> anyhow::Result<()> {
    let refused: Vec<String> = steps
        .iter()
        .filter_map(|s| {
            let reason = s.blocked.as_ref()?;
            (!force || s.edit.is_none())
                .then(|| format!("{}: refused: {}", s.target, render::plan::refusal(reason)))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let hint = if steps
        .iter()
        .any(|s| s.blocked.is_some() && s.edit.is_some())
    {
        "\nnothing was written; --force writes anyway"
    } else {
        "\nnothing was written"
    };
    Err(Verdict(format!("{}{hint}", refused.join("\n"))).into())
}

/// Exit 3 when the change would make calls fail that work today (the
/// client-side findings it would introduce), naming each with its fix;
/// with `--force`, the change goes ahead and each is said as a warning that
/// `--quiet` does not silence.
fn refuse_breaking(session: &Session<'_>, broken: &[Finding], force: bool) -> anyhow::Result<()> {
    if broken.is_empty() {
        return Ok(());
    }
    // MTLS016 and MTLS017 are about authorization, the others about calls.
    let undoes_authz = |f: &Finding| matches!(f.code, "MTLS016" | "MTLS017");
    if force {
        for f in broken {
            let what = if undoes_authz(f) {
                "undoes an authorization policy"
            } else {
                "breaks calls"
            };
            session.alert(&format!(
                "the change {what} ({} {}): {}",
                f.code, f.object, f.message
            ));
        }
        return Ok(());
    }
    let what = match (
        broken.iter().any(|f| !undoes_authz(f)),
        broken.iter().any(undoes_authz),
    ) {
        (true, true) => "make calls fail that work today, and undo authorization policies",
        (false, true) => "undo authorization policies: callers locked out, or let through",
        _ => "make calls fail that work today",
    };
    let mut text = format!(
        "refused: the change would {what} ({}):",
        check_plural(broken.len())
    );
    for f in broken {
        text.push_str(&format!(
            "\n  {}[{}] {}: {}\n    fix: {}",
            f.severity.as_str(),
            f.code,
            f.object,
            f.message,
            f.hint
        ));
    }
    text.push_str("\nnothing was written; --force writes anyway");
    Err(Verdict(text).into())
}

/// The traffic gate (docs/semantics.md §7): where the change makes more pods
/// enforce STRICT, plaintext those Services received within `--since` would
/// be rejected from now on. Refused unless `--force`; when Prometheus cannot
/// be read, a note says the check was skipped.
fn refuse_plaintext_callers(
    session: &Session<'_>,
    before: &Snapshot,
    after: &Snapshot,
    args: &ChangeArgs,
) -> anyhow::Result<()> {
    let newly = traffic::newly_strict(
        &Index::new(before).all_rows(),
        &Index::new(after).all_rows(),
    );
    if newly.is_empty() {
        return Ok(());
    }
    let namespaces: BTreeSet<&str> = newly.iter().map(|((ns, _), _)| ns.as_str()).collect();
    let one = match namespaces.iter().collect::<Vec<_>>().as_slice() {
        [ns] => Some(**ns),
        _ => None,
    };
    let (observed, from) = match observe(session, &args.since, one, &before.root_namespace)? {
        Traffic::Observed { observed, from } => (observed, from),
        Traffic::Off(_) => return Ok(()),
        Traffic::Unavailable(why) => {
            session.note(&format!(
                "traffic check skipped (plaintext callers of what becomes STRICT): {why}"
            ));
            return Ok(());
        }
    };
    let mut reached = Vec::new();
    for ((ns, svc), ports) in &newly {
        let calls = observed.service(ns, svc);
        if calls.calls.plaintext() == 0 {
            continue;
        }
        let allow: Vec<String> = ports.iter().map(|p| format!("`mtls allow {p}`")).collect();
        reached.push((
            format!(
                "{ns}/{svc} becomes STRICT on {}, but received {} of {} calls in plaintext, from {}",
                ports.join(", "),
                mtls::text::thousands(calls.calls.plaintext()),
                mtls::text::thousands(calls.calls.total()),
                render::traffic::callers(&calls.plaintext_callers, 5),
            ),
            format!(
                "keep it PERMISSIVE: {} first (an exception at the port level), or bring the callers into the mesh",
                allow.join(", ")
            ),
        ));
    }
    if reached.is_empty() {
        return Ok(());
    }
    if args.force {
        for (what, _) in &reached {
            session.alert(&format!(
                "plaintext callers will be rejected (seen in the last {}): {what}",
                args.since
            ));
        }
        return Ok(());
    }
    let mut text = format!(
        "refused: plaintext reached what the change makes STRICT in the last {} ({from}), \
         and would be rejected:",
        args.since
    );
    for (what, keep) in &reached {
        text.push_str(&format!("\n  {what}\n    {keep}"));
    }
    text.push_str("\nnothing was written; --force writes anyway");
    Err(Verdict(text).into())
}

/// Objects a GitOps controller or Helm manages: their next sync reverts what
/// mtls writes, so the change is refused, naming the source to edit, unless
/// `--force` (which writes and warns). New objects have no owner.
fn refuse_owned(
    session: &Session<'_>,
    edits: &[Edit],
    before: &Snapshot,
    force: bool,
) -> anyhow::Result<()> {
    let owned: Vec<String> = edits
        .iter()
        .filter(|e| e.kind != EditKind::Create)
        .filter_map(|e| {
            let owner = mtls::policy::owner::owner_of(original(before, e)?)?;
            Some(format!(
                "{} is managed by {} ({}): its next sync reverts the change; edit the source there",
                e.describe(),
                owner.tool,
                owner.source
            ))
        })
        .collect();
    if owned.is_empty() {
        return Ok(());
    }
    if force {
        for o in &owned {
            session.alert(&format!("written because of --force: {o}"));
        }
        return Ok(());
    }
    Err(Verdict(format!(
        "refused: {}\nnothing was written; --force writes anyway",
        owned.join("\n  ")
    ))
    .into())
}

fn check_plural(n: usize) -> String {
    if n == 1 {
        "1 failure".to_string()
    } else {
        format!("{n} failures")
    }
}

/// Writes one target's edit, reading and planning again after a conflict.
///
/// A write whose answer is lost (a timeout, a dropped connection) is looked
/// up, not guessed: the level is read again and planned again. When the
/// change is found in place, it is done; when not, it is written again with
/// the `resourceVersion` just read, so that the lost write, should it still
/// land, and the new one cannot both take effect.
fn write_target(
    session: &Session<'_>,
    connection: &Connection,
    scope: &Scope,
    target: &Target,
    change: Change,
    force: bool,
    mut fresh: Option<Snapshot>,
) -> anyhow::Result<Step> {
    let mut attempt = 0;
    // How many writes went unanswered, and the last of them.
    let mut lost = 0;
    let mut last_lost: Option<(Edit, String)> = None;
    loop {
        attempt += 1;
        let snapshot = match fresh.take() {
            Some(s) => s,
            None => match session.snapshot(scope) {
                Ok(s) => s,
                Err(e) => return Err(unknown_outcome(last_lost, e)),
            },
        };
        let step = plan_change(&snapshot, target, change).map_err(|e| plan_error(target, e))?;
        if let Some(reason) = &step.blocked
            && (!force || step.edit.is_none())
        {
            return Err(Verdict(format!(
                "{}: refused: {}",
                step.target,
                render::plan::refusal(reason)
            ))
            .into());
        }
        let Some(edit) = &step.edit else {
            return Ok(step);
        };
        match connection.write(edit, false) {
            Ok(_) => return Ok(step),
            Err(e) if lost_race(&e, edit.kind) && attempt < MAX_ATTEMPTS => {
                std::thread::sleep(backoff(attempt));
            }
            Err(e) if e.answer_lost() => {
                lost += 1;
                if lost >= MAX_LOST_ANSWERS {
                    return Err(explain_write(connection.cluster(), e, edit).context(format!(
                        "the API server answered none of {MAX_LOST_ANSWERS} writes of {}; read back, \
                         the change was not in place, but a late write may still land: check with \
                         `{}`, then run the command again",
                        edit.describe(),
                        kubectl_get(edit)
                    )));
                }
                session.alert(&format!(
                    "{}: no answer to the write of {} ({e}); reading it back",
                    step.target,
                    edit.describe()
                ));
                last_lost = Some((edit.clone(), e.to_string()));
            }
            Err(e) => return Err(explain_write(connection.cluster(), e, edit)),
        }
    }
}

/// How many writes of one target may go unanswered before giving up.
const MAX_LOST_ANSWERS: usize = 3;

/// A write's answer was lost and the object cannot be read back: whether the
/// change is in place cannot be known.
fn unknown_outcome(lost: Option<(Edit, String)>, read: anyhow::Error) -> anyhow::Error {
    match lost {
        Some((edit, e)) => read.context(format!(
            "no answer to the write of {} ({e}), and it cannot be read back: whether the change \
             is in place cannot be known; check with `{}`, then run the command again",
            edit.describe(),
            kubectl_get(&edit)
        )),
        None => read,
    }
}

/// The kubectl command that shows an edited object.
fn kubectl_get(edit: &Edit) -> String {
    let kind = edit.policy_kind();
    let resource = match kind {
        PolicyKind::Policy => "policies.authentication.istio.io",
        other => other.singular(),
    };
    match edit.namespace() {
        Some(ns) => format!("kubectl get {resource} -n {ns} {} -o yaml", edit.id.name),
        None => format!("kubectl get {resource} {} -o yaml", edit.id.name),
    }
}

/// Whether a failed write lost a race with another writer: the object changed
/// (409), was created meanwhile (409 AlreadyExists) or deleted (404).
fn lost_race(error: &ApiError, kind: EditKind) -> bool {
    matches!(
        (error.code(), kind),
        (Some(409), _) | (Some(404), EditKind::Update | EditKind::Delete)
    )
}

/// A growing, jittered pause between attempts.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    hasher.write_u32(std::process::id());
    let cap = (10u64 << attempt.min(5)).min(300);
    Duration::from_millis(5 + hasher.finish() % cap)
}

/// A failed write, as the user reads it: what could not be done to which
/// object, why, and what to check.
pub(crate) fn explain_write(cluster: &Cluster, error: ApiError, edit: &Edit) -> anyhow::Error {
    let verb = edit.kind.verb();
    let (resource, namespace) = (edit.policy_kind().resource(), edit.namespace());
    let api_version = edit.object["apiVersion"]
        .as_str()
        .unwrap_or(cluster.api.write_version());
    let group = api_version.split('/').next().unwrap_or_default();
    let what = format!("cannot {verb} {}", edit.describe());
    cluster
        .explain(error, verb, resource, group, namespace)
        .context(what)
}

fn rows_after(
    snapshot: &Snapshot,
    targets: &[Target],
) -> anyhow::Result<Vec<mtls::policy::resolve::Row>> {
    let index = Index::new(snapshot);
    let mut rows = Vec::new();
    for target in targets {
        rows.extend(index.rows_for(target)?);
    }
    Ok(sort_rows(rows))
}

/// The confirmation line, the `--force` warning and the weakening warnings;
/// `--quiet` leaves out only the confirmation.
fn report(session: &Session<'_>, step: &Step, written: bool) {
    session.note(&confirmation(step, written));
    if let Some(reason) = &step.blocked {
        session.alert(&format!(
            "{}: written because of --force, but it will not take effect: {}",
            step.target,
            render::plan::refusal(reason)
        ));
    }
    let weakened = step.weakened();
    if let Some((first, from, to)) = weakened.first() {
        let more = weakened.len() - 1;
        let others = if more > 0 {
            format!(" (and {more} more rows of {})", step.target)
        } else {
            String::new()
        };
        session.alert(&format!(
            "{first}: mTLS gets weaker, from {from} to {to}{others}"
        ));
    }
    // Rows the change reaches beyond its target: another Service on the same
    // pods, or, on Istio 1.5, the other ports of a workload that a
    // PeerAuthentication now takes from the legacy policies.
    let elsewhere = step.weakened_elsewhere();
    if let Some((first, from, to)) = elsewhere.first() {
        let more = elsewhere.len() - 1;
        let others = if more > 0 {
            format!(" (and {more} more rows)")
        } else {
            String::new()
        };
        session.alert(&format!(
            "{first}: mTLS gets weaker too, from {from} to {to}{others}, though the change is to {}",
            step.target
        ));
    }
}

fn confirmation(step: &Step, written: bool) -> String {
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
    let done = edit.kind.past_tense();
    let what = if written {
        format!("{} {done}", edit.describe())
    } else {
        format!("{} to be {done}", edit.describe())
    };
    match step.change {
        Change::Set(mode) => format!("{}: set to {mode} ({what})", step.target),
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
            format!("{}: unset, inherits {inherited} ({what})", step.target)
        }
    }
}

/// Each object the steps touch, once, in its final state, in the order first
/// touched; an object created and deleted again by the same plan drops out.
fn final_edits(steps: &[Step]) -> Vec<Edit> {
    let mut order: Vec<ObjectRef> = Vec::new();
    let mut last: BTreeMap<ObjectRef, Edit> = BTreeMap::new();
    for edit in steps.iter().filter_map(|s| s.edit.as_ref()) {
        let created_here = last
            .get(&edit.id)
            .is_some_and(|e| e.kind == EditKind::Create);
        let mut edit = edit.clone();
        if created_here && edit.kind == EditKind::Update {
            edit.kind = EditKind::Create;
        }
        if !last.contains_key(&edit.id) {
            order.push(edit.id.clone());
        }
        if created_here && edit.kind == EditKind::Delete {
            last.remove(&edit.id);
            order.retain(|id| id != &edit.id);
            continue;
        }
        last.insert(edit.id.clone(), edit);
    }
    order
        .into_iter()
        .filter_map(|id| last.remove(&id))
        .collect()
}

/// The plan, for `kubectl apply -f`: each object to create or update, with
/// the fields the change removes set to `null`, and each deletion as a
/// `# delete peerauthentication NS/NAME` comment followed by the object
/// emptied (so that applying alone gives the table shown). A YAML stream for
/// the table formats and `-o yaml`; a `List` for `-o json`, `name` and
/// `jsonpath`.
fn plan(session: &Session<'_>, edits: &[Edit], before: &Snapshot) -> anyhow::Result<String> {
    let objects: Vec<(&Edit, Option<Value>)> = edits
        .iter()
        .map(|edit| (edit, edit.for_apply(original(before, edit))))
        .collect();
    let items: Vec<&Value> = objects.iter().filter_map(|(_, o)| o.as_ref()).collect();
    let names: Vec<String> = objects
        .iter()
        .map(|(edit, _)| edit.describe().replacen(' ', "/", 1))
        .collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    if session.args.output != Output::Yaml
        && let Some(text) = session.document(&list, &names)?
    {
        return Ok(text);
    }
    let mut out = String::new();
    for (edit, object) in &objects {
        if edit.kind == EditKind::Delete {
            out.push_str(&format!("# delete {}\n", edit.describe()));
        }
        if let Some(object) = object {
            out.push_str("---\n");
            out.push_str(&render::yaml(object)?);
        }
    }
    Ok(out)
}

/// The edited object as it is now, as read.
fn original<'s>(before: &'s Snapshot, edit: &Edit) -> Option<&'s Value> {
    let kind = edit.object["kind"].as_str().unwrap_or_default();
    before
        .policies
        .iter()
        .filter(|p| kind == "PeerAuthentication" && p.id == edit.id)
        .map(|p| &p.object)
        .chain(
            before
                .legacy_policies
                .iter()
                .filter(|p| p.id == edit.id && p.object["kind"] == kind)
                .map(|p| &p.object),
        )
        .next()
}
