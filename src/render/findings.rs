//! `check`'s report: one block per finding, compiler style, and a summary line.

use colored::Colorize;

use crate::check::{Finding, Reported, Severity};

/// The findings, compiler style (with `--> FILE:LINE` where the object is
/// written in a manifest), then the summary.
pub fn report(reported: &[Reported<'_>], color: bool) -> String {
    let mut out = String::new();
    for r in reported {
        let f = r.finding;
        let label = format!("{}[{}]", f.severity.as_str(), f.code);
        let label = match (color, f.severity) {
            (false, _) => label,
            (true, Severity::Error) => label.red().bold().to_string(),
            (true, Severity::Warning) => label.yellow().bold().to_string(),
        };
        let at = match (&r.file, r.line) {
            (Some(file), Some(line)) => format!("  --> {}:{line}\n", super::printable(file)),
            _ => String::new(),
        };
        let cluster = r.cluster.as_ref().map_or(String::new(), |c| {
            format!(" (cluster {})", super::printable(c))
        });
        out.push_str(&format!(
            "{label} {}{cluster}\n{at}  {}\n  hint: {}\n\n",
            f.object, f.message, f.hint
        ));
    }
    out.push_str(&summary(reported.iter().map(|r| r.finding)));
    out.push('\n');
    out
}

pub fn summary<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> String {
    let (mut errors, mut warnings) = (0, 0);
    for f in findings {
        match f.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
        }
    }
    let count = |n: usize, what: &str| {
        if n == 1 {
            format!("1 {what}")
        } else {
            format!("{n} {what}s")
        }
    };
    match (errors, warnings) {
        (0, 0) => "no findings: nothing breaks or weakens mTLS here".to_string(),
        (e, w) => format!("{}, {}", count(e, "error"), count(w, "warning")),
    }
}
