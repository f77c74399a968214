//! A deployment's deployer pod `NAME-VERSION-deploy` and what it runs, `openshift-deploy`
//! (openshift/oc pkg/cli/deployer): it scales older deployments down, then runs the DC's
//! strategy from the last complete deployment to the new one, with its lifecycle hooks
//! as hook pods `NAME-VERSION-hook-pre|post`, and ends Succeeded or Failed; the deployer
//! controller turns that into the deployment's phase. Its output is the pod's log.
//!
//! - Recreate (recreate/recreate.go DeployWithAcceptor:102-220): the old deployment to
//!   zero and its pods gone, then the new one to 1 (accepted once available), then to the
//!   desired count.
//! - Rolling (rolling/rolling.go Deploy:109-240, rolling_updater.go Update:194-345): the pre hook,
//!   then the new deployment up and the old one down within maxSurge/maxUnavailable of
//!   the desired count, `updatePeriodSeconds` apart, then the post hook. The first
//!   deployment goes through Recreate between the hooks.
//! - Hooks (support/lifecycle.go:88-127, 186-489): a pod in the named container's image
//!   with its environment under the hook's, the hook's volumes, labels
//!   `openshift.io/deployer-pod-for.name` and `openshift.io/deployer-pod.type`; a Retry hook
//!   pod restarts its container on failure (restartPolicy OnFailure) until it succeeds, an
//!   Abort hook's failure fails the rollout.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::appsutil as au;
use super::events::Kind;
use super::owners::controller_of;
use super::pod_object;
use super::supervisor::{containers_started, update_pod};
use super::{Cluster, PodSlot, PodState};
use crate::pod::templates::{Container, Template, Workload};
use crate::resources::{DEPLOYMENT_CONFIGS, PODS, REPLICATION_CONTROLLERS};

/// The deployer image openshift-controller-manager runs (its `--deployer-image`).
const DEPLOYER_IMAGE: &str = "quay.io/openshift/origin-deployer:4.14";
const COMPONENT: &str = "deployer";
const POLL: Duration = Duration::from_millis(100);

/// What the deployer pod shows: one container, `deployment`.
static DEPLOYER: Template = Template {
    deployment: "deployer",
    containers: &[Container {
        name: "deployment",
        ports: &[],
        mounts: &[],
    }],
    init_containers: &[],
    image: DEPLOYER_IMAGE,
    component: "",
    element: "",
    workload: Workload::Idle,
    user: None,
    home: "/",
    volumes: &[],
    env: &[],
    replicas: 0,
    system_tools: false,
};

