//! `mtls explain`: the tree at a terminal and the JSON for tools, for a port
//! decided at each level, a shadowed policy, a selector that does not match, a
//! partially named port, a pod without sidecar, an ambient pod, a caller whose
//! DestinationRule sends plaintext to a STRICT port, a caller relying on auto
//! mTLS in a DISABLE namespace, and a MIXED Service.

mod common;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use common::Mtls;

const EXAMPLES: &str = "examples/";

fn explain(args: &[&str], input: &str) -> common::Run {
    Mtls::new(["explain"]).args(args).args(["-f", input]).run()
}

fn ports(args: &[&str], input: &str) -> Vec<Value> {
    let out = explain(&[args, &["-o", "json"]].concat(), input);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{args:?}");
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    value["ports"].as_array().expect("ports").clone()
}

/// Each level's candidates as `policy mode outcome`.
fn chain(group: &Value) -> Vec<(String, Vec<String>)> {
    group["chain"]["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|link| {
            let candidates = link["candidates"]
                .as_array()
                .expect("candidates")
                .iter()
                .map(|c| {
                    format!(
                        "{} {} {}",
                        c["policy"].as_str().unwrap_or(""),
                        c["mode"].as_str().unwrap_or(""),
                        c["outcome"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (link["level"].as_str().unwrap_or("").to_string(), candidates)
        })
        .collect()
}

#[test]
fn the_tree_shows_the_chain_the_shadowed_policy_and_a_caller_that_fails() {
    let out = explain(&["bookinfo/ratings:9080"], EXAMPLES);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
bookinfo/ratings:9080 (http) TCP → targetPort 9080
├─ pods: ratings-v1 → 9080
├─ ratings-v1, port 9080: STRICT from namespace bookinfo/default (sidecar, enforced STRICT)
│  ├─ mesh      istio-system/default PERMISSIVE: decides
│  ├─ namespace bookinfo/default STRICT: decides
│  │            bookinfo/migration-permissive PERMISSIVE: ignored: bookinfo/default is older
│  ├─ workload  -
│  └─ port      -
├─ callers
│  every other namespace, and bookinfo, istio-system: auto mTLS (namespace mode STRICT): works
│  payments: destinationrule payments/ratings-plaintext, sends DISABLE: fails (MTLS001)
└─ to change it: mtls require bookinfo/ratings:9080, mtls allow bookinfo/ratings:9080, mtls disable bookinfo/ratings:9080
"
    );
}

#[test]
fn the_json_carries_the_decision_at_each_level() {
    // ledger's 443 is decided at the port level, its 80 at the workload level;
    // fraud-check at the namespace level (the ledger policy does not select
    // it); a pod on the canary revision at the mesh level of its root.
    let ledger = ports(&["payments/ledger"], EXAMPLES);
    let decided = |p: &Value| {
        let g = &p["groups"][0];
        (
            g["chain"]["level"].clone(),
            g["chain"]["mode"].clone(),
            g["chain"]["policy"].clone(),
        )
    };
    assert_eq!(
        ledger.iter().map(decided).collect::<Vec<_>>(),
        [
            (json!("workload"), json!("STRICT"), json!("payments/ledger")),
            (json!("port"), json!("DISABLE"), json!("payments/ledger")),
        ]
    );
    let canary = ports(&["shop/web:80"], "tests/fixtures/revisions/");
    assert_eq!(
        decided(&canary[0]),
        (json!("mesh"), json!("STRICT"), json!("canary-root/default"))
    );
    let fraud = ports(&["payments/fraud-check:7070"], EXAMPLES);
    assert_eq!(
        decided(&fraud[0]),
        (
            json!("namespace"),
            json!("PERMISSIVE"),
            json!("payments/default")
        )
    );
    assert_eq!(
        chain(&fraud[0]["groups"][0])[2],
        (
            "workload".to_string(),
            vec!["payments/ledger STRICT notSelected".to_string()]
        )
    );
    let ratings = ports(&["bookinfo/ratings:9080"], EXAMPLES);
    let shadowed = &ratings[0]["groups"][0]["chain"]["links"][1]["candidates"][1];
    assert_eq!(
        (&shadowed["policy"], &shadowed["outcome"], &shadowed["by"]),
        (
            &json!("bookinfo/migration-permissive"),
            &json!("shadowed"),
            &json!("bookinfo/default")
        )
    );
    let callers = &ratings[0]["callers"];
    assert_eq!(
        callers,
        &json!([
            {"namespaces": ["bookinfo", "istio-system"], "everyOther": true, "rule": null, "shadowed": [], "subset": null,
             "tls": null, "inferred": "STRICT", "failures": [], "plaintext": false, "works": true},
            {"namespaces": ["payments"], "everyOther": false, "rule": "payments/ratings-plaintext", "shadowed": [],
             "subset": null, "tls": "DISABLE", "inferred": null, "failures": ["MTLS001"],
             "plaintext": false, "works": false},
        ])
    );
    assert_eq!(
        ratings[0]["changes"][0],
        json!({"command": "mtls require bookinfo/ratings:9080", "takesEffect": true, "inTheWay": null})
    );
}

#[test]
fn pods_that_do_not_serve_the_port_and_what_serves_the_others() {
    let mesh = "tests/fixtures/enforced/";
    let partial = ports(&["shop/partial:80"], mesh);
    assert_eq!(
        partial[0]["pods"],
        json!([
            {"pod": "partial-a", "containerPort": 8080, "serves": true},
            {"pod": "partial-b", "containerPort": null, "serves": false},
        ])
    );
    let served = |target: &str| {
        let p = &ports(&[target], mesh)[0]["groups"][0];
        (p["dataplane"].clone(), p["enforced"].clone())
    };
    assert_eq!(served("shop/plain:80"), (json!("none"), json!("NONE")));
    assert_eq!(
        served("ambient/legacy:80"),
        (json!("ambient"), json!("PERMISSIVE"))
    );
    assert_eq!(served("shop/ingress:80"), (json!("gateway"), Value::Null));
    let tree = explain(&["shop/partial:80"], mesh);
    assert!(
        tree.stdout.contains(
            "├─ pods: partial-a → 8080; not serving it (no container port http): partial-b\n"
        ),
        "{}",
        tree.stdout
    );
}

#[test]
fn auto_mtls_callers_in_a_disable_namespace_and_a_mixed_service() {
    let auto = ports(&["shop/web:80"], "tests/fixtures/check/MTLS012.yaml");
    let callers = auto[0]["callers"].as_array().expect("callers");
    assert!(
        callers
            .iter()
            .all(|c| c["inferred"] == "DISABLE" && c["failures"] == json!(["MTLS012"])),
        "{callers:?}"
    );
    let mixed = ports(&["shop/web:http"], "tests/fixtures/mixed.yaml");
    let groups: Vec<(Value, Value, Value)> = mixed[0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["pods"].clone(),
                g["containerPort"].clone(),
                g["chain"]["mode"].clone(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            (json!(["web-a"]), json!(8080), json!("DISABLE")),
            (json!(["web-b"]), json!(9090), json!("STRICT")),
        ]
    );
}

#[test]
fn targets_name_ports_services_and_namespaces_and_bad_ones_fail() {
    let namespace = ports(&["payments"], EXAMPLES);
    let targets: Vec<&str> = namespace
        .iter()
        .filter_map(|p| p["target"].as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "payments/fraud-check:7070",
            "payments/ledger:80",
            "payments/ledger:443"
        ]
    );
    let missing = explain(&["payments/nope:80"], EXAMPLES);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("service payments/nope not found"),
        "{}",
        missing.stderr
    );
    let no_target = Mtls::new(["explain", "-f", EXAMPLES]).run();
    assert_eq!(no_target.code, 2, "{}", no_target.stderr);
    let everything = ports(&["-A"], EXAMPLES);
    assert_eq!(everything.len(), 7, "every Service port of the example");
}

