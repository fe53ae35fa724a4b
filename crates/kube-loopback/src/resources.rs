//! The resource types the server knows, as discovery describes them.

/// One resource type: served under `group` at each of `versions`, stored once
/// (every version has the same schema here, as Istio's versions do).
#[derive(Debug)]
pub struct ResourceType {
    pub group: &'static str,
    pub versions: &'static [&'static str],
    pub resource: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
}

impl ResourceType {
    /// `resource.group`, as Status messages and RBAC name it (`services` for core).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The Kind.group form of invalid-object messages (`Service`, `PeerAuthentication.security.istio.io`).
    pub fn kind_qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether objects of this type are custom resources (CRDs) on a real server.
    pub fn is_custom(&self) -> bool {
        self.group.ends_with("istio.io")
    }
}

const ISTIO: &[&str] = &["istio-io"];

pub const RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        versions: &["v1"],
        resource: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        resource: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
    },
    ResourceType {
        group: "discovery.k8s.io",
        versions: &["v1"],
        resource: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        resource: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        resource: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        resource: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
    },
    ResourceType {
        group: "discovery.k8s.io",
        versions: &["v1"],
        resource: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        resource: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        resource: "statefulsets",
        singular: "statefulset",
        kind: "StatefulSet",
        namespaced: true,
        short_names: &["sts"],
        categories: &["all"],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        resource: "daemonsets",
        singular: "daemonset",
        kind: "DaemonSet",
        namespaced: true,
        short_names: &["ds"],
        categories: &["all"],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        resource: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
    },
    ResourceType {
        group: "batch",
        versions: &["v1"],
        resource: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short_names: &[],
        categories: &["all"],
    },
    ResourceType {
        group: "security.istio.io",
        versions: &["v1", "v1beta1"],
        resource: "peerauthentications",
        singular: "peerauthentication",
        kind: "PeerAuthentication",
        namespaced: true,
        short_names: &["pa"],
        categories: ISTIO,
    },
    ResourceType {
        group: "security.istio.io",
        versions: &["v1", "v1beta1"],
        resource: "authorizationpolicies",
        singular: "authorizationpolicy",
        kind: "AuthorizationPolicy",
        namespaced: true,
        short_names: &["ap"],
        categories: ISTIO,
    },
    ResourceType {
        group: "networking.istio.io",
        versions: &["v1", "v1beta1", "v1alpha3"],
        resource: "destinationrules",
        singular: "destinationrule",
        kind: "DestinationRule",
        namespaced: true,
        short_names: &["dr"],
        categories: ISTIO,
    },
    ResourceType {
        group: "authentication.istio.io",
        versions: &["v1alpha1"],
        resource: "policies",
        singular: "policy",
        kind: "Policy",
        namespaced: true,
        short_names: &[],
        categories: ISTIO,
    },
    ResourceType {
        group: "authentication.istio.io",
        versions: &["v1alpha1"],
        resource: "meshpolicies",
        singular: "meshpolicy",
        kind: "MeshPolicy",
        namespaced: false,
        short_names: &[],
        categories: ISTIO,
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        resource: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        resource: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        resource: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        categories: &[],
    },
    ResourceType {
        group: "rbac.authorization.k8s.io",
        versions: &["v1"],
        resource: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
    },
];

/// Group/versions not served unless asked for: the legacy Istio API.
pub const OFF_BY_DEFAULT: &[&str] = &["authentication.istio.io/v1alpha1"];

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind && r.versions.contains(&version))
}

pub fn by_name(group: &str, version: &str, resource: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.resource == resource && r.versions.contains(&version))
}
