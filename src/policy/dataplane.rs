//! What serves a workload, and what its ports really enforce (docs/semantics.md
//! §4): a PeerAuthentication is only as good as the proxy that applies it. A pod
//! without a sidecar or ztunnel takes plaintext whatever its policy says; a
//! sidecar does not see ports it does not capture, nor UDP; ztunnel treats
//! DISABLE as PERMISSIVE; gateways take their listeners from Gateway resources.

use serde::Serialize;

use crate::mode::{Enforced, Mode};
use crate::policy::model::{Labels, NO_LABELS, Namespace, Workload, WorkloadOrigin};

/// What serves a workload's inbound traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataplane {
    /// An Envoy sidecar, which applies PeerAuthentication per port.
    Sidecar,
    /// ztunnel (`istio.io/dataplane-mode=ambient`).
    Ambient,
    /// A gateway proxy: PeerAuthentication does not apply to its listeners.
    Gateway,
    /// No proxy at all: nothing enforces mTLS.
    None,
}

impl Dataplane {
    pub fn as_str(self) -> &'static str {
        match self {
            Dataplane::Sidecar => "sidecar",
            Dataplane::Ambient => "ambient",
            Dataplane::Gateway => "gateway",
            Dataplane::None => "none",
        }
    }
}

/// Why the mode traffic meets differs from the declared one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Bypass {
    /// No sidecar and no ztunnel.
    NoProxy,
    /// The sidecar does not capture the port (`excludeInboundPorts`,
    /// `includeInboundPorts`).
    NotCaptured,
    /// A UDP port: the proxies capture TCP only.
    Udp,
    /// ztunnel enforces DISABLE as PERMISSIVE.
    AmbientDisable,
}

impl Bypass {
    /// The reason in a few words, for the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Bypass::NoProxy => "no sidecar",
            Bypass::NotCaptured => "port not captured",
            Bypass::Udp => "UDP",
            Bypass::AmbientDisable => "ambient",
        }
    }
}

/// What a workload (port) really enforces: the mode, and why it is not the
/// declared one when it is not. `None` for a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforcement {
    pub enforced: Enforced,
    pub bypass: Option<Bypass>,
}

/// The dataplane of a pod, or for a pod template what the injector would give
/// its pods, as Istio's webhooks and CNI decide (docs/semantics.md §4).
pub fn dataplane(workload: &Workload, namespace_labels: &Labels) -> Dataplane {
    let label = |k: &str| workload.labels.get(k).map(String::as_str);
    let annotation = |k: &str| workload.annotations.get(k).map(String::as_str);
    if workload.router || gateway_template(workload) {
        return Dataplane::Gateway;
    }
    let sidecar = match workload.origin {
        WorkloadOrigin::Pod => {
            annotation("sidecar.istio.io/status").is_some()
                || workload.container_names.iter().any(|c| c == "istio-proxy")
                || label("security.istio.io/tlsMode") == Some("istio")
        }
        WorkloadOrigin::Template => {
            workload.container_names.iter().any(|c| c == "istio-proxy")
                || injected(workload, namespace_labels)
        }
    };
    if sidecar {
        return Dataplane::Sidecar;
    }
    if ambient(workload, namespace_labels) {
        Dataplane::Ambient
    } else {
        Dataplane::None
    }
}

/// The dataplane of a workload in `namespace`, where it can be known: a
/// running pod says it itself; a pod template needs its namespace's labels
/// (injection, ambient) unless its own labels decide. `None`: unknown, as for
/// a template whose Namespace object was not read.
pub fn dataplane_in(workload: &Workload, namespace: Option<&Namespace>) -> Option<Dataplane> {
    match namespace.filter(|n| n.seen) {
        Some(ns) => Some(dataplane(workload, &ns.labels)),
        None if workload.origin == WorkloadOrigin::Pod || decides_alone(workload) => {
            Some(dataplane(workload, &NO_LABELS))
        }
        None => None,
    }
}

/// Whether a template's own labels and spec decide its dataplane whatever
/// its namespace says.
fn decides_alone(workload: &Workload) -> bool {
    let label = |k: &str| workload.labels.get(k).map(String::as_str);
    workload.router
        || gateway_template(workload)
        || workload.host_network
        || workload.container_names.iter().any(|c| c == "istio-proxy")
        || label("sidecar.istio.io/inject") == Some("false")
        || workload
            .annotations
            .get("sidecar.istio.io/inject")
            .is_some_and(|v| v == "false")
        || label("istio.io/dataplane-mode").is_some()
}

