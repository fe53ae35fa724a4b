//! `check -o sarif`: the findings as a SARIF 2.1.0 log, for code-scanning
//! UIs. A finding is a result of its code's rule, at the manifest and line of
//! its object (a logical location `kind/NS/NAME` for objects from a
//! cluster), its message with the hint; one accepted on purpose carries a
//! suppression that says by what.

use serde_json::{Value, json};

use crate::check::{Reported, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The SARIF log of `reported` and `ignored` (suppressed) findings.
pub fn log(reported: &[Reported<'_>], ignored: &[Reported<'_>], version: &str) -> String {
    let mut codes: Vec<(&str, Severity)> = reported
        .iter()
        .chain(ignored)
        .map(|r| (r.finding.code, r.finding.severity))
        .collect();
    codes.sort();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|(code, severity)| {
            json!({
                "id": code,
                "defaultConfiguration": {"level": level(*severity)},
            })
        })
        .collect();
    let results: Vec<Value> = reported
        .iter()
        .map(|r| result(r, &codes))
        .chain(ignored.iter().map(|r| {
            let mut result = result(r, &codes);
            result["suppressions"] = json!([{
                "kind": if r.ignored_by == Some("--ignore") { "external" } else { "inSource" },
                "justification": format!("accepted on purpose: {}", r.ignored_by.unwrap_or_default()),
            }]);
            result
        }))
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mtls",
                "version": version,
                "rules": rules,
            }},
            "results": results,
        }],
    });
    super::json(&log)
}

fn result(r: &Reported<'_>, codes: &[(&str, Severity)]) -> Value {
    let f = r.finding;
    let mut result = json!({
        "ruleId": f.code,
        "ruleIndex": codes.iter().position(|(c, _)| *c == f.code).unwrap_or(0),
        "level": level(f.severity),
        "message": {"text": format!("{}: {} Hint: {}", f.object, f.message, f.hint)},
    });
    if let Some(cluster) = &r.cluster {
        result["message"]["text"] = json!(format!(
            "{} (cluster {cluster}): {} Hint: {}",
            f.object, f.message, f.hint
        ));
        result["properties"] = json!({"cluster": cluster});
    }
    let logical = json!([{
        "fullyQualifiedName": f.object_key().replacen(' ', "/", 1),
        "kind": "resource",
    }]);
    result["locations"] = match (&r.file, r.line) {
        (Some(file), Some(line)) => json!([{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(file)},
                "region": {"startLine": line},
            },
            "logicalLocations": logical,
        }]),
        _ => json!([{"logicalLocations": logical}]),
    };
    result
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A path as a relative URI reference: `/` separators, spaces and other
/// characters URIs do not take percent-encoded.
fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    percent_encoding::utf8_percent_encode(path, URI_PATH).to_string()
}

const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');
