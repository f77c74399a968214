//! The APIManager and the components whose replicas it governs. Scaling goes through the
//! APIManager, as the manual does (9.5, 9.5.4.1, 9.5.7); the operator then changes the
//! workload (a Deployment in 2.15, a DeploymentConfig in 2.14) on its own schedule, so
//! every change is followed by a wait until the workload says what was asked
//! (`spec.replicas`) and its controller has rolled it out (`observedGeneration`, replicas
//! available): a restore must not start while system-app or zync still run.

use guest_sdk::json::{Map, Value, json};
use guest_sdk::prelude::*;

use crate::release::Release;

/// `apps.3scale.net/v1alpha1` (apis/apps/v1alpha1/groupversion_info.go:29).
pub const API: &str = "apps.3scale.net/v1alpha1";
pub const KIND: &str = "APIManager";

/// How long the operator may take to act on a change, system-app-pre Job included.
pub const WAIT: u32 = 900;

/// The annotation changed to give the operator an event to reconcile on. Any change of
/// the APIManager does; this key is ours, and the operator ignores it.
pub const RECONCILE_ANNOTATION: &str = "host.3scale.net/reconcile-request";

/// The namespace's APIManager (the manual's `${DEPLOYMENT_NAME}`), if there is one.
pub fn find() -> Result<Option<String>> {
    let items = match objects::list(API, KIND, "") {
        Ok(items) => items,
        // No APIManager kind at all: the operator is not installed.
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let names: Vec<&str> = items
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    match names.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => Err(Error::invalid(format!(
            "more than one APIManager in the namespace ({}); 3scale backup expects one",
            many.join(", ")
        ))),
    }
}

/// The namespace's APIManager: there must be exactly one.
pub fn name() -> Result<String> {
    find()?.ok_or_else(|| Error::not_found("no APIManager in the namespace"))
}

/// A part of the APIManager's spec recorded and put back as one (the manual records
/// `.spec.system.appSpec` in 9.5 and `.spec.zync` in 9.5.4.1), with the workloads its
/// sub-specs govern.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub pointer: &'static str,
    /// Journal key of the recorded value.
    pub journal_key: &'static str,
    /// (member of the spec, or "" for the spec itself; workload it scales)
    pub parts: &'static [(&'static str, &'static str)],
    /// Whether the operator holds these workloads while system-app-pre runs (2.15:
    /// system-app's Deployment is reconciled only once the Job has completed,
    /// system_reconciler.go:183-205); the other components are reconciled meanwhile.
    pub held_by_pre_deploy: bool,
}

/// `.spec.system.appSpec`: system-app.
pub const SYSTEM_APP: Spec = Spec {
    pointer: "/spec/system/appSpec",
    journal_key: "system-app-spec",
    parts: &[("", "system-app")],
    held_by_pre_deploy: true,
};

/// `.spec.zync`: zync (appSpec) and zync-que (queSpec).
pub const ZYNC: Spec = Spec {
    pointer: "/spec/zync",
    journal_key: "zync-spec",
    parts: &[("appSpec", "zync"), ("queSpec", "zync-que")],
    held_by_pre_deploy: false,
};

impl Spec {
    fn part<'a>(&self, recorded: &'a Value, member: &str) -> &'a Value {
        if member.is_empty() {
            recorded
        } else {
            &recorded[member]
        }
    }

    /// The merge patch that sets every part's replicas to `n`.
    pub fn replicas_patch(&self, n: i64) -> Value {
        let mut spec = Map::new();
        for (member, _) in self.parts {
            if member.is_empty() {
                spec.insert("replicas".into(), json!(n));
            } else {
                spec.insert((*member).into(), json!({"replicas": n}));
            }
        }
        nest(self.pointer, Value::Object(spec))
    }
}

/// `/a/b` and `v` -> `{"a": {"b": v}}`.
fn nest(pointer: &str, value: Value) -> Value {
    pointer
        .split('/')
        .filter(|p| !p.is_empty())
        .rev()
        .fold(value, |inner, key| json!({ key: inner }))
}

