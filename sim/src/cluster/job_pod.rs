//! The kubelet for a Job's pod (restartPolicy Never): the container's command runs once
//! as the pod's only process, in the system image's environment (3scale's tool stand-ins,
//! the system-storage volume), and the pod ends Succeeded or Failed with its exit code.
//! The pod joins system-mysql's network, where the 3scale Jobs find their database.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::owners::controller_ref;
use super::supervisor::{container_started, set_slot, update_pod};
use super::{Cluster, PodSlot, PodState};
use crate::pod::process::PodProcess;
use crate::pod::scripts::{self, ScriptInput};
use crate::pod::templates::{SERVICE_NAMES, Template};
use crate::resources::{CONFIGMAPS, PODS, SECRETS};
use crate::{Result, SimError};

/// Creates a pod for `job` and runs it. Returns the pod's name.
pub fn start(cluster: &Arc<Cluster>, job: &Value) -> Option<String> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let job_name = job["metadata"]["name"].as_str()?;
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let name = format!("{job_name}-{suffix}");
    let template_spec = &job["spec"]["template"];
    let container = template_spec["spec"]["containers"][0].clone();
    let container_name = container["name"].as_str().unwrap_or(job_name).to_string();
    let mut spec = template_spec["spec"].clone();
    spec["nodeName"] = json!(super::NODE_NAME);
    if spec["restartPolicy"].is_null() {
        spec["restartPolicy"] = json!("Never");
    }
    let object = json!({
        "metadata": {
            "name": name,
            "generateName": format!("{job_name}-"),
            "labels": template_spec["metadata"]["labels"],
            "annotations": {"batch.kubernetes.io/job-tracking": ""},
            "finalizers": ["batch.kubernetes.io/job-tracking"],
            "ownerReferences": [controller_ref(job)],
        },
        "spec": spec,
        "status": {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "hostIP": "127.0.0.1",
        },
    });
    let created = cluster
        .store
        .create(&PODS, &cluster.namespace, object)
        .ok()?;
    cluster.event(
        &created,
        super::EventKind::Normal,
        "Scheduled",
        &format!(
            "Successfully assigned {}/{name} to {}",
            cluster.namespace,
            super::NODE_NAME
        ),
        "default-scheduler",
    );
    let template = template_for(&container_name);
    let stop = Arc::new(Notify::new());
    cluster.pods.lock().unwrap().insert(
        name.clone(),
        PodSlot {
            deployment: String::new(),
            hash: String::new(),
            template,
            state: PodState::Starting,
            init_pid: None,
            env: Vec::new(),
            stop: stop.clone(),
            kill: Arc::new(Notify::new()),
        },
    );
    let task_cluster = cluster.clone();
    let task_name = name.clone();
    cluster.supervisors.lock().unwrap().spawn(async move {
        let deleted = run(&task_cluster, &task_name, template, &container, &stop).await;
        task_cluster.pods.lock().unwrap().remove(&task_name);
        if deleted {
            let _ = task_cluster
                .store
                .delete(&PODS, &task_cluster.namespace, &task_name);
            let _ = std::fs::remove_dir_all(task_cluster.dirs.pods.join(&task_name));
        }
        task_cluster.notify_changed();
    });
    Some(name)
}

/// The system image's pod layout (system-app's: tools on the PATH, system-storage
/// mounted), under the Job container's name.
fn template_for(container: &str) -> &'static Template {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Template>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(t) = cache.get(container) {
        return t;
    }
    let base =
        crate::pod::templates::find("system-app").expect("system-app is a 3scale deployment");
    let name: &'static str = Box::leak(container.to_string().into_boxed_str());
    let template: &'static Template = Box::leak(Box::new(Template {
        deployment: name,
        container: name,
        ..*base
    }));
    cache.insert(container.to_string(), template);
    template
}

