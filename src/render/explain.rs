//! The terminal view of `mtls explain`: for each Service port a tree — the
//! port mapping, then each pod group with its chain of policies (the one that
//! decides marked, the others with why they do not), then the callers.

use colored::Colorize;

use crate::check::client::Caller;
use crate::explain::{PodExplanation, PodGroup, PortExplanation};
use crate::mode::Enforced;
use crate::policy::dataplane::{Bypass, Dataplane};
use crate::policy::explain::{Candidate, Outcome};
use crate::policy::resolve::Level;

/// Every explanation as a tree, one after another; `color` marks winners,
/// dims losers and colors verdicts. Ports named only as part of a wider
/// target get one line per pod group, together; pods follow the ports.
pub fn tree(explanations: &[PortExplanation], pods: &[PodExplanation], color: bool) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut lines = String::new();
    for e in explanations {
        if e.brief {
            brief(&mut lines, e, color);
            continue;
        }
        if !lines.is_empty() {
            blocks.push(std::mem::take(&mut lines));
        }
        let mut block = String::new();
        port(&mut block, e, color);
        blocks.push(block);
    }
    if !lines.is_empty() {
        blocks.push(lines);
    }
    for p in pods {
        let mut block = String::new();
        pod(&mut block, p, color);
        blocks.push(block);
    }
    blocks.join("\n")
}

/// One line per pod group of a port: who serves it, the decision, and how
/// its callers fare.
fn brief(out: &mut String, e: &PortExplanation, color: bool) {
    let name = e
        .port_name
        .as_deref()
        .map_or(String::new(), |n| format!(" ({n})"));
    let failing: Vec<&Caller> = e.callers.iter().filter(|c| !c.works).collect();
    let callers = match (e.callers.len(), failing.len()) {
        (0, _) => "no callers".to_string(),
        (_, 0) => paint("callers work", "green", color),
        (_, _) => {
            let who: Vec<String> = failing
                .iter()
                .map(|c| match c.failures.as_slice() {
                    [] => format!("{}: plaintext to STRICT", who(c)),
                    codes => format!("{}: {}", who(c), codes.join(", ")),
                })
                .collect();
            paint(&format!("calls fail from {}", who.join("; ")), "red", color)
        }
    };
    for g in &e.groups {
        let who = if g.pods.is_empty() {
            "no pods".to_string()
        } else {
            few(&g.pods)
        };
        let port = g.container_port.map_or("?".to_string(), |p| p.to_string());
        out.push_str(&format!(
            "{}{name} → {port}: {}: {} ({}); {callers}\n",
            super::printable(&e.target),
            super::printable(&who),
            super::printable(&decided(&g.chain)),
            serves(g.dataplane, g.enforced, g.bypass),
        ));
    }
}

/// A pod: its workload-level chain, then each port's.
fn pod(out: &mut String, p: &PodExplanation, color: bool) {
    let plane = p.dataplane.map_or("dataplane unknown", |d| d.as_str());
    out.push_str(&format!("{} ({plane})\n", super::printable(&p.target)));
    let last_port = p.ports.len();
    out.push_str(&format!(
        "{} pod as a whole: {} ({})\n",
        if last_port == 0 { "└─" } else { "├─" },
        super::printable(&decided(&p.chain)),
        serves(p.dataplane, p.enforced, None)
    ));
    chain_links(
        out,
        &p.chain,
        if last_port == 0 { "   " } else { "│  " },
        color,
    );
    for (i, port) in p.ports.iter().enumerate() {
        let last = i + 1 == last_port;
        let name = port
            .name
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        let undeclared = if port.declared {
            ""
        } else {
            ", undeclared: its policy sets it"
        };
        let services = if port.services.is_empty() {
            "; no Service port reaches it".to_string()
        } else {
            format!("; serves {}", few(&port.services))
        };
        out.push_str(&format!(
            "{} port {}{name} {}{undeclared}: {} ({}){}\n",
            if last { "└─" } else { "├─" },
            port.container_port,
            port.protocol,
            super::printable(&decided(&port.chain)),
            serves(p.dataplane, port.enforced, port.bypass),
            super::printable(&services)
        ));
        chain_links(out, &port.chain, if last { "   " } else { "│  " }, color);
    }
}

/// `STRICT from workload NS/NAME`, or the default.
fn decided(chain: &crate::policy::explain::Chain) -> String {
    match &chain.policy {
        Some(p) => format!("{} from {} {p}", chain.mode, chain.level.as_str()),
        None => format!("{} (no policy)", chain.mode),
    }
}

