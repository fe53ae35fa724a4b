//! `mtls explain`: the whole decision for a Service port, on both ends — how
//! the Service port maps to each pod's container port, the chain of policies
//! behind each group of pods that resolve alike (`policy::explain`), what
//! serves them and what they enforce, and what every caller sends with the
//! verdict (`check::client`). Pure, like the rest of the core.

use serde::Serialize;

use crate::check::client::{self, Caller, Client};
use crate::check::destination::DestinationIndex;
use crate::mode::{Enforced, Mode};
use crate::policy::Service;
use crate::policy::change::{Change, Refusal};
use crate::policy::dataplane::{self, Bypass, Dataplane, dataplane_in};
use crate::policy::explain::{Chain, chain};
use crate::policy::model::{ContainerPort, ServicePort, TargetPort, Workload};
use crate::policy::plan::plan_change;
use crate::policy::resolve::{Backing, Endpoints, Index};
use crate::target::{PortRef, Target};

/// Everything `explain` says of one Service port; the JSON form is the
/// contract's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortExplanation {
    /// Named only as part of a namespace, a Service or the mesh: the
    /// terminal gives it one line per pod group.
    #[serde(skip)]
    pub brief: bool,
    /// `NS/SVC:PORT`, canonical.
    pub target: String,
    pub port: u16,
    pub port_name: Option<String>,
    pub protocol: String,
    /// The Service's `targetPort`: a number or a container port's name.
    pub target_port: String,
    /// Each pod (or pod template) the Service selects, and the container
    /// port it resolves the target port to; `serves: false` when it has none.
    pub pods: Vec<PodPort>,
    /// The pods that serve the port, grouped where they resolve alike.
    pub groups: Vec<PodGroup>,
    /// What each caller sends, and whether its calls work.
    pub callers: Vec<Caller>,
    /// The rules of AuthorizationPolicies that apply to the port's pods and
    /// match callers by identity, which only mTLS carries
    /// (docs/semantics.md §8).
    pub authorization: Vec<IdentityDependence>,
    /// The commands that set this port's mode, and whether each would take
    /// effect as things are.
    pub changes: Vec<ChangeOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPort {
    pub pod: String,
    pub container_port: Option<u32>,
    pub serves: bool,
}

/// Pods that resolve the port alike: the same labels, container port and
/// dataplane.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodGroup {
    pub pods: Vec<String>,
    pub container_port: Option<u32>,
    /// `None` where no pod is known, or its dataplane cannot be.
    pub dataplane: Option<Dataplane>,
    /// The mode traffic meets; `None` on a gateway or where unknown.
    pub enforced: Option<Enforced>,
    /// Why it is not the declared mode, where it is not.
    pub bypass: Option<Bypass>,
    pub chain: Chain,
}

/// A rule of an AuthorizationPolicy that reads the caller's identity, and
/// what becomes of it on the port's pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityDependence {
    /// `NS/NAME`.
    pub policy: String,
    pub action: &'static str,
    pub rule: usize,
    /// The identity fields it uses, as written.
    pub fields: Vec<String>,
    /// The pods it applies to that take plaintext (enforce PERMISSIVE,
    /// DISABLE, or nothing); empty when every one enforces STRICT.
    pub plaintext_pods: Vec<String>,
    /// The finding it comes to there (MTLS016, 017, 018); `None` when it
    /// holds.
    pub code: Option<&'static str>,
}

