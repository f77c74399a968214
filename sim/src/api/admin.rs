//! The simulator's own API, under `/sim/v1`, behind the same token: what `sim seed`,
//! `sim fingerprint`, `sim damage`, `sim fault` and `sim events` call.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::App;
use super::objects::json_response;
use crate::faults::{FaultSettings, parse_size};
use crate::status::ApiError;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/seed", post(seed))
        .route("/fingerprint", get(fingerprint))
        .route("/damage", post(damage))
        .route("/faults", get(get_faults).post(set_faults))
        .route("/events", get(events))
        .route("/pods/{name}/crash", post(crash))
}

fn failed(e: crate::SimError) -> Response {
    ApiError::internal(e.to_string()).into_response()
}

async fn seed(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let size = match parse_size(request["size"].as_str().unwrap_or("64MiB")) {
        Ok(s) => s,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let files = match &request["files"] {
        Value::Null => None,
        n => match n.as_u64() {
            Some(n) if n <= 10_000_000 => Some(n),
            _ => {
                return ApiError::bad_request(format!(
                    "`files` must be a count, at most 10000000, not {n}"
                ))
                .into_response();
            }
        },
    };
    match crate::data::seed::seed(&app.cluster, size, files).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => failed(e),
    }
}

async fn fingerprint(State(app): State<Arc<App>>) -> Response {
    match crate::data::fingerprint::fingerprint(&app.cluster).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => failed(e),
    }
}

async fn damage(State(app): State<Arc<App>>) -> Response {
    match crate::data::damage::damage(&app.cluster).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => failed(e),
    }
}

async fn get_faults(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &json!(app.cluster.faults.get()))
}

/// Body: `{"reset": bool, "set": ["exec-drop-after=1MiB", ...]}`.
async fn set_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let mut settings = if request["reset"].as_bool() == Some(true) {
        FaultSettings::default()
    } else {
        app.cluster.faults.get()
    };
    for assignment in request["set"].as_array().into_iter().flatten() {
        if let Err(e) = settings.set(assignment.as_str().unwrap_or_default()) {
            return ApiError::bad_request(e).into_response();
        }
    }
    app.cluster.faults.replace(settings.clone());
    json_response(StatusCode::OK, &json!(settings))
}

async fn events(State(app): State<Arc<App>>) -> Response {
    let text = std::fs::read_to_string(&app.cluster.dirs.events_log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    json_response(StatusCode::OK, &json!({"events": lines}))
}

async fn crash(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    if app.cluster.crash_pod(&name) {
        json_response(StatusCode::OK, &json!({"crashed": name}))
    } else {
        ApiError::not_found("pods", &name).into_response()
    }
}
