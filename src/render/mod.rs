//! Formatting: tables, JSON and YAML. Renderers format values; they decide nothing.

pub mod explain;
pub mod findings;
pub mod plan;
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
