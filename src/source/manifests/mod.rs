//! Reading Kubernetes manifests (`-f`): files, directories and stdin; YAML streams,
//! JSON, and `kind: List`.
//!
//! Input is streamed: a YAML stream is split into documents line by line, each
//! document is parsed from a reader over its lines, and the items of a list go
//! one by one into the collector; JSON is parsed from its reader. No input is
//! ever held whole, so memory follows the objects `mtls` keeps, not the size of
//! the input. Limits, so that hostile input fails fast instead of exhausting the
//! machine (all give exit 1, whatever the objects' kinds):
//! - an object (a document, or an item of a list) may take at most 16 MiB, ten
//!   times what etcd stores by default (1.5 MiB): parsed, an object may cost
//!   twenty times its text before it is reduced to what `mtls` keeps;
//! - a line may be at most 256 MiB (a one-line list of many objects); a list
//!   and a stream may be of any size;
//! - nesting at most 64 deep in YAML, 128 in JSON;
//! - aliases may expand to at most 100,000 parser events in a document;
//! - bytes YAML forbids (control characters but tab and line breaks) and
//!   invalid UTF-8 end the read where they stand: "not a text file";
//! - at most 500,000 kept objects in all ([`MAX_OBJECTS`]).
//!
//! Objects of kinds `mtls` does not use are skipped without a word. A
//! PeerAuthentication that Istio cannot decode (an unknown mode, a port key that is
//! not a number) is skipped, as Istio skips it, with a warning; one that Istio's
//! validation would reject but its code still uses is loaded, with a warning.

mod documents;
pub mod edit;
mod seed;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeSeed;

use crate::source::collect::{Collector, identity, is_list};
pub use crate::source::collect::{LoadOptions, Loaded, MAX_OBJECTS};
use documents::{Documents, Header};
use seed::{DocumentSeed, Parsed};

/// The most one object may take in its input: a document, or an item of a
/// list.
pub const MAX_OBJECT_BYTES: usize = 16 * 1024 * 1024;
/// The longest line.
pub const MAX_LINE_BYTES: usize = 256 * 1024 * 1024;
const MAX_DEPTH: usize = 64;
const MAX_ALIAS_EVENTS: usize = 100_000;

/// One input that `-f` names, by the name errors call it by.
pub struct Input {
    pub name: String,
    source: Source,
}

enum Source {
    Stdin,
    File(PathBuf),
    Text(String),
}

impl Input {
    /// An input held in memory.
    pub fn text(name: impl Into<String>, text: impl Into<String>) -> Self {
        Input {
            name: name.into(),
            source: Source::Text(text.into()),
        }
    }

    fn open(&self) -> anyhow::Result<Box<dyn BufRead + '_>> {
        Ok(match &self.source {
            Source::Stdin => Box::new(std::io::stdin().lock()),
            Source::File(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot read {}", self.name))?;
                Box::new(BufReader::with_capacity(64 * 1024, file))
            }
            Source::Text(text) => Box::new(text.as_bytes()),
        })
    }
}

/// Finds every input that `-f` names: a file, a directory (recursively, its
/// `*.yaml`, `*.yml` and `*.json` files in name order, hidden ones left out) or
/// `-` for stdin. Nothing is read yet.
pub fn find_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input {
                name: "<stdin>".into(),
                source: Source::Stdin,
            });
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            inputs.extend(files.into_iter().map(file_input));
        } else {
            inputs.push(file_input(path.clone()));
        }
    }
    Ok(inputs)
}

fn file_input(path: PathBuf) -> Input {
    Input {
        name: path.display().to_string(),
        source: Source::File(path),
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|entries| entries.collect::<Result<_, _>>())
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Symlinked directories are not followed, so a link cannot make a loop.
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            // A manifest that cannot be read (a dangling link) is an error,
            // never skipped: what it holds could change the answer.
            let target = std::fs::metadata(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if target.is_file() {
                files.push(path);
            }
        }
    }
    Ok(())
}

/// Reads every input and builds the snapshot. Any malformed input fails the
/// whole load: nothing is half-read.
pub fn load(inputs: &[Input], options: &LoadOptions<'_>) -> anyhow::Result<Loaded> {
    load_within(inputs, options, LIMITS)
}

