//! Where a snapshot comes from. Today: manifests (`-f`); the cluster reader builds
//! the same [`Snapshot`](crate::policy::Snapshot) from the Kubernetes API.

pub mod cluster;
pub mod collect;
pub mod connection;
pub mod manifests;
pub mod plugin;
pub mod prometheus;
#[cfg(test)]
mod properties;
mod redact;
pub mod watch;

/// Which Istio API to read and write (`--api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// What is there: the server's discovery, or what the manifests contain.
    Auto,
    /// security.istio.io/v1
    V1,
    /// security.istio.io/v1beta1
    V1beta1,
    /// authentication.istio.io/v1alpha1 (Istio 1.5 and earlier)
    Legacy,
}

/// `--root-namespace` names a namespace that is not there: the mesh level would
/// silently be another one.
pub fn root_not_found(root: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the root namespace {root:?} (--root-namespace) does not exist: {why}\n\
         name the namespace where the mesh-wide PeerAuthentication lives, or leave the flag out \
         to read rootNamespace from the mesh config"
    )
}
