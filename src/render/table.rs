//! The `table` and `wide` views of rows, kubectl style: no borders, upper-case
//! headers, modes colored only when the caller says the terminal takes colors.

use std::collections::BTreeMap;

use comfy_table::{Cell, Color};

use crate::mode::{Enforced, Mode};
use crate::policy::dataplane::Dataplane;
use crate::policy::resolve::{Row, RowDataplane, RowEnforced, RowMode};

/// How a table is drawn.
pub struct Style {
    /// The wide view: enforced mode, dataplane, level, policy, target port,
    /// workloads, shadowed, findings.
    pub wide: bool,
    /// Modes in color.
    pub color: bool,
    /// The width to fit (a terminal's, or `COLUMNS`); `None`: any width.
    /// Cells are never wrapped: a wide table too wide becomes the default
    /// one, and the SOURCE column of a default one is cut with `…`.
    pub width: Option<usize>,
}

/// Rows as a table; `findings` maps a row's target to the codes of the `check`
/// findings that concern it (shown in the wide view). No name is ever split:
/// a table wider than `style.width` drops to the default columns, then cuts
/// its SOURCE column with `…`.
pub fn rows(rows: &[Row], style: &Style, findings: &BTreeMap<String, Vec<&str>>) -> String {
    let Some(width) = style.width else {
        return draw(rows, style.wide, style.color, findings, None);
    };
    // Measured without colors: escape sequences take no room.
    let fits = |text: &str| widest(text) <= width;
    if fits(&draw(rows, style.wide, false, findings, None)) {
        return draw(rows, style.wide, style.color, findings, None);
    }
    let narrow = draw(rows, false, false, findings, None);
    if fits(&narrow) {
        return draw(rows, false, style.color, findings, None);
    }
    let longest = rows
        .iter()
        .map(|r| source(r).chars().count())
        .max()
        .unwrap_or(0);
    let keep = longest
        .saturating_sub(widest(&narrow) - width)
        .max("SOURCE".len());
    draw(rows, false, style.color, findings, Some(keep))
}