/// The identity rules of the AuthorizationPolicies that apply to the pods
/// serving a port, and whether the pods that take plaintext undo them.
fn identity_dependences(
    index: &Index<'_>,
    service: &Service,
    port: &ServicePort,
) -> Vec<IdentityDependence> {
    use crate::policy::authz::{applies, consequence};
    let snapshot = index.snapshot;
    let ns = service.id.namespace.as_str();
    let root = index.root_namespace();
    let pods = index.port_pods(service, port);
    let mut out = Vec::new();
    for policy in &snapshot.authorization_policies {
        let applying: Vec<_> = pods
            .iter()
            .filter(|p| applies(policy, root, ns, |s| p.workload.policy_selects(s)))
            .collect();
        if applying.is_empty() {
            continue;
        }
        let plain: Vec<_> = applying
            .iter()
            .filter(|p| p.enforced.is_some_and(|e| e != Enforced::Strict))
            .collect();
        for rule in &policy.rules {
            let code = plain
                .iter()
                .find_map(|p| consequence(policy.action, rule, p.enforced?));
            out.push(IdentityDependence {
                policy: policy.id.to_string(),
                action: policy.action.as_str(),
                rule: rule.index,
                fields: rule.fields.clone(),
                plaintext_pods: plain.iter().map(|p| p.workload.id.name.clone()).collect(),
                code,
            });
        }
    }
    out
}

/// A command that sets the port's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeOption {
    pub command: String,
    /// Whether the port would end up with the mode asked for (without
    /// `--force`): no older policy in the way, a target port that resolves.
    pub takes_effect: bool,
    /// The policy that keeps it from taking effect (`NS/NAME`): an older one
    /// of the level written, or one that would still decide.
    pub in_the_way: Option<String>,
}

/// The explanation of one Service port.
pub fn explain_port(
    index: &Index<'_>,
    rules: &DestinationIndex<'_>,
    service: &Service,
    port: &ServicePort,
    from: Option<Client<'_>>,
) -> PortExplanation {
    let snapshot = index.snapshot;
    let ns = service.id.namespace.as_str();
    let target = Target::Port {
        namespace: ns.to_string(),
        service: service.id.name.clone(),
        port: PortRef::Number(port.port),
    };
    let namespace = snapshot.namespaces.get(ns);
    // Every workload the Service selects, and what it resolves the port to.
    let endpoints = index.endpoints(service, port);
    let mut pods: Vec<PodPort> = Vec::new();
    if let Backing::Workloads(all) = index.backing(service) {
        for w in all {
            let served = match &endpoints {
                Endpoints::Workloads(ws) => {
                    ws.iter().find(|(e, _)| e.id == w.id && e.kind == w.kind)
                }
                Endpoints::Selector(_) => None,
            };
            pods.push(PodPort {
                pod: w.id.name.clone(),
                container_port: served.and_then(|(_, tp)| *tp),
                serves: served.is_some(),
            });
        }
    }
    let groups = match &endpoints {
        Endpoints::Workloads(ws) => {
            let mut groups: Vec<(Vec<&Workload>, Option<u32>)> = Vec::new();
            for (w, tp) in ws {
                let alike = groups.iter_mut().find(|(members, gtp)| {
                    *gtp == *tp
                        && members[0].labels == w.labels
                        && members[0].topology == w.topology
                        && dataplane_in(members[0], namespace) == dataplane_in(w, namespace)
                });
                match alike {
                    Some((members, _)) => members.push(w),
                    None => groups.push((vec![*w], *tp)),
                }
            }
            groups
                .into_iter()
                .map(|(members, tp)| {
                    let first = members[0];
                    let chain = chain(index, ns, Some(first), &first.labels, tp);
                    let plane = dataplane_in(first, namespace);
                    let at = tp.map(|p| (p, port.protocol.as_str()));
                    let enforcement =
                        plane.and_then(|p| dataplane::enforcement(p, chain.mode, first, at));
                    PodGroup {
                        pods: members.iter().map(|w| w.id.name.clone()).collect(),
                        container_port: tp,
                        dataplane: plane,
                        enforced: enforcement.map(|e| e.enforced),
                        bypass: enforcement.and_then(|e| e.bypass),
                        chain,
                    }
                })
                .collect()
        }
        Endpoints::Selector(labels) => {
            let tp = port.target_port.number();
            vec![PodGroup {
                pods: Vec::new(),
                container_port: tp,
                dataplane: None,
                enforced: None,
                bypass: None,
                chain: chain(index, ns, None, labels, tp),
            }]
        }
    };
    let changes = [
        ("require", Mode::Strict),
        ("allow", Mode::Permissive),
        ("disable", Mode::Disable),
    ]
    .into_iter()
    .map(|(verb, mode)| {
        let planned = plan_change(snapshot, &target, Change::Set(mode));
        let blocked = planned.as_ref().ok().and_then(|step| step.blocked.as_ref());
        ChangeOption {
            command: format!("mtls {verb} {target}"),
            takes_effect: planned.is_ok() && blocked.is_none(),
            in_the_way: blocked.and_then(|refusal| match refusal {
                Refusal::OlderPolicyWins { winner, .. } => Some(winner.to_string()),
                Refusal::StillDecided { policy, .. }
                | Refusal::LegacyOtherDecides { policy, .. } => Some(policy.clone()),
                _ => None,
            }),
        }
    })
    .collect();
    PortExplanation {
        brief: false,
        target: target.to_string(),
        port: port.port,
        port_name: port.name.clone(),
        protocol: port.protocol.clone(),
        target_port: match &port.target_port {
            TargetPort::Number(n) => n.to_string(),
            TargetPort::Name(name) => name.clone(),
        },
        pods,
        groups,
        callers: client::callers(index, rules, service, port, from),
        authorization: identity_dependences(index, service, port),
        changes,
    }
}

