//! The operator's sub-reconcilers, in the order reconcileAPIManagerLogic runs them
//! (apimanager_controller.go:435-497), each in the order of its own source file under
//! pkg/3scale/amp/operator/. Services and PersistentVolumeClaims go through
//! [`super::extras`] at the places the real reconcilers create them.

use serde_json::{Value, json};

use super::{Ctx, Step};
use crate::SimError;
use crate::cluster::bootstrap::{DEFAULT_REDIS_CONF, default_redis_conf, deployment};
use crate::pod::templates;
use crate::release::Release;
use crate::resources::{CONFIGMAPS, DEPLOYMENTS, SECRETS};

type Reconciler = fn(&Ctx) -> crate::Result<Step>;

pub fn steps(release: Release) -> &'static [Reconciler] {
    match release {
        Release::V2_15 => STEPS,
        Release::V2_14 => STEPS_2_14,
    }
}

/// 3scale-2.14-stable apimanager_controller.go reconcileAPIManagerLogic:208-264 (the
/// ImageStreams of NewAMPImagesReconciler first, which the simulator does not serve).
const STEPS_2_14: &[Reconciler] = &[
    system_mysql,
    system_redis_2_14,
    backend_redis_2_14,
    backend,
    memcached,
    system_searchd_2_14,
    super::system_app::reconcile_2_14,
    zync,
    apicast,
];

const STEPS: &[Reconciler] = &[
    system_mysql,
    system_redis,
    backend_redis,
    backend,
    memcached,
    system_searchd,
    super::system_app::reconcile,
    zync,
    apicast,
];

/// (JSON pointer in the APIManager, deployment whose replicas it drives when it has them)
pub const MANAGED: &[(&str, &str)] = &[
    ("/spec/system/appSpec", "system-app"),
    ("/spec/system/sidekiqSpec", "system-sidekiq"),
    ("/spec/backend/listenerSpec", "backend-listener"),
    ("/spec/backend/workerSpec", "backend-worker"),
    ("/spec/backend/cronSpec", "backend-cron"),
    ("/spec/apicast/productionSpec", "apicast-production"),
    ("/spec/apicast/stagingSpec", "apicast-staging"),
    ("/spec/zync/appSpec", "zync"),
    ("/spec/zync/queSpec", "zync-que"),
];

impl Ctx<'_> {
    /// `.spec.<component>.replicas` if the APIManager sets it.
    pub fn spec_replicas(&self, deployment: &str) -> Option<i64> {
        let (pointer, _) = MANAGED.iter().find(|(_, d)| *d == deployment)?;
        self.apimanager
            .pointer(&format!("{pointer}/replicas"))?
            .as_i64()
    }

    /// The deployment (2.14: DeploymentConfig) as the operator builds it; its replicas are
    /// the spec's or 1.
    pub fn desired_deployment(&self, name: &str) -> Value {
        let t = templates::find(name).expect("a 3scale component");
        let mut d = match self.release() {
            Release::V2_15 => deployment(t),
            Release::V2_14 => super::deployment_configs::desired(t, &self.app_label()),
        };
        if let Some(r) = self.spec_replicas(name) {
            d["spec"]["replicas"] = json!(r);
        }
        d
    }

    /// A deployment the APIManager's spec may scale.
    pub fn deployment_step(&self, name: &str) -> crate::Result<()> {
        self.reconcile_deployment(self.desired_deployment(name), self.spec_replicas(name))
    }

    fn labels(&self, component: &str, element: Option<&str>) -> Value {
        let mut labels = json!({"app": self.app_label(), "threescale_component": component});
        if let Some(e) = element {
            labels["threescale_component_element"] = json!(e);
        }
        labels
    }

    fn config_map(&self, name: &str, labels: Value, data: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "data": data})
    }
}

/// CreateOnlyMutator.
fn create_only(_: &mut Value, _: &Value) -> bool {
    false
}

