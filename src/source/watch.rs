//! The reads of a snapshot, kept current by watches (`get --watch`).
//!
//! While a cluster is watched, every LIST a snapshot makes is answered from a
//! store that a watch of the same collection keeps current: the same
//! resource, namespace, selector and form (metadata or whole). The first time
//! a LIST is asked for, kube's watcher LISTs the collection, then follows its
//! changes from the list's revision, and LISTs it again when the server no
//! longer has that revision (410 Gone). A snapshot is then read again from
//! the stores by the very code that reads it once: what a watch shows is what
//! `get` would print at that moment. Only the few GETs a snapshot makes (a
//! pod whose metadata cannot answer, docs/semantics.md §4.6) still go to the
//! server. ARCHITECTURE.md ("Watching") has the design.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::source::cluster::ApiError;

/// One collection as a snapshot LISTs it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Collection {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub namespace: Option<String>,
    /// `labelSelector`, or `fieldSelector` when `by_field`.
    pub selector: Option<String>,
    pub by_field: bool,
    /// As `PartialObjectMetadata`, where the server serves it.
    pub metadata: bool,
}

impl std::fmt::Display for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in {ns}")?;
        }
        if let Some(selector) = &self.selector {
            write!(f, " ({selector})")?;
        }
        Ok(())
    }
}

/// What a watch reports to the snapshot's thread.
enum Report {
    Applied(Value),
    Deleted(Value),
    /// Listed again (after 410 Gone): the whole collection.
    Relisted(Vec<Value>),
    /// The watch failed; kube's watcher tries again, backing off.
    Failed(String),
}

/// The objects of one collection, by namespace and name.
type Store = BTreeMap<(String, String), Value>;

/// What changed since the last [`Watches::changes`].
#[derive(Debug, Default)]
pub struct Changes {
    /// Objects stored, replaced or deleted.
    pub objects: usize,
    /// Watches that failed (what failed), or that work again.
    pub notes: Vec<String>,
}

/// The stores of a watched cluster and the watches that fill them.
pub struct Watches {
    /// A client without a read timeout: a watch is quiet while nothing changes.
    client: kube::Client,
    stores: RefCell<HashMap<Collection, Store>>,
    /// Collections whose watch failed last, to say when it works again.
    failing: RefCell<HashMap<Collection, String>>,
    sender: mpsc::UnboundedSender<(Collection, Report)>,
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Collection, Report)>>,
}

impl Watches {
    pub fn new(client: kube::Client) -> Watches {
        let (sender, receiver) = mpsc::unbounded_channel();
        Watches {
            client,
            stores: RefCell::default(),
            failing: RefCell::default(),
            sender,
            receiver: tokio::sync::Mutex::new(receiver),
        }
    }

    /// The objects of `collection`, each with its apiVersion and kind: from
    /// its store, or, the first time, from a new watch once it has listed
    /// the collection. An error of that first LIST is the server's answer,
    /// as a LIST of the collection would get it.
    /// `describe` words a failure to reach the server.
    pub async fn list(
        &self,
        collection: &Collection,
        describe: &dyn Fn(&kube::Error) -> ApiError,
    ) -> Result<Vec<Value>, ApiError> {
        if let Some(store) = self.stores.borrow().get(collection) {
            return Ok(store.values().cloned().collect());
        }
        if kind_of(&collection.resource).is_empty() {
            return Err(ApiError::Transport {
                kind: crate::source::cluster::Transport::Unusable,
                message: format!("mtls cannot watch {}", collection.resource),
            });
        }
        let started = match self.start(collection, collection.metadata).await {
            // A server that does not serve metadata (before Kubernetes
            // 1.15): the objects whole, as a LIST would get them.
            Err(error) if collection.metadata && status_code(&error) == Some(406) => {
                self.start(collection, false).await
            }
            started => started,
        };
        let (listed, rest) = started.map_err(|e| match answer(e) {
            Ok(answer) => answer,
            Err(unreached) => describe(&unreached),
        })?;
        let store: Store = listed.iter().map(|o| (identity(o), o.clone())).collect();
        self.stores.borrow_mut().insert(collection.clone(), store);
        let sender = self.sender.clone();
        let key = collection.clone();
        tokio::spawn(follow(key, rest, sender));
        Ok(listed)
    }

