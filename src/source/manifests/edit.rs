//! Editing a manifest in place (`--write`): a policy's document changes only
//! where its value changes, so that comments, key order, indentation, quoting
//! and every other document stay byte for byte as they were.
//!
//! The file is parsed into a tree of nodes with their byte ranges (granit, the
//! YAML parser serde-saphyr is built on); the edit is the difference between
//! the object as read and as planned, turned into the smallest text changes:
//! a scalar is replaced where it stands, in its quoting style; an entry that
//! goes loses its lines (and the comment lines right above it, which speak of
//! it); an entry that comes is added after its mapping's last one, at that
//! mapping's indentation. A flow collection that changes (`{mode: STRICT}`) is
//! written again, in flow style. Every result is read back with the loader's
//! own options and must give exactly the planned objects, or nothing is
//! written (docs/guide.md, "Changes in a Git tree").
//!
//! Pure: text in, text out.

use granit_parser::{Event, Parser, ScalarStyle, StructureStyle};
use serde_json::{Map, Value};

/// Which object of a file: kind, namespace (`None` for a cluster-scoped one)
/// and name, as the loader names them (a missing namespace is `default`).
#[derive(Debug, Clone, Copy)]
pub struct ObjectKey<'a> {
    pub kind: &'a str,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
}

impl std::fmt::Display for ObjectKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.kind.to_lowercase();
        match self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name),
            None => write!(f, "{kind} {}", self.name),
        }
    }
}

/// The file with the object changed from `old` (as the loader read it) to
/// `new`; fields of the file that `old` lacks stay as they are.
pub fn update(text: &str, key: &ObjectKey<'_>, old: &Value, new: &Value) -> Result<String, String> {
    let file = File::parse(text)?;
    let (found, full) = file.find(key)?;
    let desired = carry_over(full, old, new);
    let mut editor = Editor::new(text, found.unit);
    editor.patch(found.node, Slot::Root, full, &desired)?;
    let edited = editor.apply()?;
    let mut expected = file.objects.clone();
    expected[found.object] = desired;
    verify(&edited, &expected)?;
    Ok(edited)
}

/// The file without the object: its document goes, or its item of a `List`.
/// `None` when nothing but comments and blank lines would be left.
pub fn delete(text: &str, key: &ObjectKey<'_>) -> Result<Option<String>, String> {
    let file = File::parse(text)?;
    let (found, _) = file.find(key)?;
    let mut editor = Editor::new(text, found.unit);
    match found.item {
        None => {
            let doc = &file.documents[found.document];
            editor.edits.push((doc.start, doc.end, String::new()));
        }
        Some((list, index)) => editor.remove_item(list, index)?,
    }
    let edited = editor.apply()?;
    let mut expected = file.objects.clone();
    expected.remove(found.object);
    verify(&edited, &expected)?;
    let empty = edited.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    });
    Ok((!empty).then_some(edited))
}

/// The file with `object` added as a document of its own, at the end.
pub fn append(text: &str, object: &Value) -> Result<String, String> {
    let file = File::parse(text)?;
    let mut added = String::new();
    if !file.objects.is_empty() || text.lines().any(|l| !l.trim().is_empty()) {
        if !text.is_empty() && !text.ends_with('\n') {
            added.push('\n');
        }
        added.push_str("---\n");
    }
    added.push_str(&document(object));
    let edited = format!("{text}{}", in_line_breaks_of(text, added));
    let mut expected = file.objects;
    expected.push(object.clone());
    verify(&edited, &expected)?;
    Ok(edited)
}

/// An object as a YAML document of its own, in the style `mtls` writes.
pub fn document(object: &Value) -> String {
    let mut out = String::new();
    block(&mut out, object, 0, 2);
    out.push('\n');
    out
}

/// Why a file is no plain manifest that can be edited safely: a template,
/// or the output of a generator that would write it again. `None` when it is
/// plain. `objects` are the file's objects, for the marks generators leave on
/// them.
pub fn generated(text: &str, objects: &[&Value]) -> Option<String> {
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let trimmed = line.trim_start();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim();
            if comment.starts_with("Source: ") {
                return Some(format!(
                    "it is the output of `helm template` (line {number}: `{}`): edit the chart or its values",
                    trimmed.trim_end()
                ));
            }
            if comment.contains("Code generated") && comment.contains("DO NOT EDIT") {
                return Some(format!(
                    "it says it is generated (line {number}: `{}`): edit what generates it",
                    trimmed.trim_end()
                ));
            }
            continue;
        }
        if line.contains("{{") {
            return Some(format!(
                "it is a template, not a manifest (line {number} holds a template action `{{{{ … }}}}`): \
                 edit the template by hand, or its values"
            ));
        }
    }
    for object in objects {
        let labels = &object["metadata"]["labels"];
        let annotations = &object["metadata"]["annotations"];
        if let Some(chart) = labels["helm.sh/chart"].as_str() {
            return Some(format!(
                "it was rendered from the Helm chart {chart} (label helm.sh/chart): edit the chart or its values"
            ));
        }
        if labels["app.kubernetes.io/managed-by"].as_str() == Some("Helm")
            || annotations["meta.helm.sh/release-name"].is_string()
        {
            return Some(
                "it was rendered by Helm (app.kubernetes.io/managed-by: Helm): edit the chart or its values"
                    .to_string(),
            );
        }
        if annotations["config.kubernetes.io/origin"].is_string() {
            return Some(
                "it is the output of `kustomize build` (annotation config.kubernetes.io/origin): \
                 edit the kustomization's sources"
                    .to_string(),
            );
        }
    }
    None
}

