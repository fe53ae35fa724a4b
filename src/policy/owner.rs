//! Who else manages a policy: a GitOps controller or Helm, read from the
//! labels and annotations they put on what they apply. A change written over
//! their object is reverted at their next sync, so `mtls` names the source to
//! edit instead (and writes only with `--force`).

use serde::Serialize;
use serde_json::Value;

/// The manager of an object, and the source of it to edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// `Argo CD`, `Flux` or `Helm`.
    pub tool: &'static str,
    /// What holds the object's source: `Application payments`, `Kustomization
    /// flux-system/apps`, `HelmRelease prod/api`, `Helm release prod/api`.
    pub source: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.tool, self.source)
    }
}

/// The owner an object's metadata names, if any: Flux's labels, Helm's
/// (a release Flux does not manage), Argo CD's tracking annotation, else
/// Argo CD's label tracking (`app.kubernetes.io/instance`, without Helm).
pub fn owner_of(object: &Value) -> Option<Owner> {
    let meta = &object["metadata"];
    let label = |k: &str| meta["labels"][k].as_str().filter(|v| !v.is_empty());
    let annotation = |k: &str| meta["annotations"][k].as_str().filter(|v| !v.is_empty());
    let namespaced = |name: &str, ns: Option<&str>| match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    if let Some(name) = label("kustomize.toolkit.fluxcd.io/name") {
        return Some(Owner {
            tool: "Flux",
            source: format!(
                "Kustomization {}",
                namespaced(name, label("kustomize.toolkit.fluxcd.io/namespace"))
            ),
        });
    }
    if let Some(name) = label("helm.toolkit.fluxcd.io/name") {
        return Some(Owner {
            tool: "Flux",
            source: format!(
                "HelmRelease {}",
                namespaced(name, label("helm.toolkit.fluxcd.io/namespace"))
            ),
        });
    }
    if let Some(tracking) = annotation("argocd.argoproj.io/tracking-id") {
        // `APP:GROUP/KIND:NAMESPACE/NAME`; the application may be `NS_APP`.
        let app = tracking.split(':').next().unwrap_or(tracking);
        return Some(Owner {
            tool: "Argo CD",
            source: format!("Application {}", app.replacen('_', "/", 1)),
        });
    }
    let helm = label("app.kubernetes.io/managed-by") == Some("Helm");
    if helm || annotation("meta.helm.sh/release-name").is_some() {
        let release = annotation("meta.helm.sh/release-name").unwrap_or("?");
        return Some(Owner {
            tool: "Helm",
            source: format!(
                "release {}",
                namespaced(release, annotation("meta.helm.sh/release-namespace"))
            ),
        });
    }
    label("app.kubernetes.io/instance").map(|app| Owner {
        tool: "Argo CD",
        source: format!("Application {app} (label app.kubernetes.io/instance)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"labels": labels, "annotations": annotations}})
    }

    #[test]
    fn each_manager_is_known_by_its_marks() {
        let cases = [
            (
                meta(
                    json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
                    json!({}),
                ),
                Some("Flux (Kustomization flux-system/apps)"),
            ),
            (
                meta(
                    json!({"helm.toolkit.fluxcd.io/name": "api", "helm.toolkit.fluxcd.io/namespace": "prod", "app.kubernetes.io/managed-by": "Helm"}),
                    json!({"meta.helm.sh/release-name": "api"}),
                ),
                Some("Flux (HelmRelease prod/api)"),
            ),
            (
                meta(
                    json!({}),
                    json!({"argocd.argoproj.io/tracking-id": "argocd_payments:security.istio.io/PeerAuthentication:payments/default"}),
                ),
                Some("Argo CD (Application argocd/payments)"),
            ),
            (
                meta(
                    json!({"app.kubernetes.io/managed-by": "Helm"}),
                    json!({"meta.helm.sh/release-name": "mesh", "meta.helm.sh/release-namespace": "istio-system"}),
                ),
                Some("Helm (release istio-system/mesh)"),
            ),
            (
                meta(json!({"app.kubernetes.io/instance": "payments"}), json!({})),
                Some("Argo CD (Application payments (label app.kubernetes.io/instance))"),
            ),
            (
                meta(json!({"app.kubernetes.io/managed-by": "mtls"}), json!({})),
                None,
            ),
            (json!({"metadata": {}}), None),
        ];
        for (object, expected) in cases {
            assert_eq!(
                owner_of(&object).map(|o| o.to_string()).as_deref(),
                expected,
                "{object}"
            );
        }
    }
}
