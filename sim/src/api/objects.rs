//! Namespaced CRUD, patch, scale and watch for every kind the simulator serves, by URL:
//! `/api/v1/...` and `/apis/GROUP/VERSION/...`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::App;
use super::query::Query;
use crate::patch::{self, PatchKind};
use crate::release::Release;
use crate::resources::{
    DEPLOYMENT_CONFIGS, DEPLOYMENTS, NAMESPACES, PODS, REPLICATION_CONTROLLERS, ResourceType,
    SERVICE_ACCOUNTS,
};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::EventType;

/// A parsed resource URL.
pub struct Target {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    /// `segments` follow `/api/v1` or `/apis/G/V`.
    pub fn parse(
        release: Release,
        group: &str,
        version: &str,
        segments: &[&str],
    ) -> Result<Target, ApiError> {
        let not_found = || {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        };
        let (namespace, rest) = match segments {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
            rest => (None, rest),
        };
        let (plural, name, subresource) = match rest {
            [plural] => (*plural, None, None),
            [plural, name] => (*plural, Some(name.to_string()), None),
            [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
            _ => return Err(not_found()),
        };
        let rt = ResourceType::find(group, version, plural)
            .filter(|rt| release.serves(rt))
            .ok_or_else(not_found)?;
        // One object of a namespaced kind lives under its namespace; a cluster-scoped kind
        // has none. (A namespaced kind without one is the all-namespaces list.)
        if (rt.namespaced && namespace.is_none() && name.is_some())
            || (!rt.namespaced && namespace.is_some())
        {
            return Err(not_found());
        }
        Ok(Target {
            rt,
            namespace,
            name,
            subresource,
        })
    }
}

pub async fn serve(
    app: Arc<App>,
    method: Method,
    target: Target,
    query: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&app, method, &target, &query, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    app: &Arc<App>,
    method: Method,
    t: &Target,
    q: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let store = &app.cluster.store;
    let rt = &t.rt;
    if rt.plural == NAMESPACES.plural && method != Method::GET {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the simulator serves a fixed set of namespaces: they cannot be created, changed or deleted",
        ));
    }
    match (&method, &t.name, t.subresource.as_deref()) {
        (&Method::GET, None, None) => {
            if q.flag("watch") {
                return watch(app, t, q);
            }
            list(app, t, q)
        }
        (&Method::POST, None, None) => {
            let ns = t.namespace.as_deref().ok_or_else(|| {
                ApiError::new(405, "MethodNotAllowed", "create needs a namespace")
            })?;
            if rt.plural == PODS.plural {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    "the simulator creates pods only through deployments",
                ));
            }
            let mut object = read_body(headers, &body)?;
            check_kind(rt, &object)?;
            if let Some(body_ns) = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                && body_ns != ns
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            object.as_object_mut().map(|o| o.remove("status"));
            let created = store.create(rt, ns, object)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (&Method::GET, Some(name), Some("log")) if rt.plural == PODS.plural => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            store
                .get(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
            let text =
                std::fs::read(app.cluster.dirs.pods.join(name).join("log")).unwrap_or_default();
            let text = match q.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => {
                    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
                    lines[lines.len().saturating_sub(n)..].concat()
                }
                None => text,
            };
            Ok(([("content-type", "text/plain")], text).into_response())
        }
        (&Method::GET, Some(name), None | Some("status")) => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            let object = store
                .get(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
            Ok(json_response(StatusCode::OK, &object))
        }
        (&Method::PUT, Some(name), None) => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            let mut object = read_body(headers, &body)?;
            check_kind(rt, &object)?;
            let keep_status = has_status(rt);
            let updated = store.modify(rt, ns, name, |current| {
                if keep_status {
                    object["status"] = current["status"].clone();
                }
                *current = object;
                Ok(())
            })?;
            Ok(json_response(StatusCode::OK, &updated))
        }
        (&Method::PATCH, Some(name), None) => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            let kind = patch_kind(headers)?;
            let keep_status = has_status(rt);
            let result = store.modify(rt, ns, name, |current| {
                let status = current["status"].clone();
                patch::apply(kind, current, &body).map_err(ApiError::invalid)?;
                if keep_status {
                    current["status"] = status;
                }
                Ok(())
            });
            match result {
                Err(e) if e.code == 404 && kind == PatchKind::Apply => {
                    let mut object = Value::Object(Default::default());
                    patch::apply(kind, &mut object, &body).map_err(ApiError::invalid)?;
                    object["metadata"]["name"] = json!(name);
                    let created = store.create(rt, ns, object)?;
                    Ok(json_response(StatusCode::CREATED, &created))
                }
                Err(e) => Err(e),
                Ok(updated) => Ok(json_response(StatusCode::OK, &updated)),
            }
        }
        (&Method::DELETE, Some(name), None) => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            if rt.plural == PODS.plural {
                let pod = store
                    .get(rt, ns, name)
                    .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
                app.cluster.delete_pod(name);
                return Ok(json_response(
                    StatusCode::OK,
                    &store.get(rt, ns, name).unwrap_or(pod),
                ));
            }
            let deleted = store.delete(rt, ns, name)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {"name": name, "kind": rt.plural, "uid": deleted["metadata"]["uid"]}}),
            ))
        }
        (&Method::POST, Some(name), Some("token")) if rt.plural == SERVICE_ACCOUNTS.plural => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            let request = read_body(headers, &body)?;
            let answered = super::rbac::token_request::create(app, ns, name, &request)?;
            Ok(json_response(StatusCode::CREATED, &answered))
        }
        (&Method::POST, Some(_), Some("instantiate")) if rt.plural == DEPLOYMENT_CONFIGS.plural => {
            let ns = t.namespace.as_deref().unwrap_or_default();
            accept_body_type(headers)?;
            let request = parse_body(&body)?;
            super::deploymentconfigs::instantiate(app, ns, &request)
        }
        (m, Some(name), Some("scale"))
            if [
                DEPLOYMENTS.plural,
                REPLICATION_CONTROLLERS.plural,
                DEPLOYMENT_CONFIGS.plural,
            ]
            .contains(&rt.plural) =>
        {
            let ns = t.namespace.as_deref().unwrap_or_default();
            if m == Method::PUT || m == Method::PATCH {
                let mut scale = scale_of(
                    &store
                        .get(rt, ns, name)
                        .ok_or_else(|| ApiError::not_found(rt.plural, name))?,
                );
                if m == Method::PUT {
                    scale = parse_body(&body)?;
                } else {
                    patch::apply(patch_kind(headers)?, &mut scale, &body)
                        .map_err(ApiError::invalid)?;
                }
                let replicas = scale["spec"]["replicas"]
                    .as_i64()
                    .filter(|r| *r >= 0)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "spec.replicas: Invalid value: must be greater than or equal to 0",
                        )
                    })?;
                store.modify(rt, ns, name, |d| {
                    d["spec"]["replicas"] = json!(replicas);
                    Ok(())
                })?;
            } else if m != Method::GET {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "method not allowed on scale",
                ));
            }
            let deployment = store
                .get(rt, ns, name)
                .ok_or_else(|| ApiError::not_found(rt.plural, name))?;
            Ok(json_response(StatusCode::OK, &scale_of(&deployment)))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        )),
    }
}