/// Runs the pod to its end. Returns true when it ended because the pod was deleted.
async fn run(
    cluster: &Arc<Cluster>,
    name: &str,
    template: &'static Template,
    container: &Value,
    stop: &Notify,
) -> bool {
    let container_name = template.container;
    let env = loop {
        match resolve_env(cluster, name, template, container) {
            Ok(env) => break env,
            Err(message) => {
                update_pod(cluster, name, |p| {
                    p["status"]["containerStatuses"] = json!([{
                        "name": container_name, "ready": false, "started": false, "restartCount": 0,
                        "image": container["image"], "imageID": "",
                        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": message}}
                    }]);
                });
                tokio::select! {
                    _ = stop.notified() => return true,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        }
    };
    let mut command: Vec<String> = Vec::new();
    for part in ["command", "args"] {
        for arg in container[part].as_array().into_iter().flatten() {
            command.push(arg.as_str().unwrap_or_default().to_string());
        }
    }
    let mut process = match launch(cluster, name, template, &env, &command).await {
        Ok(p) => p,
        Err(e) => {
            cluster.note(&format!("pod/{name}: the container did not start: {e}"));
            finish(cluster, name, container, 128, "StartError", None);
            return false;
        }
    };
    set_slot(cluster, name, |s| {
        s.init_pid = Some(process.init_pid);
        s.env = env.clone();
        s.state = PodState::Running;
    });
    container_started(
        cluster,
        name,
        container_name,
        container["image"].as_str().unwrap_or_default(),
    );
    let started_at = crate::store::now();
    let ip = format!(
        "10.128.{}.{}",
        rand::random_range(0..=254u8),
        rand::random_range(2..=254u8)
    );
    update_pod(cluster, name, |p| {
        p["status"]["phase"] = json!("Running");
        p["status"]["startTime"] = json!(started_at);
        p["status"]["podIP"] = json!(ip);
        p["status"]["podIPs"] = json!([{"ip": ip}]);
        p["status"]["conditions"] = conditions("True", None);
        p["status"]["containerStatuses"] = json!([{
            "name": container_name, "ready": true, "started": true, "restartCount": 0,
            "image": container["image"], "imageID": container["image"],
            "containerID": format!("cri-o://{}", hex::encode(rand::random::<[u8; 32]>())),
            "state": {"running": {"startedAt": started_at}}
        }]);
    });
    cluster.notify_changed();
    let exit = tokio::select! {
        _ = stop.notified() => {
            // The operator deletes its Jobs with a grace period of 0 (helper/job.go DeleteJob).
            process.kill().await;
            return true;
        }
        status = process.wait_status() => status,
    };
    let code = exit.unwrap_or(137);
    let reason = if code == 0 { "Completed" } else { "Error" };
    finish(cluster, name, container, code, reason, Some(&started_at));
    false
}

fn finish(
    cluster: &Cluster,
    name: &str,
    container: &Value,
    code: i32,
    reason: &str,
    started_at: Option<&str>,
) {
    let finished = crate::store::now();
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    update_pod(cluster, name, |p| {
        let container_id = p["status"]["containerStatuses"][0]["containerID"].clone();
        p["status"]["phase"] = json!(phase);
        p["status"]["conditions"] = conditions("False", Some("PodCompleted"));
        p["status"]["containerStatuses"] = json!([{
            "name": container["name"], "ready": false, "started": false, "restartCount": 0,
            "image": container["image"], "imageID": container["image"],
            "containerID": container_id,
            "state": {"terminated": {
                "exitCode": code, "reason": reason,
                "startedAt": started_at.unwrap_or(&finished), "finishedAt": finished,
                "containerID": container_id,
            }}
        }]);
    });
}

fn conditions(ready: &str, reason: Option<&str>) -> Value {
    let mut c = json!([
        {"type": "PodReadyToStartContainers", "status": "True"},
        {"type": "Initialized", "status": "True"},
        {"type": "Ready", "status": ready},
        {"type": "ContainersReady", "status": ready},
        {"type": "PodScheduled", "status": "True"},
    ]);
    if let Some(reason) = reason {
        c[2]["reason"] = json!(reason);
        c[3]["reason"] = json!(reason);
    }
    c
}

/// The container's environment as the kubelet builds it: literal values and secret keys
/// (a missing Secret or key keeps the pod waiting, CreateContainerConfigError).
fn resolve_env(
    cluster: &Cluster,
    pod: &str,
    template: &Template,
    container: &Value,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut env = vec![
        ("HOME".to_string(), template.home.to_string()),
        (
            "PATH".to_string(),
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                scripts::TOOLS_MOUNT
            ),
        ),
        ("HOSTNAME".to_string(), pod.to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or_default().to_string();
        if let Some(value) = var["value"].as_str() {
            env.push((name, value.to_string()));
            continue;
        }
        let config = &var["valueFrom"]["configMapKeyRef"];
        if let (Some(map), Some(key)) = (config["name"].as_str(), config["key"].as_str()) {
            let value = cluster
                .store
                .get(&CONFIGMAPS, &cluster.namespace, map)
                .ok_or_else(|| format!("configmap \"{map}\" not found"))?["data"][key]
                .as_str()
                .map(String::from)
                .ok_or_else(|| {
                    format!(
                        "couldn't find key {key} in ConfigMap {}/{map}",
                        cluster.namespace
                    )
                })?;
            env.push((name, value));
            continue;
        }
        let reference = &var["valueFrom"]["secretKeyRef"];
        let (Some(secret), Some(key)) = (reference["name"].as_str(), reference["key"].as_str())
        else {
            continue;
        };
        let optional = reference["optional"] == true;
        let value = match cluster.store.get(&SECRETS, &cluster.namespace, secret) {
            None if optional => continue,
            None => return Err(format!("secret \"{secret}\" not found")),
            Some(s) => match s["data"][key].as_str() {
                None if optional => continue,
                None => {
                    return Err(format!(
                        "couldn't find key {key} in Secret {}/{secret}",
                        cluster.namespace
                    ));
                }
                Some(encoded) => base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| format!("secret {secret} key {key}: {e}"))?,
            },
        };
        env.push((name, value));
    }
    Ok(env)
}

async fn launch(
    cluster: &Cluster,
    name: &str,
    template: &Template,
    env: &[(String, String)],
    command: &[String],
) -> Result<PodProcess> {
    let pod_dir = cluster.dirs.pods.join(name);
    std::fs::create_dir_all(&pod_dir).map_err(|e| SimError::io(&pod_dir, e))?;
    let hosts = pod_dir.join("hosts");
    std::fs::write(&hosts, scripts::hosts_file(name, SERVICE_NAMES))
        .map_err(|e| SimError::io(&hosts, e))?;
    let script = scripts::job_init_script(
        &ScriptInput {
            pod: name,
            template,
            pod_dir: &pod_dir,
            volumes_dir: &cluster.dirs.volumes,
            tools_dir: &cluster.dirs.tools,
            events_dir: &cluster.dirs.events,
            postgres_bin: &cluster.postgres_bin,
        },
        env,
        command,
    );
    let path = pod_dir.join("init.sh");
    std::fs::write(&path, script).map_err(|e| SimError::io(&path, e))?;
    // The script carries the container's environment, secrets included.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SimError::io(&path, e))?;
    let mysql = cluster.running_pod("system-mysql").map(|h| h.init_pid);
    PodProcess::launch_in_network(name, &path, &pod_dir.join("log"), mysql).await
}
