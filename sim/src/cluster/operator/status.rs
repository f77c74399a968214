//! The APIManager's status (controllers/apps/apimanager_status_reconciler.go; 2.14: the
//! same from DeploymentConfigs, without preflights and their requeue): the
//! `Available` condition (every expected Deployment it owns is available; routes count as
//! ready), the `Preflights` condition, and the deployments listed as ready, starting or
//! stopped (operator-utils olm.GetDeploymentStatus). While the APIManager was not
//! available before this reconcile, the operator requeues.

use serde_json::{Value, json};

use super::Ctx;
use crate::SimError;
use crate::cluster::owners::is_owned_by;
use crate::release::Release;
use crate::resources::APIMANAGERS;

/// component.DeploymentsLister for internal MySQL, Redis and zync database.
const EXPECTED: &[&str] = &[
    "apicast-production",
    "apicast-staging",
    "backend-cron",
    "backend-listener",
    "backend-redis",
    "backend-worker",
    "system-app",
    "system-memcache",
    "system-mysql",
    "system-redis",
    "system-searchd",
    "system-sidekiq",
    "zync",
    "zync-database",
    "zync-que",
];

fn is_true(conditions: &Value, kind: &str) -> bool {
    conditions
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

/// Returns whether the operator requeues (the APIManager was not available).
pub fn reconcile(ctx: &Ctx) -> crate::Result<bool> {
    let name = ctx.name().to_string();
    let Some(mut current) = ctx.get(&APIMANAGERS, &name) else {
        return Ok(false);
    };
    let uid = current["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let was_available = is_true(&current["status"]["conditions"], "Available");
    let deployments: Vec<Value> = EXPECTED
        .iter()
        .filter_map(|d| ctx.get(ctx.release().workload(), d))
        .filter(|d| is_owned_by(d, &uid))
        .collect();
    let all_available = deployments.len() == EXPECTED.len()
        && deployments.iter().all(|d| ctx.deployment_available(d));
    let (mut ready, mut starting, mut stopped) = (vec![], vec![], vec![]);
    for d in &deployments {
        let name = d["metadata"]["name"].clone();
        let spec = d["spec"]["replicas"].as_i64().unwrap_or(0);
        let replicas = d["status"]["replicas"].as_i64().unwrap_or(0);
        let ready_replicas = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
        if spec == 0 || replicas == 0 {
            stopped.push(name);
        } else if ready_replicas < replicas {
            starting.push(name);
        } else {
            ready.push(name);
        }
    }
    let now = crate::store::now();
    let mut conditions: Vec<Value> = current["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut set = |kind: &str, status: &str, reason: Option<&str>, message: Option<&str>| {
        let previous = conditions.iter().position(|c| c["type"] == kind);
        let transition = previous
            .map(|i| &conditions[i])
            .filter(|c| c["status"] == status)
            .map(|c| c["lastTransitionTime"].clone())
            .unwrap_or(json!(now));
        let mut c = json!({"type": kind, "status": status, "lastTransitionTime": transition});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        match previous {
            Some(i) => conditions[i] = c,
            None => conditions.push(c),
        }
    };
    set(
        "Available",
        if all_available { "True" } else { "False" },
        None,
        None,
    );
    // 2.14 has no preflights (3scale-2.14-stable apimanager_status_reconciler.go:68-88).
    if ctx.release() == Release::V2_15 {
        set(
            "Preflights",
            "True",
            Some("PreflightsPass"),
            Some("All requirements for the current version are met"),
        );
    }
    let mut deployment_status = json!({});
    for (key, list) in [
        ("ready", ready),
        ("starting", starting),
        ("stopped", stopped),
    ] {
        if !list.is_empty() {
            deployment_status[key] = json!(list);
        }
    }
    let status = json!({"conditions": conditions, "deployments": deployment_status});
    if status == current["status"] && was_available {
        return Ok(false);
    }
    current["status"] = status;
    ctx.update(&APIMANAGERS, current)
        .map_err(|e| SimError::Other(format!("Failed to update APIManager status: {e}")))?;
    // 2.14 requeues only on a conflict (apimanager_status_reconciler.go:38-65).
    Ok(!was_available && !ctx.install && ctx.release() == Release::V2_15)
}
