//! Reading Kubernetes manifests (`-f`): files, directories and stdin; YAML streams,
//! JSON, and `kind: List`.
//!
//! Input is streamed: a YAML stream is read one document at a time, and the
//! items of a list go one by one into the collector, so memory follows the
//! objects `mtls` keeps, not the size of the input. Limits, so that hostile
//! input fails fast instead of exhausting the machine (all give exit 1,
//! whatever the objects' kinds):
//! - a document may be at most 256 MiB, and a JSON input is one document;
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
mod seed;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeSeed;

use crate::source::collect::{Collector, identity, is_list};
pub use crate::source::collect::{LoadOptions, Loaded, MAX_OBJECTS};
use documents::{Documents, RawDocument};
use seed::{DocumentSeed, Parsed};

/// The most a single document may hold (a JSON input is one document).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;
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
            walk(path, &mut files)
                .with_context(|| format!("cannot read directory {}", path.display()))?;
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

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Symlinked directories are not followed, so a link cannot make a loop.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, files)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) && std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads every input and builds the snapshot. Any malformed input fails the
/// whole load: nothing is half-read.
pub fn load(inputs: &[Input], options: &LoadOptions<'_>) -> anyhow::Result<Loaded> {
    let mut collector = Collector::default();
    for input in inputs {
        load_input(input, &mut collector)?;
    }
    collector.finish(options)
}

fn load_input(input: &Input, collector: &mut Collector) -> anyhow::Result<()> {
    let mut reader = input.open()?;
    if looks_like_json(input, &mut reader)? {
        return load_json(input, reader, collector);
    }
    for document in Documents::new(reader, &input.name, MAX_DOCUMENT_BYTES) {
        let document = document?;
        let place = Place {
            file: &input.name,
            document: document.number,
            line: Some(document.content_line),
        };
        let parsed = parse_yaml(&document, &input.name, &place.to_string())?;
        add(collector, parsed, &place)?;
    }
    Ok(())
}

/// Adds a parsed document: a list's items join only once the document is
/// known to be a list.
fn add(collector: &mut Collector, parsed: Parsed, place: &Place<'_>) -> anyhow::Result<()> {
    let Parsed { object, items } = parsed;
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

fn parse_yaml(document: &RawDocument, name: &str, place: &str) -> anyhow::Result<Parsed> {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    // Size is bounded by the document's bytes; what remains to bound is what a
    // few bytes can cost: nesting and aliases.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_events: usize::MAX,
            max_nodes: usize::MAX,
            max_total_scalar_bytes: MAX_DOCUMENT_BYTES,
            max_depth: MAX_DEPTH,
        },
        alias_limits: alias_limits,
    };
    serde_saphyr::with_deserializer_from_str_with_options(&document.text, options, |de| {
        DocumentSeed { place }.deserialize(de)
    })
    .map_err(|e| {
        let reason = e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
        match e.location() {
            Some(at) => anyhow::anyhow!(
                "invalid manifest {name}: line {}, column {}: {}",
                at.line() as usize + document.first_line - 1,
                at.column(),
                strip_location(&reason)
            ),
            None => anyhow::anyhow!("invalid manifest {name}: {reason}"),
        }
    })
}

fn load_json(
    input: &Input,
    reader: Box<dyn BufRead + '_>,
    collector: &mut Collector,
) -> anyhow::Result<()> {
    let place = Place {
        file: &input.name,
        document: 1,
        line: Some(1),
    };
    let mut limited = Limited {
        inner: reader,
        left: MAX_DOCUMENT_BYTES,
    };
    let mut de = serde_json::Deserializer::from_reader(&mut limited);
    let parsed = DocumentSeed {
        place: &place.to_string(),
    }
    .deserialize(&mut de)
    .and_then(|parsed| de.end().map(|()| parsed))
    .map_err(|e| {
        if e.is_io() {
            anyhow::anyhow!("{}: {}", input.name, json_reason(&e))
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

/// A reader that fails once more than `left` bytes are read from it.
struct Limited<R> {
    inner: R,
    left: usize,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n).ok_or_else(|| {
            std::io::Error::other(format!(
                "larger than the {} MiB a document may be",
                MAX_DOCUMENT_BYTES / (1024 * 1024)
            ))
        })?;
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
        assert_eq!(loaded.snapshot.api_version, "security.istio.io/v1beta1");
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
        let err = load_text("a: [1, 2\n").err().expect("fails");
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: line 1, column 4: unclosed bracket '['"
        );
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
        assert!(
            format!("{err:#}").starts_with("invalid manifest test.yaml"),
            "{err:#}"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = load_text(&deep).err().expect("deep nesting rejected");
        assert!(format!("{err:#}").contains("test.yaml"), "{err:#}");
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
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest test.yaml: line 6, column 7: unclosed bracket '['"
        );
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
        assert_eq!(
            format!("{err:#}"),
            "invalid manifest bad.json: line 2, column 10: expected value"
        );
    }

    #[test]
    fn a_limited_reader_fails_past_its_bytes() {
        let mut limited = Limited {
            inner: &b"0123456789A"[..],
            left: 10,
        };
        let mut out = Vec::new();
        let err = limited.read_to_end(&mut out).expect_err("over the limit");
        assert_eq!(err.to_string(), "larger than the 256 MiB a document may be");
        let mut limited = Limited {
            inner: &b"0123456789"[..],
            left: 10,
        };
        out.clear();
        assert_eq!(limited.read_to_end(&mut out).expect("within"), 10);
    }
}
