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
        "replicationcontrollers" => replication_controller(object),
        "deploymentconfigs" => deployment_config_create(object),
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
    match rt.plural {
        "secrets" => secret_string_data(object),
        "deploymentconfigs" => deployment_config(object),
        "rolebindings" => role_binding(object),
        _ => {}
    }
}

/// rbac/v1 SetDefaults_RoleBinding and SetDefaults_Subject: the roleRef's API group, and
/// that of User and Group subjects (a ServiceAccount's stays "").
fn role_binding(binding: &mut Value) {
    const GROUP: &str = "rbac.authorization.k8s.io";
    if binding["roleRef"].is_object()
        && binding["roleRef"]["apiGroup"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    {
        binding["roleRef"]["apiGroup"] = json!(GROUP);
    }
    for subject in binding["subjects"].as_array_mut().into_iter().flatten() {
        let named = matches!(subject["kind"].as_str(), Some("User" | "Group"));
        if named && subject["apiGroup"].as_str().unwrap_or("").is_empty() {
            subject["apiGroup"] = json!(GROUP);
        }
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

/// core/v1 SetDefaults_ReplicationController: selector and labels from the template's
/// labels when empty, one replica.
fn replication_controller(rc: &mut Value) {
    let labels = rc["spec"]["template"]["metadata"]["labels"].clone();
    if labels.is_object() {
        if rc["spec"]["selector"]
            .as_object()
            .is_none_or(|s| s.is_empty())
        {
            rc["spec"]["selector"] = labels.clone();
        }
        if rc["metadata"]["labels"]
            .as_object()
            .is_none_or(|l| l.is_empty())
        {
            rc["metadata"]["labels"] = labels;
        }
    }
    default(&mut rc["spec"], "replicas", json!(1));
}

/// The DeploymentConfig group strategy's PrepareForCreate (openshift-apiserver
/// pkg/apps/apiserver/registry/deployconfig/strategy.go:55-65, 146-151, 177-182): the status
/// starts empty, every ImageChange trigger's `lastTriggeredImage` is cleared (the image
/// trigger controller resolves it again) and `revisionHistoryLimit` defaults to 10.
fn deployment_config_create(dc: &mut Value) {
    dc["status"] = json!({
        "latestVersion": 0, "observedGeneration": 0, "replicas": 0, "updatedReplicas": 0,
        "availableReplicas": 0, "unavailableReplicas": 0,
    });
    for trigger in dc["spec"]["triggers"].as_array_mut().into_iter().flatten() {
        if let Some(params) = trigger["imageChangeParams"].as_object_mut() {
            params.remove("lastTriggeredImage");
        }
    }
    default(&mut dc["spec"], "revisionHistoryLimit", json!(10));
}

/// apps.openshift.io/v1 defaults (openshift-apiserver pkg/apps/apis/apps/v1/defaults.go),
/// on every write as the API server decodes: a ConfigChange trigger when none is given, the
/// selector from the template's labels, a Rolling strategy with its parameters, Recreate's
/// timeout, the 6 h deadline, `replicas` and `test` (not omitempty in the v1 type), and an
/// ImageChange trigger's `from` in the DeploymentConfig's namespace.
fn deployment_config(dc: &mut Value) {
    let namespace = dc["metadata"]["namespace"].clone();
    let spec = &mut dc["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    if spec["triggers"].is_null() {
        spec["triggers"] = json!([{"type": "ConfigChange"}]);
    }
    if spec["selector"].as_object().is_none_or(|s| s.is_empty())
        && spec["template"]["metadata"]["labels"].is_object()
    {
        spec["selector"] = spec["template"]["metadata"]["labels"].clone();
    }
    default(spec, "replicas", json!(0));
    default(spec, "test", json!(false));
    let strategy = &mut spec["strategy"];
    default(strategy, "type", json!("Rolling"));
    if strategy["type"] == "Rolling" {
        let params = &mut strategy["rollingParams"];
        default(params, "intervalSeconds", json!(1));
        default(params, "updatePeriodSeconds", json!(1));
        default(params, "timeoutSeconds", json!(600));
        let unset = |v: &Value| v.is_null();
        let zero = |v: &Value| *v == json!(0) || *v == json!("0%");
        match (params["maxUnavailable"].clone(), params["maxSurge"].clone()) {
            (u, s) if unset(&u) && unset(&s) => {
                params["maxUnavailable"] = json!("25%");
                params["maxSurge"] = json!("25%");
            }
            (u, s) if unset(&u) && zero(&s) => params["maxUnavailable"] = json!("25%"),
            (u, s) if unset(&s) && zero(&u) => params["maxSurge"] = json!("25%"),
            _ => {}
        }
    }
    if strategy["type"] == "Recreate" {
        default(
            &mut strategy["recreateParams"],
            "timeoutSeconds",
            json!(600),
        );
    }
    default(strategy, "activeDeadlineSeconds", json!(21600));
    default(strategy, "resources", json!({}));
    for trigger in spec["triggers"].as_array_mut().into_iter().flatten() {
        if trigger["imageChangeParams"].is_object() {
            let from = &mut trigger["imageChangeParams"]["from"];
            default(from, "kind", json!("ImageStreamTag"));
            if namespace.is_string() {
                default(from, "namespace", namespace.clone());
            }
        }
    }
}

fn default(object: &mut Value, key: &str, value: Value) {
    if !object.is_object() {
        *object = json!({});
    }
    if object.get(key).is_none_or(Value::is_null) {
        object[key] = value;
    }
}
