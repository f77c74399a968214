//! openshift-controller-manager's DeploymentConfig controller
//! (pkg/apps/deploymentconfig/deploymentconfig_controller.go at 26d20fe, `Handle`): it starts a new
//! version when a trigger fires (the ConfigChange trigger compares the pod template with the
//! one encoded in the latest deployment; editing a ConfigMap the pods mount changes
//! nothing), creates the ReplicationController `NAME-VERSION` for a new version, cancels
//! older deployments still running, keeps the active deployment at the DC's replicas and
//! the others at zero once the latest one has finished, prunes old ones beyond
//! `revisionHistoryLimit`, and computes the DC's status and conditions from its deployments.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::appsutil::{self as au, Phase};
use super::events::Kind;
use super::owners::controller_of;
use super::{Cluster, watch};
use crate::resources::{DEPLOYMENT_CONFIGS, REPLICATION_CONTROLLERS};
use crate::store::Write;

const LATENCY: Duration = Duration::from_millis(25);
const COMPONENT: &str = "deploymentconfig-controller";

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for dc in c.store.list(&DEPLOYMENT_CONFIGS, Some(&c.namespace)).0 {
                c.queues
                    .deploymentconfigs
                    .add_after(au::name_of(&dc), LATENCY);
            }
        },
        |c, event| match event.plural {
            "deploymentconfigs" => c
                .queues
                .deploymentconfigs
                .add_after(au::name_of(&event.object), LATENCY),
            "replicationcontrollers" => {
                if let Some((kind, owner, _)) = controller_of(&event.object)
                    && kind == "DeploymentConfig"
                {
                    c.queues.deploymentconfigs.add_after(&owner, LATENCY);
                }
            }
            _ => {}
        },
    );
    watch::spawn_worker(cluster, |c| &c.queues.deploymentconfigs, sync);
}

fn has_trigger(dc: &Value, kind: &str) -> bool {
    dc["spec"]["triggers"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["type"] == kind))
}

fn replicas(object: &Value) -> i64 {
    object["spec"]["replicas"].as_i64().unwrap_or(0)
}

