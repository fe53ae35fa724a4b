//! docs/rbac.yaml against the loopback server's RBAC authorizer: with its
//! roles every command works, and each of their permissions is needed by one
//! (taking any away makes a command fail with 403) — least privilege, shown
//! both ways. The mesh reads all there is to read: a control plane outside
//! istio-system with its mesh config, policies that select by node labels,
//! running pods, pod templates, a Service without a selector, a Job, and a
//! Prometheus behind the service proxy.

mod common;

use kube_loopback::{Config, TOKEN_USER};
use serde_json::{Value, json};

use common::Mtls;
use common::loopback::Loopback;
use common::prometheus::{Prometheus, service_yaml};

/// The mesh, without RBAC objects.
fn mesh(prometheus: &Prometheus) -> String {
    let mut seed = String::new();
    for file in [
        "tests/fixtures/topology/mesh.yaml",
        "tests/fixtures/enforced/mesh.yaml",
    ] {
        seed.push_str(&std::fs::read_to_string(file).expect("fixture"));
        seed.push_str("\n---\n");
    }
    seed.push_str(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, namespace: shop}\n\
         spec:\n  template:\n    metadata: {labels: {app: migrate}}\n    spec: {containers: [{name: migrate}]}\n---\n",
    );
    seed.push_str(&service_yaml("istio-control", prometheus.port));
    seed
}

/// docs/rbac.yaml's objects, the Roles in `shop`.
fn roles() -> Vec<Value> {
    let text = std::fs::read_to_string("docs/rbac.yaml").expect("docs/rbac.yaml");
    kube_loopback::parse_objects(&text)
        .expect("valid YAML")
        .into_iter()
        .map(|mut o| {
            if o["kind"] == "Role" {
                o["metadata"]["namespace"] = json!("shop");
            }
            o
        })
        .collect()
}

fn binding(kind: &str, role_kind: &str, role: &str) -> Value {
    let mut b = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": format!("{}-{role}", kind.to_lowercase())},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "User", "name": TOKEN_USER}],
    });
    if kind == "RoleBinding" {
        b["metadata"]["namespace"] = json!("shop");
    }
    b
}

fn cluster(prometheus: &Prometheus, rbac: Vec<Value>) -> Loopback {
    let mut config = Config {
        rbac: true,
        ..Config::default()
    }
    .seed_yaml(&mesh(prometheus))
    .expect("seed");
    config.seed.extend(rbac);
    Loopback::start_as(config, TOKEN_USER)
}

/// What a reader does, each of which must work.
const READS: &[&[&str]] = &[
    &["get", "-A"],
    &["check", "-A"],
    &["get", "shop"],
    &["get", "shop/plain:80"],
    &["get", "shop/pod/plain-1"],
    &["explain", "shop/plain:80", "--from", "shop/migrate"],
    &["traffic", "-A"],
];

/// What a writer does, in order.
const WRITES: &[&[&str]] = &[&["require", "shop"], &["allow", "shop"], &["unset", "shop"]];

/// The first command of `commands` that fails, or works around a
/// permission it lacks (a warning that something was forbidden).
fn first_failure(c: &Loopback, commands: &[&[&str]]) -> Option<String> {
    commands.iter().find_map(|args| {
        // Not at a terminal: changes ask nothing.
        let out = Mtls::new(*args).kubeconfig(&c.kubeconfig).run();
        // `check` finds what the mesh has: exit 3 is a verdict, not a failure.
        let fine = (out.code == 0 || (out.code == 3 && args[0] == "check"))
            && !out.stderr.contains("forbidden");
        (!fine).then(|| format!("mtls {args:?} exited {}: {}", out.code, out.stderr))
    })
}

#[test]
fn the_roles_let_every_command_work() {
    let prometheus = Prometheus::start(&[]);
    let mut rbac = roles();
    rbac.push(binding("ClusterRoleBinding", "ClusterRole", "mtls-reader"));
    let reader = cluster(&prometheus, rbac.clone());
    assert_eq!(first_failure(&reader, READS), None);
    // A reader cannot write.
    let refused = first_failure(&reader, &[&["require", "shop"]]).expect("refused");
    assert!(
        refused.contains("cannot create resource \"peerauthentications\""),
        "{refused}"
    );

    rbac.push(binding("ClusterRoleBinding", "ClusterRole", "mtls-writer"));
    let writer = cluster(&prometheus, rbac);
    assert_eq!(first_failure(&writer, WRITES), None);
}

#[test]
fn each_permission_of_the_roles_is_needed() {
    let prometheus = Prometheus::start(&[]);
    let rbac = roles();
    let role = |name: &str| {
        rbac.iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == name)
            .cloned()
            .expect("the role")
    };
    let mut unneeded = Vec::new();
    for (name, commands) in [("mtls-reader", READS), ("mtls-writer", WRITES)] {
        let full = role(name);
        let rules = full["rules"].as_array().cloned().unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            for resource in rule["resources"].as_array().into_iter().flatten() {
                for verb in rule["verbs"].as_array().into_iter().flatten() {
                    // The role without this one verb on this one resource.
                    let mut narrowed = full.clone();
                    let mut kept: Vec<Value> = rules.clone();
                    kept.remove(i);
                    for r in rule["resources"].as_array().into_iter().flatten() {
                        let verbs: Vec<&Value> = rule["verbs"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|v| r != resource || *v != verb)
                            .collect();
                        if !verbs.is_empty() {
                            let mut one = rule.clone();
                            one["resources"] = json!([r]);
                            one["verbs"] = json!(verbs);
                            kept.push(one);
                        }
                    }
                    narrowed["rules"] = json!(kept);
                    let mut objects: Vec<Value> = rbac
                        .iter()
                        .filter(|o| !(o["kind"] == "ClusterRole" && o["metadata"]["name"] == name))
                        .cloned()
                        .collect();
                    objects.push(narrowed);
                    objects.push(binding("ClusterRoleBinding", "ClusterRole", "mtls-reader"));
                    objects.push(binding("ClusterRoleBinding", "ClusterRole", "mtls-writer"));
                    let c = cluster(&prometheus, objects);
                    // With the whole role every command works (the test
                    // above), so a failure here is the missing permission's.
                    if first_failure(&c, commands).is_none() {
                        unneeded.push(format!("{name}: {verb} {resource}"));
                    }
                }
            }
        }
    }
    assert_eq!(
        unneeded,
        Vec::<String>::new(),
        "permissions no command needs"
    );
}

#[test]
fn the_namespace_roles_let_a_team_work_in_its_namespace() {
    let prometheus = Prometheus::start(&[]);
    let mut rbac = roles();
    rbac.push(binding("RoleBinding", "Role", "mtls-namespace-reader"));
    rbac.push(binding("RoleBinding", "Role", "mtls-namespace-writer"));
    let c = cluster(&prometheus, rbac);
    for args in [
        &["get", "shop/plain:80"][..],
        &["get", "shop"],
        &["require", "shop/plain:80"],
    ] {
        let out = Mtls::new(args)
            .args(["--prometheus", "none"])
            .kubeconfig(&c.kubeconfig)
            .run();
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("warning: cannot read the mesh config"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let all = Mtls::new(["get", "-A"]).kubeconfig(&c.kubeconfig).run();
    assert_eq!(all.code, 1, "{}", all.stderr);
}
