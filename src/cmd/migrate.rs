//! `mtls migrate`: print (and with `--apply`, write) the PeerAuthentications that
//! replace the legacy policies, after proving that every Service port keeps its
//! mode; exit 3 listing what cannot be kept.

use serde_json::Value;

use crate::cli::MigrateArgs;
use crate::cmd::{Session, listed, parse_targets, print_stdout};
use crate::error::{UsageError, Verdict};
use mtls::policy::Snapshot;
use mtls::policy::migrate::migrate;
use mtls::policy::model::object_id;
use mtls::policy::plan::{Edit, EditKind};
use mtls::render;
use mtls::source::cluster::Scope;
use mtls::target::Target;

pub fn run(session: &Session<'_>, args: &MigrateArgs) -> anyhow::Result<()> {
    let targets = parse_targets(&args.targets, session.args.namespace.as_deref())?;
    if targets
        .iter()
        .any(|t| matches!(t, Target::Mesh | Target::Port { .. } | Target::Pod { .. }))
    {
        return Err(UsageError(
            "migrate takes namespaces and Services (or nothing, for everything)".into(),
        )
        .into());
    }
    // Legacy policies are read as the clients' side of a snapshot, whichever API
    // the server prefers.
    let mut snapshot = session.snapshot_with_clients(&Scope::All)?;
    if snapshot.legacy_policies.is_empty() {
        session.note("no legacy authentication.istio.io policies: nothing to migrate");
        return Ok(());
    }
    snapshot.api = mtls::policy::IstioApi::Legacy;
    let index = mtls::policy::resolve::Index::new(&snapshot);
    for target in &targets {
        index.rows_for(target)?;
    }
    let api_version = if session.offline() {
        "security.istio.io/v1beta1".to_string()
    } else {
        session
            .connection()?
            .cluster()
            .peer_version
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the cluster serves no PeerAuthentication API to migrate to: upgrade Istio to 1.5 or later first"))?
    };
    let wanted = |svc: &mtls::policy::Service| {
        targets.is_empty()
            || targets.iter().any(|t| match t {
                Target::Namespace(ns) => &svc.id.namespace == ns,
                Target::Service { namespace, service } => {
                    &svc.id.namespace == namespace && &svc.id.name == service
                }
                _ => false,
            })
    };
    let migration = migrate(&snapshot, &api_version, &wanted);

    let mut stream = String::new();
    for object in &migration.objects {
        stream.push_str("---\n");
        stream.push_str(&render::yaml(object)?);
    }
    print_stdout(&stream)?;
    let (ports, keep) = match migration.kept {
        1 => ("Service port", "keeps its"),
        _ => ("Service ports", "keep their"),
    };
    let objects = match migration.objects.len() {
        1 => "this PeerAuthentication".to_string(),
        n => format!("these {n} PeerAuthentications"),
    };
    session.note(&format!(
        "{} {ports} {keep} mode with {objects}",
        migration.kept
    ));
    if !migration.problems.is_empty() {
        return Err(Verdict(format!(
            "{} cannot be migrated exactly:\n{}{}",
            if migration.problems.len() == 1 {
                "one thing"
            } else {
                "some things"
            },
            migration.problems.join("\n"),
            if args.apply {
                "\nnothing was written"
            } else {
                ""
            }
        ))
        .into());
    }
    if args.apply {
        apply(session, &snapshot, &migration.objects)?;
    }
    Ok(())
}

/// Writes the migration's PeerAuthentications, in order: a policy of the same
/// name is updated, else created. A failed write stops, naming what was
/// written and what was not.
fn apply(session: &Session<'_>, snapshot: &Snapshot, objects: &[Value]) -> anyhow::Result<()> {
    let connection = session.connection()?;
    let edits: Vec<Edit> = objects
        .iter()
        .map(|object| {
            let id = object_id(object);
            match snapshot.policy(&id) {
                Some(current) => {
                    let mut updated = current.object.clone();
                    updated["spec"] = object["spec"].clone();
                    Edit {
                        kind: EditKind::Update,
                        id,
                        object: updated,
                    }
                }
                None => Edit {
                    kind: EditKind::Create,
                    id,
                    object: object.clone(),
                },
            }
        })
        .collect();
    for (written, edit) in edits.iter().enumerate() {
        let result = connection.write(edit, false);
        if let Err(e) = result {
            return Err(crate::cmd::change::explain_write(connection.cluster(), e, edit)
                .context(format!(
                    "the migration stopped after {written} of {} PeerAuthentications: written: {}; not written: {}",
                    edits.len(),
                    listed(edits[..written].iter().map(Edit::describe)),
                    listed(edits[written..].iter().map(Edit::describe))
                )));
        }
        session.note(&format!("{} {}", edit.describe(), edit.kind.past_tense()));
    }
    session.note("the legacy policies still exist: check with `mtls get -A`, then delete them");
    Ok(())
}
