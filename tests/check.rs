//! `mtls check` end to end: one fixture per finding that triggers it, and a
//! near-identical one that must not; the exit codes; the JSON shape.

mod common;

use common::Mtls;

use serde_json::{Value, json};

const CODES: [&str; 18] = [
    "MTLS001", "MTLS002", "MTLS003", "MTLS004", "MTLS005", "MTLS006", "MTLS007", "MTLS008",
    "MTLS009", "MTLS010", "MTLS011", "MTLS012", "MTLS013", "MTLS014", "MTLS015", "MTLS016",
    "MTLS017", "MTLS018",
];

/// Fixture pairs for the rules behind a finding (docs/semantics.md §4): the
/// first file triggers the code, the near-identical `-ok` one does not.
const RULES: [(&str, &str); 6] = [
    ("MTLS001", "MTLS001-tls-without-mode"),
    ("MTLS001", "MTLS001-port-level"),
    ("MTLS001", "MTLS001-export-to"),
    ("MTLS001", "MTLS001-workload-selector"),
    ("MTLS014", "MTLS014-passthrough"),
    ("MTLS016", "MTLS016-root-selector"),
];

fn run(args: &[&str]) -> (i32, String, String) {
    Mtls::new(args).run().into()
}

fn findings(fixture: &str, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["check", "-A", "-f", fixture, "-o", "json"];
    args.extend(extra);
    let (code, stdout, stderr) = run(&args);
    let value: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{fixture}: {e}: {stdout}{stderr}"));
    (
        code,
        value["findings"]
            .as_array()
            .expect("a findings list")
            .clone(),
    )
}

#[test]
fn every_finding_fires_on_its_fixture_and_not_on_the_near_identical_one() {
    for code in CODES {
        let (exit, found) = findings(
            &format!("tests/fixtures/check/{code}.yaml"),
            &["--fail-on", "warning"],
        );
        let codes: Vec<&str> = found
            .iter()
            .map(|f| f["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(codes, [code], "{code}.yaml");
        assert_eq!(exit, 3, "{code}.yaml fails with --fail-on warning");

        let (exit, found) = findings(
            &format!("tests/fixtures/check/{code}-ok.yaml"),
            &["--fail-on", "warning"],
        );
        assert_eq!((exit, found), (0, vec![]), "{code}-ok.yaml");
    }
}

#[test]
fn each_rule_of_the_client_side_fires_on_its_fixture_and_not_on_the_near_identical_one() {
    for (code, name) in RULES {
        let (exit, found) = findings(&format!("tests/fixtures/check/{name}.yaml"), &[]);
        let codes: Vec<&str> = found
            .iter()
            .map(|f| f["code"].as_str().unwrap_or(""))
            .collect();
        assert_eq!((exit, codes), (3, vec![code]), "{name}.yaml");
        let (exit, found) = findings(&format!("tests/fixtures/check/{name}-ok.yaml"), &[]);
        assert_eq!((exit, found), (0, vec![]), "{name}-ok.yaml");
    }
}

#[test]
fn findings_carry_exactly_the_contract_keys() {
    let (_, found) = findings("tests/fixtures/check/MTLS001.yaml", &[]);
    assert_eq!(
        found[0],
        json!({
            "severity": "error",
            "code": "MTLS001",
            "object": "destinationrule front/web-tls",
            "message": "calls from namespace front to shop/web:80 will fail (503, \"upstream connect error\"): \
                        destinationrule front/web-tls sends plaintext (tls mode DISABLE), but the port accepts only \
                        mTLS (STRICT from namespace policy shop/default) on 1 workload",
            "hint": "set the tls mode to ISTIO_MUTUAL in destinationrule front/web-tls (or remove its tls settings and \
                     let auto mTLS choose), or `mtls allow shop/web:80` if plaintext must be accepted",
            // From manifests: where the object is written.
            "file": "tests/fixtures/check/MTLS001.yaml",
            "line": 36,
        })
    );
}

#[test]
fn fail_on_chooses_which_severity_exits_3() {
    // MTLS003 is a warning: exit 0 by default, 3 with --fail-on warning.
    let fixture = "tests/fixtures/check/MTLS003.yaml";
    let (code, stdout, stderr) = run(&["check", "-A", "-f", fixture]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.starts_with("warning[MTLS003] peerauthentication shop/zz-second\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("\n0 errors, 1 warning\n"), "{stdout}");
    let (code, _, stderr) = run(&["check", "-A", "-f", fixture, "--fail-on", "warning"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            3,
            "error: check found 0 errors, 1 warning (--fail-on warning)\n"
        )
    );
}

#[test]
fn a_clean_mesh_exits_0_and_says_so() {
    let (code, stdout, stderr) =
        run(&["check", "-A", "-f", "tests/fixtures/check/MTLS001-ok.yaml"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "no findings: nothing breaks or weakens mTLS here\n", "")
    );
}

#[test]
fn the_bundled_example_has_its_two_documented_findings() {
    let (code, found) = findings("examples/", &[]);
    assert_eq!(code, 3);
    let summary: Vec<(&str, &str)> = found
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap_or(""),
                f["object"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("MTLS001", "destinationrule payments/ratings-plaintext"),
            (
                "MTLS003",
                "peerauthentication bookinfo/migration-permissive"
            ),
        ]
    );
}

#[test]
fn targets_narrow_the_findings() {
    let check = |target: &str| {
        let (_, stdout, _) = run(&["check", target, "-f", "examples/", "-o", "json"]);
        let value: Value = serde_json::from_str(&stdout).expect("JSON");
        value["findings"]
            .as_array()
            .expect("list")
            .iter()
            .map(|f| f["code"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(check("bookinfo/ratings:9080"), ["MTLS001"]);
    assert_eq!(check("bookinfo/ratings"), ["MTLS001"]);
    assert_eq!(check("bookinfo/reviews"), Vec::<String>::new());
    assert_eq!(check("bookinfo"), ["MTLS001", "MTLS003"]);
    assert_eq!(check("mesh"), Vec::<String>::new());
    let (code, _, stderr) = run(&["check", "nope", "-f", "examples/"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: namespace \"nope\" not found\n")
    );
}