/// Every object of a YAML stream, read with the loader's options: each
/// document, and each item of a `List`, in order; empty documents left out.
pub fn objects(text: &str) -> Result<Vec<Value>, String> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, super::yaml_options())
            .map_err(|e| format!("not valid YAML: {}", super::yaml_reason(&e)))?;
    let mut objects = Vec::new();
    for document in documents {
        match document {
            Value::Null => {}
            Value::Object(map) if is_list(&map) => {
                if let Some(Value::Array(items)) = map.get("items") {
                    objects.extend(items.iter().cloned());
                }
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}

fn is_list(map: &Map<String, Value>) -> bool {
    let api = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    crate::source::collect::is_list(api, kind)
}

/// The edited text, read back, must hold exactly the expected objects.
fn verify(edited: &str, expected: &[Value]) -> Result<(), String> {
    let read = objects(edited).map_err(|e| format!("the edit would leave the file {e}"))?;
    if read != expected {
        return Err(
            "the edit would not read back as planned (an unusual layout); \
                    change this file by hand"
                .to_string(),
        );
    }
    Ok(())
}

/// `full` (the object as the file holds it) with the changes from `old` to
/// `new` made: where `old` and `new` agree, `full` stays, even in fields the
/// loader did not keep.
fn carry_over(full: &Value, old: &Value, new: &Value) -> Value {
    if old == new {
        return full.clone();
    }
    match (full, old, new) {
        (Value::Object(f), Value::Object(o), Value::Object(n)) => {
            let mut out = Map::new();
            for (key, value) in f {
                match (o.get(key), n.get(key)) {
                    (Some(_), None) => {}
                    (Some(ov), Some(nv)) => {
                        out.insert(key.clone(), carry_over(value, ov, nv));
                    }
                    (None, Some(nv)) => {
                        out.insert(key.clone(), nv.clone());
                    }
                    (None, None) => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            for (key, value) in n {
                if !out.contains_key(key) && !f.contains_key(key) {
                    out.insert(key.clone(), value.clone());
                }
            }
            Value::Object(out)
        }
        _ => new.clone(),
    }
}

/// A node of the file and the bytes it spans.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar {
        value: String,
        style: ScalarStyle,
    },
    Map {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
    },
    Alias,
}

struct Document {
    /// Where the document's text begins: its `---` line, or where the one
    /// before ended.
    start: usize,
    end: usize,
    root: Option<Node>,
    /// Anchors or aliases: a change could reach what another node shares.
    shares: bool,
    unit: usize,
}

struct File {
    documents: Vec<Document>,
    /// The objects, as [`objects`] reads them.
    objects: Vec<Value>,
    /// For each object: its document and, in a `List`, its item.
    places: Vec<(usize, Option<usize>)>,
}

/// An object found in a file.
struct Found<'f> {
    node: &'f Node,
    document: usize,
    /// The `items` sequence and the item's index, for an item of a `List`.
    item: Option<(&'f Node, usize)>,
    object: usize,
    unit: usize,
}

impl File {
    fn parse(text: &str) -> Result<File, String> {
        let objects = objects(text)?;
        let documents = build(text)?;
        let mut places = Vec::new();
        for (d, document) in documents.iter().enumerate() {
            let Some(root) = &document.root else { continue };
            match &root.kind {
                Kind::Scalar { value, .. } if value == "~" || value.is_empty() => {}
                Kind::Map { entries, .. } if is_list_node(entries) => {
                    if let Some(Node {
                        kind: Kind::Seq { items, .. },
                        ..
                    }) = get(entries, "items")
                    {
                        places.extend((0..items.len()).map(|i| (d, Some(i))));
                    }
                }
                _ => places.push((d, None)),
            }
        }
        if places.len() != objects.len() {
            return Err(
                "its layout is too unusual to edit safely (anchors, tags or merge keys \
                        around the objects); change it by hand"
                    .to_string(),
            );
        }
        Ok(File {
            documents,
            objects,
            places,
        })
    }

    /// The last object of the file that is `key` (the loader keeps the last
    /// of two), with the object as the file holds it.
    fn find(&self, key: &ObjectKey<'_>) -> Result<(Found<'_>, &Value), String> {
        let index = self
            .objects
            .iter()
            .rposition(|o| matches(o, key))
            .ok_or_else(|| format!("{key} is not in it"))?;
        let (d, item) = self.places[index];
        let document = &self.documents[d];
        if document.shares {
            return Err(format!(
                "its document of {key} uses YAML anchors or aliases, which an edit could change \
                 elsewhere; change it by hand"
            ));
        }
        let root = document.root.as_ref().ok_or("an empty document")?;
        let (node, item) = match item {
            None => (root, None),
            Some(i) => {
                let Kind::Map { entries, .. } = &root.kind else {
                    return Err("an unusual List".into());
                };
                let Some(
                    list @ Node {
                        kind: Kind::Seq { items, .. },
                        ..
                    },
                ) = get(entries, "items")
                else {
                    return Err("an unusual List".into());
                };
                (&items[i], Some((list, i)))
            }
        };
        Ok((
            Found {
                node,
                document: d,
                item,
                object: index,
                unit: document.unit,
            },
            &self.objects[index],
        ))
    }
}

fn matches(object: &Value, key: &ObjectKey<'_>) -> bool {
    let meta = &object["metadata"];
    let namespace = match meta["namespace"].as_str() {
        None | Some("") => crate::policy::model::DEFAULT_NAMESPACE,
        Some(ns) => ns,
    };
    object["kind"].as_str() == Some(key.kind)
        && meta["name"].as_str() == Some(key.name)
        && key.namespace.is_none_or(|ns| ns == namespace)
}

fn is_list_node(entries: &[(Node, Node)]) -> bool {
    let text = |key: &str| match get(entries, key) {
        Some(Node {
            kind: Kind::Scalar { value, .. },
            ..
        }) => value.as_str(),
        _ => "",
    };
    crate::source::collect::is_list(text("apiVersion"), text("kind"))
}

fn get<'n>(entries: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| key_text(k) == Some(key))
        .map(|(_, v)| v)
}

fn key_text(node: &Node) -> Option<&str> {
    match &node.kind {
        Kind::Scalar { value, .. } => Some(value),
        _ => None,
    }
}

/// The documents of a stream, each a tree of nodes with their byte ranges.
fn build(text: &str) -> Result<Vec<Document>, String> {
    enum Open {
        Map(usize, bool, Vec<Node>),
        Seq(usize, bool, Vec<Node>),
    }
    let mut documents = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    let mut shares = false;
    let mut doc_start = 0;
    let mut previous_end = 0;
    let byte = |marker: granit_parser::Marker| marker.byte_offset().unwrap_or(marker.index());
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| format!("not valid YAML: {e}"))?;
        let (start, end) = (byte(span.start), byte(span.end));
        let node = match event {
            Event::DocumentStart(explicit, _) => {
                doc_start = if explicit {
                    line_start(text, start)
                } else {
                    previous_end
                };
                root = None;
                shares = false;
                continue;
            }
            Event::DocumentEnd => {
                let end = if end > start {
                    line_end(text, end)
                } else {
                    start
                };
                previous_end = end;
                documents.push(Document {
                    start: doc_start,
                    end,
                    unit: root.as_ref().map_or(2, |r| indent_unit(text, r)),
                    root: root.take(),
                    shares,
                });
                continue;
            }
            Event::MappingStart(style, anchor, _) => {
                shares |= anchor != 0;
                stack.push(Open::Map(start, style == StructureStyle::Flow, Vec::new()));
                continue;
            }
            Event::SequenceStart(style, anchor, _) => {
                shares |= anchor != 0;
                stack.push(Open::Seq(start, style == StructureStyle::Flow, Vec::new()));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Open::Map(open, flow, children)) => {
                    let close = if flow {
                        end
                    } else {
                        children.last().map_or(open, |c| c.end)
                    };
                    let mut entries = Vec::new();
                    let mut children = children.into_iter();
                    while let (Some(k), Some(v)) = (children.next(), children.next()) {
                        entries.push((k, v));
                    }
                    Node {
                        start: open,
                        end: close,
                        kind: Kind::Map { flow, entries },
                    }
                }
                Some(Open::Seq(open, flow, items)) => {
                    let close = if flow {
                        end
                    } else {
                        items.last().map_or(open, |c| c.end)
                    };
                    Node {
                        start: open,
                        end: close,
                        kind: Kind::Seq { flow, items },
                    }
                }
                None => return Err("an unbalanced YAML stream".into()),
            },
            Event::Scalar(value, style, anchor, _) => {
                shares |= anchor != 0;
                Node {
                    start,
                    end,
                    kind: Kind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                }
            }
            Event::Alias(_) | Event::UnresolvedAlias(_) => {
                shares = true;
                Node {
                    start,
                    end,
                    kind: Kind::Alias,
                }
            }
            _ => continue,
        };
        match stack.last_mut() {
            Some(Open::Map(_, _, children) | Open::Seq(_, _, children)) => children.push(node),
            None => root = Some(node),
        }
    }
    // A document ends where the next begins.
    for i in 1..documents.len() {
        let next = documents[i].start;
        if documents[i - 1].end < next {
            documents[i - 1].end = next;
        }
    }
    if let Some(last) = documents.last_mut() {
        last.end = text.len();
    }
    Ok(documents)
}

