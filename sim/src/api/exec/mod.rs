//! `pods/exec` and `pods/attach`: the API server's checks (the pod, the container), then
//! the streaming transport the client asks for: WebSocket channel.k8s.io v5/v4 (kubectl
//! 1.30+, kube-rs, the Python client) or SPDY/3.1 (kubectl before 1.30, and 1.30+ when
//! the WebSocket upgrade fails). Which WebSocket versions are offered, and so whether a
//! client can close stdin alone, follows `sim serve --exec-protocols`.

mod session;
mod spdy;
mod spdy_frames;
mod websocket;

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::App;
use super::query::Query;
use crate::cluster::PodHandle;
use crate::resources::PODS;
use crate::status::ApiError;
use session::{CHUNK, Drops};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Exec,
    Attach,
}

pub async fn handle(
    app: Arc<App>,
    verb: Verb,
    namespace: String,
    pod: String,
    query: Query,
    request: Request,
) -> Response {
    // The Connect handler's first step (pod/rest/subresources.go), before the pod is
    // looked up: a WebSocket GET must be allowed `create` too.
    if let Err(e) = super::rbac::ensure_authorized_for_verb(&app, &request, "create") {
        return e.into_response();
    }
    let exec = match prepare(&app, verb, &namespace, &pod, &query) {
        Ok(exec) => exec,
        Err(e) => return e.into_response(),
    };
    let faults = app.cluster.faults.get();
    let drops = Drops {
        stdout: faults.exec_drop_after,
        stdin: faults.exec_drop_stdin_after,
    };
    if wants_spdy(request.headers()) {
        return spdy_upgrade(app, request, exec, query.flag("tty"), drops);
    }
    let (mut parts, _) = request.into_parts();
    let Ok(upgrade) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await else {
        return ApiError::bad_request("Upgrade request required").into_response();
    };
    let upgrade = upgrade
        .protocols(app.exec_protocols.websocket().iter().copied())
        .max_message_size(16 << 20)
        .write_buffer_size(CHUNK)
        .max_write_buffer_size(4 * CHUNK + 1024);
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(String::from)
    else {
        // What golang.org/x/net/websocket answers when the handshake finds no subprotocol
        // both sides speak (wsstream `handshake`): 403, nothing else. kubectl 1.30+ then
        // falls back to SPDY.
        return StatusCode::FORBIDDEN.into_response();
    };
    upgrade.on_upgrade(move |socket| async move {
        websocket::serve(app, socket, exec, protocol == websocket::V5, drops).await;
    })
}

fn wants_spdy(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, word: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains(word))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "spdy/3.1")
}

/// The SPDY upgrade as the kubelet's streaming server answers it: the protocol version is
/// the first of the client's `X-Stream-Protocol-Version`s the server knows
/// (k8s.io/apimachinery pkg/util/httpstream/httpstream.go, `Handshake`), then 101 with
/// `Upgrade: SPDY/3.1` (httpstream/spdy/upgrade.go, `UpgradeResponse`).
fn spdy_upgrade(
    app: Arc<App>,
    mut request: Request,
    exec: ExecRequest,
    tty: bool,
    drops: Drops,
) -> Response {
    const PROTOCOL: &str = "X-Stream-Protocol-Version";
    let offered: Vec<String> = request
        .headers()
        .get_all(PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect();
    let accepted = app.exec_protocols.spdy();
    if offered.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            format!("unable to upgrade: {PROTOCOL} is required"),
        )
            .into_response();
    }
    let Some(protocol) = offered.iter().find(|p| accepted.contains(&p.as_str())) else {
        let mut response = (
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{}]",
                offered.join(" "),
                accepted.join(" ")
            ),
        )
            .into_response();
        for p in accepted {
            response.headers_mut().append(
                "X-Accepted-Stream-Protocol-Versions",
                p.parse().expect("static"),
            );
        }
        return response;
    };
    let upgraded = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match upgraded.await {
            Ok(io) => spdy::serve(app, TokioIo::new(io), exec, tty, drops).await,
            Err(e) => tracing::debug!("SPDY upgrade failed: {e}"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header(PROTOCOL, protocol.as_str())
        .body(axum::body::Body::empty())
        .expect("static response parts")
}

pub struct ExecRequest {
    handle: PodHandle,
    /// The process whose namespaces are the container's.
    target: i32,
    argv: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

fn prepare(
    app: &App,
    verb: Verb,
    namespace: &str,
    pod: &str,
    q: &Query,
) -> Result<ExecRequest, ApiError> {
    let object = app
        .cluster
        .store
        .get(&PODS, namespace, pod)
        .ok_or_else(|| ApiError::not_found("pods", pod))?;
    let container = validate_container(&object, q.get("container"))?;
    let argv = match verb {
        Verb::Exec => q.all("command"),
        // Attach shows what the container's process writes: the pod's log, from now on.
        Verb::Attach => ["tail", "-n", "0", "-f", "/run/sim-pod/log"]
            .map(String::from)
            .to_vec(),
    };
    if argv.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let not_running = || {
        ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        ))
    };
    let handle = app.cluster.pod_handle(pod).ok_or_else(not_running)?;
    let target = handle.container_pid(&container).ok_or_else(not_running)?;
    Ok(ExecRequest {
        handle,
        target,
        argv,
        stdin: verb == Verb::Exec && q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
    })
}

/// The container an exec or attach goes to, as the API server picks it before it
/// contacts the kubelet (kubernetes/kubernetes pkg/registry/core/pod/strategy.go,
/// `validateContainer`, called by `streamLocation`): without a name, a pod's only container;
/// with several, a 400 listing init containers then containers; a name the pod does not
/// have (init containers count), a 400 too.
pub(super) fn validate_container(pod: &Value, container: Option<&str>) -> Result<String, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let names = |key: &str| -> Vec<String> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    };
    let containers = names("containers");
    let mut all = names("initContainers");
    all.extend(containers.iter().cloned());
    all.extend(names("ephemeralContainers"));
    match container.filter(|c| !c.is_empty()) {
        Some(name) if all.iter().any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        ))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            // Go's %s of a []string: "[a b c]".
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                all.join(" ")
            ))),
        },
    }
}
