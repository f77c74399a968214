//! kube-controller-manager's replica set controller (pkg/controller/replicaset): keeps as
//! many active pods as the ReplicaSet asks for, records SuccessfulCreate and
//! SuccessfulDelete, and reports what its pods are. The same code runs as the replication
//! manager for ReplicationControllers (pkg/controller/replication wraps the replica set
//! controller), whose pods a 3scale 2.14 DeploymentConfig's deployments own.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::events::Kind as EventKind;
use super::owners::{controller_of, owned};
use super::supervisor::PodOwner;
use super::workqueue::WorkQueue;
use super::{Cluster, supervisor, watch};
use crate::resources::{PODS, REPLICASETS, REPLICATION_CONTROLLERS, ResourceType};

const LATENCY: Duration = Duration::from_millis(10);

/// What differs between the two controllers.
struct Kind {
    rt: &'static ResourceType,
    component: &'static str,
    queue: fn(&Cluster) -> &WorkQueue,
}

const REPLICA_SETS: Kind = Kind {
    rt: &REPLICASETS,
    component: "replicaset-controller",
    queue: |c| &c.queues.replicasets,
};

const REPLICATION: Kind = Kind {
    rt: &REPLICATION_CONTROLLERS,
    component: "replication-controller",
    queue: |c| &c.queues.replicationcontrollers,
};

pub fn spawn(cluster: Arc<Cluster>) {
    spawn_kind(cluster.clone(), &REPLICA_SETS);
    if cluster.options.release.serves(&REPLICATION_CONTROLLERS) {
        spawn_kind(cluster, &REPLICATION);
    }
}

fn spawn_kind(cluster: Arc<Cluster>, kind: &'static Kind) {
    watch::spawn_informer(
        cluster.clone(),
        move |c| {
            for rs in c.store.list(kind.rt, Some(&c.namespace)).0 {
                (kind.queue)(c)
                    .add_after(rs["metadata"]["name"].as_str().unwrap_or_default(), LATENCY);
            }
        },
        move |c, event| {
            if event.plural == kind.rt.plural {
                (kind.queue)(c).add_after(
                    event.object["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default(),
                    LATENCY,
                );
            } else if event.plural == "pods"
                && let Some((owner_kind, owner, _)) = controller_of(&event.object)
                && owner_kind == kind.rt.kind
            {
                (kind.queue)(c).add_after(&owner, LATENCY);
            }
        },
    );
    watch::spawn_worker(cluster, kind.queue, move |c, name| sync(c, kind, name));
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

fn sync(cluster: &Arc<Cluster>, kind: &Kind, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(rs) = cluster.store.get(kind.rt, &ns, name) else {
        return;
    };
    let uid = rs["metadata"]["uid"].as_str().unwrap_or_default();
    // The workload (Deployment or DeploymentConfig) whose pods these are.
    let deployment = controller_of(&rs).map(|(_, n, _)| n).unwrap_or_default();
    let owner = if kind.rt.plural == REPLICASETS.plural {
        let hash = rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        PodOwner {
            workload: deployment.clone(),
            generate_name: format!("{deployment}-{hash}-"),
            extra_labels: json!({"pod-template-hash": hash}),
            revision: hash,
            controller: &rs,
        }
    } else {
        // A ReplicationController's pods: generateName `NAME-VERSION-`, no hash label
        // (pkg/controller/controller_utils.go getPodsPrefix).
        PodOwner {
            workload: deployment.clone(),
            generate_name: format!("{name}-"),
            extra_labels: json!({}),
            revision: name.to_string(),
            controller: &rs,
        }
    };
    let want = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    // Only the pods it controls: a deployment's deployer and hook pods name their RC as
    // an owner, not as their controller.
    let mut active: Vec<Value> = owned(&cluster.store, &PODS, &ns, uid)
        .into_iter()
        .filter(|p| controller_of(p).is_some_and(|(_, _, u)| u == uid))
        .filter(is_active)
        .collect();
    let ready = active.iter().filter(|p| is_ready(p)).count();
    let have = active.len();
    if have < want {
        // Pods run only what the simulator knows how to run: 3scale's deployments.
        if let Some(template) = crate::pod::templates::find(&deployment) {
            for _ in have..want {
                if let Some(pod) = supervisor::start_pod(cluster, template, &owner) {
                    cluster.event(
                        &rs,
                        EventKind::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pod}"),
                        kind.component,
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
                    EventKind::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pod_name}"),
                    kind.component,
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
    let _ = cluster.store.modify(kind.rt, &ns, name, |r| {
        r["status"] = Value::Object(status);
        Ok(())
    });
}
