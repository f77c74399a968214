//! kube-controller-manager's deployment controller (pkg/controller/deployment): one
//! ReplicaSet per pod template, named `<deployment>-<pod-template-hash>`.
//! - Recreate (recreate.go): on a new template the old ReplicaSets are scaled to 0 and the
//!   new one is created only once every old pod is gone.
//! - RollingUpdate (rolling.go): the new ReplicaSet grows within `maxSurge` and the old
//!   ones shrink as far as `maxUnavailable` lets them, unavailable old pods first; with
//!   one replica and 25%/25%, as 3scale's system-app has, the old pod stays until the new
//!   one is available.
//!
//! Status is computed from the ReplicaSets (sync.go calculateStatus) and carries the
//! generation it observed.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::appsutil as au;
use super::events::Kind;
use super::owners::{controller_of, controller_ref, owned};
use super::{Cluster, watch};
use crate::resources::{DEPLOYMENTS, PODS, REPLICASETS};

/// The real controller reacts within milliseconds; a little latency keeps the window in
/// which `metadata.generation` is ahead of `status.observedGeneration` observable.
const LATENCY: Duration = Duration::from_millis(25);
const REVISION: &str = "deployment.kubernetes.io/revision";
const COMPONENT: &str = "deployment-controller";

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for d in c.store.list(&DEPLOYMENTS, Some(&c.namespace)).0 {
                c.queues
                    .deployments
                    .add_after(d["metadata"]["name"].as_str().unwrap_or_default(), LATENCY);
            }
        },
        |c, event| {
            let name = event.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            match event.plural {
                "deployments" => c.queues.deployments.add_after(name, LATENCY),
                "replicasets" => {
                    if let Some((kind, owner, _)) = controller_of(&event.object)
                        && kind == "Deployment"
                    {
                        c.queues.deployments.add_after(&owner, LATENCY);
                    }
                }
                // Recreate waits for the old pods to be gone.
                "pods" if event.kind == crate::store::EventType::Deleted => {
                    if let Some(d) = event.object["metadata"]["labels"]["deployment"].as_str() {
                        c.queues.deployments.add_after(d, LATENCY);
                    }
                }
                _ => {}
            }
        },
    );
    watch::spawn_worker(cluster, |c| &c.queues.deployments, sync);
}

/// The pod-template-hash: FNV-32a of the template, written with the alphabet of
/// `rand.SafeEncodeString` as `controller.ComputeHash` does.
pub fn template_hash(deployment: &Value) -> String {
    hash_of(&deployment["spec"]["template"])
}

