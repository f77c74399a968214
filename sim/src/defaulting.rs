//! What the API server fills in when an object is created (its defaulting functions and
//! create strategies), for the kinds whose controllers depend on it.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// `object` already carries its new `metadata.uid`.
pub fn on_create(rt: &ResourceType, object: &mut Value) {
    match rt.plural {
        "deployments" => deployment(object),
        "replicasets" => {
            default(&mut object["spec"], "replicas", json!(1));
        }
        "jobs" => job(object),
        "services" => service(object),
        "persistentvolumeclaims" => {
            default(&mut object["spec"], "volumeMode", json!("Filesystem"));
            default(object, "status", json!({"phase": "Pending"}));
        }
        _ => {}
    }
}

/// On every create and update.
pub fn on_write(rt: &ResourceType, object: &mut Value) {
    if rt.plural == "secrets" {
        secret_string_data(object);
    }
}

/// A Secret's write-only `stringData` is merged into `data`, base64-encoded, and never
/// stored (core/v1 Secret conversion).
fn secret_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(string_data) = secret.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    if !secret["data"].is_object() {
        secret["data"] = json!({});
    }
    for (key, value) in string_data.as_object().into_iter().flatten() {
        let text = value.as_str().unwrap_or_default();
        secret["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// apps/v1 SetDefaults_Deployment.
fn deployment(d: &mut Value) {
    let spec = &mut d["spec"];
    default(spec, "replicas", json!(1));
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    if !spec["strategy"].is_object() {
        spec["strategy"] = json!({"type": "RollingUpdate"});
    }
    if spec["strategy"]["type"] == "RollingUpdate" && !spec["strategy"]["rollingUpdate"].is_object()
    {
        spec["strategy"]["rollingUpdate"] = json!({"maxSurge": "25%", "maxUnavailable": "25%"});
    }
}

/// batch/v1 SetDefaults_Job and the job strategy's PrepareForCreate/generateSelector:
/// a selector on the Job's uid and the labels every Job pod carries.
fn job(j: &mut Value) {
    let uid = j["metadata"]["uid"].clone();
    let name = j["metadata"]["name"].clone();
    let spec = &mut j["spec"];
    default(spec, "completions", json!(1));
    default(spec, "parallelism", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    if spec["manualSelector"] != true {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    }
    let labels = &mut spec["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        labels[key] = value.clone();
    }
}

/// core/v1 SetDefaults_Service and the service strategy's cluster IP allocation: an
/// address from OpenShift's default service network (172.30.0.0/16), the same for a name
/// each time, as the allocator's is random but fixed for the Service's life.
fn service(svc: &mut Value) {
    let spec = &mut svc["spec"];
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    default(spec, "internalTrafficPolicy", json!("Cluster"));
    for port in spec["ports"].as_array_mut().into_iter().flatten() {
        default(port, "protocol", json!("TCP"));
        if port["targetPort"].is_null() {
            port["targetPort"] = port["port"].clone();
        }
    }
    if spec["clusterIP"].is_null() && spec["type"] != "ExternalName" {
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let mut hash: u32 = 0x811c_9dc5;
        for byte in name.bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        let ip = format!("172.30.{}.{}", (hash >> 8) % 256, 1 + hash % 254);
        let spec = &mut svc["spec"];
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    default(svc, "status", json!({"loadBalancer": {}}));
}

fn default(object: &mut Value, key: &str, value: Value) {
    if !object.is_object() {
        *object = json!({});
    }
    if object.get(key).is_none_or(Value::is_null) {
        object[key] = value;
    }
}
