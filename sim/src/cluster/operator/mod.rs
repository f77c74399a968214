//! The 3scale operator (3scale-operator 0.12.5, 3scale 2.15.5, branch 3scale-2.15-stable;
//! or 0.11.3, 3scale 2.14, branch 3scale-2.14-stable, with `--threescale 2.14`) as a
//! controller-runtime controller of its own: it watches the APIManager, the Deployments
//! (2.14: DeploymentConfigs) it owns and (2.15) the redis ConfigMap through an informer
//! cache that sees every change `--operator-delay` late, queues the APIManager's name when
//! a change arrives, and reconciles the whole APIManager from that queue, in the order of
//! controllers/apps/apimanager_controller.go reconcileAPIManagerLogic.

mod cache;
mod components;
pub mod defaults;
mod deployment_configs;
mod extras;
mod secrets;
mod status;
mod system_app;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::owners::{controller_of, ensure_controller_ref};
use super::{Cluster, watch};
use crate::SimError;
use crate::release::Release;
use crate::resources::{APIMANAGERS, CONFIGMAPS, JOBS, ResourceType};
use crate::status::ApiError;
use crate::store::WatchEvent;

/// What one step of the reconcile asks for (controller-runtime's reconcile.Result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    Requeue,
    RequeueAfter(Duration),
}

/// One reconcile of one APIManager.
pub struct Ctx<'a> {
    pub cluster: &'a Arc<Cluster>,
    /// What the operator reads: its lagging informer cache (the store itself at install).
    cache: Option<&'a cache::Cache>,
    pub apimanager: Value,
    /// Building the namespace of a fresh simulator "as the operator leaves it after an
    /// install": Jobs are created already completed and deployments count as available.
    pub install: bool,
}