/// Everything `explain` says of one pod: its workload-level decision, and
/// each of its ports with the Service ports it serves there.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodExplanation {
    /// `NS/pod/NAME`.
    pub target: String,
    pub dataplane: Option<Dataplane>,
    /// The mode the pod enforces as a whole; `None` on a gateway.
    pub enforced: Option<Enforced>,
    /// The chain of the pod's workload-level decision.
    pub chain: Chain,
    pub ports: Vec<PodPortExplanation>,
}

/// One port of a pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPortExplanation {
    /// `NS/pod/NAME:PORT`.
    pub target: String,
    pub container_port: u32,
    pub name: Option<String>,
    pub protocol: String,
    /// Whether a container declares it; an undeclared port is listed when
    /// the pod's workload policy sets it, and the sidecar serves it too.
    pub declared: bool,
    pub enforced: Option<Enforced>,
    /// Why it is not the declared mode, where it is not.
    pub bypass: Option<Bypass>,
    /// The Service ports that reach the pod on it, `NS/SVC:PORT`.
    pub services: Vec<String>,
    pub chain: Chain,
}

/// The explanation of a pod; with `port`, of that port alone.
pub fn explain_pod(
    index: &Index<'_>,
    pod: &Workload,
    port: Option<&ContainerPort>,
) -> PodExplanation {
    let ns = pod.id.namespace.as_str();
    let plane = dataplane_in(pod, index.snapshot.namespaces.get(ns));
    let chain = chain(index, ns, Some(pod), &pod.labels, None);
    let served = index.served_by(pod);
    let ports = match port {
        Some(port) => vec![port.clone()],
        None => index.pod_ports(pod),
    };
    let ports = ports
        .into_iter()
        .map(|p| {
            let chain = self::chain(index, ns, Some(pod), &pod.labels, Some(p.port));
            let at = Some((p.port, p.protocol.as_str()));
            let enforcement =
                plane.and_then(|plane| dataplane::enforcement(plane, chain.mode, pod, at));
            PodPortExplanation {
                target: format!("{ns}/pod/{}:{}", pod.id.name, p.port),
                container_port: p.port,
                declared: pod.ports.contains(&p),
                enforced: enforcement.map(|e| e.enforced),
                bypass: enforcement.and_then(|e| e.bypass),
                services: served
                    .iter()
                    .filter(|(_, sp, tp)| *tp == Some(p.port) && sp.protocol == p.protocol)
                    .map(|(svc, sp, _)| format!("{}:{}", svc.id, sp.port))
                    .collect(),
                name: p.name,
                protocol: p.protocol,
                chain,
            }
        })
        .collect();
    PodExplanation {
        target: format!("{ns}/pod/{}", pod.id.name),
        dataplane: plane,
        enforced: plane
            .and_then(|plane| dataplane::enforcement(plane, chain.mode, pod, None))
            .map(|e| e.enforced),
        chain,
        ports,
    }
}
