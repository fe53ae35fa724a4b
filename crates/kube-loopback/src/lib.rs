//! A loopback Kubernetes API server for tests.
//!
//! It speaks the parts of the Kubernetes API that `mtls` (and `kubectl get`,
//! `apply`, `delete`) use, over real HTTPS with a CA made for each server:
//! discovery, CRUD for the kinds `mtls` reads and writes, LIST with label and field
//! selectors and `limit`/`continue`, `resourceVersion` with 409 on stale writes,
//! merge and JSON patches, `dryRun=All`, and `Status` errors worded as the real
//! server words them. Tests can deny requests (403), inject faults (fail, delay or
//! drop the next N matching requests), and read the request log.
//!
//! The server runs on its own thread with its own runtime, so that tests which
//! start processes and wait on them need no async code.

mod api;
mod controllers;
mod generate;
mod resources;
mod selector;
mod tls;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use crate::generate::{MeshSize, PodShape, generate_mesh};
pub use crate::tls::ClientCert;

/// The user of the built-in client certificate: a cluster admin.
pub const ADMIN: &str = "admin";
/// The built-in bearer-token user and its token.
pub const TOKEN_USER: &str = "token-user";
pub const TOKEN: &str = "loopback-token-3c1f9a";

/// What to serve and whom to let in.
#[derive(Debug, Clone)]
pub struct Config {
    /// Objects to store before the first request (namespaces are made as needed).
    pub seed: Vec<Value>,
    /// Group/versions to serve on top of the defaults (e.g. the legacy
    /// `authentication.istio.io/v1alpha1`).
    pub enable: Vec<String>,
    /// Group/versions not to serve (e.g. `security.istio.io/v1` for an older Istio).
    pub disable: Vec<String>,
    /// Extra bearer tokens: (token, user).
    pub tokens: Vec<(String, String)>,
    /// Authorize every user but the admin by the Roles, ClusterRoles and their
    /// bindings stored, as the API server's RBAC authorizer does.
    pub rbac: bool,
    /// Serve objects as `PartialObjectMetadata` to clients that ask for it
    /// (`Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`),
    /// as API servers since Kubernetes 1.15 do; off, an older server, which
    /// answers such a request with the full objects when the client accepts
    /// them too, and 406 when it does not.
    pub metadata: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: Vec::new(),
            enable: Vec::new(),
            disable: Vec::new(),
            tokens: vec![(TOKEN.to_string(), TOKEN_USER.to_string())],
            rbac: false,
            metadata: true,
        }
    }
}

impl Config {
    /// Adds the objects of a YAML stream (or JSON) to the seed.
    pub fn seed_yaml(mut self, text: &str) -> anyhow::Result<Config> {
        self.seed.extend(parse_objects(text)?);
        Ok(self)
    }
}

/// Whether the server stores objects of this kind.
pub fn knows(object: &Value) -> bool {
    resources::by_kind(
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
    )
    .is_some()
}

/// Every object of a YAML stream, with `kind: List` flattened.
pub fn parse_objects(text: &str) -> anyhow::Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).context("seed objects are not valid YAML")?;
    let mut objects = Vec::new();
    for doc in docs {
        if doc["kind"] == "List" {
            objects.extend(doc["items"].as_array().cloned().unwrap_or_default());
        } else if doc.is_object() {
            objects.push(doc);
        }
    }
    Ok(objects)
}

/// A request that matched a fault, what to do instead of answering it.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with a Status of this code and reason.
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without an answer.
    Drop,
    /// Answer 200 with this body.
    Json(Value),
    /// Answer 200 with a list that never ends, as fast as the client reads.
    Flood,
    /// Answer 200 with a list that never ends, one small piece per interval.
    Trickle(Duration),
    /// Answer 200 with an empty list page whose `continue` token is new each
    /// time, so that a client following tokens never reaches the end.
    EndlessPages,
}

/// Fails, delays or drops the next `times` requests that match.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `GET`, `PUT`, ...; `None` matches any.
    pub method: Option<String>,
    /// A substring of the path (query excluded); `None` matches any.
    pub path_contains: Option<String>,
    pub times: usize,
    pub action: FaultAction,
}

