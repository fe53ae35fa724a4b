//! kubectl's habits: `-n NS` for bare targets, `-o name` and `-o jsonpath`.

mod common;

use pretty_assertions::assert_eq;

use common::Mtls;

fn run(args: &[&str]) -> common::Run {
    Mtls::new(args).args(["-f", "examples/"]).run()
}

#[test]
fn namespace_makes_bare_targets_relative_as_in_kubectl() {
    for (relative, absolute) in [
        (
            &["get", "-n", "payments", "ledger:https"][..],
            &["get", "payments/ledger:https"][..],
        ),
        (&["get", "-n", "payments"], &["get", "payments"]),
        (
            &["get", "--namespace", "payments", "ledger", "fraud-check"],
            &["get", "payments/ledger", "payments/fraud-check"],
        ),
        // A target with a namespace, and `mesh`, stay as they are.
        (
            &["get", "-n", "payments", "bookinfo/ratings", "mesh"],
            &["get", "bookinfo/ratings", "mesh"],
        ),
        (&["check", "-n", "payments"], &["check", "payments"]),
        (
            &["explain", "-n", "payments", "ledger:80"],
            &["explain", "payments/ledger:80"],
        ),
        (
            &["require", "-n", "payments", "fraud-check:7070"],
            &["require", "payments/fraud-check:7070"],
        ),
    ] {
        let (a, b) = (run(relative), run(absolute));
        assert_eq!(
            (a.code, a.stdout.as_str(), a.stderr.as_str()),
            (b.code, b.stdout.as_str(), b.stderr.as_str()),
            "{relative:?}"
        );
    }
    let pods = Mtls::new([
        "get",
        "-n",
        "shop",
        "pod/web-1",
        "-q",
        "-f",
        "tests/fixtures/pods.yaml",
    ])
    .run();
    assert_eq!(pods.code, 0, "{}", pods.stderr);
    assert!(
        pods.stdout.contains("shop/pod/web-1:8080"),
        "{}",
        pods.stdout
    );
    for (args, stderr) in [
        (&["get", "-n", "payments", "-A"][..], "cannot be used with"),
        (
            &["get", "-n", "Payments"],
            "namespace \"Payments\" is not a valid name",
        ),
        (&["get", "-n", "payments", "ledger:"], "the port is empty"),
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(stderr), "{args:?}: {}", out.stderr);
    }
    let missing = run(&["get", "-n", "payments", "nope"]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (1, "error: service payments/nope not found\n")
    );
}

#[test]
fn output_name_prints_canonical_targets_one_per_line() {
    let get = run(&["get", "payments", "-o", "name"]);
    assert_eq!(
        (get.code, get.stdout.as_str()),
        (
            0,
            "payments\npayments/fraud-check:7070\npayments/ledger:80\npayments/ledger:443\n"
        )
    );
    // A port named by its name is printed by number: the canonical spelling.
    let port = run(&["get", "payments/ledger:https", "-o", "name"]);
    assert_eq!(port.stdout, "payments/ledger:443\n");
    let check = run(&["check", "-A", "-o", "name"]);
    assert_eq!(check.code, 3, "{}", check.stderr);
    assert_eq!(
        check.stdout,
        "destinationrule/payments/ratings-plaintext\npeerauthentication/bookinfo/migration-permissive\n"
    );
    let explain = run(&["explain", "payments/ledger", "-o", "name"]);
    assert_eq!(explain.stdout, "payments/ledger:80\npayments/ledger:443\n");
    // Piped on to another mtls, the names are targets.
    let names: Vec<String> = get.stdout.lines().map(str::to_string).collect();
    let again = Mtls::new(["get", "-o", "name", "-f", "examples/"])
        .args(&names)
        .run();
    assert_eq!(again.stdout, get.stdout);
}

#[test]
fn output_jsonpath_reads_kubectls_templates() {
    let out = run(&[
        "get",
        "payments",
        "-o",
        r#"jsonpath={range .items[*]}{.target}{"\t"}{.mode}{"\n"}{end}"#,
    ]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            0,
            "payments\tPERMISSIVE\npayments/fraud-check:7070\tPERMISSIVE\npayments/ledger:80\tSTRICT\npayments/ledger:443\tDISABLE\n"
        )
    );
    let list = run(&[
        "get",
        "payments/ledger",
        "-o",
        "jsonpath={.items[*].source.policy}",
    ]);
    assert_eq!(
        list.stdout,
        "payments/ledger payments/ledger payments/ledger"
    );
    let check = run(&["check", "-A", "-o", "jsonpath={.findings[*].code}"]);
    assert_eq!((check.code, check.stdout.as_str()), (3, "MTLS001 MTLS003"));
    for (template, error) in [
        ("jsonpath", "jsonpath needs a template"),
        ("jsonpath={.items[*]", "unclosed {"),
        ("jsonpath={range .items[*]}", "{range} without {end}"),
    ] {
        let bad = run(&["get", "payments", "-o", template]);
        assert_eq!(bad.code, 2, "{template}: {}", bad.stderr);
        assert!(bad.stderr.contains(error), "{template}: {}", bad.stderr);
        assert_eq!(bad.stdout, "");
    }
}

/// The README's jsonpath example prints what it shows.
#[test]
fn the_readme_shows_jsonpath_as_it_prints() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let command = "$ mtls get payments -f examples/ -o jsonpath='";
    let (_, rest) = readme
        .split_once(command)
        .expect("README shows the example");
    let (template, rest) = rest.split_once("'\n").expect("a template");
    let shown = rest.split("```").next().expect("its output");
    let out = run(&["get", "payments", "-o", &format!("jsonpath={template}")]);
    assert_eq!((out.code, out.stdout.as_str()), (0, shown));
}

/// Tables fit the width they are given (COLUMNS, else the terminal's): the
/// wide table drops to the default columns, then SOURCE is cut with `…`; no
/// name is ever split. Without a width (a pipe), nothing is cut or wrapped.
#[test]
fn tables_fit_the_width_and_never_split_a_name() {
    let at = |columns: &str| {
        Mtls::new(["get", "-A", "-o", "wide", "-f", "examples/"])
            .env("COLUMNS", columns)
            .run()
    };
    let wide = at("250");
    assert!(wide.stdout.starts_with("TARGET  "), "{}", wide.stdout);
    assert!(
        wide.stdout
            .lines()
            .next()
            .is_some_and(|h| h.contains("ENFORCED"))
    );
    let narrow = at("80");
    assert_eq!(
        narrow.stdout,
        run(&["get", "-A"]).stdout,
        "the default columns fit 80"
    );
    assert!(
        narrow
            .stderr
            .contains("the wide table is wider than 80 columns"),
        "{}",
        narrow.stderr
    );
    let tight = at("50");
    for line in tight.stdout.lines() {
        assert!(line.chars().count() <= 50, "{line}");
        // Targets are whole.
        let target = line.split_whitespace().next().unwrap_or("");
        assert!(
            target == "TARGET"
                || run(&["get", "-A", "-o", "name"])
                    .stdout
                    .lines()
                    .any(|t| t == target),
            "{target}"
        );
    }
    assert!(tight.stdout.contains("mesh ist…"), "{}", tight.stdout);
    // A pipe without COLUMNS: the whole wide table, however wide.
    let piped = Mtls::new(["get", "-A", "-o", "wide", "-f", "examples/"])
        .env_remove("COLUMNS")
        .run();
    assert!(
        piped
            .stdout
            .lines()
            .next()
            .is_some_and(|h| h.contains("ENFORCED"))
    );
}
