//! The cluster behind the API: the deployment controller, the 3scale operator's effect of
//! the APIManager on replicas, and the pods as real processes.

pub mod bootstrap;
mod claims;
mod controller;
mod namespaces;
mod operator;
mod pod_object;
mod services;
mod supervisor;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::faults::{FaultSettings, Faults};
use crate::pod::process::postgres_bin;
use crate::pod::templates::Template;
use crate::store::Store;
use crate::{Result, SimError};

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
    postgres_bin: PathBuf,
    pods: Mutex<HashMap<String, PodSlot>>,
    queue: mpsc::UnboundedSender<String>,
    supervisors: Mutex<JoinSet<()>>,
    stopping: AtomicBool,
    changed: Notify,
}

impl Cluster {
    /// Opens (or creates) the cluster state in `dirs` and starts its controllers. Pods
    /// start in the background; `wait_all_running` waits for them.
    pub async fn start(dirs: Dirs, namespace: &str, faults: FaultSettings) -> Result<Arc<Cluster>> {
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
        bootstrap::populate(&store, namespace)?;
        namespaces::ensure(&store, namespace)?;
        services::ensure(&store, namespace)?;
        claims::ensure(&store, namespace)?;
        supervisor::prepare_machine(&dirs)?;
        let (queue, rx) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            store,
            namespace: namespace.to_string(),
            dirs,
            faults: Faults::new(faults),
            postgres_bin: postgres_bin()?,
            pods: Mutex::new(HashMap::new()),
            queue,
            supervisors: Mutex::new(JoinSet::new()),
            stopping: AtomicBool::new(false),
            changed: Notify::new(),
        });
        controller::spawn(cluster.clone(), rx);
        operator::sync_all(&cluster);
        for d in cluster
            .store
            .list(&crate::resources::DEPLOYMENTS, Some(namespace))
            .0
        {
            if let Some(name) = d["metadata"]["name"].as_str() {
                cluster.enqueue(name);
            }
        }
        Ok(cluster)
    }

    pub fn enqueue(&self, deployment: &str) {
        let _ = self.queue.send(deployment.to_string());
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
        for d in self
            .store
            .list(&crate::resources::DEPLOYMENTS, Some(&self.namespace))
            .0
        {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
            let hash = controller::template_hash(&d);
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

    /// Deletes a pod as `kubectl delete pod` does; its deployment starts a replacement.
    pub fn delete_pod(&self, name: &str) -> bool {
        self.request_stop(name)
    }

    fn request_stop(&self, name: &str) -> bool {
        let mut pods = self.pods.lock().unwrap();
        let Some(slot) = pods.get_mut(name) else {
            return false;
        };
        if slot.state != PodState::Terminating {
            slot.state = PodState::Terminating;
            slot.stop.notify_one();
            let _ = self
                .store
                .modify(&crate::resources::PODS, &self.namespace, name, |p| {
                    p["metadata"]["deletionTimestamp"] = serde_json::json!(crate::store::now());
                    p["metadata"]["deletionGracePeriodSeconds"] = serde_json::json!(30);
                    Ok(())
                });
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
