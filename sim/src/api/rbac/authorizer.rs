//! kube-apiserver's authorizer chain as it treats the simulator's users: the
//! privileged-groups authorizer first (pkg/kubeapiserver/authorizer/config.go puts
//! `authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)` before the
//! configured modes), then RBAC (plugin/pkg/auth/authorizer/rbac/rbac.go) over the
//! bootstrap ClusterRoleBindings and the namespace's RoleBindings, resolved as
//! pkg/registry/rbac/validation/rule.go `DefaultRuleResolver` does. The Node authorizer
//! has no opinion on users that are not nodes, and adds no reason.

use serde_json::Value;

use super::attributes::Attributes;
use super::bootstrap;
use super::rules::PolicyRule;
use super::user::{MASTERS, User};
use crate::resources::{ROLE_BINDINGS, ROLES};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// What the authorizer said: `RBAC: allowed by ...` when RBAC allowed, the rule
    /// resolution errors (`RBAC: role.rbac.authorization.k8s.io "x" not found`) when it
    /// did not and there were some, else empty.
    pub reason: String,
}

pub fn authorize(store: &Store, user: &User, request: &Attributes) -> Verdict {
    // authorizerfactory/builtin.go privilegedGroupAuthorizer: allowed, no reason.
    if user.in_group(MASTERS) {
        return Verdict {
            allowed: true,
            reason: String::new(),
        };
    }
    // rbac.go authorizingVisitor: the first rule that allows ends the visit.
    let mut allowed_by = None;
    let mut errors = Vec::new();
    visit_rules_for(store, user, &request.namespace, |source, rule| match rule {
        Ok(rule) if rule.allows(request) => {
            allowed_by = Some(source.to_string());
            false
        }
        Ok(_) => true,
        Err(e) => {
            errors.push(e);
            true
        }
    });
    match allowed_by {
        Some(source) => Verdict {
            allowed: true,
            reason: format!("RBAC: allowed by {source}"),
        },
        None => Verdict {
            allowed: false,
            reason: if errors.is_empty() {
                String::new()
            } else {
                format!("RBAC: {}", aggregate(&errors))
            },
        },
    }
}

/// rule.go `RulesFor`: every rule that applies to `user` in `namespace`, and the errors
/// met resolving them (what SelfSubjectRulesReview reports).
pub fn rules_for(store: &Store, user: &User, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit_rules_for(store, user, namespace, |_, rule| {
        match rule {
            Ok(rule) => rules.push(rule.clone()),
            Err(e) => errors.push(e),
        }
        true
    });
    (rules, errors)
}

/// rule.go `VisitRulesFor`: the ClusterRoleBindings' rules, then, for a namespaced
/// request, those of the RoleBindings in its namespace. `visit` gets each rule with a
/// description of where it came from, or an error; it returns false to stop.
fn visit_rules_for<F>(store: &Store, user: &User, namespace: &str, mut visit: F)
where
    F: FnMut(&str, Result<&PolicyRule, String>) -> bool,
{
    for binding in bootstrap::cluster_bindings() {
        let Some(group) = binding.groups.iter().find(|g| user.in_group(g)) else {
            continue;
        };
        let source = format!(
            "ClusterRoleBinding {:?} of ClusterRole {:?} to Group {group:?}",
            binding.name, binding.name
        );
        for rule in &binding.rules {
            if !visit(&source, Ok(rule)) {
                return;
            }
        }
    }
    if namespace.is_empty() {
        return;
    }
    for binding in store.list(&ROLE_BINDINGS, Some(namespace)).0 {
        let Some(subject) = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| applies_to(user, s, namespace))
        else {
            continue;
        };
        let rules = match role_reference_rules(store, &binding["roleRef"], namespace) {
            Ok(rules) => rules,
            Err(e) => {
                if !visit("", Err(e)) {
                    return;
                }
                continue;
            }
        };
        let source = describe_role_binding(&binding, subject, namespace);
        for rule in &rules {
            if !visit(&source, Ok(rule)) {
                return;
            }
        }
    }
}

/// rule.go `GetRoleReferenceRules`. A missing Role is an error, which the forbidden
/// message then carries as its reason.
fn role_reference_rules(
    store: &Store,
    role_ref: &Value,
    namespace: &str,
) -> Result<Vec<PolicyRule>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    match role_ref["kind"].as_str().unwrap_or_default() {
        "Role" => {
            let role = store.get(&ROLES, namespace, name).ok_or_else(|| {
                // The generated lister's NotFound: `v1.Resource("role")`.
                format!("role.rbac.authorization.k8s.io {name:?} not found")
            })?;
            Ok(role["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(PolicyRule::from_json)
                .collect())
        }
        // The simulator serves no ClusterRoles, so a RoleBinding of one grants nothing
        // here (on a real cluster it would grant the ClusterRole's rules in the binding's
        // namespace, or fail with `clusterrole... not found`). Bind Roles in tests.
        "ClusterRole" => Ok(Vec::new()),
        other => Err(format!("unsupported role reference kind: {other:?}")),
    }
}