/// The guide's recipes show `explain`'s and pod targets' output as it is
/// (the pod's, on the pods of tests/fixtures/pods.yaml).
#[test]
fn the_guide_shows_explain_as_it_prints() {
    let guide = std::fs::read_to_string("docs/guide.md").expect("the guide");
    let pods = Mtls::new([
        "get",
        "shop/pod/web-1",
        "-q",
        "-f",
        "tests/fixtures/pods.yaml",
    ])
    .run();
    assert!(
        guide.contains(&format!("$ mtls get shop/pod/web-1\n{}```", pods.stdout)),
        "docs/guide.md shows another output for shop/pod/web-1:\n{}",
        pods.stdout
    );
    for target in [
        "bookinfo/ratings:9080",
        "payments/fraud-check:7070",
        "payments",
    ] {
        let out = explain(&[target], EXAMPLES);
        let shown = format!("$ mtls explain {target} -f examples/\n{}```", out.stdout);
        assert!(
            guide.contains(&shown),
            "docs/guide.md shows another output for {target}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn dot_draws_callers_to_ports_colored_by_verdict_and_only_for_explain() {
    let out = explain(&["bookinfo/ratings:9080", "-o", "dot"], EXAMPLES);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        r#"digraph mtls {
  rankdir=LR;
  node [fontname="sans-serif"];
  "bookinfo/ratings:9080" [shape=box, label="bookinfo/ratings:9080\nSTRICT"];
  "every other namespace, and bookinfo, istio-system" [shape=ellipse];
  "every other namespace, and bookinfo, istio-system" -> "bookinfo/ratings:9080" [color=green, label="auto mTLS (STRICT)"];
  "payments" [shape=ellipse];
  "payments" -> "bookinfo/ratings:9080" [color=red, label="DISABLE: MTLS001"];
}
"#
    );
    for command in ["get", "check"] {
        let refused = Mtls::new([command, "-o", "dot", "-f", EXAMPLES]).run();
        assert_eq!(refused.code, 2, "{command}: {}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("-o dot draws the graph of `mtls explain`"),
            "{}",
            refused.stderr
        );
    }
}

