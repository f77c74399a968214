//! What is particular to 3scale 2.14 and its operator (3scale-operator branch
//! 3scale-2.14-stable, 0.11.3), the last release on OpenShift DeploymentConfigs; see
//! shared/reference/3scale-2.14-facts.md. The manual's 2.14 chapter is the 2.15 one with
//! `-l 'deploymentConfig=X'`, `oc rollout latest dc/X`, `oc rollout status dc/X` and
//! `oc patch dc/X` in place of the Deployment forms.

use crate::release::{PreDeploy, RedisConfig, Release, Workload};

/// The DeploymentConfigs the operator creates for a default APIManager: the same names
/// as 2.15 (`DeploymentsLister.DeploymentNames`, pkg/3scale/amp/component/
/// deployments_lister.go:17-52), each an `apps.openshift.io/v1` DeploymentConfig
/// (e.g. system.go:541-545, redis.go:37-40). Search is system-searchd (Manticore); the
/// 2.13 system-sphinx is deleted on upgrade (system_searchd_reconciler.go:69-92).
pub const DEPLOYMENT_CONFIGS: &[&str] = &[
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

/// The ten Secrets of the 2.14 manual's backup (9.4.6.1) and restore (9.5.1) steps.
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
];

pub const RELEASE: Release = Release {
    // Exactly "2.14": product.ThreescaleRelease (pkg/3scale/amp/product/
    // 3scale_release.go:4), written by apimanager_types.go:860-861.
    version: "2.14",
    workload: Workload::DeploymentConfig,
    components: DEPLOYMENT_CONFIGS,
    secrets: SECRETS,
    legacy_secrets_dir: None,
    // system-app's pre hook `bundle exec rake boot openshift:deploy` (FailurePolicy
    // Retry) and post hook (Abort), system.go:566-581; no Jobs.
    pre_deploy: PreDeploy::Hook,
    // CreateOnlyMutator (operator/redis_reconciler.go:88), no `rename-command` lines
    // (redis.go:293-338), nothing in the redis pod templates that follows the ConfigMap.
    redis_config: RedisConfig::CreateOnly,
};