    /// Opens the watch of `collection` and reads it up to the end of its
    /// first LIST: the objects, and the stream that goes on from there.
    async fn start(
        &self,
        collection: &Collection,
        metadata: bool,
    ) -> Result<(Vec<Value>, Events), watcher::Error> {
        let mut events = self.events(collection, metadata);
        let mut listed = Vec::new();
        loop {
            match events.next().await {
                Some(Ok(Event::Init)) => listed.clear(),
                Some(Ok(Event::InitApply(object))) => listed.push(object),
                Some(Ok(Event::InitDone)) => return Ok((listed, events)),
                Some(Ok(Event::Apply(_) | Event::Delete(_))) => {}
                Some(Err(e)) => return Err(e),
                // The watcher's stream does not end.
                None => return Err(watcher::Error::NoResourceVersion),
            }
        }
    }

    /// The events of a watch of `collection`, objects as JSON with their
    /// apiVersion and kind.
    fn events(&self, collection: &Collection, metadata: bool) -> Events {
        let api_version = if collection.group.is_empty() {
            collection.version.clone()
        } else {
            format!("{}/{}", collection.group, collection.version)
        };
        let kind = kind_of(&collection.resource);
        let resource = ApiResource {
            group: collection.group.clone(),
            version: collection.version.clone(),
            api_version: api_version.clone(),
            kind: kind.to_string(),
            plural: collection.resource.clone(),
        };
        let namespace = collection.namespace.as_deref();
        fn api<K>(client: kube::Client, namespace: Option<&str>, resource: &ApiResource) -> Api<K>
        where
            K: kube::Resource<DynamicType = ApiResource, Scope = kube::core::DynamicResourceScope>,
        {
            match namespace {
                Some(ns) => Api::namespaced_with(client, ns, resource),
                None => Api::all_with(client, resource),
            }
        }
        let mut config = watcher::Config::default();
        if let Some(selector) = &collection.selector {
            config = if collection.by_field {
                config.fields(selector)
            } else {
                config.labels(selector)
            };
        }
        if metadata {
            let api: Api<PartialObjectMeta<DynamicObject>> =
                api(self.client.clone(), namespace, &resource);
            watcher::watcher(api, config)
                .map(|event| {
                    event.map(|e| {
                        map_event(e, |o| {
                            let mut value = serde_json::to_value(o).unwrap_or(Value::Null);
                            value["apiVersion"] = json!("meta.k8s.io/v1");
                            value["kind"] = json!("PartialObjectMetadata");
                            value
                        })
                    })
                })
                .boxed()
        } else {
            let api: Api<DynamicObject> = api(self.client.clone(), namespace, &resource);
            watcher::watcher(api, config)
                .map(move |event| {
                    event.map(|e| {
                        map_event(e, |o| {
                            let mut value = serde_json::to_value(o).unwrap_or(Value::Null);
                            value["apiVersion"] = json!(api_version);
                            value["kind"] = json!(kind);
                            value
                        })
                    })
                })
                .boxed()
        }
    }

    /// Waits for the next change to any store, then takes every change that
    /// follows within `settle` of the one before, so that one edit that
    /// touches several objects (a pod and its slice) is seen at once.
    pub async fn changes(&self, settle: Duration) -> Changes {
        let mut changes = Changes::default();
        let mut receiver = self.receiver.lock().await;
        let Some(first) = receiver.recv().await else {
            return changes;
        };
        self.take(first, &mut changes);
        while let Ok(Some(next)) = tokio::time::timeout(settle, receiver.recv()).await {
            self.take(next, &mut changes);
        }
        changes
    }

