//! The kubelet for a Job's pod (restartPolicy Never) and a DeploymentConfig's hook pod
//! (Never, or OnFailure for a Retry hook): the container's command runs as the pod's only
//! process, in the system image's environment (3scale's tool stand-ins) with the claims and
//! emptyDirs the pod mounts, and the pod ends Succeeded or Failed with its exit code. Its status is built as every pod's is
//! (`pod_object`). The pod joins system-mysql's network, where the 3scale Jobs find their
//! database.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::owners::controller_ref;
use super::pod_object;
use super::supervisor::{containers_started, make_empty_dirs, set_slot, update_pod};
use super::{Cluster, PodSlot, PodState};
use crate::pod::process::{Launch, PodProcess};
use crate::pod::scripts::{self, ScriptInput};
use crate::pod::templates::{Container, Mount, SERVICE_NAMES, Template, Volume, VolumeSource};
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
    let mut spec = template_spec["spec"].clone();
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
    });
    start_pod(cluster, object)
}

/// Creates the pod `object` (metadata and spec; its first container is the one that
/// runs) and runs it to its end in the system image's layout. A container that fails is
/// run again in the same pod when the pod's `restartPolicy` is OnFailure, after the
/// kubelet's back-off (from `--job-backoff-seconds`, doubled per restart, at most 300 s
/// as the kubelet's MaxContainerBackOff). Returns the pod's name.
pub fn start_pod(cluster: &Arc<Cluster>, mut object: Value) -> Option<String> {
    let name = object["metadata"]["name"].as_str()?.to_string();
    let container = object["spec"]["containers"][0].clone();
    object["spec"]["nodeName"] = json!(super::NODE_NAME);
    object["status"] = json!({
        "phase": "Pending",
        "qosClass": "BestEffort",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
    });
    let restart = object["spec"]["restartPolicy"] == "OnFailure";
    let spec = object["spec"].clone();
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
    let template = template_for(&name, &spec, &container);
    let stop = Arc::new(Notify::new());
    cluster.pods.lock().unwrap().insert(
        name.clone(),
        PodSlot {
            deployment: String::new(),
            hash: String::new(),
            template,
            state: PodState::Starting,
            init_pid: None,
            containers: Vec::new(),
            env: Vec::new(),
            stop: stop.clone(),
            kill: Arc::new(Notify::new()),
        },
    );
    let task_cluster = cluster.clone();
    let task_name = name.clone();
    cluster.supervisors.lock().unwrap().spawn(async move {
        let deleted = run(
            &task_cluster,
            &task_name,
            template,
            &container,
            restart,
            &stop,
        )
        .await;
        task_cluster.pods.lock().unwrap().remove(&task_name);
        if deleted {
            let _ = task_cluster
                .store
                .delete(&PODS, &task_cluster.namespace, &task_name);
            let _ = std::fs::remove_dir_all(task_cluster.dirs.pods.join(&task_name));
            let _ = std::fs::remove_dir_all(task_cluster.dirs.empty_dirs.join(&task_name));
        }
        task_cluster.notify_changed();
    });
    Some(name)
}

/// The system image's pod layout (system-app's: user, home, tools on the PATH) with the
/// Job's one container and the volumes it mounts: its claims and emptyDirs (a ConfigMap
/// volume is not modelled).
fn template_for(job: &str, spec: &Value, container: &Value) -> &'static Template {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Template>>> = OnceLock::new();
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<Mount> = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let (Some(name), Some(path)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
            continue;
        };
        let Some(v) = spec["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        else {
            continue;
        };
        let source = if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
            VolumeSource::Claim(leak(claim))
        } else if v["emptyDir"]["medium"] == "Memory" {
            VolumeSource::Memory
        } else if v["emptyDir"].is_object() {
            VolumeSource::EmptyDir
        } else {
            continue;
        };
        volumes.push(Volume {
            name: leak(name),
            source,
        });
        mounts.push(Mount {
            volume: leak(name),
            path: leak(path),
            read_only: m["readOnly"] == true,
        });
    }
    let name = container["name"].as_str().unwrap_or(job).to_string();
    let key = format!("{name} {volumes:?} {mounts:?}");
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(t) = cache.get(&key) {
        return t;
    }
    let base =
        crate::pod::templates::find("system-app").expect("system-app is a 3scale deployment");
    let name = leak(&name);
    let containers: &'static [Container] = Box::leak(Box::new([Container {
        name,
        ports: &[],
        mounts: Box::leak(mounts.into_boxed_slice()),
    }]));
    let template: &'static Template = Box::leak(Box::new(Template {
        deployment: name,
        containers,
        init_containers: &[],
        volumes: Box::leak(volumes.into_boxed_slice()),
        ..*base
    }));
    cache.insert(key, template);
    template
}