/// system_mysql_reconciler.go: deployment, service, the two ConfigMaps, PVC, secret. The
/// options the deployment and the secret are built from are one: the root password in the
/// deployment's env is the one in the secret's URL (system_mysql_options_provider.go
/// 84-105), an existing secret's or a new one's.
fn system_mysql(ctx: &Ctx) -> crate::Result<Step> {
    let secret = ctx.system_database_secret()?;
    let root_password = secret
        .data
        .iter()
        .find(|(k, _)| *k == "URL")
        .and_then(|(_, url)| templates::url_password(url))
        .unwrap_or_default();
    let mut deployment = ctx.desired_deployment("system-mysql");
    for container in deployment["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        for var in container["env"].as_array_mut().into_iter().flatten() {
            if var["name"] == "MYSQL_ROOT_PASSWORD" {
                var["value"] = json!(root_password);
            }
        }
    }
    ctx.reconcile_deployment(deployment, None)?;
    super::extras::service(ctx, "system-mysql")?;
    let labels = ctx.labels("system", Some("mysql"));
    ctx.reconcile_configmap(
        ctx.config_map(
            "mysql-main-conf",
            labels.clone(),
            json!({"my.cnf": "!include /etc/my.cnf\n!includedir /etc/my-extra.d\n"}),
        ),
        create_only,
    )?;
    ctx.reconcile_configmap(
        ctx.config_map(
            "mysql-extra-conf",
            labels,
            json!({
                "mysql-charset.cnf": "[client]\ndefault-character-set = utf8\n\n[mysql]\ndefault-character-set = utf8\n\n[mysqld]\ncharacter-set-server = utf8\ncollation-server = utf8_unicode_ci\n",
                "mysql-default-authentication-plugin.cnf": "[mysqld]\ndefault_authentication_plugin=mysql_native_password\n",
            }),
        ),
        create_only,
    )?;
    super::extras::persistent_volume_claim(ctx, "mysql-storage")?;
    ctx.reconcile_secret(secret)?;
    Ok(Step::Continue)
}

fn system_redis(ctx: &Ctx) -> crate::Result<Step> {
    redis(ctx, "system-redis", "system-redis-storage")
}

fn backend_redis(ctx: &Ctx) -> crate::Result<Step> {
    redis(ctx, "backend-redis", "backend-redis-storage")
}

/// redis_reconciler.go Reconcile: the shared redis-config first, then the deployment with
/// the ConfigMap's resourceVersion in its pod template (redis_options_provider.go
/// 268-307), so that any change of redis-config rolls both redis deployments.
fn redis(ctx: &Ctx, name: &str, claim: &str) -> crate::Result<Step> {
    ctx.reconcile_configmap(
        ctx.config_map(
            "redis-config",
            ctx.labels("system", Some("redis")),
            json!({"redis.conf": DEFAULT_REDIS_CONF}),
        ),
        redis_config_mutator,
    )?;
    let Some(config) = ctx.get(&CONFIGMAPS, "redis-config") else {
        ctx.log("waiting for redis config map to be available");
        return Ok(Step::Requeue);
    };
    let mut desired = ctx.desired_deployment(name);
    desired["spec"]["template"]["metadata"]["annotations"]["redisConfigMapResourceVersion"] =
        config["metadata"]["resourceVersion"].clone();
    ctx.reconcile_deployment(desired, None)?;
    if name == "system-redis" {
        delete_namespace_key(ctx)?;
    }
    super::extras::service(ctx, name)?;
    super::extras::persistent_volume_claim(ctx, claim)?;
    ctx.reconcile_secret(if name == "system-redis" {
        ctx.system_redis_secret()
    } else {
        ctx.backend_redis_secret()
    })?;
    Ok(Step::Continue)
}

fn system_redis_2_14(ctx: &Ctx) -> crate::Result<Step> {
    redis_2_14(ctx, "system-redis", "system-redis-storage")
}

fn backend_redis_2_14(ctx: &Ctx) -> crate::Result<Step> {
    redis_2_14(ctx, "backend-redis", "backend-redis-storage")
}

/// 3scale-2.14-stable redis_reconciler.go Reconcile:58-117: the DeploymentConfig (no
/// ConfigMap version in its pod template), the Service, `redis-config` with
/// CreateOnlyMutator (:88: every edit stays, nothing is appended, and nothing rolls the
/// redis pods when it changes), the claim, the Secret (system-redis still with
/// `NAMESPACE`).
fn redis_2_14(ctx: &Ctx, name: &str, claim: &str) -> crate::Result<Step> {
    ctx.reconcile_deployment(ctx.desired_deployment(name), None)?;
    super::extras::service(ctx, name)?;
    ctx.reconcile_configmap(
        ctx.config_map(
            "redis-config",
            ctx.labels("system", Some("redis")),
            json!({"redis.conf": default_redis_conf(Release::V2_14)}),
        ),
        create_only,
    )?;
    super::extras::persistent_volume_claim(ctx, claim)?;
    ctx.reconcile_secret(if name == "system-redis" {
        ctx.system_redis_secret()
    } else {
        ctx.backend_redis_secret()
    })?;
    Ok(Step::Continue)
}