/// deployer_controller.go makeDeployerPod:356-447: creates the deployer pod of `rc` and
/// starts its work. Returns the pod.
pub fn start(cluster: &Arc<Cluster>, rc: &Value) -> Option<Value> {
    let rc_name = au::name_of(rc).to_string();
    let name = au::deployer_pod_name(&rc_name);
    let config = au::decode(rc)?;
    let strategy = &config["spec"]["strategy"];
    let object = json!({
        "metadata": {
            "name": name,
            "annotations": {
                au::DEPLOYMENT: rc_name,
                au::CONFIG: rc["metadata"]["annotations"][au::CONFIG],
            },
            "labels": {au::DEPLOYER_POD_FOR: rc_name},
            // Not a controller reference: the RC does not manage it, but it goes with it.
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ReplicationController",
                "name": rc_name, "uid": rc["metadata"]["uid"],
            }],
        },
        "spec": {
            "containers": [{
                "name": "deployment",
                "image": DEPLOYER_IMAGE,
                "env": [
                    {"name": "OPENSHIFT_DEPLOYMENT_NAME", "value": rc_name},
                    {"name": "OPENSHIFT_DEPLOYMENT_NAMESPACE", "value": cluster.namespace},
                ],
                "resources": strategy["resources"],
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }],
            "activeDeadlineSeconds": strategy["activeDeadlineSeconds"].as_i64().unwrap_or(21600),
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Never",
            "serviceAccountName": "deployer",
            "serviceAccount": "deployer",
            "terminationGracePeriodSeconds": 10,
            "shareProcessNamespace": false,
            "nodeName": super::NODE_NAME,
            "schedulerName": "default-scheduler",
            "securityContext": {},
        },
        "status": {
            "phase": "Pending",
            "qosClass": "BestEffort",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
        },
    });
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
    cluster.pods.lock().unwrap().insert(
        name.clone(),
        PodSlot {
            deployment: String::new(),
            hash: String::new(),
            template: &DEPLOYER,
            state: PodState::Running,
            init_pid: None,
            containers: Vec::new(),
            env: Vec::new(),
            stop: stop.clone(),
            kill: Arc::new(Notify::new()),
        },
    );
    let task_cluster = cluster.clone();
    cluster.supervisors.lock().unwrap().spawn(async move {
        let deployer = Deployer::new(&task_cluster, &name, &rc_name);
        let started_at = crate::store::now();
        containers_started(&task_cluster, &name, &DEPLOYER);
        let ip = format!(
            "10.128.{}.{}",
            rand::random_range(0..=254u8),
            rand::random_range(2..=254u8)
        );
        update_pod(&task_cluster, &name, |p| {
            pod_object::set_running(p, &DEPLOYER, true, 0, &started_at, &ip)
        });
        let deleted = tokio::select! {
            _ = stop.notified() => true,
            result = deployer.deploy() => {
                let code = match result {
                    Ok(()) => 0,
                    Err(e) => {
                        deployer.say(&format!("error: {e}"));
                        1
                    }
                };
                let reason = if code == 0 { "Completed" } else { "Error" };
                update_pod(&task_cluster, &name, |p| {
                    pod_object::set_terminated(p, &DEPLOYER, code, reason, &started_at)
                });
                false
            }
        };
        task_cluster.pods.lock().unwrap().remove(&name);
        if deleted {
            let _ = task_cluster
                .store
                .delete(&PODS, &task_cluster.namespace, &name);
            let _ = std::fs::remove_dir_all(task_cluster.dirs.pods.join(&name));
        }
        task_cluster.notify_changed();
    });
    Some(created)
}

type Outcome = Result<(), String>;

struct Deployer<'a> {
    cluster: &'a Arc<Cluster>,
    pod: String,
    rc: String,
}

