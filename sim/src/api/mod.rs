//! The HTTP face of the simulator: a Kubernetes API server (as much of it as kubectl and
//! kube-rs use for 3scale backup and restore) and a small admin API under `/sim/v1`.

mod admin;
mod deploymentconfigs;
mod discovery;
mod exec;
mod objects;
mod protobuf;
mod query;
mod rbac;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::cluster::Cluster;
use crate::protocols::ExecProtocols;
use crate::status::ApiError;
use objects::{Target, json_response};
use query::Query;

pub use rbac::Tokens;

pub struct App {
    pub cluster: Arc<Cluster>,
    /// The admin's bearer token (the kubeconfig's).
    pub token: String,
    /// The ServiceAccount tokens `kubectl create token` was given.
    pub tokens: Tokens,
    pub exec_protocols: ExecProtocols,
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/v1/namespaces/{ns}/pods/{name}/exec", any(exec_route))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            any(attach_route),
        )
        .nest("/sim/v1", admin::router())
        .fallback(api_route)
        .layer(middleware::from_fn_with_state(app.clone(), faults))
        .layer(middleware::from_fn_with_state(app.clone(), rbac::authorize))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            rbac::authenticate,
        ))
        .with_state(app)
}

async fn faults(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/sim/") {
        return next.run(request).await;
    }
    let latency = app.cluster.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = app.cluster.faults.injected_error() {
        let (reason, message) = if code == 429 {
            (
                "TooManyRequests",
                "the simulator's fault injection: too many requests, please try again later",
            )
        } else {
            (
                "InternalError",
                "the simulator's fault injection: an error on the server",
            )
        };
        let mut response = ApiError::new(code, reason, message).into_response();
        if code == 429 {
            response
                .headers_mut()
                .insert("retry-after", "1".parse().expect("static"));
        }
        return response;
    }
    next.run(request).await
}

async fn exec_route(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Response {
    let query = Query::parse(raw.as_deref());
    exec::handle(app, exec::Verb::Exec, ns, name, query, request).await
}

async fn attach_route(
    State(app): State<Arc<App>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> Response {
    let query = Query::parse(raw.as_deref());
    exec::handle(app, exec::Verb::Attach, ns, name, query, request).await
}

async fn api_route(
    State(app): State<Arc<App>>,
    Extension(user): Extension<rbac::User>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::parse(uri.query());
    let segments: Vec<&str> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let ok = |v: serde_json::Value| json_response(StatusCode::OK, &v);
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .into_response()
    };
    let release = app.cluster.options.release;
    match segments.as_slice() {
        ["version"] => ok(discovery::version(app.exec_protocols)),
        ["healthz"] | ["readyz"] | ["livez"] => "ok".into_response(),
        ["api"] => ok(discovery::core_versions()),
        ["apis"] => ok(discovery::groups(release)),
        ["api", "v1"] => discovery::resource_list(release, "", "v1")
            .map(ok)
            .unwrap_or_else(not_found),
        ["apis", group, version] => discovery::resource_list(release, group, version)
            .map(ok)
            .unwrap_or_else(not_found),
        ["openapi", "v3"] => ok(discovery::openapi_index(release)),
        ["openapi", "v3", rest @ ..] => {
            discovery::openapi_group(&rest.join("/"), app.exec_protocols, release)
                .map(ok)
                .unwrap_or_else(not_found)
        }
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            plural @ ("selfsubjectaccessreviews" | "selfsubjectrulesreviews"),
        ]
        | [
            "apis",
            "authentication.k8s.io",
            "v1",
            plural @ "selfsubjectreviews",
        ] => rbac::review(&app, &user, plural, &method, &headers, &body),
        ["api", "v1", rest @ ..] => match Target::parse(release, "", "v1", rest) {
            Ok(t) => objects::serve(app, method, t, query, &headers, body).await,
            Err(e) => e.into_response(),
        },
        ["apis", group, version, rest @ ..] => match Target::parse(release, group, version, rest) {
            Ok(t) => objects::serve(app, method, t, query, &headers, body).await,
            Err(e) => e.into_response(),
        },
        _ => not_found(),
    }
}
