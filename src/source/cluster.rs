//! Reading and writing through the Kubernetes API, the way kubectl does:
//! kubeconfig (`--kubeconfig`, `KUBECONFIG`, `--context`) or in-cluster config,
//! client certificates, bearer tokens and exec plugins through kube-rs.
//!
//! Requests are made by hand (path, query, body) rather than through typed APIs,
//! so that every request is counted, logged with `-v`, and its `Status` error
//! turned into a message a user can act on. Objects come back as JSON and go
//! through the same [`Collector`] as manifests.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::bail;
use http::{Method, Request};
use serde_json::{Value, json};

use crate::policy::IstioApi;
use crate::policy::model::LEGACY_API_VERSION;
use crate::policy::plan::{Edit, EditKind};
use crate::source::Api;
use crate::source::collect::{Collector, LoadOptions, Loaded};
use crate::source::redact;

const SECURITY_GROUP: &str = "security.istio.io";
/// The most one response may hold. A page of 500 pods is a few MiB.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
const LEGACY_GROUP: &str = "authentication.istio.io";
const ISTIO_NAMESPACE: &str = "istio-system";
const ENDPOINT_SLICES: (&str, &str, &str) = ("discovery.k8s.io", "v1", "endpointslices");
const PODS: (&str, &str, &str) = ("", "v1", "pods");
/// The media type of every request but the metadata reads.
const JSON: &str = "application/json";
/// Pods as their metadata alone, and whole from a server that cannot
/// (Kubernetes before 1.15): the server serves the first it can.
const POD_METADATA: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
/// Pods whose metadata cannot say what decides are read whole: one GET
/// each up to this many, else one LIST of them all.
const MOST_POD_GETS: usize = 16;
/// The label Istio's injector gives the pods it adds a sidecar to.
const INJECTED: &str = "security.istio.io/tlsMode=istio";
const NOT_INJECTED: &str = "security.istio.io/tlsMode!=istio";
/// How often a request the server turned away as busy (429, 503) is sent.
const BUSY_ATTEMPTS: u32 = 3;

/// An error answer from the API server, or no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a `Status` (or at least an HTTP error code).
    #[error("{message}")]
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// No usable answer: the request was refused, timed out, cut off, or the
    /// answer was not one mtls can use.
    #[error("{message}")]
    Transport { kind: Transport, message: String },
}

/// Why a request got no usable answer. The cause itself is not kept in the
/// error chain: kube-rs's errors may quote credentials (see `redact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No answer within `--request-timeout`: the request may have been served.
    Timeout,
    /// The connection closed before the answer: the request may have been served.
    Closed,
    /// The server could not be reached: the request was not sent.
    Unreachable,
    /// The TLS handshake failed: the request was not sent.
    Tls,
    /// No credentials could be had: the request was not sent.
    Auth,
    /// Turned away as busy (429, 503, 504) on every attempt: not served.
    Busy,
    /// An answer mtls refuses: too large, not JSON, an endless list.
    Unusable,
    /// Any other failure of the connection: the request may have been served.
    Other,
}

impl ApiError {
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Status { code, .. } => Some(*code),
            ApiError::Transport { .. } => None,
        }
    }

    /// Whether the request may have been served though no answer came: a
    /// write that ended so must be read back, not assumed lost or done.
    pub fn answer_lost(&self) -> bool {
        matches!(
            self,
            ApiError::Transport {
                kind: Transport::Timeout | Transport::Closed | Transport::Other,
                ..
            }
        )
    }

    fn transport(kind: Transport, message: String) -> ApiError {
        ApiError::Transport { kind, message }
    }
}

/// Which objects of a LIST: by label, or by field (`metadata.name=...`).
#[derive(Debug, Clone, Copy)]
enum Selector<'a> {
    Label(&'a str),
    Field(&'a str),
}

/// What a command needs read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything: `-A`.
    All,
    /// Only the mesh-wide level.
    Mesh,
    /// A namespace's policies, Services and pods.
    Namespace(String),
    /// One Service, its pods and the policies of its namespace.
    Service { namespace: String, name: String },
    /// One pod, the Services of its namespace and the policies there.
    Pod { namespace: String, name: String },
}

/// The kinds that hold pod templates, by API path prefix and resource.
const TEMPLATE_RESOURCES: [(&str, &str); 5] = [
    ("/apis/apps/v1", "deployments"),
    ("/apis/apps/v1", "statefulsets"),
    ("/apis/apps/v1", "daemonsets"),
    ("/apis/apps/v1", "replicasets"),
    ("/apis/batch/v1", "jobs"),
];

/// What of the clients' side a snapshot reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clients {
    None,
    /// The DestinationRules of every namespace, and the legacy policies.
    All,
    /// One caller (`--from`): its namespace's workloads, and only the
    /// DestinationRules it can use (its namespace's, the Service's and the
    /// root namespace's); the legacy policies.
    From {
        namespace: String,
        workload: Option<String>,
    },
}

impl Scope {
    /// The one namespace the scope reads; `None` for the mesh and `-A`.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::All | Scope::Mesh => None,
            Scope::Namespace(ns)
            | Scope::Service { namespace: ns, .. }
            | Scope::Pod { namespace: ns, .. } => Some(ns),
        }
    }

    /// A Service's or pod's scope widened to its namespace, where the
    /// target's absence is no failure (a cluster of several it is not in, a
    /// watch it goes and comes back in); other scopes as they are.
    pub fn whole_namespace(self) -> Scope {
        match self {
            Scope::Service { namespace, .. } | Scope::Pod { namespace, .. } => {
                Scope::Namespace(namespace)
            }
            scope => scope,
        }
    }
}

pub struct Cluster {
    client: kube::Client,
    /// What is being read now, for the spinner.
    pub status: crate::progress::Status,
    server: String,
    log: Option<fn(&str)>,
    timeout: Duration,
    /// Which API decides and which a change writes.
    pub api: IstioApi,
    /// The PeerAuthentication version to read; `None` when none is served.
    pub peer_version: Option<String>,
    /// The credential plugin, to name it in errors.
    plugin: Option<crate::source::plugin::Plugin>,
    /// What the user should hear about this cluster, said once: taken by the
    /// command line.
    pub notices: std::cell::RefCell<Vec<Notice>>,
    /// The client's configuration without a read timeout, for watches.
    watch_config: kube::Config,
    /// Once [`Cluster::watch`] is called: the stores that answer LISTs.
    watches: std::cell::OnceCell<crate::source::watch::Watches>,
}

/// The Istio version of an image, from its tag: `docker.io/istio/pilot:1.5.10`
/// is `1.5.10`, `pilot:1.22.3-distroless` is `1.22.3`. A tag that is no version
/// (`latest`, a digest) gives `None`.
fn istio_version(image: &str) -> Option<String> {
    let (_, tag) = image.split('@').next()?.rsplit_once(':')?;
    let version = tag.split('-').next()?;
    let mut parts = version.split('.');
    let numeric =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    (numeric(parts.next()) && numeric(parts.next())).then(|| version.to_string())
}