/// How far a document indents a nested block mapping: the least step from a
/// key to the keys of its value; 2 when it nests none.
fn indent_unit(text: &str, node: &Node) -> usize {
    fn walk(text: &str, node: &Node, least: &mut Option<usize>) {
        match &node.kind {
            Kind::Map {
                flow: false,
                entries,
            } => {
                for (key, value) in entries {
                    if let Kind::Map {
                        flow: false,
                        entries: inner,
                    } = &value.kind
                        && let Some((first, _)) = inner.first()
                    {
                        let step =
                            column(text, first.start).saturating_sub(column(text, key.start));
                        if step > 0 {
                            *least = Some(least.map_or(step, |l: usize| l.min(step)));
                        }
                    }
                    walk(text, value, least);
                }
            }
            Kind::Seq { items, .. } => items.iter().for_each(|i| walk(text, i, least)),
            _ => {}
        }
    }
    let mut least = None;
    walk(text, node, &mut least);
    least.unwrap_or(2)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The end of the line `at` is on, after its line break; `at` itself when it
/// begins a line (a block scalar's range ends there).
fn line_end(text: &str, at: usize) -> usize {
    if at > 0 && text.as_bytes()[at - 1] == b'\n' {
        return at;
    }
    text[at..].find('\n').map_or(text.len(), |i| at + i + 1)
}

/// The start of the line of `at`, or of the comment lines right above it
/// at the same indentation: they speak of what is at `at`.
fn with_comments_above(text: &str, at: usize) -> usize {
    let indent = column(text, at);
    let mut start = line_start(text, at);
    while start > 0 {
        let above = line_start(text, start - 1);
        let line = &text[above..start];
        let trimmed = line.trim_start();
        if !trimmed.starts_with('#') || line.len() - trimmed.len() != indent {
            break;
        }
        start = above;
    }
    start
}

fn column(text: &str, at: usize) -> usize {
    at - line_start(text, at)
}

/// Whether `at` is the first thing on its line.
fn first_on_line(text: &str, at: usize) -> bool {
    text[line_start(text, at)..at].trim().is_empty()
}

/// Where a node sits, for a change that writes it anew.
#[derive(Clone, Copy)]
enum Slot<'n> {
    /// The value of a mapping's key.
    Entry(&'n Node),
    /// An item of a sequence, or a document's root.
    Root,
}

struct Editor<'t> {
    text: &'t str,
    unit: usize,
    edits: Vec<(usize, usize, String)>,
}