impl Ctx<'_> {
    pub fn app_label(&self) -> String {
        self.apimanager["spec"]["appLabel"]
            .as_str()
            .unwrap_or("3scale-api-management")
            .to_string()
    }

    pub fn tenant_name(&self) -> String {
        self.apimanager["spec"]["tenantName"]
            .as_str()
            .unwrap_or("3scale")
            .to_string()
    }

    pub fn release(&self) -> Release {
        self.cluster.options.release
    }

    pub fn name(&self) -> &str {
        self.apimanager["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn log(&self, message: &str) {
        if !self.install {
            self.cluster
                .note(&format!("operator: apimanager/{}: {message}", self.name()));
        }
    }

    /// A read, from the informer cache.
    pub fn get(&self, rt: &ResourceType, name: &str) -> Option<Value> {
        match self.cache {
            Some(c) => c.get(rt, name),
            None => self.cluster.store.get(rt, &self.cluster.namespace, name),
        }
    }

    pub fn create(&self, rt: &ResourceType, object: Value) -> crate::Result<Value> {
        let created = self
            .cluster
            .store
            .create(rt, &self.cluster.namespace, object)
            .map_err(api_error)?;
        if let Some(c) = self.cache {
            c.put(rt, &created);
        }
        Ok(created)
    }

    /// An Update of the object as read: a Conflict if it changed since.
    pub fn update(&self, rt: &ResourceType, object: Value) -> crate::Result<Value> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let updated = self
            .cluster
            .store
            .modify(rt, &self.cluster.namespace, &name, |current| {
                *current = object;
                Ok(())
            })
            .map_err(api_error)?;
        if let Some(c) = self.cache {
            c.put(rt, &updated);
        }
        Ok(updated)
    }

    pub fn delete(&self, rt: &ResourceType, name: &str) -> crate::Result<()> {
        match self.cluster.store.delete(rt, &self.cluster.namespace, name) {
            Ok(deleted) => {
                if let Some(c) = self.cache {
                    c.remove(rt, &deleted);
                }
                Ok(())
            }
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => Err(api_error(e)),
        }
    }

    /// EnsureObjectMeta (labels and annotations merged in) and the APIManager's controller
    /// reference (base_apimanager_logic_reconciler.go APIManagerMutator).
    fn ensure_meta(&self, existing: &mut Value, desired: &Value) -> bool {
        let mut changed = false;
        for field in ["labels", "annotations"] {
            for (k, v) in desired["metadata"][field].as_object().into_iter().flatten() {
                if existing["metadata"][field][k] != *v {
                    existing["metadata"][field][k] = v.clone();
                    changed = true;
                }
            }
        }
        changed | ensure_controller_ref(existing, &self.apimanager)
    }

    /// BaseReconciler.ReconcileResource: create what is missing, else let `mutate` bring
    /// the existing object to what the operator wants, and update it if that changed it.
    fn reconcile_object(
        &self,
        rt: &ResourceType,
        mut desired: Value,
        mutate: impl FnOnce(&mut Value, &Value) -> bool,
    ) -> crate::Result<()> {
        let name = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match self.get(rt, &name) {
            None => {
                ensure_controller_ref(&mut desired, &self.apimanager);
                self.create(rt, desired)?;
                self.log(&format!("created {}/{name}", rt.singular));
                Ok(())
            }
            Some(mut existing) => {
                let meta = self.ensure_meta(&mut existing, &desired);
                let changed = mutate(&mut existing, &desired);
                if meta || changed {
                    self.update(rt, existing)?;
                }
                Ok(())
            }
        }
    }

    pub fn reconcile_configmap(
        &self,
        desired: Value,
        mutate: impl FnOnce(&mut Value, &Value) -> bool,
    ) -> crate::Result<()> {
        self.reconcile_object(&CONFIGMAPS, desired, mutate)
    }

    /// ReconcileDeployment (2.14: ReconcileDeploymentConfig) with the mutators every 3scale
    /// deployment has (pod template labels and annotations merged in; 2.14 also the
    /// ImageChange trigger's image stream, DeploymentConfigImageChangeTriggerMutator) and
    /// the replicas mutator only when the APIManager spec sets replicas (e.g. 2.15
    /// system_reconciler.go:202, 2.14 system_reconciler.go:96-98).
    pub fn reconcile_deployment(&self, desired: Value, replicas: Option<i64>) -> crate::Result<()> {
        let rt = self.release().workload();
        let name = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let before = self.get(rt, &name);
        self.reconcile_object(rt, desired, |existing, desired| {
            let mut changed = false;
            for field in ["labels", "annotations"] {
                for (k, v) in desired["spec"]["template"]["metadata"][field]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if existing["spec"]["template"]["metadata"][field][k] != *v {
                        existing["spec"]["template"]["metadata"][field][k] = v.clone();
                        changed = true;
                    }
                }
            }
            changed |= image_change_trigger(existing, desired);
            if let Some(r) = replicas
                && existing["spec"]["replicas"] != r
            {
                existing["spec"]["replicas"] = json!(r);
                changed = true;
            }
            changed
        })?;
        if let (Some(before), Some(after)) = (before, self.get(rt, &name))
            && before["spec"] != after["spec"]
        {
            let what = if before["spec"]["replicas"] != after["spec"]["replicas"] {
                format!(
                    "replicas {} -> {}",
                    before["spec"]["replicas"], after["spec"]["replicas"]
                )
            } else {
                "pod template".to_string()
            };
            self.log(&format!(
                "updated {}/{name}: {what} (generation {})",
                rt.singular, after["metadata"]["generation"]
            ));
        }
        Ok(())
    }

    /// ReconcileJob with CreateOnlyMutator: a missing Job is created, an existing one only
    /// gets the labels and annotations merged in.
    pub fn reconcile_job(&self, desired: Value) -> crate::Result<()> {
        let name = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let existed = self.get(&JOBS, &name).is_some();
        self.reconcile_object(&JOBS, desired, |_, _| false)?;
        if !existed && self.install {
            complete_at_install(self.cluster, &name);
        }
        Ok(())
    }

    /// helper.IsDeploymentAvailable.
    pub fn deployment_available(&self, deployment: &Value) -> bool {
        self.install
            || deployment["status"]["conditions"]
                .as_array()
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Available" && c["status"] == "True")
                })
    }

    /// helper.IsDeploymentProgressing.
    pub fn deployment_progressing(&self, deployment: &Value) -> bool {
        if self.install {
            return false;
        }
        deployment["status"]["unavailableReplicas"]
            .as_i64()
            .unwrap_or(0)
            > 0
            || deployment["status"]["conditions"]
                .as_array()
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Progressing" && c["reason"] == "ReplicaSetUpdated")
                })
    }
}