impl Fault {
    pub fn status(
        method: &str,
        path_contains: &str,
        times: usize,
        code: u16,
        reason: &str,
        message: &str,
    ) -> Fault {
        Fault {
            method: Some(method.into()),
            path_contains: Some(path_contains.into()),
            times,
            action: FaultAction::Status {
                code,
                reason: reason.into(),
                message: message.into(),
            },
        }
    }

    /// A 409 Conflict, as a write with a stale resourceVersion gets it.
    pub fn conflict(method: &str, path_contains: &str, times: usize) -> Fault {
        Fault::status(
            method,
            path_contains,
            times,
            409,
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
        )
    }
}

/// Answers 403 Forbidden to matching requests; `None` fields match anything.
#[derive(Debug, Clone, Default)]
pub struct Deny {
    pub user: Option<String>,
    /// An RBAC verb: get, list, create, update, patch, delete.
    pub verb: Option<String>,
    /// A resource name, e.g. `peerauthentications` (`services/proxy` for the
    /// service proxy).
    pub resource: Option<String>,
    pub namespace: Option<String>,
    /// Namespaces the rule leaves alone, as for a user whose Roles cover only
    /// them: requests there pass, requests elsewhere and at the cluster scope
    /// do not.
    pub except_namespaces: Vec<String>,
}

impl Deny {
    /// Whether the rule turns this request away.
    pub fn matches(&self, user: &str, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        self.user.as_deref().is_none_or(|u| u == user)
            && self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| Some(n) == namespace)
            && !namespace.is_some_and(|n| self.except_namespaces.iter().any(|e| e == n))
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub user: String,
    pub status: u16,
    /// The size of the response body.
    pub bytes: usize,
    pub millis: u64,
    /// How many requests the server was serving when this one arrived, this
    /// one included: above 1, the client had requests in flight at once.
    pub in_flight: usize,
}

struct Shared {
    state: Mutex<api::State>,
    tokens: Vec<(String, String)>,
    certs: Vec<ClientCert>,
    /// Requests being served now.
    serving: std::sync::atomic::AtomicUsize,
    /// The revision of the last write, for the watches to follow.
    revisions: tokio::sync::watch::Sender<u64>,
    /// Bumped to end every open watch ([`Server::end_watches`]).
    ends: tokio::sync::watch::Sender<u64>,
}

/// A request being served, counted while it lives.
struct Serving<'a> {
    shared: &'a Shared,
    /// The count when it arrived, itself included.
    at_arrival: usize,
}

