//! The ServiceAccount, Role and RoleBinding as objects, and as YAML for
//! `kubectl apply -f -`.

use serde_json::{Value, json};

use super::Rule;

/// The names the objects get.
pub struct Names<'a> {
    pub namespace: &'a str,
    pub service_account: &'a str,
}

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": "host",
        "app.kubernetes.io/component": "backup-restore",
    })
}

fn rule_object(rule: &Rule) -> Value {
    let mut object = json!({
        "apiGroups": [rule.api_group],
        "resources": [rule.resource],
        "verbs": rule.verbs,
    });
    if !rule.names.is_empty() {
        object["resourceNames"] = json!(rule.names);
    }
    object
}

/// The three objects, in the order `kubectl apply` should create them.
pub fn objects(names: &Names, rules: &[Rule]) -> Vec<Value> {
    let meta = |name: &str| {
        json!({
            "name": name,
            "namespace": names.namespace,
            "labels": labels(),
        })
    };
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(names.service_account),
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(names.service_account),
            "rules": rules.iter().map(rule_object).collect::<Vec<_>>(),
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(names.service_account),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": names.service_account,
            },
            "subjects": [{
                "kind": "ServiceAccount",
                "name": names.service_account,
                "namespace": names.namespace,
            }],
        }),
    ]
}

/// YAML documents, each after `---`, under a comment that says where they came from.
pub fn yaml(header: &[String], objects: &[Value]) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(object).expect("JSON objects serialise as YAML"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_binds_to_the_service_account_and_names_stay_names() {
        let names = ["system-seed".to_string()];
        let rules = [
            Rule::new("", "secrets", &["get"], Some(&names)),
            Rule::new("", "pods/exec", &["create", "get"], None),
        ];
        let objects = objects(
            &Names {
                namespace: "3scale",
                service_account: "host",
            },
            &rules,
        );
        assert_eq!(
            objects[1]["rules"][0]["resourceNames"],
            json!(["system-seed"])
        );
        assert!(objects[1]["rules"][1].get("resourceNames").is_none());
        assert_eq!(objects[2]["subjects"][0]["namespace"], "3scale");
        assert_eq!(
            objects[2]["roleRef"]["name"],
            objects[1]["metadata"]["name"]
        );
        let text = yaml(&["made by a test".into()], &objects);
        assert!(text.starts_with("# made by a test\n---\napiVersion: v1\nkind: ServiceAccount\n"));
        assert_eq!(text.matches("\n---\n").count(), 3, "three documents");
    }
}