impl<'t> Editor<'t> {
    fn new(text: &'t str, unit: usize) -> Self {
        Editor {
            text,
            unit,
            edits: Vec::new(),
        }
    }

    /// The text with the edits made; they may not overlap.
    fn apply(mut self) -> Result<String, String> {
        self.edits.sort_by_key(|e| (e.0, e.1));
        let mut out = String::with_capacity(self.text.len());
        let mut at = 0;
        for (start, end, replacement) in &self.edits {
            if *start < at {
                return Err("its layout is too unusual to edit safely; change it by hand".into());
            }
            out.push_str(&self.text[at..*start]);
            out.push_str(&in_line_breaks_of(self.text, replacement.clone()));
            at = *end;
        }
        out.push_str(&self.text[at..]);
        Ok(out)
    }

    /// Makes `node`, which reads `old`, read `new`.
    fn patch(
        &mut self,
        node: &Node,
        slot: Slot<'_>,
        old: &Value,
        new: &Value,
    ) -> Result<(), String> {
        if old == new {
            return Ok(());
        }
        match (&node.kind, old, new) {
            (Kind::Alias, _, _) => Err("an alias".into()),
            (
                Kind::Map {
                    flow: false,
                    entries,
                },
                Value::Object(o),
                Value::Object(n),
            ) if !n.is_empty() => self.patch_map(node, entries, slot, o, n),
            (Kind::Seq { flow: false, items }, Value::Array(o), Value::Array(n))
                if o.len() == n.len() && items.len() == o.len() =>
            {
                for ((item, o), n) in items.iter().zip(o).zip(n) {
                    self.patch(item, Slot::Root, o, n)?;
                }
                Ok(())
            }
            (Kind::Scalar { style, .. }, _, _)
                if node.end > node.start
                    && inline_only(new)
                    && !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) =>
            {
                let text = match new {
                    Value::String(s) => scalar(s, *style),
                    other => inline(other),
                };
                self.edits.push((node.start, node.end, text));
                Ok(())
            }
            (Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. }, _, _) => {
                self.edits.push((node.start, node.end, inline(new)));
                Ok(())
            }
            _ => self.replace(node, slot, new),
        }
    }

    fn patch_map(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        slot: Slot<'_>,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<(), String> {
        let removed: Vec<&(Node, Node)> = entries
            .iter()
            .filter(|(k, _)| {
                key_text(k).is_some_and(|k| old.contains_key(k) && !new.contains_key(k))
            })
            .collect();
        // An entry that shares its line with what comes before it (`- key:`)
        // cannot lose its lines alone: the mapping is written anew.
        if removed
            .iter()
            .any(|(k, _)| !first_on_line(self.text, k.start))
        {
            return self.replace(node, slot, &Value::Object(new.clone()));
        }
        for (key, value) in removed {
            let start = with_comments_above(self.text, key.start);
            let end = line_end(self.text, entry_end(key, value));
            self.edits.push((start, end, String::new()));
        }
        for (key, value) in entries {
            let Some(name) = key_text(key) else { continue };
            if let (Some(o), Some(n)) = (old.get(name), new.get(name)) {
                self.patch(value, Slot::Entry(key), o, n)?;
            }
        }
        let added: Vec<(&String, &Value)> =
            new.iter().filter(|(k, _)| !old.contains_key(*k)).collect();
        if let (Some((last_key, last_value)), false) = (entries.last(), added.is_empty()) {
            let indent = column(self.text, entries[0].0.start);
            let at = line_end(self.text, entry_end(last_key, last_value));
            let mut text = String::new();
            if at == self.text.len() && !self.text.ends_with('\n') {
                text.push('\n');
            }
            for (key, value) in added {
                entry(&mut text, key, value, indent, self.unit);
                text.push('\n');
            }
            self.edits.push((at, at, text));
        }
        Ok(())
    }

    /// Writes `node` anew as `new`.
    fn replace(&mut self, node: &Node, slot: Slot<'_>, new: &Value) -> Result<(), String> {
        match slot {
            Slot::Entry(key) => {
                let colon = self.text[key.end..]
                    .find(':')
                    .map(|i| key.end + i + 1)
                    .ok_or("a key without a colon")?;
                let end = entry_end(key, node);
                let mut text = String::new();
                if inline_only(new) {
                    text.push(' ');
                    text.push_str(&inline(new));
                } else {
                    let indent =
                        column(self.text, key.start) + if new.is_array() { 0 } else { self.unit };
                    text.push('\n');
                    block(&mut text, new, indent, self.unit);
                    pad_first(&mut text, 1, indent);
                }
                // A block scalar's range takes its line break with it.
                if end > colon && self.text.as_bytes()[end - 1] == b'\n' {
                    text.push('\n');
                }
                self.edits.push((colon, end.max(colon), text));
            }
            Slot::Root => {
                let indent = column(self.text, node.start);
                let mut text = String::new();
                if inline_only(new) {
                    text.push_str(&inline(new));
                } else {
                    block(&mut text, new, indent, self.unit);
                }
                if node.end > node.start && self.text.as_bytes()[node.end - 1] == b'\n' {
                    text.push('\n');
                }
                self.edits.push((node.start, node.end, text));
            }
        }
        Ok(())
    }

    /// Removes item `index` of a block sequence, with its lines.
    fn remove_item(&mut self, list: &Node, index: usize) -> Result<(), String> {
        let Kind::Seq { flow, items } = &list.kind else {
            return Err("an unusual List".into());
        };
        if items.len() == 1 {
            // The list goes empty: `items: []`.
            let start = line_start(self.text, items[0].start);
            let dash = self.text[start..items[0].start]
                .rfind('-')
                .map(|i| start + i)
                .ok_or("an unusual List")?;
            let colon = self.text[..dash].rfind(':').ok_or("an unusual List")?;
            self.edits
                .push((colon + 1, items[0].end, " []".to_string()));
            return Ok(());
        }
        if *flow {
            return Err("a List in flow style; change it by hand".into());
        }
        let item = &items[index];
        let start = line_start(self.text, item.start);
        // The item begins its line, after its dash alone.
        if self.text[start..item.start].trim() != "-" {
            return Err("an unusual List".into());
        }
        let end = line_end(self.text, item.end);
        let dash = start + self.text[start..item.start].find('-').unwrap_or(0);
        self.edits
            .push((with_comments_above(self.text, dash), end, String::new()));
        Ok(())
    }
}