/// Runs the pod to its end. Returns true when it ended because the pod was deleted.
async fn run(
    cluster: &Arc<Cluster>,
    name: &str,
    template: &'static Template,
    container: &Value,
    restart_on_failure: bool,
    stop: &Notify,
) -> bool {
    let env = loop {
        match resolve_env(cluster, name, template, container) {
            Ok(env) => break env,
            Err(message) => {
                update_pod(cluster, name, |p| {
                    pod_object::set_waiting(p, template, "CreateContainerConfigError", &message, 0)
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
    let ip = format!(
        "10.128.{}.{}",
        rand::random_range(0..=254u8),
        rand::random_range(2..=254u8)
    );
    let mut restarts = 0u32;
    // The container's previous run, as the kubelet keeps it in `lastState`.
    let mut last_state = json!({});
    loop {
        let started_at = crate::store::now();
        let launched = launch(cluster, name, template, &env, &command).await;
        let mut process = match launched {
            Ok(launch) => launch,
            Err(e) => {
                cluster.note(&format!("pod/{name}: the container did not start: {e}"));
                let now = crate::store::now();
                update_pod(cluster, name, |p| {
                    pod_object::set_terminated(p, template, 128, "StartError", &now)
                });
                return false;
            }
        };
        if restarts == 0 {
            containers_started(cluster, name, template);
        }
        let exit = match &mut process {
            // Over before its PID 1 was seen: it ran, and ended.
            Launch::Exited(status) => *status,
            Launch::Running(process) => {
                set_slot(cluster, name, |s| {
                    s.init_pid = Some(process.init_pid);
                    s.containers = vec![(template.main_container().to_string(), process.init_pid)];
                    s.env = env.clone();
                    s.state = PodState::Running;
                });
                update_pod(cluster, name, |p| {
                    pod_object::set_running(p, template, true, restarts, &started_at, &ip);
                    p["status"]["containerStatuses"][0]["lastState"] = last_state.clone();
                });
                cluster.notify_changed();
                tokio::select! {
                    _ = stop.notified() => {
                        // The operator deletes its Jobs with a grace period of 0
                        // (helper/job.go DeleteJob).
                        process.kill().await;
                        return true;
                    }
                    status = process.wait_status() => status,
                }
            }
        };
        let code = exit.unwrap_or(137);
        let reason = if code == 0 { "Completed" } else { "Error" };
        if code == 0 || !restart_on_failure {
            update_pod(cluster, name, |p| {
                pod_object::set_terminated(p, template, code, reason, &started_at);
                p["status"]["containerStatuses"][0]["restartCount"] = json!(restarts);
                p["status"]["containerStatuses"][0]["lastState"] = last_state.clone();
            });
            return false;
        }
        // restartPolicy OnFailure: the kubelet starts the container again in this pod
        // after its crash back-off, and the pod stays Running meanwhile. The finished
        // container's log is kept apart (what `kubectl logs --previous` reads).
        let pod_dir = cluster.dirs.pods.join(name);
        let _ = std::fs::rename(pod_dir.join("log"), pod_dir.join("previous.log"));
        let backoff = cluster
            .options
            .job_backoff
            .saturating_mul(1 << restarts.min(16))
            .min(Duration::from_secs(300));
        restarts += 1;
        set_slot(cluster, name, |s| {
            s.init_pid = None;
            s.containers.clear();
        });
        let finished = crate::store::now();
        last_state = json!({"terminated": {
            "exitCode": code, "reason": reason, "startedAt": started_at,
            "finishedAt": finished,
        }});
        update_pod(cluster, name, |p| {
            pod_object::set_waiting(
                p,
                template,
                "CrashLoopBackOff",
                &format!(
                    "back-off {}s restarting failed container={} pod={name}",
                    backoff.as_secs(),
                    template.main_container()
                ),
                restarts,
            );
            p["status"]["phase"] = json!("Running");
            p["status"]["containerStatuses"][0]["lastState"] = last_state.clone();
        });
        tokio::select! {
            _ = stop.notified() => return true,
            _ = tokio::time::sleep(backoff) => {}
        }
    }
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
) -> Result<Launch> {
    let pod_dir = cluster.dirs.pods.join(name);
    std::fs::create_dir_all(&pod_dir).map_err(|e| SimError::io(&pod_dir, e))?;
    for point in scripts::mount_points(template) {
        std::fs::create_dir_all(&point).map_err(|e| SimError::io(&point, e))?;
    }
    for claim in template.claims() {
        let dir = cluster.dirs.volumes.join(claim);
        std::fs::create_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
    }
    let empty_dirs = make_empty_dirs(cluster, name, template)?;
    let hosts = pod_dir.join("hosts");
    std::fs::write(&hosts, scripts::hosts_file(name, SERVICE_NAMES))
        .map_err(|e| SimError::io(&hosts, e))?;
    let script = scripts::job_init_script(
        &ScriptInput {
            pod: name,
            template,
            pod_dir: &pod_dir,
            volumes_dir: &cluster.dirs.volumes,
            empty_dirs: &empty_dirs,
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
    PodProcess::start(name, &path, &pod_dir.join("log"), mysql).await
}
