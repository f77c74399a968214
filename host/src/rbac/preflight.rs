//! Before a restore changes anything: every request the plugins' grants may make, asked
//! of the API server, so that a missing permission refuses the run instead of failing it
//! half-way, with system-app down.

use futures::StreamExt;

use super::Rule;
use crate::cluster::{Access, Cluster};
use crate::error::Result;

/// What is missing, in RBAC's words (`update secrets system-seed`), or `None` when the
/// server cannot say.
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
    let answers: Vec<Result<(String, Option<bool>)>> = futures::stream::iter(asks)
        .map(|(rule, verb, name)| async move {
            let allowed = cluster
                .can(&Access {
                    verb,
                    group: &rule.api_group,
                    resource: &rule.resource,
                    name,
                })
                .await?;
            let group = if rule.api_group.is_empty() {
                String::new()
            } else {
                format!(".{}", rule.api_group)
            };
            let what = match name {
                Some(n) => format!("{verb} {}{group} {n}", rule.resource),
                None => format!("{verb} {}{group}", rule.resource),
            };
            Ok((what, allowed))
        })
        .buffered(8)
        .collect()
        .await;
    let mut denied = Vec::new();
    for answer in answers {
        match answer? {
            (_, None) => return Ok(None),
            (what, Some(false)) => denied.push(what),
            (_, Some(true)) => {}
        }
    }
    Ok(Some(denied))
}