/// deploymentconfig_controller.go Handle:92-240.
fn sync(cluster: &Arc<Cluster>, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(dc) = cluster.store.get(&DEPLOYMENT_CONFIGS, &ns, name) else {
        return;
    };
    let trigger_config = has_trigger(&dc, "ConfigChange");
    let trigger_image = has_trigger(&dc, "ImageChange");
    if au::latest_version(&dc) == 0 && !trigger_config && !trigger_image {
        update_status(cluster, &dc, &[], true, None);
        return;
    }
    let rcs = au::deployments_of(&cluster.store, &ns, &dc);
    if dc["spec"]["paused"] == true {
        cleanup(cluster, &dc, &rcs);
        update_status(cluster, &dc, &rcs, true, None);
        return;
    }
    let (latest_exists, latest) = au::latest_info(&dc, &rcs);
    if let Some(latest) = latest
        && au::version(latest) > au::latest_version(&dc)
    {
        // A deployment newer than the config knows (a restored RC): catch up one by one.
        set_latest_version(cluster, &dc, None);
        return;
    }
    if !latest_exists && cancel_running(cluster, &dc, &rcs) {
        // Wait for the cancellations before starting the new version.
        cluster
            .queues
            .deploymentconfigs
            .add_after(name, Duration::from_millis(200));
        return;
    }
    // Never deploy with invalid or unresolved images (the operator's zync-database image
    // is " " until its ImageChange trigger resolves).
    let unresolved = dc["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["image"].as_str().unwrap_or_default().trim().is_empty());
    if unresolved {
        update_status(cluster, &dc, &rcs, true, None);
        return;
    }
    match trigger_activated(&dc, latest_exists, latest, trigger_config, trigger_image) {
        Activated::Skip => {
            update_status(cluster, &dc, &rcs, true, None);
            return;
        }
        Activated::Yes(details) => {
            set_latest_version(cluster, &dc, Some(details));
            return;
        }
        Activated::No => {}
    }
    if let Some(latest) = latest.filter(|_| latest_exists) {
        if !au::is_terminated(latest) {
            // The deployer is at work: do not compete with it.
            update_status(cluster, &dc, &rcs, false, None);
        } else {
            reconcile_deployments(cluster, &dc, &rcs);
        }
        return;
    }
    let rc = au::make_deployment(&dc);
    let rc_name = au::name_of(&rc).to_string();
    let version = au::latest_version(&dc);
    match cluster
        .store
        .create(&REPLICATION_CONTROLLERS, &ns, rc.clone())
    {
        Ok(created) => {
            let message =
                format!("Created new replication controller \"{rc_name}\" for version {version}");
            cluster.event(&dc, Kind::Normal, "DeploymentCreated", &message, COMPONENT);
            let mut all = rcs.clone();
            all.insert(0, created);
            cleanup(cluster, &dc, &all);
            let condition = au::condition(
                "Progressing",
                "True",
                "NewReplicationControllerCreated",
                &message,
            );
            update_status(cluster, &dc, &all, true, Some(condition));
        }
        Err(e) => {
            let message = format!("Couldn't deploy version {version}: {}", e.message);
            cluster.event(
                &dc,
                Kind::Warning,
                "DeploymentCreationFailed",
                &message,
                COMPONENT,
            );
            let condition = au::condition(
                "Progressing",
                "False",
                "ReplicationControllerCreateError",
                &e.message,
            );
            update_status(cluster, &dc, &rcs, true, Some(condition));
        }
    }
}

enum Activated {
    No,
    /// Wait (an ImageChange trigger not resolved yet for the first version).
    Skip,
    /// A new version, with the cause for `status.details`.
    Yes(Value),
}

fn config_change() -> Value {
    json!({"message": "config change", "causes": [{"type": "ConfigChange"}]})
}

/// deploymentconfig_controller.go triggerActivated:602-670.
fn trigger_activated(
    dc: &Value,
    latest_exists: bool,
    latest: Option<&Value>,
    config_trigger: bool,
    image_trigger: bool,
) -> Activated {
    if dc["spec"]["paused"] == true || !(config_trigger || image_trigger) {
        return Activated::No;
    }
    if au::latest_version(dc) == 0 {
        if image_trigger {
            let resolved = dc["spec"]["triggers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["type"] == "ImageChange")
                .all(|t| {
                    t["imageChangeParams"]["lastTriggeredImage"]
                        .as_str()
                        .is_some_and(|i| !i.is_empty())
                });
            return if resolved {
                Activated::Yes(config_change())
            } else {
                Activated::Skip
            };
        }
        return Activated::Yes(config_change());
    }
    let Some(latest) = latest.filter(|_| latest_exists) else {
        return Activated::No;
    };
    if image_trigger {
        // hasUpdatedImages: a container image the latest deployment does not run.
        let running: Vec<&str> = latest["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .collect();
        let updated: Vec<Value> = dc["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .filter(|i| !running.contains(i))
            .map(|i| {
                json!({"type": "ImageChange",
                       "imageTrigger": {"from": {"kind": "DockerImage", "name": i}}})
            })
            .collect();
        if !updated.is_empty() {
            return Activated::Yes(json!({"message": "image change", "causes": updated}));
        }
    }
    if config_trigger {
        // hasLatestPodTemplate: the template against the one encoded in the deployment.
        let encoded = au::decode(latest).map(|d| d["spec"]["template"].clone());
        if encoded.as_ref() != Some(&dc["spec"]["template"]) {
            return Activated::Yes(config_change());
        }
    }
    Activated::No
}

/// `status.latestVersion` one up through the status subresource (UpdateStatus: the
/// generation stays), with the cause when a trigger fired.
fn set_latest_version(cluster: &Cluster, dc: &Value, details: Option<Value>) {
    let _ = cluster.store.modify_as(
        &DEPLOYMENT_CONFIGS,
        &cluster.namespace,
        au::name_of(dc),
        Write::Status,
        |d| {
            if d["metadata"]["resourceVersion"] != dc["metadata"]["resourceVersion"] {
                return Err(crate::status::ApiError::conflict(
                    "deploymentconfigs",
                    au::name_of(dc),
                ));
            }
            d["status"]["latestVersion"] = json!(au::latest_version(dc) + 1);
            if let Some(details) = details {
                d["status"]["details"] = details;
            }
            Ok(())
        },
    );
}

/// cancelRunningRollouts:349-406: every deployment still running is marked cancelled
/// (the deployer controller then stops its deployer pod). Returns whether any is still
/// running.
fn cancel_running(cluster: &Cluster, dc: &Value, rcs: &[Value]) -> bool {
    let mut awaiting = false;
    for rc in rcs.iter().filter(|rc| !au::is_terminated(rc)) {
        awaiting = true;
        if au::is_cancelled(rc) {
            continue;
        }
        let updated = cluster.store.modify(
            &REPLICATION_CONTROLLERS,
            &cluster.namespace,
            au::name_of(rc),
            |r| {
                r["metadata"]["annotations"][au::CANCELLED] = json!("true");
                r["metadata"]["annotations"][au::STATUS_REASON] = json!(au::CANCELLED_NEWER_EXISTS);
                Ok(())
            },
        );
        if updated.is_ok() {
            cluster.event(
                dc,
                Kind::Normal,
                "DeploymentCancelled",
                &format!(
                    "Cancelled deployment \"{}\" superceded by version {}",
                    au::name_of(rc),
                    au::latest_version(dc)
                ),
                COMPONENT,
            );
        }
    }
    if awaiting {
        cluster.event(
            dc,
            Kind::Normal,
            "DeploymentAwaitingCancellation",
            &format!(
                "Deployment of version {} awaiting cancellation of older running deployments",
                au::latest_version(dc)
            ),
            COMPONENT,
        );
    }
    awaiting
}

/// reconcileDeployments:248-319: the active deployment (the newest complete one) follows
/// the DC's replicas, every other one goes to zero.
fn reconcile_deployments(cluster: &Cluster, dc: &Value, rcs: &[Value]) {
    let active = au::active(rcs).map(|rc| au::name_of(rc).to_string());
    let mut updated = Vec::new();
    for rc in rcs {
        let name = au::name_of(rc);
        let from = replicas(rc);
        let to = if active.as_deref() == Some(name) && dc["spec"]["test"] != true {
            replicas(dc)
        } else {
            0
        };
        if from == to {
            updated.push(rc.clone());
            continue;
        }
        match cluster
            .store
            .modify(&REPLICATION_CONTROLLERS, &cluster.namespace, name, |r| {
                r["spec"]["replicas"] = json!(to);
                Ok(())
            }) {
            Ok(rc) => {
                cluster.event(
                    dc,
                    Kind::Normal,
                    "ReplicationControllerScaled",
                    &format!("Scaled replication controller \"{name}\" from {from} to {to}"),
                    COMPONENT,
                );
                updated.push(rc);
            }
            Err(e) => {
                cluster.event(
                    dc,
                    Kind::Warning,
                    "ReplicationControllerScaleFailed",
                    &format!(
                        "Failed to scale replication controler \"{name}\" from {from} to {to}: {}",
                        e.message
                    ),
                    COMPONENT,
                );
                return;
            }
        }
    }
    cleanup(cluster, dc, &updated);
    update_status(cluster, dc, &updated, true, None);
}

/// cleanupOldDeployments:539-570 with appsutil DeploymentsForCleanup: beyond
/// `revisionHistoryLimit`, the oldest deployments older than the active one (or than
/// the latest, while none is complete) go, unless they still have replicas.
fn cleanup(cluster: &Cluster, dc: &Value, newest_first: &[Value]) {
    let Some(limit) = dc["spec"]["revisionHistoryLimit"].as_i64() else {
        return;
    };
    let active = au::active(newest_first);
    let latest = au::latest_version(dc);
    let mut prunable: Vec<&Value> = newest_first
        .iter()
        .filter(|rc| match active {
            Some(a) => au::version(rc) < au::version(a),
            None => au::version(rc) != latest,
        })
        .collect();
    prunable.reverse();
    let excess = prunable.len().saturating_sub(limit.max(0) as usize);
    for rc in prunable.iter().take(excess) {
        if replicas(rc) != 0 {
            continue;
        }
        let _ = cluster.store.delete(
            &REPLICATION_CONTROLLERS,
            &cluster.namespace,
            au::name_of(rc),
        );
    }
}

fn count(rc: &Value, field: &str) -> i64 {
    rc["status"][field].as_i64().unwrap_or(0)
}

/// updateStatus and calculateStatus:323-345, 408-449: written only when it changed.
fn update_status(
    cluster: &Cluster,
    dc: &Value,
    rcs: &[Value],
    observe_generation: bool,
    additional: Option<Value>,
) {
    let (latest_exists, latest) = au::latest_info(dc, rcs);
    let latest = latest.filter(|_| latest_exists);
    let sum = |field: &str| rcs.iter().map(|rc| count(rc, field)).sum::<i64>();
    let available = sum("availableReplicas");
    let total: i64 = rcs.iter().map(replicas).sum();
    let old = &dc["status"];
    let mut status = json!({
        "latestVersion": au::latest_version(dc),
        "observedGeneration": if observe_generation {
            dc["metadata"]["generation"].clone()
        } else {
            json!(old["observedGeneration"].as_i64().unwrap_or(0))
        },
        "replicas": sum("replicas"),
        "updatedReplicas": latest.map(|rc| count(rc, "replicas")).unwrap_or(0),
        "availableReplicas": available,
        "unavailableReplicas": (total - available).max(0),
    });
    if !old["details"].is_null() {
        status["details"] = old["details"].clone();
    }
    if old["conditions"].is_array() {
        status["conditions"] = old["conditions"].clone();
    }
    let ready = sum("readyReplicas");
    if ready != 0 {
        status["readyReplicas"] = json!(ready);
    }
    update_conditions(dc, &mut status, latest);
    if let Some(c) = additional {
        au::set_condition(&mut status, c);
    }
    if status == *old {
        return;
    }
    let _ = cluster.store.modify_as(
        &DEPLOYMENT_CONFIGS,
        &cluster.namespace,
        au::name_of(dc),
        Write::Status,
        |d| {
            if d["metadata"]["resourceVersion"] != dc["metadata"]["resourceVersion"] {
                // A newer DC is queued already; its sync computes the status again.
                return Err(crate::status::ApiError::conflict(
                    "deploymentconfigs",
                    au::name_of(dc),
                ));
            }
            d["status"] = status;
            Ok(())
        },
    );
    cluster.notify_changed();
}

/// updateConditions:463-509.
fn update_conditions(dc: &Value, status: &mut Value, latest: Option<&Value>) {
    let available = status["availableReplicas"].as_i64().unwrap_or(0);
    if available >= replicas(dc) - au::max_unavailable(dc) && available > 0 {
        au::set_condition(
            status,
            au::condition(
                "Available",
                "True",
                "",
                "Deployment config has minimum availability.",
            ),
        );
    } else {
        au::set_condition(
            status,
            au::condition(
                "Available",
                "False",
                "",
                "Deployment config does not have minimum availability.",
            ),
        );
    }
    let Some(rc) = latest else {
        return;
    };
    let name = au::name_of(rc);
    match au::phase(rc) {
        Some(Phase::Pending) => au::set_condition(
            status,
            au::condition(
                "Progressing",
                "Unknown",
                "",
                &format!(
                    "replication controller \"{name}\" is waiting for pod \"{}\" to run",
                    au::deployer_pod_name(name)
                ),
            ),
        ),
        Some(Phase::Running) => {
            if is_progressing(&dc["status"], status) {
                au::remove_condition(status, "Progressing");
                au::set_condition(
                    status,
                    au::condition(
                        "Progressing",
                        "True",
                        "ReplicationControllerUpdated",
                        &format!("replication controller \"{name}\" is progressing"),
                    ),
                );
            }
        }
        Some(Phase::Failed) => {
            let condition = if au::is_cancelled(rc) {
                au::condition(
                    "Progressing",
                    "False",
                    "RolloutCancelled",
                    &format!("rollout of replication controller \"{name}\" was cancelled"),
                )
            } else {
                au::condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &format!("replication controller \"{name}\" has failed progressing"),
                )
            };
            au::set_condition(status, condition);
        }
        Some(Phase::Complete) => au::set_condition(
            status,
            au::condition(
                "Progressing",
                "True",
                "NewReplicationControllerAvailable",
                &format!("replication controller \"{name}\" successfully rolled out"),
            ),
        ),
        Some(Phase::New) | None => {}
    }
}

/// isProgressing:714-719: more updated replicas, or fewer old ones, than before.
fn is_progressing(old: &Value, new: &Value) -> bool {
    let n = |s: &Value, f: &str| s[f].as_i64().unwrap_or(0);
    let old_old = n(old, "replicas") - n(old, "updatedReplicas");
    let new_old = n(new, "replicas") - n(new, "updatedReplicas");
    n(new, "updatedReplicas") > n(old, "updatedReplicas") || new_old < old_old
}
