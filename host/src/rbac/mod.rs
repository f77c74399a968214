//! Least privilege for running `host` in the cluster: the Kubernetes RBAC rules that
//! exactly a set of plugins' grants need, with the host's own reads, as a ServiceAccount,
//! Role and RoleBinding for `kubectl apply -f -`.
//!
//! Each capability module says which API requests its calls make (`pods::rbac`,
//! `objects::rbac`, `rollout::rbac`); this module only gathers, merges and prints them.
//! RBAC is coarser than a grant: it cannot say "pods matching this selector", "only these
//! commands" or "only these JSON paths". The host's own checks stay the fine filter; the
//! Role is the outer wall that holds even if the host were subverted.

pub mod preflight;
pub mod render;

use std::collections::BTreeSet;

use contract::Manifest;

use crate::capabilities;
pub use crate::cluster::rbac::Rule;

/// What the host reads for itself before any plugin runs: which 3scale the namespace
/// runs (run/version.rs lists the APIManagers for their version annotation).
pub fn host_rules() -> Vec<Rule> {
    vec![Rule::new("apps.3scale.net", "apimanagers", &["list"], None)]
}

/// The rules for every plugin's grants and the host's own reads, merged: one rule per
/// (group, resource, names), verbs united; then rules that differ only in names but have
/// the same verbs are joined into one list of names. Sorted, so the output is stable.
pub fn rules_for<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Vec<Rule> {
    let mut all = host_rules();
    for m in manifests {
        all.extend(requests_of(m));
    }
    merge(all)
}

/// The rules one plugin's grants need, merged: what `host inspect` shows.
pub fn plugin_rules(manifest: &Manifest) -> Vec<Rule> {
    merge(requests_of(manifest))
}

fn requests_of(m: &Manifest) -> Vec<Rule> {
    let mut rules = capabilities::pods::rbac(m);
    rules.extend(capabilities::objects::rbac(m));
    rules.extend(capabilities::rollout::rbac(m));
    rules
}

fn merge(rules: Vec<Rule>) -> Vec<Rule> {
    // A verb allowed on any name makes the same verb on some names redundant.
    let any: Vec<Rule> = rules
        .iter()
        .filter(|r| r.names.is_empty())
        .cloned()
        .collect();
    let mut by_name: Vec<Rule> = Vec::new();
    for rule in rules {
        for verb in &rule.verbs {
            let covered = !rule.names.is_empty()
                && any.iter().any(|a| {
                    a.api_group == rule.api_group
                        && a.resource == rule.resource
                        && a.verbs.contains(verb)
                });
            if covered {
                continue;
            }
            let names: Vec<String> = if rule.names.is_empty() {
                vec![String::new()]
            } else {
                rule.names.iter().cloned().collect()
            };
            for name in names {
                let one: BTreeSet<String> = if name.is_empty() {
                    BTreeSet::new()
                } else {
                    BTreeSet::from([name])
                };
                match by_name.iter_mut().find(|r| {
                    r.api_group == rule.api_group && r.resource == rule.resource && r.names == one
                }) {
                    Some(r) => {
                        r.verbs.insert(verb.clone());
                    }
                    None => by_name.push(Rule {
                        api_group: rule.api_group.clone(),
                        resource: rule.resource.clone(),
                        names: one,
                        verbs: BTreeSet::from([verb.clone()]),
                    }),
                }
            }
        }
    }
    // Join the names that share group, resource and verbs.
    let mut joined: Vec<Rule> = Vec::new();
    for rule in by_name {
        match joined.iter_mut().find(|r| {
            r.api_group == rule.api_group
                && r.resource == rule.resource
                && r.verbs == rule.verbs
                && !r.names.is_empty()
                && !rule.names.is_empty()
        }) {
            Some(r) => r.names.extend(rule.names),
            None => joined.push(rule),
        }
    }
    joined.sort();
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_merge_per_name_and_names_join_per_verbs() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rules = merge(vec![
            Rule::new("", "secrets", &["get"], Some(&names(&["a", "b"]))),
            Rule::new("", "secrets", &["update"], Some(&names(&["a"]))),
            Rule::new("", "secrets", &["get", "update"], Some(&names(&["b"]))),
            Rule::new("", "secrets", &["create"], None),
            Rule::new("apps", "deployments", &["get"], None),
            Rule::new(
                "apps",
                "deployments",
                &["get", "patch"],
                Some(&names(&["x"])),
            ),
        ]);
        let words: Vec<String> = rules.iter().map(Rule::words).collect();
        assert_eq!(
            words,
            [
                "create secrets",
                "get,update secrets a,b",
                "get deployments.apps",
                "patch deployments.apps x",
            ]
        );
    }
}
