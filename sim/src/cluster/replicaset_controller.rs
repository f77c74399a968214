//! kube-controller-manager's replica set controller (pkg/controller/replicaset): keeps as
//! many active pods as the ReplicaSet asks for, records SuccessfulCreate and
//! SuccessfulDelete, and reports what its pods are.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::events::Kind;
use super::owners::{controller_of, owned};
use super::{Cluster, supervisor, watch};
use crate::resources::{PODS, REPLICASETS};

const LATENCY: Duration = Duration::from_millis(10);
const COMPONENT: &str = "replicaset-controller";

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for rs in c.store.list(&REPLICASETS, Some(&c.namespace)).0 {
                c.queues
                    .replicasets
                    .add_after(rs["metadata"]["name"].as_str().unwrap_or_default(), LATENCY);
            }
        },
        |c, event| match event.plural {
            "replicasets" => c.queues.replicasets.add_after(
                event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default(),
                LATENCY,
            ),
            "pods" => {
                if let Some((kind, owner, _)) = controller_of(&event.object)
                    && kind == "ReplicaSet"
                {
                    c.queues.replicasets.add_after(&owner, LATENCY);
                }
            }
            _ => {}
        },
    );
    watch::spawn_worker(cluster, |c| &c.queues.replicasets, sync);
}

fn is_active(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && !matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn sync(cluster: &Arc<Cluster>, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(rs) = cluster.store.get(&REPLICASETS, &ns, name) else {
        return;
    };
    let uid = rs["metadata"]["uid"].as_str().unwrap_or_default();
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deployment = controller_of(&rs).map(|(_, n, _)| n).unwrap_or_default();
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let mut active: Vec<Value> = owned(&cluster.store, &PODS, &ns, uid)
        .into_iter()
        .filter(is_active)
        .collect();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let have = active.len();
    if have < want {
        // Pods run only what the simulator knows how to run: 3scale's deployments.
        if let Some(template) = crate::pod::templates::find(&deployment) {
            for _ in have..want {
                if let Some(pod) = supervisor::start_pod(cluster, &deployment, &hash, template, &rs)
                {
                    cluster.event(
                        &rs,
                        Kind::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pod}"),
                        COMPONENT,
                    );
                }
            }
        }
    } else if have > want {
        // Not-ready pods go first, then the newest (controller.ActivePods ordering).
        active.sort_by(|a, b| {
            is_ready(a).cmp(&is_ready(b)).then_with(|| {
                b["metadata"]["creationTimestamp"]
                    .as_str()
                    .cmp(&a["metadata"]["creationTimestamp"].as_str())
            })
        });
        for pod in &active[..have - want] {
            let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
            if cluster.delete_pod(pod_name) {
                cluster.event(
                    &rs,
                    Kind::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pod_name}"),
                    COMPONENT,
                );
            }
        }
    }
    let mut status = Map::new();
    status.insert("replicas".into(), json!(have));
    for (field, value) in [
        ("fullyLabeledReplicas", have),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
    ] {
        if value != 0 {
            status.insert(field.into(), json!(value));
        }
    }
    status.insert(
        "observedGeneration".into(),
        rs["metadata"]["generation"].clone(),
    );
    let _ = cluster.store.modify(&REPLICASETS, &ns, name, |r| {
        r["status"] = Value::Object(status);
        Ok(())
    });
}