impl<'a> Deployer<'a> {
    fn new(cluster: &'a Arc<Cluster>, pod: &str, rc: &str) -> Self {
        let dir = cluster.dirs.pods.join(pod);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("log"), "");
        Deployer {
            cluster,
            pod: pod.to_string(),
            rc: rc.to_string(),
        }
    }

    /// A line of the deployer's output (its pod's log).
    fn say(&self, line: &str) {
        let path = self.cluster.dirs.pods.join(&self.pod).join("log");
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }

    fn ns(&self) -> &str {
        &self.cluster.namespace
    }

    fn get_rc(&self, name: &str) -> Result<Value, String> {
        self.cluster
            .store
            .get(&REPLICATION_CONTROLLERS, self.ns(), name)
            .ok_or_else(|| format!("replicationcontrollers \"{name}\" not found"))
    }

    /// deployer.go Deploy:179-266.
    async fn deploy(&self) -> Outcome {
        let to = self
            .get_rc(&self.rc)
            .map_err(|e| format!("couldn't get deployment {}: {e}", self.rc))?;
        let config = au::decode(&to).ok_or_else(|| {
            format!(
                "couldn't decode deployment config from deployment {}",
                self.rc
            )
        })?;
        let desired = to["metadata"]["annotations"][au::DESIRED_REPLICAS]
            .as_str()
            .and_then(|d| d.parse::<i64>().ok())
            .ok_or_else(|| format!("deployment {} has already run to completion", self.rc))?;
        let dc = self
            .cluster
            .store
            .get(&DEPLOYMENT_CONFIGS, self.ns(), au::name_of(&config))
            .unwrap_or_else(|| config.clone());
        let deployments = au::deployments_of(&self.cluster.store, self.ns(), &dc);
        let from = deployments
            .iter()
            .find(|rc| au::name_of(rc) != self.rc && au::is_complete(rc))
            .cloned();
        if let Some(from) = &from
            && au::version(&to) < au::version(from)
        {
            return Err(format!(
                "deployment {} is older than {}",
                self.rc,
                au::name_of(from)
            ));
        }
        for other in &deployments {
            let name = au::name_of(other);
            if name == self.rc
                || from.as_ref().is_some_and(|f| au::name_of(f) == name)
                || other["spec"]["replicas"].as_i64().unwrap_or(0) == 0
            {
                continue;
            }
            if self.set_replicas(name, 0).is_ok() {
                self.say(&format!("--> Scaled older deployment {name} down"));
            }
        }
        let strategy = &config["spec"]["strategy"];
        if strategy["type"] == "Rolling" {
            self.rolling(&config, from.as_ref(), desired).await?;
        } else {
            self.recreate(&config, from.as_ref(), desired, None).await?;
        }
        self.say("--> Success");
        Ok(())
    }

    /// recreate.go DeployWithAcceptor:102-220 (the Rolling strategy's first deployment
    /// comes here too, with the rolling timeout and its own hooks).
    async fn recreate(
        &self,
        config: &Value,
        from: Option<&Value>,
        desired: i64,
        rolling_timeout: Option<i64>,
    ) -> Outcome {
        let params = &config["spec"]["strategy"]["recreateParams"];
        let timeout = Duration::from_secs(
            rolling_timeout
                .or(params["timeoutSeconds"].as_i64())
                .unwrap_or(600)
                .max(1) as u64,
        );
        if params["pre"].is_object() {
            self.hook(config, &params["pre"], "pre")
                .await
                .map_err(|e| format!("pre hook failed: {e}"))?;
        }
        if let Some(from) = from {
            let from = au::name_of(from);
            self.say(&format!("--> Scaling {from} down to zero"));
            self.scale_and_wait(from, 0, timeout)
                .await
                .map_err(|e| format!("couldn't scale {from} to 0: {e}"))?;
            self.wait_for_terminated_pods(from, timeout).await;
        }
        if params["mid"].is_object() {
            self.hook(config, &params["mid"], "mid")
                .await
                .map_err(|e| format!("mid hook failed: {e}"))?;
        }
        let to = self.rc.clone();
        if desired > 0 {
            let mut accepted = false;
            if from.is_some() {
                self.say(&format!(
                    "--> Scaling {to} to 1 before performing acceptance check"
                ));
                self.scale_and_wait(&to, 1, timeout)
                    .await
                    .map_err(|e| format!("couldn't scale {to} to 1: {e}"))?;
                self.accept(&to, timeout)
                    .await
                    .map_err(|e| format!("update acceptor rejected {to}: {e}"))?;
                accepted = true;
            }
            let now = self.get_rc(&to)?;
            if now["spec"]["replicas"].as_i64() != Some(desired) {
                self.say(&format!("--> Scaling {to} to {desired}"));
                self.scale_and_wait(&to, desired, timeout)
                    .await
                    .map_err(|e| format!("couldn't scale {to} to {desired}: {e}"))?;
            }
            if !accepted {
                self.accept(&to, timeout)
                    .await
                    .map_err(|e| format!("update acceptor rejected {to}: {e}"))?;
            }
        }
        if params["post"].is_object() {
            self.hook(config, &params["post"], "post")
                .await
                .map_err(|e| format!("post hook failed: {e}"))?;
        }
        Ok(())
    }

    /// rolling.go Deploy:109-240 and rolling_updater.go Update:194-345.
    async fn rolling(&self, config: &Value, from: Option<&Value>, desired: i64) -> Outcome {
        let params = &config["spec"]["strategy"]["rollingParams"];
        let seconds = |key: &str, default: i64| params[key].as_i64().unwrap_or(default).max(0);
        let timeout = seconds("timeoutSeconds", 600);
        let Some(from) = from else {
            if params["pre"].is_object() {
                self.hook(config, &params["pre"], "pre")
                    .await
                    .map_err(|e| format!("pre hook failed: {e}"))?;
            }
            self.recreate(config, None, desired, Some(timeout)).await?;
            if params["post"].is_object() {
                self.hook(config, &params["post"], "post")
                    .await
                    .map_err(|e| format!("post hook failed: {e}"))?;
            }
            return Ok(());
        };
        if params["pre"].is_object() {
            self.hook(config, &params["pre"], "pre")
                .await
                .map_err(|e| format!("pre hook failed: {e}"))?;
        }
        let old_name = au::name_of(from).to_string();
        let new_name = self.rc.clone();
        // The rolling updater's bookkeeping on both controllers.
        let source = format!(
            "{old_name}:{}",
            from["metadata"]["uid"].as_str().unwrap_or("")
        );
        let _ = self.annotate(&new_name, "kubectl.kubernetes.io/update-source-id", &source);
        let mut old = self.get_rc(&old_name)?["spec"]["replicas"]
            .as_i64()
            .unwrap_or(1);
        let _ = self.annotate(
            &old_name,
            "kubectl.kubernetes.io/original-replicas",
            &old.to_string(),
        );
        let mut new = self.get_rc(&new_name)?["spec"]["replicas"]
            .as_i64()
            .unwrap_or(0);
        let (surge, unavailable) = au::fenceposts(params, desired);
        // Scaling to zero keeps nothing available.
        let min_available = if desired == 0 {
            0
        } else {
            (desired - unavailable).max(0)
        };
        let progress_timeout = Duration::from_secs(timeout as u64);
        let period = Duration::from_secs(seconds("updatePeriodSeconds", 1) as u64);
        self.say(&format!(
            "--> Scaling up {new_name} from {new} to {desired}, scaling down {old_name} from {old} to 0 (keep {min_available} pods available, don't exceed {} pods)",
            desired + surge
        ));
        let mut deadline = Instant::now() + progress_timeout;
        while new != desired || old != 0 {
            let (before_new, before_old) = (new, old);
            if new != desired {
                let increment = if old == 0 {
                    desired - new
                } else {
                    desired + surge - (old + new)
                };
                if increment > 0 {
                    new = (new + increment).min(desired);
                    self.say(&format!("    Scaling {new_name} up to {new}"));
                    self.scale_and_wait(&new_name, new, progress_timeout)
                        .await?;
                }
            }
            tokio::time::sleep(period).await;
            if old != 0 {
                let available = self.available(&new_name);
                let decrement = old + new - min_available - (new - available);
                if decrement > 0 {
                    old = (old - decrement).max(0);
                    if new == desired && available == desired {
                        old = 0;
                    }
                    self.say(&format!("    Scaling {old_name} down to {old}"));
                    self.scale_and_wait(&old_name, old, progress_timeout)
                        .await?;
                }
            }
            if new != before_new || old != before_old {
                deadline = Instant::now() + progress_timeout;
            } else if Instant::now() > deadline {
                return Err("timed out waiting for any update progress to be made".into());
            }
        }
        if params["post"].is_object() {
            self.hook(config, &params["post"], "post")
                .await
                .map_err(|e| format!("post hook failed: {e}"))?;
        }
        Ok(())
    }

    fn annotate(&self, rc: &str, key: &str, value: &str) -> Result<(), String> {
        self.cluster
            .store
            .modify(&REPLICATION_CONTROLLERS, self.ns(), rc, |r| {
                r["metadata"]["annotations"][key] = json!(value);
                Ok(())
            })
            .map(|_| ())
            .map_err(|e| e.message)
    }

    /// Through the RC's scale subresource, as the deployer's scale client does.
    fn set_replicas(&self, rc: &str, replicas: i64) -> Result<(), String> {
        self.cluster
            .store
            .modify(&REPLICATION_CONTROLLERS, self.ns(), rc, |r| {
                r["spec"]["replicas"] = json!(replicas);
                Ok(())
            })
            .map(|_| ())
            .map_err(|e| e.message)
    }

    /// recreate.go scaleAndWait:222-265: the new count, then until the RC reports it.
    async fn scale_and_wait(&self, rc: &str, replicas: i64, timeout: Duration) -> Outcome {
        self.set_replicas(rc, replicas)?;
        self.wait(timeout, || {
            self.get_rc(rc)
                .map(|r| r["status"]["replicas"].as_i64().unwrap_or(0) == replicas)
        })
        .await
        .map_err(|_| format!("timed out waiting for {rc} to reach {replicas} replicas"))
    }

    /// support/acceptor.go Accept:43-115: every replica available.
    async fn accept(&self, rc: &str, timeout: Duration) -> Outcome {
        self.wait(timeout, || {
            self.get_rc(rc).map(|r| {
                r["status"]["availableReplicas"].as_i64().unwrap_or(0)
                    == r["spec"]["replicas"].as_i64().unwrap_or(0)
            })
        })
        .await
        .map_err(|_| {
            format!(
                "pods for rc '{}/{rc}' took longer than {} seconds to become available",
                self.ns(),
                timeout.as_secs()
            )
        })
    }

    fn available(&self, rc: &str) -> i64 {
        self.get_rc(rc)
            .map(|r| r["status"]["availableReplicas"].as_i64().unwrap_or(0))
            .unwrap_or(0)
    }

    /// recreate.go waitForTerminatedPods:283-305: until no pod of the old deployment is
    /// left in a non-terminal phase (terminating ones count).
    async fn wait_for_terminated_pods(&self, rc: &str, timeout: Duration) {
        let Ok(object) = self.get_rc(rc) else {
            return;
        };
        let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let gone = self
            .wait(timeout, || {
                Ok(!self
                    .cluster
                    .store
                    .list(&PODS, Some(self.ns()))
                    .0
                    .iter()
                    .any(|p| {
                        controller_of(p).is_some_and(|(_, _, u)| u == uid)
                            && !matches!(
                                p["status"]["phase"].as_str(),
                                Some("Succeeded" | "Failed")
                            )
                    }))
            })
            .await;
        if gone.is_err() {
            self.say(
                "--> Failed to wait for old pods to be terminated: timed out waiting for the condition\nNew pods may be scaled up before old pods get terminated!",
            );
        }
    }

    async fn wait(
        &self,
        timeout: Duration,
        mut done: impl FnMut() -> Result<bool, String>,
    ) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            if done()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("timed out waiting for the condition".into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// An event on the DeploymentConfig (strategy/util/events.go RecordConfigEvent).
    fn config_event(&self, config: &Value, kind: Kind, reason: &str, message: &str) {
        let dc = self
            .cluster
            .store
            .get(&DEPLOYMENT_CONFIGS, self.ns(), au::name_of(config))
            .unwrap_or_else(|| config.clone());
        self.cluster.event(&dc, kind, reason, message, COMPONENT);
    }

    /// lifecycle.go Execute:88-127 for an ExecNewPod hook.
    async fn hook(&self, config: &Value, hook: &Value, label: &str) -> Outcome {
        let rc = format!("{}/{}", self.ns(), self.rc);
        let command: Vec<&str> = hook["execNewPod"]["command"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        self.config_event(
            config,
            Kind::Normal,
            "Started",
            &format!(
                "Running {label}-hook (\"{}\") for rc {rc}",
                command.join(" ")
            ),
        );
        match self.exec_new_pod(hook, label).await {
            Ok(()) => {
                self.config_event(
                    config,
                    Kind::Normal,
                    "Completed",
                    &format!("The {label}-hook for rc {rc} completed successfully"),
                );
                Ok(())
            }
            Err(e) => {
                // Retry failures are treated the same as Abort (lifecycle.go:114-119).
                if hook["failurePolicy"] == "Ignore" {
                    self.config_event(
                        config,
                        Kind::Warning,
                        "Failed",
                        &format!(
                            "The {label}-hook failed: {e} (ignore), rollout of {rc} will continue"
                        ),
                    );
                    return Ok(());
                }
                self.config_event(
                    config,
                    Kind::Warning,
                    "Failed",
                    &format!("The {label}-hook failed: {e}, aborting rollout of {rc}"),
                );
                Err(format!(
                    "the {label} hook failed: {e}, aborting rollout of {rc}"
                ))
            }
        }
    }

    /// What `log` has past `offset`, into the deployer's log.
    fn follow(&self, log: &std::path::Path, offset: &mut usize) {
        let Ok(text) = std::fs::read(log) else {
            return;
        };
        if text.len() > *offset {
            let new = String::from_utf8_lossy(&text[*offset..]).into_owned();
            for line in new.lines() {
                self.say(line);
            }
            *offset = text.len();
        }
    }

    /// lifecycle.go executeExecNewPod:186-337: the hook pod, watched to its end, its log
    /// copied into the deployer's.
    async fn exec_new_pod(&self, hook: &Value, label: &str) -> Outcome {
        let rc = self.get_rc(&self.rc)?;
        let suffix = format!("hook-{label}");
        let manifest = hook_pod(&rc, hook, &suffix, self.ns())?;
        let name = au::name_of(&manifest).to_string();
        if self.cluster.store.get(&PODS, self.ns(), &name).is_some() {
            // Ran before (the deployer was restarted): its outcome stands.
            self.say(&format!("--> {label}: Hook pod is already running ..."));
        } else {
            super::job_pod::start_pod(self.cluster, manifest)
                .ok_or_else(|| format!("couldn't create lifecycle pod for {}", self.rc))?;
            self.say(&format!("--> {label}: Running hook pod ..."));
        }
        let dir = self.cluster.dirs.pods.join(&name);
        let mut offset = 0usize;
        let mut restarts = 0i64;
        loop {
            let Some(pod) = self.cluster.store.get(&PODS, self.ns(), &name) else {
                let e = format!("{label}: pod/{name}[{}] unexpectedly deleted", self.ns());
                self.say(&e);
                return Err(e);
            };
            // Follow the hook container's log; a restarted container's goes on in a new
            // one, the old one's end is in `previous.log`.
            let count = pod["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0);
            if count > restarts {
                self.follow(&dir.join("previous.log"), &mut offset);
                offset = 0;
                restarts = count;
                self.say(&format!(
                    "--> {label}: Retrying hook pod (retry #{restarts})"
                ));
            }
            self.follow(&dir.join("log"), &mut offset);
            match pod["status"]["phase"].as_str() {
                Some("Succeeded") => {
                    self.say(&format!("--> {label}: Success"));
                    return Ok(());
                }
                Some("Failed") => {
                    self.say(&format!("--> {label}: Failed"));
                    return Err(pod["status"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string());
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// lifecycle.go createHookPodManifest:355-489.
fn hook_pod(rc: &Value, hook: &Value, suffix: &str, ns: &str) -> Result<Value, String> {
    let exec = &hook["execNewPod"];
    let container_name = exec["containerName"].as_str().unwrap_or_default();
    let spec = &rc["spec"]["template"]["spec"];
    let base = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container_name)
        .ok_or_else(|| format!("no container named '{container_name}' found in rc template"))?;
    // The hook's environment over the container's (a Go map: the order is not kept; here
    // it is by name).
    let mut env: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
    for var in base["env"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(exec["env"].as_array().into_iter().flatten())
    {
        if let Some(name) = var["name"].as_str() {
            env.insert(name.to_string(), var.clone());
        }
    }
    let mut env: Vec<Value> = env.into_values().collect();
    let rc_name = au::name_of(rc);
    env.push(json!({"name": "OPENSHIFT_DEPLOYMENT_NAME", "value": rc_name}));
    env.push(json!({"name": "OPENSHIFT_DEPLOYMENT_NAMESPACE", "value": ns}));
    let wanted: Vec<&str> = exec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let volumes: Vec<Value> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["name"].as_str().is_some_and(|n| wanted.contains(&n)))
        .cloned()
        .collect();
    let mounts: Vec<Value> = base["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["name"].as_str().is_some_and(|n| wanted.contains(&n)))
        .cloned()
        .collect();
    let restart = if hook["failurePolicy"] == "Retry" {
        "OnFailure"
    } else {
        "Never"
    };
    let mut container = json!({
        "name": "lifecycle",
        "image": base["image"],
        "imagePullPolicy": base["imagePullPolicy"],
        "command": exec["command"],
        "env": env,
        "resources": base["resources"],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    if !mounts.is_empty() {
        container["volumeMounts"] = json!(mounts);
    }
    let mut pod_spec = json!({
        "containers": [container],
        "activeDeadlineSeconds": 21600,
        "restartPolicy": restart,
        "terminationGracePeriodSeconds": 10,
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "securityContext": spec["securityContext"],
    });
    if !volumes.is_empty() {
        pod_spec["volumes"] = json!(volumes);
    }
    Ok(json!({
        "metadata": {
            "name": format!("{rc_name}-{suffix}"),
            "annotations": {au::DEPLOYMENT: rc_name},
            "labels": {au::DEPLOYER_POD_FOR: rc_name, au::DEPLOYER_POD_TYPE: suffix},
            // What the deployer controller's setDeployerPodsOwnerRef adds.
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ReplicationController",
                "name": rc_name, "uid": rc["metadata"]["uid"],
            }],
        },
        "spec": pod_spec,
    }))
}