#[test]
fn from_explains_one_caller_a_namespace_or_a_workload_whose_labels_a_rule_selects() {
    let callers = |from: &str, input: &str| {
        let p = ports(&["shop/web:80", "--from", from], input);
        p[0]["callers"].clone()
    };
    let payments = ports(&["bookinfo/ratings:9080", "--from", "payments"], EXAMPLES);
    assert_eq!(
        payments[0]["callers"],
        json!([{"namespaces": ["payments"], "everyOther": false, "rule": "payments/ratings-plaintext", "shadowed": [],
                "subset": null, "tls": "DISABLE", "inferred": null, "failures": ["MTLS001"],
                "plaintext": false, "works": false}])
    );
    let selected = "tests/fixtures/check/MTLS001-workload-selector.yaml";
    assert_eq!(
        callers("front/legacy-client-1", selected)[0]["rule"],
        "front/legacy-plain"
    );
    assert_eq!(
        callers("front/legacy-client-1", selected)[0]["failures"],
        json!(["MTLS001"])
    );
    let not_selected = "tests/fixtures/check/MTLS001-workload-selector-ok.yaml";
    assert_eq!(
        callers("front/legacy-client-1", not_selected)[0]["rule"],
        Value::Null
    );

    let missing = explain(&["shop/web:80", "--from", "front/nobody"], selected);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("no pod, Deployment or other workload named \"nobody\" in front"),
        "{}",
        missing.stderr
    );
    let bad = explain(&["shop/web:80", "--from", "Front"], selected);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn a_target_without_service_ports_says_so_and_json_stays_a_list() {
    let tree = explain(&["istio-system"], EXAMPLES);
    assert_eq!(
        (tree.code, tree.stdout.as_str(), tree.stderr.as_str()),
        (
            0,
            "",
            "no Service port to explain: the targets hold no Service with ports\n"
        )
    );
    assert_eq!(
        ports(&["istio-system", "-q"], EXAMPLES),
        Vec::<Value>::new()
    );
}

