//! One mesh, several clusters: `get` and `check` with `--context` repeated
//! (or `--all-contexts`) read two loopback servers at once, through one
//! kubeconfig made of two (`KUBECONFIG=east:west`), as kubectl merges them.

mod common;

use kube_loopback::{ADMIN, Config, Server};
use serde_json::Value;

use common::{Mtls, Run};

/// Two clusters of one mesh: shop/api runs in both, shop/cart in east only;
/// west's namespace policy makes api PERMISSIVE where east's is STRICT.
struct Mesh {
    _east: Server,
    _west: Server,
    kubeconfig: String,
    _dir: tempfile::TempDir,
}

const COMMON: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: api-1
  namespace: shop
  labels: {app: api, security.istio.io/tlsMode: istio}
  annotations: {sidecar.istio.io/status: '{\"containers\":[\"istio-proxy\"]}'}
spec:
  containers: [{name: api, ports: [{containerPort: 8080}]}, {name: istio-proxy}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
";

fn shop_policy(mode: &str) -> String {
    format!(
        "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {{name: default, namespace: shop}}\nspec: {{mtls: {{mode: {mode}}}}}\n"
    )
}

const CART: &str = "\
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart}
  ports: [{name: http, port: 80, targetPort: 8080}]
";

impl Mesh {
    fn start(west_mode: &str) -> Mesh {
        let serve = |yaml: String| {
            Server::start(Config::default().seed_yaml(&yaml).expect("seed")).expect("server starts")
        };
        let east = serve(format!("{COMMON}{}{CART}", shop_policy("STRICT")));
        let west = serve(format!("{COMMON}{}", shop_policy(west_mode)));
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("east"), east.kubeconfig_named(ADMIN, "east")).expect("write");
        std::fs::write(path("west"), west.kubeconfig_named(ADMIN, "west")).expect("write");
        let kubeconfig = std::env::join_paths([path("east"), path("west")])
            .expect("paths")
            .into_string()
            .expect("UTF-8");
        Mesh {
            _east: east,
            _west: west,
            kubeconfig,
            _dir: dir,
        }
    }

    fn mtls(&self, args: &[&str]) -> Run {
        Mtls::new(args).env("KUBECONFIG", &self.kubeconfig).run()
    }
}

const BOTH: [&str; 4] = ["--context", "east", "--context", "west"];