/// `added` with the line breaks of `text`: `\r\n` where it has them.
fn in_line_breaks_of(text: &str, added: String) -> String {
    if text.contains("\r\n") {
        added.replace('\n', "\r\n")
    } else {
        added
    }
}

/// Where an entry's text ends: its value's, or its key's when the value is
/// empty (`mtls:`).
fn entry_end(key: &Node, value: &Node) -> usize {
    if value.end > value.start {
        value.end
    } else {
        key.end
    }
}

/// Whether a value is written on its key's line.
fn inline_only(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    }
}

/// Indents the first line of a block written after `skip` bytes of `text`.
fn pad_first(text: &mut String, skip: usize, indent: usize) {
    text.insert_str(skip, &" ".repeat(indent));
}

/// `value` in block style at `indent`; its first line is not indented.
fn block(out: &mut String, value: &Value, indent: usize, unit: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&" ".repeat(indent));
                }
                entry_body(out, key, value, indent, unit);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str("- ");
                if inline_only(item) {
                    out.push_str(&inline(item));
                } else {
                    block(out, item, indent + 2, unit);
                }
            }
        }
        other => out.push_str(&inline(other)),
    }
}

/// `key: value` at `indent`, the key indented too.
fn entry(out: &mut String, key: &str, value: &Value, indent: usize, unit: usize) {
    out.push_str(&" ".repeat(indent));
    entry_body(out, key, value, indent, unit);
}

fn entry_body(out: &mut String, key: &str, value: &Value, indent: usize, unit: usize) {
    out.push_str(&key_scalar(key));
    out.push(':');
    if inline_only(value) {
        out.push(' ');
        out.push_str(&inline(value));
    } else {
        let inner = if value.is_array() {
            indent
        } else {
            indent + unit
        };
        out.push('\n');
        out.push_str(&" ".repeat(inner));
        block(out, value, inner, unit);
    }
}

/// `value` in flow style, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s, ScalarStyle::Plain),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key_scalar(k), inline(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

/// A mapping key: plain where it reads back as the same text (a port number
/// too, which every reader takes as that key), else double-quoted.
fn key_scalar(key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 10
        && key.bytes().all(|b| b.is_ascii_digit())
        && !key.starts_with('0')
    {
        key.to_string()
    } else {
        scalar(key, ScalarStyle::Plain)
    }
}

/// A string in the quoting style of the scalar it replaces, or plain where
/// the style allows and the text reads back as the same string (YAML 1.1, as
/// kubectl reads it: `on`, `yes` and numbers are quoted).
fn scalar(text: &str, style: ScalarStyle) -> String {
    let double = || serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"));
    match style {
        ScalarStyle::SingleQuoted if !text.contains(['\n', '\r', '\t']) => {
            format!("'{}'", text.replace('\'', "''"))
        }
        ScalarStyle::Plain if plain(text) => text.to_string(),
        _ => double(),
    }
}

