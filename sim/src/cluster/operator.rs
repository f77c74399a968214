//! The 3scale operator's effect that the backup/restore procedure relies on: replicas in
//! the APIManager's component specs drive the deployments. A spec without `replicas`
//! leaves its deployment alone (so a restore must scale it up by hand, as the manual says).

use serde_json::{Value, json};

use super::Cluster;
use crate::resources::{APIMANAGERS, DEPLOYMENTS};

/// (JSON pointer in the APIManager, deployment it drives)
pub const MANAGED: &[(&str, &str)] = &[
    ("/spec/system/appSpec", "system-app"),
    ("/spec/system/sidekiqSpec", "system-sidekiq"),
    ("/spec/system/searchdSpec", "system-searchd"),
    ("/spec/backend/listenerSpec", "backend-listener"),
    ("/spec/backend/workerSpec", "backend-worker"),
    ("/spec/backend/cronSpec", "backend-cron"),
    ("/spec/apicast/productionSpec", "apicast-production"),
    ("/spec/apicast/stagingSpec", "apicast-staging"),
    ("/spec/zync/appSpec", "zync"),
    ("/spec/zync/queSpec", "zync-que"),
];

pub fn sync_all(cluster: &Cluster) {
    for apimanager in cluster.store.list(&APIMANAGERS, Some(&cluster.namespace)).0 {
        sync(cluster, &apimanager);
    }
}

pub fn sync(cluster: &Cluster, apimanager: &Value) {
    for (pointer, deployment) in MANAGED {
        if let Some(replicas) = wanted(apimanager, pointer) {
            set_replicas(cluster, deployment, replicas);
        }
    }
}

/// Reverts a direct change to a deployment's replicas that its APIManager spec governs,
/// as the operator's reconcile loop does.
pub fn enforce(cluster: &Cluster, deployment: &str) {
    let Some((pointer, _)) = MANAGED.iter().find(|(_, d)| *d == deployment) else {
        return;
    };
    for apimanager in cluster.store.list(&APIMANAGERS, Some(&cluster.namespace)).0 {
        if let Some(replicas) = wanted(&apimanager, pointer) {
            set_replicas(cluster, deployment, replicas);
        }
    }
}

fn wanted(apimanager: &Value, pointer: &str) -> Option<i64> {
    apimanager.pointer(&format!("{pointer}/replicas"))?.as_i64()
}

fn set_replicas(cluster: &Cluster, deployment: &str, replicas: i64) {
    let ns = cluster.namespace.clone();
    let current = cluster
        .store
        .get(&DEPLOYMENTS, &ns, deployment)
        .and_then(|d| d["spec"]["replicas"].as_i64());
    if current.is_some() && current != Some(replicas) {
        let _ = cluster.store.modify(&DEPLOYMENTS, &ns, deployment, |d| {
            d["spec"]["replicas"] = json!(replicas);
            Ok(())
        });
    }
}
