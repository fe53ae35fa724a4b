//! A change refuses to make calls fail that work today (docs/semantics.md §4):
//! before anything is written, the client-side checks run on the planned
//! state; what they find that was not there before is a verdict (exit 3),
//! unless `--force`. Offline plans and `--dry-run` report the same gate.

mod common;

use common::Mtls;

const MESH: &str = "tests/fixtures/gate.yaml";

fn change(args: &[&str]) -> common::Run {
    Mtls::new(args).args(["-f", MESH]).run()
}

#[test]
fn moving_a_namespace_to_strict_is_refused_where_a_rule_sends_plaintext() {
    let out = change(&["require", "shop"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout, "", "no plan is printed");
    assert!(
        out.stderr.starts_with(
            "error: refused: the change would make calls fail that work today (1 failure):\n"
        ),
        "{}",
        out.stderr
    );
    for part in [
        "error[MTLS001] destinationrule front/plaintext: calls from namespace front to shop/web:80 will fail",
        "fix: set the tls mode to ISTIO_MUTUAL in destinationrule front/plaintext",
        "nothing was written; --force writes anyway",
    ] {
        assert!(out.stderr.contains(part), "{part:?} in {}", out.stderr);
    }
}

#[test]
fn disabling_a_port_auto_mtls_clients_reach_is_refused() {
    let out = change(&["disable", "shop/web:80"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[MTLS013] peerauthentication shop/web: calls from namespaces bank, istio-system, shop to shop/web:80 will fail")
            && out.stderr.contains("fix: `mtls unset shop/web:80` to take the namespace's mode"),
        "{}",
        out.stderr
    );
}

#[test]
fn force_writes_anyway_and_says_what_breaks_even_when_quiet() {
    let out = change(&["require", "shop", "--force", "-q"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("kind: PeerAuthentication"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.starts_with(
            "warning: the change breaks calls (MTLS001 destinationrule front/plaintext): calls from namespace front"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn failures_that_were_there_before_do_not_refuse_a_change() {
    // front's calls to bank/vault fail already (MTLS001); allowing plaintext
    // in shop breaks nothing.
    let check = Mtls::new(["check", "-A", "-f", MESH]).run();
    assert!(
        check
            .stdout
            .contains("error[MTLS001] destinationrule front/plaintext"),
        "{}",
        check.stdout
    );
    let out = change(&["allow", "shop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("breaks calls"), "{}", out.stderr);
}
