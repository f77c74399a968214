//! The Pod objects clients read: labels, the Deployment's pod template spec, and a status
//! that follows the real processes (Pending until the server answers, Running and Ready
//! after, restart counts), one entry per container with the fields the API schema requires.

use serde_json::{Value, json};

use crate::pod::spec::{container_id, image_id, pod_template_spec};
use crate::pod::templates::Template;

pub fn new_pod(name: &str, template: &Template, hash: &str, deployment: &Value) -> Value {
    let mut labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = super::bootstrap::labels(template);
    }
    labels["pod-template-hash"] = json!(hash);
    let annotations = deployment["spec"]["template"]["metadata"]["annotations"].clone();
    // The pod is its Deployment's template, as a ReplicaSet stamps it out.
    let mut spec = deployment["spec"]["template"]["spec"].clone();
    if !spec["containers"].is_array() {
        spec = pod_template_spec(template);
    }
    spec["nodeName"] = json!("sim-node");
    for (key, default) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
    ] {
        if spec[key].is_null() {
            spec[key] = default;
        }
    }
    json!({
        "metadata": {
            "name": name,
            "generateName": format!("{}-{hash}-", template.deployment),
            "labels": labels,
            "annotations": if annotations.is_object() { annotations } else { json!({}) },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{}-{hash}", template.deployment),
                "uid": deployment["metadata"]["uid"], "controller": true,
                "blockOwnerDeletion": true
            }]
        },
        "spec": spec,
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "qosClass": "BestEffort",
        }
    })
}

/// A container that cannot start yet (a Secret it needs is missing, or its server failed).
pub fn set_waiting(
    pod: &mut Value,
    template: &Template,
    reason: &str,
    message: &str,
    restarts: u32,
) {
    pod["status"]["phase"] = json!("Pending");
    pod["status"]["conditions"] = conditions(false);
    set_init_statuses(pod, template);
    let state = json!({"waiting": {"reason": reason, "message": message}});
    pod["status"]["containerStatuses"] = json!(
        template
            .containers
            .iter()
            .map(|c| json!({
                "name": c.name, "image": template.image, "imageID": "",
                "ready": false, "started": false, "restartCount": restarts,
                "state": state, "lastState": {}
            }))
            .collect::<Vec<_>>()
    );
}

pub fn set_running(
    pod: &mut Value,
    template: &Template,
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
    set_init_statuses(pod, template);
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    pod["status"]["containerStatuses"] = json!(
        template
            .containers
            .iter()
            .map(|c| json!({
                "name": c.name, "image": template.image, "imageID": image_id(template.image),
                "containerID": container_id(&name, c.name, restarts),
                "ready": ready, "started": true, "restartCount": restarts,
                "state": {"running": {"startedAt": started_at}}, "lastState": {}
            }))
            .collect::<Vec<_>>()
    );
}

/// Init containers have run to completion by the time the containers are created: the
/// kubelet reports each as terminated with reason Completed.
fn set_init_statuses(pod: &mut Value, template: &Template) {
    if template.init_containers.is_empty() {
        return;
    }
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let since = pod["status"]["startTime"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(crate::store::now);
    let statuses: Vec<Value> = template
        .init_containers
        .iter()
        .map(|i| {
            let id = container_id(&name, i.name, 0);
            json!({
                "name": i.name, "image": template.image, "imageID": image_id(template.image),
                "containerID": id, "ready": true, "started": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                         "startedAt": since, "finishedAt": since,
                                         "containerID": id}},
                "lastState": {}
            })
        })
        .collect();
    pod["status"]["initContainerStatuses"] = json!(statuses);
}

fn conditions(ready: bool) -> Value {
    let s = if ready { "True" } else { "False" };
    json!([
        {"type": "PodReadyToStartContainers", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": s},
        {"type": "ContainersReady", "status": s},
        {"type": "PodScheduled", "status": "True"}
    ])
}
