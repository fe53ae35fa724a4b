//! The API itself: routing, discovery, storage and the Status errors, over a
//! request that the HTTP layer has already read and authenticated.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};

use crate::resources::{OFF_BY_DEFAULT, RESOURCES, ResourceType, by_name};
use crate::selector::{FieldSelector, LabelSelector};
use crate::{Deny, Fault, FaultAction, RequestRecord};

pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub accept: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub user: String,
}

impl Request {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Response {
    pub status: u16,
    pub body: Value,
}

fn respond(status: u16, body: Value) -> Response {
    Response { status, body }
}

/// A Kubernetes `Status` error, worded as the real server words it.
pub fn status(code: u16, reason: &str, message: String, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    // The real server puts details before code; key order does not matter to clients.
    respond(code, body)
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": rt.resource });
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

fn not_found(rt: &ResourceType, name: &str) -> Response {
    status(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", rt.qualified()),
        Some(details(rt, name)),
    )
}

fn conflict(rt: &ResourceType, name: &str) -> Response {
    status(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            rt.qualified()
        ),
        Some(details(rt, name)),
    )
}

fn invalid(rt: &ResourceType, name: &str, causes: Vec<(String, String)>) -> Response {
    let message = causes
        .iter()
        .map(|(field, msg)| format!("{field}: {msg}"))
        .collect::<Vec<_>>()
        .join(", ");
    let causes: Vec<Value> = causes
        .iter()
        .map(
            |(field, msg)| json!({ "reason": "FieldValueInvalid", "message": msg, "field": field }),
        )
        .collect();
    let mut d = details(rt, name);
    d["kind"] = json!(rt.kind);
    d["causes"] = json!(causes);
    status(
        422,
        "Invalid",
        format!("{} \"{name}\" is invalid: {message}", rt.kind_qualified()),
        Some(d),
    )
}

fn bad_request(message: String) -> Response {
    status(400, "BadRequest", message, None)
}

pub struct State {
    objects: BTreeMap<(String, String, String), Value>,
    revision: u64,
    uid: u64,
    served: BTreeSet<String>,
    pub faults: Vec<Fault>,
    pub denies: Vec<Deny>,
    pub log: Vec<RequestRecord>,
    /// Authorize users other than the admin by the RBAC objects stored.
    pub rbac: bool,
    /// Whether `PartialObjectMetadata` is served.
    pub metadata: bool,
    /// Pods the kubelet started: the next one's IP.
    ran: u64,
    /// The changes a watch can still replay, oldest first (the API server's
    /// watch cache, or etcd before compaction).
    changes: VecDeque<Change>,
    /// Watches from revisions before this one are answered `410 Gone`: the
    /// changes since were dropped.
    compacted: u64,
    /// Whether changes are kept: not while the seed is stored.
    recording: bool,
}

/// How many changes the server keeps for watches; older ones are compacted.
const KEPT_CHANGES: usize = 10_000;

/// One change to the store: an object created, replaced or deleted.
#[derive(Debug, Clone)]
pub struct Change {
    pub revision: u64,
    resource: String,
    namespace: String,
    /// The object before; for a deletion, with the deletion's revision.
    before: Option<Value>,
    after: Option<Value>,
}

/// What a parsed resource path names.
struct Route {
    rt: &'static ResourceType,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Route {
    /// The storage key of the named object, and its name.
    fn key(&self) -> ((String, String, String), String) {
        let name = self.name.clone().unwrap_or_default();
        let key = (
            self.rt.qualified(),
            self.namespace.clone().unwrap_or_default(),
            name.clone(),
        );
        (key, name)
    }
}

impl State {
    pub fn new(enable: &[String], disable: &[String]) -> State {
        let mut served: BTreeSet<String> = RESOURCES
            .iter()
            .flat_map(|r| r.versions.iter().map(move |v| r.api_version(v)))
            .filter(|gv| !OFF_BY_DEFAULT.contains(&gv.as_str()))
            .collect();
        served.extend(enable.iter().cloned());
        for gv in disable {
            served.remove(gv);
        }
        State {
            objects: BTreeMap::new(),
            revision: 1,
            uid: 0,
            served,
            faults: Vec::new(),
            denies: Vec::new(),
            log: Vec::new(),
            rbac: false,
            metadata: true,
            ran: 0,
            changes: VecDeque::new(),
            compacted: 1,
            recording: false,
        }
    }