/// Whether the sidecar injector's webhooks would inject a pod of this template:
/// the namespace asks (`istio-injection=enabled`, or `istio.io/rev` where
/// injection is not disabled), or the pod does (`sidecar.istio.io/inject:
/// "true"` or `istio.io/rev`) in a namespace that is not
/// `istio-injection=disabled`; never an opted-out or host-network pod.
fn injected(workload: &Workload, namespace_labels: &Labels) -> bool {
    let label = |k: &str| workload.labels.get(k).map(String::as_str);
    let annotation = |k: &str| workload.annotations.get(k).map(String::as_str);
    let ns = |k: &str| namespace_labels.get(k).map(String::as_str);
    let opted_out = label("sidecar.istio.io/inject") == Some("false")
        || annotation("sidecar.istio.io/inject") == Some("false");
    if opted_out || workload.host_network {
        return false;
    }
    let namespace_disabled = ns("istio-injection") == Some("disabled");
    let namespace_on = ns("istio-injection") == Some("enabled")
        || (ns("istio.io/rev").is_some() && !namespace_disabled);
    let pod_on =
        label("sidecar.istio.io/inject") == Some("true") || label("istio.io/rev").is_some();
    namespace_on || (pod_on && !namespace_disabled)
}

/// A template to be injected with Istio's `gateway` template.
fn gateway_template(workload: &Workload) -> bool {
    workload
        .annotations
        .get("inject.istio.io/templates")
        .is_some_and(|list| list.split(',').any(|t| t.trim() == "gateway"))
}

/// Whether ztunnel captures the pod: the namespace or the pod is labelled
/// `istio.io/dataplane-mode=ambient`, and the pod neither opts out (another
/// value of that label, or `ambient.istio.io/redirection: disabled`), nor has a
/// sidecar, nor runs on the host network (Istio's `PodRedirectionEnabled`).
fn ambient(workload: &Workload, namespace_labels: &Labels) -> bool {
    const MODE: &str = "istio.io/dataplane-mode";
    // A running pod that ztunnel captures says so itself.
    if workload.origin == WorkloadOrigin::Pod
        && workload
            .annotations
            .get("ambient.istio.io/redirection")
            .is_some_and(|r| r == "enabled")
    {
        return true;
    }
    let enrolled = match workload.labels.get(MODE) {
        Some(mode) => mode == "ambient",
        None => namespace_labels.get(MODE).is_some_and(|m| m == "ambient"),
    };
    enrolled
        && !workload.host_network
        && workload
            .annotations
            .get("ambient.istio.io/redirection")
            .is_none_or(|r| r != "disabled")
}

/// What traffic meets at a workload whose policy declares `declared`: for a
/// port (`Some((container port, protocol))`), or for the workload as a whole.
/// `None` for a gateway, where PeerAuthentication does not apply.
pub fn enforcement(
    plane: Dataplane,
    declared: Mode,
    workload: &Workload,
    port: Option<(u32, &str)>,
) -> Option<Enforcement> {
    let bypassed = |bypass| {
        Some(Enforcement {
            enforced: Enforced::None,
            bypass: Some(bypass),
        })
    };
    let udp = port.is_some_and(|(_, protocol)| protocol == "UDP");
    match plane {
        Dataplane::Gateway => None,
        Dataplane::None => bypassed(Bypass::NoProxy),
        _ if udp => bypassed(Bypass::Udp),
        Dataplane::Sidecar => match port {
            Some((number, _)) if !captured(workload, number) => bypassed(Bypass::NotCaptured),
            _ => Some(Enforcement {
                enforced: declared.into(),
                bypass: None,
            }),
        },
        Dataplane::Ambient if declared == Mode::Disable => Some(Enforcement {
            enforced: Enforced::Permissive,
            bypass: Some(Bypass::AmbientDisable),
        }),
        Dataplane::Ambient => Some(Enforcement {
            enforced: declared.into(),
            bypass: None,
        }),
    }
}