/// What one object and one line may take.
#[derive(Clone, Copy)]
struct Limits {
    object: usize,
    line: usize,
}

const LIMITS: Limits = Limits {
    object: MAX_OBJECT_BYTES,
    line: MAX_LINE_BYTES,
};

fn load_within(
    inputs: &[Input],
    options: &LoadOptions<'_>,
    limits: Limits,
) -> anyhow::Result<Loaded> {
    let mut collector = Collector::default();
    for input in inputs {
        load_input(input, &mut collector, limits)?;
    }
    collector.finish(options)
}

fn load_input(input: &Input, collector: &mut Collector, limits: Limits) -> anyhow::Result<()> {
    let mut reader = input.open()?;
    if looks_like_json(input, &mut reader)? {
        return load_json(input, reader, collector, limits.object);
    }
    let mut documents = Documents::new(reader, &input.name, limits.line);
    while let Some((header, start)) = documents.next_document()? {
        let place = Place {
            file: &input.name,
            document: header.number,
            line: Some(header.content_line),
        };
        let parsed = parse_yaml(&mut documents, header, start, &place, limits.object)?;
        add(collector, parsed, &place)?;
    }
    Ok(())
}

/// Adds a parsed document: a list's items join only once the document is
/// known to be a list.
fn add(collector: &mut Collector, parsed: Parsed, place: &Place<'_>) -> anyhow::Result<()> {
    let Parsed { object, items } = parsed;
    collector.at(Some((place.file.to_string(), place.line.unwrap_or(1))));
    let listed = items.filter(|_| identity(&object).is_ok_and(|(api, kind)| is_list(&api, &kind)));
    let added = match listed {
        Some(items) => match items.error {
            Some(error) => Err(error),
            None => collector
                .add(object, place)
                .and_then(|()| collector.absorb(items.collector)),
        },
        None => collector.add(object, place),
    };
    added.with_context(|| format!("invalid manifest {place}"))
}

/// Where an object stands in the input, for errors: file, document and line.
struct Place<'a> {
    file: &'a str,
    document: usize,
    line: Option<usize>,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        Ok(())
    }
}

/// A `.json` file, or stdin that begins with `{` or `[`.
fn looks_like_json(input: &Input, reader: &mut dyn BufRead) -> anyhow::Result<bool> {
    match input.source {
        Source::File(_) | Source::Text(_) => Ok(input.name.ends_with(".json")),
        Source::Stdin => {
            let start = reader
                .fill_buf()
                .with_context(|| format!("cannot read {}", input.name))?;
            Ok(start
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| matches!(b, b'{' | b'[')))
        }
    }
}

/// How manifests are parsed: the loader and the editor's read-back agree.
fn yaml_options() -> serde_saphyr::Options {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    // Size is bounded per object by the reader; what remains to bound is what a
    // few bytes can cost: nesting and aliases.
    // Scalars are read as kubectl reads them (YAML 1.1, docs/semantics.md §6): `yes`, `on` and the
    // like are booleans, `012` is octal. A plan then means to kubectl what the
    // document meant, for every field mtls copies without touching it.
    serde_saphyr::options! {
        strict_booleans: false,
        legacy_octal_numbers: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: None,
            max_events: usize::MAX,
            max_nodes: usize::MAX,
            max_total_scalar_bytes: usize::MAX,
            max_depth: MAX_DEPTH,
            // The loader parses one document at a time; the editor reads a
            // file's documents at once, and a stream may hold any number.
            max_documents: usize::MAX,
        },
        alias_limits: alias_limits,
    }
}

