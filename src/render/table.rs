//! The `table` and `wide` views of rows, kubectl style: no borders, upper-case
//! headers, modes colored only when the caller says the terminal takes colors.

use std::collections::BTreeMap;

use comfy_table::{Cell, Color, Table, presets};

use crate::mode::Mode;
use crate::policy::resolve::{Row, RowMode};

/// How a table is drawn.
pub struct Style {
    /// The wide view: level, policy, target port, workloads, shadowed, findings.
    pub wide: bool,
    /// Modes in color.
    pub color: bool,
    /// Wrap long cells to fit the terminal's width.
    pub fit_terminal: bool,
}

/// Rows as a table; `findings` maps a row's target to the codes of the `check`
/// findings that concern it (shown in the wide view).
pub fn rows(rows: &[Row], style: &Style, findings: &BTreeMap<String, Vec<&str>>) -> String {
    let (wide, color) = (style.wide, style.color);
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    // Styles are only ever set on cells when `color` is; the terminal is only
    // asked for its width when `fit_terminal` is.
    if style.fit_terminal {
        table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    } else {
        table.force_no_tty();
    }
    if color {
        table.enforce_styling();
    }
    let header: &[&str] = if wide {
        &[
            "TARGET",
            "MODE",
            "LEVEL",
            "POLICY",
            "TARGET PORT",
            "WORKLOADS",
            "SHADOWED",
            "CHECK",
        ]
    } else {
        &["TARGET", "MODE", "SOURCE"]
    };
    table.set_header(header.iter().map(Cell::new));
    for row in rows {
        let mode = mode_cell(row.mode, color);
        if wide {
            let (level, policy) = match (&row.source, &row.modes) {
                (Some(s), _) => (
                    s.level.as_str().to_string(),
                    s.policy.clone().unwrap_or_else(|| "-".into()),
                ),
                (None, Some(modes)) => ("-".into(), mixed_summary(modes)),
                (None, None) => ("-".into(), "-".into()),
            };
            table.add_row(vec![
                Cell::new(super::printable(&row.target)),
                mode,
                Cell::new(level),
                Cell::new(super::printable(&policy)),
                Cell::new(opt(row.target_port)),
                Cell::new(opt(row.workloads)),
                Cell::new(if row.shadowed.is_empty() {
                    "-".into()
                } else {
                    super::printable(&row.shadowed.join(",")).into_owned()
                }),
                Cell::new(match findings.get(&row.target) {
                    Some(codes) => format!("! {}", codes.join(",")),
                    None => "-".into(),
                }),
            ]);
        } else {
            table.add_row(vec![
                Cell::new(super::printable(&row.target)),
                mode,
                Cell::new(super::printable(&source(row))),
            ]);
        }
    }
    // Column padding: comfy-table pads one space on each side; kubectl puts three
    // spaces between columns and none at the edges.
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut text = String::new();
    // Cells hold names from manifests or a server; only this function's own
    // styling may reach the terminal as escape sequences.
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn mode_cell(mode: RowMode, color: bool) -> Cell {
    let cell = Cell::new(mode.as_str());
    if !color {
        return cell;
    }
    cell.fg(match mode {
        RowMode::Single(Mode::Strict) => Color::Green,
        RowMode::Single(Mode::Permissive) => Color::Yellow,
        RowMode::Single(Mode::Disable) => Color::Red,
        RowMode::Mixed => Color::Magenta,
    })
}

/// `level NS/NAME`, `default`, or for MIXED rows how many pods have each mode.
fn source(row: &Row) -> String {
    match (&row.source, &row.modes) {
        (Some(s), _) => match &s.policy {
            Some(policy) => format!("{} {policy}", s.level.as_str()),
            None => s.level.as_str().to_string(),
        },
        (None, Some(modes)) => mixed_summary(modes),
        (None, None) => "-".into(),
    }
}

fn mixed_summary(modes: &std::collections::BTreeMap<Mode, usize>) -> String {
    let parts: Vec<String> = modes
        .iter()
        .rev()
        .map(|(mode, n)| format!("{n} {mode}"))
        .collect();
    format!("pods: {}", parts.join(", "))
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}