    /// Whether RBAC allows `user` the `verb` on `resource` (`services/proxy`
    /// for a subresource) of `group`, named `name`, in `namespace` (`None`: at
    /// the cluster scope), as the API server's RBAC authorizer decides: a
    /// ClusterRoleBinding grants its role everywhere, a RoleBinding in its
    /// namespace only; a rule matches by API group, resource, verb (`*` for
    /// any) and, where it lists them, resource names. The admin, and every
    /// user when RBAC is off, may do anything.
    pub fn authorized(
        &self,
        user: &str,
        verb: &str,
        (group, resource): (&str, &str),
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> bool {
        if !self.rbac || user == crate::ADMIN {
            return true;
        }
        let bound = |binding: &Value| {
            binding["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["kind"] == "User" && s["name"] == user)
        };
        let rules = |kind: &str, role_ns: &str, role: &str| -> Vec<Value> {
            let key = match kind {
                "ClusterRole" => ("clusterroles.rbac.authorization.k8s.io", ""),
                _ => ("roles.rbac.authorization.k8s.io", role_ns),
            };
            self.objects
                .get(&(key.0.to_string(), key.1.to_string(), role.to_string()))
                .and_then(|r| r["rules"].as_array().cloned())
                .unwrap_or_default()
        };
        let has = |list: &Value, wanted: &str| {
            list.as_array()
                .into_iter()
                .flatten()
                .any(|v| v == "*" || v == wanted)
        };
        let allows = |rule: &Value| {
            has(&rule["apiGroups"], group)
                && has(&rule["resources"], resource)
                && has(&rule["verbs"], verb)
                && match rule["resourceNames"].as_array() {
                    Some(names) if !names.is_empty() => {
                        name.is_some_and(|n| names.iter().any(|v| v == n))
                    }
                    _ => true,
                }
        };
        for ((kind, ns, _), binding) in &self.objects {
            let applies = match kind.as_str() {
                "clusterrolebindings.rbac.authorization.k8s.io" => true,
                "rolebindings.rbac.authorization.k8s.io" => namespace == Some(ns.as_str()),
                _ => false,
            };
            if !applies || !bound(binding) {
                continue;
            }
            let role = &binding["roleRef"];
            let granted = rules(
                role["kind"].as_str().unwrap_or_default(),
                ns,
                role["name"].as_str().unwrap_or_default(),
            );
            if granted.iter().any(allows) {
                return true;
            }
        }
        false
    }

    fn serves(&self, rt: &ResourceType, version: &str) -> bool {
        self.served.contains(&rt.api_version(version))
    }

    /// The fault to apply to this request, if one matches; counts it down.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let at = self.faults.iter().position(|f| {
            f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
        })?;
        let action = self.faults[at].action.clone();
        self.faults[at].times -= 1;
        if self.faults[at].times == 0 {
            self.faults.remove(at);
        }
        Some(action)
    }

    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(
                resource.to_string(),
                namespace.to_string(),
                name.to_string(),
            ))
            .cloned()
    }

    pub fn all_objects(&self) -> Vec<Value> {
        self.objects.values().cloned().collect()
    }

    /// Stores an object as a create would, creating its namespace if missing.
    pub fn seed(&mut self, mut object: Value) -> anyhow::Result<()> {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let rt = crate::resources::by_kind(&api_version, &kind)
            .ok_or_else(|| anyhow::anyhow!("the server does not know {kind} of {api_version}"))?;
        let namespace = if rt.namespaced {
            let ns = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string();
            object["metadata"]["namespace"] = json!(ns);
            if !self
                .objects
                .contains_key(&("namespaces".into(), String::new(), ns.clone()))
            {
                self.seed(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )?;
            }
            ns
        } else {
            String::new()
        };
        let name = object["metadata"]["name"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("a seed {kind} has no metadata.name"))?
            .to_string();
        // A seed is what the cluster already holds: its managedFields stay.
        let managed = object["metadata"].get("managedFields").cloned();
        self.stamp_new(&mut object, rt);
        if let Some(managed) = managed {
            object["metadata"]["managedFields"] = managed;
        }
        self.put((rt.qualified(), namespace, name), object);
        Ok(())
    }

    /// What the rest of the cluster does after the seed: every namespace.
    pub fn reconcile_all(&mut self) {
        let namespaces: BTreeSet<String> = self
            .objects
            .keys()
            .filter(|(r, _, _)| r == "pods" || r == "services")
            .map(|(_, ns, _)| ns.clone())
            .collect();
        for ns in namespaces {
            self.reconcile(&ns);
        }
    }

    /// What the kubelet and the EndpointSlice controller do to a namespace
    /// whose pods or Services changed (`controllers`): pods without an IP
    /// run, and the slices the controller owns are made again where they
    /// differ.
    fn reconcile(&mut self, namespace: &str) {
        let pods: Vec<String> = self
            .objects
            .range(("pods".to_string(), namespace.to_string(), String::new())..)
            .take_while(|((r, ns, _), _)| r == "pods" && ns == namespace)
            .filter(|(_, pod)| pod["status"]["podIP"].as_str().is_none_or(str::is_empty))
            .map(|((_, _, name), _)| name.clone())
            .collect();
        for name in pods {
            self.ran += 1;
            let n = self.ran;
            let key = ("pods".to_string(), namespace.to_string(), name);
            if let Some(mut pod) = self.objects.get(&key).cloned() {
                crate::controllers::run(&mut pod, n);
                // The kubelet's status update is a write like any other.
                pod["metadata"]["resourceVersion"] = json!(self.next_revision().to_string());
                self.put(key, pod);
            }
        }
        let of = |state: &State, resource: &str| -> Vec<Value> {
            state
                .objects
                .range((resource.to_string(), namespace.to_string(), String::new())..)
                .take_while(|((r, ns, _), _)| r == resource && ns == namespace)
                .map(|(_, o)| o.clone())
                .collect()
        };
        let services = of(self, "services");
        let pods = of(self, "pods");
        let wanted = crate::controllers::slices(
            &services.iter().collect::<Vec<_>>(),
            &pods.iter().collect::<Vec<_>>(),
        );
        let slices = "endpointslices.discovery.k8s.io".to_string();
        let (key, owned) = crate::controllers::MANAGED_BY;
        let current: Vec<(String, Value)> = of(self, &slices)
            .into_iter()
            .filter(|s| s["metadata"]["labels"][key] == owned)
            .map(|s| {
                (
                    s["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    s,
                )
            })
            .collect();
        let same = |a: &Value, b: &Value| {
            a["metadata"]["name"] == b["metadata"]["name"]
                && a["endpoints"] == b["endpoints"]
                && a["ports"] == b["ports"]
        };
        if current.len() == wanted.len()
            && current.iter().zip(&wanted).all(|((_, c), w)| same(c, w))
        {
            return;
        }
        for (name, _) in current {
            self.take(&(slices.clone(), namespace.to_string(), name));
        }
        let rt = crate::resources::by_kind("discovery.k8s.io/v1", "EndpointSlice")
            .expect("the server stores EndpointSlices");
        for mut slice in wanted {
            self.stamp_new(&mut slice, rt);
            let name = slice["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.put((slices.clone(), namespace.to_string(), name), slice);
        }
    }

    /// Stores `object` (its resourceVersion already set) under `key`,
    /// keeping the change for watches.
    fn put(&mut self, key: (String, String, String), object: Value) {
        let revision = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(self.revision);
        let after = self.recording.then(|| object.clone());
        let before = self.objects.insert(key.clone(), object);
        self.record(key, revision, before, after);
    }

    /// Deletes the object under `key` at a new revision, keeping the change
    /// for watches.
    fn take(&mut self, key: &(String, String, String)) -> Option<Value> {
        let object = self.objects.remove(key)?;
        let revision = self.next_revision();
        let mut gone = object.clone();
        gone["metadata"]["resourceVersion"] = json!(revision.to_string());
        self.record(key.clone(), revision, Some(gone), None);
        Some(object)
    }

    fn record(
        &mut self,
        (resource, namespace, _): (String, String, String),
        revision: u64,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        if !self.recording {
            return;
        }
        self.changes.push_back(Change {
            revision,
            resource,
            namespace,
            before,
            after,
        });
        while self.changes.len() > KEPT_CHANGES {
            if let Some(dropped) = self.changes.pop_front() {
                self.compacted = dropped.revision;
            }
        }
    }

    /// From now on, changes are kept for watches; a watch can start from
    /// the current revision, not before.
    pub fn start_recording(&mut self) {
        self.recording = true;
        self.compact();
    }

    /// Drops every change kept: watches from an earlier revision get 410
    /// Gone, as after etcd compacts.
    pub fn compact(&mut self) {
        self.changes.clear();
        self.compacted = self.revision;
    }

    /// The revision of the last write.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// Sets the server-owned fields of a new object.
    fn stamp_new(&mut self, object: &mut Value, rt: &ResourceType) {
        self.uid += 1;
        let rv = self.next_revision();
        let meta = &mut object["metadata"];
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.uid));
        meta["resourceVersion"] = json!(rv.to_string());
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        if rt.is_custom() || rt.group == "apps" {
            meta["generation"] = json!(1);
        }
        if let Value::Object(m) = meta {
            m.remove("managedFields");
        }
    }

    pub fn handle(&mut self, req: &Request) -> Response {
        let path = req.path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["version"] => respond(200, version()),
            ["healthz" | "readyz" | "livez"] => respond(200, json!("ok")),
            ["api"] => respond(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            ),
            ["apis"] => respond(200, self.group_list()),
            ["api", "v1"] => respond(200, self.resource_list("", "v1")),
            ["apis", group] => match self.group_list()["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["name"] == *group).cloned())
            {
                Some(mut g) => {
                    g["kind"] = json!("APIGroup");
                    g["apiVersion"] = json!("v1");
                    respond(200, g)
                }
                None => status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                    None,
                ),
            },
            ["apis", group, version] if self.served.contains(&format!("{group}/{version}")) => {
                respond(200, self.resource_list(group, version))
            }
            ["openapi", "v3"] => respond(200, self.openapi_index()),
            ["openapi", "v3", "api", "v1"] => respond(200, self.openapi_document("", "v1")),
            ["openapi", "v3", "apis", group, version]
                if self.served.contains(&format!("{group}/{version}")) =>
            {
                respond(200, self.openapi_document(group, version))
            }
            _ => match self.route(&segments) {
                Ok(route) => self.handle_resource(req, route),
                Err(response) => response,
            },
        }
    }

    /// Where the service proxy (`/api/v1/namespaces/NS/services/NAME[:PORT]/
    /// proxy/...`) sends a request, as the real API server decides it: the
    /// Service's port (by number or name; the only one when none is named),
    /// then the first ready endpoint of its EndpointSlices on that port.
    /// Checked against the `get` verb on `services/proxy`.
    pub fn proxy_target(
        &self,
        user: &str,
        namespace: &str,
        service: &str,
    ) -> Result<(String, u16), Response> {
        let denied = self
            .denies
            .iter()
            .any(|d| d.matches(user, "get", "services/proxy", Some(namespace)))
            || !self.authorized(
                user,
                "get",
                ("", "services/proxy"),
                Some(service),
                Some(namespace),
            );
        let (name, port) = match service.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (service, None),
        };
        if denied {
            return Err(status(
                403,
                "Forbidden",
                format!(
                    "services \"{name}\" is forbidden: User \"{user}\" cannot get resource \"services/proxy\" \
                     in API group \"\" in the namespace \"{namespace}\""
                ),
                Some(json!({"name": name, "kind": "services"})),
            ));
        }
        let unavailable = || {
            status(
                503,
                "ServiceUnavailable",
                format!("no endpoints available for service \"{name}\""),
                None,
            )
        };
        let Some(svc) = self.objects.get(&(
            "services".to_string(),
            namespace.to_string(),
            name.to_string(),
        )) else {
            return Err(status(
                404,
                "NotFound",
                format!("services \"{name}\" not found"),
                Some(json!({"name": name, "kind": "services"})),
            ));
        };
        let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let chosen = match port {
            None if ports.len() == 1 => ports.first(),
            None => None,
            Some(p) => ports.iter().find(|sp| {
                sp["name"] == p || sp["port"].as_u64().is_some_and(|n| n.to_string() == p)
            }),
        };
        let Some(chosen) = chosen else {
            return Err(unavailable());
        };
        let port_name = chosen["name"].as_str().unwrap_or("");
        for ((resource, ns, _), slice) in &self.objects {
            if resource != "endpointslices.discovery.k8s.io"
                || ns != namespace
                || slice["metadata"]["labels"]["kubernetes.io/service-name"] != name
            {
                continue;
            }
            let Some(port) = slice["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                .and_then(|p| p["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok())
            else {
                continue;
            };
            let ready = slice["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["conditions"]["ready"] != false);
            if let Some(address) = ready.and_then(|e| e["addresses"][0].as_str()) {
                return Ok((address.to_string(), port));
            }
        }
        Err(unavailable())
    }

    fn route(&self, segments: &[&str]) -> Result<Route, Response> {
        let missing = || {
            status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
                None,
            )
        };
        let (group, version, rest) = match segments {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return Err(missing()),
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            other => (None, other),
        };
        let (resource, name) = match rest {
            [resource] => (*resource, None),
            [resource, name] => (*resource, Some(name.to_string())),
            _ => return Err(missing()),
        };
        let rt = by_name(group, version, resource).ok_or_else(missing)?;
        if !self.serves(rt, version) || (namespace.is_some() && !rt.namespaced) {
            return Err(missing());
        }
        Ok(Route {
            rt,
            version: version.to_string(),
            namespace,
            name,
        })
    }

    fn handle_resource(&mut self, req: &Request, route: Route) -> Response {
        let verb = match (req.method.as_str(), &route.name) {
            ("GET", Some(_)) => "get",
            ("GET", None) if req.param("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
            ("GET", None) => "list",
            ("POST", None) => "create",
            ("PUT", Some(_)) => "update",
            ("PATCH", Some(_)) => "patch",
            ("DELETE", Some(_)) => "delete",
            ("DELETE", None) => "deletecollection",
            _ => {
                return status(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource".to_string(),
                    None,
                );
            }
        };
        if let Some(denied) = self.forbidden(req, &route, verb) {
            return denied;
        }
        let ns = route.namespace.clone().unwrap_or_default();
        match verb {
            "get" => {
                let name = route.name.as_deref().unwrap_or_default();
                match self
                    .objects
                    .get(&(route.rt.qualified(), ns, name.to_string()))
                {
                    Some(o) => match self.media(&req.accept, false) {
                        Ok(Media::Table) => respond(200, single_table(&self.present(o, &route))),
                        Ok(Media::Metadata) => respond(200, partial(&self.present(o, &route))),
                        Ok(Media::Object) => respond(200, self.present(o, &route)),
                        Err(refusal) => refusal,
                    },
                    None => not_found(route.rt, name),
                }
            }
            "list" => match self.media(&req.accept, true) {
                Ok(media) => self.list(req, &route, media),
                Err(refusal) => refusal,
            },
            "create" | "update" | "patch" | "delete" => {
                let answer = match verb {
                    "create" => self.create(req, &route),
                    "delete" => self.delete(req, &route),
                    _ => self.update(req, &route, verb),
                };
                // The kubelet and the EndpointSlice controller follow what changed.
                let workload = matches!(route.rt.qualified().as_str(), "pods" | "services");
                if workload && answer.status < 300 && !Self::dry_run(req) {
                    self.reconcile(&ns);
                }
                answer
            }
            _ => status(
                405,
                "MethodNotAllowed",
                format!("{verb} is not supported by this server"),
                None,
            ),
        }
    }

    fn forbidden(&self, req: &Request, route: &Route, verb: &str) -> Option<Response> {
        let denied = self.denies.iter().any(|d| {
            d.matches(
                &req.user,
                verb,
                route.rt.resource,
                route.namespace.as_deref(),
            )
        });
        let allowed = self.authorized(
            &req.user,
            verb,
            (route.rt.group, route.rt.resource),
            route.name.as_deref(),
            route.namespace.as_deref(),
        );
        if !denied && allowed {
            return None;
        }
        let rt = route.rt;
        let subject = match &route.name {
            Some(name) => format!("{} \"{name}\"", rt.qualified()),
            None => rt.qualified(),
        };
        let scope = match &route.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            req.user, rt.resource, rt.group
        );
        Some(status(
            403,
            "Forbidden",
            message,
            Some(details(rt, route.name.as_deref().unwrap_or(""))),
        ))
    }

    /// An object as a client of `route.version` sees it.
    fn present(&self, object: &Value, route: &Route) -> Value {
        let mut o = object.clone();
        o["apiVersion"] = json!(route.rt.api_version(&route.version));
        o["kind"] = json!(route.rt.kind);
        o
    }

    fn list(&self, req: &Request, route: &Route, media: Media) -> Response {
        let labels = match LabelSelector::parse(req.param("labelSelector").unwrap_or("")) {
            Ok(s) => s,
            Err(e) => return bad_request(e),
        };
        let fields = match FieldSelector::parse(req.param("fieldSelector").unwrap_or("")) {
            Ok(s) => s,
            Err(e) => return bad_request(e),
        };
        let limit: usize = match req.param("limit").map(str::parse).transpose() {
            Ok(l) => l.filter(|l| *l > 0).unwrap_or(usize::MAX),
            Err(_) => return bad_request("limit must be a number".into()),
        };
        let start = match req.param("continue").filter(|c| !c.is_empty()) {
            None => None,
            Some(token) => match base64::engine::general_purpose::STANDARD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(key) => Some(key),
                None => return bad_request("continue key is not valid".into()),
            },
        };
        // A continue token names the revision of the list's first page, which
        // every page reports, as the API server's do: a watch from it then
        // misses no change made while the pages were read.
        let (revision, start) = match start.as_deref().map(|s| s.split_once('|')) {
            None => (self.revision, None),
            Some(Some((revision, key))) if revision.parse::<u64>().is_ok() => (
                revision.parse().unwrap_or(self.revision),
                Some(key.to_string()),
            ),
            Some(_) => return bad_request("continue key is not valid".into()),
        };
        let resource = route.rt.qualified();
        let mut items = Vec::new();
        let mut next = None;
        // Keys sort by resource, namespace, name: a list is a range of them, and
        // a page resumes right after the key its continue token names.
        let from = match start.as_deref().and_then(|s| s.split_once('/')) {
            Some((ns, name)) => (resource.clone(), ns.to_string(), name.to_string()),
            None => (
                resource.clone(),
                route.namespace.clone().unwrap_or_default(),
                String::new(),
            ),
        };
        for ((r, ns, name), object) in self.objects.range(from..) {
            if r != &resource {
                break;
            }
            if let Some(want) = &route.namespace
                && ns != want
            {
                break;
            }
            if start
                .as_ref()
                .is_some_and(|s| s.split_once('/') == Some((ns.as_str(), name.as_str())))
            {
                continue;
            }
            if !labels.matches(object["metadata"].get("labels")) || !fields.matches(object) {
                continue;
            }
            if items.len() == limit {
                next = Some(
                    base64::engine::general_purpose::STANDARD.encode(
                        items
                            .last()
                            .map(|o: &Value| {
                                format!(
                                    "{revision}|{}/{}",
                                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                                    o["metadata"]["name"].as_str().unwrap_or("")
                                )
                            })
                            .unwrap_or_default(),
                    ),
                );
                break;
            }
            items.push(self.present(object, route));
        }
        let mut metadata = json!({ "resourceVersion": revision.to_string() });
        if let Some(token) = next {
            metadata["continue"] = json!(token);
        }
        match media {
            Media::Table => return respond(200, table(&items, metadata)),
            Media::Metadata => {
                let items: Vec<Value> = items.iter().map(partial).collect();
                return respond(
                    200,
                    json!({
                        "apiVersion": "meta.k8s.io/v1",
                        "kind": "PartialObjectMetadataList",
                        "metadata": metadata,
                        "items": items,
                    }),
                );
            }
            Media::Object => {}
        }
        respond(
            200,
            json!({
                "apiVersion": route.rt.api_version(&route.version),
                "kind": format!("{}List", route.rt.kind),
                "metadata": metadata,
                "items": items,
            }),
        )
    }

    fn read_body(&self, req: &Request, route: &Route) -> Result<Value, Response> {
        let body: Value = serde_json::from_slice(&req.body)
            .or_else(|_| serde_saphyr::from_slice(&req.body))
            .map_err(|e| bad_request(format!("the request body is not valid JSON or YAML: {e}")))?;
        if !body.is_object() {
            return Err(bad_request("the request body must be an object".into()));
        }
        let expected = route.rt.api_version(&route.version);
        let api_version = body["apiVersion"].as_str().unwrap_or_default();
        let kind = body["kind"].as_str().unwrap_or_default();
        if (!api_version.is_empty() && api_version != expected)
            || (!kind.is_empty() && kind != route.rt.kind)
        {
            return Err(bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )));
        }
        Ok(body)
    }

    fn dry_run(req: &Request) -> bool {
        req.param("dryRun") == Some("All")
    }

    fn create(&mut self, req: &Request, route: &Route) -> Response {
        let mut object = match self.read_body(req, route) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let rt = route.rt;
        let body_ns = object["metadata"]["namespace"].as_str().map(str::to_string);
        let namespace = route.namespace.clone().unwrap_or_default();
        if rt.namespaced {
            if body_ns
                .as_deref()
                .is_some_and(|b| !b.is_empty() && b != namespace)
            {
                return bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                );
            }
            object["metadata"]["namespace"] = json!(namespace);
        }
        let mut name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            match object["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => {
                    name = format!("{prefix}{:05x}", self.uid + 1);
                    object["metadata"]["name"] = json!(name);
                }
                _ => {
                    return invalid(
                        rt,
                        "",
                        vec![(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    );
                }
            }
        }
        if let Some(problems) = validate(rt, &name, &object) {
            return problems;
        }
        if rt.namespaced
            && !self
                .objects
                .contains_key(&("namespaces".into(), String::new(), namespace.clone()))
        {
            return status(
                404,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
                Some(json!({"name": namespace, "kind": "namespaces"})),
            );
        }
        let key = (rt.qualified(), namespace, name.clone());
        if self.objects.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", rt.qualified()),
                Some(details(rt, &name)),
            );
        }
        object["apiVersion"] = json!(rt.api_version(&route.version));
        object["kind"] = json!(rt.kind);
        if let Value::Object(meta) = &mut object["metadata"] {
            meta.remove("resourceVersion");
            meta.remove("uid");
            meta.remove("creationTimestamp");
        }
        if Self::dry_run(req) {
            let revision = (self.revision, self.uid);
            self.stamp_new(&mut object, rt);
            (self.revision, self.uid) = revision;
            return respond(201, object);
        }
        self.stamp_new(&mut object, rt);
        self.put(key, object.clone());
        respond(201, self.present(&object, route))
    }

    fn update(&mut self, req: &Request, route: &Route, verb: &str) -> Response {
        let rt = route.rt;
        let (key, name) = route.key();
        let Some(current) = self.objects.get(&key).cloned() else {
            return not_found(rt, &name);
        };
        let current_rv = current["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut object = if verb == "update" {
            match self.read_body(req, route) {
                Ok(o) => o,
                Err(r) => return r,
            }
        } else {
            match patched(self.present(&current, route), req) {
                Ok(o) => o,
                Err(r) => return r,
            }
        };
        let sent_rv = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !sent_rv.is_empty() && sent_rv != current_rv {
            return conflict(rt, &name);
        }
        if object["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n != name)
        {
            return bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                object["metadata"]["name"].as_str().unwrap_or_default()
            ));
        }
        if let Some(problems) = validate(rt, &name, &object) {
            return problems;
        }
        keep_server_fields(&mut object, &current);
        object["apiVersion"] = json!(rt.api_version(&route.version));
        object["kind"] = json!(rt.kind);
        if Self::dry_run(req) {
            object["metadata"]["resourceVersion"] = json!(current_rv);
            return respond(200, object);
        }
        let rv = self.next_revision();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if let Value::Object(m) = &mut object["metadata"] {
            m.remove("managedFields");
        }
        self.put(key, object.clone());
        respond(200, object)
    }

    fn delete(&mut self, req: &Request, route: &Route) -> Response {
        let rt = route.rt;
        let (key, name) = route.key();
        let Some(object) = self.objects.get(&key).cloned() else {
            return not_found(rt, &name);
        };
        if !req.body.is_empty()
            && let Ok(options) = serde_json::from_slice::<Value>(&req.body)
            && let Some(rv) = options["preconditions"]["resourceVersion"].as_str()
            && Some(rv) != object["metadata"]["resourceVersion"].as_str()
        {
            return conflict(rt, &name);
        }
        if Self::dry_run(req) {
            return respond(200, self.present(&object, route));
        }
        if rt.resource == "namespaces" {
            let inside: Vec<_> = self
                .objects
                .keys()
                .filter(|(_, ns, _)| ns == &name)
                .cloned()
                .collect();
            for key in &inside {
                self.take(key);
            }
        }
        self.take(&key);
        respond(200, self.present(&object, route))
    }

    /// `/openapi/v3`: where each group/version's document is. kubectl reads it to
    /// learn that the server validates fields itself (`fieldValidation`).
    fn openapi_index(&self) -> Value {
        let mut paths = serde_json::Map::new();
        for gv in &self.served {
            let key = if gv.contains('/') {
                format!("apis/{gv}")
            } else {
                format!("api/{gv}")
            };
            paths.insert(
                key.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{key}?hash=loopback") }),
            );
        }
        paths.insert(
            "api/v1".into(),
            json!({ "serverRelativeURL": "/openapi/v3/api/v1?hash=loopback" }),
        );
        json!({ "paths": paths })
    }

    /// A group/version's OpenAPI document, reduced to the PATCH operations and
    /// their `fieldValidation` parameter.
    fn openapi_document(&self, group: &str, version: &str) -> Value {
        let mut paths = serde_json::Map::new();
        for rt in RESOURCES
            .iter()
            .filter(|r| r.group == group && r.versions.contains(&version))
        {
            let prefix = if group.is_empty() {
                format!("/api/{version}")
            } else {
                format!("/apis/{group}/{version}")
            };
            let path = if rt.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", rt.resource)
            } else {
                format!("{prefix}/{}/{{name}}", rt.resource)
            };
            paths.insert(
                path,
                json!({
                    "patch": {
                        "operationId": format!("patch{}", rt.kind),
                        "x-kubernetes-action": "patch",
                        "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
                        "parameters": [
                            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        ],
                        "responses": {"200": {"description": "OK"}},
                    }
                }),
            );
        }
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.34.0"},
            "paths": paths,
            "components": {"schemas": {}},
        })
    }

    fn group_list(&self) -> Value {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for rt in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
            for v in rt.versions {
                if !self.serves(rt, v) {
                    continue;
                }
                match groups.iter_mut().find(|(g, _)| g == rt.group) {
                    Some((_, versions)) if versions.contains(&v.to_string()) => {}
                    Some((_, versions)) => versions.push(v.to_string()),
                    None => groups.push((rt.group.to_string(), vec![v.to_string()])),
                }
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(name, versions)| {
                let vs: Vec<Value> = versions
                    .iter()
                    .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
                    .collect();
                json!({"name": name, "versions": vs, "preferredVersion": vs[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    fn resource_list(&self, group: &str, version: &str) -> Value {
        let resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| {
                r.group == group && r.versions.contains(&version) && self.serves(r, version)
            })
            .map(|r| {
                json!({
                    "name": r.resource,
                    "singularName": r.singular,
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update"],
                    "shortNames": r.short_names,
                    "categories": r.categories,
                })
            })
            .collect();
        let group_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
    }
}

/// The validation the real server (and Istio's CRD schema) applies to the fields
/// that matter here.
fn validate(rt: &ResourceType, name: &str, object: &Value) -> Option<Response> {
    let mut causes = Vec::new();
    let valid_name = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if !valid_name {
        causes.push((
            "metadata.name".to_string(),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        ));
    }
    if rt.kind == "PeerAuthentication" {
        const MODES: &str = "supported values: \"UNSET\", \"DISABLE\", \"PERMISSIVE\", \"STRICT\"";
        let valid_mode = |v: &Value| {
            v.is_null()
                || matches!(
                    v.as_str(),
                    Some("UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT")
                )
        };
        let spec = &object["spec"];
        if !valid_mode(&spec["mtls"]["mode"]) {
            causes.push((
                "spec.mtls.mode".into(),
                format!("Unsupported value: {}: {MODES}", spec["mtls"]["mode"]),
            ));
        }
        if let Some(ports) = spec["portLevelMtls"].as_object() {
            if ports.is_empty() {
                causes.push((
                    "spec.portLevelMtls".into(),
                    "Invalid value: \"object\": port level mtls must not be empty".into(),
                ));
            }
            let has_selector = spec["selector"]["matchLabels"]
                .as_object()
                .is_some_and(|m| !m.is_empty());
            if !ports.is_empty() && !has_selector {
                causes.push((
                    "spec".into(),
                    "Invalid value: \"object\": portLevelMtls requires selector".into(),
                ));
            }
            for (port, entry) in ports {
                if !port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)) {
                    causes.push((
                        "spec.portLevelMtls".into(),
                        format!("Invalid value: \"{port}\": port must be between 1-65535"),
                    ));
                }
                if !valid_mode(&entry["mode"]) {
                    causes.push((
                        format!("spec.portLevelMtls[{port}].mode"),
                        format!("Unsupported value: {}: {MODES}", entry["mode"]),
                    ));
                }
            }
        }
    }
    if causes.is_empty() {
        None
    } else {
        Some(invalid(rt, name, causes))
    }
}

/// What a client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Object,
    /// `meta.k8s.io/v1` Table, which `kubectl get` asks for.
    Table,
    /// `meta.k8s.io/v1` PartialObjectMetadata(List): the metadata alone.
    Metadata,
}

/// An open watch: what it follows, and the revision up to which it has
/// been sent every change.
pub struct Watch {
    rt: &'static ResourceType,
    version: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    media: Media,
    cursor: u64,
    /// When the server ends it (`timeoutSeconds`; else half an hour, where
    /// the API server picks 30 to 60 minutes).
    pub timeout: std::time::Duration,
    /// The first events: `ADDED` for every object, for a watch from no
    /// revision (or `0`), as the API server starts one.
    pub initial: Vec<Value>,
}

impl State {
    /// Opens a watch of a collection (`?watch=1`), as the API server does:
    /// from the revision `resourceVersion` names, replaying every change
    /// since; from none, with an `ADDED` event for each object first. The
    /// selectors and media types are those of a LIST (one object's form
    /// for each event).
    pub fn watch(&self, req: &Request) -> Result<Watch, Response> {
        let path = req.path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let route = self.route(&segments)?;
        if route.name.is_some() {
            return Err(bad_request(
                "watch one object with a fieldSelector on metadata.name".into(),
            ));
        }
        if let Some(denied) = self.forbidden(req, &route, "watch") {
            return Err(denied);
        }
        let media = self.media(&req.accept, false)?;
        let labels =
            LabelSelector::parse(req.param("labelSelector").unwrap_or("")).map_err(bad_request)?;
        let fields =
            FieldSelector::parse(req.param("fieldSelector").unwrap_or("")).map_err(bad_request)?;
        let timeout = match req.param("timeoutSeconds").map(str::parse::<u64>) {
            None => 1800,
            Some(Ok(seconds)) => seconds,
            Some(Err(_)) => return Err(bad_request("timeoutSeconds must be a number".into())),
        };
        let mut watch = Watch {
            rt: route.rt,
            version: route.version.clone(),
            namespace: route.namespace.clone(),
            labels,
            fields,
            media,
            cursor: self.revision,
            timeout: std::time::Duration::from_secs(timeout),
            initial: Vec::new(),
        };
        match req.param("resourceVersion").filter(|rv| !rv.is_empty()) {
            None | Some("0") => {
                let resource = route.rt.qualified();
                let objects = self.objects.iter().filter(|((r, ns, _), o)| {
                    *r == resource
                        && route.namespace.as_ref().is_none_or(|want| want == ns)
                        && watch.selects(o)
                });
                watch.initial = objects
                    .map(|(_, o)| json!({"type": "ADDED", "object": self.shown(o, &watch)}))
                    .collect();
            }
            Some(rv) => match rv.parse::<u64>() {
                Ok(rv) => watch.cursor = rv,
                Err(_) => {
                    return Err(bad_request(format!(
                        "resourceVersion: Invalid value: {rv:?}: must be a number"
                    )));
                }
            },
        }
        Ok(watch)
    }

    /// The events of every change `watch` has not seen, oldest first; or,
    /// when those changes were compacted away, the `ERROR` event (410
    /// Expired) that ends the watch, as the API server sends it.
    pub fn watch_events(&self, watch: &mut Watch) -> Result<Vec<Value>, Value> {
        if watch.cursor < self.compacted {
            let message = format!(
                "too old resource version: {} ({})",
                watch.cursor, self.compacted
            );
            return Err(json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": message, "reason": "Expired", "code": 410,
            }}));
        }
        let resource = watch.rt.qualified();
        let first = self.changes.partition_point(|c| c.revision <= watch.cursor);
        let mut events = Vec::new();
        for change in self.changes.range(first..) {
            if change.resource != resource
                || watch
                    .namespace
                    .as_ref()
                    .is_some_and(|ns| *ns != change.namespace)
            {
                continue;
            }
            let was = change.before.as_ref().filter(|o| watch.selects(o));
            let is = change.after.as_ref().filter(|o| watch.selects(o));
            let (kind, object) = match (was, is) {
                (None, Some(now)) => ("ADDED", now.clone()),
                (Some(_), Some(now)) => ("MODIFIED", now.clone()),
                // Deleted, or no longer selected: the last state the
                // watch matched, at the change's revision.
                (Some(then), None) => {
                    let mut then = then.clone();
                    then["metadata"]["resourceVersion"] = json!(change.revision.to_string());
                    ("DELETED", then)
                }
                (None, None) => continue,
            };
            events.push(json!({"type": kind, "object": self.shown(&object, watch)}));
        }
        watch.cursor = self.revision;
        Ok(events)
    }

    /// An object as a watch's client sees it.
    fn shown(&self, object: &Value, watch: &Watch) -> Value {
        let mut o = object.clone();
        o["apiVersion"] = json!(watch.rt.api_version(&watch.version));
        o["kind"] = json!(watch.rt.kind);
        match watch.media {
            Media::Object => o,
            Media::Metadata => partial(&o),
            Media::Table => single_table(&o),
        }
    }
}