fn parse_yaml<R: BufRead>(
    documents: &mut Documents<R>,
    header: Header,
    start: String,
    place: &Place<'_>,
    max_object: usize,
) -> anyhow::Result<Parsed> {
    let options = yaml_options();
    let name = place.file;
    let since_object = Cell::new(0);
    let what = place.to_string();
    let parsed = {
        let body = Budgeted {
            inner: documents.body(start),
            since_object: &since_object,
            limit: max_object,
        };
        serde_saphyr::with_deserializer_from_reader_with_options(body, options, |de| {
            DocumentSeed {
                place: &what,
                since_object: Some(&since_object),
            }
            .deserialize(de)
        })
    };
    parsed.map_err(|e| {
        if let Some(failed) = documents.failed.take() {
            return failed;
        }
        if since_object.get() > max_object {
            return too_large(&what, max_object);
        }
        let reason = yaml_reason(&e);
        match e.location() {
            Some(at) if at.line() > 0 => anyhow::anyhow!(
                "invalid manifest {name}: line {}, column {}: {reason}",
                at.line() as usize + header.first_line - 1,
                at.column(),
            ),
            _ => anyhow::anyhow!("invalid manifest {name}: {reason}"),
        }
    })
}

/// Why serde-saphyr failed, in the words of `mtls`'s limits where one was hit.
fn yaml_reason(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error;
    use serde_saphyr::budget::BudgetBreach;
    let mut cause = e;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = cause {
        cause = error;
    }
    match cause {
        Error::Budget {
            breach: BudgetBreach::Depth { .. },
            ..
        } => format!("nested more than {MAX_DEPTH} deep"),
        Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => {
            format!("aliases expand to more than {MAX_ALIAS_EVENTS} parser events")
        }
        Error::IOError { cause } => format!("cannot read: {cause}"),
        _ => {
            let reason = e.render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
            });
            strip_location(&reason).to_string()
        }
    }
}

fn too_large(what: &str, max_object: usize) -> anyhow::Error {
    const MIB: usize = 1024 * 1024;
    let limit = if max_object.is_multiple_of(MIB) {
        format!("{} MiB", max_object / MIB)
    } else {
        format!("{max_object} bytes")
    };
    anyhow::anyhow!(
        "invalid manifest {what}: an object is larger than the {limit} an object may be"
    )
}

fn load_json(
    input: &Input,
    reader: Box<dyn BufRead + '_>,
    collector: &mut Collector,
    max_object: usize,
) -> anyhow::Result<()> {
    let place = Place {
        file: &input.name,
        document: 1,
        line: Some(1),
    };
    let what = place.to_string();
    let since_object = Cell::new(0);
    let mut budgeted = Budgeted {
        inner: reader,
        since_object: &since_object,
        limit: max_object,
    };
    let mut de = serde_json::Deserializer::from_reader(&mut budgeted);
    let parsed = DocumentSeed {
        place: &what,
        since_object: Some(&since_object),
    }
    .deserialize(&mut de)
    .and_then(|parsed| de.end().map(|()| parsed))
    .map_err(|e| {
        if since_object.get() > max_object {
            too_large(&what, max_object)
        } else if e.is_io() {
            anyhow::anyhow!("cannot read {}: {}", input.name, json_reason(&e))
        } else {
            anyhow::anyhow!(
                "invalid manifest {}: line {}, column {}: {}",
                input.name,
                e.line(),
                e.column(),
                json_reason(&e)
            )
        }
    })?;
    add(collector, parsed, &place)
}

/// A reader that fails once an object takes more than `limit` bytes: the
/// count starts again at each item of a list (the parser reads a little ahead,
/// so the count is close, not exact). The caller, seeing the count over the
/// limit, says so in its error.
struct Budgeted<'a, R> {
    inner: R,
    since_object: &'a Cell<usize>,
    limit: usize,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_object.get() + n;
        self.since_object.set(total);
        if total > self.limit {
            return Err(std::io::Error::other("an object is over the size limit"));
        }
        Ok(n)
    }
}

