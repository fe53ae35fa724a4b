//! The words for a change that cannot be planned or would not take effect.
//! The planner (`policy::plan`) returns the facts; this says them, naming what
//! is in the way and what to do instead.

use crate::mode::Mode;
use crate::policy::model::TargetPort;
use crate::policy::plan::{Change, Impossible, Refusal};
use crate::policy::resolve::Level;

/// Why nothing can be written for a target.
pub fn impossible(reason: &Impossible) -> String {
    match reason {
        Impossible::NoSelector { service } => format!(
            "service {service} has no selector, so no workload policy can select its pods; \
             set the mode on namespace {} instead",
            service.namespace
        ),
        Impossible::UnresolvedPort {
            service,
            port,
            target,
        } => {
            let target = match target {
                TargetPort::Name(name) => format!("the name {name:?}"),
                TargetPort::Number(n) => n.to_string(),
            };
            format!(
                "the target port of {service}:{port} is {target}, and no pod or pod template of the service \
                 has a container port of that name, so there is no workload port to set \
                 (portLevelMtls is keyed by container port number)"
            )
        }
        Impossible::LegacyDefaultHasTargets { policy } => format!(
            "{policy} has targets, so it is no namespace-wide policy, and a namespace-wide policy must be \
             named default"
        ),
        Impossible::LegacyOtherSettings { policy } => format!(
            "{policy} also holds other authentication settings (origins, principalBinding or other peers); \
             on this API a level inherits only when its policy is gone, so remove its mtls peer by hand \
             or move those settings first"
        ),
        Impossible::Inapplicable(why) => why.clone(),
        Impossible::Pod { target } => format!(
            "{target} is a pod: a change sets the mesh, a namespace, a Service or a Service port, \
             and the pod follows its Service's workload policy; change a Service that selects it"
        ),
    }
}

/// Why a change that can be written would not take effect.
pub fn refusal(reason: &Refusal) -> String {
    let level_name = |level: Option<Level>| level.map_or("default", Level::as_str);
    match reason {
        Refusal::SelectorInRootNamespace { namespace, change } => format!(
            "{namespace} is the root namespace: Istio ignores policies with a selector there; \
             set the mesh-wide mode with `mtls {} mesh` instead",
            command(*change)
        ),
        Refusal::OlderPolicyWins {
            winner,
            workload,
            result,
            level,
        } => {
            let what = if *workload {
                "an older workload policy for the same pods"
            } else {
                "an older policy of the same level"
            };
            format!(
                "peerauthentication {winner} is {what}, so Istio uses it and ignores the changed one whole \
                 (the result would be {result} from the {} level)",
                level.as_str()
            )
        }
        Refusal::StillDecided {
            policy,
            level,
            mode,
        } => format!(
            "peerauthentication {policy} would still decide at the {} level ({mode})",
            level.as_str()
        ),
        Refusal::IstiosDefault { mode } => {
            format!("the result would be {mode} from Istio's default")
        }
        Refusal::LegacyOtherDecides {
            policy,
            mode,
            level,
        } => format!(
            "{policy} decides instead ({} from the {} level): on the legacy API the oldest service policy \
             that names the port or no port wins, and a PeerAuthentication that applies overrides them all",
            mode.as_str(),
            level_name(*level)
        ),
        Refusal::LegacyResult { mode, level } => format!(
            "the result would be {} from the {} level",
            mode.as_str(),
            level_name(*level)
        ),
    }
}

/// The `mtls` command that makes a change.
pub fn command(change: Change) -> &'static str {
    match change {
        Change::Set(Mode::Strict) => "require",
        Change::Set(Mode::Permissive) => "allow",
        Change::Set(Mode::Disable) => "disable",
        Change::Unset => "unset",
    }
}
