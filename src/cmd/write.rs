//! `--write` and `--diff`: a change made to the manifests that `-f` read,
//! where the policies live. Every file is edited in memory first, and read
//! back (`manifests::edit`); only then is anything written, one file at a
//! time, each by a rename, so that a file is either as it was or as planned.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use colored::Colorize;
use serde_json::Value;

use crate::error::UsageError;
use mtls::policy::Snapshot;
use mtls::policy::plan::{Edit, EditKind, PolicyKind};
use mtls::source::manifests::edit::{self, ObjectKey};

/// One file the change touches: as read (`None`: new) and as it will be
/// (`None`: removed, it held nothing else).
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The objects changed in it, as messages name them.
    pub objects: Vec<String>,
}

impl FileChange {
    pub fn verb(&self, done: bool) -> &'static str {
        match (&self.before, &self.after, done) {
            (None, _, true) => "created",
            (None, _, false) => "would be created",
            (Some(_), None, true) => "deleted",
            (Some(_), None, false) => "would be deleted",
            (Some(_), Some(_), true) => "edited",
            (Some(_), Some(_), false) => "would be edited",
        }
    }
}

/// Where the edits go and what each file becomes. Fails, naming the file,
/// when one cannot be edited safely; nothing is written here.
pub fn plan(
    edits: &[Edit],
    before: &Snapshot,
    originals: &dyn Fn(&Edit) -> Option<Value>,
    inputs: &[PathBuf],
    write_to: Option<&Path>,
) -> anyhow::Result<Vec<FileChange>> {
    let mut files: BTreeMap<PathBuf, FileChange> = BTreeMap::new();
    let mut order: Vec<PathBuf> = Vec::new();
    for edit in edits {
        let name = edit.describe();
        let kind = edit.object["kind"].as_str().unwrap_or_default().to_string();
        let key = ObjectKey {
            kind: &kind,
            namespace: edit.namespace(),
            name: &edit.id.name,
        };
        let path = match edit.kind {
            EditKind::Create => home_of(edit, before, inputs, write_to)?,
            EditKind::Update | EditKind::Delete => {
                let (file, _) = before
                    .origins
                    .get(&name)
                    .with_context(|| format!("cannot tell which file holds {name}"))?;
                if file == "<stdin>" {
                    return Err(UsageError(format!(
                        "{name} was read from stdin, which --write cannot edit; \
                         name its file with -f, or drop --write to print the plan"
                    ))
                    .into());
                }
                PathBuf::from(file)
            }
        };
        if !files.contains_key(&path) {
            let before = match std::fs::read_to_string(&path) {
                Ok(text) => Some(text),
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && edit.kind == EditKind::Create =>
                {
                    None
                }
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            };
            if let Some(text) = &before {
                refuse_unplain(&path, text)?;
            }
            files.insert(
                path.clone(),
                FileChange {
                    path: path.clone(),
                    after: before.clone(),
                    before,
                    objects: Vec::new(),
                },
            );
            order.push(path.clone());
        }
        let file = files.get_mut(&path).expect("inserted above");
        let text = file.after.as_deref().unwrap_or_default();
        let cannot = |reason: String| {
            anyhow::anyhow!(
                "cannot edit {} for {name}: {reason}; nothing was written",
                path.display()
            )
        };
        file.after = match edit.kind {
            EditKind::Create => Some(edit::append(text, &edit.object).map_err(cannot)?),
            EditKind::Update => {
                let old = originals(edit)
                    .with_context(|| format!("{name} is not in the manifests read"))?;
                Some(edit::update(text, &key, &old, &edit.object).map_err(cannot)?)
            }
            EditKind::Delete => edit::delete(text, &key).map_err(cannot)?,
        };
        file.objects.push(name);
    }
    Ok(order
        .into_iter()
        .filter_map(|path| files.remove(&path))
        .filter(|f| f.before != f.after)
        .collect())
}

/// A file that is no plain manifest is not edited: its generator would
/// write it again, or it is a template.
fn refuse_unplain(path: &Path, text: &str) -> anyhow::Result<()> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with(['{', '[']);
    if json {
        bail!(
            "cannot edit {}: it is JSON, and --write edits YAML only; nothing was written",
            path.display()
        );
    }
    let objects = edit::objects(text).unwrap_or_default();
    let objects: Vec<&Value> = objects.iter().collect();
    if let Some(reason) = edit::generated(text, &objects) {
        bail!(
            "cannot edit {}: {reason}; nothing was written",
            path.display()
        );
    }
    Ok(())
}

