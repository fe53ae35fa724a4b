//! AuthorizationPolicies that depend on mTLS (docs/semantics.md §8): MTLS016–018
//! found in a cluster as in manifests, the wide view's marks, and the change
//! gate that refuses to lock callers out or let them through.

mod common;

use kube_loopback::{Config, Deny};
use serde_json::Value;

use common::Mtls;
use common::loopback::Loopback;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/check/{name}.yaml")).expect("fixture")
}

fn cluster(name: &str) -> Loopback {
    Loopback::seeded(&fixture(name))
}

fn mtls(cluster: &Loopback, args: &[&str]) -> common::Run {
    Mtls::new(args).kubeconfig(&cluster.kubeconfig).run()
}

/// The codes `check -A -o json` finds.
fn codes(run: &common::Run) -> Vec<String> {
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout, run.stderr));
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn each_finding_fires_in_a_cluster_as_in_its_manifests_and_not_on_the_near_identical_one() {
    for code in ["MTLS016", "MTLS017", "MTLS018", "MTLS016-root-selector"] {
        let expected = &code[..7];
        let broken = cluster(code);
        let run = mtls(
            &broken,
            &["check", "-A", "-o", "json", "--fail-on", "warning"],
        );
        assert_eq!(codes(&run), [expected], "{code}: {}", run.stderr);
        assert_eq!(run.code, 3, "{code}");
        // A namespace's check reads the policies of the namespace and the
        // root namespace.
        let scoped = mtls(
            &broken,
            &["check", "shop", "-o", "json", "--fail-on", "warning"],
        );
        assert_eq!(codes(&scoped), [expected], "{code} (check shop)");
        let fixed = cluster(&format!("{code}-ok"));
        let run = mtls(
            &fixed,
            &["check", "-A", "-o", "json", "--fail-on", "warning"],
        );
        assert_eq!((run.code, codes(&run)), (0, vec![]), "{code}-ok");
    }
}

#[test]
fn a_finding_names_the_policy_the_rule_the_port_and_the_fix() {
    let run = Mtls::new(["check", "-A", "-f", "tests/fixtures/check/MTLS016.yaml"]).run();
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stdout.lines().take(3).collect::<Vec<_>>(),
        [
            "error[MTLS016] authorizationpolicy shop/from-web (rule 0)",
            "  --> tests/fixtures/check/MTLS016.yaml:33",
            "  shop/api:80 takes plaintext (PERMISSIVE) on 1 workload (api-1), but rule 0 of ALLOW \
             authorizationpolicy shop/from-web admits callers only by identity (principals), which a plaintext \
             call does not carry: the plaintext callers it admits get 403 (RBAC: access denied)",
        ]
    );
    assert!(
        run.stdout
            .contains("hint: `mtls require shop/api:80`, so that callers send mTLS"),
        "{}",
        run.stdout
    );
}