#[test]
fn callers_without_a_proxy_send_plaintext_which_a_strict_pod_rejects() {
    let pods = "tests/fixtures/pods.yaml";
    let web = ports(&["shop/web:80", "-q"], pods);
    assert_eq!(
        web[0]["callers"][1],
        json!({"namespaces": ["batch"], "everyOther": false, "rule": null, "shadowed": [], "subset": null,
               "tls": null, "inferred": null, "failures": [], "plaintext": true, "works": false})
    );
    let tree = explain(&["shop/web:80", "-q"], pods);
    assert!(
        tree.stdout.contains(
            "│  batch (workloads without a proxy): sends plaintext: fails (a pod enforces STRICT)\n"
        ),
        "{}",
        tree.stdout
    );
    // The caller alone, by namespace or by its pod.
    for from in ["batch", "batch/cron-1"] {
        let one = ports(&["shop/web:80", "--from", from, "-q"], pods);
        assert_eq!(
            one[0]["callers"],
            json!([{"namespaces": ["batch"], "everyOther": false, "rule": null, "shadowed": [], "subset": null,
                    "tls": null, "inferred": null, "failures": [], "plaintext": true, "works": false}]),
            "--from {from}"
        );
    }
    // A port without a proxy takes plaintext: the same callers work.
    let plain = ports(&["shop/plain:80"], "tests/fixtures/enforced/");
    let unproxied: Vec<&Value> = plain[0]["callers"]
        .as_array()
        .expect("callers")
        .iter()
        .filter(|c| c["plaintext"] == true)
        .collect();
    assert_eq!(unproxied.len(), 1);
    assert_eq!(
        (&unproxied[0]["namespaces"], &unproxied[0]["works"]),
        (&json!(["shop"]), &json!(true))
    );
}

#[test]
fn a_port_entry_on_a_policy_without_selector_is_listed_as_ignored() {
    let web = ports(&["shop/web:80", "-q"], "tests/fixtures/check/MTLS006.yaml");
    assert_eq!(
        chain(&web[0]["groups"][0])[3],
        (
            "port".to_string(),
            vec!["shop/default PERMISSIVE portWithoutSelector".to_string()]
        )
    );
    assert_eq!(web[0]["groups"][0]["chain"]["mode"], "STRICT");
}

#[test]
fn namespaces_and_services_get_a_line_per_port_and_pod_group() {
    let out = explain(&["shop"], "tests/fixtures/mixed.yaml");
    assert_eq!((out.code, out.stderr.as_str()), (0, ""));
    assert_eq!(
        out.stdout,
        "\
shop/web:80 (http) → 8080: web-a: DISABLE from port shop/web (sidecar, enforced DISABLE); calls fail from every other namespace, and istio-system: MTLS013
shop/web:80 (http) → 9090: web-b: STRICT from workload shop/web (sidecar, enforced STRICT); calls fail from every other namespace, and istio-system: MTLS013
"
    );
    // A port named on its own as well is explained in full, once.
    let both = explain(&["payments", "payments/ledger:443"], EXAMPLES);
    assert_eq!(both.code, 0, "{}", both.stderr);
    assert_eq!(
        both.stdout.matches("payments/ledger:443 (https)").count(),
        1
    );
    assert!(both.stdout.contains(
        "payments/ledger:80 (http) → 8080: ledger: STRICT from workload payments/ledger"
    ));
    assert!(both.stdout.contains("├─ ledger, port 8443: DISABLE"));
    // JSON keeps the whole structure for every port.
    let json = ports(&["payments"], EXAMPLES);
    assert!(
        json.iter()
            .all(|p| p["groups"][0]["chain"]["links"].is_array())
    );
}

#[test]
fn the_tree_says_what_serves_each_group_without_a_sidecar_or_under_ztunnel() {
    let mesh = "tests/fixtures/enforced/";
    let plain = explain(&["shop/plain:80"], mesh);
    assert!(
        plain.stdout.contains(
            "├─ plain-1, port 8080: STRICT from mesh istio-system/default (none, enforced NONE)\n"
        ),
        "{}",
        plain.stdout
    );
    let ambient = explain(&["ambient/legacy:80"], mesh);
    assert!(
        ambient.stdout.contains(
            "├─ legacy-1, port 8080: DISABLE from workload ambient/legacy \
             (ambient, enforced PERMISSIVE: ztunnel takes DISABLE as PERMISSIVE)\n"
        ),
        "{}",
        ambient.stdout
    );
    let gateway = explain(&["shop/ingress:80"], mesh);
    assert!(
        gateway
            .stdout
            .contains("(gateway, PeerAuthentication does not apply)\n"),
        "{}",
        gateway.stdout
    );
}

