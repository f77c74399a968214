//! The simulator's etcd: every API object, one global resourceVersion counter, a bounded
//! history of changes for watches, and persistence of everything but pods to the data
//! directory so a restart keeps the cluster's state.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::resources::{DEPLOYMENT_CONFIGS, EVENTS, PODS, ResourceType};
use crate::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub plural: &'static str,
    pub namespace: String,
    pub kind: EventType,
    pub object: Value,
    pub rv: u64,
}

type Key = (&'static str, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<WatchEvent>,
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<WatchEvent>,
    persist_to: Option<PathBuf>,
    fresh: bool,
}

const HISTORY: usize = 4096;

impl Store {
    /// A store persisted at `persist_to` (loaded from it if it exists).
    pub fn open(persist_to: Option<PathBuf>) -> crate::Result<Store> {
        let mut inner = Inner {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
        };
        let fresh = persist_to.as_ref().is_none_or(|p| !p.exists());
        if let Some(path) = &persist_to
            && path.exists()
        {
            let text = std::fs::read(path).map_err(|e| crate::SimError::io(path, e))?;
            let saved: Value = serde_json::from_slice(&text)?;
            inner.rv = saved["resourceVersion"].as_u64().unwrap_or(1);
            for item in saved["objects"].as_array().into_iter().flatten() {
                let plural = item["plural"].as_str().unwrap_or_default();
                let Some(rt) = crate::resources::ALL.iter().find(|r| r.plural == plural) else {
                    continue;
                };
                let object = item["object"].clone();
                let ns = object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                inner.objects.insert((rt.plural, ns, name), object);
            }
        }
        let (events, _) = broadcast::channel(4096);
        Ok(Store {
            inner: Mutex::new(inner),
            events,
            persist_to,
            fresh,
        })
    }