/// Whether the sidecar's inbound capture takes `port`: listed in
/// `traffic.sidecar.istio.io/includeInboundPorts` (default `*`, every port; an
/// empty list captures none), and not in `excludeInboundPorts`.
fn captured(workload: &Workload, port: u32) -> bool {
    let listed = |key: &str| {
        workload.annotations.get(key).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    let number = port.to_string();
    let included = match listed("traffic.sidecar.istio.io/includeInboundPorts") {
        None => true,
        Some(list) => list.iter().any(|p| p == "*" || *p == number),
    };
    let excluded = listed("traffic.sidecar.istio.io/excludeInboundPorts")
        .is_some_and(|list| list.contains(&number));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::policy::model::labels_of as labels;

    fn pod(object: Value) -> Workload {
        Workload::from_pod(&object).expect("test pod is valid")
    }

    fn template(spec: Value) -> Workload {
        Workload::from_template(
            "Deployment",
            &json!({"metadata": {"name": "d", "namespace": "ns"}, "spec": {"template": spec}}),
        )
        .expect("test template is valid")
    }

    #[test]
    fn a_running_pod_has_a_sidecar_by_status_container_or_tls_label() {
        let none = labels(&[]);
        for object in [
            json!({"metadata": {"name": "a", "namespace": "ns",
                   "annotations": {"sidecar.istio.io/status": "{}"}}}),
            json!({"metadata": {"name": "a", "namespace": "ns"},
                   "spec": {"containers": [{"name": "istio-proxy"}]}}),
            json!({"metadata": {"name": "a", "namespace": "ns",
                   "labels": {"security.istio.io/tlsMode": "istio"}}}),
        ] {
            assert_eq!(
                dataplane(&pod(object.clone()), &none),
                Dataplane::Sidecar,
                "{object}"
            );
        }
        let bare = pod(json!({"metadata": {"name": "a", "namespace": "ns"}}));
        assert_eq!(dataplane(&bare, &none), Dataplane::None);
    }

    #[test]
    fn gateways_are_proxies_running_router_or_injected_with_the_gateway_template() {
        let none = labels(&[]);
        let router = pod(json!({"metadata": {"name": "gw", "namespace": "ns"},
            "spec": {"containers": [{"name": "istio-proxy", "args": ["proxy", "router"]}]}}));
        assert_eq!(dataplane(&router, &none), Dataplane::Gateway);
        let injected = pod(json!({"metadata": {"name": "gw", "namespace": "ns",
            "annotations": {"sidecar.istio.io/status": "{\"templates\":[\"gateway\"]}"}},
            "spec": {"containers": [{"name": "istio-proxy", "image": "auto"}]}}));
        assert_eq!(dataplane(&injected, &none), Dataplane::Gateway);
        let to_inject = template(json!({"metadata": {
            "labels": {"sidecar.istio.io/inject": "true"},
            "annotations": {"inject.istio.io/templates": "gateway"}}}));
        assert_eq!(dataplane(&to_inject, &none), Dataplane::Gateway);
        let sidecar = pod(json!({"metadata": {"name": "a", "namespace": "ns"},
            "spec": {"containers": [{"name": "istio-proxy", "args": ["proxy", "sidecar"]}]}}));
        assert_eq!(dataplane(&sidecar, &none), Dataplane::Sidecar);
    }

    #[test]
    fn templates_are_injected_as_the_webhooks_select_them() {
        let plain = template(json!({}));
        let asks = template(json!({"metadata": {"labels": {"sidecar.istio.io/inject": "true"}}}));
        let revision = template(json!({"metadata": {"labels": {"istio.io/rev": "canary"}}}));
        let refuses =
            template(json!({"metadata": {"labels": {"sidecar.istio.io/inject": "false"}}}));
        let host = template(json!({"spec": {"hostNetwork": true}}));
        let enabled = labels(&[("istio-injection", "enabled")]);
        let disabled = labels(&[("istio-injection", "disabled")]);
        let ns_revision = labels(&[("istio.io/rev", "stable")]);
        let nothing = labels(&[]);
        let cases = [
            (&plain, &enabled, Dataplane::Sidecar),
            (&plain, &ns_revision, Dataplane::Sidecar),
            (&plain, &nothing, Dataplane::None),
            (&asks, &nothing, Dataplane::Sidecar),
            (&asks, &disabled, Dataplane::None),
            (&revision, &nothing, Dataplane::Sidecar),
            (&revision, &disabled, Dataplane::None),
            (&refuses, &enabled, Dataplane::None),
            (&host, &enabled, Dataplane::None),
        ];
        for (i, (workload, ns, want)) in cases.into_iter().enumerate() {
            assert_eq!(dataplane(workload, ns), want, "case {i}");
        }
    }

    #[test]
    fn ambient_is_the_namespace_or_pod_label_unless_the_pod_opts_out() {
        let ambient_ns = labels(&[("istio.io/dataplane-mode", "ambient")]);
        let nothing = labels(&[]);
        let bare = pod(json!({"metadata": {"name": "a", "namespace": "ns"}}));
        let opted_in = pod(json!({"metadata": {"name": "a", "namespace": "ns",
            "labels": {"istio.io/dataplane-mode": "ambient"}}}));
        let opted_out = pod(json!({"metadata": {"name": "a", "namespace": "ns",
            "labels": {"istio.io/dataplane-mode": "none"}}}));
        let host = pod(json!({"metadata": {"name": "a", "namespace": "ns"},
            "spec": {"hostNetwork": true}}));
        let sidecar = pod(json!({"metadata": {"name": "a", "namespace": "ns",
            "annotations": {"sidecar.istio.io/status": "{}"}}}));
        assert_eq!(dataplane(&bare, &ambient_ns), Dataplane::Ambient);
        assert_eq!(dataplane(&opted_in, &nothing), Dataplane::Ambient);
        assert_eq!(dataplane(&opted_out, &ambient_ns), Dataplane::None);
        assert_eq!(dataplane(&host, &ambient_ns), Dataplane::None);
        assert_eq!(dataplane(&sidecar, &ambient_ns), Dataplane::Sidecar);
        // ztunnel marks the pods it captures: known without the namespace.
        let enrolled = pod(json!({"metadata": {"name": "a", "namespace": "ns",
            "annotations": {"ambient.istio.io/redirection": "enabled"}}}));
        assert_eq!(dataplane(&enrolled, &nothing), Dataplane::Ambient);
    }

    #[test]
    fn a_template_in_a_namespace_not_read_has_an_unknown_dataplane_unless_it_decides_alone() {
        let unseen = Namespace {
            name: "ns".into(),
            labels: Labels::new(),
            seen: false,
        };
        let plain = template(json!({}));
        let refuses =
            template(json!({"metadata": {"labels": {"sidecar.istio.io/inject": "false"}}}));
        let running = pod(json!({"metadata": {"name": "a", "namespace": "ns"}}));
        assert_eq!(dataplane_in(&plain, Some(&unseen)), None);
        assert_eq!(dataplane_in(&plain, None), None);
        assert_eq!(dataplane_in(&refuses, Some(&unseen)), Some(Dataplane::None));
        assert_eq!(dataplane_in(&running, Some(&unseen)), Some(Dataplane::None));
        let seen = Namespace {
            seen: true,
            labels: labels(&[("istio-injection", "enabled")]),
            ..unseen
        };
        assert_eq!(dataplane_in(&plain, Some(&seen)), Some(Dataplane::Sidecar));
    }

    #[test]
    fn enforcement_follows_the_proxy_its_capture_and_the_protocol() {
        let plain = pod(json!({"metadata": {"name": "a", "namespace": "ns"}}));
        let excluding = pod(
            json!({"metadata": {"name": "a", "namespace": "ns", "annotations": {
            "traffic.sidecar.istio.io/excludeInboundPorts": "9090, 9091"}}}),
        );
        let including = pod(
            json!({"metadata": {"name": "a", "namespace": "ns", "annotations": {
            "traffic.sidecar.istio.io/includeInboundPorts": "8080"}}}),
        );
        let capturing_none = pod(
            json!({"metadata": {"name": "a", "namespace": "ns", "annotations": {
            "traffic.sidecar.istio.io/includeInboundPorts": ""}}}),
        );
        let e = |plane, mode, w: &Workload, port| {
            enforcement(plane, mode, w, port).map(|e| (e.enforced, e.bypass))
        };
        let tcp = |n| Some((n, "TCP"));
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &plain, tcp(8080)),
            Some((Enforced::Strict, None))
        );
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &plain, Some((53, "UDP"))),
            Some((Enforced::None, Some(Bypass::Udp)))
        );
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &excluding, tcp(9091)),
            Some((Enforced::None, Some(Bypass::NotCaptured)))
        );
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &excluding, tcp(8080)),
            Some((Enforced::Strict, None))
        );
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &including, tcp(8080)),
            Some((Enforced::Strict, None))
        );
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Strict, &including, tcp(9090)),
            Some((Enforced::None, Some(Bypass::NotCaptured)))
        );
        assert_eq!(
            e(
                Dataplane::Sidecar,
                Mode::Permissive,
                &capturing_none,
                tcp(8080)
            ),
            Some((Enforced::None, Some(Bypass::NotCaptured)))
        );
        assert_eq!(
            e(Dataplane::None, Mode::Strict, &plain, tcp(8080)),
            Some((Enforced::None, Some(Bypass::NoProxy)))
        );
        assert_eq!(
            e(Dataplane::Ambient, Mode::Disable, &plain, tcp(8080)),
            Some((Enforced::Permissive, Some(Bypass::AmbientDisable)))
        );
        assert_eq!(
            e(Dataplane::Ambient, Mode::Strict, &plain, tcp(8080)),
            Some((Enforced::Strict, None))
        );
        assert_eq!(
            e(Dataplane::Gateway, Mode::Strict, &plain, tcp(8080)),
            Option::None
        );
        // The workload as a whole: only the proxy matters.
        assert_eq!(
            e(Dataplane::Sidecar, Mode::Disable, &excluding, Option::None),
            Some((Enforced::Disable, None))
        );
    }
}
