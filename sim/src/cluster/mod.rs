//! The cluster behind the API: kube-controller-manager's deployment, replica set and job
//! controllers and garbage collector, the 3scale operator, and the pods as real processes.

pub mod appsutil;
pub mod bootstrap;
mod claims;
mod dc_controller;
mod deployer;
mod deployer_controller;
mod deployment_controller;
mod events;
mod garbage_collector;
pub mod image_triggers;
mod job_controller;
mod job_pod;
mod namespaces;
mod operator;
mod owners;
mod pod_object;
mod replicaset_controller;
mod services;
mod supervisor;
mod watch;
mod workqueue;

pub use events::Kind as EventKind;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::faults::{FaultSettings, Faults};
use crate::pod::process::postgres_bin;
use crate::pod::templates::Template;
use crate::release::Release;
use crate::store::Store;
use crate::{Result, SimError};
use workqueue::WorkQueue;

/// The one node every pod is scheduled to.
pub const NODE_NAME: &str = "sim-node";

/// The timings of the simulated controllers.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// From a change the 3scale operator watches to its reconcile. A reconcile of the
    /// APIManager walks ~10 sub-reconcilers with dozens of reads and writes, and the
    /// operator's effect on a real OpenShift shows up about a second after the change;
    /// zero would hide every race between a tool and the operator.
    pub operator_delay: Duration,
    /// How long the `rake boot openshift:deploy` stand-in of the system-app-pre Job works
    /// against system-mysql (the real one boots Rails and migrates for tens of seconds).
    pub deploy_job: Duration,
    /// The job controller's back-off after a failed pod, doubled per failure
    /// (DefaultJobPodFailureBackOff is 10 s in pkg/controller/job/job_controller.go).
    pub job_backoff: Duration,
    /// Start with only the operator: no APIManager, no 3scale objects (manual 9.5.1).
    pub empty: bool,
    /// The 3scale release the namespace runs (`Release::for_dir` decides it for a data
    /// directory).
    pub release: Release,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            operator_delay: Duration::from_secs(1),
            deploy_job: Duration::from_secs(5),
            job_backoff: Duration::from_secs(10),
            empty: false,
            release: Release::default(),
        }
    }
}

/// One queue per controller; the watchers feed them, one worker each drains them.
struct Queues {
    deployments: WorkQueue,
    replicasets: WorkQueue,
    jobs: WorkQueue,
    operator: WorkQueue,
    replicationcontrollers: WorkQueue,
    deploymentconfigs: WorkQueue,
    deployer: WorkQueue,
    image_triggers: WorkQueue,
}

/// Where a simulator keeps its state under its data directory.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub root: PathBuf,
    /// One folder per persistent volume claim; survives restarts.
    pub volumes: PathBuf,
    /// One folder per running pod (init script, log, generated config); removed with it.
    pub pods: PathBuf,
    /// One folder per running pod holding its emptyDir volumes; removed with it.
    pub empty_dirs: PathBuf,
    /// Stand-ins for 3scale's tools, mounted into system pods.
    pub tools: PathBuf,
    /// What the stand-ins record (e.g. each `rake zync:resync:domains`), in `events.log`.
    pub events: PathBuf,
    pub events_log: PathBuf,
}