impl Watch {
    fn selects(&self, object: &Value) -> bool {
        self.labels.matches(object["metadata"].get("labels")) && self.fields.matches(object)
    }
}

impl State {
    /// The first media type of `accept` this server serves, as the API
    /// server negotiates: alternatives separated by `,`, each
    /// `application/json` with `as`, `g` and `v` naming a transformation; a
    /// list must ask for `PartialObjectMetadataList`, one object for
    /// `PartialObjectMetadata`. None served: 406.
    fn media(&self, accept: &str, list: bool) -> Result<Media, Response> {
        if accept.trim().is_empty() {
            return Ok(Media::Object);
        }
        for alternative in accept.split(',') {
            let mut parts = alternative.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default();
            if !matches!(mime, "application/json" | "application/*" | "*/*") {
                continue;
            }
            let params: BTreeMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
            match params.get("as").copied() {
                None => return Ok(Media::Object),
                Some("Table") => return Ok(Media::Table),
                Some(what)
                    if self.metadata
                        && params.get("g") == Some(&"meta.k8s.io")
                        && params.get("v") == Some(&"v1")
                        && what
                            == if list {
                                "PartialObjectMetadataList"
                            } else {
                                "PartialObjectMetadata"
                            } =>
                {
                    return Ok(Media::Metadata);
                }
                Some(_) => {}
            }
        }
        Err(status(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json, application/yaml (got {accept:?})"
            ),
            None,
        ))
    }
}