#[test]
fn allow_on_a_service_an_allow_by_principal_policy_protects_is_refused_then_forced() {
    let cluster = cluster("MTLS016-ok");
    let before = cluster.server.objects();
    let refused = mtls(&cluster, &["allow", "shop/api", "--yes"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.starts_with(
            "error: refused: the change would undo authorization policies: callers locked out, or let through (1 failure):\n"
        ),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("error[MTLS016] authorizationpolicy shop/from-web (rule 0): shop/api:80 takes plaintext (PERMISSIVE)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("nothing was written; --force writes anyway")
    );
    assert_eq!(cluster.server.objects(), before, "nothing written");

    let forced = mtls(&cluster, &["allow", "shop/api", "--yes", "--force", "-q"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.starts_with(
            "warning: the change undoes an authorization policy (MTLS016 authorizationpolicy shop/from-web (rule 0))"
        ),
        "{}",
        forced.stderr
    );
    let written = cluster
        .server
        .object("peerauthentications.security.istio.io", "shop", "api")
        .expect("written with --force");
    assert_eq!(written["spec"]["mtls"]["mode"], "PERMISSIVE");
}

#[test]
fn an_offline_plan_and_a_dry_run_refuse_as_the_change_does() {
    let plan = Mtls::new([
        "disable",
        "shop/api:80",
        "-f",
        "tests/fixtures/check/MTLS017-ok.yaml",
    ])
    .run();
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert_eq!(plan.stdout, "", "no plan is printed");
    assert!(
        plan.stderr.starts_with(
            "error: refused: the change would make calls fail that work today, and undo authorization policies"
        ),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr
            .contains("error[MTLS017] authorizationpolicy shop/not-from-test (rule 0)"),
        "{}",
        plan.stderr
    );
    let cluster = cluster("MTLS017-ok");
    let dry = mtls(&cluster, &["allow", "shop", "--dry-run", "--yes"]);
    assert_eq!(dry.code, 3, "{}", dry.stderr);
    assert!(dry.stderr.contains("error[MTLS017]"), "{}", dry.stderr);
}

#[test]
fn the_wide_view_marks_the_rows_a_policy_concerns() {
    let cluster = cluster("MTLS016");
    let run = mtls(&cluster, &["get", "shop", "-o", "wide"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("shop/api:80 "))
        .expect("the port's row");
    assert!(row.trim_end().ends_with("MTLS016"), "{}", run.stdout);
    let namespace = run
        .stdout
        .lines()
        .find(|l| l.starts_with("shop "))
        .expect("the namespace's row");
    assert!(!namespace.contains("MTLS016"), "{}", run.stdout);
}

#[test]
fn policies_that_may_not_be_read_are_said_and_the_rest_is_checked() {
    let config = Config::default()
        .seed_yaml(&fixture("MTLS016"))
        .expect("seed");
    let cluster = Loopback::start(config);
    cluster.server.deny(Deny {
        resource: Some("authorizationpolicies".into()),
        ..Default::default()
    });
    let run = mtls(&cluster, &["check", "-A", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(codes(&run), Vec::<String>::new());
    assert!(
        run.stderr.contains(
            "cannot list authorizationpolicies (forbidden): policies that depend on mTLS (MTLS016–018) are not checked"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn explain_shows_each_rule_that_reads_identity_and_what_plaintext_does_to_it() {
    let broken = Mtls::new([
        "explain",
        "shop/api:80",
        "-f",
        "tests/fixtures/check/MTLS016.yaml",
    ])
    .run();
    assert_eq!(broken.code, 0, "{}", broken.stderr);
    assert!(
        broken.stdout.contains(
            "├─ authorization by caller identity (carried by mTLS only)\n│  ALLOW authorizationpolicy \
             shop/from-web rule 0 (principals): plaintext callers get 403 on api-1 (MTLS016)\n"
        ),
        "{}",
        broken.stdout
    );
    let fixed = Mtls::new([
        "explain",
        "shop/api:80",
        "-f",
        "tests/fixtures/check/MTLS016-ok.yaml",
        "-o",
        "json",
    ])
    .run();
    let doc: Value = serde_json::from_str(&fixed.stdout).expect("JSON");
    let rule = &doc["ports"][0]["authorization"][0];
    assert_eq!(rule["policy"], "shop/from-web");
    assert_eq!(rule["action"], "ALLOW");
    assert_eq!(rule["fields"], serde_json::json!(["principals"]));
    assert_eq!(rule["plaintextPods"], serde_json::json!([]));
    assert_eq!(rule["code"], Value::Null);
}

/// The fix each hint names, once made, clears its finding — and the change
/// the gate refused then goes through (the guide's recipe, step 4).
#[test]
fn the_fix_each_hint_names_clears_its_finding() {
    let hints = |text: &str| {
        let run = Mtls::new(["check", "-A", "-f", "-", "-o", "json"])
            .stdin(text)
            .run();
        let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["hint"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    // MTLS016: the rule also admits the plaintext caller by its address.
    let allow = fixture("MTLS016");
    assert!(hints(&allow)[0].contains("ipBlocks"), "{:?}", hints(&allow));
    let admitted = allow.replace(
        "    - source: {principals: [cluster.local/ns/front/sa/web]}\n",
        "    - source: {principals: [cluster.local/ns/front/sa/web]}\n    - source: {ipBlocks: [10.1.0.0/16]}\n",
    );
    assert_ne!(admitted, allow);
    assert_eq!(hints(&admitted), Vec::<String>::new());
    let strict = fixture("MTLS016-ok").replace(
        "    - source: {principals: [cluster.local/ns/front/sa/web]}\n",
        "    - source: {principals: [cluster.local/ns/front/sa/web]}\n    - source: {ipBlocks: [10.1.0.0/16]}\n",
    );
    let cluster = Loopback::seeded(&strict);
    let allowed = mtls(&cluster, &["allow", "shop/api", "--yes"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);

    // MTLS017: the DENY rule names the callers by what plaintext carries.
    let deny = fixture("MTLS017");
    let hint = hints(&deny).remove(0);
    assert!(
        hint.contains("ipBlocks") && !hint.contains("notPrincipals"),
        "a hint names only a fix that clears the finding: {hint}"
    );
    let by_address = deny.replace(
        "    - source: {namespaces: [test]}\n",
        "    - source: {ipBlocks: [10.2.0.0/16]}\n",
    );
    assert_ne!(by_address, deny);
    assert_eq!(hints(&by_address), Vec::<String>::new());
}
