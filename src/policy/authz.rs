//! AuthorizationPolicies, cut down to what mTLS changes about them: whether
//! their rules match callers by identity, which only an mTLS connection
//! carries (docs/semantics.md §8).

use serde_json::Value;

use crate::mode::Enforced;
use crate::policy::model::{Labels, Meta, ObjectRef, selector_labels};

/// `spec.action`; ALLOW when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Deny,
    Custom,
    Audit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Custom => "CUSTOM",
            Action::Audit => "AUDIT",
        }
    }
}

/// How one rule of a policy depends on the caller's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRule {
    /// Its index in `spec.rules`.
    pub index: usize,
    /// The identity fields it uses, as written: `principals`,
    /// `notNamespaces`, `when source.principal`, ...
    pub fields: Vec<String>,
    /// A plaintext call can never match it: a `when` condition on
    /// `source.principal` or `source.namespace` values, or every `from`
    /// entry naming principals or namespaces.
    pub needs_identity: bool,
    /// Some part of it matches callers by identity positively (values, not
    /// `not` values): callers matched that way are not matched over
    /// plaintext.
    pub matches_identity: bool,
}

/// An AuthorizationPolicy: where it applies, its action, and its rules that
/// depend on the caller's identity (the rest of it does not concern mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    pub id: ObjectRef,
    pub action: Action,
    /// `spec.selector.matchLabels`; `None`: the whole namespace (the mesh,
    /// in the root namespace).
    pub selector: Option<Labels>,
    /// `spec.targetRef(s)`: the policy applies to the gateways or waypoints
    /// it names, not to sidecars.
    pub targets: bool,
    pub rules: Vec<IdentityRule>,
}

/// The `from.source` fields that only an mTLS connection can match, and the
/// `when` keys that read the same identity (Istio's `srcPrincipalGenerator`
/// and `srcNamespaceGenerator` match the peer certificate's SAN).
const SOURCE_FIELDS: [(&str, bool); 4] = [
    ("principals", true),
    ("namespaces", true),
    ("notPrincipals", false),
    ("notNamespaces", false),
];
const WHEN_KEYS: [&str; 2] = ["source.principal", "source.namespace"];

fn non_empty(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty())
}

impl AuthorizationPolicy {
    pub fn from_object(object: &Value) -> Result<AuthorizationPolicy, String> {
        let meta = Meta::of(object)?;
        let spec = object.get("spec");
        let action = match spec.and_then(|s| s.get("action")).and_then(Value::as_str) {
            None | Some("ALLOW") => Action::Allow,
            Some("DENY") => Action::Deny,
            Some("CUSTOM") => Action::Custom,
            Some("AUDIT") => Action::Audit,
            Some(other) => return Err(format!("spec.action: unknown action {other:?}")),
        };
        let selector = selector_labels(spec)?;
        let targets = spec.is_some_and(|s| {
            s.get("targetRef").is_some_and(|t| !t.is_null()) || non_empty(s.get("targetRefs"))
        });
        let rules = spec
            .and_then(|s| s.get("rules"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let rules = rules
            .iter()
            .enumerate()
            .filter_map(|(index, rule)| identity_rule(index, rule))
            .collect();
        Ok(AuthorizationPolicy {
            id: meta.id,
            action,
            selector,
            targets,
            rules,
        })
    }

    /// `kind NS/NAME`, as findings name objects.
    pub fn key(&self) -> String {
        format!("authorizationpolicy {}", self.id)
    }
}

/// How a rule depends on the caller's identity; `None` when it does not.
fn identity_rule(index: usize, rule: &Value) -> Option<IdentityRule> {
    let mut fields = Vec::new();
    let mut matches_identity = false;
    let from: Vec<&Value> = rule
        .get("from")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("source"))
        .collect();
    let mut every_from_positive = !from.is_empty();
    for source in &from {
        let mut positive_here = false;
        for (field, positive) in SOURCE_FIELDS {
            if non_empty(source.get(field)) {
                if !fields.iter().any(|f| f == field) {
                    fields.push(field.to_string());
                }
                if positive {
                    positive_here = true;
                    matches_identity = true;
                }
            }
        }
        every_from_positive &= positive_here;
    }
    // Each `when` condition must hold; one on identity values never holds
    // for a plaintext call.
    let mut when_positive = false;
    for condition in rule
        .get("when")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(key) = condition.get("key").and_then(Value::as_str) else {
            continue;
        };
        if !WHEN_KEYS.contains(&key) {
            continue;
        }
        if non_empty(condition.get("values")) {
            when_positive = true;
            matches_identity = true;
            fields.push(format!("when {key}"));
        }
        if non_empty(condition.get("notValues")) {
            fields.push(format!("when {key} notValues"));
        }
    }
    if fields.is_empty() {
        return None;
    }
    Some(IdentityRule {
        index,
        fields,
        needs_identity: when_positive || every_from_positive,
        matches_identity,
    })
}