/// The kubeconfig files to read, as kubectl finds them (docs/semantics.md §6): `--kubeconfig`, else
/// the files `KUBECONFIG` lists that exist (kubectl skips the missing ones,
/// and so does `mtls`; none at all is an error), else `None`: kube-rs's
/// default, `~/.kube/config` or the in-cluster config.
fn kubeconfig_files(
    flag: Option<&std::path::Path>,
) -> anyhow::Result<Option<Vec<std::path::PathBuf>>> {
    if let Some(path) = flag {
        return Ok(Some(vec![path.to_path_buf()]));
    }
    let Some(listed) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let paths: Vec<std::path::PathBuf> = std::env::split_paths(&listed)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    let existing: Vec<std::path::PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
    if existing.is_empty() {
        bail!(
            "no kubeconfig: none of the files KUBECONFIG lists exists ({})",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(Some(existing))
}

/// The contexts of the kubeconfig (`--kubeconfig`, else the files
/// `KUBECONFIG` lists, merged as kubectl merges them, else
/// `~/.kube/config`), in their order.
pub fn kubeconfig_contexts(flag: Option<&std::path::Path>) -> anyhow::Result<Vec<String>> {
    let files = match kubeconfig_files(flag)? {
        Some(files) => files,
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            vec![std::path::Path::new(&home).join(".kube/config")]
        }
    };
    let mut names: Vec<String> = Vec::new();
    for path in &files {
        let read = kube::config::Kubeconfig::read_from(path).map_err(|e| {
            redact::context(
                e,
                format!("cannot read the kubeconfig {}", path.display()),
                None,
            )
        })?;
        for context in read.contexts {
            // The first file that names a context wins, as in kubectl.
            if !names.contains(&context.name) {
                names.push(context.name);
            }
        }
    }
    Ok(names)
}

/// How to reach the cluster: what kubectl's flags say, and more.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `--kubeconfig`; `None`: `KUBECONFIG`, then kube-rs's default.
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
    /// For each request, and for a credential plugin.
    pub request_timeout: Duration,
    /// Where each request is logged (method, path, status, time; `-v`), if
    /// anywhere.
    pub log: Option<fn(&str)>,
    pub api: Api,
}

/// What the user should hear about the cluster. The command line decides how
/// to say it; a security notice is said even with `--quiet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Warning(String),
    Security(String),
}