/// DeploymentConfigImageChangeTriggerMutator (3scale-2.14-stable
/// pkg/reconcilers/deploymentconfig.go:196-216): the ImageChange trigger's image stream tag
/// is put back; its resolved image is left alone.
fn image_change_trigger(existing: &mut Value, desired: &Value) -> bool {
    let find = |dc: &Value| {
        dc["spec"]["triggers"]
            .as_array()
            .and_then(|t| t.iter().position(|t| t["type"] == "ImageChange"))
    };
    let (Some(want), Some(have)) = (find(desired), find(existing)) else {
        return false;
    };
    let name = &desired["spec"]["triggers"][want]["imageChangeParams"]["from"]["name"];
    let current = &mut existing["spec"]["triggers"][have]["imageChangeParams"]["from"]["name"];
    if current == name {
        return false;
    }
    *current = name.clone();
    true
}

fn api_error(e: ApiError) -> SimError {
    SimError::Other(e.message)
}

/// A Job of the install, long finished.
fn complete_at_install(cluster: &Cluster, name: &str) {
    let now = crate::store::now();
    let message = "Reached expected number of succeeded pods";
    let _ = cluster.store.modify(&JOBS, &cluster.namespace, name, |j| {
        j["status"] = json!({
            "startTime": now, "completionTime": now, "succeeded": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {},
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": message, "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": message, "lastProbeTime": now, "lastTransitionTime": now},
            ]
        });
        Ok(())
    });
}

/// The name the sim's bootstrap gives its APIManager.
pub const APIMANAGER_NAME: &str = "3scale";

/// The namespace a fresh simulator starts with: an APIManager as a user would write it,
/// and everything the operator makes of it, as if the install had run.
pub fn install(cluster: &Arc<Cluster>) -> crate::Result<()> {
    let apimanager = json!({
        "metadata": {"name": APIMANAGER_NAME},
        "spec": {
            "wildcardDomain": "apps.example.com",
            "system": {"fileStorage": {"persistentVolumeClaim": {"storageClassName": "nfs"}}}
        }
    });
    cluster
        .store
        .create(&APIMANAGERS, &cluster.namespace, apimanager)
        .map_err(|e| crate::SimError::Other(e.message))?;
    for _ in 0..3 {
        reconcile(cluster, None, APIMANAGER_NAME, true)?;
    }
    Ok(())
}

/// The controller: its lagging informer cache feeds its queue; one worker reconciles.
pub fn spawn(cluster: Arc<Cluster>) {
    let delay = cluster.options.operator_delay;
    let cache = cache::spawn(cluster.clone(), delay, |c, old, event| {
        for owner in owners_to_enqueue(c.options.release, old, event) {
            c.queues.operator.add_after(&owner, Duration::ZERO);
        }
    });
    // The manager's start: every APIManager is reconciled once.
    for am in cache.list(&APIMANAGERS) {
        cluster.queues.operator.add_after(
            am["metadata"]["name"].as_str().unwrap_or_default(),
            Duration::ZERO,
        );
    }
    let mut failures: HashMap<String, u32> = HashMap::new();
    watch::spawn_worker(
        cluster,
        |c| &c.queues.operator,
        move |c, name| {
            let requeue = match reconcile(c, Some(&cache), name, false) {
                Ok(Step::Continue) => false,
                Ok(Step::RequeueAfter(d)) => {
                    failures.remove(name);
                    c.queues.operator.add_after(name, d);
                    return;
                }
                Ok(Step::Requeue) => true,
                Err(e) => {
                    c.note(&format!(
                        "operator: apimanager/{name}: reconcile error: {e}"
                    ));
                    true
                }
            };
            if requeue {
                // The default controller rate limiter: 5 ms doubled per failure, at most
                // 1000 s (client-go workqueue.DefaultTypedControllerRateLimiter).
                let n = failures.entry(name.to_string()).or_insert(0);
                let backoff = Duration::from_millis(5)
                    .saturating_mul(1 << (*n).min(20))
                    .min(Duration::from_secs(1000));
                *n += 1;
                c.queues.operator.add_after(name, backoff);
            } else {
                failures.remove(name);
            }
        },
    );
}