/// The finding a rule of a policy comes to on a pod that enforces
/// `enforced` there: MTLS016 (an ALLOW rule that needs identity: plaintext
/// callers are denied), MTLS017 (a DENY rule that matches identity:
/// plaintext callers get through, and every caller where no proxy enforces
/// it), MTLS018 (a CUSTOM or AUDIT rule sees no identity); `None` where the
/// pod takes mTLS only, or where nothing it does depends on identity.
pub fn consequence(
    action: Action,
    rule: &IdentityRule,
    enforced: Enforced,
) -> Option<&'static str> {
    match (action, enforced) {
        (_, Enforced::Strict) => None,
        // Without a proxy nothing denies and nothing reads identity.
        (Action::Allow | Action::Custom | Action::Audit, Enforced::None) => None,
        (Action::Allow, _) if rule.needs_identity => Some("MTLS016"),
        (Action::Deny, _) if rule.matches_identity => Some("MTLS017"),
        (Action::Custom | Action::Audit, _) => Some("MTLS018"),
        _ => None,
    }
}

/// Whether `policy` applies to a workload of `namespace` with `labels` (its
/// own and those istiod adds), as istiod attaches policies to sidecars
/// (`ListAuthorizationPolicies`, `ShouldAttachPolicy`): a policy of the root
/// namespace in every namespace, else in its own; without a selector to
/// every workload there, with one to those it selects; with targetRefs to
/// none (they name gateways and waypoints).
pub fn applies(
    policy: &AuthorizationPolicy,
    root: &str,
    namespace: &str,
    selects: impl Fn(&Labels) -> bool,
) -> bool {
    if policy.targets {
        return false;
    }
    if policy.id.namespace != root && policy.id.namespace != namespace {
        return false;
    }
    policy.selector.as_ref().is_none_or(selects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> AuthorizationPolicy {
        AuthorizationPolicy::from_object(&json!({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "p", "namespace": "shop"}, "spec": spec,
        }))
        .expect("valid")
    }

    #[test]
    fn a_rule_needs_identity_when_every_source_names_principals_or_namespaces() {
        let p = policy(json!({"rules": [
            {"from": [{"source": {"principals": ["cluster.local/ns/front/sa/web"]}}]},
            {"from": [{"source": {"namespaces": ["front"]}}, {"source": {"ipBlocks": ["10.0.0.0/8"]}}]},
            {"to": [{"operation": {"methods": ["GET"]}}]},
            {"from": [{"source": {"notNamespaces": ["test"]}}]},
            {"when": [{"key": "source.namespace", "values": ["front"]}]},
        ]}));
        assert_eq!(p.action, Action::Allow);
        let seen: Vec<(usize, bool, bool)> = p
            .rules
            .iter()
            .map(|r| (r.index, r.needs_identity, r.matches_identity))
            .collect();
        // Rule 1 also lets in an IP block; rule 2 uses no identity; rule 3
        // only excludes by identity.
        assert_eq!(
            seen,
            [
                (0, true, true),
                (1, false, true),
                (3, false, false),
                (4, true, true)
            ]
        );
        assert_eq!(p.rules[3].fields, ["when source.namespace"]);
    }

    #[test]
    fn where_a_policy_applies_follows_istiod() {
        let mesh = AuthorizationPolicy {
            id: ObjectRef {
                namespace: "istio-system".into(),
                name: "all".into(),
            },
            ..policy(json!({"selector": {"matchLabels": {"app": "api"}}}))
        };
        let yes = |_: &Labels| true;
        let no = |_: &Labels| false;
        // The root namespace's selector policies reach every namespace.
        assert!(applies(&mesh, "istio-system", "shop", yes));
        assert!(!applies(&mesh, "istio-system", "shop", no));
        let local = policy(json!({}));
        assert!(applies(&local, "istio-system", "shop", no));
        assert!(!applies(&local, "istio-system", "front", yes));
        let waypoint = policy(json!({"targetRefs": [{"kind": "Gateway", "name": "waypoint"}]}));
        assert!(!applies(&waypoint, "istio-system", "shop", yes));
    }

    #[test]
    fn what_plaintext_does_to_a_rule_depends_on_its_action_and_on_the_proxy() {
        let p = policy(json!({"rules": [
            {"from": [{"source": {"principals": ["cluster.local/ns/front/sa/web"]}}]},
        ]}));
        let rule = &p.rules[0];
        let of = |action, enforced| consequence(action, rule, enforced);
        assert_eq!(of(Action::Allow, Enforced::Permissive), Some("MTLS016"));
        assert_eq!(of(Action::Allow, Enforced::Disable), Some("MTLS016"));
        assert_eq!(of(Action::Allow, Enforced::Strict), None);
        // No proxy denies nothing, and lets every caller past a DENY.
        assert_eq!(of(Action::Allow, Enforced::None), None);
        assert_eq!(of(Action::Deny, Enforced::None), Some("MTLS017"));
        assert_eq!(of(Action::Deny, Enforced::Permissive), Some("MTLS017"));
        assert_eq!(of(Action::Audit, Enforced::Disable), Some("MTLS018"));
        assert_eq!(of(Action::Custom, Enforced::None), None);
    }

    #[test]
    fn an_unknown_action_is_an_error() {
        let bad = AuthorizationPolicy::from_object(&json!({
            "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "p", "namespace": "shop"}, "spec": {"action": "MAYBE"},
        }));
        assert!(bad.is_err());
    }
}