impl<'a> Serving<'a> {
    fn begin(shared: &'a Shared) -> Self {
        let before = shared
            .serving
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Serving {
            shared,
            at_arrival: before + 1,
        }
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.shared
            .serving
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Shared {
    /// Wakes the watches when the store has changed.
    fn announce(&self) {
        let revision = self.state().revision();
        self.revisions.send_if_modified(|last| {
            let changed = *last != revision;
            *last = revision;
            changed
        });
    }

    fn state(&self) -> MutexGuard<'_, api::State> {
        // A test that panicked while holding the lock leaves usable data behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running server. Dropping it stops it.
pub struct Server {
    url: String,
    pki: tls::Pki,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The largest request body the server reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

impl Server {
    /// Starts a server on a free loopback port.
    pub fn start(config: Config) -> anyhow::Result<Server> {
        let pki = tls::Pki::generate(&[(ADMIN, &["system:masters"])])?;
        let tls_config = pki.server_config()?;
        let mut state = api::State::new(&config.enable, &config.disable);
        state.rbac = config.rbac;
        state.metadata = config.metadata;
        for object in config.seed {
            state.seed(object)?;
        }
        state.reconcile_all();
        state.start_recording();
        let shared = Arc::new(Shared {
            revisions: tokio::sync::watch::Sender::new(state.revision()),
            ends: tokio::sync::watch::Sender::new(0),
            state: Mutex::new(state),
            tokens: config.tokens,
            certs: pki.clients.clone(),
            serving: std::sync::atomic::AtomicUsize::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kube-loopback".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    tokio::select! {
                        () = serve(listener, TlsAcceptor::from(tls_config), serving) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Server {
            url: format!("https://{addr}"),
            pki,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// A kubeconfig for `user`: [`ADMIN`] (client certificate) or a token user.
    pub fn kubeconfig(&self, user: &str) -> String {
        self.kubeconfig_named(user, "loopback")
    }

    /// A kubeconfig whose context, cluster and user entries are all named
    /// `name`, so that the kubeconfigs of several servers merge (`KUBECONFIG=a:b`)
    /// into one with a context per server.
    pub fn kubeconfig_named(&self, user: &str, name: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let credentials = if let Some(cert) = self.pki.clients.iter().find(|c| c.user == user) {
            json!({"client-certificate-data": b64(&cert.cert_pem), "client-key-data": b64(&cert.key_pem)})
        } else if let Some((token, _)) = self.shared.tokens.iter().find(|(_, u)| u == user) {
            json!({"token": token})
        } else {
            json!({})
        };
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": self.url, "certificate-authority-data": b64(&self.pki.ca_pem)}}],
            "users": [{"name": if name == "loopback" { user } else { name }, "user": credentials}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": if name == "loopback" { user } else { name }, "namespace": "default"}}],
            "current-context": name,
            "preferences": {},
        });
        serde_saphyr::to_string(&config).unwrap_or_default()
    }

    pub fn write_kubeconfig(&self, path: &Path, user: &str) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig(user))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The stored object, e.g. `object("peerauthentications.security.istio.io", "prod", "default")`.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.shared.state().object(resource, namespace, name)
    }

    /// Every stored object, in a stable order.
    pub fn objects(&self) -> Vec<Value> {
        self.shared.state().all_objects()
    }

    /// Stores more objects, as if created (watches see them); the kubelet
    /// and the EndpointSlice controller follow.
    pub fn seed(&self, objects: Vec<Value>) -> anyhow::Result<()> {
        {
            let mut state = self.shared.state();
            for object in objects {
                state.seed(object)?;
            }
            state.reconcile_all();
        }
        self.shared.announce();
        Ok(())
    }

    /// Forgets every change kept for watches, as etcd compacts: a watch
    /// that resumes from an earlier revision is told `410 Gone`, and its
    /// client must LIST again.
    pub fn compact(&self) {
        self.shared.state().compact();
    }

    /// Ends every open watch, as an API server that restarts (or a load
    /// balancer in front of it) does: each client watches again from the
    /// last revision it saw.
    pub fn end_watches(&self) {
        self.shared.ends.send_modify(|n| *n += 1);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.state().log.clear();
    }

    /// The request log so far, emptying it.
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut self.shared.state().log)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push(fault);
    }

    /// How many more requests the injected faults will meet: a fault is met
    /// when its request arrives, before a delay runs out.
    pub fn faults_left(&self) -> usize {
        self.shared.state().faults.iter().map(|f| f.times).sum()
    }

    pub fn deny(&self, rule: Deny) {
        self.shared.state().denies.push(rule);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let peer_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| c.to_vec());
            let io = hyper_util::rt::TokioIo::new(tls);
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let peer_cert = peer_cert.clone();
                async move { answer(req, &shared, peer_cert.as_deref()).await }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(io, service)
                .await;
        });
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

type ResponseBody = BoxBody<Bytes, std::convert::Infallible>;

async fn answer(
    req: hyper::Request<Incoming>,
    shared: &Arc<Shared>,
    peer_cert: Option<&[u8]>,
) -> Result<hyper::Response<ResponseBody>, Dropped> {
    let started = Instant::now();
    let serving = Serving::begin(shared);
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let accept = header("accept");
    let content_type = header("content-type");
    let authorization = header("authorization");
    let query = parse_query(req.uri().query().unwrap_or(""));

    let user = authenticate(shared, peer_cert, &authorization);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => return Err(Dropped),
    };

    let fault = shared.state().take_fault(&method, &path);
    let response = match (fault, &user) {
        (Some(FaultAction::Drop), _) => {
            record(
                shared,
                &method,
                &uri,
                user.as_deref(),
                0,
                0,
                (started, serving.at_arrival),
            );
            return Err(Dropped);
        }
        (Some(action @ (FaultAction::Flood | FaultAction::Trickle(_))), _) => {
            record(
                shared,
                &method,
                &uri,
                user.as_deref(),
                200,
                0,
                (started, serving.at_arrival),
            );
            let period = match action {
                FaultAction::Trickle(period) => Some(period),
                _ => None,
            };
            return hyper::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Endless::new(period).boxed())
                .map_err(|_| Dropped);
        }
        (Some(FaultAction::Json(body)), _) => api::Response { status: 200, body },
        (Some(FaultAction::EndlessPages), _) => endless_page(),
        (
            Some(FaultAction::Status {
                code,
                reason,
                message,
            }),
            _,
        ) => api::status(code, &reason, message, None),
        (_, None) => api::status(401, "Unauthorized", "Unauthorized".into(), None),
        (delay, Some(user)) => {
            if let Some(FaultAction::Delay(d)) = delay {
                tokio::time::sleep(d).await;
            }
            if let Some((namespace, service, rest)) = proxy_path(&path) {
                let target = shared.state().proxy_target(user, namespace, service);
                match target {
                    Ok((host, port)) => {
                        let query = uri.split_once('?').map(|(_, q)| q);
                        return Ok(proxy(
                            shared,
                            &method,
                            &uri,
                            user,
                            (&host, port),
                            rest,
                            query,
                            (started, serving.at_arrival),
                        )
                        .await);
                    }
                    Err(refusal) => refusal,
                }
            } else {
                let request = api::Request {
                    method: method.clone(),
                    path: path.clone(),
                    query,
                    accept,
                    content_type,
                    body,
                    user: user.clone(),
                };
                let watching = method == "GET"
                    && request
                        .query
                        .iter()
                        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
                if watching {
                    let opened = shared.state().watch(&request);
                    match opened {
                        Ok(watch) => {
                            record(
                                shared,
                                &method,
                                &uri,
                                Some(user),
                                200,
                                0,
                                (started, serving.at_arrival),
                            );
                            return hyper::Response::builder()
                                .status(200)
                                .header("content-type", "application/json")
                                .header("transfer-encoding", "chunked")
                                .body(watch_body(Arc::clone(shared), watch))
                                .map_err(|_| Dropped);
                        }
                        Err(refusal) => refusal,
                    }
                } else {
                    let answer = shared.state().handle(&request);
                    if method != "GET" {
                        shared.announce();
                    }
                    answer
                }
            }
        }
    };
    let body = serde_json::to_vec(&response.body).unwrap_or_default();
    record(
        shared,
        &method,
        &uri,
        user.as_deref(),
        response.status,
        body.len(),
        (started, serving.at_arrival),
    );
    hyper::Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(Full::new(Bytes::from(body)).boxed())
        .map_err(|_| Dropped)
}