/// SetupWithManager: For(APIManager), Owns(Deployment), Owns(ConfigMap) with the label
/// threescale_component_element=redis (apimanager_controller.go:355-384); in 2.14
/// For(APIManager), Owns(DeploymentConfig) (and Secrets labelled for it, and Routes,
/// which the simulator does not model).
fn owners_to_enqueue(release: Release, old: Option<&Value>, event: &WatchEvent) -> Vec<String> {
    let name = event.object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let owner_of = |o: &Value| {
        controller_of(o)
            .filter(|(kind, _, _)| kind == "APIManager")
            .map(|(_, n, _)| n)
    };
    let mut owners = Vec::new();
    match event.plural {
        "apimanagers" => owners.push(name),
        "deployments" | "deploymentconfigs" if event.plural == release.workload().plural => {
            owners.extend(old.and_then(owner_of));
            owners.extend(owner_of(&event.object));
        }
        // 2.15 only (3scale-2.14-stable apimanager_controller.go:150-159 watches no
        // ConfigMaps).
        "configmaps" if release == Release::V2_15 => {
            let labelled =
                event.object["metadata"]["labels"]["threescale_component_element"] == "redis";
            if labelled {
                owners.extend(old.and_then(owner_of));
                owners.extend(owner_of(&event.object));
            }
        }
        _ => {}
    }
    owners.dedup();
    owners
}

/// APIManagerReconciler.Reconcile, without the preflights (a fresh install with internal
/// databases skips them) and without the OpenShift-only parts (routes count as ready).
fn reconcile(
    cluster: &Arc<Cluster>,
    cache: Option<&cache::Cache>,
    name: &str,
    install: bool,
) -> crate::Result<Step> {
    let mut ctx = Ctx {
        cluster,
        cache,
        apimanager: Value::Null,
        install,
    };
    let Some(apimanager) = ctx.get(&APIMANAGERS, name) else {
        return Ok(Step::Continue);
    };
    if apimanager["metadata"]["deletionTimestamp"].is_string() {
        return Ok(Step::Continue);
    }
    if apimanager["spec"]["wildcardDomain"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        return Err(SimError::Other(
            "spec.wildcardDomain: Required value".into(),
        ));
    }
    // setAPIManagerDefaults: update and requeue.
    if let Some(defaulted) = defaults::apply(&apimanager, cluster.options.release) {
        ctx.update(&APIMANAGERS, defaulted)?;
        return Ok(Step::Requeue);
    }
    ctx.apimanager = apimanager;
    // reconcileAPIManagerLogic: each sub-reconciler in turn; an error or a Requeue stops
    // the rest. A RequeueAfter does not, and is then lost (apimanager_controller.go
    // 435-497 returns ctrl.Result{} at the end), as is a spec Requeue that comes without
    // an error (Reconcile returns only the status reconciler's result then).
    let mut spec_error = None;
    for step in components::steps(cluster.options.release) {
        match step(&ctx) {
            Ok(Step::Continue | Step::RequeueAfter(_)) => {}
            Ok(Step::Requeue) => break,
            Err(e) => {
                spec_error = Some(e);
                break;
            }
        }
    }
    let status_requeue = status::reconcile(&ctx)?;
    if let Some(e) = spec_error {
        return Err(e);
    }
    Ok(if status_requeue {
        Step::Requeue
    } else {
        Step::Continue
    })
}