fn plain(text: &str) -> bool {
    const WORDS: [&str; 10] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'_')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'/'))
        && !WORDS.contains(&text.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    const API: ObjectKey<'static> = ObjectKey {
        kind: "PeerAuthentication",
        namespace: Some("prod"),
        name: "api",
    };

    /// The file with `api`'s object changed by `change`, as the planner
    /// would change the object it read.
    fn edited(text: &str, change: impl FnOnce(&mut Value)) -> String {
        let objects = objects(text).expect("the test file reads");
        let old = objects
            .iter()
            .rfind(|o| matches(o, &API))
            .expect("the test file holds prod/api")
            .clone();
        let mut new = old.clone();
        change(&mut new);
        update(text, &API, &old, &new).expect("the edit succeeds")
    }

    const POLICY: &str = "\
# Policies of the api team.
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: api     # keep this name
  namespace: \"prod\"
spec:
  selector:
    matchLabels: {app: api}
  mtls:
    mode: 'PERMISSIVE'  # for now
  portLevelMtls:
    # the health check speaks plaintext
    8080:
      mode: DISABLE

    9090: {mode: STRICT}
";

    #[test]
    fn a_mode_changes_where_it_stands_in_its_quoting() {
        let out = edited(POLICY, |o| o["spec"]["mtls"]["mode"] = json!("STRICT"));
        assert_eq!(out, POLICY.replace("'PERMISSIVE'", "'STRICT'"));
    }

    #[test]
    fn a_port_entry_goes_with_the_comment_above_it() {
        let out = edited(POLICY, |o| {
            o["spec"]["portLevelMtls"]
                .as_object_mut()
                .expect("a map")
                .remove("8080");
        });
        assert_eq!(
            out,
            POLICY.replace(
                "    # the health check speaks plaintext\n    8080:\n      mode: DISABLE\n",
                ""
            )
        );
    }

    #[test]
    fn a_port_entry_comes_after_the_last_at_its_indentation() {
        let out = edited(POLICY, |o| {
            o["spec"]["portLevelMtls"]["7070"] = json!({"mode": "PERMISSIVE"});
        });
        assert_eq!(
            out,
            POLICY.replace(
                "    9090: {mode: STRICT}\n",
                "    9090: {mode: STRICT}\n    7070:\n      mode: PERMISSIVE\n"
            )
        );
    }

    #[test]
    fn a_flow_mapping_is_written_again_in_flow_style() {
        let out = edited(POLICY, |o| {
            o["spec"]["portLevelMtls"]["9090"]["mode"] = json!("DISABLE");
        });
        assert_eq!(out, POLICY.replace("{mode: STRICT}", "{mode: DISABLE}"));
    }

    #[test]
    fn removing_every_port_removes_the_key_and_its_lines() {
        let out = edited(POLICY, |o| {
            o["spec"]
                .as_object_mut()
                .expect("a map")
                .remove("portLevelMtls");
        });
        let (kept, _) = POLICY.split_once("  portLevelMtls:").expect("in the file");
        assert_eq!(out, kept);
    }

    #[test]
    fn a_workload_mode_comes_after_the_selector() {
        let text = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n    name: api\n    namespace: prod\nspec:\n    selector:\n        matchLabels:\n            app: api\n";
        let out = edited(text, |o| o["spec"]["mtls"] = json!({"mode": "STRICT"}));
        assert_eq!(out, format!("{text}    mtls:\n        mode: STRICT\n"));
    }

    #[test]
    fn an_empty_value_gets_its_mode_on_the_key_line() {
        let text =
            "kind: PeerAuthentication\nmetadata:\n  name: api\n  namespace: prod\nspec:\n  mtls:\n";
        let out = edited(text, |o| o["spec"]["mtls"] = json!({"mode": "STRICT"}));
        assert_eq!(out, format!("{text}    mode: STRICT\n"));
        let out = edited(text, |o| o["spec"]["mtls"] = json!({}));
        assert_eq!(out, text.replace("  mtls:\n", "  mtls: {}\n"));
    }

    #[test]
    fn a_file_without_a_final_line_break_keeps_without_one() {
        let text = "kind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\nspec:\n  mtls:\n    mode: STRICT";
        let out = edited(text, |o| o["spec"]["mtls"]["mode"] = json!("DISABLE"));
        assert_eq!(out, text.replace("STRICT", "DISABLE"));
        let out = edited(text, |o| {
            o["spec"]["portLevelMtls"] = json!({"80": {"mode": "DISABLE"}})
        });
        assert_eq!(
            out,
            format!("{text}\n  portLevelMtls:\n    80:\n      mode: DISABLE\n")
        );
    }

    #[test]
    fn a_file_with_crlf_line_breaks_keeps_them() {
        let text = POLICY.replace('\n', "\r\n");
        let out = edited(&text, |o| {
            o["spec"]["portLevelMtls"]["7070"] = json!({"mode": "PERMISSIVE"});
            o["spec"]["portLevelMtls"]
                .as_object_mut()
                .expect("a map")
                .remove("8080");
        });
        let expected = POLICY
            .replace(
                "    # the health check speaks plaintext\n    8080:\n      mode: DISABLE\n",
                "",
            )
            .replace(
                "    9090: {mode: STRICT}\n",
                "    9090: {mode: STRICT}\n    7070:\n      mode: PERMISSIVE\n",
            )
            .replace('\n', "\r\n");
        assert_eq!(out, expected);
        let appended = append(
            &text,
            &json!({"kind": "ConfigMap", "metadata": {"name": "x"}}),
        )
        .expect("appended");
        assert_eq!(
            appended,
            format!("{text}---\r\nkind: ConfigMap\r\nmetadata:\r\n  name: x\r\n")
        );
    }

    const STREAM: &str = "\
# header of the file
apiVersion: v1
kind: Namespace
metadata:
  name: prod
