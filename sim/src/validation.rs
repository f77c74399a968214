//! What the API server's validation refuses on a write, for the kinds where a client
//! would notice: Roles and RoleBindings (pkg/apis/rbac/validation/validation.go
//! `ValidatePolicyRule`, `ValidateRoleBinding`, `ValidateRoleBindingSubject`,
//! `ValidateRoleBindingUpdate`). Errors read as `NewInvalid` writes them:
//! `Kind.group "name" is invalid: field: ...`, several as `[a, b]`.

use serde_json::Value;

use crate::resources::{ROLE_BINDINGS, ROLES, ResourceType};
use crate::status::ApiError;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// `object` as it would be stored (defaulted), `old` on an update.
pub fn validate(rt: &ResourceType, old: Option<&Value>, object: &Value) -> Result<(), ApiError> {
    let errors = if rt.plural == ROLES.plural {
        role(object)
    } else if rt.plural == ROLE_BINDINGS.plural {
        let mut errors = role_binding(object);
        if let Some(old) = old
            && old["roleRef"] != object["roleRef"]
        {
            errors.push(format!(
                "roleRef: Invalid value: {}: cannot change roleRef",
                role_ref(&object["roleRef"])
            ));
        }
        errors
    } else {
        return Ok(());
    };
    if errors.is_empty() {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let mut unique: Vec<&String> = Vec::new();
    for e in &errors {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    let listed = match unique.as_slice() {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(ApiError::invalid(format!(
        "{}.{RBAC_GROUP} {name:?} is invalid: {listed}",
        rt.kind
    ))
    .with_details(serde_json::json!({"name": name, "group": RBAC_GROUP, "kind": rt.kind})))
}

/// A Role's rules: `ValidatePolicyRule(rule, isNamespaced = true)`.
fn role(object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, rule) in object["rules"].as_array().into_iter().flatten().enumerate() {
        let list = |key: &str| strings(&rule[key]);
        let path = format!("rules[{i}]");
        if list("verbs").is_empty() {
            errors.push(format!(
                "{path}.verbs: Required value: verbs must contain at least one value"
            ));
        }
        let urls = list("nonResourceURLs");
        if !urls.is_empty() {
            errors.push(format!(
                "{path}.nonResourceURLs: Invalid value: {}: namespaced rules cannot apply to non-resource URLs",
                go_strings(&urls)
            ));
            if !list("apiGroups").is_empty()
                || !list("resources").is_empty()
                || !list("resourceNames").is_empty()
            {
                errors.push(format!(
                    "{path}.nonResourceURLs: Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs",
                    go_strings(&urls)
                ));
            }
            continue;
        }
        if list("apiGroups").is_empty() {
            errors.push(format!(
                "{path}.apiGroups: Required value: resource rules must supply at least one api group"
            ));
        }
        if list("resources").is_empty() {
            errors.push(format!(
                "{path}.resources: Required value: resource rules must supply at least one resource"
            ));
        }
    }
    errors
}

fn role_binding(object: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let role_ref = &object["roleRef"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let group = text(&role_ref["apiGroup"]);
    if group != RBAC_GROUP {
        errors.push(format!(
            "roleRef.apiGroup: Unsupported value: {group:?}: supported values: \"{RBAC_GROUP}\""
        ));
    }
    let kind = text(&role_ref["kind"]);
    if kind != "Role" && kind != "ClusterRole" {
        errors.push(format!(
            "roleRef.kind: Unsupported value: {kind:?}: supported values: \"Role\", \"ClusterRole\""
        ));
    }
    if text(&role_ref["name"]).is_empty() {
        errors.push("roleRef.name: Required value".to_string());
    }
    for (i, subject) in object["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("subjects[{i}]");
        if text(&subject["name"]).is_empty() {
            errors.push(format!("{path}.name: Required value"));
        }
        let group = text(&subject["apiGroup"]);
        match text(&subject["kind"]).as_str() {
            "ServiceAccount" if !group.is_empty() => errors.push(format!(
                "{path}.apiGroup: Unsupported value: {group:?}: supported values: \"\""
            )),
            "ServiceAccount" => {}
            "User" | "Group" if group != RBAC_GROUP => errors.push(format!(
                "{path}.apiGroup: Unsupported value: {group:?}: supported values: \"{RBAC_GROUP}\""
            )),
            "User" | "Group" => {}
            other => errors.push(format!(
                "{path}.kind: Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
            )),
        }
    }
    errors
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// Go's `%#v` of a []string.
fn go_strings(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Go's `%#v` of the internal rbac.RoleRef (it has no String method).
fn role_ref(role_ref: &Value) -> String {
    let text = |key: &str| role_ref[key].as_str().unwrap_or_default().to_string();
    format!(
        "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
        text("apiGroup"),
        text("kind"),
        text("name")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_needs_verbs_groups_and_resources_and_no_urls_in_a_role() {
        let role = json!({"metadata": {"name": "r"}, "rules": [
            {"verbs": ["get"], "resources": ["pods"]},
        ]});
        assert_eq!(
            validate(&ROLES, None, &role).unwrap_err().message,
            r#"Role.rbac.authorization.k8s.io "r" is invalid: rules[0].apiGroups: Required value: resource rules must supply at least one api group"#
        );
        let role = json!({"metadata": {"name": "r"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            {"apiGroups": [""], "resources": ["pods"]},
        ]});
        assert_eq!(
            validate(&ROLES, None, &role).unwrap_err().message,
            r#"Role.rbac.authorization.k8s.io "r" is invalid: [rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs, rules[2].verbs: Required value: verbs must contain at least one value]"#
        );
        let fine = json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]});
        assert!(validate(&ROLES, None, &fine).is_ok());
    }

    #[test]
    fn a_role_binding_refers_to_a_role_and_keeps_it() {
        let binding = |role: &str| {
            json!({"metadata": {"name": "b"},
                   "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role},
                   "subjects": [{"kind": "ServiceAccount", "name": "host"},
                                {"kind": "Group", "apiGroup": RBAC_GROUP, "name": "g"}]})
        };
        assert!(validate(&ROLE_BINDINGS, None, &binding("reader")).is_ok());
        assert_eq!(
            validate(&ROLE_BINDINGS, Some(&binding("reader")), &binding("writer"))
                .unwrap_err()
                .message,
            r#"RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"writer"}: cannot change roleRef"#
        );
        let odd = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Policy", "name": "x"},
                         "subjects": [{"kind": "Robot", "name": "r"}]});
        assert_eq!(
            validate(&ROLE_BINDINGS, None, &odd).unwrap_err().message,
            r#"RoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.kind: Unsupported value: "Policy": supported values: "Role", "ClusterRole", subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"]"#
        );
    }
}
