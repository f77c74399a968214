//! Who may do what: kube-apiserver's authentication and authorization filters
//! (staging/src/k8s.io/apiserver/pkg/server/config.go `DefaultBuildHandlerChain`:
//! `WithAuthentication` outside `WithAuthorization`), for two kinds of bearer token. The
//! one in the kubeconfig the simulator writes is a cluster admin's (system:masters,
//! allowed everything); a ServiceAccount's, from `kubectl create token`, is that
//! account's user, and RBAC decides what it may do from the Roles and RoleBindings in
//! the store and the bootstrap policy. Every request passes here: API objects, watches,
//! exec and attach, discovery and `/sim/v1`.

mod attributes;
mod authorizer;
mod bootstrap;
mod forbidden;
mod reviews;
mod rules;
pub mod token_request;
mod tokens;
mod user;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use attributes::Attributes;
pub use tokens::Tokens;
pub use user::User;

use super::{App, objects};
use crate::resources::{SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_RULES_REVIEWS, SERVICE_ACCOUNTS};
use crate::status::ApiError;

/// `WithAuthentication`: the request's user, put in its extensions, or 401. The paths a
/// real server's anonymous user may read (system:public-info-viewer) stay open to a
/// client without a valid token, as they always were here.
pub async fn authenticate(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let public = matches!(
        request.uri().path(),
        "/version" | "/healthz" | "/readyz" | "/livez"
    );
    let user = match bearer(request.headers()).and_then(|token| identify(&app, token)) {
        Some(user) => user,
        None if public => User::anonymous(),
        None => return ApiError::new(401, "Unauthorized", "Unauthorized").into_response(),
    };
    request.extensions_mut().insert(user);
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The admin token, or a ServiceAccount token whose account still exists as the one it
/// was issued to (same UID): deleting the ServiceAccount revokes its tokens, as the
/// service account token authenticator's lookup does (pkg/serviceaccount/claims.go).
fn identify(app: &App, token: &str) -> Option<User> {
    if token == app.token {
        return Some(User::admin());
    }
    let claims = app.tokens.claims(token)?;
    let account = app
        .cluster
        .store
        .get(&SERVICE_ACCOUNTS, &claims.namespace, &claims.name)?;
    (account["metadata"]["uid"].as_str() == Some(claims.uid.as_str()))
        .then(|| User::service_account(&claims.namespace, &claims.name))
}

/// `WithRequestInfo` then `WithAuthorization`: the request's attributes (kept in its
/// extensions for the handlers that authorize again), and a 403 naming what is missing
/// if the user may not.
pub async fn authorize(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let user = request
        .extensions()
        .get::<User>()
        .cloned()
        .unwrap_or_else(User::anonymous);
    let uri = request.uri().clone();
    let attributes = match Attributes::of(request.method(), uri.path(), uri.query()) {
        Ok(a) => a,
        // responsewriters.InternalError, as WithRequestInfo answers a URL it cannot read.
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal Server Error: {:?}: {e}", uri.to_string()),
            )
                .into_response();
        }
    };
    let verdict = authorizer::authorize(&app.cluster.store, &user, &attributes);
    if !verdict.allowed {
        return forbidden::forbidden(&user, &attributes, &verdict.reason).into_response();
    }
    request.extensions_mut().insert(attributes);
    next.run(request).await
}

/// pkg/registry/core/pod/rest/subresources.go `ensureAuthorizedForVerb`, which the exec,
/// attach and portforward `Connect` handlers call before anything else since Kubernetes
/// 1.35 (feature AuthorizePodWebsocketUpgradeCreatePermission, beta and on by default;
/// kubernetes/kubernetes#134577): a WebSocket upgrade is a GET, authorized as `get` by
/// the filter, so the user must also be allowed to `create` the subresource, as a
/// SPDY POST always had to be. The simulator's `/version` says 1.32 (see `protocols`),
/// but this check is what every current cluster does, and a Role that passes it passes
/// on older ones too. The denial is `NewForbidden` with the authorizer's reason alone,
/// which for a plain RBAC denial is empty: `pods "NAME" is forbidden: `.
pub fn ensure_authorized_for_verb(
    app: &App,
    request: &Request,
    verb: &str,
) -> Result<(), ApiError> {
    let extensions = request.extensions();
    let (Some(user), Some(attributes)) = (extensions.get::<User>(), extensions.get::<Attributes>())
    else {
        return Err(ApiError::internal(
            "Internal error occurred: no request info in context",
        ));
    };
    if attributes.verb == verb {
        return Ok(());
    }
    let verdict = authorizer::authorize(&app.cluster.store, user, &attributes.with_verb(verb));
    if verdict.allowed {
        return Ok(());
    }
    Err(forbidden::new_forbidden(
        &attributes.api_group,
        &attributes.resource,
        &attributes.name,
        &verdict.reason,
    ))
}

/// `POST /apis/authorization.k8s.io/v1/{selfsubjectaccessreviews,selfsubjectrulesreviews}`
/// and `/apis/authentication.k8s.io/v1/selfsubjectreviews` for `user`, answered 201;
/// these kinds have no other verb.
pub fn review(
    app: &App,
    user: &User,
    plural: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let answered = (|| {
        if method != Method::POST {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
            .with_details(serde_json::json!({})));
        }
        let review = objects::read_body(headers, body)?;
        let store = &app.cluster.store;
        match plural {
            p if p == SELF_SUBJECT_ACCESS_REVIEWS.plural => {
                reviews::access_review(store, user, &review)
            }
            p if p == SELF_SUBJECT_RULES_REVIEWS.plural => {
                reviews::rules_review(store, user, &review)
            }
            _ => Ok(reviews::self_review(user)),
        }
    })();
    match answered {
        Ok(review) => objects::json_response(StatusCode::CREATED, &review),
        Err(e) => e.into_response(),
    }
}
