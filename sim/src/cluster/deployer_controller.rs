//! openshift-controller-manager's deployer controller (pkg/apps/deployer/
//! deployer_controller.go `handle`): a new deployment (phase New) gets its deployer pod
//! `NAME-VERSION-deploy`, and the deployment's phase then follows that pod: Pending,
//! Running, Complete when it succeeds, Failed when it fails or disappears. A cancelled
//! deployment's deployer and hook pods are deleted. Deployer pods of finished deployments
//! are kept, as OpenShift keeps them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::appsutil::{self as au, Phase};
use super::events::Kind;
use super::{Cluster, deployer, watch};
use crate::resources::{PODS, REPLICATION_CONTROLLERS};

const LATENCY: Duration = Duration::from_millis(10);
const COMPONENT: &str = "deployer-controller";

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for rc in c.store.list(&REPLICATION_CONTROLLERS, Some(&c.namespace)).0 {
                c.queues.deployer.add_after(au::name_of(&rc), LATENCY);
            }
        },
        |c, event| match event.plural {
            "replicationcontrollers" => c
                .queues
                .deployer
                .add_after(au::name_of(&event.object), LATENCY),
            "pods" => {
                if let Some(rc) = event.object["metadata"]["labels"][au::DEPLOYER_POD_FOR].as_str()
                {
                    c.queues.deployer.add_after(rc, LATENCY);
                }
            }
            _ => {}
        },
    );
    watch::spawn_worker(cluster, |c| &c.queues.deployer, sync);
}

/// deployer_controller.go handle:103-298.
fn sync(cluster: &Arc<Cluster>, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(rc) = cluster.store.get(&REPLICATION_CONTROLLERS, &ns, name) else {
        return;
    };
    let Some(current) = au::phase(&rc) else {
        // Not a deployment of a DeploymentConfig.
        return;
    };
    let mut annotations = rc["metadata"]["annotations"].clone();
    let pod_name = au::deployer_pod_name(name);
    let deployer = cluster.store.get(&PODS, &ns, &pod_name);
    let mut next = current;
    if let Some(pod) = &deployer {
        next = next_phase(cluster, &rc, pod, &mut annotations);
    }
    match current {
        Phase::New => {
            if au::is_cancelled(&rc) {
                next = Phase::Pending;
                cleanup_pods(cluster, name);
            } else {
                match &deployer {
                    None => match deployer::start(cluster, &rc) {
                        Some(pod) => {
                            annotations[au::DEPLOYER_POD] = json!(pod_name);
                            annotations[au::DEPLOYER_POD_CREATED_AT] =
                                json!(go_time(&pod["metadata"]["creationTimestamp"]));
                            next = Phase::Pending;
                        }
                        None => {
                            cluster.event(
                                &rc,
                                Kind::Warning,
                                "FailedCreate",
                                "Error creating deployer pod",
                                COMPONENT,
                            );
                            return;
                        }
                    },
                    Some(pod) => {
                        if pod["metadata"]["annotations"][au::DEPLOYMENT] != name {
                            next = Phase::Failed;
                            annotations[au::STATUS_REASON] = json!(
                                "unrelated pod with the same name as this deployment is already running"
                            );
                        } else {
                            annotations[au::DEPLOYER_POD] = json!(pod_name);
                            if Phase::Pending.can_become(next) {
                                // nextStatusComp: the deployer pod's phase if it is ahead.
                            } else {
                                next = Phase::Pending;
                            }
                        }
                    }
                }
            }
        }
        Phase::Pending | Phase::Running => match &deployer {
            None => {
                next = Phase::Failed;
                if !au::is_cancelled(&rc) {
                    annotations[au::STATUS_REASON] = json!(au::DEPLOYER_POD_GONE);
                    cluster.event(
                        &rc,
                        Kind::Warning,
                        "Failed",
                        &format!("Deployer pod \"{pod_name}\" has gone missing"),
                        COMPONENT,
                    );
                }
            }
            Some(_) => {
                if au::is_cancelled(&rc) {
                    cleanup_pods(cluster, name);
                }
            }
        },
        Phase::Failed => {
            if au::is_cancelled(&rc) {
                cleanup_pods(cluster, name);
            }
        }
        Phase::Complete => {}
    }
    if !current.can_become(next) {
        return;
    }
    annotations[au::PHASE] = json!(next.as_str());
    let updated = cluster
        .store
        .modify(&REPLICATION_CONTROLLERS, &ns, name, |r| {
            r["metadata"]["annotations"] = annotations;
            Ok(())
        });
    if let Ok(rc) = updated
        && next == Phase::Failed
        && au::is_cancelled(&rc)
    {
        cluster.event(
            &rc,
            Kind::Normal,
            "RolloutCancelled",
            &format!("Rollout for \"{ns}/{name}\" cancelled"),
            COMPONENT,
        );
    }
}

/// nextStatus:300-334: the phase the deployer pod's phase means.
fn next_phase(cluster: &Cluster, rc: &Value, pod: &Value, annotations: &mut Value) -> Phase {
    let finished =
        || pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"].clone();
    match pod["status"]["phase"].as_str() {
        Some("Pending") => Phase::Pending,
        Some("Running") => Phase::Running,
        Some("Succeeded") => {
            if au::is_cancelled(rc) {
                if let Some(a) = annotations.as_object_mut() {
                    a.remove(au::STATUS_REASON);
                    a.remove(au::CANCELLED);
                }
                cluster.event(
                    rc,
                    Kind::Warning,
                    "FailedCancellation",
                    "Succeeded before cancel recorded",
                    COMPONENT,
                );
            }
            annotations[au::DEPLOYER_POD_COMPLETED_AT] = json!(go_time(&finished()));
            // The replica count the deployer reached; the target is gone, so a second
            // deployer run finds nothing to do (deployer.go deploymentDesiredReplicas).
            annotations[au::REPLICAS] = annotations[au::DESIRED_REPLICAS].clone();
            if let Some(a) = annotations.as_object_mut() {
                a.remove(au::DESIRED_REPLICAS);
            }
            Phase::Complete
        }
        Some("Failed") => {
            annotations[au::DEPLOYER_POD_COMPLETED_AT] = json!(go_time(&finished()));
            Phase::Failed
        }
        _ => Phase::New,
    }
}

/// A timestamp as Go's `metav1.Time.String()` writes it, as these annotations hold it.
fn go_time(rfc3339: &Value) -> String {
    rfc3339
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// cleanupDeployerPods: the deployer pod and hook pods of a cancelled deployment.
fn cleanup_pods(cluster: &Cluster, rc_name: &str) {
    for pod in cluster.store.list(&PODS, Some(&cluster.namespace)).0 {
        if pod["metadata"]["labels"][au::DEPLOYER_POD_FOR] == rc_name {
            cluster.delete_pod(au::name_of(&pod));
        }
    }
}
