//! What OpenShift's DeploymentConfig machinery shares (openshift/library-go
//! pkg/apps/appsutil/util.go and const.go, openshift/api apps/v1/consts.go): the
//! annotations and labels a deployment (a ReplicationController `NAME-VERSION`) carries,
//! its phase, and how it is made from its DeploymentConfig.

use serde_json::{Value, json};

use super::owners::controller_ref;
use crate::resources::REPLICATION_CONTROLLERS;
use crate::store::Store;

// openshift/api apps/v1/consts.go:7-47 and deprecated_consts.go:31-37.
pub const STATUS_REASON: &str = "openshift.io/deployment.status-reason";
pub const DEPLOYER_POD: &str = "openshift.io/deployer-pod.name";
pub const CONFIG: &str = "openshift.io/deployment-config.name";
pub const CANCELLED: &str = "openshift.io/deployment.cancelled";
pub const ENCODED_CONFIG: &str = "openshift.io/encoded-deployment-config";
pub const VERSION: &str = "openshift.io/deployment-config.latest-version";
pub const DEPLOYER_POD_FOR: &str = "openshift.io/deployer-pod-for.name";
pub const PHASE: &str = "openshift.io/deployment.phase";
pub const DESIRED_REPLICAS: &str = "kubectl.kubernetes.io/desired-replicas";
pub const DEPLOYMENT: &str = "openshift.io/deployment.name";
// openshift/api apps/v1/types.go (DeployerPod{Created,Started,Completed}AtAnnotation).
pub const DEPLOYER_POD_CREATED_AT: &str = "openshift.io/deployer-pod.created-at";
pub const DEPLOYER_POD_STARTED_AT: &str = "openshift.io/deployer-pod.started-at";
pub const DEPLOYER_POD_COMPLETED_AT: &str = "openshift.io/deployer-pod.completed-at";
// library-go pkg/apps/appsutil/const.go:25-52.
pub const CONFIG_LABEL: &str = "deploymentconfig";
pub const DEPLOYMENT_LABEL: &str = "deployment";
pub const REPLICAS: &str = "openshift.io/deployment.replicas";
/// oc pkg/cli/deployer/strategy/support/lifecycle.go:39.
pub const DEPLOYER_POD_TYPE: &str = "openshift.io/deployer-pod.type";
/// const.go:58-59.
pub const CANCELLED_NEWER_EXISTS: &str = "newer deployment was found running";
pub const DEPLOYER_POD_GONE: &str = "deployer pod no longer exists";

/// openshift/api apps/v1/consts.go:90-107.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    New,
    Pending,
    Running,
    Complete,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::New => "New",
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Complete => "Complete",
            Phase::Failed => "Failed",
        }
    }

    fn parse(text: &str) -> Option<Phase> {
        Some(match text {
            "New" => Phase::New,
            "Pending" => Phase::Pending,
            "Running" => Phase::Running,
            "Complete" => Phase::Complete,
            "Failed" => Phase::Failed,
            _ => return None,
        })
    }

    /// util.go CanTransitionPhase:587-612.
    pub fn can_become(self, next: Phase) -> bool {
        use Phase::*;
        matches!(
            (self, next),
            (New, Pending | Running | Failed | Complete)
                | (Pending, Running | Failed | Complete)
                | (Running, Failed | Complete)
        )
    }
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// util.go DeploymentStatusFor.
pub fn phase(rc: &Value) -> Option<Phase> {
    annotation(rc, PHASE).and_then(Phase::parse)
}

