//! `check` for CI systems: findings accepted on purpose (`--ignore`, the
//! annotation `mtls.istio.io/ignore`), the manifest and line of each
//! finding's object, and `-o sarif`, validated against SARIF 2.1.0's JSON
//! schema.

mod common;

use pretty_assertions::assert_eq;
use serde_json::Value;

use common::Mtls;

const MESH: &str = "tests/fixtures/ci/";

fn check(args: &[&str]) -> common::Run {
    Mtls::new(["check", "-A", "-f", MESH]).args(args).run()
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn findings_say_where_their_object_is_written() {
    let out = check(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "warning[MTLS003] peerauthentication shop/zz-second\n  --> tests/fixtures/ci/mesh.yaml:23\n"
        ),
        "{}",
        out.stdout
    );
    let json: Value = serde_json::from_str(&check(&["-o", "json"]).stdout).expect("JSON");
    let first = &json["findings"][0];
    assert_eq!(
        (&first["file"], &first["line"]),
        (
            &Value::from("tests/fixtures/ci/mesh.yaml"),
            &Value::from(23)
        )
    );
    // From a cluster there is no file: the keys are absent.
    let examples: Value = serde_json::from_str(
        &Mtls::new(["check", "-A", "-o", "json", "-f", "examples/"])
            .run()
            .stdout,
    )
    .expect("JSON");
    assert_eq!(
        examples["findings"][0]["file"],
        "examples/payments/security.yaml"
    );
}

#[test]
fn findings_accepted_on_purpose_are_listed_and_never_fail() {
    // The annotation accepts MTLS005 on its own object.
    let json: Value = serde_json::from_str(&check(&["-o", "json"]).stdout).expect("JSON");
    assert_eq!(codes(&json["findings"]), ["MTLS003", "MTLS010"]);
    assert_eq!(codes(&json["ignored"]), ["MTLS005"]);
    assert_eq!(
        json["ignored"][0]["ignoredBy"],
        "annotation mtls.istio.io/ignore"
    );

    // --ignore accepts codes wherever they are; warnings then fail nothing.
    let strict = check(&["--fail-on", "warning"]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    let accepted = check(&[
        "--fail-on",
        "warning",
        "--ignore",
        "mtls003,MTLS010",
        "-o",
        "json",
    ]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    let json: Value = serde_json::from_str(&accepted.stdout).expect("JSON");
    assert_eq!(codes(&json["findings"]), Vec::<String>::new());
    assert_eq!(codes(&json["ignored"]), ["MTLS003", "MTLS005", "MTLS010"]);
    assert!(
        accepted
            .stderr
            .contains("accepted on purpose (--ignore, or the annotation mtls.istio.io/ignore): 0 errors, 3 warnings"),
        "{}",
        accepted.stderr
    );
    let bad = check(&["--ignore", "005"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("\"005\" is no finding code"),
        "{}",
        bad.stderr
    );
}

/// The SARIF 2.1.0 schema, as serde-sarif ships it in its sources.
fn sarif_schema() -> Value {
    // The host's packages only: those of other platforms may not be fetched.
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("the host triple");
    let metadata = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    let metadata: Value = serde_json::from_slice(&metadata.stdout).expect("metadata JSON");
    let manifest = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dev-dependency")
        .to_string();
    let schema = std::path::Path::new(&manifest)
        .parent()
        .expect("its directory")
        .join("src/schema.json");
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema).expect("the schema"))
            .expect("schema JSON");
    // The published schema's `language` patterns have a stray `]`, a literal
    // to ECMA 262's regexes and an error to Rust's: escaped, they mean the same.
    let escaped = escape_stray_brackets(&mut schema);
    assert_eq!(escaped, 2, "the schema's language patterns");
    schema
}

/// Escapes the `]` of each `pattern` `...{2}]?$`; how many it escaped.
fn escape_stray_brackets(value: &mut Value) -> usize {
    const STRAY: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match value {
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, v)| {
                if key == "pattern" && v == STRAY {
                    *v = Value::from(STRAY.replace("}]?", "}\\]?"));
                    1
                } else {
                    escape_stray_brackets(v)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(escape_stray_brackets).sum(),
        _ => 0,
    }
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    for (args, input) in [
        (&["-o", "sarif"][..], MESH),
        (&["-o", "sarif", "--ignore", "MTLS003"], MESH),
        (&["-o", "sarif"], "examples/"),
    ] {
        let out = Mtls::new(["check", "-A", "-f", input]).args(args).run();
        assert!(out.code == 0 || out.code == 3, "{args:?}: {}", out.stderr);
        let log: Value = serde_json::from_str(&out.stdout).expect("SARIF is JSON");
        let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
        assert_eq!(errors, Vec::<String>::new(), "{args:?} {input}");
        // And it reads as serde-sarif's types.
        let typed: serde_sarif::sarif::Sarif =
            serde_json::from_value(log.clone()).expect("typed SARIF");
        assert_eq!(
            serde_json::to_value(&typed.version).expect("a version"),
            "2.1.0"
        );
    }
    let out = check(&["-o", "sarif", "--ignore", "MTLS003"]);
    let log: Value = serde_json::from_str(&out.stdout).expect("SARIF");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let by_rule = |rule: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == rule)
            .cloned()
            .expect(rule)
    };
    let accepted = by_rule("MTLS003");
    assert_eq!(accepted["suppressions"][0]["kind"], "external");
    assert_eq!(by_rule("MTLS005")["suppressions"][0]["kind"], "inSource");
    let open = by_rule("MTLS010");
    assert_eq!(open.get("suppressions"), None);
    assert_eq!(
        open["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "tests/fixtures/ci/mesh.yaml"
    );
    assert_eq!(
        open["locations"][0]["physicalLocation"]["region"]["startLine"],
        17
    );
    // Only check speaks SARIF.
    let refused = Mtls::new(["get", "-o", "sarif", "-f", MESH]).run();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}

/// The README's `check` example is what it prints (stdout, then stderr).
#[test]
fn the_readme_shows_check_as_it_prints() {
    let shown = common::readme_output("$ mtls check -A -f examples/\n");
    let out = Mtls::new(["check", "-A", "-f", "examples/"]).run();
    assert_eq!(format!("{}{}", out.stdout, out.stderr), shown);
}
