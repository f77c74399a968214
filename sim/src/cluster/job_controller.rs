//! kube-controller-manager's job controller (pkg/controller/job) for non-indexed Jobs:
//! one pod at a time until `completions` succeed; a failed pod is replaced after a
//! back-off that doubles per failure; more than `backoffLimit` failures end the Job with
//! `Failed`/BackoffLimitExceeded. Finished pods are counted once (their job-tracking
//! finalizer is removed) and stay, as `kubectl logs job/NAME` expects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::events::Kind;
use super::owners::{controller_of, owned};
use super::{Cluster, job_pod, watch};
use crate::resources::{JOBS, PODS};

const LATENCY: Duration = Duration::from_millis(10);
const COMPONENT: &str = "job-controller";
const TRACKING: &str = "batch.kubernetes.io/job-tracking";
/// MaxJobPodFailureBackOff in pkg/controller/job/job_controller.go.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for job in c.store.list(&JOBS, Some(&c.namespace)).0 {
                c.queues.jobs.add_after(
                    job["metadata"]["name"].as_str().unwrap_or_default(),
                    LATENCY,
                );
            }
        },
        |c, event| match event.plural {
            "jobs" => c.queues.jobs.add_after(
                event.object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default(),
                LATENCY,
            ),
            "pods" => {
                if let Some((kind, owner, _)) = controller_of(&event.object)
                    && kind == "Job"
                {
                    c.queues.jobs.add_after(&owner, LATENCY);
                }
            }
            _ => {}
        },
    );
    // When each Job last lost a pod, for its back-off.
    let mut last_failure: HashMap<String, Instant> = HashMap::new();
    watch::spawn_worker(
        cluster,
        |c| &c.queues.jobs,
        move |c, key| sync(c, key, &mut last_failure),
    );
}

pub fn has_condition(job: &Value, kind: &str) -> bool {
    job["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

fn sync(cluster: &Arc<Cluster>, name: &str, last_failure: &mut HashMap<String, Instant>) {
    let ns = cluster.namespace.clone();
    let Some(job) = cluster.store.get(&JOBS, &ns, name) else {
        return;
    };
    if has_condition(&job, "Complete") || has_condition(&job, "Failed") {
        return;
    }
    let uid = job["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pods = owned(&cluster.store, &PODS, &ns, &uid);
    let (mut succeeded, mut failed) = (
        job["status"]["succeeded"].as_i64().unwrap_or(0),
        job["status"]["failed"].as_i64().unwrap_or(0),
    );
    for pod in pods.iter().filter(|p| terminal(p)) {
        let tracked = pod["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == TRACKING));
        if !tracked {
            continue;
        }
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let _ = cluster.store.modify(&PODS, &ns, pod_name, |p| {
            if let Some(f) = p["metadata"]["finalizers"].as_array_mut() {
                f.retain(|f| f != TRACKING);
            }
            Ok(())
        });
        if pod["status"]["phase"] == "Succeeded" {
            succeeded += 1;
        } else {
            failed += 1;
            last_failure.insert(uid.clone(), Instant::now());
            let code = &pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"];
            cluster.note(&format!(
                "job/{name}: pod {pod_name} failed (exit code {code}): {}",
                log_tail(cluster, pod_name)
            ));
        }
    }
    let active: Vec<&Value> = pods
        .iter()
        .filter(|p| !terminal(p) && p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    let ready = active
        .iter()
        .filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count();
    let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
    let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
    let now = crate::store::now();
    let mut active_count = active.len() as i64;
    let mut finished: Option<(&str, &str, &str)> = None;
    if succeeded >= completions {
        finished = Some((
            "Complete",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        ));
    } else if failed > backoff_limit {
        finished = Some((
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ));
        for pod in &active {
            cluster.delete_pod(pod["metadata"]["name"].as_str().unwrap_or_default());
        }
        active_count = 0;
    } else if active.is_empty() {
        let wait = if failed > 0 {
            let backoff = cluster
                .options
                .job_backoff
                .saturating_mul(1 << (failed - 1).min(16))
                .min(MAX_BACKOFF);
            let since = last_failure
                .get(&uid)
                .map(|t| t.elapsed())
                .unwrap_or(backoff);
            backoff.saturating_sub(since)
        } else {
            Duration::ZERO
        };
        if wait > Duration::ZERO {
            cluster.queues.jobs.add_after(name, wait);
        } else if let Some(pod) = job_pod::start(cluster, &job) {
            cluster.event(
                &job,
                Kind::Normal,
                "SuccessfulCreate",
                &format!("Created pod: {pod}"),
                COMPONENT,
            );
            active_count += 1;
        }
    }
    let mut status = job["status"].clone();
    if !status.is_object() {
        status = json!({});
    }
    if status["startTime"].is_null() {
        status["startTime"] = json!(now);
    }
    status["active"] = json!(active_count);
    status["ready"] = json!(ready);
    status["terminating"] = json!(0);
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["uncountedTerminatedPods"] = json!({});
    if let Some(obj) = status.as_object_mut() {
        // omitempty counts
        for field in ["active", "succeeded", "failed"] {
            if obj.get(field).and_then(Value::as_i64) == Some(0) {
                obj.remove(field);
            }
        }
    }
    if let Some((kind, reason, message)) = finished {
        let interim = if kind == "Complete" {
            "SuccessCriteriaMet"
        } else {
            "FailureTarget"
        };
        let condition = |t: &str| {
            json!({"type": t, "status": "True", "reason": reason, "message": message,
                   "lastProbeTime": now, "lastTransitionTime": now})
        };
        status["conditions"] = json!([condition(interim), condition(kind)]);
        if kind == "Complete" {
            status["completionTime"] = json!(now);
        }
        last_failure.remove(&uid);
    }
    let updated = cluster.store.modify(&JOBS, &ns, name, |j| {
        j["status"] = status;
        Ok(())
    });
    if let (Some((kind, reason, message)), Ok(job)) = (finished, updated) {
        if kind == "Complete" {
            cluster.event(&job, Kind::Normal, "Completed", "Job completed", COMPONENT);
        } else {
            cluster.event(&job, Kind::Warning, reason, message, COMPONENT);
        }
    }
}

/// The last lines a failed pod wrote, for the event log.
fn log_tail(cluster: &Cluster, pod: &str) -> String {
    let text = std::fs::read_to_string(cluster.dirs.pods.join(pod).join("log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(2)..].join(" | ")
}