/// A JSON patch that puts `recorded` back at `pointer` (`add` replaces an existing member
/// and creates a missing one, so it also works if someone removed the key meanwhile).
/// `None` means the key did not exist when recorded: remove it if it exists now.
pub fn put_back_patch(pointer: &str, recorded: Option<&Value>, exists_now: bool) -> Value {
    match (recorded, exists_now) {
        (Some(value), _) => json!([{"op": "add", "path": pointer, "value": value}]),
        (None, true) => json!([{"op": "remove", "path": pointer}]),
        (None, false) => json!([]),
    }
}

/// The replicas a recorded component spec sets, if any; without them the operator leaves
/// the workload alone, so the manual scales it to 1 by hand.
pub fn replicas(spec: &Value) -> Option<i64> {
    spec.get("replicas").and_then(Value::as_i64)
}

/// Records `spec`, then scales its workloads to 0 through the APIManager and waits
/// until the operator and the workloads have done it.
pub fn scale_down(release: &Release, apimanager: &str, spec: &Spec, section: &str) -> Result<()> {
    // Start from an operator that can act on the change (see `settle`): for system-app,
    // one that does not hold it behind a running system-app-pre; for the others, one whose
    // reconcile gets past system's.
    if spec.held_by_pre_deploy {
        wait_for_pre_deploy_run(release)?;
    } else {
        wait_for_stale_pre_deploy_run(release)?;
    }
    let current = objects::get(API, KIND, apimanager)?
        .pointer(spec.pointer)
        .cloned()
        .unwrap_or(Value::Null);
    // Recorded before anything changes, so resume can put it back whatever happens next.
    journal::record_json(spec.journal_key, &current)?;
    info!(
        "{section}: recorded {} = {current}; scaling {} to 0 through the APIManager",
        dotted(spec.pointer),
        workloads(spec)
    );
    objects::merge_patch(API, KIND, apimanager, &spec.replicas_patch(0))?;
    for (_, workload) in spec.parts {
        settle(release, apimanager, workload, 0)?;
    }
    Ok(())
}

/// Puts the recorded spec back (9.5.7, 9.5.4.1's last steps), scales to 1 by hand each
/// workload whose recorded spec names no replicas (`oc patch deployment/N` in 2.15,
/// `oc patch dc/N` in 2.14), and waits for all of them.
pub fn put_back(release: &Release, apimanager: &str, spec: &Spec, section: &str) -> Result<()> {
    let Some(recorded) = journal::recall_json(spec.journal_key)? else {
        return Ok(());
    };
    let now = objects::get(API, KIND, apimanager)?;
    let exists = now.pointer(spec.pointer).is_some_and(|v| !v.is_null());
    info!(
        "{section}: putting {} back: {recorded}",
        dotted(spec.pointer)
    );
    let value = (!recorded.is_null()).then_some(&recorded);
    let patch = put_back_patch(spec.pointer, value, exists);
    // Nothing recorded and nothing there: nothing to put back (the host refuses a patch
    // that changes nothing).
    if patch.as_array().is_some_and(|ops| !ops.is_empty()) {
        objects::json_patch(API, KIND, apimanager, &patch)?;
    }
    let workload = release.workload;
    for (member, name) in spec.parts {
        match replicas(spec.part(&recorded, member)) {
            Some(n) => settle(release, apimanager, name, n)?,
            None => {
                info!(
                    "{section}: the recorded spec sets no replicas for {name}, which the operator then leaves alone; oc patch {} -p '{{\"spec\": {{\"replicas\": 1}}}}'",
                    workload.noun(name)
                );
                objects::merge_patch(
                    workload.api_version(),
                    workload.kind(),
                    name,
                    &json!({"spec": {"replicas": 1}}),
                )?;
                settle(release, apimanager, name, 1)?;
            }
        }
    }
    journal::forget(spec.journal_key)
}