    fn take(&self, (collection, report): (Collection, Report), changes: &mut Changes) {
        if let Report::Failed(why) = report {
            let mut failing = self.failing.borrow_mut();
            if failing.get(&collection) != Some(&why) {
                changes
                    .notes
                    .push(format!("the watch of {collection} failed: {why}; retrying"));
                failing.insert(collection, why);
            }
            return;
        }
        if self.failing.borrow_mut().remove(&collection).is_some() {
            changes
                .notes
                .push(format!("the watch of {collection} works again"));
        }
        let mut stores = self.stores.borrow_mut();
        let store = stores.entry(collection).or_default();
        changes.objects += 1;
        match report {
            Report::Applied(object) => {
                store.insert(identity(&object), object);
            }
            Report::Deleted(object) => {
                store.remove(&identity(&object));
            }
            Report::Relisted(objects) => {
                *store = objects.into_iter().map(|o| (identity(&o), o)).collect();
            }
            Report::Failed(_) => {}
        }
    }
}

type Events = futures::stream::BoxStream<'static, Result<Event<Value>, watcher::Error>>;

/// Follows a watch after its first LIST, reporting each change; kube's
/// watcher resumes from the last revision seen, and LISTs again after 410
/// Gone (reported whole, as its objects replace the store's).
async fn follow(
    collection: Collection,
    events: Events,
    sender: mpsc::UnboundedSender<(Collection, Report)>,
) {
    let mut events = std::pin::pin!(events.default_backoff());
    let mut relisted: Option<Vec<Value>> = None;
    while let Some(event) = events.next().await {
        let report = match event {
            Ok(Event::Apply(object)) => Report::Applied(object),
            Ok(Event::Delete(object)) => Report::Deleted(object),
            Ok(Event::Init) => {
                relisted = Some(Vec::new());
                continue;
            }
            Ok(Event::InitApply(object)) => {
                relisted.get_or_insert_with(Vec::new).push(object);
                continue;
            }
            Ok(Event::InitDone) => Report::Relisted(relisted.take().unwrap_or_default()),
            Err(e) => Report::Failed(match answer(e) {
                Ok(answer) => answer.to_string(),
                Err(unreached) => crate::source::redact::message(&unreached, None)
                    .unwrap_or_else(|| unreached.to_string()),
            }),
        };
        if sender.send((collection.clone(), report)).is_err() {
            return;
        }
    }
}

fn map_event<T>(event: Event<T>, f: impl Fn(T) -> Value) -> Event<Value> {
    match event {
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::InitDone => Event::InitDone,
    }
}

fn status_code(error: &watcher::Error) -> Option<u16> {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.code),
        watcher::Error::WatchError(status) => Some(status.code),
        _ => None,
    }
}

/// The server's answer in a watcher's error, as a LIST would have had it;
/// or the client's error when no answer came.
fn answer(error: watcher::Error) -> Result<ApiError, kube::Error> {
    let client = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) => {
            return Ok(ApiError::Status {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            });
        }
        watcher::Error::NoResourceVersion => {
            return Ok(ApiError::Transport {
                kind: crate::source::cluster::Transport::Unusable,
                message: "the API server sent a list without a resourceVersion".into(),
            });
        }
    };
    match client {
        kube::Error::Api(status) => Ok(ApiError::Status {
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        }),
        other => Err(other),
    }
}

/// An object's namespace and name.
fn identity(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&meta["namespace"]), text(&meta["name"]))
}

/// The kind of each resource a snapshot LISTs: watch events of a list's
/// items carry none. `""` for a resource not listed here, which
/// [`Watches::list`] refuses.
fn kind_of(resource: &str) -> &'static str {
    match resource {
        "configmaps" => "ConfigMap",
        "namespaces" => "Namespace",
        "nodes" => "Node",
        "pods" => "Pod",
        "services" => "Service",
        "endpointslices" => "EndpointSlice",
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        "replicasets" => "ReplicaSet",
        "jobs" => "Job",
        "peerauthentications" => "PeerAuthentication",
        "authorizationpolicies" => "AuthorizationPolicy",
        "destinationrules" => "DestinationRule",
        "policies" => "Policy",
        "meshpolicies" => "MeshPolicy",
        _ => "",
    }
}
