//! RBAC's vocabulary: a rule of a Role, as the capabilities say which API requests their
//! calls make (`capabilities::pods::rbac`, ...) and as `rbac::preflight` asks about them.

use std::collections::BTreeSet;

/// One RBAC rule: verbs on one resource of one API group, optionally only some names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub api_group: String,
    /// `pods`, or a subresource such as `pods/exec`.
    pub resource: String,
    /// Empty: any name.
    pub names: BTreeSet<String>,
    pub verbs: BTreeSet<String>,
}

impl Rule {
    pub fn new(api_group: &str, resource: &str, verbs: &[&str], names: Option<&[String]>) -> Rule {
        Rule {
            api_group: api_group.to_string(),
            resource: resource.to_string(),
            names: names.into_iter().flatten().cloned().collect(),
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// For a grant on a kind: the API group of `apps/v1` ("apps") or `v1` ("").
    pub fn for_kind(
        api_version: &str,
        kind: &str,
        verbs: &[&str],
        names: Option<&[String]>,
    ) -> Rule {
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        Rule::new(group, &resource_of(kind), verbs, names)
    }

    /// `deployments.apps`, `secrets`: the resource as kubectl names it.
    pub fn qualified_resource(&self) -> String {
        if self.api_group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.api_group)
        }
    }

    /// `get secrets system-seed` and the like, for messages.
    pub fn words(&self) -> String {
        let verbs: Vec<&str> = self.verbs.iter().map(String::as_str).collect();
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let what = format!("{} {}", verbs.join(","), self.qualified_resource());
        if names.is_empty() {
            what
        } else {
            format!("{what} {}", names.join(","))
        }
    }
}

/// The resource (plural) of a kind, as client-go guesses it when no discovery is at hand
/// (k8s.io/apimachinery pkg/api/meta/restmapper.go `UnsafeGuessKindToResource`):
/// lowercase, then `-s` to `-ses`, `-y` to `-ies`, else `+s`. `host rbac` runs without a
/// cluster; every kind the 3scale plugins name (Secret, ConfigMap, Deployment,
/// APIManager, DeploymentConfig) is regular.
pub fn resource_of(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_become_resources_as_client_go_guesses() {
        assert_eq!(resource_of("Secret"), "secrets");
        assert_eq!(resource_of("APIManager"), "apimanagers");
        assert_eq!(resource_of("DeploymentConfig"), "deploymentconfigs");
        assert_eq!(resource_of("Ingress"), "ingresses");
        assert_eq!(resource_of("NetworkPolicy"), "networkpolicies");
    }
}
