//! The authorization.k8s.io/v1 self-reviews: SelfSubjectAccessReview ("may I do this?",
//! `kubectl auth can-i`; pkg/registry/authorization/selfsubjectaccessreview/rest.go) and
//! SelfSubjectRulesReview ("what may I do here?", `kubectl auth can-i --list`;
//! selfsubjectrulesreview/rest.go), answered from the same authorizer that guards
//! requests, and authentication.k8s.io/v1 SelfSubjectReview ("who am I?",
//! `kubectl auth whoami`). All are for the user who asks, and kept nowhere.

use serde_json::{Value, json};

use super::attributes::Attributes;
use super::authorizer;
use super::user::User;
use crate::status::ApiError;
use crate::store::Store;

/// The review answered, or a 400.
pub fn access_review(store: &Store, user: &User, review: &Value) -> Result<Value, ApiError> {
    let spec = &review["spec"];
    let resource = spec["resourceAttributes"].as_object();
    let non_resource = spec["nonResourceAttributes"].as_object();
    // authorization/validation ValidateSelfSubjectAccessReviewSpec.
    let invalid = |field: &str, detail: &str| {
        ApiError::invalid(format!(
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.{field}: Invalid value: {}: {detail}",
            spec[field]
        ))
    };
    let text = |map: &serde_json::Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let request = match (resource, non_resource) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "nonResourceAttributes",
                "cannot be specified in combination with resourceAttributes",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "resourceAttributes",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        // authorization/util ResourceAttributesFrom.
        (Some(r), None) => Attributes {
            verb: text(r, "verb"),
            resource_request: true,
            api_group: text(r, "group"),
            api_version: text(r, "version"),
            namespace: text(r, "namespace"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            name: text(r, "name"),
            path: String::new(),
        },
        // NonResourceAttributesFrom.
        (None, Some(n)) => Attributes {
            verb: text(n, "verb"),
            path: text(n, "path"),
            ..Attributes::default()
        },
    };
    let verdict = authorizer::authorize(store, user, &request);
    let mut status = json!({"allowed": verdict.allowed});
    if !verdict.reason.is_empty() {
        status["reason"] = json!(verdict.reason);
    }
    Ok(answer(review, "SelfSubjectAccessReview", status))
}

/// The rules `user` has in `spec.namespace`, or a 400 without one.
pub fn rules_review(store: &Store, user: &User, review: &Value) -> Result<Value, ApiError> {
    let namespace = review["spec"]["namespace"].as_str().unwrap_or_default();
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    // rbac.go RBACAuthorizer.RulesFor: a rule with resources is a resource rule, one with
    // URLs a non-resource rule. RBAC's answer is never incomplete.
    let (rules, errors) = authorizer::rules_for(store, user, namespace);
    let resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.resources.is_empty())
        .map(|r| r.resource_rule_json())
        .collect();
    let non_resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(|r| r.non_resource_rule_json())
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(authorizer::aggregate(&errors));
    }
    Ok(answer(review, "SelfSubjectRulesReview", status))
}

/// The request as sent, with the server's status.
fn answer(review: &Value, kind: &str, status: Value) -> Value {
    json!({
        "kind": kind,
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"],
        "status": status,
    })
}

/// pkg/registry/authentication/selfsubjectreview/rest.go: the user as authenticated (a
/// real ServiceAccount user also has a UID and `extra` credential ids, left out here).
pub fn self_review(user: &User) -> Value {
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": user.name, "groups": user.groups}},
    })
}
