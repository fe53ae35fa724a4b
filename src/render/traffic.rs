//! The table of `mtls traffic`: per Service its modes, the calls it received,
//! the share in plaintext and who sent it; the wide view adds the split by
//! security and the receiving workloads.

use comfy_table::{Cell, Color};

use crate::text::thousands;
use crate::traffic::{Calls, PlaintextCaller, ServiceTraffic};

/// Services as a table.
pub fn services(services: &[ServiceTraffic], wide: bool, color: bool) -> String {
    let mut table = super::new_table(color);
    let header: &[&str] = if wide {
        &[
            "SERVICE",
            "MODE",
            "REQUESTS",
            "CONNECTIONS",
            "MTLS",
            "PLAINTEXT",
            "UNKNOWN",
            "PLAINTEXT CALLERS",
            "WORKLOADS",
        ]
    } else {
        &[
            "SERVICE",
            "MODE",
            "REQUESTS",
            "CONNECTIONS",
            "PLAINTEXT",
            "PLAINTEXT CALLERS",
        ]
    };
    table.set_header(header.iter().map(Cell::new));
    for s in services {
        let calls = &s.observed.calls;
        let plaintext = Cell::new(share(calls));
        let plaintext = match (color, calls.plaintext()) {
            (false, _) => plaintext,
            (true, 0) if calls.total() > 0 => plaintext.fg(Color::Green),
            (true, 0) => plaintext,
            (true, _) => plaintext.fg(Color::Red),
        };
        let mut row = vec![
            Cell::new(super::printable(&s.target)),
            Cell::new(super::printable(&modes(s))),
            Cell::new(thousands(calls.requests.total())),
            Cell::new(thousands(calls.connections.total())),
        ];
        if wide {
            row.push(Cell::new(thousands(
                calls.requests.mtls + calls.connections.mtls,
            )));
            row.push(plaintext);
            row.push(Cell::new(thousands(
                calls.requests.unknown + calls.connections.unknown,
            )));
        } else {
            row.push(plaintext);
        }
        row.push(Cell::new(super::printable(&callers(
            &s.observed.plaintext_callers,
            if wide { usize::MAX } else { 3 },
        ))));
        if wide {
            let workloads: Vec<String> = s
                .observed
                .workloads
                .iter()
                .map(|w| format!("{} {}", w.workload, thousands(w.calls.total())))
                .collect();
            row.push(Cell::new(super::printable(&if workloads.is_empty() {
                "-".to_string()
            } else {
                workloads.join(", ")
            })));
        }
        table.add_row(row);
    }
    super::table_text(table)
}

/// The ports' modes: one when they agree (`STRICT`, `STRICT → NONE (no
/// sidecar)`), else each port's; `-` for a Service only the metrics name.
fn modes(s: &ServiceTraffic) -> String {
    let texts: Vec<String> = s.ports.iter().map(super::table::enforced_text).collect();
    match texts.as_slice() {
        [] => "-".to_string(),
        [first, rest @ ..] if rest.iter().all(|t| t == first) => first.clone(),
        _ => s
            .ports
            .iter()
            .zip(&texts)
            .map(|(row, text)| format!("{}: {text}", row.port.unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `-` without calls, else the plaintext share and count: `12% (1,034)`.
pub fn share(calls: &Calls) -> String {
    match calls.plaintext_share() {
        None => "-".to_string(),
        Some(_) if calls.plaintext() == 0 => "0%".to_string(),
        Some(share) => format!("{} ({})", percent(share), thousands(calls.plaintext())),
    }
}

/// A share as a percentage: whole percents, but never 0% or 100% for a share
/// that is neither.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 1.0 {
        "<1%".to_string()
    } else if p > 99.0 && p < 100.0 {
        ">99%".to_string()
    } else {
        format!("{}%", p.round())
    }
}

/// The first `at_most` plaintext callers with their share, then how many
/// more: `front/web 97%, unknown/unknown 3%`.
pub fn callers(callers: &[PlaintextCaller], at_most: usize) -> String {
    if callers.is_empty() {
        return "-".to_string();
    }
    let names: Vec<String> = callers
        .iter()
        .map(|c| format!("{}/{} {}", c.namespace, c.workload, percent(c.share)))
        .collect();
    crate::check::first_names(&names, at_most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_at_a_glance() {
        assert_eq!(
            [0.0, 0.001, 0.5, 0.999, 1.0].map(percent),
            ["0%", "<1%", "50%", ">99%", "100%"]
        );
    }
}
