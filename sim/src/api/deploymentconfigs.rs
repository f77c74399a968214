//! What openshift-apiserver adds to DeploymentConfigs beyond CRUD: `instantiate`
//! (pkg/apps/apiserver/registry/instantiate/rest.go), what `oc rollout latest` POSTs,
//! and `scale`, which apps.openshift.io/v1 speaks as extensions/v1beta1
//! (deployconfig/etcd/etcd.go ScaleREST).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::App;
use super::objects::json_response;
use crate::cluster::appsutil as au;
use crate::cluster::image_triggers;
use crate::resources::{DEPLOYMENT_CONFIGS, REPLICATION_CONTROLLERS};
use crate::status::ApiError;
use crate::store::Write;

/// POST `deploymentconfigs/NAME/instantiate` with a DeploymentRequest
/// `{name, latest, force}` (rest.go Create:59-136): the body's name is the DC (the URL's
/// is not read, as for any plain Creater). A paused DC is Invalid; with `latest` the
/// ImageChange triggers are resolved first; a DC whose latest deployment does not exist
/// yet answers that RC's NotFound; an unresolved ImageChange trigger is a BadRequest;
/// `force` always starts a version ("manual change"), otherwise only a changed template or
/// image does (else 204). A version still running does not stop it: refusing a second
/// rollout while one runs is `oc rollout latest`'s own check (oc pkg/cli/rollout/latest.go
/// 181-188), not the server's. The answer is the DC with `status.latestVersion` one up
/// and its `metadata.generation` moved (instantiate/strategy.go:43-56).
pub fn instantiate(app: &App, ns: &str, request: &Value) -> Result<Response, ApiError> {
    if let Some(kind) = request["kind"].as_str()
        && kind != "DeploymentRequest"
    {
        return Err(ApiError::bad_request(format!(
            "the object's kind {kind} does not match the URL's DeploymentRequest"
        )));
    }
    let name = request["name"].as_str().unwrap_or_default().to_string();
    let invalid = |detail: String| {
        ApiError::invalid(format!(
            "DeploymentRequest.apps.openshift.io \"{name}\" is invalid: {detail}"
        ))
    };
    if name.is_empty() {
        return Err(invalid(
            "name: Invalid value: \"\": name of the deployment config is missing".into(),
        ));
    }
    let latest = request["latest"] == true;
    let force = request["force"] == true;
    let store = &app.cluster.store;
    // retry.RetryOnConflict(retry.DefaultRetry, ...): a few quick attempts.
    for _ in 0..5 {
        let mut dc = store
            .get(&DEPLOYMENT_CONFIGS, ns, &name)
            .ok_or_else(|| ApiError::not_found("deploymentconfigs", &name))?;
        if dc["spec"]["paused"] == true {
            return Err(invalid(format!(
                "spec.paused: Invalid value: true: deployment config \"{name}\" is paused - unpause to request a new deployment"
            )));
        }
        if latest {
            process_triggers(&mut dc, force);
        }
        let Some(causes) = can_trigger(app, ns, &dc, force)? else {
            // A metav1.Status of code 204, which the API server answers as its status.
            return Ok(StatusCode::NO_CONTENT.into_response());
        };
        let message = match causes[0]["type"].as_str() {
            Some("ConfigChange") => "config change",
            Some("ImageChange") => "image change",
            _ => "manual change",
        };
        dc["status"]["details"] = json!({"message": message, "causes": causes});
        dc["status"]["latestVersion"] = json!(au::latest_version(&dc) + 1);
        let read = dc["metadata"]["resourceVersion"].clone();
        let result = store.modify_as(&DEPLOYMENT_CONFIGS, ns, &name, Write::Instantiate, |d| {
            if d["metadata"]["resourceVersion"] != read {
                return Err(ApiError::conflict("deploymentconfigs", &name));
            }
            *d = dc;
            Ok(())
        });
        match result {
            Ok(updated) => return Ok(json_response(StatusCode::CREATED, &updated)),
            Err(e) if e.code == 409 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict("deploymentconfigs", &name))
}

/// rest.go processTriggers:148-223: each automatic ImageChange trigger (any, when
/// forced) takes the image its stream tag resolves to now.
fn process_triggers(dc: &mut Value, force: bool) {
    let paused = dc["spec"]["paused"] == true;
    let triggers = dc["spec"]["triggers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, t) in triggers.iter().enumerate() {
        let params = &t["imageChangeParams"];
        if t["type"] != "ImageChange" || (!force && (paused || params["automatic"] != true)) {
            continue;
        }
        let Some(image) = params["from"]["name"]
            .as_str()
            .and_then(image_triggers::resolve)
        else {
            continue;
        };
        if params["lastTriggeredImage"] == image.as_str() {
            continue;
        }
        let names: Vec<Value> = params["containerNames"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for field in ["containers", "initContainers"] {
            for c in dc["spec"]["template"]["spec"][field]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if names.contains(&c["name"]) {
                    c["image"] = json!(image);
                }
            }
        }
        dc["spec"]["triggers"][i]["imageChangeParams"]["lastTriggeredImage"] = json!(image);
    }
}

/// rest.go canTrigger:235-320: the causes of a new version, or `None` when nothing
/// calls for one.
fn can_trigger(
    app: &App,
    ns: &str,
    dc: &Value,
    force: bool,
) -> Result<Option<Vec<Value>>, ApiError> {
    let name = au::name_of(dc);
    let version = au::latest_version(dc);
    // decodeFromLatestDeployment: the config the latest deployment was made from.
    let decoded = if version == 0 {
        dc.clone()
    } else {
        let rc_name = au::deployment_name(name, version);
        let rc = app
            .cluster
            .store
            .get(&REPLICATION_CONTROLLERS, ns, &rc_name)
            .ok_or_else(|| ApiError::not_found("replicationcontrollers", &rc_name))?;
        au::decode(&rc).ok_or_else(|| {
            ApiError::internal(format!("{rc_name} carries no decodable deployment config"))
        })?
    };
    let image_triggers: Vec<&Value> = dc["spec"]["triggers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "ImageChange")
        .collect();
    let mut causes = Vec::new();
    let mut resolved = 0;
    for t in &image_triggers {
        let params = &t["imageChangeParams"];
        let last = params["lastTriggeredImage"].as_str().unwrap_or_default();
        if last.is_empty() {
            continue;
        }
        resolved += 1;
        if params["automatic"] != true {
            continue;
        }
        let previous = decoded["spec"]["triggers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["type"] == "ImageChange" && p["imageChangeParams"]["from"] == params["from"]
            });
        let changed = version == 0
            || previous.is_none()
            || previous.is_some_and(|p| p["imageChangeParams"]["lastTriggeredImage"] != last);
        if changed {
            causes.push(json!({"type": "ImageChange", "imageTrigger": {"from": {
                "kind": "ImageStreamTag", "name": params["from"]["name"],
                "namespace": params["from"]["namespace"]}}}));
        }
    }
    if resolved != image_triggers.len() {
        return Err(ApiError::bad_request(format!(
            "cannot trigger a deployment for \"{name}\" because it contains unresolved images"
        )));
    }
    if force {
        return Ok(Some(vec![json!({"type": "Manual"})]));
    }
    let config_change = dc["spec"]["triggers"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["type"] == "ConfigChange"));
    if config_change
        && causes.is_empty()
        && (version == 0 || dc["spec"]["template"] != decoded["spec"]["template"])
    {
        return Ok(Some(vec![json!({"type": "ConfigChange"})]));
    }
    Ok((!causes.is_empty()).then_some(causes))
}

/// deployconfig/etcd/etcd.go scaleFromConfig:166-191, in extensions/v1beta1: the
/// selector is the DC's plus `deploymentconfig=NAME`.
pub fn scale_of(dc: &Value) -> Value {
    let name = au::name_of(dc);
    let mut selector = dc["spec"]["selector"].clone();
    if !selector.is_object() {
        selector = json!({});
    }
    selector[au::CONFIG_LABEL] = json!(name);
    let mut pairs: Vec<String> = selector
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    json!({
        "kind": "Scale", "apiVersion": "extensions/v1beta1",
        "metadata": {"name": name, "namespace": dc["metadata"]["namespace"],
                     "uid": dc["metadata"]["uid"],
                     "resourceVersion": dc["metadata"]["resourceVersion"],
                     "creationTimestamp": dc["metadata"]["creationTimestamp"]},
        "spec": {"replicas": dc["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": dc["status"]["replicas"].as_i64().unwrap_or(0),
                   "selector": selector, "targetSelector": pairs.join(",")}
    })
}