/// RedisConfigMapReconcileField (pkg/reconcilers/configmap.go:23-47): a missing
/// `redis.conf` is put back whole; otherwise only the two rename-command lines are
/// appended when absent. Every other edit stays.
fn redis_config_mutator(existing: &mut Value, desired: &Value) -> bool {
    let Some(current) = existing["data"]["redis.conf"].as_str().map(String::from) else {
        existing["data"]["redis.conf"] = desired["data"]["redis.conf"].clone();
        return true;
    };
    let mut text = current.clone();
    for line in [
        "rename-command REPLICAOF \"\"",
        "rename-command SLAVEOF \"\"",
    ] {
        if !text.contains(line) {
            text = format!("{text}\n{line}");
        }
    }
    if text == current {
        return false;
    }
    existing["data"]["redis.conf"] = json!(text);
    true
}

/// The 2.14 -> 2.15 upgrade step every reconcile runs (redis_reconciler.go
/// deleteSystemRedisSecretNamespaceKey).
fn delete_namespace_key(ctx: &Ctx) -> crate::Result<()> {
    if let Some(mut secret) = ctx.get(&SECRETS, "system-redis")
        && secret["data"].get("NAMESPACE").is_some()
    {
        if let Some(data) = secret["data"].as_object_mut() {
            data.remove("NAMESPACE");
        }
        ctx.update(&SECRETS, secret)?;
        ctx.log("deleted key NAMESPACE from secret system-redis");
    }
    Ok(())
}

/// backend_reconciler.go.
fn backend(ctx: &Ctx) -> crate::Result<Step> {
    ctx.deployment_step("backend-cron")?;
    ctx.deployment_step("backend-listener")?;
    super::extras::service(ctx, "backend-listener")?;
    ctx.deployment_step("backend-worker")?;
    ctx.reconcile_configmap(
        ctx.config_map(
            "backend-environment",
            ctx.labels("backend", None),
            json!({"RACK_ENV": "production"}),
        ),
        create_only,
    )?;
    for secret in ctx.backend_secrets() {
        ctx.reconcile_secret(secret)?;
    }
    Ok(Step::Continue)
}

/// memcached_reconciler.go.
fn memcached(ctx: &Ctx) -> crate::Result<Step> {
    ctx.reconcile_deployment(ctx.desired_deployment("system-memcache"), None)?;
    super::extras::service(ctx, "system-memcache")?;
    Ok(Step::Continue)
}

/// system_searchd_reconciler.go: the Manticore re-index Job once searchd is available;
/// until then the rest of the reconcile (system, zync, apicast) waits (Requeue).
fn system_searchd(ctx: &Ctx) -> crate::Result<Step> {
    super::extras::service(ctx, "system-searchd")?;
    super::extras::persistent_volume_claim(ctx, "system-searchd-manticore")?;
    ctx.reconcile_deployment(ctx.desired_deployment("system-searchd"), None)?;
    let Some(searchd) = ctx.get(&DEPLOYMENTS, "system-searchd") else {
        return Err(SimError::Other(
            "deployments.apps \"system-searchd\" not found".into(),
        ));
    };
    if ctx.deployment_available(&searchd) && !ctx.deployment_progressing(&searchd) {
        ctx.reconcile_job(super::system_app::job(
            ctx,
            "system-searchd-manticore-reindex",
            "bundle exec rake searchd:optimal_index",
            None,
        ))?;
        Ok(Step::Continue)
    } else {
        Ok(Step::Requeue)
    }
}

/// 3scale-2.14-stable system_searchd_reconciler.go Reconcile:25-63: the old system-sphinx
/// DeploymentConfig and Service go (the 2.13 upgrade), then Service, claim and
/// DeploymentConfig; no re-index Job and no wait.
fn system_searchd_2_14(ctx: &Ctx) -> crate::Result<Step> {
    ctx.delete(&crate::resources::SERVICES, "system-sphinx")?;
    ctx.delete(&crate::resources::DEPLOYMENT_CONFIGS, "system-sphinx")?;
    super::extras::service(ctx, "system-searchd")?;
    super::extras::persistent_volume_claim(ctx, "system-searchd-manticore")?;
    ctx.reconcile_deployment(ctx.desired_deployment("system-searchd"), None)?;
    Ok(Step::Continue)
}