#[test]
fn get_reads_each_cluster_and_names_it_on_each_row() {
    let mesh = Mesh::start("PERMISSIVE");
    let run = mesh.mtls(&[&["get", "-A"][..], &BOTH].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "\
CLUSTER   TARGET         MODE         SOURCE
east      mesh           STRICT       mesh istio-system/default
west      mesh           STRICT       mesh istio-system/default
east      istio-system   STRICT       mesh istio-system/default
west      istio-system   STRICT       mesh istio-system/default
east      shop           STRICT       namespace shop/default
west      shop           PERMISSIVE   namespace shop/default
east      shop/api:80    STRICT       namespace shop/default
west      shop/api:80    PERMISSIVE   namespace shop/default
east      shop/cart:80   STRICT       namespace shop/default
"
    );
    // --all-contexts: every context of the kubeconfig, the same rows.
    let all = mesh.mtls(&["get", "-A", "--all-contexts"]);
    assert_eq!((all.code, &all.stdout), (0, &run.stdout), "{}", all.stderr);
    // JSON rows carry the cluster.
    let json = mesh.mtls(&[&["get", "shop/api:http", "-o", "json"][..], &BOTH].concat());
    let doc: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let clusters: Vec<(&str, &str)> = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["cluster"].as_str().unwrap_or_default(),
                r["mode"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(clusters, [("east", "STRICT"), ("west", "PERMISSIVE")]);
    // One cluster: no cluster anywhere, as before.
    let one = mesh.mtls(&["get", "shop/api:http", "-o", "json", "--context", "west"]);
    assert!(!one.stdout.contains("cluster"), "{}", one.stdout);
    // A Service of one cluster only is found there.
    let cart = mesh.mtls(&[&["get", "shop/cart"][..], &BOTH].concat());
    assert_eq!(cart.code, 0, "{}", cart.stderr);
    assert!(
        cart.stdout.contains("east      shop/cart:80"),
        "{}",
        cart.stdout
    );
    assert!(!cart.stdout.contains("west "), "{}", cart.stdout);
    let none = mesh.mtls(&[&["get", "shop/nothing"][..], &BOTH].concat());
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(
        none.stderr
            .contains("shop/nothing is in none of the clusters read"),
        "{}",
        none.stderr
    );
    // The CI gate judges every cluster's rows, naming the cluster.
    let gate = mesh.mtls(&[&["get", "shop/api:http", "--expect", "STRICT"][..], &BOTH].concat());
    assert_eq!(gate.code, 3, "{}", gate.stderr);
    assert!(
        gate.stderr
            .contains("shop/api:80 (cluster west) (PERMISSIVE)"),
        "{}",
        gate.stderr
    );
}

#[test]
fn check_compares_the_clusters_of_one_mesh() {
    let split = Mesh::start("PERMISSIVE");
    let run = split.mtls(&[&["check", "-A", "-o", "json"][..], &BOTH].concat());
    let doc: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let across: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == "MTLS019")
        .collect();
    assert_eq!(across.len(), 1, "{}", run.stdout);
    assert_eq!(across[0]["object"], "service shop/api");
    assert!(across[0].get("cluster").is_none());
    assert!(
        across[0]["message"].as_str().is_some_and(
            |m| m.starts_with("shop/api:80 enforces STRICT in east, PERMISSIVE in west")
        ),
        "{}",
        across[0]
    );
    // The same mode everywhere: nothing to say.
    let same = Mesh::start("STRICT");
    let run = same.mtls(&[&["check", "-A", "-o", "json"][..], &BOTH].concat());
    assert!(!run.stdout.contains("MTLS019"), "{}", run.stdout);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn commands_that_read_one_cluster_say_so() {
    let mesh = Mesh::start("STRICT");
    for args in [&["explain", "shop/api"][..], &["get", "shop", "--traffic"]] {
        let run = mesh.mtls(&[args, &BOTH].concat());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("one --context"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let offline = mesh.mtls(&[&["get", "-f", "examples/"][..], &BOTH].concat());
    assert_eq!(offline.code, 2, "{}", offline.stderr);
}

/// A change with several contexts is planned and gated in every cluster
/// before any is written, then written to each in turn.
#[test]
fn a_change_is_made_in_each_cluster_or_in_none() {
    let mesh = Mesh::start("PERMISSIVE");
    let run = mesh.mtls(&[&["require", "shop"][..], &BOTH].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("east: shop: already STRICT at the namespace level")
            && run
                .stderr
                .contains("west: shop: set to STRICT (peerauthentication shop/default updated)"),
        "{}",
        run.stderr
    );
    // Each cluster's table, read back, its rows naming the cluster.
    let has = |words: &[&str]| {
        run.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
    };
    assert!(
        has(&["west", "shop", "STRICT", "namespace", "shop/default"]),
        "{}",
        run.stdout
    );
    assert!(
        has(&[
            "east",
            "shop/cart:80",
            "STRICT",
            "namespace",
            "shop/default"
        ]),
        "{}",
        run.stdout
    );
    let after = mesh.mtls(&[&["get", "shop/api:http", "--expect", "STRICT"][..], &BOTH].concat());
    assert_eq!(after.code, 0, "{}", after.stdout);

    // Refused in one cluster: written in none.
    let mesh = Mesh::start("PERMISSIVE");
    mesh._west
        .seed(vec![serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "plain", "namespace": "shop"},
            "spec": {"host": "api.shop.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}})])
        .expect("seed");
    let before = (mesh._east.objects(), mesh._west.objects());
    let refused = mesh.mtls(&[&["require", "shop/api"][..], &BOTH].concat());
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("cluster west: nothing was written"),
        "{}",
        refused.stderr
    );
    assert_eq!((mesh._east.objects(), mesh._west.objects()), before);

    // A write that fails in the second cluster: the first keeps its change,
    // and the error says so.
    let mesh = Mesh::start("PERMISSIVE");
    mesh._west.deny(kube_loopback::Deny {
        verb: Some("create".into()),
        ..kube_loopback::Deny::default()
    });
    let failed = mesh.mtls(&[&["disable", "shop/api:http", "--force"][..], &BOTH].concat());
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains(
            "the change stopped in cluster west: clusters written: east; not written (or in part, as said above): west"
        ),
        "{}",
        failed.stderr
    );
    let east = mesh.mtls(&["get", "shop/api:http", "--context", "east"]);
    assert!(east.stdout.contains("DISABLE"), "{}", east.stdout);
}

/// The README's example prints what it shows, on a mesh like its own.
#[test]
fn the_readme_shows_several_clusters_as_they_print() {
    let shown = common::readme_output("$ mtls get shop/api:http --context east --context west\n");
    let mesh = Mesh::start("PERMISSIVE");
    let run = mesh.mtls(&[&["get", "shop/api:http"][..], &BOTH].concat());
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, shown.as_str()),
        "{}",
        run.stderr
    );
}

/// SARIF names each finding's cluster, in its message and its properties.
#[test]
fn sarif_names_the_cluster_of_each_finding() {
    let mesh = Mesh::start("DISABLE");
    mesh._west
        .seed(vec![serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "plain", "namespace": "shop"},
            "spec": {"host": "api.shop.svc.cluster.local", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}})])
        .expect("seed");
    let run = mesh.mtls(&[&["check", "-A", "-o", "sarif"][..], &BOTH].concat());
    let log: Value = serde_json::from_str(&run.stdout).expect("SARIF");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let west: Vec<&Value> = results
        .iter()
        .filter(|r| r["properties"]["cluster"] == "west")
        .collect();
    assert!(!west.is_empty(), "{}", run.stdout);
    assert!(
        west.iter().all(|r| r["message"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("(cluster west): "))),
        "{}",
        run.stdout
    );
    // The comparison of the clusters belongs to none of them.
    let across = results
        .iter()
        .find(|r| r["ruleId"] == "MTLS019")
        .expect("MTLS019");
    assert!(
        across
            .get("properties")
            .is_none_or(|p| p.get("cluster").is_none())
    );
}
