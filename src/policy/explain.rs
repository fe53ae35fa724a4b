//! Why a workload (port) has its mode: every policy Istio considers at each
//! level, and what became of it (docs/semantics.md §1, §2). The decision
//! itself is `resolve`'s; this lays out the candidates around it, for
//! `mtls explain`.

use serde::Serialize;

use crate::mode::Mode;
use crate::policy::PeerAuthentication;
use crate::policy::model::{Created, Labels, NO_LABELS, Workload, selects_with};
use crate::policy::resolve::{Index, Level};

/// What became of one policy for one workload (port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// The oldest policy of its level that applies, and it sets a mode: the
    /// level's mode.
    Decides,
    /// The oldest policy of its level that applies, UNSET (or, at the port
    /// level, without an entry for the port): the level inherits.
    Inherits,
    /// It applies, but an older policy of the level wins; Istio ignores it
    /// whole, port settings included.
    Shadowed { by: String },
    /// A workload policy whose selector does not select the workload.
    NotSelected,
    /// A policy with a selector in the root namespace: Istio ignores it.
    IgnoredInRoot,
    /// Istio cannot decode it, and ignores it.
    Undecodable { reason: String },
    /// A `portLevelMtls` entry on a mesh-wide or namespace-wide policy:
    /// Istio reads port settings only from policies with a selector.
    PortWithoutSelector,
}

/// One policy at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// `NS/NAME`.
    pub policy: String,
    /// RFC 3339; `None` without a creation time (the oldest possible).
    pub created: Option<String>,
    /// The mode it sets at this level; `None` is UNSET (or no port entry).
    #[serde(serialize_with = "serialize_mode")]
    pub mode: Option<Mode>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

fn serialize_mode<S: serde::Serializer>(mode: &Option<Mode>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.map_or("UNSET", Mode::as_str))
}

/// The candidates of one level, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub level: Level,
    pub candidates: Vec<Candidate>,
}

/// The whole chain for one workload (port): each level's candidates, and
/// the decision they come to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chain {
    pub links: Vec<Link>,
    pub mode: Mode,
    pub level: Level,
    pub policy: Option<String>,
}

/// The chain for `workload` in `namespace` (or, with none, a workload with
/// `labels` only), at workload `port` or for the workload as a whole.
pub fn chain(
    index: &Index<'_>,
    namespace: &str,
    workload: Option<&Workload>,
    labels: &Labels,
    port: Option<u32>,
) -> Chain {
    let (own, added) = match workload {
        Some(w) => (&*w.labels, &w.topology),
        None => (labels, &NO_LABELS),
    };
    let composition = match workload {
        Some(w) => index.compose_workload(namespace, w),
        None => index.compose(namespace, labels),
    };
    let decision = match port {
        Some(p) => composition.port_decision(p),
        None => composition.workload_decision(),
    };
    let root = index.root_for(namespace, own);
    let snapshot = index.snapshot;
    let mut links = vec![level_link(Level::Mesh, &composition.mesh, None)];
    if namespace != root {
        links.push(level_link(Level::Namespace, &composition.namespace, None));
        let mut workload_link = level_link(Level::Workload, &composition.workload, None);
        // Workload policies of the namespace that do not select it.
        let mut others: Vec<&PeerAuthentication> = snapshot
            .policies
            .iter()
            .filter(|p| {
                p.id.namespace == namespace
                    && p.is_workload_policy()
                    && !selects_with(&p.selector, own, added)
            })
            .collect();
        others.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
        workload_link.candidates.extend(
            others
                .into_iter()
                .map(|p| candidate(p, p.mode, Outcome::NotSelected)),
        );
        links.push(workload_link);
        if let Some(p) = port {
            let mut port_link = level_link(Level::Port, &composition.workload, Some(p));
            // Entries for the port on policies without a selector, which
            // Istio ignores (docs/semantics.md §1).
            port_link.candidates.extend(
                composition
                    .mesh
                    .iter()
                    .chain(&composition.namespace)
                    .filter_map(|policy| {
                        let mode = policy.port_modes.get(&p)?;
                        Some(candidate(policy, *mode, Outcome::PortWithoutSelector))
                    }),
            );
            links.push(port_link);
        }
    }
    // What Istio ignores: selector policies in the root namespace that would
    // select the workload, and undecodable policies where it looks.
    let mesh = &mut links[0].candidates;
    let mut ignored: Vec<&PeerAuthentication> = snapshot
        .policies
        .iter()
        .filter(|p| {
            p.id.namespace == root
                && p.is_workload_policy()
                && selects_with(&p.selector, own, added)
        })
        .collect();
    ignored.sort_by(|a, b| a.age_key().cmp(&b.age_key()));
    mesh.extend(
        ignored
            .into_iter()
            .map(|p| candidate(p, p.mode, Outcome::IgnoredInRoot)),
    );
    for skipped in &snapshot.skipped_policies {
        let at = if skipped.id.namespace == root {
            0
        } else if skipped.id.namespace == namespace && links.len() > 1 {
            1
        } else {
            continue;
        };
        links[at].candidates.push(Candidate {
            policy: skipped.id.to_string(),
            created: None,
            mode: None,
            outcome: Outcome::Undecodable {
                reason: skipped.reason.clone(),
            },
        });
    }
    Chain {
        links,
        mode: decision.mode,
        level: decision.level,
        policy: decision.policy.map(|p| p.id().to_string()),
    }
}

/// The candidates Istio composes at one level, oldest first: the first
/// decides (or, UNSET, lets the level inherit), the others are shadowed. At
/// the port level, what each workload policy says for `port`.
fn level_link(level: Level, applicable: &[&PeerAuthentication], port: Option<u32>) -> Link {
    let mode = |p: &PeerAuthentication| match port {
        Some(number) => p.port_modes.get(&number).copied().flatten(),
        None => p.mode,
    };
    let candidates = match applicable.split_first() {
        None => Vec::new(),
        Some((winner, losers)) => {
            let first = match mode(winner) {
                Some(_) => Outcome::Decides,
                None => Outcome::Inherits,
            };
            std::iter::once(candidate(winner, mode(winner), first))
                .chain(losers.iter().map(|p| {
                    candidate(
                        p,
                        mode(p),
                        Outcome::Shadowed {
                            by: winner.id.to_string(),
                        },
                    )
                }))
                .collect()
        }
    };
    Link { level, candidates }
}

fn candidate(policy: &PeerAuthentication, mode: Option<Mode>, outcome: Outcome) -> Candidate {
    Candidate {
        policy: policy.id.to_string(),
        created: match policy.created {
            Created::At(t) => Some(t.to_string()),
            Created::Zero | Created::Pending => None,
        },
        mode,
        outcome,
    }
}