/// zync_reconciler.go.
fn zync(ctx: &Ctx) -> crate::Result<Step> {
    ctx.deployment_step("zync")?;
    ctx.deployment_step("zync-que")?;
    super::extras::service(ctx, "zync")?;
    ctx.reconcile_deployment(ctx.desired_deployment("zync-database"), None)?;
    super::extras::service(ctx, "zync-database")?;
    ctx.reconcile_secret(ctx.zync_secret()?)?;
    Ok(Step::Continue)
}

/// apicast_reconciler.go, with ApicastEnvCMMutator (:25-50) keeping the three keys it
/// owns at the spec's values.
fn apicast(ctx: &Ctx) -> crate::Result<Step> {
    ctx.deployment_step("apicast-staging")?;
    ctx.deployment_step("apicast-production")?;
    super::extras::service(ctx, "apicast-staging")?;
    super::extras::service(ctx, "apicast-production")?;
    let spec = &ctx.apimanager["spec"]["apicast"];
    let text = |v: &Value, default: &str| match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        _ => default.to_string(),
    };
    ctx.reconcile_configmap(
        ctx.config_map(
            "apicast-environment",
            ctx.labels("apicast", None),
            json!({
                "APICAST_MANAGEMENT_API": text(&spec["managementAPI"], "status"),
                "OPENSSL_VERIFY": text(&spec["openSSLVerify"], "false"),
                "APICAST_RESPONSE_CODES": text(&spec["responseCodes"], "true"),
            }),
        ),
        |existing, desired| {
            let mut changed = false;
            for key in [
                "APICAST_MANAGEMENT_API",
                "OPENSSL_VERIFY",
                "APICAST_RESPONSE_CODES",
            ] {
                if existing["data"][key] != desired["data"][key] {
                    existing["data"][key] = desired["data"][key].clone();
                    changed = true;
                }
            }
            changed
        },
    )?;
    Ok(Step::Continue)
}

/// The system ConfigMaps (system.go SystemConfigMap, EnvironmentConfigMap:331-360).
pub fn system_config_maps(ctx: &Ctx) -> crate::Result<()> {
    let labels = ctx.labels("system", None);
    ctx.reconcile_configmap(
        ctx.config_map(
            "system",
            labels.clone(),
            json!({
                "zync.yml": "production:\n  endpoint: 'http://zync:8080'\n  authentication:\n    token: \"<%= ENV.fetch('ZYNC_AUTHENTICATION_TOKEN') %>\"\n  connect_timeout: 5\n  send_timeout: 5\n  receive_timeout: 10\n  root_url:\n",
                "rolling_updates.yml": "production: {}\n",
                "service_discovery.yml": "production:\n  enabled: <%= cluster_token_file_exists = File.exists?(cluster_token_file_path = '/var/run/secrets/kubernetes.io/serviceaccount/token') %>\n  server_scheme: 'https'\n  server_host: 'kubernetes.default.svc.cluster.local'\n  server_port: 443\n  bearer_token: \"<%= File.read(cluster_token_file_path) if cluster_token_file_exists %>\"\n  authentication_method: service_account # can be service_account|oauth\n  oauth_server_type: builtin # can be builtin|rh_sso\n  client_id:\n  client_secret:\n  timeout: 1\n  open_timeout: 1\n  max_retry: 5\n  verify_ssl: <%= OpenSSL::SSL::VERIFY_NONE %> # 0\n",
            }),
        ),
        create_only,
    )?;
    let spec = &ctx.apimanager["spec"];
    ctx.reconcile_configmap(
        ctx.config_map(
            "system-environment",
            labels,
            json!({
                "RAILS_ENV": "production",
                "FORCE_SSL": "true",
                "THREESCALE_SUPERDOMAIN": spec["wildcardDomain"],
                "PROVIDER_PLAN": "enterprise",
                "APICAST_REGISTRY_URL": spec["apicast"]["registryURL"]
                    .as_str()
                    .unwrap_or("http://apicast-staging:8090/policies"),
                "RAILS_LOG_TO_STDOUT": "true",
                "RAILS_LOG_LEVEL": "info",
                "THINKING_SPHINX_PORT": "9306",
                "THREESCALE_SANDBOX_PROXY_OPENSSL_VERIFY_MODE": "VERIFY_NONE",
                "SSL_CERT_DIR": "/etc/pki/tls/certs",
            }),
        ),
        create_only,
    )
}
