//! Formatting: tables, JSON and YAML. Renderers format values; they decide nothing.

pub mod explain;
pub mod findings;
pub mod jsonpath;
pub mod plan;
pub mod sarif;
pub mod table;
pub mod traffic;

use serde::Serialize;

use crate::policy::resolve::Row;

/// The document `get -o json|yaml` prints.
#[derive(Serialize)]
pub struct RowList<'a> {
    pub items: &'a [Row],
}

/// Text from manifests or a server, made safe for a terminal: control
/// characters (escape sequences among them) are shown as `\u{..}` escapes
/// instead of being sent to the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// An empty table as kubectl draws them: no borders; never wrapped nor sized
/// by a terminal (callers fit it); styled cells only when `color`.
pub fn new_table(color: bool) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    table.force_no_tty();
    if color {
        table.enforce_styling();
    }
    table
}

/// A table as kubectl prints one: three spaces between columns, none at the
/// edges, no trailing blanks. Cells hold names from manifests or a server;
/// only the renderer's own styling reaches the terminal as escape sequences.
pub fn table_text(mut table: comfy_table::Table) -> String {
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut text = String::new();
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

pub fn json<T: Serialize>(value: &T) -> String {
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let text = serde_saphyr::to_string(value)?;
    Ok(text)
}