/// rule.go `appliesToUser`. A ServiceAccount subject without a namespace is one of the
/// binding's namespace.
fn applies_to(user: &User, subject: &Value, namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str().unwrap_or_default() {
        "User" => user.name == name,
        "Group" => user.in_group(name),
        "ServiceAccount" => {
            let sa_namespace = subject["namespace"]
                .as_str()
                .filter(|ns| !ns.is_empty())
                .unwrap_or(namespace);
            !sa_namespace.is_empty() && user.is_service_account(sa_namespace, name)
        }
        _ => false,
    }
}

/// rule.go `roleBindingDescriber.String` with `describeSubject`.
fn describe_role_binding(binding: &Value, subject: &Value, namespace: &str) -> String {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let kind = text(&subject["kind"]);
    let name = text(&subject["name"]);
    let subject = if kind == "ServiceAccount" {
        let ns = subject["namespace"]
            .as_str()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(namespace);
        format!("{kind} {:?}", format!("{name}/{ns}"))
    } else {
        format!("{kind} {name:?}")
    };
    format!(
        "RoleBinding {:?} of {} {:?} to {subject}",
        format!("{}/{namespace}", text(&binding["metadata"]["name"])),
        text(&binding["roleRef"]["kind"]),
        text(&binding["roleRef"]["name"]),
    )
}

/// apimachinery util/errors `aggregate.Error`: one message alone, several (each once)
/// as `[a, b]`.
pub(super) fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errors {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use serde_json::json;

    fn store() -> Store {
        let store = Store::open(None).unwrap();
        store
            .create(
                &ROLES,
                "3scale",
                json!({"metadata": {"name": "reader"}, "rules": [
                    {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["system-seed"]},
                    {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]},
                ]}),
            )
            .unwrap();
        store
            .create(
                &ROLE_BINDINGS,
                "3scale",
                json!({"metadata": {"name": "host-reads"},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
                       "subjects": [{"kind": "ServiceAccount", "name": "host"}]}),
            )
            .unwrap();
        store
    }

    fn request(method: Method, path: &str) -> Attributes {
        Attributes::of(&method, path, None).unwrap()
    }

    #[test]
    fn a_role_binding_grants_its_roles_rules_in_its_namespace_only() {
        let store = store();
        let host = User::service_account("3scale", "host");
        let verdict = authorize(
            &store,
            &host,
            &request(Method::GET, "/api/v1/namespaces/3scale/secrets/system-seed"),
        );
        assert_eq!(
            verdict,
            Verdict {
                allowed: true,
                reason: r#"RBAC: allowed by RoleBinding "host-reads/3scale" of Role "reader" to ServiceAccount "host/3scale""#.into()
            }
        );
        for denied in [
            "/api/v1/namespaces/3scale/secrets/system-app",
            "/api/v1/namespaces/3scale/secrets",
            "/api/v1/namespaces/default/pods",
            "/api/v1/pods",
        ] {
            let verdict = authorize(&store, &host, &request(Method::GET, denied));
            assert_eq!(
                verdict,
                Verdict {
                    allowed: false,
                    reason: String::new()
                },
                "{denied}"
            );
        }
        let other = User::service_account("default", "host");
        assert!(
            !authorize(
                &store,
                &other,
                &request(Method::GET, "/api/v1/namespaces/3scale/pods")
            )
            .allowed
        );
        assert!(
            authorize(
                &store,
                &User::admin(),
                &request(Method::DELETE, "/api/v1/namespaces/3scale/pods")
            )
            .allowed
        );
    }

    #[test]
    fn discovery_is_everyones_and_the_sim_api_the_admins() {
        let store = store();
        let host = User::service_account("3scale", "host");
        for path in [
            "/api",
            "/apis/apps/v1",
            "/openapi/v3",
            "/version",
            "/healthz",
        ] {
            assert!(
                authorize(&store, &host, &request(Method::GET, path)).allowed,
                "{path}"
            );
        }
        assert!(
            authorize(
                &store,
                &User::anonymous(),
                &request(Method::GET, "/version")
            )
            .allowed
        );
        assert!(!authorize(&store, &User::anonymous(), &request(Method::GET, "/api")).allowed);
        assert!(!authorize(&store, &host, &request(Method::GET, "/sim/v1/events")).allowed);
        assert!(
            authorize(
                &store,
                &User::admin(),
                &request(Method::GET, "/sim/v1/events")
            )
            .allowed
        );
        assert!(
            authorize(
                &store,
                &host,
                &request(
                    Method::POST,
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
                )
            )
            .allowed
        );
    }

    #[test]
    fn a_binding_of_a_missing_role_is_the_reason_of_a_denial() {
        let store = store();
        store
            .create(
                &ROLE_BINDINGS,
                "3scale",
                json!({"metadata": {"name": "dangling"},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gone"},
                       "subjects": [{"kind": "Group", "name": "system:serviceaccounts:3scale"}]}),
            )
            .unwrap();
        let host = User::service_account("3scale", "host");
        let verdict = authorize(
            &store,
            &host,
            &request(Method::GET, "/api/v1/namespaces/3scale/configmaps"),
        );
        assert_eq!(
            verdict.reason,
            r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#
        );
        assert!(!verdict.allowed);
        let (rules, errors) = rules_for(&store, &host, "3scale");
        assert_eq!(errors.len(), 1);
        assert!(rules.iter().any(|r| r.resource_names == ["system-seed"]));
    }
}
