//! RBAC policy rules and whether one allows a request: plugin/pkg/auth/authorizer/rbac/
//! rbac.go `RuleAllows` with the matchers of pkg/apis/rbac/v1/evaluation_helpers.go.

use serde_json::{Value, json};

use super::attributes::Attributes;

/// rbacv1.PolicyRule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// `rbacv1.VerbAll`, `APIGroupAll`, `ResourceAll`, `NonResourceAll`.
const ALL: &str = "*";

impl PolicyRule {
    /// A rule of a Role as stored (`rules[i]`); absent lists are empty.
    pub fn from_json(rule: &Value) -> PolicyRule {
        let list = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        };
        PolicyRule {
            verbs: list("verbs"),
            api_groups: list("apiGroups"),
            resources: list("resources"),
            resource_names: list("resourceNames"),
            non_resource_urls: list("nonResourceURLs"),
        }
    }

    /// A resource rule (`rbacv1helpers.NewRule(verbs...).Groups(...).Resources(...)`).
    pub fn resources(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: owned(verbs),
            api_groups: owned(groups),
            resources: owned(resources),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule (`NewRule(verbs...).URLs(...)`).
    pub fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: owned(verbs),
            non_resource_urls: owned(urls),
            ..PolicyRule::default()
        }
    }

    /// rbac.go `RuleAllows`.
    pub fn allows(&self, request: &Attributes) -> bool {
        if request.resource_request {
            self.verb_matches(&request.verb)
                && self.api_group_matches(&request.api_group)
                && self.resource_matches(&request.combined_resource(), &request.subresource)
                && self.resource_name_matches(&request.name)
        } else {
            self.verb_matches(&request.verb) && self.non_resource_url_matches(&request.path)
        }
    }

    fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == ALL || v == verb)
    }

    fn api_group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == ALL || g == group)
    }

    /// `*`, the exact `resource` or `resource/subresource`, or `*/subresource`.
    fn resource_matches(&self, combined: &str, subresource: &str) -> bool {
        self.resources.iter().any(|r| {
            r == ALL
                || r == combined
                || (!subresource.is_empty()
                    && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
        })
    }

    /// No resourceNames: any name. With some, only those, so never a request without a
    /// name (a create, an unnamed list or watch).
    fn resource_name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// `*`, the exact path, or a prefix ending in `*`.
    fn non_resource_url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == ALL
                || u == path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| path.starts_with(prefix))
        })
    }

    /// As SelfSubjectRulesReview's status lists it (authorization/v1 ResourceRule).
    pub fn resource_rule_json(&self) -> Value {
        let mut rule =
            json!({"verbs": self.verbs, "apiGroups": self.api_groups, "resources": self.resources});
        if !self.resource_names.is_empty() {
            rule["resourceNames"] = json!(self.resource_names);
        }
        rule
    }

    /// authorization/v1 NonResourceRule.
    pub fn non_resource_rule_json(&self) -> Value {
        json!({"verbs": self.verbs, "nonResourceURLs": self.non_resource_urls})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn request(method: Method, url: &str) -> Attributes {
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (url, None),
        };
        Attributes::of(&method, path, query).unwrap()
    }

    fn rule(yaml: &str) -> PolicyRule {
        PolicyRule::from_json(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn a_rule_matches_verb_group_resource_and_name() {
        let get_pods = rule("{verbs: [get, list], apiGroups: [''], resources: [pods]}");
        assert!(get_pods.allows(&request(Method::GET, "/api/v1/namespaces/n/pods/p")));
        assert!(get_pods.allows(&request(Method::GET, "/api/v1/namespaces/n/pods")));
        assert!(!get_pods.allows(&request(Method::GET, "/api/v1/namespaces/n/pods?watch=1")));
        assert!(!get_pods.allows(&request(Method::GET, "/api/v1/namespaces/n/pods/p/exec")));
        assert!(!get_pods.allows(&request(
            Method::GET,
            "/apis/apps/v1/namespaces/n/deployments/p"
        )));

        let exec = rule("{verbs: [create], apiGroups: [''], resources: [pods/exec]}");
        assert!(exec.allows(&request(Method::POST, "/api/v1/namespaces/n/pods/p/exec")));
        assert!(!exec.allows(&request(Method::GET, "/api/v1/namespaces/n/pods/p/exec")));
        assert!(!exec.allows(&request(Method::POST, "/api/v1/namespaces/n/pods/p/attach")));

        let any_scale = rule("{verbs: ['*'], apiGroups: ['*'], resources: ['*/scale']}");
        assert!(any_scale.allows(&request(
            Method::PATCH,
            "/apis/apps/v1/namespaces/n/deployments/d/scale"
        )));
        assert!(!any_scale.allows(&request(
            Method::PATCH,
            "/apis/apps/v1/namespaces/n/deployments/d"
        )));

        let everything = rule("{verbs: ['*'], apiGroups: ['*'], resources: ['*']}");
        assert!(everything.allows(&request(
            Method::DELETE,
            "/apis/apps/v1/namespaces/n/deployments"
        )));
        assert!(!everything.allows(&request(Method::GET, "/sim/v1/events")));
    }

    #[test]
    fn resource_names_allow_only_requests_that_name_one_of_them() {
        let named = rule(
            "{verbs: [get, list, watch, create], apiGroups: [apps], resources: [deployments], resourceNames: [system-app]}",
        );
        assert!(named.allows(&request(
            Method::GET,
            "/apis/apps/v1/namespaces/n/deployments/system-app"
        )));
        assert!(!named.allows(&request(
            Method::GET,
            "/apis/apps/v1/namespaces/n/deployments/zync"
        )));
        assert!(!named.allows(&request(
            Method::GET,
            "/apis/apps/v1/namespaces/n/deployments"
        )));
        assert!(!named.allows(&request(
            Method::POST,
            "/apis/apps/v1/namespaces/n/deployments"
        )));
        assert!(named.allows(&request(
            Method::GET,
            "/apis/apps/v1/namespaces/n/deployments?watch=true&fieldSelector=metadata.name%3Dsystem-app"
        )));
    }

    #[test]
    fn non_resource_rules_match_paths_and_prefixes() {
        let discovery = PolicyRule::urls(&["get"], &["/api", "/api/*", "/version"]);
        assert!(discovery.allows(&request(Method::GET, "/api")));
        assert!(discovery.allows(&request(Method::GET, "/api/v1")));
        assert!(discovery.allows(&request(Method::GET, "/version")));
        assert!(!discovery.allows(&request(Method::GET, "/version/x")));
        assert!(!discovery.allows(&request(Method::POST, "/api")));
        assert!(!discovery.allows(&request(Method::GET, "/api/v1/namespaces/n/pods")));
    }
}
