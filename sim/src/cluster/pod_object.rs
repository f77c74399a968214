//! The Pod objects clients read: labels, the ReplicaSet's (the Deployment's) pod template
//! spec, and a status that follows the real processes (Pending until the server answers,
//! Running and Ready after, restart counts, terminated for a Job's), one entry per
//! container with the fields the API schema requires.

use serde_json::{Value, json};

use super::supervisor::PodOwner;
use crate::pod::spec::{container_id, image_id, pod_template_spec};
use crate::pod::templates::Template;
use crate::release::Release;

/// The pod a ReplicaSet's or ReplicationController's controller creates from its pod
/// template.
pub fn new_pod(name: &str, template: &Template, owner: &PodOwner, release: Release) -> Value {
    let replica_set = owner.controller;
    let mut labels = replica_set["spec"]["template"]["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = super::bootstrap::labels(template, release);
    }
    for (k, v) in owner.extra_labels.as_object().into_iter().flatten() {
        labels[k] = v.clone();
    }
    let annotations = replica_set["spec"]["template"]["metadata"]["annotations"].clone();
    // The pod is its ReplicaSet's template (the Deployment's), stamped out.
    let mut spec = replica_set["spec"]["template"]["spec"].clone();
    if !spec["containers"].is_array() {
        spec = pod_template_spec(template);
    }
    spec["nodeName"] = json!(super::NODE_NAME);
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
            "generateName": owner.generate_name,
            "labels": labels,
            "annotations": if annotations.is_object() { annotations } else { json!({}) },
            "ownerReferences": [super::owners::controller_ref(replica_set)]
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
    let statuses: Vec<Value> = template
        .containers
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "image": spec_image(pod, "containers", c.name, template),
                "imageID": "", "ready": false, "started": false, "restartCount": restarts,
                "state": state, "lastState": {}
            })
        })
        .collect();
    pod["status"]["containerStatuses"] = json!(statuses);
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
    let statuses: Vec<Value> = template
        .containers
        .iter()
        .map(|c| {
            let image = spec_image(pod, "containers", c.name, template);
            json!({
                "name": c.name, "image": image, "imageID": image_id(&image),
                "containerID": container_id(&name, c.name, restarts),
                "ready": ready, "started": true, "restartCount": restarts,
                "state": {"running": {"startedAt": started_at}}, "lastState": {}
            })
        })
        .collect();
    pod["status"]["containerStatuses"] = json!(statuses);
}

/// A pod whose containers ran to their end and are not restarted (restartPolicy Never, a
/// Job's): Succeeded when they exited 0, else Failed. `reason` is the kubelet's for the
/// container: Completed, Error, or StartError (exit code 128) when it could not start.
pub fn set_terminated(
    pod: &mut Value,
    template: &Template,
    exit_code: i32,
    reason: &str,
    started_at: &str,
) {
    let finished = crate::store::now();
    let phase = if exit_code == 0 {
        "Succeeded"
    } else {
        "Failed"
    };
    pod["status"]["phase"] = json!(phase);
    let mut conditions = conditions(false);
    for c in conditions.as_array_mut().into_iter().flatten() {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["reason"] = json!("PodCompleted");
        }
    }
    pod["status"]["conditions"] = conditions;
    if pod["status"]["startTime"].is_null() {
        pod["status"]["startTime"] = json!(started_at);
    }
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let statuses: Vec<Value> = template
        .containers
        .iter()
        .map(|c| {
            let image = spec_image(pod, "containers", c.name, template);
            let id = container_id(&name, c.name, 0);
            json!({
                "name": c.name, "image": image, "imageID": image_id(&image),
                "containerID": id, "ready": false, "started": false, "restartCount": 0,
                "state": {"terminated": {
                    "exitCode": exit_code, "reason": reason,
                    "startedAt": started_at, "finishedAt": finished, "containerID": id,
                }},
                "lastState": {}
            })
        })
        .collect();
    pod["status"]["containerStatuses"] = json!(statuses);
}

/// The image the pod's spec names for a container (`field` is `containers` or
/// `initContainers`): what the kubelet runs and reports, whatever the template says.
pub fn spec_image(pod: &Value, field: &str, container: &str, template: &Template) -> String {
    pod["spec"][field]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["image"].as_str())
        .unwrap_or(template.image)
        .to_string()
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
            let image = spec_image(pod, "initContainers", i.name, template);
            json!({
                "name": i.name, "image": image, "imageID": image_id(&image),
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