/// serde-saphyr ends a plain message with " at line L, column C", which the
/// caller already says.
fn strip_location(reason: &str) -> &str {
    match reason.rfind(" at line ") {
        Some(i) => &reason[..i],
        None => reason,
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parse error names the file and where in it: what the parser says of
    /// the cause is its own wording, and may change with it.
    fn assert_parse_error(err: &anyhow::Error, place: &str) {
        let text = format!("{err:#}");
        assert!(
            text.starts_with(place) && text.len() > place.len(),
            "{text:?} should start with {place:?} and give a reason"
        );
    }

    fn load_text(text: &str) -> anyhow::Result<Loaded> {
        let input = Input::text("test.yaml", text);
        load(
            &[input],
            &LoadOptions {
                root_namespace: None,
                api: Api::Auto,
            },
        )
    }

    use crate::source::Api;

    #[test]
    fn multi_document_yaml_and_lists_are_read_and_other_kinds_skipped() {
        let loaded = load_text(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: ns}\n  spec: {selector: {app: a}, ports: [{port: 80}]}\n---\n\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: ns}\nspec: {mtls: {mode: STRICT}}\n",
        )
        .expect("loads");
        assert_eq!(loaded.snapshot.services.len(), 1);
        assert_eq!(loaded.snapshot.policies.len(), 1);
        assert_eq!(
            loaded.snapshot.api.write_version(),
            "security.istio.io/v1beta1"
        );
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert!(loaded.snapshot.namespaces.contains_key("ns"));
    }

    #[test]
    fn malformed_input_names_file_document_and_reason() {
        let err = load_text("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: Pod\n")
            .err()
            .expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: document 2 at line 5: the object has no apiVersion"
        );
        let err = load_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: 5}\n")
            .err()
            .expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: document 1 at line 1: metadata.name: expected a string, found a number"
        );
        let err =
            load_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: [1]}}\n")
                .err()
                .expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: document 1 at line 1: metadata.labels: x: expected a string, found a list"
        );
        let err = load_text("a: [1, 2\n").err().expect("fails");
        assert_parse_error(&err, "invalid manifest test.yaml: line 1, column 4: ");
    }

    #[test]
    fn undecodable_policies_are_skipped_with_a_warning() {
        let loaded = load_text(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p, namespace: ns}\nspec: {mtls: {mode: strict}}\n",
        )
        .expect("loads");
        assert!(loaded.snapshot.policies.is_empty());
        assert_eq!(loaded.snapshot.skipped_policies.len(), 1);
        assert_eq!(
            loaded.warnings,
            [
                "peerauthentication ns/p (test.yaml: document 1 at line 1) is ignored, as Istio ignores it: \
              spec.mtls.mode: unknown mTLS mode \"strict\" (expected UNSET, DISABLE, PERMISSIVE or STRICT)"
            ]
        );
    }

    #[test]
    fn root_namespace_comes_from_the_mesh_config() {
        let loaded = load_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: |\n    rootNamespace: istio-config\n    trustDomain: cluster.local\n",
        )
        .expect("loads");
        assert_eq!(loaded.snapshot.root_namespace, "istio-config");
        let loaded = load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: istio-system}\ndata: {mesh: 'rootNamespace: x'}\n").expect("loads");
        assert_eq!(loaded.snapshot.root_namespace, "istio-system");
    }

    #[test]
    fn alias_bombs_and_deep_nesting_fail_fast() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (i, c) in ('b'..='j').enumerate() {
            let prev = (b'a' + i as u8) as char;
            bomb.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let err = load_text(&bomb).err().expect("alias bomb rejected");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: line 5, column 29: aliases expand to more than 100000 parser events"
        );
        let deep: String = (0..100).map(|i| format!("{}-\n", "  ".repeat(i))).collect();
        let err = load_text(&deep).err().expect("deep nesting rejected");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: line 65, column 129: nested more than 64 deep"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = load_text(&deep).err().expect("deep nesting rejected");
        assert!(
            format!("{err:#}").starts_with("invalid manifest test.yaml: line 1, column"),
            "{err:#}"
        );
    }

    #[test]
    fn list_items_before_the_kind_are_read_and_other_kinds_keep_theirs_out() {
        // kubectl writes `items` before `kind`.
        let loaded = load_text(
            "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\nkind: List\n---\n\
             apiVersion: example.com/v1\nkind: Widget\nitems: [1, {kind: Namespace}]\n---\n\
             apiVersion: example.com/v1\nkind: Gadget\nitems: none\n",
        )
        .expect("loads");
        assert_eq!(
            loaded.snapshot.namespaces.keys().collect::<Vec<_>>(),
            ["a", "istio-system"]
        );
        let err = load_text("apiVersion: v1\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- 7\nkind: List\n")
            .err()
            .expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: document 1 at line 1: item 2: expected a Kubernetes object (a map), found the number 7"
        );
        let err = load_text("apiVersion: v1\nkind: List\nitems: 7\n")
            .err()
            .expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: document 1 at line 1: items must be a list, found the number 7"
        );
    }

    #[test]
    fn errors_in_later_documents_give_the_line_in_the_file() {
        let err = load_text(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# note\nkind: [\n",
        )
        .err()
        .expect("fails");
        assert_parse_error(&err, "invalid manifest test.yaml: line 6, column 7: ");
    }

    #[test]
    fn json_lists_are_read_item_by_item() {
        let input = Input::text(
            "list.json",
            r#"{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}], "kind": "List"}"#,
        );
        let options = LoadOptions {
            root_namespace: None,
            api: Api::Auto,
        };
        let loaded = load(&[input], &options).expect("loads");
        assert!(loaded.snapshot.namespaces.contains_key("a"));
        let input = Input::text("bad.json", "{\"apiVersion\": \"v1\",\n \"kind\": }");
        let err = load(&[input], &options).err().expect("fails");
        assert_parse_error(&err, "invalid manifest bad.json: line 2, column 10: ");
    }

    #[test]
    fn an_object_over_the_limit_fails_and_each_item_starts_a_new_count() {
        let limits = Limits {
            object: 1024,
            line: 4096,
        };
        let load_small = |name: &str, text: String| {
            let options = LoadOptions {
                root_namespace: None,
                api: Api::Auto,
            };
            load_within(&[Input::text(name, text)], &options, limits)
        };
        let namespace = |i: usize| {
            format!(
                "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: ns{i}\n    labels: {{team: {}}}\n",
                "x".repeat(40)
            )
        };
        // A list of 100 small items, ten times the limit in all, loads.
        let items: String = (0..100).map(namespace).collect();
        let loaded = load_small(
            "list.yaml",
            format!("apiVersion: v1\nkind: List\nitems:\n{items}"),
        )
        .expect("every item is within the limit");
        assert_eq!(loaded.snapshot.namespaces.len(), 101);
        let json_items: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"apiVersion": "v1", "kind": "Namespace", "metadata": {{"name": "ns{i}", "labels": {{"team": "{}"}}}}}}"#, "x".repeat(40)))
            .collect();
        let loaded = load_small(
            "list.json",
            format!(
                r#"{{"apiVersion": "v1", "kind": "List", "items": [{}]}}"#,
                json_items.join(",\n")
            ),
        )
        .expect("every item is within the limit");
        assert_eq!(loaded.snapshot.namespaces.len(), 101);

        // One object over the limit fails, whether a document or an item, in
        // lines each within theirs.
        let labels: String = (0..100).map(|i| format!("    k{i}: v\n")).collect();
        let big =
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: big\n  labels:\n{labels}");
        let err = load_small(
            "big.yaml",
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: a}}\n---\n{big}"),
        )
        .err()
        .expect("over the limit");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest big.yaml: document 2 at line 5: an object is larger than the 1024 bytes an object may be"
        );
        let err = load_small(
            "big-item.yaml",
            format!(
                "apiVersion: v1\nkind: List\nitems:\n{}- {}",
                namespace(0),
                big.replace('\n', "\n  ")
            ),
        )
        .err()
        .expect("over the limit");
        assert!(
            format!("{err:#}")
                .ends_with("an object is larger than the 1024 bytes an object may be"),
            "{err:#}"
        );
        let labels: Vec<String> = (0..100).map(|i| format!(r#""k{i}": "v""#)).collect();
        let err = load_small(
            "big.json",
            format!(r#"{{"apiVersion": "v1", "kind": "Namespace", "metadata": {{"name": "big", "labels": {{{}}}}}}}"#, labels.join(",\n")),
        )
        .err()
        .expect("over the limit");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest big.json: document 1 at line 1: an object is larger than the 1024 bytes an object may be"
        );
    }
}