fn has_status(rt: &ResourceType) -> bool {
    // Kinds with a status subresource: writes to the object leave its status alone.
    matches!(
        rt.plural,
        "pods"
            | "deployments"
            | "services"
            | "persistentvolumeclaims"
            | "namespaces"
            | "replicasets"
            | "jobs"
            | "apimanagers"
            | "replicationcontrollers"
    )
    // DeploymentConfigs too, but their update strategy (status kept, but for a
    // latestVersion one up) is the store's (`store::Write`).
}

fn scale_of(deployment: &Value) -> Value {
    if deployment["kind"] == DEPLOYMENT_CONFIGS.kind {
        return super::deploymentconfigs::scale_of(deployment);
    }
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    // A ReplicationController's selector is a map; a Deployment's here is `deployment=NAME`
    // (the 3scale operator's matchLabels).
    let selector = match deployment["spec"]["selector"].as_object() {
        Some(map) if deployment["kind"] == REPLICATION_CONTROLLERS.kind => {
            let mut pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => format!("deployment={name}"),
    };
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": name, "namespace": deployment["metadata"]["namespace"],
                     "resourceVersion": deployment["metadata"]["resourceVersion"],
                     "uid": deployment["metadata"]["uid"]},
        "spec": {"replicas": deployment["spec"]["replicas"]},
        "status": {"replicas": deployment["status"]["replicas"].as_i64().unwrap_or(0),
                   "selector": selector}
    })
}

