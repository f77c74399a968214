//! The system reconciler (pkg/3scale/amp/operator/system_reconciler.go:47-325) with its
//! pre and post hook Jobs. Whenever system-app's Deployment generation differs from the
//! one the `system-app-pre` Job was made for, the Job is deleted (only once it has
//! completed: pkg/helper/job.go DeleteJob refuses a running or failed one with an error)
//! and created again; the system-app Deployment is not reconciled (replicas included)
//! until that Job has completed; `system-app-post` follows once system-app is available.
//!
//! 3scale 2.14 has no such Jobs: its system-app DeploymentConfig runs the same rake tasks
//! as lifecycle hooks of each rollout (`reconcile_2_14`, `deployment_configs`).

use std::time::Duration;

use serde_json::{Value, json};

use super::components::system_config_maps;
use super::{Ctx, Step};
use crate::SimError;
use crate::resources::{DEPLOYMENTS, JOBS};

const PRE: &str = "system-app-pre";
const POST: &str = "system-app-post";
const GENERATION: &str = "system-app-deployment-generation";

/// 3scale-2.14-stable system_reconciler.go Reconcile:44-205: the claim, the Services,
/// system-app's and sidekiq's DeploymentConfigs (replicas only when the APIManager sets
/// them), the ConfigMaps, the Secrets.
pub fn reconcile_2_14(ctx: &Ctx) -> crate::Result<Step> {
    super::extras::persistent_volume_claim(ctx, "system-storage")?;
    for service in [
        "system-provider",
        "system-master",
        "system-developer",
        "system-memcache",
    ] {
        super::extras::service(ctx, service)?;
    }
    ctx.deployment_step("system-app")?;
    ctx.deployment_step("system-sidekiq")?;
    system_config_maps(ctx)?;
    for secret in ctx.system_secrets() {
        ctx.reconcile_secret(secret)?;
    }
    Ok(Step::Continue)
}

pub fn reconcile(ctx: &Ctx) -> crate::Result<Step> {
    // reconcileFileStorage: the RWX claim (system_reconciler.go:33-44).
    super::extras::persistent_volume_claim(ctx, "system-storage")?;
    for service in [
        "system-provider",
        "system-master",
        "system-developer",
        "system-memcache",
    ] {
        super::extras::service(ctx, service)?;
    }
    system_config_maps(ctx)?;
    for secret in ctx.system_secrets() {
        ctx.reconcile_secret(secret)?;
    }
    let mut ready = true;
    for job in [PRE, POST] {
        if generation_changed(ctx, job) {
            delete_job(ctx, job)?;
        }
    }
    let generation = app_generation(ctx);
    ctx.reconcile_job(job(
        ctx,
        PRE,
        "bundle exec rake boot openshift:deploy",
        Some(generation),
    ))?;
    if !job_completed(ctx, PRE) {
        ready = false;
        held(ctx, generation);
    }
    if ready {
        ctx.deployment_step("system-app")?;
    }
    let app = ctx.get(&DEPLOYMENTS, "system-app");
    if app
        .as_ref()
        .is_none_or(|d| !ctx.deployment_available(d) || ctx.deployment_progressing(d))
        || !job_completed(ctx, PRE)
    {
        ready = false;
    }
    if ready {
        ctx.reconcile_job(job(
            ctx,
            POST,
            "bundle exec rake boot openshift:post_deploy",
            Some(generation),
        ))?;
    }
    ctx.deployment_step("system-sidekiq")?;
    Ok(if ready {
        Step::Continue
    } else {
        Step::RequeueAfter(Duration::from_secs(5))
    })
}

/// What the operator would do to system-app if the pre Job let it: say so once.
fn held(ctx: &Ctx, generation: i64) {
    let Some(app) = ctx.get(&DEPLOYMENTS, "system-app") else {
        return;
    };
    if let Some(want) = ctx.spec_replicas("system-app")
        && app["spec"]["replicas"] != want
    {
        ctx.log(&format!(
            "system-app replicas {want} held: job {PRE} (system-app generation {generation}) has not completed"
        ));
    }
}

/// helper.HasAppGenerationChanged: false while the Job or the Deployment is missing.
fn generation_changed(ctx: &Ctx, job: &str) -> bool {
    let (Some(job), Some(app)) = (ctx.get(&JOBS, job), ctx.get(&DEPLOYMENTS, "system-app")) else {
        return false;
    };
    let tracked = job["metadata"]["annotations"][GENERATION]
        .as_str()
        .and_then(|g| g.parse::<i64>().ok())
        .unwrap_or(1);
    Some(tracked) != app["metadata"]["generation"].as_i64()
}