---
# the api's policy
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: api
  namespace: prod
spec:
  mtls:
    mode: STRICT
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x, namespace: prod}
";

    #[test]
    fn a_deleted_document_leaves_the_others_byte_for_byte() {
        let out = delete(STREAM, &API).expect("deleted").expect("not empty");
        let start = STREAM.find("---\n# the api").expect("in the stream");
        let end = STREAM
            .find("---\napiVersion: v1\nkind: ConfigMap")
            .expect("in the stream");
        assert_eq!(out, format!("{}{}", &STREAM[..start], &STREAM[end..]));
    }

    #[test]
    fn deleting_the_only_document_leaves_nothing() {
        let only = "# the api's policy\nkind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\n";
        assert_eq!(delete(only, &API), Ok(None));
        let first = "kind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\n---\nkind: ConfigMap\nmetadata: {name: x}\n";
        assert_eq!(
            delete(first, &API),
            Ok(Some(
                "---\nkind: ConfigMap\nmetadata: {name: x}\n".to_string()
            ))
        );
    }

    #[test]
    fn an_item_of_a_list_is_edited_and_deleted_in_place() {
        let list = "\
apiVersion: v1
kind: List
items:
- kind: PeerAuthentication
  metadata: {name: other, namespace: prod}
  spec: {mtls: {mode: STRICT}}
# the api's
- kind: PeerAuthentication
  metadata:
    name: api
    namespace: prod
  spec:
    mtls:
      mode: STRICT
";
        let out = edited(list, |o| o["spec"]["mtls"]["mode"] = json!("PERMISSIVE"));
        assert_eq!(
            out,
            list.replace("      mode: STRICT", "      mode: PERMISSIVE")
        );
        let out = delete(list, &API).expect("deleted").expect("not empty");
        let cut = list.find("# the api's").expect("in the list");
        assert_eq!(out, list[..cut]);
    }

    #[test]
    fn a_new_document_is_appended_in_the_house_style() {
        let object = json!({
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "api", "namespace": "prod", "labels": {"app.kubernetes.io/managed-by": "mtls"}},
            "spec": {"selector": {"matchLabels": {"app": "api"}}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}},
        });
        let expected_doc = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: api
  namespace: prod
  labels:
    app.kubernetes.io/managed-by: mtls
spec:
  selector:
    matchLabels:
      app: api
  portLevelMtls:
    8080:
      mode: DISABLE
