//! One task per pod, doing what the kubelet does for it: resolve its environment from
//! Secrets (waiting while one is missing), start its processes, probe readiness, restart
//! the container if it dies, and stop it gracefully when the pod is deleted.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use tokio::sync::Notify;

use super::events::Kind;
use super::pod_object;
use super::{Cluster, ClusterOptions, Dirs, PodSlot, PodState};
use crate::pod::process::{PodProcess, container_pids, exec_command};
use crate::pod::scripts::{self, ScriptInput};
use crate::pod::templates::{EnvValue, SERVICE_NAMES, TEMPLATES, Template, VolumeSource, Workload};
use crate::resources::{CONFIGMAPS, PODS, SECRETS};
use crate::{Result, SimError};

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Mount points and the tool stand-ins every pod may need, made once per start.
pub fn prepare_machine(dirs: &Dirs, options: &ClusterOptions) -> Result<()> {
    for t in TEMPLATES {
        for point in scripts::mount_points(t) {
            std::fs::create_dir_all(&point).map_err(|e| SimError::io(&point, e))?;
        }
        for claim in t.claims() {
            let dir = dirs.volumes.join(claim);
            std::fs::create_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
        }
    }
    let bundle = dirs.tools.join("bundle");
    std::fs::write(&bundle, scripts::bundle_stub(options.deploy_job))
        .map_err(|e| SimError::io(&bundle, e))?;
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| SimError::io(&bundle, e))?;
    Ok(())
}

/// Who a pod belongs to: its workload (the Deployment or DeploymentConfig, whose name is
/// the template's), the revision it was stamped from (a pod-template-hash or an RC's
/// name), its controller (a ReplicaSet or ReplicationController) and the name prefix and
/// labels the controller adds.
pub struct PodOwner<'a> {
    pub workload: String,
    pub revision: String,
    pub generate_name: String,
    pub extra_labels: Value,
    pub controller: &'a Value,
}

/// Creates the pod object and starts supervising its processes, as the scheduler and the
/// kubelet do together. Returns its name.
pub fn start_pod(
    cluster: &Arc<Cluster>,
    template: &'static Template,
    owner: &PodOwner,
) -> Option<String> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let name = format!("{}{suffix}", owner.generate_name);
    let object = pod_object::new_pod(&name, template, owner, cluster.options.release);
    let created = cluster
        .store
        .create(&PODS, &cluster.namespace, object)
        .ok()?;
    cluster.event(
        &created,
        Kind::Normal,
        "Scheduled",
        &format!(
            "Successfully assigned {}/{name} to {}",
            cluster.namespace,
            super::NODE_NAME
        ),
        "default-scheduler",
    );
    let stop = Arc::new(Notify::new());
    let kill = Arc::new(Notify::new());
    cluster.pods.lock().unwrap().insert(
        name.clone(),
        PodSlot {
            deployment: owner.workload.clone(),
            hash: owner.revision.clone(),
            template,
            state: PodState::Starting,
            init_pid: None,
            containers: Vec::new(),
            env: Vec::new(),
            stop: stop.clone(),
            kill: kill.clone(),
        },
    );
    let task_cluster = cluster.clone();
    let task_name = name.clone();
    cluster.supervisors.lock().unwrap().spawn(async move {
        supervise(&task_cluster, &task_name, template, &stop, &kill).await;
        cleanup(&task_cluster, &task_name);
    });
    Some(name)
}

/// The kubelet's events for the containers it starts, init containers first (each
/// Pulled, Created, Started), with the image the pod's spec names for each.
pub(super) fn containers_started(cluster: &Cluster, pod: &str, template: &Template) {
    let Some(object) = cluster.store.get(&PODS, &cluster.namespace, pod) else {
        return;
    };
    let names = template
        .init_containers
        .iter()
        .map(|i| (i.name, "initContainers"))
        .chain(template.containers.iter().map(|c| (c.name, "containers")));
    for (container, field) in names {
        let image = pod_object::spec_image(&object, field, container, template);
        for (reason, message) in [
            (
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            ),
            ("Created", format!("Created container: {container}")),
            ("Started", format!("Started container {container}")),
        ] {
            cluster.event(&object, Kind::Normal, reason, &message, "kubelet");
        }
    }
}

/// A Warning event from the kubelet about the pod.
fn warn(cluster: &Cluster, pod: &str, reason: &str, message: &str) {
    if let Some(object) = cluster.store.get(&PODS, &cluster.namespace, pod) {
        cluster.event(&object, Kind::Warning, reason, message, "kubelet");
    }
}