/// Waits until the workload asks for `replicas` (the operator has acted) and has rolled
/// out to it (its controller has seen the change and the pods are there, or gone).
///
/// The operator reconciles on events, and a reconcile can end before it reaches the
/// workload:
/// - while a system-app-pre Job runs (2.15) the operator holds system-app, and the retry
///   it asks for is dropped (system_reconciler.go:322 returns `RequeueAfter`, which
///   `reconcileAPIManagerLogic` passes on only with `Requeue`);
/// - if system-app has changed since that Job was made, the reconcile fails before any
///   later component (`DeleteJob` refuses a running Job, pkg/helper/job.go:117-135;
///   system_reconciler.go:154-158 returns the error), and is retried after the
///   controller's backoff, which doubles per failure and grows to minutes while the Job
///   runs (client-go's default controller rate limiter).
///
/// The operator watches no Jobs (apimanager_controller.go:366-384 has no `Owns(Job)`), so
/// a Job's completion wakes nothing. So each time the workload has not moved within
/// `LOOK`, the Job is waited for and the operator is given an event of ours: an
/// annotation on the APIManager changes.
pub fn settle(release: &Release, apimanager: &str, name: &str, replicas: i64) -> Result<()> {
    /// Long enough for an operator that is not held to act (a reconcile of the whole
    /// APIManager, behind its informer cache), short against a Job's run.
    const LOOK: u32 = 5;
    let workload = release.workload;
    let condition = format!("jsonpath={{.spec.replicas}}={replicas}");
    let mut asked = 0;
    loop {
        match objects::wait_for(
            workload.api_version(),
            workload.kind(),
            name,
            &condition,
            LOOK,
        ) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Timeout && (asked + 1) * LOOK < WAIT => {}
            Err(e) => {
                return Err(e.context(&format!(
                    "waiting for the operator to set {} to {replicas} replicas",
                    workload.noun(name)
                )));
            }
        }
        if asked == 0 {
            let once = match release.pre_deploy.job() {
                Some((job, _)) => format!(" once no {job} Job runs"),
                None => String::new(),
            };
            info!(
                "the operator has not set {} to {replicas} replicas after {LOOK}s; asking it to reconcile again{once}",
                workload.noun(name)
            );
        }
        wait_for_pre_deploy_run(release)?;
        nudge(apimanager)?;
        asked += 1;
    }
    workload.settled(name, replicas, WAIT)
}

/// Changes our annotation on the APIManager, which makes the operator reconcile it.
fn nudge(apimanager: &str) -> Result<()> {
    let now = objects::get(API, KIND, apimanager)?;
    let count = now["metadata"]["annotations"][RECONCILE_ANNOTATION]
        .as_str()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    objects::merge_patch(
        API,
        KIND,
        apimanager,
        &json!({"metadata": {"annotations": {RECONCILE_ANNOTATION: (count + 1).to_string()}}}),
    )?;
    Ok(())
}