impl Dirs {
    pub fn new(root: &Path) -> Dirs {
        Dirs {
            root: root.to_path_buf(),
            volumes: root.join("volumes"),
            pods: root.join("pods"),
            empty_dirs: root.join("emptydirs"),
            tools: root.join("tools"),
            events: root.join("events"),
            events_log: root.join("events").join("events.log"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Starting,
    Running,
    Terminating,
}

/// What exec needs to enter a pod.
#[derive(Debug, Clone)]
pub struct PodHandle {
    pub name: String,
    pub template: &'static Template,
    /// The pod's PID 1: its namespaces hold every volume read-write.
    pub init_pid: i32,
    /// The process to enter for each running container (the pod's PID 1 when the pod has a
    /// single container).
    pub containers: Vec<(String, i32)>,
    pub env: Vec<(String, String)>,
}

impl PodHandle {
    /// The process whose namespaces are `container`'s, if it runs.
    pub fn container_pid(&self, container: &str) -> Option<i32> {
        self.containers
            .iter()
            .find(|(name, _)| name == container)
            .map(|(_, pid)| *pid)
    }
}

struct PodSlot {
    /// The deployment whose pod this is; empty for a Job's pod.
    deployment: String,
    hash: String,
    template: &'static Template,
    state: PodState,
    init_pid: Option<i32>,
    containers: Vec<(String, i32)>,
    env: Vec<(String, String)>,
    stop: Arc<Notify>,
    kill: Arc<Notify>,
}

pub struct Cluster {
    pub store: Arc<Store>,
    pub namespace: String,
    pub dirs: Dirs,
    pub faults: Faults,
    pub options: ClusterOptions,
    postgres_bin: PathBuf,
    pods: Mutex<HashMap<String, PodSlot>>,
    queues: Queues,
    recorder: events::Recorder,
    supervisors: Mutex<JoinSet<()>>,
    stopping: AtomicBool,
    changed: Notify,
}

impl Cluster {
    /// Opens (or creates) the cluster state in `dirs` and starts its controllers. Pods
    /// start in the background; `wait_all_running` waits for them.
    pub async fn start(
        dirs: Dirs,
        namespace: &str,
        faults: FaultSettings,
        options: ClusterOptions,
    ) -> Result<Arc<Cluster>> {
        for d in [
            &dirs.root,
            &dirs.volumes,
            &dirs.pods,
            &dirs.empty_dirs,
            &dirs.tools,
            &dirs.events,
        ] {
            std::fs::create_dir_all(d).map_err(|e| SimError::io(d, e))?;
        }
        // Pods of an earlier run that died without cleaning up are gone with their
        // namespaces; their folders (and emptyDir volumes) are stale.
        for stale in [&dirs.pods, &dirs.empty_dirs] {
            if let Ok(entries) = std::fs::read_dir(stale) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let store = Arc::new(Store::open(Some(dirs.root.join("objects.json")))?);
        // The cluster's own namespaces; the operator's Services and claims come with the
        // rest of its install (`operator::extras`).
        namespaces::ensure(&store, namespace)?;
        supervisor::prepare_machine(&dirs, &options)?;
        let cluster = Arc::new(Cluster {
            store,
            namespace: namespace.to_string(),
            dirs,
            faults: Faults::new(faults),
            options,
            postgres_bin: postgres_bin()?,
            pods: Mutex::new(HashMap::new()),
            queues: Queues {
                deployments: WorkQueue::new(),
                replicasets: WorkQueue::new(),
                jobs: WorkQueue::new(),
                operator: WorkQueue::new(),
                replicationcontrollers: WorkQueue::new(),
                deploymentconfigs: WorkQueue::new(),
                deployer: WorkQueue::new(),
                image_triggers: WorkQueue::new(),
            },
            recorder: events::Recorder::default(),
            supervisors: Mutex::new(JoinSet::new()),
            stopping: AtomicBool::new(false),
            changed: Notify::new(),
        });
        if cluster.store.is_fresh() && !cluster.options.empty {
            operator::install(&cluster)?;
        }
        deployment_controller::spawn(cluster.clone());
        replicaset_controller::spawn(cluster.clone());
        if cluster.options.release == Release::V2_14 {
            // openshift-controller-manager's DeploymentConfig, deployer and image trigger
            // controllers.
            dc_controller::spawn(cluster.clone());
            deployer_controller::spawn(cluster.clone());
            image_triggers::spawn(cluster.clone());
        }
        job_controller::spawn(cluster.clone());
        garbage_collector::spawn(cluster.clone());
        operator::spawn(cluster.clone());
        Ok(cluster)
    }

    /// The pod's handle for exec, if it has processes to enter.
    pub fn pod_handle(&self, name: &str) -> Option<PodHandle> {
        let pods = self.pods.lock().unwrap();
        let slot = pods.get(name)?;
        Some(PodHandle {
            name: name.to_string(),
            template: slot.template,
            init_pid: slot.init_pid?,
            containers: slot.containers.clone(),
            env: slot.env.clone(),
        })
    }

    /// A running pod of a deployment (for the simulator's own seeding and fingerprints).
    pub fn running_pod(&self, deployment: &str) -> Option<PodHandle> {
        let name = {
            let pods = self.pods.lock().unwrap();
            let mut names: Vec<&String> = pods
                .iter()
                .filter(|(_, s)| s.deployment == deployment && s.state == PodState::Running)
                .map(|(n, _)| n)
                .collect();
            names.sort();
            names.first().map(|n| n.to_string())?
        };
        self.pod_handle(&name)
    }

    /// Waits until every deployment has as many Running pods as it asks for.
    pub async fn wait_all_running(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            match self.not_ready() {
                None => return Ok(()),
                Some(waiting) if tokio::time::Instant::now() >= deadline => {
                    return Err(SimError::Other(format!(
                        "pods not running after {}s: {waiting}",
                        timeout.as_secs()
                    )));
                }
                Some(_) => {
                    let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
                }
            }
        }
    }

    fn not_ready(&self) -> Option<String> {
        let pods = self.pods.lock().unwrap();
        let mut waiting = Vec::new();
        let workload = self.options.release.workload();
        for d in self.store.list(workload, Some(&self.namespace)).0 {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            // A Deployment's pods are its template's; a DeploymentConfig's, those of its
            // active deployment once the latest one has ended (a failed one, e.g. a
            // rollout cut short by a restart, leaves the previous one active).
            let hash = if workload.plural == crate::resources::DEPLOYMENTS.plural {
                deployment_controller::template_hash(&d)
            } else {
                let deployments = appsutil::deployments_of(&self.store, &self.namespace, &d);
                let (latest_exists, latest) = appsutil::latest_info(&d, &deployments);
                match (
                    latest.filter(|_| latest_exists),
                    appsutil::active(&deployments),
                ) {
                    (Some(rc), Some(active)) if appsutil::is_terminated(rc) => {
                        appsutil::name_of(active).to_string()
                    }
                    _ => {
                        waiting.push(format!(
                            "{name} (rollout of version {})",
                            appsutil::latest_version(&d)
                        ));
                        continue;
                    }
                }
            };
            let have = pods
                .values()
                .filter(|s| s.deployment == name && s.hash == hash && s.state == PodState::Running)
                .count() as i64;
            let others = pods
                .values()
                .filter(|s| {
                    s.deployment == name && (s.hash != hash || s.state == PodState::Terminating)
                })
                .count();
            if have != want || others > 0 {
                waiting.push(format!("{name} ({have}/{want})"));
            }
        }
        (!waiting.is_empty()).then(|| waiting.join(", "))
    }

    /// Kills a pod's processes as a node would on OOM or a crash: the pod keeps its name
    /// and its container restarts.
    pub fn crash_pod(&self, name: &str) -> bool {
        let pods = self.pods.lock().unwrap();
        match pods.get(name) {
            Some(slot) => {
                slot.kill.notify_one();
                true
            }
            None => false,
        }
    }

    /// Deletes a pod as `kubectl delete pod` does: its processes get their stop signal
    /// and the object goes when they are gone; a pod with no processes left (a finished
    /// Job's) goes at once. Its controller starts a replacement if it needs one.
    pub fn delete_pod(&self, name: &str) -> bool {
        if self.request_stop(name) {
            return true;
        }
        let deleted = self
            .store
            .delete(&crate::resources::PODS, &self.namespace, name)
            .is_ok();
        let _ = std::fs::remove_dir_all(self.dirs.pods.join(name));
        let _ = std::fs::remove_dir_all(self.dirs.empty_dirs.join(name));
        deleted
    }

    fn request_stop(&self, name: &str) -> bool {
        let mut pods = self.pods.lock().unwrap();
        let Some(slot) = pods.get_mut(name) else {
            return false;
        };
        if slot.state != PodState::Terminating {
            slot.state = PodState::Terminating;
            slot.stop.notify_one();
            let containers = slot.template.containers;
            drop(pods);
            if let Ok(pod) =
                self.store
                    .modify(&crate::resources::PODS, &self.namespace, name, |p| {
                        p["metadata"]["deletionTimestamp"] = serde_json::json!(crate::store::now());
                        p["metadata"]["deletionGracePeriodSeconds"] = serde_json::json!(30);
                        Ok(())
                    })
                && !self.is_stopping()
            {
                for c in containers {
                    self.event(
                        &pod,
                        EventKind::Normal,
                        "Killing",
                        &format!("Stopping container {}", c.name),
                        "kubelet",
                    );
                }
            }
        }
        true
    }

    /// Stops every pod (servers get their stop signal and time to flush) and waits.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let names: Vec<String> = self.pods.lock().unwrap().keys().cloned().collect();
        for name in names {
            self.request_stop(&name);
        }
        let mut set = std::mem::take(&mut *self.supervisors.lock().unwrap());
        while set.join_next().await.is_some() {}
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn notify_changed(&self) {
        self.changed.notify_waiters();
    }
}