    /// True when nothing was saved before: a new data directory.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    pub fn resource_version(&self) -> u64 {
        self.inner.lock().unwrap().rv
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .get(&(rt.plural, ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a kind in a namespace (all namespaces for `None`), and the list's RV.
    pub fn list(&self, rt: &ResourceType, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.inner.lock().unwrap();
        let items = inner
            .objects
            .iter()
            .filter(|((p, n, _), _)| *p == rt.plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let name = object_name(&object)?;
        if object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut inner = self.inner.lock().unwrap();
        let key = (rt.plural, ns.to_string(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(rt.plural, &name));
        }
        normalise(rt, ns, &mut object);
        crate::validation::validate(rt, None, &object)?;
        inner.rv += 1;
        let rv = inner.rv;
        let meta = object["metadata"].as_object_mut().expect("normalised");
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        if tracks_generation(rt) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        crate::defaulting::on_create(rt, &mut object);
        inner.objects.insert(key, object.clone());
        self.record(&mut inner, rt, ns, EventType::Added, &object);
        Ok(object)
    }

    /// Read-modify-write under the store's lock. `change` sees the current object and edits
    /// it in place; the store keeps identity fields, bumps the resourceVersion and, when the
    /// spec changed, the generation. A `resourceVersion` left in the object by `change` that
    /// differs from the stored one is a conflict (optimistic concurrency, as PUT has it).
    pub fn modify<F>(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        change: F,
    ) -> Result<Value, ApiError>
    where
        F: FnOnce(&mut Value) -> Result<(), ApiError>,
    {
        self.modify_as(rt, ns, name, Write::Object, change)
    }

    /// `modify` through one of the object's endpoints: the object itself, its status
    /// subresource (spec and labels stay as they are, the generation too), or a
    /// DeploymentConfig's instantiate (see `Write`).
    pub fn modify_as<F>(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        write: Write,
        change: F,
    ) -> Result<Value, ApiError>
    where
        F: FnOnce(&mut Value) -> Result<(), ApiError>,
    {
        let mut inner = self.inner.lock().unwrap();
        let key = (rt.plural, ns.to_string(), name.to_string());
        let current = inner
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
        let mut next = current.clone();
        change(&mut next)?;
        let stored_rv = current["metadata"]["resourceVersion"].clone();
        if let Some(rv) = next
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            && !rv.is_empty()
            && Some(rv) != stored_rv.as_str()
        {
            return Err(ApiError::conflict(rt.plural, name));
        }
        if next.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        normalise(rt, ns, &mut next);
        crate::validation::validate(rt, Some(&current), &next)?;
        for field in ["uid", "creationTimestamp"] {
            next["metadata"][field] = current["metadata"][field].clone();
        }
        if write == Write::Status {
            // A status write keeps what the object says it wants (e.g. openshift-apiserver
            // deployconfig/strategy.go statusStrategy.PrepareForUpdate: spec and labels).
            next["spec"] = current["spec"].clone();
            next["metadata"]["labels"] = current["metadata"]["labels"].clone();
            if next["spec"].is_null() {
                next.as_object_mut().map(|o| o.remove("spec"));
            }
            if next["metadata"]["labels"].is_null() {
                next["metadata"].as_object_mut().map(|o| o.remove("labels"));
            }
        }
        let latest_version_moved = rt.plural == DEPLOYMENT_CONFIGS.plural
            && deployment_config_status(write, &current, &mut next);
        if tracks_generation(rt) {
            // The API server's strategies bump the generation on a change of .spec only;
            // metadata and status writes leave it (e.g. deployment strategy PrepareForUpdate).
            // A DeploymentConfig's also moves with status.latestVersion, except through
            // its status subresource (deployconfig/strategy.go:89, instantiate/strategy.go).
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(1);
            let generation = if write != Write::Status
                && (next.get("spec") != current.get("spec") || latest_version_moved)
            {
                generation + 1
            } else {
                generation
            };
            next["metadata"]["generation"] = json!(generation);
        } else if let Some(meta) = next["metadata"].as_object_mut() {
            meta.remove("generation");
        }
        // Clients that only touched status or nothing at all still see a new version, as
        // with a real API server, except for a no-op which we keep silent for watchers.
        let mut comparable = next.clone();
        comparable["metadata"]["resourceVersion"] = stored_rv;
        if comparable == current {
            return Ok(current);
        }
        inner.rv += 1;
        next["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(key, next.clone());
        self.record(&mut inner, rt, ns, EventType::Modified, &next);
        Ok(next)
    }

    pub fn delete(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        let mut inner = self.inner.lock().unwrap();
        let key = (rt.plural, ns.to_string(), name.to_string());
        let mut object = inner
            .objects
            .remove(&key)
            .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
        inner.rv += 1;
        object["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.record(&mut inner, rt, ns, EventType::Deleted, &object);
        Ok(object)
    }

    /// Events after `since` still in the history, and a receiver for what comes next,
    /// taken under one lock so nothing falls between them. `None` if `since` is older than
    /// the history (the client must re-list: 410 Gone).
    pub fn watch_from(
        &self,
        since: u64,
    ) -> Option<(Vec<WatchEvent>, broadcast::Receiver<WatchEvent>)> {
        let inner = self.inner.lock().unwrap();
        let receiver = self.events.subscribe();
        if let Some(oldest) = inner.history.front()
            && since + 1 < oldest.rv
            && since != 0
        {
            return None;
        }
        let past = inner
            .history
            .iter()
            .filter(|e| e.rv > since)
            .cloned()
            .collect();
        Some((past, receiver))
    }

    fn record(
        &self,
        inner: &mut Inner,
        rt: &ResourceType,
        ns: &str,
        kind: EventType,
        object: &Value,
    ) {
        let event = WatchEvent {
            plural: rt.plural,
            namespace: ns.to_string(),
            kind,
            object: object.clone(),
            rv: inner.rv,
        };
        inner.history.push_back(event.clone());
        if inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        let _ = self.events.send(event);
        if persisted(rt.plural) {
            self.persist(inner);
        }
    }

    fn persist(&self, inner: &Inner) {
        let Some(path) = &self.persist_to else { return };
        let objects: Vec<Value> = inner
            .objects
            .iter()
            .filter(|((p, _, _), _)| persisted(p))
            .map(|((p, _, _), o)| json!({"plural": p, "object": o}))
            .collect();
        let doc = json!({"resourceVersion": inner.rv, "objects": objects});
        let tmp = path.with_extension("json.tmp");
        // A failed write must not take the API down; the next write tries again.
        if std::fs::write(&tmp, doc.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// Which endpoint a write comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// PUT or PATCH of the object (what controllers and the operator use, too).
    Object,
    /// The status subresource: only status and metadata other than labels change.
    Status,
    /// `deploymentconfigs/NAME/instantiate`: the spec, and of the status only
    /// `latestVersion` and `details` (instantiate/strategy.go PrepareForUpdate).
    Instantiate,
}

/// The DeploymentConfig strategies' handling of status on a write that is not a status
/// write (openshift-apiserver pkg/apps/apiserver/registry/deployconfig/strategy.go:68-92 and
/// instantiate/strategy.go:43-56): the stored status stays, but for `latestVersion`
/// moving up by exactly one (the old `oc deploy --latest`, and `oc rollout latest`'s
/// fallback), or as instantiate sets it. Returns whether `latestVersion` moved.
fn deployment_config_status(write: Write, current: &Value, next: &mut Value) -> bool {
    let old = current["status"]["latestVersion"].as_i64().unwrap_or(0);
    let new = next["status"]["latestVersion"].as_i64().unwrap_or(0);
    match write {
        Write::Status => return new != old,
        Write::Object => {
            let mut status = current["status"].clone();
            if new == old + 1 {
                status["latestVersion"] = json!(new);
            }
            next["status"] = status;
        }
        Write::Instantiate => {
            let mut status = current["status"].clone();
            status["latestVersion"] = json!(new);
            status["details"] = next["status"]["details"].clone();
            next["status"] = status;
        }
    }
    next["status"]["latestVersion"].as_i64().unwrap_or(0) != old
}

/// Pods are processes that do not outlive the simulator; events are short-lived records
/// (an hour in a real cluster). Everything else survives a restart.
fn persisted(plural: &str) -> bool {
    plural != PODS.plural && plural != EVENTS.plural
}

/// Kinds whose `metadata.generation` the API server maintains (those with a spec that a
/// controller observes); ConfigMaps, Secrets, Events and Pods (before 1.33) have none.
fn tracks_generation(rt: &ResourceType) -> bool {
    matches!(
        rt.plural,
        "deployments"
            | "replicasets"
            | "jobs"
            | "apimanagers"
            | "deploymentconfigs"
            | "replicationcontrollers"
    )
}

fn object_name(object: &Value) -> Result<String, ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::invalid(
            "metadata.name: Required value: name is required",
        ));
    }
    let valid = name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(ApiError::invalid(format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
        )));
    }
    Ok(name.to_string())
}

fn normalise(rt: &ResourceType, ns: &str, object: &mut Value) {
    if !object.is_object() {
        *object = json!({});
    }
    object["apiVersion"] = json!(rt.api_version());
    object["kind"] = json!(rt.kind);
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if let Some(meta) = object["metadata"].as_object_mut() {
        // Cluster-scoped kinds (namespaces) live under "" and have no namespace field.
        if ns.is_empty() {
            meta.remove("namespace");
        } else {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.remove("managedFields");
        meta.remove("selfLink");
    }
    crate::defaulting::on_write(rt, object);
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn new_uid() -> String {
    let bytes: [u8; 16] = rand::random();
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