fn hash_of(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    for byte in template.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string()
        .bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

fn sync(cluster: &Arc<Cluster>, name: &str) {
    let ns = cluster.namespace.clone();
    let Some(d) = cluster.store.get(&DEPLOYMENTS, &ns, name) else {
        return;
    };
    let uid = d["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let hash = template_hash(&d);
    let desired = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let replica_sets = owned(&cluster.store, &REPLICASETS, &ns, &uid);
    let is_new = |rs: &Value| rs["metadata"]["labels"]["pod-template-hash"] == hash.as_str();
    let new_rs = replica_sets.iter().find(|rs| is_new(rs)).cloned();
    let old: Vec<&Value> = replica_sets.iter().filter(|rs| !is_new(rs)).collect();

    if d["spec"]["strategy"]["type"] == "RollingUpdate" {
        let created = roll(cluster, &d, &hash, desired, new_rs.as_ref(), &old);
        update_status(cluster, name, &hash, created.as_deref());
        return;
    }
    let mut scaled_down = false;
    for rs in old.iter().filter(|rs| replicas(rs) > 0) {
        scale(cluster, &d, rs, 0);
        scaled_down = true;
    }
    let old_uids: Vec<&str> = old
        .iter()
        .filter_map(|rs| rs["metadata"]["uid"].as_str())
        .collect();
    let old_pods_running = cluster
        .store
        .list(&PODS, Some(&ns))
        .0
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .any(|p| controller_of(p).is_some_and(|(_, _, uid)| old_uids.contains(&uid.as_str())));
    let mut created = None;
    if !scaled_down && !old_pods_running {
        let next_revision = old.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
        match &new_rs {
            None => created = create_replica_set(cluster, &d, &hash, desired, next_revision),
            Some(rs) => {
                if replicas(rs) != desired {
                    scale(cluster, &d, rs, desired);
                }
                take_revision(cluster, rs, next_revision);
            }
        }
        cleanup(cluster, &d, &old);
    }
    update_status(cluster, name, &hash, created.as_deref());
}

/// rolling.go rolloutRolling: one step per sync, each ReplicaSet change bringing the
/// next sync through its events.
fn roll(
    cluster: &Cluster,
    d: &Value,
    hash: &str,
    desired: i64,
    new_rs: Option<&Value>,
    old: &[&Value],
) -> Option<String> {
    let (surge, _) = au::fenceposts(&d["spec"]["strategy"]["rollingUpdate"], desired);
    let spec_sum = |sets: &[&Value]| sets.iter().map(|rs| replicas(rs)).sum::<i64>();
    let next_revision = old.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
    let Some(new_rs) = new_rs else {
        // NewRSNewReplicas for a ReplicaSet not made yet: what the surge leaves room for.
        let start = (desired + surge - spec_sum(old)).clamp(0, desired);
        return create_replica_set(cluster, d, hash, start, next_revision);
    };
    take_revision(cluster, new_rs, next_revision);
    // reconcileNewReplicaSet.
    let all_pods = spec_sum(old) + replicas(new_rs);
    if replicas(new_rs) > desired {
        scale(cluster, d, new_rs, desired);
        return None;
    }
    if replicas(new_rs) < desired {
        let room = (desired + surge - all_pods).max(0);
        let to = (replicas(new_rs) + room).min(desired);
        if to != replicas(new_rs) {
            scale(cluster, d, new_rs, to);
            return None;
        }
    }
    // reconcileOldReplicaSets, the oldest first (controller.ReplicaSetsByCreationTimestamp).
    let mut active: Vec<(&Value, i64)> = old
        .iter()
        .filter(|rs| replicas(rs) > 0)
        .map(|rs| (*rs, replicas(rs)))
        .collect();
    if active.is_empty() {
        cleanup(cluster, d, old);
        return None;
    }
    active.sort_by(|(a, _), (b, _)| {
        a["metadata"]["creationTimestamp"]
            .as_str()
            .cmp(&b["metadata"]["creationTimestamp"].as_str())
    });
    let min_available = desired - max_unavailable(d);
    let new_unavailable = replicas(new_rs) - available(new_rs);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return None;
    }
    // cleanupUnhealthyReplicas: old pods that are not available go first.
    let mut cleaned = 0;
    for (rs, n) in active.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = *n - available(rs);
        if unhealthy <= 0 {
            continue;
        }
        let by = unhealthy.min(max_scaled_down - cleaned);
        scale(cluster, d, rs, *n - by);
        *n -= by;
        cleaned += by;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: as far as the available pods allow.
    let available_now = available(new_rs) + active.iter().map(|(rs, _)| available(rs)).sum::<i64>();
    let mut to_scale_down = available_now - min_available;
    for (rs, n) in active.iter_mut() {
        if to_scale_down <= 0 {
            break;
        }
        if *n == 0 {
            continue;
        }
        let by = (*n).min(to_scale_down);
        scale(cluster, d, rs, *n - by);
        *n -= by;
        to_scale_down -= by;
    }
    None
}

/// A template that comes back (a rollback) takes the newest revision
/// (sync.go getNewReplicaSet).
fn take_revision(cluster: &Cluster, rs: &Value, next_revision: i64) {
    if revision(rs) < next_revision {
        let _ = cluster
            .store
            .modify(&REPLICASETS, &cluster.namespace, name_of(rs), |r| {
                r["metadata"]["annotations"][REVISION] = json!(next_revision.to_string());
                Ok(())
            });
    }
}

/// deploymentutil.MaxUnavailable: none for Recreate or no replicas; RollingUpdate's own,
/// at most every replica.
fn max_unavailable(d: &Value) -> i64 {
    let desired = d["spec"]["replicas"].as_i64().unwrap_or(1);
    if d["spec"]["strategy"]["type"] != "RollingUpdate" || desired == 0 {
        return 0;
    }
    au::fenceposts(&d["spec"]["strategy"]["rollingUpdate"], desired)
        .1
        .min(desired)
}

fn available(rs: &Value) -> i64 {
    rs["status"]["availableReplicas"].as_i64().unwrap_or(0)
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn replicas(rs: &Value) -> i64 {
    rs["spec"]["replicas"].as_i64().unwrap_or(0)
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn scale(cluster: &Cluster, d: &Value, rs: &Value, to: i64) {
    let from = replicas(rs);
    let result = cluster
        .store
        .modify(&REPLICASETS, &cluster.namespace, name_of(rs), |r| {
            r["spec"]["replicas"] = json!(to);
            r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                json!(d["spec"]["replicas"].as_i64().unwrap_or(1).to_string());
            r["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] =
                json!(d["spec"]["replicas"].as_i64().unwrap_or(1).to_string());
            Ok(())
        });
    if result.is_ok() {
        let direction = if to > from { "up" } else { "down" };
        cluster.event(
            d,
            Kind::Normal,
            "ScalingReplicaSet",
            &format!(
                "Scaled {direction} replica set {} from {from} to {to}",
                name_of(rs)
            ),
            COMPONENT,
        );
    }
}

fn create_replica_set(
    cluster: &Cluster,
    d: &Value,
    hash: &str,
    desired: i64,
    revision: i64,
) -> Option<String> {
    let name = format!("{}-{hash}", name_of(d));
    let mut template = d["spec"]["template"].clone();
    template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    let replica_set = json!({
        "metadata": {
            "name": name,
            "labels": template["metadata"]["labels"],
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                "deployment.kubernetes.io/max-replicas": desired.to_string(),
                "deployment.kubernetes.io/revision": revision.to_string(),
            },
            "ownerReferences": [controller_ref(d)],
        },
        "spec": {"replicas": desired, "selector": selector, "template": template},
    });
    cluster
        .store
        .create(&REPLICASETS, &cluster.namespace, replica_set)
        .ok()?;
    if desired > 0 {
        cluster.event(
            d,
            Kind::Normal,
            "ScalingReplicaSet",
            &format!("Scaled up replica set {name} from 0 to {desired}"),
            COMPONENT,
        );
    }
    Some(name)
}

/// Old ReplicaSets beyond `revisionHistoryLimit` that have no pods left are deleted
/// (sync.go cleanupDeployment).
fn cleanup(cluster: &Cluster, d: &Value, old: &[&Value]) {
    let limit = d["spec"]["revisionHistoryLimit"]
        .as_i64()
        .unwrap_or(10)
        .max(0) as usize;
    let mut idle: Vec<&&Value> = old
        .iter()
        .filter(|rs| replicas(rs) == 0 && rs["status"]["replicas"].as_i64().unwrap_or(0) == 0)
        .collect();
    if idle.len() <= limit {
        return;
    }
    idle.sort_by_key(|rs| revision(rs));
    for rs in &idle[..idle.len() - limit] {
        let _ = cluster
            .store
            .delete(&REPLICASETS, &cluster.namespace, name_of(rs));
    }
}

fn update_status(cluster: &Cluster, name: &str, hash: &str, created: Option<&str>) {
    let ns = cluster.namespace.clone();
    let Some(d) = cluster.store.get(&DEPLOYMENTS, &ns, name) else {
        return;
    };
    let uid = d["metadata"]["uid"].as_str().unwrap_or_default();
    let replica_sets = owned(&cluster.store, &REPLICASETS, &ns, uid);
    let count = |rs: &Value, field: &str| rs["status"][field].as_i64().unwrap_or(0);
    let sum = |field: &str| replica_sets.iter().map(|rs| count(rs, field)).sum::<i64>();
    let new_rs = replica_sets
        .iter()
        .find(|rs| rs["metadata"]["labels"]["pod-template-hash"] == hash);
    let new_name = format!("{name}-{hash}");
    let desired = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let total = sum("replicas");
    let asked = replica_sets.iter().map(replicas).sum::<i64>();
    let updated = new_rs.map(|rs| count(rs, "replicas")).unwrap_or(0);
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let generation = d["metadata"]["generation"].clone();
    let complete = updated == desired && total == desired && available == desired;
    let revision_now = new_rs.map(revision).filter(|r| *r > 0);

    let previous = d["status"]["conditions"].clone();
    let now = crate::store::now();
    let condition = |kind: &str, status: &str, reason: &str, message: String| {
        let old = previous
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == kind).cloned())
            .unwrap_or(Value::Null);
        let same_status = old["status"] == status;
        let same = same_status && old["reason"] == reason && old["message"] == message.as_str();
        json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": if same { old["lastUpdateTime"].clone() } else { json!(now) },
            "lastTransitionTime": if same_status { old["lastTransitionTime"].clone() } else { json!(now) },
        })
    };
    let available_condition = if available >= desired - max_unavailable(&d) {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let progressing = if let Some(created) = created {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{created}\""),
        )
    } else if complete && new_rs.is_some() {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let mut status = Map::new();
    status.insert("observedGeneration".into(), generation);
    for (field, value) in [
        ("replicas", total),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        // calculateStatus: the pods the ReplicaSets ask for, less the available ones.
        ("unavailableReplicas", (asked - available).max(0)),
    ] {
        // The API omits zero counts (omitempty).
        if value != 0 {
            status.insert(field.into(), json!(value));
        }
    }
    status.insert(
        "conditions".into(),
        json!([available_condition, progressing]),
    );
    let status = Value::Object(status);
    let _ = cluster.store.modify(&DEPLOYMENTS, &ns, name, |d| {
        d["status"] = status;
        if let Some(r) = revision_now {
            d["metadata"]["annotations"][REVISION] = json!(r.to_string());
        }
        Ok(())
    });
    cluster.notify_changed();
}