/// The body of a watch: one JSON event per line, as changes are stored,
/// until the watch times out, the client goes, or the changes it needs
/// were compacted (then a last `ERROR` event: 410 Expired).
fn watch_body(shared: Arc<Shared>, mut watch: api::Watch) -> ResponseBody {
    let (lines, body) = tokio::sync::mpsc::channel::<Bytes>(16);
    let line = |event: &Value| {
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    tokio::spawn(async move {
        let mut revisions = shared.revisions.subscribe();
        let mut ends = shared.ends.subscribe();
        let deadline = tokio::time::Instant::now() + watch.timeout;
        for event in std::mem::take(&mut watch.initial) {
            if lines.send(line(&event)).await.is_err() {
                return;
            }
        }
        loop {
            revisions.borrow_and_update();
            let events = shared.state().watch_events(&mut watch);
            match events {
                Ok(events) => {
                    for event in &events {
                        if lines.send(line(event)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(expired) => {
                    let _ = lines.send(line(&expired)).await;
                    return;
                }
            }
            tokio::select! {
                changed = revisions.changed() => if changed.is_err() { return },
                () = tokio::time::sleep_until(deadline) => return,
                () = lines.closed() => return,
                _ = ends.changed() => return,
            }
        }
    });
    Lines(body).boxed()
}

/// A response body fed line by line from a channel.
struct Lines(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Lines {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|line| line.map(|l| Ok(Frame::data(l))))
    }
}

/// `/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/REST`: the namespace,
/// the Service (with its port) and the path to pass on.
fn proxy_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once("/services/")?;
    let (service, rest) = rest.split_once("/proxy")?;
    if namespace.contains('/')
        || service.contains('/')
        || !(rest.is_empty() || rest.starts_with('/'))
    {
        return None;
    }
    Some((namespace, service, rest))
}

/// Passes a GET on to `upstream` over HTTP and its answer back, as the API
/// server's service proxy does; an upstream that cannot be reached is a 503.
#[allow(clippy::too_many_arguments)]
async fn proxy(
    shared: &Shared,
    method: &str,
    uri: &str,
    user: &str,
    (host, port): (&str, u16),
    rest: &str,
    query: Option<&str>,
    (started, in_flight): (Instant, usize),
) -> hyper::Response<ResponseBody> {
    let path = match (rest, query) {
        ("", None) => "/".to_string(),
        ("", Some(q)) => format!("/?{q}"),
        (rest, None) => rest.to_string(),
        (rest, Some(q)) => format!("{rest}?{q}"),
    };
    let answer = async {
        let stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(connection);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{host}:{port}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .ok()?
            .to_bytes();
        Some((status, content_type, body))
    };
    let (status, content_type, body) = match answer.await {
        Some(answer) => answer,
        None => {
            let refusal = api::status(
                503,
                "ServiceUnavailable",
                format!(
                    "error trying to reach service: dial tcp {host}:{port}: connect: connection refused"
                ),
                None,
            );
            (
                503,
                "application/json".to_string(),
                Bytes::from(serde_json::to_vec(&refusal.body).unwrap_or_default()),
            )
        }
    };
    record(
        shared,
        method,
        uri,
        Some(user),
        status,
        body.len(),
        (started, in_flight),
    );
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body).boxed())
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()).boxed()))
}

