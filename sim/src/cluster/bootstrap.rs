//! The pieces of a 3scale 2.15 install the operator builds from: each component's
//! Deployment as a pod template, the labels, the default redis.conf. The operator
//! (`super::operator`) creates them; a fresh simulator starts as it leaves them.

use serde_json::{Value, json};

use crate::pod::templates::Template;
use crate::release::Release;

/// The secrets the operator reconciles (each component's ReconcileSecret call).
pub const SECRET_NAMES: &[&str] = &[
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
    "backend-redis",
    "backend-listener",
    "system-memcache",
];

/// redis.conf as the operator writes it into `redis-config`.
pub fn default_redis_conf(release: Release) -> &'static str {
    match release {
        Release::V2_15 => DEFAULT_REDIS_CONF,
        // 3scale-2.14-stable pkg/3scale/amp/component/redis.go getRedisConfData:293-338: the
        // same text up to `dir`, without the two rename-command lines 2.15 added.
        Release::V2_14 => {
            let end = DEFAULT_REDIS_CONF
                .find("\nrename-command")
                .expect("2.15's redis.conf ends with its rename-command lines");
            &DEFAULT_REDIS_CONF[..end]
        }
    }
}

/// redis.conf as the 2.15 operator writes it into `redis-config` (pkg/3scale/amp/component/
/// redis.go getRedisConfData, 521-580).
pub const DEFAULT_REDIS_CONF: &str = "\
protected-mode no

port 6379

timeout 0
tcp-keepalive 300

daemonize no
supervised no

loglevel notice

databases 16

save 900 1
save 300 10
save 60 10000

stop-writes-on-bgsave-error yes

rdbcompression yes
rdbchecksum yes

dbfilename dump.rdb

slave-serve-stale-data yes
slave-read-only yes

repl-diskless-sync no
repl-disable-tcp-nodelay no

appendonly yes
appendfilename \"appendonly.aof\"
appendfsync everysec
no-appendfsync-on-rewrite no
auto-aof-rewrite-percentage 100
auto-aof-rewrite-min-size 64mb
aof-load-truncated yes

lua-time-limit 5000

activerehashing no

aof-rewrite-incremental-fsync yes
dir /var/lib/redis/data

rename-command REPLICAOF \"\"
rename-command SLAVEOF \"\"
";

/// A component's pod labels; the operator's selector label is `deployment` in 2.15 and
/// `deploymentConfig` in 2.14 (see `Release::selector_key`).
pub fn labels(t: &Template, release: Release) -> Value {
    let mut labels = json!({
        "app": "3scale-api-management",
        "threescale_component": t.component,
        "threescale_component_element": t.element,
    });
    labels[release.selector_key()] = json!(t.deployment);
    labels
}

/// The 2.15 operator's strategy for a Deployment: RollingUpdate with 25% surge and 25%
/// unavailable for system-app and system-sidekiq (system.go:542-553, 892-903), the three
/// backend Deployments (backend.go:72-83, 155-166, 232-243), both apicasts (apicast.go:
/// 110-119, 185-194) and zync-que (zync.go:304-315); zync sets none, so the API's default
/// applies, which is the same (zync.go:167-200, SetDefaults_Deployment); Recreate for the
/// databases, both redis, memcached and searchd (system_mysql.go:131,
/// zync.go:385, redis.go:74 and 318, memcached.go:35, system_searchd.go:72).
fn strategy(deployment: &str) -> Value {
    match deployment {
        "system-app" | "system-sidekiq" | "backend-listener" | "backend-worker"
        | "backend-cron" | "apicast-staging" | "apicast-production" | "zync" | "zync-que" => {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        }
        _ => json!({"type": "Recreate"}),
    }
}

/// The Deployment the operator builds for a component (before replicas from the spec).
pub fn deployment(t: &Template) -> Value {
    json!({
        "metadata": {"name": t.deployment, "labels": labels(t, Release::V2_15)},
        "spec": {
            "replicas": t.replicas,
            "selector": {"matchLabels": {"deployment": t.deployment}},
            "strategy": strategy(t.deployment),
            "template": {
                "metadata": {"labels": labels(t, Release::V2_15)},
                "spec": crate::pod::spec::pod_template_spec(t)
            }
        }
    })
}
