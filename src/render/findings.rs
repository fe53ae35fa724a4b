//! `check`'s report: one block per finding, compiler style, and a summary line.

use colored::Colorize;

use crate::check::{Finding, Severity};

pub fn report(findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let label = format!("{}[{}]", f.severity.as_str(), f.code);
        let label = match (color, f.severity) {
            (false, _) => label,
            (true, Severity::Error) => label.red().bold().to_string(),
            (true, Severity::Warning) => label.yellow().bold().to_string(),
        };
        out.push_str(&format!(
            "{label} {}\n  {}\n  hint: {}\n\n",
            f.object, f.message, f.hint
        ));
    }
    out.push_str(&summary(findings));
    out.push('\n');
    out
}

pub fn summary(findings: &[Finding]) -> String {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
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
