//! The 403 a denied request gets: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
//! responsewriters/errors.go `Forbidden` and `forbiddenMessage`, wrapped by apimachinery
//! pkg/api/errors/errors.go `NewForbidden`. kubectl prints the message as it is, so it
//! names the verb, the resource and the namespace the user lacks.

use serde_json::json;

use super::attributes::Attributes;
use super::user::User;
use crate::status::ApiError;

/// `Forbidden`: the message, then `: REASON` if the authorizer gave one.
pub fn forbidden(user: &User, request: &Attributes, reason: &str) -> ApiError {
    let message = forbidden_message(user, request);
    let cause = if reason.is_empty() {
        message
    } else {
        format!("{message}: {reason}")
    };
    // For a non-resource request group and resource are empty: "forbidden: ...".
    new_forbidden(&request.api_group, &request.resource, &request.name, &cause)
}

fn forbidden_message(user: &User, request: &Attributes) -> String {
    let (name, verb) = (&user.name, &request.verb);
    if !request.resource_request {
        return format!("User {name:?} cannot {verb} path {:?}", request.path);
    }
    let resource = request.combined_resource();
    let group = &request.api_group;
    if request.namespace.is_empty() {
        format!(
            "User {name:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
        )
    } else {
        format!(
            "User {name:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {:?}",
            request.namespace
        )
    }
}

/// `NewForbidden(GroupResource{group, resource}, name, cause)`: the GroupResource as
/// `resource.group` (or the resource alone in the core group), the name quoted if any;
/// `details` keeps name, group and kind (the resource), each only if set.
pub fn new_forbidden(group: &str, resource: &str, name: &str, cause: &str) -> ApiError {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {cause}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {cause}")
    } else {
        format!("{qualified} {name:?} is forbidden: {cause}")
    };
    let mut details = json!({});
    for (key, value) in [("name", name), ("group", group), ("kind", resource)] {
        if !value.is_empty() {
            details[key] = json!(value);
        }
    }
    ApiError::new(403, "Forbidden", message).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn request(method: Method, path: &str) -> Attributes {
        Attributes::of(&method, path, None).unwrap()
    }

    #[test]
    fn the_message_names_user_verb_resource_group_and_namespace() {
        let host = User::service_account("3scale", "host");
        let exec = forbidden(
            &host,
            &request(
                Method::POST,
                "/api/v1/namespaces/3scale/pods/system-mysql-abc/exec",
            ),
            "",
        );
        assert_eq!(
            exec.message,
            r#"pods "system-mysql-abc" is forbidden: User "system:serviceaccount:3scale:host" cannot create resource "pods/exec" in API group "" in the namespace "3scale""#
        );
        assert_eq!(exec.code, 403);
        assert_eq!(exec.reason, "Forbidden");
        assert_eq!(
            exec.details,
            Some(json!({"name": "system-mysql-abc", "kind": "pods"}))
        );

        let list = forbidden(
            &host,
            &request(Method::GET, "/api/v1/namespaces/3scale/secrets"),
            "",
        );
        assert_eq!(
            list.message,
            r#"secrets is forbidden: User "system:serviceaccount:3scale:host" cannot list resource "secrets" in API group "" in the namespace "3scale""#
        );
        assert_eq!(list.details, Some(json!({"kind": "secrets"})));

        let scale = forbidden(
            &host,
            &request(
                Method::PATCH,
                "/apis/apps/v1/namespaces/3scale/deployments/system-app/scale",
            ),
            "RBAC: x",
        );
        assert_eq!(
            scale.message,
            r#"deployments.apps "system-app" is forbidden: User "system:serviceaccount:3scale:host" cannot patch resource "deployments/scale" in API group "apps" in the namespace "3scale": RBAC: x"#
        );
        assert_eq!(
            scale.details,
            Some(json!({"name": "system-app", "group": "apps", "kind": "deployments"}))
        );

        let cluster = forbidden(&host, &request(Method::GET, "/api/v1/namespaces"), "");
        assert_eq!(
            cluster.message,
            r#"namespaces is forbidden: User "system:serviceaccount:3scale:host" cannot list resource "namespaces" in API group "" at the cluster scope"#
        );

        let path = forbidden(&host, &request(Method::GET, "/sim/v1/events"), "");
        assert_eq!(
            path.message,
            r#"forbidden: User "system:serviceaccount:3scale:host" cannot get path "/sim/v1/events""#
        );
        assert_eq!(path.details, Some(json!({})));
    }
}
