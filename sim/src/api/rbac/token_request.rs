//! `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`, the TokenRequest subresource
//! `kubectl create token` calls (pkg/registry/core/serviceaccount/storage/token.go
//! `TokenREST.Create`).

use serde_json::{Value, json};

use super::tokens::Claims;
use crate::api::App;
use crate::resources::SERVICE_ACCOUNTS;
use crate::status::ApiError;

/// authentication/v1 SetDefaults_TokenRequestSpec: an hour.
const DEFAULT_EXPIRATION_SECONDS: i64 = 60 * 60;
/// The API server's audiences when the request names none: its `--api-audiences`, which
/// default to its service account issuer (kubeadm's).
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The TokenRequest answered (201 Created), or the API server's error: 422 if the body's
/// name or namespace is not the URL's, 404 if there is no such ServiceAccount, 422 if
/// `spec.expirationSeconds` is under ten minutes or over 2^32 seconds.
pub fn create(app: &App, namespace: &str, name: &str, request: &Value) -> Result<Value, ApiError> {
    let invalid = |errors: String| {
        ApiError::invalid(format!(
            "TokenRequest.authentication.k8s.io {name:?} is invalid: {errors}"
        ))
    };
    let meta = |key: &str| request["metadata"][key].as_str().unwrap_or_default();
    if !meta("name").is_empty() && meta("name") != name {
        return Err(invalid(format!(
            "metadata.name: Invalid value: {:?}: must match the service account name if specified",
            meta("name")
        )));
    }
    if !meta("namespace").is_empty() && meta("namespace") != namespace {
        return Err(invalid(format!(
            "metadata.namespace: Invalid value: {:?}: must match the service account namespace if specified",
            meta("namespace")
        )));
    }
    let account = app
        .cluster
        .store
        .get(&SERVICE_ACCOUNTS, namespace, name)
        .ok_or_else(|| ApiError::not_found(SERVICE_ACCOUNTS.plural, name))?;

    let spec = &request["spec"];
    let audiences = match spec["audiences"].as_array() {
        Some(list) if !list.is_empty() => json!(list),
        _ => json!([API_AUDIENCE]),
    };
    let seconds = spec["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    // authentication/validation ValidateTokenRequest.
    if seconds < 10 * 60 {
        return Err(ApiError::invalid(format!(
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
        )));
    }
    if seconds > 1 << 32 {
        return Err(ApiError::invalid(format!(
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
        )));
    }

    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::seconds(seconds);
    let token = app
        .tokens
        .issue(Claims {
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: account["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            expires: expires.timestamp(),
        })
        .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": time(now)},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": spec["boundObjectRef"]},
        "status": {"token": token, "expirationTimestamp": time(expires)},
    }))
}
