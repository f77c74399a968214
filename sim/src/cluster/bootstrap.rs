//! The 3scale 2.15 namespace as the operator leaves it after an install: Secrets,
//! ConfigMaps, one Deployment per component and the APIManager.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::pod::templates::{TEMPLATES, Template};
use crate::resources::{APIMANAGERS, CONFIGMAPS, DEPLOYMENTS, SECRETS};
use crate::store::Store;

pub const APIMANAGER_NAME: &str = "3scale";
pub const VERSION_ANNOTATION: &str = "apps.3scale.net/apimanager-threescale-version";

/// The secrets 3scale's documentation lists for backup, plus the ones pods read.
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
";

/// Creates everything if the store has no deployments yet (a new data directory).
pub fn populate(store: &Store, ns: &str) -> crate::Result<()> {
    if !store.list(&DEPLOYMENTS, Some(ns)).0.is_empty() {
        return Ok(());
    }
    let password = random_token(12);
    for (name, data) in secrets(&password) {
        create(
            store,
            &SECRETS,
            ns,
            json!({"metadata": {"name": name, "labels": {"app": "3scale-api-management"}}, "type": "Opaque", "data": data}),
        )?;
    }
    for (name, data) in config_maps() {
        create(
            store,
            &CONFIGMAPS,
            ns,
            json!({"metadata": {"name": name, "labels": {"app": "3scale-api-management"}}, "data": data}),
        )?;
    }
    for t in TEMPLATES {
        create(store, &DEPLOYMENTS, ns, deployment(t))?;
    }
    create(store, &APIMANAGERS, ns, apimanager())?;
    Ok(())
}

fn create(
    store: &Store,
    rt: &crate::resources::ResourceType,
    ns: &str,
    object: Value,
) -> crate::Result<()> {
    store
        .create(rt, ns, object)
        .map(|_| ())
        .map_err(|e| crate::SimError::Other(e.message))
}

pub fn labels(t: &Template) -> Value {
    json!({
        "app": "3scale-api-management",
        "deployment": t.deployment,
        "threescale_component": t.component,
        "threescale_component_element": t.element,
    })
}

fn deployment(t: &Template) -> Value {
    json!({
        "metadata": {"name": t.deployment, "labels": labels(t)},
        "spec": {
            "replicas": t.replicas,
            "selector": {"matchLabels": {"deployment": t.deployment}},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels(t)},
                "spec": crate::pod::spec::pod_template_spec(t)
            }
        }
    })
}

fn apimanager() -> Value {
    json!({
        "metadata": {
            "name": APIMANAGER_NAME,
            "annotations": {
                VERSION_ANNOTATION: "2.15",
                "apps.3scale.net/threescale-operator-version": "0.12.0",
            }
        },
        "spec": {
            "wildcardDomain": "apps.example.com",
            "system": {
                "appSpec": {"replicas": 1},
                "sidekiqSpec": {"replicas": 1},
                "fileStorage": {"persistentVolumeClaim": {"storageClassName": "nfs"}}
            },
            "backend": {
                "listenerSpec": {"replicas": 1},
                "workerSpec": {"replicas": 1},
                "cronSpec": {"replicas": 1}
            },
            "apicast": {
                "productionSpec": {"replicas": 1},
                "stagingSpec": {"replicas": 1}
            },
            "zync": {
                "appSpec": {"replicas": 1},
                "queSpec": {"replicas": 1}
            }
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]}
    })
}

fn b64(text: &str) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(text))
}

fn secret_data(pairs: &[(&str, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), b64(v)))
            .collect::<Map<_, _>>(),
    )
}