/// At a terminal the tree marks winners green, dims losers and colors each
/// verdict; in a pipe, and with NO_COLOR, it is plain text.
#[test]
fn colors_mark_winners_losers_and_verdicts_only_where_asked() {
    let colored = Mtls::new(["explain", "bookinfo/ratings:9080", "-f", EXAMPLES])
        .colors()
        .env("CLICOLOR_FORCE", "1")
        .run();
    assert_eq!(colored.code, 0, "{}", colored.stderr);
    let green = "\u{1b}[32m";
    let red = "\u{1b}[31m";
    let dim = "\u{1b}[2m";
    assert!(
        colored.stdout.contains(&format!("{green}decides")),
        "{}",
        colored.stdout
    );
    assert!(colored.stdout.contains(&format!("{green}works")));
    assert!(colored.stdout.contains(&format!("{red}fails (MTLS001)")));
    assert!(
        colored
            .stdout
            .contains(&format!("{dim}ignored: bookinfo/default is older"))
    );
    let plain = explain(&["bookinfo/ratings:9080"], EXAMPLES);
    assert!(!plain.stdout.contains('\u{1b}'), "{}", plain.stdout);
    let no_color = Mtls::new(["explain", "bookinfo/ratings:9080", "-f", EXAMPLES])
        .colors()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .run();
    assert!(!no_color.stdout.contains('\u{1b}'));
}

#[test]
fn each_caller_names_the_rules_its_own_shadows() {
    let rules = "tests/fixtures/shadowed-rules.yaml";
    let web = ports(&["shop/web:80"], rules);
    let callers: Vec<(Value, Value, Value, Value)> = web[0]["callers"]
        .as_array()
        .expect("callers")
        .iter()
        .map(|c| {
            (
                c["namespaces"].clone(),
                c["rule"].clone(),
                c["shadowed"].clone(),
                c["tls"].clone(),
            )
        })
        .collect();
    assert_eq!(
        callers,
        [
            (
                json!(["front"]),
                json!("front/web-plain"),
                json!(["shop/web-mtls", "shop/web-younger", "istio-system/default"]),
                json!("DISABLE")
            ),
            (
                json!(["istio-system", "shop"]),
                json!("shop/web-mtls"),
                json!(["shop/web-younger", "istio-system/default"]),
                json!("ISTIO_MUTUAL")
            ),
        ]
    );
    let tree = explain(&["shop/web:80"], rules);
    assert!(
        tree.stdout.contains(
            "│  front: destinationrule front/web-plain (over shop/web-mtls, shop/web-younger, \
             istio-system/default), sends DISABLE: fails (MTLS001)\n"
        ),
        "{}",
        tree.stdout
    );
}

#[test]
fn a_change_an_older_policy_would_shadow_names_it() {
    let api = ports(&["prod/api:80", "-q"], "tests/fixtures/shadowed.yaml");
    assert_eq!(
        api[0]["changes"][0],
        json!({"command": "mtls require prod/api:80", "takesEffect": false, "inTheWay": "prod/api-canary"})
    );
    let tree = explain(&["prod/api:80", "-q"], "tests/fixtures/shadowed.yaml");
    assert!(
        tree.stdout.contains(
            "└─ to change it: mtls require prod/api:80 (would not take effect: prod/api-canary decides), "
        ),
        "{}",
        tree.stdout
    );
}

#[test]
fn a_port_the_sidecar_does_not_capture_says_why_it_enforces_nothing() {
    let mesh = "tests/fixtures/enforced/";
    let metrics = ports(&["shop/metrics:9090"], mesh);
    let group = &metrics[0]["groups"][0];
    assert_eq!(
        (&group["enforced"], &group["bypass"]),
        (&json!("NONE"), &json!("notCaptured"))
    );
    let tree = explain(&["shop/metrics:9090"], mesh);
    assert!(
        tree.stdout
            .contains("(sidecar, enforced NONE: the sidecar does not capture the port)\n"),
        "{}",
        tree.stdout
    );
    let dns = explain(&["shop/dns"], mesh);
    assert!(
        dns.stdout.contains(
            "shop/dns:53 (dns-udp) → 5353: dns-1: STRICT from mesh istio-system/default \
                       (sidecar, enforced NONE: UDP is not captured)"
        ),
        "{}",
        dns.stdout
    );
}
