//! Before a restore changes anything: every request the plugins' grants may make, asked
//! of the API server, so that a missing permission refuses the run instead of failing it
//! half-way, with system-app down.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::Rule;
use crate::cluster::{Access, Cluster};
use crate::error::Result;

/// One request asked about (rule, verb, name) and the server's answer.
type Answer<'a> = (&'a Rule, &'a str, Option<&'a str>, Option<bool>);

/// What is missing, in RBAC's words and grouped (`get,patch deployments.apps: system-app,
/// zync`), or `None` when the server cannot say.
pub async fn missing(cluster: &Cluster, rules: &[Rule]) -> Result<Option<Vec<String>>> {
    let mut asks = Vec::new();
    for rule in rules {
        for verb in &rule.verbs {
            if rule.names.is_empty() {
                asks.push((rule, verb.as_str(), None));
            } else {
                asks.extend(
                    rule.names
                        .iter()
                        .map(|n| (rule, verb.as_str(), Some(n.as_str()))),
                );
            }
        }
    }
    let answers: Vec<Result<Answer>> = futures::stream::iter(asks)
        .map(|(rule, verb, name)| async move {
            let allowed = cluster
                .can(&Access {
                    verb,
                    group: &rule.api_group,
                    resource: &rule.resource,
                    name,
                })
                .await?;
            Ok((rule, verb, name, allowed))
        })
        .buffered(8)
        .collect()
        .await;
    // (resource, name) -> the verbs denied on it.
    let mut denied: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for answer in answers {
        match answer? {
            (_, _, _, None) => return Ok(None),
            (rule, verb, name, Some(false)) => {
                denied
                    .entry((rule.qualified_resource(), name.unwrap_or("").to_string()))
                    .or_default()
                    .insert(verb.to_string());
            }
            (_, _, _, Some(true)) => {}
        }
    }
    // (verbs, resource) -> names: one phrase per kind of refusal.
    let mut phrases: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for ((resource, name), verbs) in denied {
        let verbs: Vec<String> = verbs.into_iter().collect();
        phrases
            .entry((verbs.join(","), resource))
            .or_default()
            .push(name);
    }
    Ok(Some(
        phrases
            .into_iter()
            .map(|((verbs, resource), names)| {
                let names: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
                if names.is_empty() {
                    format!("{verbs} {resource}")
                } else {
                    format!("{verbs} {resource}: {}", names.join(", "))
                }
            })
            .collect(),
    ))
}
