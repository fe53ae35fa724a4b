//! Formatting: tables, JSON and YAML. Renderers format values; they decide nothing.

pub mod findings;
pub mod table;

use serde::Serialize;

use crate::policy::resolve::Row;

/// The document `get -o json|yaml` prints.
#[derive(Serialize)]
pub struct RowList<'a> {
    pub items: &'a [Row],
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