/// Waits until what runs `rake boot openshift:deploy` is not running. 2.15: the
/// operator's system-app-pre Job has completed, whichever run it is; a failed Job is an
/// error, as the operator then refuses to delete it and stops reconciling system-app
/// (pkg/helper/job.go:117-135). 2.14: nothing to wait for here, the hook runs only
/// inside a rollout of system-app, which `settle` waits out.
pub fn wait_for_pre_deploy_run(release: &Release) -> Result<()> {
    let Some((job, _)) = release.pre_deploy.job() else {
        return Ok(());
    };
    match objects::get("batch/v1", "Job", job) {
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    objects::wait_for("batch/v1", "Job", job, "condition=Complete", WAIT)
        .map(|_| ())
        .map_err(|e| e.context(&format!("the operator's {job} Job (`oc logs job/{job}`)")))
}

/// Waits until no system-app-pre Job runs that was made for an older generation of
/// system-app (2.15). The operator must delete such a Job before it goes on, refuses while
/// it runs, and so ends every reconcile before the components after system
/// (system_reconciler.go:149-158, pkg/helper/job.go:117-135). A Job made for the current
/// generation only holds system-app's Deployment; the reconcile goes on to zync. Right
/// after system-app's return that Job runs for a minute on a real cluster (a Rails boot
/// and `db:migrate`), which zync need not wait out.
pub fn wait_for_stale_pre_deploy_run(release: &Release) -> Result<()> {
    let Some((job, generation_annotation)) = release.pre_deploy.job() else {
        return Ok(());
    };
    let found = match objects::get("batch/v1", "Job", job) {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    let made_for = found["metadata"]["annotations"][generation_annotation]
        .as_str()
        .and_then(|g| g.parse::<i64>().ok());
    if made_for == Some(system_app_generation(release)?) {
        return Ok(());
    }
    wait_for_pre_deploy_run(release)
}

/// system-app's `metadata.generation`, the one the operator makes its Jobs for (1 while
/// there is none, as getSystemAppDeploymentGeneration says).
fn system_app_generation(release: &Release) -> Result<i64> {
    let workload = release.workload;
    let app = objects::get(workload.api_version(), workload.kind(), "system-app")?;
    Ok(app["metadata"]["generation"].as_i64().unwrap_or(1))
}

/// Waits until `rake boot openshift:deploy` has run for system-app as it is now, before a
/// load into system's database.
///
/// 2.15: scaling system-app down (9.5) changed its Deployment, so the operator deletes
/// the system-app-pre Job and runs it again against this database; the load waits until
/// the Job has run for system-app's current generation and completed, the check the
/// operator itself makes before it lets system-app be reconciled (pkg/helper/job.go:43-115).
/// system-app may change again meanwhile (a Job is then made for the new generation), so
/// the generation is read again each round.
///
/// 2.14: the pre hook runs inside system-app's rollouts only, and the scale-down waited
/// for system-app's rollout to finish (`oc rollout status dc/system-app`), so none runs.
pub fn wait_for_pre_deploy_of_current_generation(release: &Release) -> Result<()> {
    const ROUND: u32 = 30;
    let Some((job, generation_annotation)) = release.pre_deploy.job() else {
        return Ok(());
    };
    let generation_now = || system_app_generation(release);
    for _ in 0..WAIT / ROUND {
        let generation = generation_now()?;
        let made_for =
            format!("jsonpath={{.metadata.annotations.{generation_annotation}}}={generation}");
        match objects::wait_for("batch/v1", "Job", job, &made_for, ROUND) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Timeout => continue,
            Err(e) => return Err(e),
        }
        wait_for_pre_deploy_run(release)?;
        if generation_now()? == generation {
            return Ok(());
        }
    }
    Err(Error::timeout(format!(
        "the operator's {job} Job did not run for system-app's current generation within {WAIT}s"
    )))
}

fn dotted(pointer: &str) -> String {
    pointer.replace('/', ".")
}

fn workloads(spec: &Spec) -> String {
    spec.parts
        .iter()
        .map(|(_, d)| *d)
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_back_patches() {
        let spec = json!({"replicas": 2});
        assert_eq!(
            put_back_patch("/spec/zync", Some(&spec), true),
            json!([{"op": "add", "path": "/spec/zync", "value": {"replicas": 2}}])
        );
        assert_eq!(
            put_back_patch("/spec/zync", None, true),
            json!([{"op": "remove", "path": "/spec/zync"}])
        );
        assert_eq!(put_back_patch("/spec/zync", None, false), json!([]));
    }

    #[test]
    fn replicas_of_recorded_specs() {
        assert_eq!(replicas(&json!({"replicas": 0})), Some(0));
        assert_eq!(replicas(&json!({})), None, "the operator's default spec");
        assert_eq!(replicas(&json!({"replicas": null})), None);
        assert_eq!(replicas(&Value::Null), None);
    }

    #[test]
    fn scale_patches_name_every_governed_deployment() {
        assert_eq!(
            SYSTEM_APP.replicas_patch(0),
            json!({"spec": {"system": {"appSpec": {"replicas": 0}}}})
        );
        assert_eq!(
            ZYNC.replicas_patch(0),
            json!({"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}})
        );
        let recorded = json!({"appSpec": {}, "queSpec": {"replicas": 2}});
        assert_eq!(replicas(ZYNC.part(&recorded, "appSpec")), None);
        assert_eq!(replicas(ZYNC.part(&recorded, "queSpec")), Some(2));
    }
}