fn patch_kind(headers: &HeaderMap) -> Result<PatchKind, ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchKind::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {ct:?})"),
        )
    })
}

/// The request body as JSON: sent as JSON or YAML, or as protobuf for the kinds
/// `protobuf` reads.
pub(super) fn read_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let protobuf = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/vnd.kubernetes.protobuf"));
    if protobuf && let Ok(object) = super::protobuf::decode(body) {
        return Ok(object);
    }
    accept_body_type(headers)?;
    parse_body(body)
}

/// JSON and YAML only. kubectl's typed clients (e.g. `kubectl create secret`) send
/// protobuf, and kubectl 1.32 does not retry a 415 in JSON: `kubectl create secret`
/// fails here (use `kubectl apply -f`); `read_body` reads protobuf for the kinds that
/// have no other way in.
fn accept_body_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") || ct.contains("cbor") {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct:?})"
            ),
        ));
    }
    Ok(())
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| {
            ApiError::bad_request(format!("the request body is not a valid object: {e}"))
        })?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    Ok(value)
}

fn check_kind(rt: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if let Some(kind) = object.get("kind").and_then(Value::as_str)
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the object's kind {kind} does not match the URL's {}",
            rt.kind
        )));
    }
    Ok(())
}

pub fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        value.to_string(),
    )
        .into_response()
}

struct Filters {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filters {
    fn from(q: &Query) -> Result<Filters, ApiError> {
        Ok(Filters {
            labels: LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
                .map_err(ApiError::bad_request)?,
            fields: FieldSelector::parse(q.get("fieldSelector").unwrap_or(""))
                .map_err(ApiError::bad_request)?,
        })
    }
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(&object["metadata"]["labels"]) && self.fields.matches(object)
    }
}

fn list(app: &App, t: &Target, q: &Query) -> Result<Response, ApiError> {
    let filters = Filters::from(q)?;
    let (items, rv) = app.cluster.store.list(&t.rt, t.namespace.as_deref());
    let items: Vec<Value> = items.into_iter().filter(|o| filters.matches(o)).collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version(),
                "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

/// A watch: one JSON event per line, from the requested resourceVersion (or the current
/// state as ADDED events when none is given), until `timeoutSeconds`.
fn watch(app: &Arc<App>, t: &Target, q: &Query) -> Result<Response, ApiError> {
    let filters = Filters::from(q)?;
    let store = app.cluster.store.clone();
    let since: u64 = q
        .get("resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let timeout = Duration::from_secs(
        q.get("timeoutSeconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1800u64)
            .min(3600),
    );
    let plural = t.rt.plural;
    let namespace = t.namespace.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let line = |kind: &str, object: &Value| {
        Ok(Bytes::from(format!(
            "{}\n",
            json!({"type": kind, "object": object})
        )))
    };
    tokio::spawn(async move {
        let mut initial = Vec::new();
        let from = if since == 0 {
            let (items, rv) = store.list(
                &crate::resources::ResourceType::find_plural(plural),
                namespace.as_deref(),
            );
            initial = items;
            rv
        } else {
            since
        };
        let Some((past, mut live)) = store.watch_from(from) else {
            let gone = ApiError::new(410, "Expired", format!("too old resource version: {since}"));
            let _ = tx.send(line("ERROR", &gone.to_json())).await;
            return;
        };
        for object in initial.iter().filter(|o| filters.matches(o)) {
            if tx.send(line("ADDED", object)).await.is_err() {
                return;
            }
        }
        let relevant = |e: &crate::store::WatchEvent| {
            e.plural == plural
                && namespace.as_deref().is_none_or(|ns| ns == e.namespace)
                && filters.matches(&e.object)
        };
        let mut last = from;
        for event in past.iter().filter(|e| relevant(e)) {
            last = event.rv;
            if tx
                .send(line(event.kind.as_str(), &event.object))
                .await
                .is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                event = live.recv() => match event {
                    Ok(event) if event.rv > last && relevant(&event) => {
                        last = event.rv;
                        let kind = if event.kind == EventType::Deleted { "DELETED" } else { event.kind.as_str() };
                        if tx.send(line(kind, &event.object)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::new(410, "Expired", "the watch fell behind; re-list");
                        let _ = tx.send(line("ERROR", &gone.to_json())).await;
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("static response parts"))
}