/// The user a request authenticates as: its client certificate's, else its
/// bearer token's; `None` is anonymous, which this server refuses.
fn authenticate(shared: &Shared, peer_cert: Option<&[u8]>, authorization: &str) -> Option<String> {
    match (peer_cert, authorization.strip_prefix("Bearer ")) {
        (Some(der), _) => shared
            .certs
            .iter()
            .find(|c| c.cert_der == der)
            .map(|c| c.user.clone()),
        (None, Some(token)) => shared
            .tokens
            .iter()
            .find(|(t, _)| t == token.trim())
            .map(|(_, u)| u.clone()),
        (None, None) => None,
    }
}

/// One page of a list that always has another: an empty page whose continue
/// token is new each time.
fn endless_page() -> api::Response {
    static PAGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let page = PAGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    api::Response {
        status: 200,
        body: json!({"apiVersion": "v1", "kind": "List", "items": [],
                     "metadata": {"resourceVersion": "1", "continue": format!("page-{page}")}}),
    }
}

/// A response body that never ends: the start of a list, then filler items,
/// 64 KiB at a time as fast as the client reads, or 16 bytes per `period`.
struct Endless {
    period: Option<Duration>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    started: bool,
    filler: Bytes,
}

impl Endless {
    fn new(period: Option<Duration>) -> Endless {
        let item = r#"{"kind":"Pod"},"#;
        let count = if period.is_some() {
            1
        } else {
            64 * 1024 / item.len()
        };
        Endless {
            period,
            sleep: None,
            started: false,
            filler: Bytes::from(item.repeat(count)),
        }
    }
}

impl hyper::body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(period) = self.period {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(period)));
            if sleep.as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
            sleep.as_mut().reset(tokio::time::Instant::now() + period);
        }
        let chunk = if self.started {
            self.filler.clone()
        } else {
            self.started = true;
            Bytes::from_static(br#"{"apiVersion":"v1","kind":"List","items":["#)
        };
        std::task::Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

fn record(
    shared: &Shared,
    method: &str,
    uri: &str,
    user: Option<&str>,
    status: u16,
    bytes: usize,
    (started, in_flight): (Instant, usize),
) {
    shared.state().log.push(RequestRecord {
        method: method.to_string(),
        uri: uri.to_string(),
        user: user.unwrap_or("system:anonymous").to_string(),
        status,
        bytes,
        millis: started.elapsed().as_millis() as u64,
        in_flight,
    });
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len()
                && hex(bytes[i + 1]).is_some()
                && hex(bytes[i + 2]).is_some() =>
            {
                let (hi, lo) = (
                    hex(bytes[i + 1]).unwrap_or(0),
                    hex(bytes[i + 2]).unwrap_or(0),
                );
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