/// The file a new policy goes to: `--write-to`, else the first file (by
/// path) that holds policies of its kind in its namespace, else
/// `NS/KIND-NAME.yaml` under the first directory `-f` names.
fn home_of(
    edit: &Edit,
    before: &Snapshot,
    inputs: &[PathBuf],
    write_to: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = write_to {
        return Ok(path.to_path_buf());
    }
    let kind = edit.policy_kind();
    let prefix = match edit.namespace() {
        Some(ns) => format!("{} {ns}/", kind.singular()),
        None => format!("{} ", kind.singular()),
    };
    let neighbour = before
        .origins
        .iter()
        .filter(|(key, (file, _))| key.starts_with(&prefix) && file != "<stdin>")
        .map(|(_, (file, _))| file)
        .min();
    if let Some(file) = neighbour {
        return Ok(PathBuf::from(file));
    }
    let Some(dir) = inputs.iter().find(|p| p.is_dir()) else {
        return Err(UsageError(format!(
            "{} is new, and no -f names a directory to put it in: choose its file with --write-to FILE",
            edit.describe()
        ))
        .into());
    };
    let file = format!("{}-{}.yaml", kind.singular(), edit.id.name);
    Ok(match (kind, edit.namespace()) {
        (PolicyKind::MeshPolicy, _) | (_, None) => dir.join(file),
        (_, Some(ns)) => dir.join(ns).join(file),
    })
}

/// Writes every file, in order. A file that changed since it was read is
/// not written. On a failure, says which files were written and which not.
pub fn commit(files: &[FileChange]) -> anyhow::Result<()> {
    for (i, file) in files.iter().enumerate() {
        if let Err(e) = commit_one(file) {
            let written: Vec<String> = files[..i]
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let unwritten: Vec<String> = files[i..]
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let written = if written.is_empty() {
                "nothing".to_string()
            } else {
                written.join(", ")
            };
            return Err(e.context(format!(
                "the change stopped part way: written: {written}; not written: {}",
                unwritten.join(", ")
            )));
        }
    }
    Ok(())
}

fn commit_one(file: &FileChange) -> anyhow::Result<()> {
    let path = &file.path;
    let now = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if now != file.before {
        bail!(
            "{} changed while mtls was editing it; it was left as it is now",
            path.display()
        );
    }
    match &file.after {
        None => {
            std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
        }
        Some(text) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temporary = dir.join(format!(".{name}.mtls-{}", std::process::id()));
            let written = std::fs::write(&temporary, text)
                .and_then(|()| match std::fs::metadata(path) {
                    Ok(meta) => std::fs::set_permissions(&temporary, meta.permissions()),
                    Err(_) => Ok(()),
                })
                .and_then(|()| std::fs::rename(&temporary, path));
            if written.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
            written.with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

/// The files' changes as a unified diff that `patch -p0` applies: paths as
/// `-f` named them, `/dev/null` for a file created or removed.
pub fn diff(files: &[FileChange], color: bool) -> String {
    let mut out = String::new();
    for file in files {
        let path = file.path.display().to_string();
        let old = file.before.as_deref().unwrap_or_default();
        let new = file.after.as_deref().unwrap_or_default();
        let from = if file.before.is_some() {
            path.as_str()
        } else {
            "/dev/null"
        };
        let to = if file.after.is_some() {
            path.as_str()
        } else {
            "/dev/null"
        };
        let text = similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(from, to)
            .to_string();
        for line in text.split_inclusive('\n') {
            if !color {
                out.push_str(line);
                continue;
            }
            let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            let painted = if body.starts_with("+++") || body.starts_with("---") {
                body.bold().to_string()
            } else if body.starts_with('+') {
                body.green().to_string()
            } else if body.starts_with('-') {
                body.red().to_string()
            } else if body.starts_with("@@") {
                body.cyan().to_string()
            } else {
                body.to_string()
            };
            out.push_str(&painted);
            out.push_str(end);
        }
    }
    out
}
