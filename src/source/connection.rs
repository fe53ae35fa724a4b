//! The cluster for callers that do not run async code themselves: the
//! connected [`Cluster`] together with the runtime its client runs on. The
//! command line holds one of these, opened on first use.

use anyhow::Context;
use serde_json::Value;

use crate::policy::change::Edit;
use crate::source::cluster::{ApiError, Clients, Cluster, ConnectOptions, Scope};
use crate::source::collect::Loaded;

/// A connected cluster and its runtime (one thread: a command reads and writes
/// one request after another, or a few at a time on the same thread).
pub struct Connection {
    runtime: tokio::runtime::Runtime,
    cluster: Cluster,
}

impl Connection {
    /// Connects as `options` say: kubeconfig, context, discovery.
    pub fn open(options: &ConnectOptions) -> anyhow::Result<Connection> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let cluster = runtime.block_on(Cluster::connect(options))?;
        Ok(Connection { runtime, cluster })
    }

    /// The cluster: what discovery found, its notices and progress.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// [`Cluster::snapshot`], waited for.
    pub fn snapshot(
        &self,
        scope: &Scope,
        root_namespace: Option<&str>,
        clients: &Clients,
    ) -> anyhow::Result<Loaded> {
        self.runtime
            .block_on(self.cluster.snapshot(scope, root_namespace, clients))
    }

    /// Runs `work` (a request through the cluster's client) to its end.
    pub fn block_on<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }

    /// [`Cluster::write`], waited for.
    pub fn write(&self, edit: &Edit, dry_run: bool) -> Result<Value, ApiError> {
        self.runtime.block_on(self.cluster.write(edit, dry_run))
    }
}