fn secrets(db_password: &str) -> Vec<(&'static str, Value)> {
    let t = |n| random_token(n);
    vec![
        (
            "system-smtp",
            secret_data(&[
                ("address", "smtp.example.com".into()),
                ("port", "587".into()),
                ("username", "3scale".into()),
                ("password", t(8)),
                ("domain", "example.com".into()),
                ("authentication", "login".into()),
                ("openssl.verify.mode", "peer".into()),
            ]),
        ),
        (
            "system-seed",
            secret_data(&[
                ("MASTER_USER", "master".into()),
                ("MASTER_PASSWORD", t(8)),
                ("MASTER_ACCESS_TOKEN", t(16)),
                ("ADMIN_USER", "admin".into()),
                ("ADMIN_PASSWORD", t(8)),
                ("ADMIN_ACCESS_TOKEN", t(16)),
                ("TENANT_NAME", "3scale".into()),
                ("MASTER_DOMAIN", "master".into()),
            ]),
        ),
        (
            "system-database",
            secret_data(&[
                ("DB_USER", "mysql".into()),
                ("DB_PASSWORD", db_password.into()),
                (
                    "URL",
                    format!("mysql2://root:{db_password}@system-mysql/system"),
                ),
            ]),
        ),
        (
            "backend-internal-api",
            secret_data(&[("username", "3scale_api_user".into()), ("password", t(8))]),
        ),
        (
            "system-events-hook",
            secret_data(&[
                (
                    "URL",
                    "http://system-master:3000/master/events/import".into(),
                ),
                ("PASSWORD", t(8)),
            ]),
        ),
        ("system-app", secret_data(&[("SECRET_KEY_BASE", t(32))])),
        (
            "system-recaptcha",
            secret_data(&[("PUBLIC_KEY", "".into()), ("PRIVATE_KEY", "".into())]),
        ),
        (
            "system-redis",
            secret_data(&[
                ("URL", "redis://system-redis:6379/1".into()),
                ("NAMESPACE", "".into()),
            ]),
        ),
        (
            "zync",
            secret_data(&[
                ("ZYNC_AUTHENTICATION_TOKEN", t(16)),
                ("SECRET_KEY_BASE", t(32)),
                (
                    "DATABASE_URL",
                    "postgresql://zync:zync@zync-database:5432/zync_production".into(),
                ),
                ("ZYNC_DATABASE_PASSWORD", t(8)),
            ]),
        ),
        (
            "system-master-apicast",
            secret_data(&[
                ("ACCESS_TOKEN", t(16)),
                ("BASE_URL", "http://mastertoken@system-master:3000".into()),
                (
                    "PROXY_CONFIGS_ENDPOINT",
                    "http://system-master:3000/master/api/proxy/configs".into(),
                ),
            ]),
        ),
        (
            "backend-redis",
            secret_data(&[
                ("REDIS_STORAGE_URL", "redis://backend-redis:6379/0".into()),
                ("REDIS_QUEUES_URL", "redis://backend-redis:6379/1".into()),
            ]),
        ),
        (
            "backend-listener",
            secret_data(&[
                ("service_endpoint", "http://backend-listener:3000".into()),
                (
                    "route_endpoint",
                    "https://backend-3scale.apps.example.com".into(),
                ),
            ]),
        ),
        (
            "system-memcache",
            secret_data(&[("SERVERS", "system-memcache:11211".into())]),
        ),
    ]
}

fn config_maps() -> Vec<(&'static str, Value)> {
    vec![
        (
            "system-environment",
            json!({
                "AMP_RELEASE": "2.15",
                "APICAST_REGISTRY_URL": "http://apicast-staging:8090/policies",
                "FORCE_SSL": "true",
                "PROVIDER_PLAN": "enterprise",
                "RAILS_ENV": "production",
                "RAILS_LOG_LEVEL": "info",
                "RAILS_LOG_TO_STDOUT": "true",
                "SSL_CERT_DIR": "/etc/pki/tls/certs",
                "THINKING_SPHINX_PORT": "9306",
                "THREESCALE_SANDBOX_PROXY_OPENSSL_VERIFY_MODE": "VERIFY_NONE",
                "THREESCALE_SUPERDOMAIN": "apps.example.com",
            }),
        ),
        (
            "apicast-environment",
            json!({
                "APICAST_MANAGEMENT_API": "status",
                "OPENSSL_VERIFY": "false",
                "APICAST_RESPONSE_CODES": "true",
            }),
        ),
        ("redis-config", json!({"redis.conf": DEFAULT_REDIS_CONF})),
        (
            "mysql-main-conf",
            json!({"my.cnf": "!include /etc/my.cnf\n!includedir /etc/my-extra.d\n"}),
        ),
        (
            "mysql-extra-conf",
            json!({"mysql-charset.cnf": "[client]\ndefault-character-set = utf8\n\n[mysql]\ndefault-character-set = utf8\n\n[mysqld]\ncharacter-set-server = utf8\ncollation-server = utf8_unicode_ci\n"}),
        ),
    ]
}

fn random_token(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(raw)
}