/// What serves a pod and what it enforces, and why that is not the declared
/// mode where a proxy is there but does not enforce it.
fn serves(
    dataplane: Option<Dataplane>,
    enforced: Option<Enforced>,
    bypass: Option<Bypass>,
) -> String {
    let why = match bypass {
        Some(Bypass::NotCaptured) => ": the sidecar does not capture the port",
        Some(Bypass::Udp) => ": UDP is not captured",
        Some(Bypass::AmbientDisable) => ": ztunnel takes DISABLE as PERMISSIVE",
        Some(Bypass::NoProxy) | None => "",
    };
    match (dataplane, enforced) {
        (Some(plane), Some(e)) => format!("{}, enforced {e}{why}", plane.as_str()),
        (Some(plane), None) => format!("{}, PeerAuthentication does not apply", plane.as_str()),
        (None, _) => "dataplane unknown".to_string(),
    }
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
        let sends = match (c.plaintext, c.tls, c.inferred) {
            (true, ..) => "sends plaintext".to_string(),
            (false, Some(tls), _) => format!("sends {}", tls.as_str()),
            (false, None, Some(mode)) => format!("auto mTLS (namespace mode {mode})"),
            (false, None, None) => "auto mTLS".to_string(),
        };
        let mut notes: Vec<String> = Vec::new();
        if let Some(subset) = &c.subset {
            notes.push(format!("subset {subset}"));
        }
        if !c.shadowed.is_empty() {
            notes.push(format!("over {}", few(&c.shadowed)));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        let via = match &c.rule {
            Some(rule) => format!("destinationrule {rule}{notes}, "),
            None => String::new(),
        };
        let verdict = match (c.works, c.failures.is_empty()) {
            (true, _) => paint("works", "green", color),
            (false, true) => paint("fails (a pod enforces STRICT)", "red", color),
            (false, false) => paint(&format!("fails ({})", c.failures.join(", ")), "red", color),
        };
        out.push_str(&format!(
            "│  {}: {}{sends}: {verdict}\n",
            super::printable(&who(c)),
            super::printable(&via)
        ));
    }
    if !e.authorization.is_empty() {
        out.push_str("├─ authorization by caller identity (carried by mTLS only)\n");
    }
    for a in &e.authorization {
        let effect = match a.code {
            None if a.plaintext_pods.is_empty() => {
                paint("holds: every pod takes mTLS only", "green", color)
            }
            None => {
                "plaintext callers cannot match it, which changes nothing it decides".to_string()
            }
            Some("MTLS016") => paint(
                &format!(
                    "plaintext callers get 403 on {} (MTLS016)",
                    few(&a.plaintext_pods)
                ),
                "red",
                color,
            ),
            Some("MTLS017") => paint(
                &format!(
                    "plaintext callers get through on {} (MTLS017)",
                    few(&a.plaintext_pods)
                ),
                "red",
                color,
            ),
            Some(code) => paint(
                &format!(
                    "sees no identity for plaintext callers on {} ({code})",
                    few(&a.plaintext_pods)
                ),
                "yellow",
                color,
            ),
        };
        out.push_str(&format!(
            "│  {} authorizationpolicy {} rule {} ({}): {effect}\n",
            a.action,
            super::printable(&a.policy),
            a.rule,
            a.fields.join(", ")
        ));
    }
    let changes: Vec<String> = e
        .changes
        .iter()
        .map(|c| match (c.takes_effect, &c.in_the_way) {
            (true, _) => c.command.clone(),
            (false, Some(policy)) => {
                format!("{} (would not take effect: {policy} decides)", c.command)
            }
            (false, None) => format!("{} (would not take effect)", c.command),
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
    out.push_str(&format!(
        "├─ {}{port}: {} ({})\n",
        super::printable(&who),
        super::printable(&decided(&g.chain)),
        serves(g.dataplane, g.enforced, g.bypass)
    ));
    chain_links(out, &g.chain, "│  ", color);
}

/// A chain's levels as branches under `indent`, each candidate with what
/// became of it.
fn chain_links(out: &mut String, chain: &crate::policy::explain::Chain, indent: &str, color: bool) {
    let links = &chain.links;
    for (i, link) in links.iter().enumerate() {
        let branch = if i + 1 == links.len() {
            "└─"
        } else {
            "├─"
        };
        let level = format!("{:<9}", link.level.as_str());
        if link.candidates.is_empty() {
            out.push_str(&format!("{indent}{branch} {level} -\n"));
            continue;
        }
        for (j, c) in link.candidates.iter().enumerate() {
            let lead = if j == 0 {
                format!("{branch} {level}")
            } else {
                let cont = if i + 1 == links.len() { "  " } else { "│ " };
                format!("{cont} {:<9}", "")
            };
            out.push_str(&format!(
                "{indent}{lead} {}\n",
                candidate(c, link.level, color)
            ));
        }
    }
}

fn candidate(c: &Candidate, level: Level, color: bool) -> String {
    let mode = c.mode.map_or("UNSET", |m| m.as_str());
    let what = match (&c.outcome, level) {
        (Outcome::Decides, _) => paint("decides", "green", color),
        (Outcome::Inherits, Level::Port) => "no entry for the port: inherits".to_string(),
        (Outcome::Inherits, _) => "inherits".to_string(),
        (Outcome::Shadowed { by }, _) => paint(&format!("ignored: {by} is older"), "dimmed", color),
        (Outcome::NotSelected, _) => {
            paint("its selector does not select these pods", "dimmed", color)
        }
        (Outcome::IgnoredInRoot, _) => paint(
            "ignored: a selector policy in the root namespace",
            "dimmed",
            color,
        ),
        (Outcome::PortWithoutSelector, _) => paint(
            "ignored: portLevelMtls on a policy without selector",
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
            let sends = match (c.plaintext, c.tls, c.inferred) {
                (true, ..) => "plaintext".to_string(),
                (false, Some(tls), _) => tls.as_str().to_string(),
                (false, None, Some(mode)) => format!("auto mTLS ({mode})"),
                (false, None, None) => "auto mTLS".to_string(),
            };
            let (color, label) = match (c.works, c.failures.is_empty()) {
                (true, _) => ("green", sends),
                (false, true) => ("red", format!("{sends}: STRICT")),
                (false, false) => ("red", format!("{sends}: {}", c.failures.join(", "))),
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
    let names = match (caller.namespaces.as_slice(), caller.every_other) {
        ([], true) => "every namespace".to_string(),
        (names, true) => format!("every other namespace, and {}", few(names)),
        (names, false) => few(names),
    };
    if caller.plaintext {
        format!("{names} (workloads without a proxy)")
    } else {
        names
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
