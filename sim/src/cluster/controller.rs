//! The deployment controller: keeps each deployment's pods at its replicas and template
//! (Recreate strategy: old pods are gone before new ones start, as the databases' volumes
//! need), and reports status as the pods really are.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{Cluster, PodState};
use crate::resources::{APIMANAGERS, DEPLOYMENTS};
use crate::store::EventType;

pub fn spawn(cluster: Arc<Cluster>, mut queue: mpsc::UnboundedReceiver<String>) {
    // Changes to deployments and the APIManager come from the API; react to them.
    let watcher = cluster.clone();
    tokio::spawn(async move {
        let Some((_, mut events)) = watcher.store.watch_from(watcher.store.resource_version())
        else {
            return;
        };
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    super::operator::sync_all(&watcher);
                    for d in watcher.store.list(&DEPLOYMENTS, Some(&watcher.namespace)).0 {
                        watcher.enqueue(d["metadata"]["name"].as_str().unwrap_or_default());
                    }
                    continue;
                }
                Err(_) => return,
            };
            if event.namespace != watcher.namespace {
                continue;
            }
            let name = event.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if event.plural == APIMANAGERS.plural && event.kind != EventType::Deleted {
                super::operator::sync(&watcher, &event.object);
            } else if event.plural == DEPLOYMENTS.plural {
                if event.kind != EventType::Deleted {
                    super::operator::enforce(&watcher, &name);
                }
                watcher.enqueue(&name);
            }
        }
    });
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = BTreeSet::from([first]);
            while let Ok(more) = queue.try_recv() {
                batch.insert(more);
            }
            for deployment in batch {
                if !cluster.is_stopping() {
                    reconcile(&cluster, &deployment);
                }
            }
        }
    });
}

pub fn template_hash(deployment: &Value) -> String {
    let template = deployment["spec"]["template"].to_string();
    hex::encode(Sha256::digest(template.as_bytes()))[..10].to_string()
}

fn reconcile(cluster: &Arc<Cluster>, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(deployment) = cluster.store.get(&DEPLOYMENTS, &ns, name) else {
        let owned: Vec<String> = pods_of(cluster, name)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        for pod in owned {
            cluster.request_stop(&pod);
        }
        return;
    };
    let want = deployment["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let hash = template_hash(&deployment);
    let pods = pods_of(cluster, name);
    for (pod, pod_hash, state) in &pods {
        if *pod_hash != hash && *state != PodState::Terminating {
            cluster.request_stop(pod);
        }
    }
    let old_left = pods.iter().any(|(_, h, _)| *h != hash);
    let mut current: Vec<&(String, String, PodState)> = pods
        .iter()
        .filter(|(_, h, s)| *h == hash && *s != PodState::Terminating)
        .collect();
    if current.len() > want {
        // Newest (still starting) go first, as a ReplicaSet scales down.
        current.sort_by_key(|(_, _, s)| if *s == PodState::Starting { 0 } else { 1 });
        for (pod, _, _) in current.drain(..current.len() - want) {
            cluster.request_stop(pod);
        }
    } else if current.len() < want
        && !old_left
        && let Some(template) = crate::pod::templates::find(name)
    {
        for _ in current.len()..want {
            super::supervisor::start_pod(cluster, name, &hash, template, &deployment);
        }
    }
    update_status(cluster, name, &hash);
}

fn pods_of(cluster: &Cluster, deployment: &str) -> Vec<(String, String, PodState)> {
    let pods = cluster.pods.lock().unwrap();
    pods.iter()
        .filter(|(_, s)| s.deployment == deployment)
        .map(|(n, s)| (n.clone(), s.hash.clone(), s.state))
        .collect()
}

pub fn update_status(cluster: &Cluster, name: &str, hash: &str) {
    let pods = pods_of(cluster, name);
    let total = pods.len() as i64;
    let updated = pods
        .iter()
        .filter(|(_, h, s)| h == hash && *s != PodState::Terminating)
        .count() as i64;
    let ready = pods
        .iter()
        .filter(|(_, h, s)| h == hash && *s == PodState::Running)
        .count() as i64;
    let ns = cluster.namespace.clone();
    let _ = cluster.store.modify(&DEPLOYMENTS, &ns, name, |d| {
        let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let complete = updated == want && ready == want && total == want;
        let now = crate::store::now();
        let previous = d["status"]["conditions"].clone();
        let since = |kind: &str, status: &str| {
            previous
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == kind && c["status"] == status))
                .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
                .unwrap_or_else(|| now.clone())
        };
        let available = if ready >= want { "True" } else { "False" };
        let (reason, message) = if complete {
            ("NewReplicaSetAvailable", format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{name}-{hash}\" is progressing."))
        };
        d["status"] = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": (want - ready).max(0),
            "conditions": [
                {"type": "Available", "status": available,
                 "reason": if available == "True" { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                 "message": format!("Deployment has {} minimum availability.", if available == "True" { "" } else { "no" }),
                 "lastUpdateTime": since("Available", available), "lastTransitionTime": since("Available", available)},
                {"type": "Progressing", "status": "True", "reason": reason, "message": message,
                 "lastUpdateTime": since("Progressing", "True"), "lastTransitionTime": since("Progressing", "True")}
            ]
        });
        Ok(())
    });
    cluster.notify_changed();
}