/// util.go DeploymentVersionFor: -1 without the annotation.
pub fn version(rc: &Value) -> i64 {
    annotation(rc, VERSION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

pub fn is_complete(rc: &Value) -> bool {
    phase(rc) == Some(Phase::Complete)
}

/// util.go IsTerminatedDeployment:459.
pub fn is_terminated(rc: &Value) -> bool {
    matches!(phase(rc), Some(Phase::Complete | Phase::Failed))
}

/// util.go IsDeploymentCancelled:463.
pub fn is_cancelled(rc: &Value) -> bool {
    annotation(rc, CANCELLED).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

pub fn latest_version(dc: &Value) -> i64 {
    dc["status"]["latestVersion"].as_i64().unwrap_or(0)
}

/// util.go LatestDeploymentNameForConfigAndVersion:286.
pub fn deployment_name(dc_name: &str, version: i64) -> String {
    format!("{dc_name}-{version}")
}

/// util.go DeployerPodNameForDeployment:31 (library-go build/naming GetPodName).
pub fn deployer_pod_name(rc_name: &str) -> String {
    format!("{rc_name}-deploy")
}

/// The DeploymentConfig a deployment was made from (appsserialization
/// DecodeDeploymentConfig of the `encoded-deployment-config` annotation).
pub fn decode(rc: &Value) -> Option<Value> {
    serde_json::from_str(annotation(rc, ENCODED_CONFIG)?).ok()
}

/// The deployments a DeploymentConfig controls (deploymentconfig_controller.go claims the
/// ReplicationControllers labelled `openshift.io/deployment-config.name`), newest first
/// (ByLatestVersionDesc).
pub fn deployments_of(store: &Store, ns: &str, dc: &Value) -> Vec<Value> {
    let uid = dc["metadata"]["uid"].as_str().unwrap_or_default();
    let name = name_of(dc);
    let mut rcs: Vec<Value> = store
        .list(&REPLICATION_CONTROLLERS, Some(ns))
        .0
        .into_iter()
        .filter(|rc| {
            rc["metadata"]["labels"][CONFIG] == name
                && super::owners::controller_of(rc).is_some_and(|(_, _, u)| u == uid)
        })
        .collect();
    rcs.sort_by_key(|rc| std::cmp::Reverse(version(rc)));
    rcs
}

/// util.go LatestDeploymentInfo:508: whether the newest deployment is the DC's latest
/// version, and that newest deployment.
pub fn latest_info<'a>(dc: &Value, newest_first: &'a [Value]) -> (bool, Option<&'a Value>) {
    let latest = latest_version(dc);
    match newest_first.first() {
        Some(rc) if latest != 0 => (version(rc) == latest, Some(rc)),
        _ => (false, None),
    }
}

/// util.go ActiveDeployment:424: the newest complete deployment.
pub fn active(newest_first: &[Value]) -> Option<&Value> {
    newest_first.iter().find(|rc| is_complete(rc))
}

/// util.go MakeDeployment:96-187: the ReplicationController for the DC's latest version,
/// at zero replicas, with the DC encoded in it and the labels that tie its pods to it
/// (`deploymentconfig=NAME`, `deployment=NAME-VERSION` on top of the template's).
pub fn make_deployment(dc: &Value) -> Value {
    let name = name_of(dc);
    let version = latest_version(dc);
    let rc_name = deployment_name(name, version);
    let mut template = dc["spec"]["template"].clone();
    for c in template["spec"]["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(image) = c["image"].as_str() {
            c["image"] = json!(image.trim());
        }
    }
    let mut labels = dc["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[CONFIG] = json!(name);
    let mut selector = dc["spec"]["selector"].clone();
    if !selector.is_object() {
        selector = json!({});
    }
    selector[CONFIG_LABEL] = json!(name);
    selector[DEPLOYMENT_LABEL] = json!(rc_name);
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    template["metadata"]["labels"][CONFIG_LABEL] = json!(name);
    template["metadata"]["labels"][DEPLOYMENT_LABEL] = json!(rc_name);
    if !template["metadata"]["annotations"].is_object() {
        template["metadata"]["annotations"] = json!({});
    }
    template["metadata"]["annotations"][DEPLOYMENT] = json!(rc_name);
    template["metadata"]["annotations"][CONFIG] = json!(name);
    template["metadata"]["annotations"][VERSION] = json!(version.to_string());
    let mut annotations = json!({
        CONFIG: name,
        ENCODED_CONFIG: dc.to_string(),
        PHASE: Phase::New.as_str(),
        VERSION: version.to_string(),
        DESIRED_REPLICAS: dc["spec"]["replicas"].as_i64().unwrap_or(0).to_string(),
        REPLICAS: "0",
    });
    if let Some(message) = dc["status"]["details"]["message"]
        .as_str()
        .filter(|m| !m.is_empty())
    {
        annotations[STATUS_REASON] = json!(message);
    }
    let mut spec = json!({"replicas": 0, "selector": selector, "template": template});
    if let Some(min_ready) = dc["spec"]["minReadySeconds"].as_i64() {
        spec["minReadySeconds"] = json!(min_ready);
    }
    json!({
        "metadata": {
            "name": rc_name,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [controller_ref(dc)],
        },
        "spec": spec,
    })
}

/// k8s intstr GetValueFromIntOrPercent: a number, or a percentage of `total` rounded up
/// (surge) or down (unavailable).
fn int_or_percent(value: &Value, total: i64, round_up: bool) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = pct * total;
            if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            }
        }
        _ => 0,
    }
}

