//! MTLS016–018: AuthorizationPolicies whose rules match callers by identity,
//! on Service ports that take plaintext. A plaintext call carries no peer
//! certificate, so no principal and no namespace: rules that need them never
//! match it (docs/semantics.md §8).

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{Finding, Severity, list, plural};
use crate::mode::Enforced;
use crate::policy::authz::{AuthorizationPolicy, IdentityRule, applies, consequence};
use crate::policy::resolve::Index;

/// What one rule of one policy does on the ports that take plaintext.
struct Group<'a> {
    policy: &'a AuthorizationPolicy,
    rule: &'a IdentityRule,
    rows: BTreeSet<String>,
    pods: Vec<String>,
    /// What those pods enforce there.
    modes: BTreeSet<Enforced>,
}

pub fn findings(index: &Index<'_>) -> Vec<Finding> {
    let snapshot = index.snapshot;
    if snapshot.authorization_policies.is_empty() {
        return Vec::new();
    }
    let root = index.root_namespace();
    let mut groups: BTreeMap<(&'static str, String, usize), Group<'_>> = BTreeMap::new();
    for service in &snapshot.services {
        let ns = service.id.namespace.as_str();
        for port in &service.ports {
            let row = format!("{ns}/{}:{}", service.id.name, port.port);
            for pod in index.port_pods(service, port) {
                let Some(enforced) = pod.enforced.filter(|e| *e != Enforced::Strict) else {
                    continue;
                };
                for policy in &snapshot.authorization_policies {
                    if !applies(policy, root, ns, |s| pod.workload.policy_selects(s)) {
                        continue;
                    }
                    for rule in &policy.rules {
                        let Some(code) = consequence(policy.action, rule, enforced) else {
                            continue;
                        };
                        let group = groups
                            .entry((code, policy.id.to_string(), rule.index))
                            .or_insert_with(|| Group {
                                policy,
                                rule,
                                rows: BTreeSet::new(),
                                pods: Vec::new(),
                                modes: BTreeSet::new(),
                            });
                        group.rows.insert(row.clone());
                        if !group.pods.contains(&pod.workload.id.name) {
                            group.pods.push(pod.workload.id.name.clone());
                        }
                        group.modes.insert(enforced);
                    }
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|((code, _, _), group)| finding(code, group))
        .collect()
}

fn finding(code: &'static str, group: Group<'_>) -> Finding {
    let Group {
        policy,
        rule,
        rows,
        pods,
        modes,
    } = group;
    let rows: Vec<String> = rows.into_iter().collect();
    let first_row = rows.first().cloned().unwrap_or_default();
    let takes = if rows.len() == 1 { "takes" } else { "take" };
    let modes_text = modes
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let on = format!(
        "{} {takes} plaintext ({modes_text}) on {} ({})",
        list(&rows),
        plural(pods.len(), "workload", "workloads"),
        list(&pods)
    );
    let fields = rule.fields.join(", ");
    let rule_text = format!(
        "rule {} of {} authorizationpolicy {}",
        rule.index,
        policy.action.as_str(),
        policy.id
    );
    let require = format!("`mtls require {first_row}`");
    let (severity, message, hint) = match code {
        "MTLS016" => {
            let all = if modes.contains(&Enforced::Disable) {
                "; under DISABLE every call is plaintext, so every caller it admits is denied"
            } else {
                ""
            };
            (
                Severity::Error,
                format!(
                    "{on}, but {rule_text} admits callers only by identity ({fields}), which a plaintext call \
                     does not carry: the plaintext callers it admits get 403 (RBAC: access denied){all}"
                ),
                format!(
                    "{require}, so that callers send mTLS and carry their identity (`mtls explain {first_row}` \
                     shows what each caller sends), or admit them by what a plaintext call carries (ipBlocks, \
                     requestPrincipals)"
                ),
            )
        }
        "MTLS017" if modes == BTreeSet::from([Enforced::None]) => (
            Severity::Error,
            format!(
                "{} serve{} {} without a proxy, so nothing enforces {rule_text}: every caller it denies gets through",
                plural(pods.len(), "workload", "workloads"),
                if pods.len() == 1 { "s" } else { "" },
                list(&rows)
            ),
            "have the injector add the sidecar (or enroll the pods in ambient mode) and restart them; until \
             then the policy protects nothing"
                .to_string(),
        ),
        "MTLS017" => (
            Severity::Error,
            format!(
                "{on}, but {rule_text} denies callers by identity ({fields}), which a plaintext call does not \
                 carry: the callers it denies get through over plaintext"
            ),
            format!(
                "{require}, or deny those callers by what a plaintext call carries (their ipBlocks) rather \
                 than by identity"
            ),
        ),
        _ => (
            Severity::Warning,
            format!(
                "{on}, and {rule_text} reads the caller's identity ({fields}), which a plaintext call does not \
                 carry: for plaintext callers it sees none"
            ),
            format!("{require}, or base the rule on what a plaintext call carries"),
        ),
    };
    Finding {
        severity,
        code,
        object: format!("{} (rule {})", policy.key(), rule.index),
        message,
        hint,
        namespace: policy.id.namespace.clone(),
        rows: rows.into_iter().collect(),
    }
}
