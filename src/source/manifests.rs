//! Reading Kubernetes manifests (`-f`): files, directories and stdin; YAML streams,
//! JSON, and `kind: List`.
//!
//! Limits, so that hostile input fails fast instead of exhausting the machine (all
//! give exit 1, whatever the objects' kinds): a file or stdin of at most 256 MiB;
//! per YAML stream at most 100,000 documents, 10,000,000 nodes, nesting 64 deep,
//! and aliases that expand to at most 100,000 parser events in all; JSON nesting
//! 128 deep.
//!
//! Objects of kinds `mtls` does not use are skipped without a word. A
//! PeerAuthentication that Istio cannot decode (an unknown mode, a port key that is
//! not a number) is skipped, as Istio skips it, with a warning; one that Istio's
//! validation would reject but its code still uses is loaded, with a warning.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::source::collect::Collector;
pub use crate::source::collect::{LoadOptions, Loaded};

/// The most a single input may hold.
pub const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;
const MAX_DOCUMENTS: usize = 100_000;
const MAX_NODES: usize = 10_000_000;
const MAX_DEPTH: usize = 64;
const MAX_ALIAS_EVENTS: usize = 100_000;

/// One file's text (or stdin's), with the name errors call it by.
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Reads every input that `-f` names: a file, a directory (recursively, its
/// `*.yaml`, `*.yml` and `*.json` files in name order, hidden ones left out) or
/// `-` for stdin.
pub fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_string(&mut text)
                .context("cannot read manifests from stdin")?;
            check_size("<stdin>", text.len() as u64)?;
            inputs.push(Input {
                name: "<stdin>".into(),
                text,
            });
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)
                .with_context(|| format!("cannot read directory {}", path.display()))?;
            for file in files {
                inputs.push(read_file(&file)?);
            }
        } else {
            inputs.push(read_file(path)?);
        }
    }
    Ok(inputs)
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

fn read_file(path: &Path) -> anyhow::Result<Input> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {name}"))?
        .len();
    check_size(&name, size)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{name}: not a text file (invalid UTF-8 at byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(Input { name, text })
}

fn check_size(name: &str, size: u64) -> anyhow::Result<()> {
    if size > MAX_INPUT_BYTES {
        bail!(
            "{name}: larger than the {} MiB a manifest input may be",
            MAX_INPUT_BYTES / (1024 * 1024)
        );
    }
    Ok(())
}

/// Parses every input and builds the snapshot. Any malformed input fails the
/// whole load: nothing is half-read.
pub fn load(inputs: &[Input], options: &LoadOptions<'_>) -> anyhow::Result<Loaded> {
    let mut collector = Collector::default();
    for input in inputs {
        for doc in parse_documents(input)? {
            collector
                .add(doc.value, &doc.place)
                .with_context(|| format!("invalid manifest {}", doc.place))?;
        }
    }
    collector.finish(options)
}

/// Where an object stands in the input, for errors: file, document and line.
struct Place {
    file: String,
    document: usize,
    line: Option<usize>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        Ok(())
    }
}

struct Document {
    value: Value,
    place: Place,
}

fn looks_like_json(input: &Input) -> bool {
    input.name.ends_with(".json")
        || (input.name == "<stdin>" && input.text.trim_start().starts_with(['{', '[']))
}

fn parse_documents(input: &Input) -> anyhow::Result<Vec<Document>> {
    if looks_like_json(input) {
        let value: Value = serde_json::from_str(&input.text).map_err(|e| {
            anyhow::anyhow!(
                "invalid manifest {}: line {}, column {}: {}",
                input.name,
                e.line(),
                e.column(),
                json_reason(&e)
            )
        })?;
        return Ok(vec![Document {
            value,
            place: Place {
                file: input.name.clone(),
                document: 1,
                line: Some(1),
            },
        }]);
    }
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_ALIAS_EVENTS;
    let options = serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            max_documents: MAX_DOCUMENTS,
            max_nodes: MAX_NODES,
            max_depth: MAX_DEPTH,
        },
        alias_limits: alias_limits,
    };
    let docs: Vec<serde_saphyr::Spanned<Value>> =
        serde_saphyr::from_multiple_with_options(&input.text, options).map_err(|e| {
            let reason = e.render_with_options(serde_saphyr::render_options! {
                snippets: serde_saphyr::SnippetMode::Off,
            });
            match e.location() {
                Some(at) => anyhow::anyhow!(
                    "invalid manifest {}: line {}, column {}: {}",
                    input.name,
                    at.line(),
                    at.column(),
                    strip_location(&reason)
                ),
                None => anyhow::anyhow!("invalid manifest {}: {reason}", input.name),
            }
        })?;
    Ok(docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| Document {
            place: Place {
                file: input.name.clone(),
                document: i + 1,
                line: usize::try_from(doc.referenced.line())
                    .ok()
                    .filter(|l| *l > 0),
            },
            value: doc.value,
        })
        .collect())
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
        let input = Input {
            name: "test.yaml".into(),
            text: text.into(),
        };
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
}