/// An object as `PartialObjectMetadata`: its metadata alone.
fn partial(object: &Value) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object["metadata"],
    })
}

/// A `meta.k8s.io/v1` Table, which `kubectl get` asks for.
fn table(items: &[Value], metadata: Value) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let age = o["metadata"]["creationTimestamp"].as_str().map(age).unwrap_or_else(|| "<unknown>".into());
            json!({
                "cells": [o["metadata"]["name"], age],
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
        ],
        "rows": rows,
    })
}

fn single_table(object: &Value) -> Value {
    table(
        std::slice::from_ref(object),
        json!({"resourceVersion": object["metadata"]["resourceVersion"]}),
    )
}

fn version() -> Value {
    json!({
        "major": "1", "minor": "34", "gitVersion": "v1.34.0-loopback", "gitCommit": "loopback",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64",
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Now, as `2006-01-02T15:04:05Z`.
pub fn now_rfc3339() -> String {
    let secs = unix_now();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn age(created: &str) -> String {
    // Ages only need to be roughly right: parse the date part as the server wrote it.
    let parse = |s: &str| -> Option<i64> {
        let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
        let (y, mo, d, h, mi, se) = (
            n(0..4)?,
            n(5..7)?,
            n(8..10)?,
            n(11..13)?,
            n(14..16)?,
            n(17..19)?,
        );
        let y2 = if mo <= 2 { y - 1 } else { y };
        let era = y2.div_euclid(400);
        let yoe = y2 - era * 400;
        let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        Some(days * 86_400 + h * 3600 + mi * 60 + se)
    };
    let Some(then) = parse(created) else {
        return "<unknown>".into();
    };
    let secs = (unix_now() - then).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A patch applied to the stored object, as the content type says: JSON merge
/// patch (strategic merge treated alike: these objects have no patch
/// strategies), or JSON patch; any other type is 415.
fn patched(mut object: Value, req: &Request) -> Result<Value, Response> {
    let content_type = req.content_type.split(';').next().unwrap_or("").trim();
    match content_type {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let patch: Value = serde_json::from_slice(&req.body)
                .map_err(|e| bad_request(format!("error decoding patch: {e}")))?;
            json_patch::merge(&mut object, &patch);
        }
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(&req.body)
                .map_err(|e| bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut object, &patch).map_err(|e| {
                status(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                    None,
                )
            })?;
        }
        other => {
            return Err(status(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"
                ),
                None,
            ));
        }
    }
    Ok(object)
}

/// Server-owned metadata comes from the stored object, whatever the client
/// sent; the generation moves on when the spec changed.
fn keep_server_fields(object: &mut Value, current: &Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
    ] {
        match current["metadata"].get(field) {
            Some(v) => object["metadata"][field] = v.clone(),
            None => {
                if let Value::Object(m) = &mut object["metadata"] {
                    m.remove(field);
                }
            }
        }
    }
    if object.get("spec") != current.get("spec")
        && let Some(g) = current["metadata"]["generation"].as_u64()
    {
        object["metadata"]["generation"] = json!(g + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        let mut s = State::new(&[], &[]);
        s.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}))
            .expect("seed");
        s.seed(json!({
            "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "prod", "labels": {"tier": "base"}},
            "spec": {"mtls": {"mode": "STRICT"}},
        }))
        .expect("seed");
        s
    }

    fn request(method: &str, path: &str, body: Value) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
            accept: "application/json".into(),
            content_type: "application/json".into(),
            body: if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).expect("JSON")
            },
            user: "admin".into(),
        }
    }

    const PA: &str = "/apis/security.istio.io/v1/namespaces/prod/peerauthentications";

    #[test]
    fn metadata_is_served_to_who_asks_for_it_as_the_api_server_negotiates() {
        let mut s = state();
        let ask = |s: &mut State, path: &str, accept: &str| {
            let mut req = request("GET", path, Value::Null);
            req.accept = accept.into();
            s.handle(&req)
        };
        const LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        const ONE: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        let list = ask(&mut s, PA, &format!("{LIST},application/json"));
        assert_eq!(list.status, 200);
        assert_eq!(list.body["kind"], "PartialObjectMetadataList");
        assert_eq!(list.body["apiVersion"], "meta.k8s.io/v1");
        let item = &list.body["items"][0];
        assert_eq!(item["kind"], "PartialObjectMetadata");
        assert_eq!(item["metadata"]["labels"]["tier"], "base");
        assert!(item.get("spec").is_none(), "{item}");
        let one = ask(&mut s, &format!("{PA}/default"), ONE);
        assert_eq!(
            (one.status, one.body["kind"].as_str()),
            (200, Some("PartialObjectMetadata"))
        );
        // A list asked for as one object's metadata is not served.
        assert_eq!(ask(&mut s, PA, ONE).status, 406);
        // An older server: the full objects, where the client takes them.
        s.metadata = false;
        let full = ask(&mut s, PA, &format!("{LIST},application/json"));
        assert_eq!(full.body["kind"], "PeerAuthenticationList");
        assert_eq!(full.body["items"][0]["spec"]["mtls"]["mode"], "STRICT");
        assert_eq!(ask(&mut s, PA, LIST).status, 406);
    }

    /// The (type, name, mode) of each event.
    fn seen(events: &[Value]) -> Vec<(String, String, String)> {
        events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default().to_string(),
                    e["object"]["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    e["object"]["spec"]["mtls"]["mode"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }

    fn event(kind: &str, name: &str, mode: &str) -> (String, String, String) {
        (kind.into(), name.into(), mode.into())
    }

    #[test]
    fn a_watch_from_a_list_revision_replays_every_change_since_as_the_api_server() {
        let mut s = state();
        s.start_recording();
        let listed = s.handle(&request("GET", PA, Value::Null));
        let rv = listed.body["metadata"]["resourceVersion"]
            .as_str()
            .expect("a list has a revision")
            .to_string();
        let mut watch = s
            .watch(&request(
                "GET",
                &format!("{PA}?watch=1&resourceVersion={rv}&labelSelector=tier=base"),
                Value::Null,
            ))
            .map_err(|r| r.body)
            .expect("a watch opens");
        assert!(watch.initial.is_empty(), "from a revision: no ADDED first");
        assert!(s.watch_events(&mut watch).expect("not expired").is_empty());
        let patch = |s: &mut State, name: &str, body: Value| {
            let mut req = request("PATCH", &format!("{PA}/{name}"), body);
            req.content_type = "application/merge-patch+json".into();
            assert_eq!(s.handle(&req).status, 200);
        };
        patch(
            &mut s,
            "default",
            json!({"spec": {"mtls": {"mode": "PERMISSIVE"}}}),
        );
        let created = s.handle(&request(
            "POST",
            PA,
            json!({"metadata": {"name": "api", "labels": {"tier": "base"}},
                   "spec": {"mtls": {"mode": "DISABLE"}}}),
        ));
        assert_eq!(created.status, 201);
        // Out of the selector: DELETED for this watch, though it still exists.
        patch(
            &mut s,
            "api",
            json!({"metadata": {"labels": {"tier": "other"}}}),
        );
        let before_delete = s.revision();
        assert_eq!(
            s.handle(&request("DELETE", &format!("{PA}/default"), Value::Null))
                .status,
            200
        );
        let events = s.watch_events(&mut watch).expect("not expired");
        assert_eq!(
            seen(&events),
            [
                event("MODIFIED", "default", "PERMISSIVE"),
                event("ADDED", "api", "DISABLE"),
                event("DELETED", "api", "DISABLE"),
                event("DELETED", "default", "PERMISSIVE"),
            ]
        );
        // A deletion is an event of its own revision.
        assert_eq!(
            events[3]["object"]["metadata"]["resourceVersion"],
            json!((before_delete + 1).to_string())
        );
        assert!(s.watch_events(&mut watch).expect("still open").is_empty());
    }

    #[test]
    fn a_watch_from_no_revision_starts_with_every_object_and_in_the_form_asked() {
        let mut s = state();
        s.start_recording();
        let mut req = request("GET", &format!("{PA}?watch=true"), Value::Null);
        req.accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1".into();
        let watch = s.watch(&req).map_err(|r| r.body).expect("opens");
        assert_eq!(watch.initial.len(), 1);
        assert_eq!(watch.initial[0]["type"], "ADDED");
        assert_eq!(watch.initial[0]["object"]["kind"], "PartialObjectMetadata");
        assert!(watch.initial[0]["object"].get("spec").is_none());
        // As a LIST's: 403 where the user may not watch.
        s.denies.push(crate::Deny {
            verb: Some("watch".into()),
            resource: Some("peerauthentications".into()),
            ..Default::default()
        });
        let denied = s.watch(&request("GET", &format!("{PA}?watch=1"), Value::Null));
        assert_eq!(denied.err().map(|r| r.status), Some(403));
    }

    #[test]
    fn a_watch_from_a_compacted_revision_is_told_410_expired() {
        let mut s = state();
        s.start_recording();
        let rv = s.revision();
        let mut watch = s
            .watch(&request(
                "GET",
                &format!("{PA}?watch=1&resourceVersion={rv}"),
                Value::Null,
            ))
            .map_err(|r| r.body)
            .expect("opens");
        let mut req = request("PATCH", &format!("{PA}/default"), json!({"spec": {}}));
        req.content_type = "application/merge-patch+json".into();
        s.handle(&req);
        s.compact();
        let expired = s.watch_events(&mut watch).expect_err("compacted");
        assert_eq!(expired["type"], "ERROR");
        assert_eq!(expired["object"]["code"], 410);
        assert_eq!(expired["object"]["reason"], "Expired");
        assert_eq!(
            expired["object"]["message"],
            format!("too old resource version: {rv} ({})", s.revision())
        );
    }

    #[test]
    fn the_pages_of_one_list_report_the_revision_of_its_first() {
        let mut s = state();
        s.seed(
            json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                      "metadata": {"name": "zz", "namespace": "prod"}}),
        )
        .expect("seed");
        let first = s.handle(&request("GET", &format!("{PA}?limit=1"), Value::Null));
        let rv = first.body["metadata"]["resourceVersion"].clone();
        let token = first.body["metadata"]["continue"]
            .as_str()
            .expect("more")
            .to_string();
        s.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "later"}}))
            .expect("seed");
        let second = s.handle(&request(
            "GET",
            &format!("{PA}?limit=1&continue={token}"),
            Value::Null,
        ));
        assert_eq!(second.body["metadata"]["resourceVersion"], rv);
        assert_eq!(second.body["items"][0]["metadata"]["name"], "zz");
    }

    #[test]
    fn a_stale_resource_version_is_a_conflict_worded_as_the_real_server() {
        let mut s = state();
        let current = s
            .handle(&request("GET", &format!("{PA}/default"), Value::Null))
            .body;
        let mut stale = current.clone();
        stale["metadata"]["resourceVersion"] = json!("1");
        let r = s.handle(&request("PUT", &format!("{PA}/default"), stale));
        assert_eq!(r.status, 409);
        assert_eq!(r.body["reason"], "Conflict");
        assert_eq!(
            r.body["message"],
            "Operation cannot be fulfilled on peerauthentications.security.istio.io \"default\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let r = s.handle(&request("PUT", &format!("{PA}/default"), current.clone()));
        assert_eq!(r.status, 200);
        assert_ne!(
            r.body["metadata"]["resourceVersion"],
            current["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn merge_and_json_patches_apply() {
        let mut s = state();
        let mut merge = request(
            "PATCH",
            &format!("{PA}/default"),
            json!({"spec": {"mtls": {"mode": "DISABLE"}}}),
        );
        merge.content_type = "application/merge-patch+json".into();
        assert_eq!(s.handle(&merge).body["spec"]["mtls"]["mode"], "DISABLE");
        let mut patch = request(
            "PATCH",
            &format!("{PA}/default"),
            json!([{"op": "add", "path": "/metadata/labels/team", "value": "edge"}]),
        );
        patch.content_type = "application/json-patch+json".into();
        let r = s.handle(&patch);
        assert_eq!(
            r.body["metadata"]["labels"],
            json!({"tier": "base", "team": "edge"})
        );
        let mut apply = request("PATCH", &format!("{PA}/default"), json!({}));
        apply.content_type = "application/apply-patch+yaml".into();
        assert_eq!(s.handle(&apply).status, 415);
    }

    #[test]
    fn dry_run_validates_and_stores_nothing() {
        let mut s = state();
        let object = json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "x", "namespace": "prod"}, "spec": {"mtls": {"mode": "STRICT"}}});
        let r = s.handle(&request(
            "POST",
            &format!("{PA}?dryRun=All"),
            object.clone(),
        ));
        assert_eq!(r.status, 201);
        assert!(
            s.object("peerauthentications.security.istio.io", "prod", "x")
                .is_none()
        );
        let mut bad = object;
        bad["spec"]["mtls"]["mode"] = json!("strict");
        let r = s.handle(&request("POST", &format!("{PA}?dryRun=All"), bad));
        assert_eq!(
            (r.status, r.body["reason"].as_str()),
            (422, Some("Invalid"))
        );
    }

    #[test]
    fn creates_name_missing_namespaces_and_existing_objects() {
        let mut s = state();
        let object = |ns: &str| {
            json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": ns}, "spec": {}})
        };
        let r = s.handle(&request("POST", PA, object("prod")));
        assert_eq!(
            (r.status, r.body["reason"].as_str()),
            (409, Some("AlreadyExists"))
        );
        assert_eq!(
            r.body["message"],
            "peerauthentications.security.istio.io \"default\" already exists"
        );
        let r = s.handle(&request(
            "POST",
            &PA.replace("prod", "nope"),
            object("nope"),
        ));
        assert_eq!(
            (r.status, r.body["message"].as_str()),
            (404, Some("namespaces \"nope\" not found"))
        );
        let r = s.handle(&request("POST", PA, object("other")));
        assert_eq!(r.status, 400);
    }

    #[test]
    fn deny_rules_answer_403_as_rbac_words_it() {
        let mut s = state();
        s.denies.push(Deny {
            verb: Some("list".into()),
            ..Deny::default()
        });
        let r = s.handle(&request(
            "GET",
            "/apis/security.istio.io/v1/peerauthentications",
            Value::Null,
        ));
        assert_eq!(r.status, 403);
        assert_eq!(
            r.body["message"],
            "peerauthentications.security.istio.io is forbidden: User \"admin\" cannot list resource \"peerauthentications\" in API group \"security.istio.io\" at the cluster scope"
        );
    }

    #[test]
    fn versions_can_be_switched_off() {
        let mut s = State::new(&[], &["security.istio.io/v1".to_string()]);
        assert_eq!(
            s.handle(&request(
                "GET",
                "/apis/security.istio.io/v1/peerauthentications",
                Value::Null
            ))
            .status,
            404
        );
        let group = s
            .handle(&request("GET", "/apis/security.istio.io", Value::Null))
            .body;
        assert_eq!(
            group["versions"],
            json!([{"groupVersion": "security.istio.io/v1beta1", "version": "v1beta1"}])
        );
        assert_eq!(
            s.handle(&request(
                "GET",
                "/apis/security.istio.io/v1beta1/peerauthentications",
                Value::Null
            ))
            .status,
            200
        );
    }

    #[test]
    fn lists_page_with_limit_and_continue() {
        let mut s = state();
        for name in ["a", "b", "c"] {
            s.seed(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "prod"}}))
                .expect("seed");
        }
        let first = s
            .handle(&request("GET", "/api/v1/pods?limit=2", Value::Null))
            .body;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
        let token = first["metadata"]["continue"]
            .as_str()
            .expect("a continue token");
        let second = s
            .handle(&request(
                "GET",
                &format!("/api/v1/pods?limit=2&continue={token}"),
                Value::Null,
            ))
            .body;
        let names: Vec<&str> = second["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["c"]);
        assert!(second["metadata"].get("continue").is_none());
    }
}