async fn supervise(
    cluster: &Arc<Cluster>,
    name: &str,
    template: &'static Template,
    stop: &Notify,
    kill: &Notify,
) {
    let ip = format!(
        "10.128.{}.{}",
        rand::random_range(0..=254u8),
        rand::random_range(2..=254u8)
    );
    let mut restarts = 0u32;
    loop {
        let env = loop {
            match resolve_env(cluster, name, template) {
                Ok(env) => break env,
                Err(message) => {
                    update_pod(cluster, name, |p| {
                        pod_object::set_waiting(
                            p,
                            template,
                            "CreateContainerConfigError",
                            &message,
                            restarts,
                        )
                    });
                    tokio::select! {
                        _ = stop.notified() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            }
        };
        let launched = match launch(cluster, name, template, &env).await {
            Ok(mut p) => match containers_of(&mut p, cluster, name, template).await {
                Ok(containers) => Ok((p, containers)),
                Err(e) => {
                    p.kill().await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        let (mut process, containers) = match launched {
            Ok(launched) => launched,
            Err(e) => {
                // pkg/kubelet/container/sync_result.go: a failed start is a BackOff event.
                warn(
                    cluster,
                    name,
                    "BackOff",
                    &format!("Back-off restarting failed container: {e}"),
                );
                update_pod(cluster, name, |p| {
                    pod_object::set_waiting(
                        p,
                        template,
                        "CrashLoopBackOff",
                        &e.to_string(),
                        restarts,
                    )
                });
                restarts += 1;
                tokio::select! {
                    _ = stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        set_slot(cluster, name, |s| {
            s.init_pid = Some(process.init_pid);
            s.containers = containers;
            s.env = env.clone();
        });
        containers_started(cluster, name, template);
        let started_at = crate::store::now();
        update_pod(cluster, name, |p| {
            pod_object::set_running(p, template, false, restarts, &started_at, &ip)
        });
        let ready = tokio::select! {
            _ = stop.notified() => {
                process.stop(STOP_GRACE).await;
                return;
            }
            r = become_ready(&mut process, template, &env) => r,
        };
        if let Err(e) = ready {
            tracing::warn!(pod = name, "not ready: {e}");
            // The kubelet's prober says so in an event (pkg/kubelet/prober/prober.go,
            // reason Unhealthy), so that a stuck start shows in `kubectl get events`.
            warn(
                cluster,
                name,
                "Unhealthy",
                &format!("Readiness probe failed: {e}"),
            );
            process.kill().await;
            restarts += 1;
            update_pod(cluster, name, |p| {
                pod_object::set_waiting(p, template, "CrashLoopBackOff", &e.to_string(), restarts)
            });
            tokio::select! {
                _ = stop.notified() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
            }
        }
        update_pod(cluster, name, |p| {
            pod_object::set_running(p, template, true, restarts, &started_at, &ip)
        });
        set_slot(cluster, name, |s| {
            if s.state == PodState::Starting {
                s.state = PodState::Running;
            }
        });
        cluster.notify_changed();
        tokio::select! {
            _ = stop.notified() => {
                process.stop(STOP_GRACE).await;
                return;
            }
            _ = kill.notified() => {
                process.kill().await;
            }
            _ = process.wait() => {}
        }
        if cluster.is_stopping() {
            return;
        }
        // The container died: the kubelet restarts it in the same pod.
        restarts += 1;
        tracing::info!(pod = name, restarts, "container exited; restarting");
        set_slot(cluster, name, |s| {
            s.init_pid = None;
            s.containers.clear();
            if s.state == PodState::Running {
                s.state = PodState::Starting;
            }
        });
        update_pod(cluster, name, |p| {
            pod_object::set_running(p, template, false, restarts, &crate::store::now(), &ip)
        });
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

fn cleanup(cluster: &Cluster, name: &str) {
    cluster.pods.lock().unwrap().remove(name);
    let _ = cluster.store.delete(&PODS, &cluster.namespace, name);
    let _ = std::fs::remove_dir_all(cluster.dirs.pods.join(name));
    let _ = std::fs::remove_dir_all(cluster.dirs.empty_dirs.join(name));
    cluster.notify_changed();
}

pub(super) fn set_slot(cluster: &Cluster, name: &str, change: impl FnOnce(&mut PodSlot)) {
    if let Some(slot) = cluster.pods.lock().unwrap().get_mut(name) {
        change(slot);
    }
}

pub(super) fn update_pod(cluster: &Cluster, name: &str, change: impl FnOnce(&mut Value)) {
    let _ = cluster.store.modify(&PODS, &cluster.namespace, name, |p| {
        change(p);
        Ok(())
    });
}

fn resolve_env(
    cluster: &Cluster,
    pod: &str,
    template: &Template,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut path = String::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if template.system_tools {
        path = format!("{}:{path}", scripts::TOOLS_MOUNT);
    }
    let mut env = vec![
        ("HOME".to_string(), template.home.to_string()),
        ("PATH".to_string(), path),
        ("HOSTNAME".to_string(), pod.to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ];
    // The PostgreSQL image's own ENV (sclorg postgresql-container Dockerfile: HOME and
    // PGUSER), so psql run by exec connects as postgres through the default socket.
    if template.workload == Workload::Postgres {
        env.push(("PGUSER".to_string(), "postgres".to_string()));
    }
    let object = cluster.store.get(&PODS, &cluster.namespace, pod);
    for (key, value) in template.env {
        // The literal the operator wrote into the Deployment (and so into the pod); a
        // Deployment made without it falls back to the Secret's URL.
        if let EnvValue::SecretUrlPassword { .. } = value
            && let Some(v) = object.as_ref().and_then(|p| spec_env_value(p, key))
        {
            env.push((key.to_string(), v));
            continue;
        }
        let value = match value {
            EnvValue::Literal(v) => v.to_string(),
            EnvValue::Secret {
                name,
                key: data_key,
            }
            | EnvValue::SecretUrlPassword {
                name,
                key: data_key,
            } => {
                let secret = cluster
                    .store
                    .get(&SECRETS, &cluster.namespace, name)
                    .ok_or_else(|| format!("secret \"{name}\" not found"))?;
                let encoded = secret["data"][*data_key].as_str().ok_or_else(|| {
                    format!(
                        "couldn't find key {data_key} in Secret {}/{name}",
                        cluster.namespace
                    )
                })?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| format!("secret {name} key {data_key}: {e}"))?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if matches!(value, EnvValue::SecretUrlPassword { .. }) {
                    crate::pod::templates::url_password(&text).ok_or_else(|| {
                        format!("secret {name} key {data_key}: no password in the URL")
                    })?
                } else {
                    text
                }
            }
        };
        env.push((key.to_string(), value));
    }
    Ok(env)
}

/// A non-empty literal `value` of `name` in the pod's containers' env.
fn spec_env_value(pod: &Value, name: &str) -> Option<String> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["env"].as_array().into_iter().flatten())
        .find(|e| e["name"] == name)?["value"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(String::from)
}

async fn launch(
    cluster: &Cluster,
    name: &str,
    template: &Template,
    env: &[(String, String)],
) -> Result<PodProcess> {
    let pod_dir = cluster.dirs.pods.join(name);
    std::fs::create_dir_all(&pod_dir).map_err(|e| SimError::io(&pod_dir, e))?;
    std::fs::set_permissions(&pod_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| SimError::io(&pod_dir, e))?;
    let write = |file: &str, text: &str, mode: u32| -> Result<()> {
        let path = pod_dir.join(file);
        std::fs::write(&path, text).map_err(|e| SimError::io(&path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| SimError::io(&path, e))
    };
    write("hosts", &scripts::hosts_file(name, SERVICE_NAMES), 0o644)?;
    let empty_dirs = make_empty_dirs(cluster, name, template)?;
    if template.containers.len() > 1 {
        for c in template.containers {
            write(
                &scripts::container_script_file(c.name),
                &scripts::container_script(name, template, c),
                0o755,
            )?;
        }
    }
    match template.workload {
        Workload::Redis => {
            let config = cluster
                .store
                .get(&CONFIGMAPS, &cluster.namespace, "redis-config")
                .and_then(|cm| cm["data"]["redis.conf"].as_str().map(String::from))
                .ok_or_else(|| SimError::pod(name, "configmap \"redis-config\" not found"))?;
            write("redis.conf", &scripts::redis_conf(&config), 0o644)?;
        }
        Workload::MariaDb => {
            let password = env
                .iter()
                .find(|(k, _)| k == "MYSQL_ROOT_PASSWORD")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            write("init.sql", &scripts::mysql_init_sql(password), 0o600)?;
        }
        Workload::Postgres | Workload::Idle => {}
    }
    let script = scripts::init_script(&ScriptInput {
        pod: name,
        template,
        pod_dir: &pod_dir,
        volumes_dir: &cluster.dirs.volumes,
        empty_dirs: &empty_dirs,
        tools_dir: &cluster.dirs.tools,
        events_dir: &cluster.dirs.events,
        postgres_bin: &cluster.postgres_bin,
    });
    write("init.sh", &script, 0o755)?;
    PodProcess::launch(name, &pod_dir.join("init.sh"), &pod_dir.join("log")).await
}

/// The pod's emptyDir volumes, made empty when the pod starts. They outlive a container
/// restart (`launch` runs again for one) but not the pod: `cleanup` removes them.
pub(super) fn make_empty_dirs(
    cluster: &Cluster,
    name: &str,
    template: &Template,
) -> Result<std::path::PathBuf> {
    let empty_dirs = cluster.dirs.empty_dirs.join(name);
    for v in template
        .volumes
        .iter()
        .filter(|v| v.source == VolumeSource::EmptyDir)
    {
        let dir = empty_dirs.join(v.name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| SimError::io(&dir, e))?;
        }
    }
    Ok(empty_dirs)
}

/// The process to enter for each container. A single container is the pod's PID 1; in a
/// pod of several, each container's process has set up its own mounts once its ready file
/// appears, and only then may exec enter it.
async fn containers_of(
    process: &mut PodProcess,
    cluster: &Cluster,
    name: &str,
    template: &Template,
) -> Result<Vec<(String, i32)>> {
    if let [only] = template.containers {
        return Ok(vec![(only.name.to_string(), process.init_pid)]);
    }
    let pod_dir = cluster.dirs.pods.join(name);
    let scripts: Vec<(&str, String)> = template
        .containers
        .iter()
        .map(|c| (c.name, scripts::container_script_file(c.name)))
        .collect();
    for _ in 0..500 {
        let ready = template
            .containers
            .iter()
            .all(|c| pod_dir.join(scripts::container_ready_file(c.name)).exists());
        if ready {
            let found = container_pids(process.init_pid, &scripts);
            if found.len() == template.containers.len() {
                return Ok(template
                    .containers
                    .iter()
                    .filter_map(|c| found.iter().find(|(n, _)| n == c.name).cloned())
                    .collect());
            }
        }
        if !process.running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(SimError::pod(
        name,
        format!(
            "its containers did not start; see {}",
            pod_dir.join("log").display()
        ),
    ))
}

/// Waits for the server to answer, then does what an image's entrypoint does on first
/// start (the zync database).
async fn become_ready(
    process: &mut PodProcess,
    template: &Template,
    env: &[(String, String)],
) -> Result<()> {
    let probe: Vec<&str> = match template.workload {
        Workload::MariaDb => vec!["mariadb-admin", "--socket=/run/mysqld/mysqld.sock", "ping"],
        Workload::Postgres => vec!["pg_isready", "-q"],
        Workload::Redis => vec!["redis-cli", "ping"],
        Workload::Idle => return Ok(()),
    };
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if !process.running() {
            return Err(SimError::Other("the server exited while starting".into()));
        }
        if let Ok((true, out)) = run(process.init_pid, template, env, &probe).await
            && (template.workload != Workload::Redis || out.trim() == "PONG")
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(SimError::Other(format!(
                "not ready after {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if template.workload == Workload::Postgres {
        // The sclorg image's run-postgresql: create_users on a new data directory
        // (createuser $POSTGRESQL_USER; createdb --owner=$POSTGRESQL_USER
        // $POSTGRESQL_DATABASE), and set_passwords at every start. The user's data is
        // then the user's: zync's migrations create its tables connected as zync.
        let setup = r#"set -e
if ! psql -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='$POSTGRESQL_USER'" | grep -q 1; then
  createuser "$POSTGRESQL_USER"
fi
if ! psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$POSTGRESQL_DATABASE'" | grep -q 1; then
  createdb --owner="$POSTGRESQL_USER" "$POSTGRESQL_DATABASE"
fi
psql -d postgres -q -v ON_ERROR_STOP=1 -v user="$POSTGRESQL_USER" -v pw="$POSTGRESQL_PASSWORD" <<'SQL'
ALTER USER :"user" WITH ENCRYPTED PASSWORD :'pw';
SQL
"#;
        match run(process.init_pid, template, env, &["bash", "-c", setup]).await {
            Ok((true, _)) => {}
            other => {
                return Err(SimError::Other(format!(
                    "creating the zync role and database failed: {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Runs a short command in the pod: (success, stdout).
pub async fn run(
    init_pid: i32,
    template: &Template,
    env: &[(String, String)],
    argv: &[&str],
) -> Result<(bool, String)> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut cmd = exec_command(init_pid, template, env, &argv);
    cmd.stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .map_err(|_| SimError::Other(format!("`{}` timed out", argv.join(" "))))??;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}