impl Cluster {
    /// Connects as kubectl would and asks discovery which Istio API is served.
    pub async fn connect(args: &ConnectOptions) -> anyhow::Result<Cluster> {
        let options = kube::config::KubeConfigOptions {
            context: args.context.clone(),
            ..Default::default()
        };
        // kube-rs errors may quote a kubeconfig's text or a credential
        // plugin's output: `redact` keeps them out.
        let mut config = match kubeconfig_files(args.kubeconfig.as_deref())? {
            Some(files) => {
                let mut merged: Option<kube::config::Kubeconfig> = None;
                for path in &files {
                    let read = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                        redact::context(e, format!("cannot read the kubeconfig {}", path.display()), None)
                    })?;
                    merged = Some(match merged {
                        None => read,
                        Some(first) => first.merge(read).map_err(|e| {
                            redact::context(e, format!("cannot merge the kubeconfig {}", path.display()), None)
                        })?,
                    });
                }
                let kubeconfig = merged.unwrap_or_default();
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| {
                        redact::context(e, format!("cannot use the kubeconfig {}", names.join(":")), None)
                    })?
            }
            None if args.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| redact::context(e, "cannot use the kubeconfig", None))?,
            None => kube::Config::infer().await.map_err(|e| {
                redact::context(
                    e,
                    "no cluster to talk to: no kubeconfig (KUBECONFIG or ~/.kube/config) and not running in a pod; \
                     pass --kubeconfig, or -f to read manifests instead",
                    None,
                )
            })?,
        };
        let mut notices = Vec::new();
        if config.accept_invalid_certs {
            notices.push(Notice::Security(
                "the kubeconfig says insecure-skip-tls-verify: the API server's certificate is not \
                 checked, so anyone on the network path can pose as it"
                    .into(),
            ));
        }
        let timeout = args.request_timeout.max(Duration::from_secs(1));
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        // kube-rs retries 429, 503 and 504 up to 15 times over minutes, which
        // a user sees as a hang and then a timeout; `call` retries a few
        // times and says the server is busy.
        config.default_retry = false;
        // The server as it is shown: in errors, the spinner and -v.
        let server = redact::url(config.cluster_url.to_string().trim_end_matches('/'));
        let plugin = config
            .auth_info
            .exec
            .as_mut()
            .and_then(|exec| crate::source::plugin::bound(exec, timeout));
        // A watch is quiet while nothing changes: kube's watcher notices a
        // dead connection by its own idle timeout instead.
        let mut watch_config = config.clone();
        watch_config.read_timeout = None;
        let client = kube::Client::try_from(config).map_err(|e| {
            redact::context(e, "cannot set up the Kubernetes client", plugin.as_ref())
        })?;
        let mut cluster = Cluster {
            client,
            status: Default::default(),
            peer_version: None,
            server,
            log: args.log,
            timeout,
            api: IstioApi::Legacy,
            plugin,
            notices: std::cell::RefCell::new(notices),
            watch_config,
            watches: std::cell::OnceCell::new(),
        };
        (cluster.api, cluster.peer_version) = cluster.discover(args.api).await?;
        Ok(cluster)
    }

    /// The API groups the server serves, with their versions: one request.
    async fn served_groups(&self) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let list = self
            .call(Method::GET, "/apis", None, None)
            .await
            .map_err(|e| self.explain(e, "get", "API groups", "", None))?;
        Ok(list["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| {
                let versions = g["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["version"].as_str().map(str::to_string))
                    .collect();
                Some((g["name"].as_str()?.to_string(), versions))
            })
            .collect())
    }

    /// Which API to read and write: PeerAuthentication v1 if served, else
    /// v1beta1, else (Istio 1.5 and older) the legacy authentication.istio.io.
    /// Returns the API in use, and the PeerAuthentication version to read
    /// (`None` when the server serves none).
    async fn discover(&self, api: Api) -> anyhow::Result<(IstioApi, Option<String>)> {
        let peer = |v: &str| format!("{SECURITY_GROUP}/{v}");
        let only = |v: &str| (IstioApi::PeerAuthentication(peer(v)), Some(peer(v)));
        match api {
            Api::V1 => return Ok(only("v1")),
            Api::V1beta1 => return Ok(only("v1beta1")),
            Api::Legacy | Api::Auto => {}
        }
        let groups = self.served_groups().await?;
        let served = groups.get(SECURITY_GROUP).cloned().unwrap_or_default();
        let peer_version = ["v1", "v1beta1"]
            .into_iter()
            .find(|v| served.iter().any(|s| s == v))
            .map(peer);
        let legacy_served = groups
            .get(LEGACY_GROUP)
            .is_some_and(|versions| versions.iter().any(|v| v == "v1alpha1"));
        match (api, peer_version) {
            (Api::Legacy, peer_version) => {
                if !legacy_served {
                    bail!(
                        "the API server at {} does not serve {LEGACY_API_VERSION} (MeshPolicy, Policy): \
                         that API was removed in Istio 1.6; use --api auto",
                        self.server
                    );
                }
                Ok((IstioApi::Legacy, peer_version))
            }
            (_, Some(version)) => {
                // Both APIs served: Istio 1.5, or the legacy CRDs outliving an
                // upgrade. Only the control plane's version tells.
                let api = if legacy_served && self.control_plane_is_1_5().await? {
                    IstioApi::Mixed(version.clone())
                } else {
                    IstioApi::PeerAuthentication(version.clone())
                };
                Ok((api, Some(version)))
            }
            (_, None) if legacy_served => Ok((IstioApi::Legacy, None)),
            (_, None) if served.is_empty() => bail!(
                "the API server at {} does not serve {SECURITY_GROUP} (PeerAuthentication): is Istio installed?",
                self.server
            ),
            (_, None) => bail!(
                "the API server at {} serves {SECURITY_GROUP} only as {}, which mtls does not read: is this Istio older than 1.5?",
                self.server,
                served.join(", ")
            ),
        }
    }

    /// Whether an istiod of Istio 1.5 runs (docs/semantics.md §5): the version is the tag of its
    /// `discovery` container's image. Otherwise a note says why legacy
    /// policies are ignored. One request, all namespaces (istiod does not
    /// always run in istio-system).
    async fn control_plane_is_1_5(&self) -> anyhow::Result<bool> {
        let deployments = match self
            .list(
                "apps",
                "v1",
                "deployments",
                None,
                Some(Selector::Label("app=istiod")),
            )
            .await
        {
            Ok(items) => items,
            // Not allowed to look: nothing can be said of the version.
            Err(ApiError::Status { code: 403, .. }) => Vec::new(),
            Err(e) => return Err(self.explain(e, "list", "deployments", "apps", None)),
        };
        let versions: Vec<String> = deployments
            .iter()
            .flat_map(|d| {
                d["spec"]["template"]["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .filter(|c| c["name"] == "discovery")
            .filter_map(|c| istio_version(c["image"].as_str()?))
            .collect();
        if versions.iter().any(|v| v == "1.5" || v.starts_with("1.5.")) {
            return Ok(true);
        }
        let why = match versions.first() {
            Some(version) => {
                format!("the control plane is Istio {version}, which ignores legacy policies")
            }
            None => {
                "no istiod of Istio 1.5 was found (Deployments labelled app=istiod)".to_string()
            }
        };
        self.notices.borrow_mut().push(Notice::Warning(format!(
            "the API server still serves {LEGACY_GROUP}, but {why}: PeerAuthentications alone decide"
        )));
        Ok(false)
    }

    /// Reads what `scope` needs and builds the snapshot, with what `clients`
    /// asks of the clients' side.
    pub async fn snapshot(
        &self,
        scope: &Scope,
        root_namespace: Option<&str>,
        clients: &Clients,
    ) -> anyhow::Result<Loaded> {
        let mut collector = Collector::default();
        let root = self
            .read_root_namespace(&mut collector, root_namespace)
            .await?;
        let legacy = if *scope == Scope::All {
            self.read_everything(&mut collector, &root, clients).await?
        } else {
            let legacy = self.read_policies(&mut collector, scope, &root).await?;
            self.read_scope(&mut collector, scope).await?;
            legacy
        };
        if collector.selects_by_node() {
            self.read_nodes(&mut collector).await?;
        }
        // The AuthorizationPolicies of the servers read: where the scope's
        // are, and the root namespace's (MTLS016–018).
        if *clients != Clients::None && *scope != Scope::All {
            let namespaces = match scope {
                Scope::Mesh => None,
                scope => {
                    let mut namespaces: Vec<String> =
                        scope.namespace().map(str::to_string).into_iter().collect();
                    if !namespaces.contains(&root) {
                        namespaces.push(root.clone());
                    }
                    Some(namespaces)
                }
            };
            self.read_authorization(&mut collector, namespaces.as_deref())
                .await?;
        }
        match clients {
            Clients::None => {}
            // Read with everything else.
            Clients::All if *scope == Scope::All => {}
            Clients::All => {
                let mut within: Vec<String> =
                    scope.namespace().map(str::to_string).into_iter().collect();
                if *scope != Scope::All && !within.contains(&root) {
                    within.push(root.clone());
                }
                self.read_client_side(&mut collector, legacy, None, &within)
                    .await?
            }
            Clients::From {
                namespace,
                workload,
            } => {
                if scope.namespace() != Some(namespace.as_str()) && *scope != Scope::All {
                    self.read_caller(&mut collector, namespace, workload.as_deref())
                        .await?;
                } else if let Some(name) = workload
                    && !collector.has_workload(namespace, name)
                {
                    // In the namespace read, but a template not read with it.
                    self.read_named_workload(&mut collector, namespace, name)
                        .await?;
                }
                // The rules a caller can use: its own namespace's, the
                // Service's namespace's and the root namespace's.
                let mut rule_namespaces = vec![namespace.clone(), root.clone()];
                rule_namespaces.extend(scope.namespace().map(str::to_string));
                rule_namespaces.sort();
                rule_namespaces.dedup();
                let only = (*scope != Scope::All && *scope != Scope::Mesh)
                    .then_some(rule_namespaces.as_slice());
                self.read_client_side(&mut collector, legacy, only, &[])
                    .await?;
            }
        }
        let mut loaded = collector.finish(&LoadOptions {
            root_namespace: Some(&root),
            api: Api::Auto,
        })?;
        loaded.snapshot.api = self.api.clone();
        Ok(loaded)
    }

    /// Everything `-A` reads, its LISTs at once — four in flight at most:
    /// the policies; the namespaces, then what clients send; the Services;
    /// the pods. Each streams its pages into a collector of its own, taken in
    /// this order whatever order they end in; then the pod templates and
    /// EndpointSlices that what was read asks for. Returns whether legacy
    /// policies were read.
    async fn read_everything(
        &self,
        collector: &mut Collector,
        root: &str,
        clients: &Clients,
    ) -> anyhow::Result<bool> {
        let legacy = self.api.legacy_decides();
        let read = |gvr| async move {
            let mut part = Collector::default();
            self.read_into(&mut part, gvr, None, None).await?;
            anyhow::Ok(part)
        };
        let (policies, namespaces, services, pods) = tokio::join!(
            async {
                let mut part = Collector::default();
                self.read_policies(&mut part, &Scope::All, root).await?;
                anyhow::Ok(part)
            },
            async {
                let mut part = read(("", "v1", "namespaces")).await?;
                if *clients == Clients::All {
                    self.read_client_side(&mut part, legacy, None, &[]).await?;
                    self.read_authorization(&mut part, None).await?;
                }
                anyhow::Ok(part)
            },
            async {
                let mut part = read(("", "v1", "services")).await?;
                let sliced = self.read_pod_slices(&mut part, None).await?;
                anyhow::Ok((part, sliced))
            },
            async {
                let mut part = Collector::default();
                self.read_pod_metadata(&mut part, None).await?;
                anyhow::Ok(part)
            },
        );
        let (services, sliced) = services?;
        for part in [policies?, namespaces?, services, pods?] {
            collector.absorb(part)?;
        }
        self.complete_pods(collector, None, sliced).await?;
        if collector.has_service_without_pods() {
            self.read_templates(collector, None).await?;
        }
        Ok(legacy)
    }

    /// The root namespace: `--root-namespace`, which must exist, else the
    /// mesh config's (read into `collector`), else Istio's default.
    async fn read_root_namespace(
        &self,
        collector: &mut Collector,
        root_namespace: Option<&str>,
    ) -> anyhow::Result<String> {
        Ok(match root_namespace {
            Some(root) => {
                // Named by the user: it must exist, or the mesh level would
                // silently be another. Where the user may not read
                // namespaces, nothing can be said.
                let path = format!("/api/v1/namespaces/{root}");
                if let Err(ApiError::Status { code: 404, .. }) =
                    self.call(Method::GET, &path, None, None).await
                {
                    return Err(crate::source::root_not_found(
                        root,
                        "the API server has no such namespace",
                    ));
                }
                root.to_string()
            }
            None => {
                let configs = match self
                    .list("", "v1", "configmaps", Some(ISTIO_NAMESPACE), None)
                    .await
                {
                    Ok(configs) => configs,
                    // A user whose Roles cover only their namespaces: Istio's
                    // default root, said once.
                    Err(ApiError::Status { code: 403, .. }) => {
                        collector.warn(format!(
                            "cannot read the mesh config (list configmaps in {ISTIO_NAMESPACE} is forbidden): \
                             the root namespace is taken to be {ISTIO_NAMESPACE}; --root-namespace names another"
                        ));
                        return collector.root_namespace();
                    }
                    Err(e) => {
                        return Err(self.explain_list(
                            e,
                            ("", "v1", "configmaps"),
                            Some(ISTIO_NAMESPACE),
                        ));
                    }
                };
                for config in configs {
                    collector.add(config, &"the mesh config")?;
                }
                if !collector.has_mesh_config() {
                    // The control plane runs elsewhere (istio-control, say):
                    // its mesh config is the ConfigMap `istio` of its
                    // namespace. One more request, in such meshes only.
                    let elsewhere = self
                        .list(
                            "",
                            "v1",
                            "configmaps",
                            None,
                            Some(Selector::Field("metadata.name=istio")),
                        )
                        .await;
                    match elsewhere {
                        Ok(configs) => {
                            for config in configs {
                                collector.add(config, &"the mesh config")?;
                            }
                        }
                        // Not allowed to look across namespaces: Istio's default.
                        Err(ApiError::Status { code: 403, .. }) => {}
                        Err(e) => return Err(self.explain(e, "list", "configmaps", "", None)),
                    }
                }
                collector.root_namespace()?
            }
        })
    }

    /// One core object (a Service, a pod) the user named; when there is
    /// none, says whether its namespace is missing or the object.
    async fn get_in_namespace(
        &self,
        namespace: &str,
        resource: &str,
        name: &str,
    ) -> anyhow::Result<Value> {
        let path = format!("/api/v1/namespaces/{namespace}/{resource}/{name}");
        match self.call(Method::GET, &path, None, None).await {
            Ok(object) => Ok(object),
            Err(ApiError::Status { code: 404, .. }) => match self.get_namespace(namespace).await {
                Err(ApiError::Status { code: 404, .. }) => {
                    bail!("namespace {namespace:?} not found")
                }
                // `services` → `service`, `pods` → `pod`.
                _ => bail!(
                    "{} {namespace}/{name} not found",
                    resource.trim_end_matches('s')
                ),
            },
            Err(e) => Err(self.explain(e, "get", resource, "", Some(namespace))),
        }
    }

    /// The client, for requests through the API server (its service proxy).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The API server, as messages name it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `--request-timeout`.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Where `-v` logs requests.
    pub fn request_log(&self) -> Option<fn(&str)> {
        self.log
    }

    /// Whether the Service `namespace/name` exists (one GET).
    pub async fn service_exists(&self, namespace: &str, name: &str) -> Result<bool, ApiError> {
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}");
        match self.call(Method::GET, &path, None, None).await {
            Ok(_) => Ok(true),
            Err(ApiError::Status { code: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One Namespace object.
    async fn get_namespace(&self, namespace: &str) -> Result<Value, ApiError> {
        self.call(
            Method::GET,
            &format!("/api/v1/namespaces/{namespace}"),
            None,
            None,
        )
        .await
    }

    /// The nodes, whose region, zone and name istiod adds to the labels policy
    /// selectors see: read only when a selector uses one. Where nodes may not
    /// be read, a warning says which selectors cannot be matched as istiod does.
    async fn read_nodes(&self, collector: &mut Collector) -> anyhow::Result<()> {
        match self.list("", "v1", "nodes", None, None).await {
            Ok(nodes) => {
                for node in nodes {
                    collector.add(node, &"the server's nodes")?;
                }
                Ok(())
            }
            Err(ApiError::Status { code: 403, .. }) => {
                collector.warn(
                    "a policy selects by a node's label (region, zone or hostname), but nodes cannot be read \
                     (forbidden): such selectors are matched without the node's labels"
                        .to_string(),
                );
                Ok(())
            }
            Err(e) => Err(self.explain(e, "list", "nodes", "", None)),
        }
    }

    /// The policies that decide `scope`: PeerAuthentications of its namespace
    /// and the root namespace, and legacy policies where they decide. Returns
    /// whether legacy policies were read.
    async fn read_policies(
        &self,
        collector: &mut Collector,
        scope: &Scope,
        root: &str,
    ) -> anyhow::Result<bool> {
        let legacy = self.api.legacy_decides();
        let policy_namespaces: Vec<Option<String>> = match (scope, scope.namespace()) {
            (Scope::All, _) => vec![None],
            (_, Some(ns)) if ns != root => vec![Some(ns.to_string()), Some(root.to_string())],
            _ => vec![Some(root.to_string())],
        };
        // The roots of control plane revisions, in meshes that have them.
        let mut policy_namespaces = policy_namespaces;
        if !matches!(scope, Scope::All | Scope::Mesh) {
            for revision_root in collector.revision_root_namespaces() {
                let ns = Some(revision_root);
                if !policy_namespaces.contains(&ns) {
                    policy_namespaces.push(ns);
                }
            }
        }
        if let Some((group, version)) = self.peer_version.as_deref().and_then(|v| v.split_once('/'))
        {
            let gvr = (group, version, "peerauthentications");
            for ns in &policy_namespaces {
                match self
                    .try_read_into(collector, gvr, ns.as_deref(), None)
                    .await?
                {
                    Ok(()) => {}
                    // The root namespace, out of a namespace-scoped user's
                    // reach: said once, and the mesh level counted as unset.
                    Err(ApiError::Status { code: 403, .. })
                        if ns.as_deref() == Some(root) && scope.namespace() != Some(root) =>
                    {
                        collector.warn(format!(
                            "cannot read the mesh-wide PeerAuthentications (list peerauthentications in {root} \
                             is forbidden): rows that no namespace or workload policy decides show Istio's \
                             default, PERMISSIVE, which a mesh-wide policy may override"
                        ));
                    }
                    Err(e) => return Err(self.explain_list(e, gvr, ns.as_deref())),
                }
            }
        }
        if legacy {
            // The legacy API has no root namespace: the MeshPolicy is cluster-scoped.
            self.read_into(
                collector,
                (LEGACY_GROUP, "v1alpha1", "meshpolicies"),
                None,
                None,
            )
            .await?;
            let namespaces: Vec<Option<&str>> = match scope {
                Scope::All => vec![None],
                _ => scope.namespace().map(Some).into_iter().collect(),
            };
            for ns in namespaces {
                self.read_into(collector, (LEGACY_GROUP, "v1alpha1", "policies"), ns, None)
                    .await?;
            }
        }
        Ok(legacy)
    }

    /// The objects `scope` needs besides policies: namespaces, Services and
    /// their workloads (for one namespace, Service or pod).
    async fn read_scope(&self, collector: &mut Collector, scope: &Scope) -> anyhow::Result<()> {
        match scope {
            // `-A` reads with the policies, at once: `read_everything`.
            Scope::Mesh | Scope::All => {}
            Scope::Namespace(ns) => {
                match self.get_namespace(ns).await {
                    Ok(namespace) => self.collect(collector, vec![namespace], "namespaces")?,
                    Err(ApiError::Status { code: 404, .. }) => bail!("namespace {ns:?} not found"),
                    // A namespace-scoped user: its objects tell what they can.
                    Err(ApiError::Status { code: 403, .. }) => collector.warn(format!(
                        "cannot read the Namespace {ns} (get namespaces is forbidden): its labels \
                         (injection, ambient) are unknown, and so is what serves its pod templates"
                    )),
                    Err(e) => return Err(self.explain(e, "get", "namespaces", "", None)),
                }
                self.read_workloads(collector, ns).await?;
            }
            Scope::Service { namespace, name } => {
                let service = self.get_in_namespace(namespace, "services", name).await?;
                let selector = service["spec"]["selector"]
                    .as_object()
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",")
                    });
                self.collect(collector, vec![service], "services")?;
                // In a mesh with revisions, the namespace's `istio.io/rev`
                // says which control plane serves its pods.
                if !collector.revision_root_namespaces().is_empty()
                    && let Ok(ns) = self.get_namespace(namespace).await
                {
                    self.collect(collector, vec![ns], "namespaces")?;
                }
                match selector {
                    Some(selector) => {
                        self.read_workloads_of_service(collector, namespace, &selector)
                            .await?
                    }
                    None => self.read_sliced_pods(collector, namespace, name).await?,
                }
            }
            Scope::Pod { namespace, name } => {
                let pod = self.get_in_namespace(namespace, "pods", name).await?;
                self.collect(collector, vec![pod], "pods")?;
                // The Services that select it: which of their ports it serves.
                self.read_into(collector, ("", "v1", "services"), Some(namespace), None)
                    .await?;
                if !collector.revision_root_namespaces().is_empty()
                    && let Ok(ns) = self.get_namespace(namespace).await
                {
                    self.collect(collector, vec![ns], "namespaces")?;
                }
            }
        }
        Ok(())
    }

    /// DestinationRules (the newest served networking.istio.io version) and, where
    /// the legacy API is served, MeshPolicies and Policies.
    /// `within`: the namespaces to fall back on when the rules cannot be
    /// listed across the cluster (the scope's and the root).
    async fn read_client_side(
        &self,
        collector: &mut Collector,
        legacy_read: bool,
        rule_namespaces: Option<&[String]>,
        within: &[String],
    ) -> anyhow::Result<()> {
        for (group, resources, preferred) in [
            (
                "networking.istio.io",
                &["destinationrules"][..],
                &["v1", "v1beta1", "v1alpha3"][..],
            ),
            (
                "authentication.istio.io",
                &["meshpolicies", "policies"][..],
                &["v1alpha1"][..],
            ),
        ] {
            if group == LEGACY_GROUP && legacy_read {
                continue;
            }
            let served = match self
                .call(Method::GET, &format!("/apis/{group}"), None, None)
                .await
            {
                Ok(g) => g,
                Err(ApiError::Status { code: 404, .. }) => continue,
                Err(e) => return Err(self.explain(e, "get", "API group", group, None)),
            };
            let versions: Vec<&str> = served["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v["version"].as_str())
                .collect();
            let Some(version) = preferred.iter().find(|v| versions.contains(v)) else {
                continue;
            };
            for resource in resources {
                let gvr = (group, *version, *resource);
                match rule_namespaces.filter(|_| *resource == "destinationrules") {
                    None => match self.try_read_into(collector, gvr, None, None).await? {
                        Ok(()) => {}
                        // A namespace-scoped user: the rules of the namespaces
                        // at hand, and a word on what that leaves out.
                        Err(ApiError::Status { code: 403, .. }) if !within.is_empty() => {
                            collector.warn(format!(
                                "cannot list {resource} across the cluster (forbidden): only those of {} \
                                 are read, so callers in other namespaces are not checked",
                                within.join(" and ")
                            ));
                            for ns in within {
                                match self.try_read_into(collector, gvr, Some(ns), None).await? {
                                    Ok(()) | Err(ApiError::Status { code: 403, .. }) => {}
                                    Err(e) => return Err(self.explain_list(e, gvr, Some(ns))),
                                }
                            }
                        }
                        Err(e) => return Err(self.explain_list(e, gvr, None)),
                    },
                    Some(namespaces) => {
                        for ns in namespaces {
                            self.read_into(collector, gvr, Some(ns), None).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The caller of `--from`, in a namespace the scope does not read: its
    /// Namespace object, then the workload by name (the pod, else the first
    /// pod template of that name: one GET each, no list), or without a name
    /// the namespace's pods (and its templates when it has none, §4.1).
    async fn read_caller(
        &self,
        collector: &mut Collector,
        namespace: &str,
        workload: Option<&str>,
    ) -> anyhow::Result<()> {
        match self.get_namespace(namespace).await {
            Ok(ns) => self.collect(collector, vec![ns], "namespaces")?,
            Err(ApiError::Status { code: 404, .. }) => bail!("namespace {namespace:?} not found"),
            // Not allowed to read it: its pods still say what serves them.
            Err(ApiError::Status { code: 403, .. }) => {}
            Err(e) => return Err(self.explain(e, "get", "namespaces", "", None)),
        }
        let Some(name) = workload else {
            let pods = self
                .list("", "v1", "pods", Some(namespace), None)
                .await
                .map_err(|e| self.explain_list(e, ("", "v1", "pods"), Some(namespace)))?;
            let none = pods.is_empty();
            self.collect(collector, pods, "pods")?;
            if none {
                self.read_templates(collector, Some(namespace)).await?;
            }
            return Ok(());
        };
        self.read_named_workload(collector, namespace, name).await
    }

    /// The workload `namespace/name`: the pod, else the first pod template of
    /// that name (one GET each, no list).
    async fn read_named_workload(
        &self,
        collector: &mut Collector,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        for (prefix, resource) in std::iter::once(("/api/v1", "pods")).chain(
            TEMPLATE_RESOURCES
                .iter()
                .map(|(group, resource)| (*group, *resource)),
        ) {
            let path = format!("{prefix}/namespaces/{namespace}/{resource}/{name}");
            match self.call(Method::GET, &path, None, None).await {
                Ok(object) => return self.collect(collector, vec![object], resource),
                Err(ApiError::Status { code: 404, .. }) => {}
                Err(e) => return Err(self.explain(e, "get", resource, "", Some(namespace))),
            }
        }
        Ok(())
    }

    /// Services and pods of a namespace, and pod templates when some Service
    /// selects no pod.
    async fn read_workloads(&self, collector: &mut Collector, ns: &str) -> anyhow::Result<()> {
        self.read_into(collector, ("", "v1", "services"), Some(ns), None)
            .await?;
        self.read_pod_metadata(collector, Some(ns)).await?;
        let sliced = self.read_pod_slices(collector, Some(ns)).await?;
        self.complete_pods(collector, Some(ns), sliced).await?;
        if collector.has_service_without_pods() {
            self.read_templates(collector, Some(ns)).await?;
        }
        Ok(())
    }

    /// The pods of a namespace (or all), in two LISTs: those the injector
    /// gave a sidecar (its label `security.istio.io/tlsMode=istio`) as their
    /// metadata alone, where the server can serve it — their labels and
    /// annotations decide, their EndpointSlices give their ports, and an
    /// injected pod's spec, status and managedFields are most of its bytes —
    /// and every other pod whole (docs/semantics.md §4.6).
    async fn read_pod_metadata(
        &self,
        collector: &mut Collector,
        ns: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut failed: Option<anyhow::Error> = None;
        let injected = Selector::Label(INJECTED);
        let listed = self
            .list_pages_as(PODS, ns, Some(injected), POD_METADATA, &mut |page| {
                for item in page {
                    let added = if item["kind"] == "PartialObjectMetadata" {
                        collector.add_pod_metadata(item)
                    } else {
                        collector.add(item, &"the server's pods")
                    };
                    if let Err(e) = added {
                        failed.get_or_insert(e);
                    }
                }
                Ok(())
            })
            .await;
        if let Some(e) = failed {
            return Err(e);
        }
        listed.map_err(|e| self.explain_list(e, PODS, ns))?;
        // The others whole: gateways, ambient, plain pods, sidecars by hand.
        self.read_into(collector, PODS, ns, Some(Selector::Label(NOT_INJECTED)))
            .await
    }

    /// The AuthorizationPolicies of `namespaces` (all: `None`), in the
    /// version PeerAuthentications are read in. Where they may not be read,
    /// a warning says that MTLS016–018 are not checked; where they are not
    /// served, there are none.
    async fn read_authorization(
        &self,
        collector: &mut Collector,
        namespaces: Option<&[String]>,
    ) -> anyhow::Result<()> {
        let Some((group, version)) = self.peer_version.as_deref().and_then(|v| v.split_once('/'))
        else {
            return Ok(());
        };
        let gvr = (group, version, "authorizationpolicies");
        let scopes: Vec<Option<&str>> = match namespaces {
            None => vec![None],
            Some(namespaces) => namespaces.iter().map(|ns| Some(ns.as_str())).collect(),
        };
        for ns in scopes {
            match self.try_read_into(collector, gvr, ns, None).await? {
                Ok(()) | Err(ApiError::Status { code: 404, .. }) => {}
                Err(ApiError::Status { code: 403, .. }) => {
                    collector.warn(format!(
                        "cannot list authorizationpolicies{} (forbidden): policies that depend on mTLS (MTLS016–018) are not checked",
                        ns.map(|ns| format!(" in {ns}")).unwrap_or_default()
                    ));
                }
                Err(e) => return Err(self.explain_list(e, gvr, ns)),
            }
        }
        Ok(())
    }

    /// The EndpointSlices of a namespace (or all), once its Services are
    /// collected: which pods serve which Service port on which number.
    /// `false` when they may not be read; then injected pods are read whole,
    /// unless a Service has no selector, which only its slices can serve.
    async fn read_pod_slices(
        &self,
        collector: &mut Collector,
        ns: Option<&str>,
    ) -> anyhow::Result<bool> {
        match self
            .try_read_into(collector, ENDPOINT_SLICES, ns, None)
            .await?
        {
            Ok(()) => Ok(true),
            Err(ApiError::Status { code: 403, .. })
                if !collector.has_service_without_selector() =>
            {
                Ok(false)
            }
            Err(e) => Err(self.explain_list(e, ENDPOINT_SLICES, ns)),
        }
    }

    /// Completes the pods read as metadata from their slices, and reads whole
    /// those whose metadata cannot say what decides: one GET each, when few,
    /// else one more LIST of the injected pods of `ns` (or all); all of them
    /// when the slices could not be read (`sliced` false).
    async fn complete_pods(
        &self,
        collector: &mut Collector,
        ns: Option<&str>,
        sliced: bool,
    ) -> anyhow::Result<()> {
        let needed = collector.complete_partial_pods();
        if needed.is_empty() {
            return Ok(());
        }
        if sliced && needed.len() <= MOST_POD_GETS {
            for id in &needed {
                let path = format!("/api/v1/namespaces/{}/pods/{}", id.namespace, id.name);
                match self.call(Method::GET, &path, None, None).await {
                    Ok(pod) => collector.replace_pod(pod)?,
                    // Gone since the list: it serves nothing.
                    Err(ApiError::Status { code: 404, .. }) => collector.forget_pod(id),
                    Err(e) => {
                        return Err(self.explain(e, "get", "pods", "", Some(&id.namespace)));
                    }
                }
            }
            return Ok(());
        }
        collector.forget_partial_pods();
        self.read_into(collector, PODS, ns, Some(Selector::Label(INJECTED)))
            .await
    }

    /// A Service without a selector is served by the pods its EndpointSlices
    /// name: its slices (one request), then, when they name pods, the pods
    /// of its namespace (one more).
    async fn read_sliced_pods(
        &self,
        collector: &mut Collector,
        ns: &str,
        service: &str,
    ) -> anyhow::Result<()> {
        let selector = format!("kubernetes.io/service-name={service}");
        self.read_into(
            collector,
            ENDPOINT_SLICES,
            Some(ns),
            Some(Selector::Label(&selector)),
        )
        .await?;
        if collector.slices_name_pods() {
            self.read_into(collector, ("", "v1", "pods"), Some(ns), None)
                .await?;
        }
        Ok(())
    }

    async fn read_workloads_of_service(
        &self,
        collector: &mut Collector,
        ns: &str,
        selector: &str,
    ) -> anyhow::Result<()> {
        self.read_into(
            collector,
            ("", "v1", "pods"),
            Some(ns),
            Some(Selector::Label(selector)),
        )
        .await?;
        if collector.has_service_without_pods() {
            self.read_templates(collector, Some(ns)).await?;
            // Whether the injector gives those pods a sidecar depends on the
            // namespace's labels (read already in a mesh with revisions).
            if !collector.has_namespace(ns)
                && let Ok(namespace) = self.get_namespace(ns).await
            {
                self.collect(collector, vec![namespace], "namespaces")?;
            }
        }
        Ok(())
    }

    async fn read_templates(
        &self,
        collector: &mut Collector,
        ns: Option<&str>,
    ) -> anyhow::Result<()> {
        for (prefix, resource) in TEMPLATE_RESOURCES {
            let group = prefix.trim_start_matches("/apis/").trim_end_matches("/v1");
            self.read_into(collector, (group, "v1", resource), ns, None)
                .await?;
        }
        Ok(())
    }

    fn collect(
        &self,
        collector: &mut Collector,
        items: Vec<Value>,
        what: &str,
    ) -> anyhow::Result<()> {
        let place = format!("the server's {what}");
        for item in items {
            collector.add(item, &place)?;
        }
        Ok(())
    }

    /// The objects of a core (v1) resource, for shell completion.
    pub async fn list_core(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        self.list("", "v1", resource, namespace, None).await
    }

    /// LISTs a resource into `items`.
    async fn list(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        selector: Option<Selector<'_>>,
    ) -> Result<Vec<Value>, ApiError> {
        let mut items = Vec::new();
        self.list_pages(group, version, resource, namespace, selector, &mut |page| {
            items.extend(page);
            Ok(())
        })
        .await?;
        Ok(items)
    }

    /// LISTs a resource page by page, following `continue` tokens, and hands each
    /// page's items to `on_page` with the apiVersion and kind the list omits; so
    /// a large list is never held whole.
    async fn list_pages(
        &self,
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
        selector: Option<Selector<'_>>,
        on_page: &mut dyn FnMut(Vec<Value>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let gvr = (group, version, resource);
        self.list_pages_as(gvr, namespace, selector, JSON, on_page)
            .await
    }

    /// From now on, every LIST is answered from a store that a watch of the
    /// same collection keeps current (`get --watch`; src/source/watch.rs).
    pub async fn watch(&self) -> anyhow::Result<()> {
        if self.watches.get().is_none() {
            let client = kube::Client::try_from(self.watch_config.clone()).map_err(|e| {
                redact::context(
                    e,
                    "cannot set up the Kubernetes client",
                    self.plugin.as_ref(),
                )
            })?;
            let _ = self.watches.set(crate::source::watch::Watches::new(client));
        }
        Ok(())
    }

    /// Waits until the watched collections change ([`Cluster::watch`]):
    /// what changed, once `settle` has passed without another change.
    pub async fn changes(&self, settle: Duration) -> crate::source::watch::Changes {
        match self.watches.get() {
            Some(watches) => watches.changes(settle).await,
            None => std::future::pending().await,
        }
    }

    /// [`Cluster::list_pages`], asking for `accept`.
    async fn list_pages_as(
        &self,
        (group, version, resource): (&str, &str, &str),
        namespace: Option<&str>,
        selector: Option<Selector<'_>>,
        accept: &str,
        on_page: &mut dyn FnMut(Vec<Value>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        const PAGE: usize = 500;
        // A real server fills every page but the last, so the kept-object cap
        // is reached long before this; it stops a server that pages forever.
        const MAX_PAGES: usize = 2 * crate::source::collect::MAX_OBJECTS / PAGE;
        if let Some(watches) = self.watches.get() {
            let (selector, by_field) = match selector {
                Some(Selector::Label(s)) => (Some(s.to_string()), false),
                Some(Selector::Field(s)) => (Some(s.to_string()), true),
                None => (None, false),
            };
            let collection = crate::source::watch::Collection {
                group: group.to_string(),
                version: version.to_string(),
                resource: resource.to_string(),
                namespace: namespace.map(str::to_string),
                selector,
                by_field,
                metadata: accept.contains("PartialObjectMetadata"),
            };
            let mut objects = watches
                .list(&collection, &|e| self.transport_error(e))
                .await?;
            while !objects.is_empty() {
                let rest = objects.split_off(objects.len().min(PAGE));
                on_page(std::mem::replace(&mut objects, rest))?;
            }
            return Ok(());
        }
        let mut tokens = std::collections::HashSet::new();
        let base = collection_path(group, version, resource, namespace);
        if let Ok(mut status) = self.status.lock() {
            *status = match namespace {
                Some(ns) => format!("reading {resource} in {ns} from {}", self.server),
                None => format!("reading {resource} from {}", self.server),
            };
        }
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("limit={PAGE}");
            match selector {
                Some(Selector::Label(s)) => {
                    query.push_str(&format!("&labelSelector={}", encode(s)))
                }
                Some(Selector::Field(s)) => {
                    query.push_str(&format!("&fieldSelector={}", encode(s)))
                }
                None => {}
            }
            if let Some(t) = &token {
                query.push_str(&format!("&continue={}", encode(t)));
            }
            let mut page = self
                .call_accepting(Method::GET, &format!("{base}?{query}"), None, None, accept)
                .await?;
            let api_version = page["apiVersion"].as_str().unwrap_or(version).to_string();
            let kind = page["kind"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches("List")
                .to_string();
            let mut items = match page.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            for item in &mut items {
                if item.get("apiVersion").is_none_or(Value::is_null) {
                    item["apiVersion"] = json!(api_version);
                }
                if item.get("kind").is_none_or(Value::is_null) {
                    item["kind"] = json!(kind);
                }
            }
            on_page(items)?;
            token = page["metadata"]["continue"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let Some(next) = &token else {
                return Ok(());
            };
            if !tokens.insert(next.clone()) {
                return Err(ApiError::transport(
                    Transport::Unusable,
                    format!(
                        "the API server at {} sent the same continue token twice while listing {resource}; \
                     the list would never end",
                        self.server
                    ),
                ));
            }
            if tokens.len() >= MAX_PAGES {
                return Err(ApiError::transport(
                    Transport::Unusable,
                    format!(
                        "the API server at {} sent more than {MAX_PAGES} pages of {resource}; mtls reads at most that many",
                        self.server
                    ),
                ));
            }
        }
    }

    /// LISTs a resource straight into the collector, page by page; an error says
    /// what to do next.
    async fn read_into(
        &self,
        collector: &mut Collector,
        gvr: (&str, &str, &str),
        namespace: Option<&str>,
        selector: Option<Selector<'_>>,
    ) -> anyhow::Result<()> {
        self.try_read_into(collector, gvr, namespace, selector)
            .await?
            .map_err(|e| self.explain_list(e, gvr, namespace))
    }

    /// Like [`Cluster::read_into`], with the server's refusal handed back
    /// rather than explained, for the reads that can go without.
    async fn try_read_into(
        &self,
        collector: &mut Collector,
        (group, version, resource): (&str, &str, &str),
        namespace: Option<&str>,
        selector: Option<Selector<'_>>,
    ) -> anyhow::Result<Result<(), ApiError>> {
        let place = format!("the server's {resource}");
        let mut failed: Option<anyhow::Error> = None;
        let listed = self
            .list_pages(group, version, resource, namespace, selector, &mut |page| {
                for item in page {
                    if let Err(e) = collector.add(item, &place) {
                        failed.get_or_insert(e);
                    }
                }
                Ok(())
            })
            .await;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(listed)
    }

    /// Carries out one edit of a plan. `dry_run` asks the server to validate
    /// it without storing it (`dryRun=All`).
    pub async fn write(&self, edit: &Edit, dry_run: bool) -> Result<Value, ApiError> {
        let name = &edit.id.name;
        let api_version = edit.object["apiVersion"]
            .as_str()
            .unwrap_or(self.api.write_version())
            .to_string();
        let (group, version) = api_version
            .split_once('/')
            .unwrap_or((SECURITY_GROUP, "v1"));
        let collection = collection_path(
            group,
            version,
            edit.policy_kind().resource(),
            edit.namespace(),
        );
        let dry = if dry_run { "?dryRun=All" } else { "" };
        let mut object = edit.object.clone();
        object["apiVersion"] = json!(api_version);
        match edit.kind {
            EditKind::Create => {
                self.call(
                    Method::POST,
                    &format!("{collection}{dry}"),
                    Some(object),
                    Some("application/json"),
                )
                .await
            }
            EditKind::Update => {
                if let Value::Object(meta) = &mut object["metadata"] {
                    meta.remove("managedFields");
                }
                self.call(
                    Method::PUT,
                    &format!("{collection}/{name}{dry}"),
                    Some(object),
                    Some("application/json"),
                )
                .await
            }
            EditKind::Delete => {
                let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
                if let Some(rv) = edit.object["metadata"]["resourceVersion"].as_str() {
                    options["preconditions"] = json!({ "resourceVersion": rv });
                }
                if dry_run {
                    options["dryRun"] = json!(["All"]);
                }
                self.call(
                    Method::DELETE,
                    &format!("{collection}/{name}{dry}"),
                    Some(options),
                    Some("application/json"),
                )
                .await
            }
        }
    }

    /// One request: logged with `-v` (method, path, status, time; never a
    /// credential), its `Status` error turned into an [`ApiError`].
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        content_type: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.call_accepting(method, path_and_query, body, content_type, JSON)
            .await
    }

    /// [`Cluster::call`], asking for `accept` (the metadata alone, say).
    async fn call_accepting(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        content_type: Option<&str>,
        accept: &str,
    ) -> Result<Value, ApiError> {
        // 429 (API priority and fairness turning the request away), 503 (the
        // server or an aggregated API not ready) and 504 (a gateway in front
        // of it gave up) say the request was not served: it is sent again, a
        // few times, after a growing pause.
        let mut attempt = 1;
        loop {
            let answer = self
                .call_once(
                    method.clone(),
                    path_and_query,
                    body.clone(),
                    (content_type, accept),
                )
                .await;
            match answer {
                Err(ApiError::Status {
                    code: code @ (429 | 503 | 504),
                    message,
                    ..
                }) => {
                    if attempt < BUSY_ATTEMPTS {
                        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let what = match code {
                        429 => "is throttling requests (429 Too Many Requests)",
                        503 => "is unavailable (503 Service Unavailable)",
                        _ => "timed out behind a gateway (504 Gateway Timeout)",
                    };
                    return Err(ApiError::transport(
                        Transport::Busy,
                        format!(
                            "the API server at {} {what}, still after {BUSY_ATTEMPTS} attempts: {message}\n\
                         try again later; `kubectl get --raw /readyz?verbose` shows the server's health",
                            self.server
                        ),
                    ));
                }
                answer => return answer,
            }
        }
    }

    /// One request, one answer.
    async fn call_once(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        (content_type, accept): (Option<&str>, &str),
    ) -> Result<Value, ApiError> {
        let started = Instant::now();
        let body_bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path_and_query)
            .header(http::header::ACCEPT, accept);
        if let Some(ct) = content_type {
            request = request.header(http::header::CONTENT_TYPE, ct);
        }
        let request = request
            .body(kube::client::Body::from(body_bytes))
            .map_err(|e| {
                ApiError::transport(
                    Transport::Unusable,
                    format!("cannot build the request: {e}"),
                )
            })?;
        let outcome = tokio::time::timeout(self.timeout, async {
            let response = self
                .client
                .send(request)
                .await
                .map_err(|e| self.transport_error(&e))?;
            let status = response.status().as_u16();
            // A response is read up to a cap, so a hostile or broken server
            // cannot make the client hold an endless body.
            let limited = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES);
            let bytes = match http_body_util::BodyExt::collect(limited).await {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(ApiError::transport(Transport::Unusable, format!(
                        "the API server at {} sent more than {} MiB for {path_and_query}; mtls reads at most that \
                         much per response",
                        self.server,
                        MAX_RESPONSE_BYTES / (1024 * 1024)
                    )));
                }
                Err(e) => {
                    return Err(ApiError::transport(Transport::Closed, format!(
                        "cannot read the answer of the API server at {}: {e}",
                        self.server
                    )));
                }
            };
            Ok::<_, ApiError>((status, bytes))
        })
        .await;
        let (status, bytes) = match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.log(&method, path_and_query, "error", started);
                return Err(e);
            }
            Err(_) => {
                self.log(&method, path_and_query, "timeout", started);
                return Err(ApiError::transport(
                    Transport::Timeout,
                    format!(
                        "the API server at {} did not answer within {}s (--request-timeout)",
                        self.server,
                        self.timeout.as_secs()
                    ),
                ));
            }
        };
        self.log(&method, path_and_query, &status.to_string(), started);
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            if value.is_null() && !bytes.is_empty() {
                return Err(ApiError::transport(
                    Transport::Unusable,
                    format!(
                        "the API server at {} answered {path_and_query} with something that is not JSON",
                        self.server
                    ),
                ));
            }
            return Ok(value);
        }
        // Text from the server is escaped where it is shown (render::printable).
        let message = value["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!("the server answered {status} to {method} {path_and_query}")
            });
        Err(ApiError::Status {
            code: status,
            reason: value["reason"].as_str().unwrap_or_default().to_string(),
            message,
        })
    }

    fn log(&self, method: &Method, path: &str, status: &str, started: Instant) {
        if let Some(log) = self.log {
            log(&format!(
                "{method} {path} {status} {}ms",
                started.elapsed().as_millis()
            ));
        }
    }

    fn transport_error(&self, error: &kube::Error) -> ApiError {
        // A credential plugin runs again when its token expires.
        if let Some(reason) = redact::message(error, self.plugin.as_ref()) {
            return ApiError::transport(
                Transport::Auth,
                format!(
                    "cannot authenticate to the API server at {}: {reason}",
                    self.server
                ),
            );
        }
        let chain = error_chain(error);
        let lower = chain.to_lowercase();
        let (kind, what) = if lower.contains("timed out") || lower.contains("timeout") {
            (
                Transport::Timeout,
                format!(
                    "the API server at {} did not answer within {}s (--request-timeout)",
                    self.server,
                    self.timeout.as_secs()
                ),
            )
        } else if lower.contains("close_notify")
            || lower.contains("connection closed")
            || lower.contains("reset by peer")
        {
            (
                Transport::Closed,
                format!(
                    "the connection to the API server at {} closed before it answered",
                    self.server
                ),
            )
        } else if lower.contains("certificate") || lower.contains("handshake") {
            (
                Transport::Tls,
                format!(
                    "the TLS handshake with the API server at {} failed: {chain}",
                    self.server
                ),
            )
        } else if lower.contains("refused") {
            (
                Transport::Unreachable,
                format!(
                    "cannot reach the API server at {}: connection refused",
                    self.server
                ),
            )
        } else {
            (
                Transport::Other,
                format!("cannot reach the API server at {}: {chain}", self.server),
            )
        };
        ApiError::transport(kind, what)
    }

    /// Like [`Cluster::explain`] for a LIST, where a 404 means that the server
    /// does not serve the resource at that version (a LIST in a namespace that
    /// does not exist is an empty list).
    fn explain_list(
        &self,
        error: ApiError,
        (group, version, resource): (&str, &str, &str),
        namespace: Option<&str>,
    ) -> anyhow::Error {
        if error.code() != Some(404) {
            return self.explain(error, "list", resource, group, namespace);
        }
        let (qualified, next) = if group.is_empty() {
            (
                format!("{resource}/{version}"),
                "`kubectl api-resources` lists what it serves".to_string(),
            )
        } else {
            (
                format!("{resource}.{group}/{version}"),
                format!(
                    "`kubectl api-resources --api-group={group}` lists what it serves; --api auto reads that"
                ),
            )
        };
        anyhow::anyhow!(
            "the API server at {} does not serve {qualified} (404 NotFound)\n{next}",
            self.server
        )
    }

    /// Turns an API error into a message that says what to do next.
    pub fn explain(
        &self,
        error: ApiError,
        verb: &str,
        resource: &str,
        group: &str,
        namespace: Option<&str>,
    ) -> anyhow::Error {
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let scope = match namespace {
            Some(ns) => format!(" -n {ns}"),
            None => " --all-namespaces".to_string(),
        };
        match error {
            ApiError::Status { code: 401, .. } => anyhow::anyhow!(
                "the API server at {} rejected the credentials (401 Unauthorized)\n\
                 check the user of the kubeconfig's current context: `kubectl config view --minify`",
                self.server
            ),
            ApiError::Status {
                code: 403, message, ..
            } => anyhow::anyhow!(
                "{message}\nmtls needs to {verb} {qualified}; check with `kubectl auth can-i {verb} {qualified}{scope}`"
            ),
            ApiError::Status {
                code,
                reason,
                message,
            } => {
                anyhow::anyhow!(
                    "{message} ({code}{})",
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" {reason}")
                    }
                )
            }
            ApiError::Transport { message, .. } => anyhow::anyhow!(message),
        }
    }
}

fn collection_path(group: &str, version: &str, resource: &str, namespace: Option<&str>) -> String {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    match namespace {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{resource}"),
        None => format!("{prefix}/{resource}"),
    }
}

/// Percent-encodes a query value: everything but RFC 3986's unreserved
/// characters.
fn encode(value: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_istio_version_is_read_from_the_image_tag() {
        for (image, version) in [
            ("docker.io/istio/pilot:1.5.10", Some("1.5.10")),
            (
                "gcr.io/istio-release/pilot:1.22.3-distroless",
                Some("1.22.3"),
            ),
            (
                "registry:5000/istio/pilot:1.24.0@sha256:abc",
                Some("1.24.0"),
            ),
            ("istio/pilot:latest", None),
            ("istio/pilot@sha256:abc", None),
            ("pilot", None),
        ] {
            assert_eq!(super::istio_version(image).as_deref(), version, "{image}");
        }
    }
}
