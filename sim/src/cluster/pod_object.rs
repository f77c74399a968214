//! The Pod objects clients read: labels, containers, and a status that follows the real
//! processes (Pending until the server answers, Running and Ready after, restart counts).

use serde_json::{Value, json};

use crate::pod::templates::Template;

pub fn new_pod(name: &str, template: &Template, hash: &str, deployment: &Value) -> Value {
    let mut labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = super::bootstrap::labels(template);
    }
    labels["pod-template-hash"] = json!(hash);
    let annotations = deployment["spec"]["template"]["metadata"]["annotations"].clone();
    let containers = deployment["spec"]["template"]["spec"]["containers"].clone();
    let volumes: Vec<Value> = template
        .volumes
        .iter()
        .map(|(claim, _)| json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}))
        .collect();
    let mounts: Vec<Value> = template
        .volumes
        .iter()
        .map(|(claim, path)| json!({"name": claim, "mountPath": path}))
        .collect();
    let mut containers = if containers.is_array() {
        containers
    } else {
        json!([{"name": template.container, "image": "registry.redhat.io/3scale-amp2/sim:2.15"}])
    };
    if let Some(first) = containers.get_mut(0) {
        first["volumeMounts"] = json!(mounts);
    }
    json!({
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": if annotations.is_object() { annotations } else { json!({}) },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{}-{hash}", template.deployment),
                "uid": deployment["metadata"]["uid"], "controller": true
            }]
        },
        "spec": {
            "containers": containers,
            "volumes": volumes,
            "restartPolicy": "Always",
            "nodeName": "sim-node",
            "terminationGracePeriodSeconds": 30
        },
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "hostIP": "127.0.0.1",
        }
    })
}

pub fn set_waiting(pod: &mut Value, container: &str, reason: &str, message: &str, restarts: u32) {
    pod["status"]["phase"] = json!("Pending");
    pod["status"]["conditions"] = conditions(false);
    pod["status"]["containerStatuses"] = json!([{
        "name": container, "ready": false, "started": false, "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}}
    }]);
}

pub fn set_running(
    pod: &mut Value,
    container: &str,
    ready: bool,
    restarts: u32,
    started_at: &str,
    ip: &str,
) {
    pod["status"]["phase"] = json!("Running");
    pod["status"]["conditions"] = conditions(ready);
    pod["status"]["podIP"] = json!(ip);
    pod["status"]["podIPs"] = json!([{"ip": ip}]);
    if pod["status"]["startTime"].is_null() {
        pod["status"]["startTime"] = json!(started_at);
    }
    pod["status"]["containerStatuses"] = json!([{
        "name": container, "ready": ready, "started": true, "restartCount": restarts,
        "state": {"running": {"startedAt": started_at}}
    }]);
}

fn conditions(ready: bool) -> Value {
    let s = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "ContainersReady", "status": s},
        {"type": "Ready", "status": s}
    ])
}
