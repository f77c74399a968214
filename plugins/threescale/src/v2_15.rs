//! What is particular to 3scale 2.15 and its operator (3scale-operator branch
//! 3scale-2.15-stable): Deployments, the system-app-pre Job, and an operator that rolls
//! both redis Deployments whenever `redis-config` changes.

use crate::release::{PreDeploy, RedisConfig, Release, Workload};

/// The Deployments the operator creates for a default APIManager (system on MySQL,
/// internal redis and zync databases): `DeploymentsLister.DeploymentNames`,
/// pkg/3scale/amp/component/deployments_lister.go:17-53.
pub const DEPLOYMENTS: &[&str] = &[
    "apicast-production",
    "apicast-staging",
    "backend-cron",
    "backend-listener",
    "backend-redis",
    "backend-worker",
    "system-app",
    "system-memcache",
    "system-mysql",
    "system-redis",
    "system-searchd",
    "system-sidekiq",
    "zync",
    "zync-database",
    "zync-que",
];

/// The Secrets the 2.15 operator reconciles (the component constants and their
/// ReconcileSecret calls in pkg/3scale/amp/operator/*_reconciler.go).
pub const SECRETS: &[&str] = &[
    "system-smtp",
    "system-seed",
    "system-database",
    "backend-internal-api",
    "system-events-hook",
    "system-app",
    "system-recaptcha",
    "system-redis",
    "zync",
    "system-master-apicast",
    "backend-listener",
    "backend-redis",
    "system-memcache",
];

/// The Job the operator runs (`rake boot openshift:deploy`) whenever system-app's
/// Deployment generation changes, holding system-app's reconcile until it completes
/// (pkg/3scale/amp/operator/system_reconciler.go:149-205).
pub const SYSTEM_APP_PRE_JOB: &str = "system-app-pre";

/// The Job's annotation naming the system-app generation it ran for
/// (pkg/helper/job.go:20, `SystemAppGenerationAnnotation`).
pub const JOB_GENERATION_ANNOTATION: &str = "system-app-deployment-generation";

/// The pod-template annotation through which the operator rolls both redis Deployments
/// whenever `redis-config` changes (pkg/3scale/amp/operator/redis_options_provider.go:268-307).
pub const REDIS_CONFIG_ANNOTATION: &str = "redisConfigMapResourceVersion";

pub const RELEASE: Release = Release {
    // The operator writes "2.15.N" (apimanager_types.go:979-980); the host matches it by
    // release.
    version: "2.15",
    workload: Workload::Deployment,
    components: DEPLOYMENTS,
    secrets: SECRETS,
    // host 0.1 wrote secrets/NAME.json.
    legacy_secrets_dir: Some("secrets"),
    pre_deploy: PreDeploy::Job {
        name: SYSTEM_APP_PRE_JOB,
        generation_annotation: JOB_GENERATION_ANNOTATION,
    },
    redis_config: RedisConfig::OperatorRolls {
        annotation: REDIS_CONFIG_ANNOTATION,
    },
};