";
        assert_eq!(append("", &object), Ok(expected_doc.to_string()));
        assert_eq!(
            append("kind: ConfigMap\nmetadata: {name: x}", &object),
            Ok(format!(
                "kind: ConfigMap\nmetadata: {{name: x}}\n---\n{expected_doc}"
            ))
        );
    }

    #[test]
    fn a_file_of_thousands_of_documents_can_be_edited() {
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&format!(
                "---\nkind: PeerAuthentication\nmetadata: {{name: p{i}, namespace: prod}}\nspec: {{mtls: {{mode: STRICT}}}}\n"
            ));
        }
        text.push_str("---\nkind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\nspec:\n  mtls:\n    mode: STRICT\n");
        let out = edited(&text, |o| o["spec"]["mtls"]["mode"] = json!("DISABLE"));
        assert_eq!(
            out,
            format!("{}DISABLE\n", text.strip_suffix("STRICT\n").expect("last"))
        );
    }

    #[test]
    fn anchors_are_refused_rather_than_edited_through() {
        let text = "kind: PeerAuthentication\nmetadata: {name: api, namespace: prod}\nspec:\n  mtls: &strict\n    mode: STRICT\n  portLevelMtls:\n    80: *strict\n";
        let old = objects(text).expect("reads").remove(0);
        let mut new = old.clone();
        new["spec"]["mtls"]["mode"] = json!("DISABLE");
        let err = update(text, &API, &old, &new).expect_err("refused");
        assert!(err.contains("anchors or aliases"), "{err}");
    }

    #[test]
    fn strings_that_would_read_as_something_else_are_quoted() {
        for (text, written) in [
            ("STRICT", "STRICT"),
            ("on", "\"on\""),
            ("No", "\"No\""),
            ("8080", "\"8080\""),
            ("a: b", "\"a: b\""),
            ("", "\"\""),
            ("-x", "\"-x\""),
        ] {
            assert_eq!(scalar(text, ScalarStyle::Plain), written);
        }
        assert_eq!(key_scalar("8080"), "8080");
        assert_eq!(key_scalar("08"), "\"08\"");
        assert_eq!(scalar("it's", ScalarStyle::SingleQuoted), "'it''s'");
        assert_eq!(scalar("x", ScalarStyle::DoubleQuoted), "\"x\"");
    }

    #[test]
    fn templates_and_generated_files_are_named_with_the_reason() {
        let none: [&Value; 0] = [];
        let helm = "---\n# Source: mesh/templates/pa.yaml\nkind: PeerAuthentication\n";
        assert!(
            generated(helm, &none)
                .is_some_and(|r| r.contains("helm template") && r.contains("line 2"))
        );
        let template = "kind: PeerAuthentication\nmetadata:\n  name: {{ .Release.Name }}\n";
        assert!(generated(template, &none).is_some_and(|r| r.contains("line 3")));
        let marked = "# Code generated by gen. DO NOT EDIT.\nkind: PeerAuthentication\n";
        assert!(generated(marked, &none).is_some_and(|r| r.contains("generated")));
        let chart = json!({"metadata": {"labels": {"helm.sh/chart": "mesh-1.0"}}});
        assert!(generated("kind: X\n", &[&chart]).is_some_and(|r| r.contains("mesh-1.0")));
        let commented = "# {{ not a template, a comment }}\nkind: PeerAuthentication\n";
        assert_eq!(generated(commented, &none), None);
    }

    /// How a generated policy writes a value: its style, quoting and comments.
    #[derive(Debug, Clone)]
    struct Styled {
        mode: &'static str,
        flow: bool,
        quote: u8,
        comment: bool,
    }

    fn styled() -> impl proptest::strategy::Strategy<Value = Styled> {
        use proptest::prelude::*;
        (
            prop::sample::select(vec!["STRICT", "PERMISSIVE", "DISABLE", "UNSET"]),
            any::<bool>(),
            0u8..3,
            any::<bool>(),
        )
            .prop_map(|(mode, flow, quote, comment)| Styled {
                mode,
                flow,
                quote,
                comment,
            })
    }

    /// `key:` and its mode at `indent`, as `styled` says.
    fn write_mode(out: &mut String, key: &str, s: &Styled, indent: &str, unit: &str) {
        let mode = match s.quote {
            0 => s.mode.to_string(),
            1 => format!("'{}'", s.mode),
            _ => format!("\"{}\"", s.mode),
        };
        if s.comment {
            out.push_str(&format!("{indent}# about {key}\n"));
        }
        if s.flow {
            out.push_str(&format!("{indent}{key}: {{mode: {mode}}}\n"));
        } else {
            out.push_str(&format!(
                "{indent}{key}:\n{indent}{unit}mode: {mode}  # {key} now\n"
            ));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the layout and the change, the edit reads back as
        /// planned, everything above `spec` stays, and so does every comment
        /// but those of the entries that go.
        #[test]
        fn every_layout_reads_back_as_planned(
            four in proptest::prelude::any::<bool>(),
            mtls in proptest::option::of(styled()),
            ports in proptest::collection::btree_map(
                proptest::sample::select(vec![80u32, 443, 8080, 9090, 15021]), styled(), 0..4),
            new_mtls in proptest::option::of(proptest::sample::select(vec!["STRICT", "PERMISSIVE", "DISABLE"])),
            new_ports in proptest::collection::btree_map(
                proptest::sample::select(vec![80u32, 443, 8080, 9090, 15021]),
                proptest::option::of(proptest::sample::select(vec!["STRICT", "PERMISSIVE", "DISABLE"])),
                0..4),
        ) {
            let unit = if four { "    " } else { "  " };
            let mut text = format!(
                "# a policy\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n\
                 {unit}name: api\n{unit}namespace: prod\nspec:\n{unit}selector:\n{unit}{unit}matchLabels:\n\
                 {unit}{unit}{unit}app: api\n"
            );
            if let Some(m) = &mtls {
                write_mode(&mut text, "mtls", m, unit, unit);
            }
            if !ports.is_empty() {
                text.push_str(&format!("{unit}portLevelMtls:\n"));
                for (port, s) in &ports {
                    write_mode(&mut text, &port.to_string(), s, &unit.repeat(2), unit);
                }
            }
            let old = objects(&text).expect("generated YAML reads").remove(0);
            let mut new = old.clone();
            let spec = new["spec"].as_object_mut().expect("a spec");
            match new_mtls {
                Some(mode) => { spec.insert("mtls".into(), json!({"mode": mode})); }
                None => { spec.remove("mtls"); }
            }
            let mut levels = spec.get("portLevelMtls").and_then(Value::as_object).cloned().unwrap_or_default();
            for (port, mode) in &new_ports {
                match mode {
                    Some(mode) => { levels.insert(port.to_string(), json!({"mode": mode})); }
                    None => { levels.remove(&port.to_string()); }
                }
            }
            if levels.is_empty() {
                spec.remove("portLevelMtls");
            } else {
                spec.insert("portLevelMtls".into(), Value::Object(levels));
            }
            let out = update(&text, &API, &old, &new).expect("every layout here can be edited");
            proptest::prop_assert_eq!(&objects(&out).expect("reads back")[0], &new);
            let head = &text[..text.find("spec:").expect("a spec")];
            proptest::prop_assert!(out.starts_with(head));
            let removed = |key: &str| match key {
                "mtls" => new_mtls.is_none(),
                port => new["spec"]["portLevelMtls"][port].is_null(),
            };
            for line in text.lines().filter(|l| l.trim_start().starts_with("# about ")) {
                let key = line.trim_start().trim_start_matches("# about ");
                proptest::prop_assert_eq!(out.lines().any(|l| l == line), !removed(key), "{}", out);
            }
        }
    }
}
