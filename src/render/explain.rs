//! The terminal view of `mtls explain`: for each Service port a tree — the
//! port mapping, then each pod group with its chain of policies (the one that
//! decides marked, the others with why they do not), then the callers.

use colored::Colorize;

use crate::check::client::Caller;
use crate::explain::{PodGroup, PortExplanation};
use crate::policy::explain::{Candidate, Outcome};
use crate::policy::resolve::Level;

/// Every explanation as a tree, one after another; `color` marks winners,
/// dims losers and colors verdicts.
pub fn tree(explanations: &[PortExplanation], color: bool) -> String {
    let mut out = String::new();
    for (i, e) in explanations.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        port(&mut out, e, color);
    }
    out
}

fn port(out: &mut String, e: &PortExplanation, color: bool) {
    let name = e
        .port_name
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    out.push_str(&format!(
        "{}{name} {} → targetPort {}\n",
        super::printable(&e.target),
        e.protocol,
        super::printable(&e.target_port)
    ));
    let serving: Vec<String> = e
        .pods
        .iter()
        .filter(|p| p.serves)
        .map(|p| match p.container_port {
            Some(n) => format!("{} → {n}", p.pod),
            None => format!("{} → ? (unresolved)", p.pod),
        })
        .collect();
    let idle: Vec<&str> = e
        .pods
        .iter()
        .filter(|p| !p.serves)
        .map(|p| p.pod.as_str())
        .collect();
    let mut pods = if serving.is_empty() {
        "pods: none (the Service's selector stands in)".to_string()
    } else {
        format!("pods: {}", few(&serving))
    };
    if !idle.is_empty() {
        pods.push_str(&format!(
            "; not serving it (no container port {}): {}",
            e.target_port,
            few(&idle.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        ));
    }
    out.push_str(&format!("├─ {}\n", super::printable(&pods)));
    for group in &e.groups {
        pod_group(out, group, color);
    }
    out.push_str("├─ callers\n");
    if e.callers.is_empty() {
        out.push_str("│  (no namespace calls it)\n");
    }
    for c in &e.callers {
        let sends = match (c.tls, c.inferred) {
            (Some(tls), _) => format!("sends {}", tls.as_str()),
            (None, Some(mode)) => format!("auto mTLS (namespace mode {mode})"),
            (None, None) => "auto mTLS".to_string(),
        };
        let via = match (&c.rule, &c.subset) {
            (Some(rule), Some(subset)) => format!("destinationrule {rule} (subset {subset}), "),
            (Some(rule), None) => format!("destinationrule {rule}, "),
            _ => String::new(),
        };
        let verdict = if c.failures.is_empty() {
            paint("works", "green", color)
        } else {
            paint(&format!("fails ({})", c.failures.join(", ")), "red", color)
        };
        out.push_str(&format!(
            "│  {}: {}{sends}: {verdict}\n",
            super::printable(&who(c)),
            super::printable(&via)
        ));
    }
    let changes: Vec<String> = e
        .changes
        .iter()
        .map(|c| {
            if c.takes_effect {
                c.command.clone()
            } else {
                format!("{} (would not take effect)", c.command)
            }
        })
        .collect();
    out.push_str(&format!(
        "└─ to change it: {}\n",
        super::printable(&changes.join(", "))
    ));
}

fn pod_group(out: &mut String, g: &PodGroup, color: bool) {
    let who = if g.pods.is_empty() {
        "no pods".to_string()
    } else {
        few(&g.pods)
    };
    let port = g
        .container_port
        .map_or(String::new(), |p| format!(", port {p}"));
    let serves = match (g.dataplane, g.enforced) {
        (Some(plane), Some(e)) => format!("{}, enforced {e}", plane.as_str()),
        (Some(plane), None) => format!("{}, PeerAuthentication does not apply", plane.as_str()),
        (None, _) => "dataplane unknown".to_string(),
    };
    let decided = match &g.chain.policy {
        Some(p) => format!("{} from {} {p}", g.chain.mode, g.chain.level.as_str()),
        None => format!("{} (no policy)", g.chain.mode),
    };
    out.push_str(&format!(
        "├─ {}{port}: {decided} ({serves})\n",
        super::printable(&who)
    ));
    let links = &g.chain.links;
    for (i, link) in links.iter().enumerate() {
        let branch = if i + 1 == links.len() {
            "└─"
        } else {
            "├─"
        };
        let level = format!("{:<9}", link.level.as_str());
        if link.candidates.is_empty() {
            out.push_str(&format!("│  {branch} {level} -\n"));
            continue;
        }
        for (j, c) in link.candidates.iter().enumerate() {
            let lead = if j == 0 {
                format!("{branch} {level}")
            } else {
                let cont = if i + 1 == links.len() { "  " } else { "│ " };
                format!("{cont} {:<9}", "")
            };
            out.push_str(&format!("│  {lead} {}\n", candidate(c, link.level, color)));
        }
    }
}

fn candidate(c: &Candidate, level: Level, color: bool) -> String {
    let mode = c.mode.map_or("UNSET", |m| m.as_str());
    let what = match (&c.outcome, level) {
        (Outcome::Decides, _) => paint("decides", "green", color),
        (Outcome::Inherits, Level::Port) => "no entry for the port: inherits".to_string(),
        (Outcome::Inherits, _) => "UNSET: inherits".to_string(),
        (Outcome::Shadowed { by }, _) => paint(&format!("ignored: {by} is older"), "dimmed", color),
        (Outcome::NotSelected, _) => {
            paint("its selector does not select these pods", "dimmed", color)
        }
        (Outcome::IgnoredInRoot, _) => paint(
            "ignored: a selector policy in the root namespace",
            "dimmed",
            color,
        ),
        (Outcome::Undecodable { reason }, _) => paint(
            &format!("ignored: Istio cannot decode it ({reason})"),
            "dimmed",
            color,
        ),
    };
    let policy = super::printable(&c.policy);
    match &c.created {
        Some(t) => format!("{policy} {mode} (created {t}): {what}"),
        None => format!("{policy} {mode}: {what}"),
    }
}

/// The callers → port graph in Graphviz's DOT language: a box per Service
/// port (its modes), a node per group of caller namespaces, an edge per route
/// colored by its verdict (green works, red fails, with the finding codes).
pub fn dot(explanations: &[PortExplanation]) -> String {
    // DOT strings are quoted; names from outside are escaped for it.
    let escape = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |text: &str| format!("\"{}\"", escape(text));
    let mut out =
        String::from("digraph mtls {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n");
    for e in explanations {
        let modes: Vec<String> = e
            .groups
            .iter()
            .map(|g| match g.enforced {
                Some(enforced) if enforced.as_str() != g.chain.mode.as_str() => {
                    format!("{} → {enforced}", g.chain.mode)
                }
                _ => g.chain.mode.to_string(),
            })
            .collect();
        // `\n` is DOT's line break inside a label.
        out.push_str(&format!(
            "  {} [shape=box, label=\"{}\\n{}\"];\n",
            quote(&e.target),
            escape(&e.target),
            escape(&modes.join(", "))
        ));
        for c in &e.callers {
            let from = who(c);
            out.push_str(&format!("  {} [shape=ellipse];\n", quote(&from)));
            let sends = match (c.tls, c.inferred) {
                (Some(tls), _) => tls.as_str().to_string(),
                (None, Some(mode)) => format!("auto mTLS ({mode})"),
                (None, None) => "auto mTLS".to_string(),
            };
            let (color, label) = if c.failures.is_empty() {
                ("green", sends)
            } else {
                ("red", format!("{sends}: {}", c.failures.join(", ")))
            };
            out.push_str(&format!(
                "  {} -> {} [color={color}, label={}];\n",
                quote(&from),
                quote(&e.target),
                quote(&label)
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// The caller namespaces, as the tree and the graph name them.
fn who(caller: &Caller) -> String {
    match (caller.namespaces.as_slice(), caller.every_other) {
        ([], true) => "every namespace".to_string(),
        (names, true) => format!("every other namespace, and {}", few(names)),
        (names, false) => few(names),
    }
}

/// Up to four names, then how many more.
fn few(names: &[String]) -> String {
    crate::check::first_names(names, 4)
}

fn paint(text: &str, how: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    match how {
        "green" => text.green().to_string(),
        "red" => text.red().to_string(),
        _ => text.dimmed().to_string(),
    }
}