/// The widest line, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// `text` in at most `keep` characters, its end cut with `…`.
fn cut(text: &str, keep: Option<usize>) -> String {
    match keep {
        Some(keep) if text.chars().count() > keep => {
            let mut cut: String = text.chars().take(keep.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => text.to_string(),
    }
}

fn draw(
    rows: &[Row],
    wide: bool,
    color: bool,
    findings: &BTreeMap<String, Vec<&str>>,
    keep: Option<usize>,
) -> String {
    let mut table = super::new_table(color);
    let header: &[&str] = if wide {
        &[
            "TARGET",
            "MODE",
            "ENFORCED",
            "DATAPLANE",
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
    // `get --traffic`: the plaintext share, last; in the wide view, the
    // owner of the deciding policy where any has one.
    let traffic = rows.iter().any(|r| r.traffic.is_some());
    let owners = wide
        && rows
            .iter()
            .any(|r| r.source.as_ref().is_some_and(|s| s.owner.is_some()));
    let mut header = header.to_vec();
    // Several clusters: which one each row is of, first.
    let clusters = rows.iter().any(|r| r.cluster.is_some());
    if clusters {
        header.insert(0, "CLUSTER");
    }
    if owners {
        header.push("OWNER");
    }
    if traffic {
        header.push("PLAINTEXT");
    }
    table.set_header(header.iter().map(Cell::new));
    for row in rows {
        let plaintext = Cell::new(
            row.traffic
                .as_ref()
                .map_or("-".to_string(), |t| super::traffic::share(&t.calls)),
        );
        if wide {
            let mode = mode_cell(row.mode.as_str(), Some(row.mode), color);
            let enforced = match row.enforced {
                Some(e) => mode_cell(e.as_str(), Some(judged_mode(e)), color),
                None => Cell::new("-"),
            };
            let (level, policy) = match (&row.source, &row.modes) {
                (Some(s), _) => (
                    s.level.as_str().to_string(),
                    s.policy.clone().unwrap_or_else(|| "-".into()),
                ),
                (None, Some(modes)) if row.mixed.is_empty() => ("-".into(), mixed_summary(modes)),
                (None, Some(_)) => ("-".into(), mixed_groups(row)),
                (None, None) => ("-".into(), "-".into()),
            };
            let mut cells = vec![
                Cell::new(super::printable(&row.target)),
                mode,
                enforced,
                Cell::new(row.dataplane.map_or("-", |d| d.as_str())),
                Cell::new(level),
                Cell::new(super::printable(&policy)),
                Cell::new(opt(row.target_port)),
                Cell::new(opt(row.workloads)),
                Cell::new(if row.shadowed.is_empty() {
                    "-".into()
                } else {
                    super::printable(&row.shadowed.join(",")).into_owned()
                }),
                Cell::new(match findings.get(&row.key()) {
                    Some(codes) => format!("! {}", codes.join(",")),
                    None => "-".into(),
                }),
            ];
            if clusters {
                cells.insert(0, cluster_cell(row));
            }
            if owners {
                let owner = row.source.as_ref().and_then(|s| s.owner.as_ref());
                cells.push(Cell::new(owner.map_or("-".to_string(), |o| {
                    super::printable(&o.to_string()).into_owned()
                })));
            }
            if traffic {
                cells.push(plaintext);
            }
            table.add_row(cells);
        } else {
            let judged = row.judged().map(judged_mode);
            let mut cells = vec![
                Cell::new(super::printable(&row.target)),
                mode_cell(&enforced_text(row), judged, color),
                Cell::new(cut(&super::printable(&source(row)), keep)),
            ];
            if clusters {
                cells.insert(0, cluster_cell(row));
            }
            if traffic {
                cells.push(plaintext);
            }
            table.add_row(cells);
        }
    }
    super::table_text(table)
}

fn cluster_cell(row: &Row) -> Cell {
    Cell::new(super::printable(row.cluster.as_deref().unwrap_or("-")))
}

/// A mode cell, colored by the mode traffic meets: green for STRICT, yellow
/// for PERMISSIVE, red for DISABLE and for nothing enforced.
fn mode_cell(text: &str, mode: Option<RowMode>, color: bool) -> Cell {
    let cell = Cell::new(text);
    let Some(mode) = mode.filter(|_| color) else {
        return cell;
    };
    cell.fg(match mode {
        RowMode::Single(Mode::Strict) => Color::Green,
        RowMode::Single(Mode::Permissive) => Color::Yellow,
        RowMode::Single(Mode::Disable) => Color::Red,
        RowMode::Mixed => Color::Magenta,
    })
}

/// The color class of an enforced mode: NONE is as red as DISABLE.
fn judged_mode(enforced: RowEnforced) -> RowMode {
    match enforced {
        RowEnforced::Single(Enforced::Strict) => RowMode::Single(Mode::Strict),
        RowEnforced::Single(Enforced::Permissive) => RowMode::Single(Mode::Permissive),
        RowEnforced::Single(Enforced::Disable | Enforced::None) => RowMode::Single(Mode::Disable),
        RowEnforced::Mixed => RowMode::Mixed,
    }
}

/// The mode of a row as users meet it: the declared mode, or when the pods
/// enforce another, both with the reason (`STRICT → NONE (no sidecar)`,
/// `STRICT → MIXED (pods: 1 STRICT, 1 NONE)`, `STRICT → n/a (gateway)`).
pub fn enforced_text(row: &Row) -> String {
    let declared = row.mode.as_str();
    match (row.enforced, row.dataplane) {
        (None, Some(RowDataplane::Single(Dataplane::Gateway))) => {
            format!("{declared} → n/a (gateway)")
        }
        (Some(e), _) if e.as_str() == declared => declared.to_string(),
        (Some(RowEnforced::Mixed), _) => match &row.enforced_modes {
            Some(counts) => format!("{declared} → MIXED ({})", pod_counts(counts)),
            None => format!("{declared} → MIXED"),
        },
        (Some(e), _) => match row.bypass {
            Some(why) => format!("{declared} → {} ({})", e.as_str(), why.as_str()),
            None => format!("{declared} → {}", e.as_str()),
        },
        (None, _) => declared.to_string(),
    }
}

/// How one row fails a verdict: the mode its pods meet, and where that is not
/// the declared one, the declared one and why (`NONE, declared STRICT: no
/// sidecar`).
pub fn judged_text(row: &Row) -> String {
    let declared = row.mode.as_str();
    let Some(enforced) = row.enforced.filter(|e| e.as_str() != declared) else {
        return declared.to_string();
    };
    match (enforced, row.bypass, &row.enforced_modes) {
        (RowEnforced::Mixed, _, Some(counts)) => {
            format!("MIXED, declared {declared}: {}", pod_counts(counts))
        }
        (e, Some(why), _) => format!("{}, declared {declared}: {}", e.as_str(), why.as_str()),
        (e, None, _) => format!("{}, declared {declared}", e.as_str()),
    }
}

/// `pods: 1 STRICT, 1 NONE`, strongest first.
fn pod_counts(counts: &BTreeMap<Enforced, usize>) -> String {
    let parts: Vec<String> = counts
        .iter()
        .rev()
        .map(|(mode, n)| format!("{n} {mode}"))
        .collect();
    format!("pods: {}", parts.join(", "))
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

/// The pods of a MIXED row by decision: `web-a: DISABLE port shop/web; web-b:
/// STRICT workload shop/web`.
fn mixed_groups(row: &Row) -> String {
    row.mixed
        .iter()
        .map(|g| {
            let mut pods = g.pods.iter().take(3).cloned().collect::<Vec<_>>().join(",");
            if g.pods.len() > 3 {
                pods.push_str(&format!(" +{}", g.pods.len() - 3));
            }
            match &g.policy {
                Some(policy) => format!("{pods}: {} {} {policy}", g.mode, g.level.as_str()),
                None => format!("{pods}: {} {}", g.mode, g.level.as_str()),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
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