/// util.go ResolveFenceposts:368: (surge, unavailable) for `desired` replicas, never both
/// zero.
pub fn fenceposts(rolling_params: &Value, desired: i64) -> (i64, i64) {
    let surge = int_or_percent(&rolling_params["maxSurge"], desired, true);
    let unavailable = int_or_percent(&rolling_params["maxUnavailable"], desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// util.go MaxUnavailable:390: what a Rolling DC may lose; none for Recreate.
pub fn max_unavailable(dc: &Value) -> i64 {
    if dc["spec"]["strategy"]["type"] != "Rolling" {
        return 0;
    }
    let desired = dc["spec"]["replicas"].as_i64().unwrap_or(0);
    fenceposts(&dc["spec"]["strategy"]["rollingParams"], desired).1
}

/// util.go SetDeploymentCondition:191: a condition of the same status and reason is left
/// as it is (its message and times included); a new status gets a new transition time.
pub fn set_condition(status: &mut Value, condition: Value) {
    let kind = condition["type"].clone();
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    let mut condition = condition;
    if let Some(current) = conditions.iter().find(|c| c["type"] == kind) {
        if current["status"] == condition["status"] && current["reason"] == condition["reason"] {
            return;
        }
        if current["status"] == condition["status"] {
            condition["lastTransitionTime"] = current["lastTransitionTime"].clone();
        }
    }
    conditions.retain(|c| c["type"] != kind);
    conditions.push(condition);
    status["conditions"] = json!(conditions);
}

pub fn remove_condition(status: &mut Value, kind: &str) {
    if let Some(conditions) = status["conditions"].as_array_mut() {
        conditions.retain(|c| c["type"] != kind);
    }
}

/// deploymentconfig_controller.go newDeploymentCondition (an empty reason is omitted).
pub fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = crate::store::now();
    let mut c = json!({"type": kind, "status": status, "lastUpdateTime": now,
                       "lastTransitionTime": now, "message": message});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replica_rolls_with_a_surge_of_one_and_no_unavailable_pod() {
        let params = json!({"maxSurge": "25%", "maxUnavailable": "25%"});
        assert_eq!(fenceposts(&params, 1), (1, 0));
        assert_eq!(fenceposts(&params, 4), (1, 1));
        assert_eq!(
            fenceposts(&json!({"maxSurge": 0, "maxUnavailable": "10%"}), 1),
            (0, 1)
        );
    }

    #[test]
    fn a_deployment_carries_its_config_and_labels_its_pods() {
        let dc = json!({
            "metadata": {"name": "system-mysql", "uid": "u1", "labels": {"app": "3scale"}},
            "spec": {"replicas": 1, "selector": {"deploymentConfig": "system-mysql"},
                     "template": {"metadata": {"labels": {"deploymentConfig": "system-mysql"}},
                                  "spec": {"containers": [{"name": "m", "image": " x "}]}}},
            "status": {"latestVersion": 3, "details": {"message": "manual change"}},
        });
        let rc = make_deployment(&dc);
        assert_eq!(rc["metadata"]["name"], "system-mysql-3");
        assert_eq!(phase(&rc), Some(Phase::New));
        assert_eq!(version(&rc), 3);
        assert_eq!(rc["spec"]["replicas"], 0);
        let labels = &rc["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["deploymentConfig"], "system-mysql");
        assert_eq!(labels["deploymentconfig"], "system-mysql");
        assert_eq!(labels["deployment"], "system-mysql-3");
        assert_eq!(
            rc["spec"]["template"]["spec"]["containers"][0]["image"],
            "x"
        );
        assert_eq!(
            rc["metadata"]["annotations"][STATUS_REASON],
            "manual change"
        );
        assert_eq!(decode(&rc).unwrap(), dc);
    }

    #[test]
    fn a_condition_of_the_same_reason_is_kept() {
        let mut status = json!({});
        set_condition(&mut status, condition("Progressing", "True", "A", "first"));
        set_condition(&mut status, condition("Progressing", "True", "A", "second"));
        assert_eq!(status["conditions"][0]["message"], "first");
        set_condition(&mut status, condition("Progressing", "True", "B", "third"));
        assert_eq!(status["conditions"][0]["message"], "third");
    }
}