/// getSystemAppDeploymentGeneration: 1 while system-app does not exist.
fn app_generation(ctx: &Ctx) -> i64 {
    ctx.get(&DEPLOYMENTS, "system-app")
        .and_then(|d| d["metadata"]["generation"].as_i64())
        .unwrap_or(1)
}

/// helper.HasJobCompleted.
fn job_completed(ctx: &Ctx, name: &str) -> bool {
    ctx.get(&JOBS, name)
        .is_some_and(|j| crate::cluster::job_controller::has_condition(&j, "Complete"))
}

/// helper.DeleteJob (grace period 0, foreground: its pods go with it).
fn delete_job(ctx: &Ctx, name: &str) -> crate::Result<()> {
    if ctx.get(&JOBS, name).is_none() {
        return Ok(());
    }
    if !job_completed(ctx, name) {
        return Err(SimError::Other(format!(
            "won't delete job {name} because it's still running"
        )));
    }
    ctx.delete(&JOBS, name)?;
    ctx.log(&format!(
        "deleted job/{name}: system-app's generation is now {}",
        app_generation(ctx)
    ));
    Ok(())
}

fn system_image() -> &'static str {
    crate::pod::templates::find("system-app")
        .expect("system-app is a 3scale deployment")
        .image
}

/// The environment of system's rake tasks (system.go buildSystemBaseEnv, as the 2.15
/// Jobs and the 2.14 pre hook get it).
pub fn base_env() -> Value {
    let secret = |var: &str, secret: &str, key: &str| json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}});
    json!([
        {"name": "APICAST_REGISTRY_URL", "valueFrom": {"configMapKeyRef": {"name": "system-environment", "key": "APICAST_REGISTRY_URL"}}},
        secret("DATABASE_URL", "system-database", "URL"),
        secret("MASTER_DOMAIN", "system-seed", "MASTER_DOMAIN"),
        secret("MASTER_USER", "system-seed", "MASTER_USER"),
        secret("MASTER_PASSWORD", "system-seed", "MASTER_PASSWORD"),
        secret("MASTER_ACCESS_TOKEN", "system-seed", "MASTER_ACCESS_TOKEN"),
        secret("ADMIN_ACCESS_TOKEN", "system-seed", "ADMIN_ACCESS_TOKEN"),
        secret("USER_LOGIN", "system-seed", "ADMIN_USER"),
        secret("USER_PASSWORD", "system-seed", "ADMIN_PASSWORD"),
        secret("USER_EMAIL", "system-seed", "ADMIN_EMAIL"),
        secret("TENANT_NAME", "system-seed", "TENANT_NAME"),
        {"name": "THINKING_SPHINX_ADDRESS", "value": "system-searchd"},
        secret("EVENTS_SHARED_SECRET", "system-events-hook", "PASSWORD"),
        secret("SECRET_KEY_BASE", "system-app", "SECRET_KEY_BASE"),
        secret("MEMCACHE_SERVERS", "system-memcache", "SERVERS"),
        secret("BACKEND_URL", "backend-listener", "service_endpoint"),
        secret("BACKEND_PUBLIC_URL", "backend-listener", "route_endpoint"),
        secret("APICAST_ACCESS_TOKEN", "system-master-apicast", "ACCESS_TOKEN"),
        secret("REDIS_URL", "system-redis", "URL"),
        secret("BACKEND_REDIS_URL", "backend-redis", "REDIS_STORAGE_URL"),
    ])
}

/// A Job in the system image (system.go AppPreHookJob/AppPostHookJob:732-810,
/// system_searchd.go ReindexingJob), with the environment its rake task reads.
pub fn job(ctx: &Ctx, name: &str, task: &str, generation: Option<i64>) -> Value {
    let env = base_env();
    let mut annotations = json!({});
    if let Some(g) = generation {
        annotations[GENERATION] = json!(g.to_string());
    }
    json!({
        "metadata": {
            "name": name,
            "labels": {"app": ctx.app_label(), "threescale_component": "system", "threescale_component_element": "app"},
            "annotations": annotations,
        },
        "spec": {
            "completions": 1,
            "template": {
                "metadata": {"labels": {}},
                "spec": {
                    "volumes": [
                        {"name": "system-storage", "persistentVolumeClaim": {"claimName": "system-storage"}},
                        {"name": "system-config", "configMap": {"name": "system"}},
                    ],
                    "containers": [{
                        "name": name,
                        // The system image, as system-app's (system.go:732-810).
                        "image": system_image(),
                        "args": ["bash", "-c", task],
                        "env": env,
                        "volumeMounts": [
                            {"name": "system-storage", "mountPath": "/opt/system/public/system"},
                            {"name": "system-config", "mountPath": "/opt/system-extra-configs"},
                        ],
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }],
                    "restartPolicy": "Never",
                    "serviceAccountName": "amp",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                },
            },
        },
    })
}
