//! The Secrets the operator reconciles, with the values it generates when a key is
//! missing (pkg/3scale/amp/component/*_options.go Default* functions, read through the
//! options providers' `secretSource.FieldValue`: an existing key wins). The operator
//! reconciles them with DefaultsOnlySecretMutator (pkg/reconcilers/secret.go): a missing
//! Secret is created, an existing one only gets the keys it lacks, so Secrets restored
//! before the APIManager is created (manual 9.5.1) are kept as they are.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::SimError;
use crate::release::Release;
use crate::resources::SECRETS;

pub struct DesiredSecret {
    pub name: &'static str,
    pub component: &'static str,
    pub element: Option<&'static str>,
    pub data: Vec<(&'static str, String)>,
}

/// oprand.String: random letters and digits (pkg/crypto/rand).
pub fn random_string(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

impl Ctx<'_> {
    /// The value of `key` in Secret `secret` if it has one, else `default()`.
    fn field(&self, secret: &str, key: &str, default: impl FnOnce() -> String) -> String {
        self.get(&SECRETS, secret)
            .and_then(|s| s["data"][key].as_str().map(String::from))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(default)
    }

    /// ReconcileSecret with DefaultsOnlySecretMutator. Secrets get no owner reference:
    /// the operator leaves them to users (base_apimanager_logic_reconciler.go:243-253).
    pub fn reconcile_secret(&self, desired: DesiredSecret) -> crate::Result<()> {
        let encode = |v: &str| json!(base64::engine::general_purpose::STANDARD.encode(v));
        let mut labels =
            json!({"app": self.app_label(), "threescale_component": desired.component});
        if let Some(element) = desired.element {
            labels["threescale_component_element"] = json!(element);
        }
        match self.get(&SECRETS, desired.name) {
            None => {
                let data: Map<String, Value> = desired
                    .data
                    .iter()
                    .map(|(k, v)| (k.to_string(), encode(v)))
                    .collect();
                self.create(
                    &SECRETS,
                    json!({"metadata": {"name": desired.name, "labels": labels},
                           "type": "Opaque", "data": data}),
                )?;
                self.log(&format!(
                    "created secret {} (generated values)",
                    desired.name
                ));
            }
            Some(mut existing) => {
                let missing: Vec<&(&str, String)> = desired
                    .data
                    .iter()
                    .filter(|(k, _)| existing["data"].get(*k).is_none())
                    .collect();
                let mut labels_missing = false;
                for (k, v) in labels.as_object().into_iter().flatten() {
                    labels_missing |= existing["metadata"]["labels"][k] != *v;
                }
                if missing.is_empty() && !labels_missing {
                    return Ok(());
                }
                for (k, v) in labels.as_object().into_iter().flatten() {
                    existing["metadata"]["labels"][k] = v.clone();
                }
                for (k, v) in &missing {
                    existing["data"][*k] = encode(v);
                }
                self.update(&SECRETS, existing)?;
                if !missing.is_empty() {
                    let keys: Vec<&str> = missing.iter().map(|(k, _)| *k).collect();
                    self.log(&format!(
                        "secret {}: added missing keys {}",
                        desired.name,
                        keys.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// system-database (system_mysql_options_provider.go setSecretBasedOptions): the root
    /// password lives in URL, apart from DB_PASSWORD.
    pub fn system_database_secret(&self) -> crate::Result<DesiredSecret> {
        let s = "system-database";
        let url = self.field(s, "URL", || {
            format!("mysql2://root:{}@system-mysql/system", random_string(8))
        });
        valid_mysql_url(&url)?;
        Ok(DesiredSecret {
            name: s,
            component: "system",
            element: Some("mysql"),
            data: vec![
                ("DB_USER", self.field(s, "DB_USER", || "mysql".into())),
                (
                    "DB_PASSWORD",
                    self.field(s, "DB_PASSWORD", || random_string(8)),
                ),
                ("URL", url),
            ],
        })
    }

    pub fn system_redis_secret(&self) -> DesiredSecret {
        let s = "system-redis";
        DesiredSecret {
            name: s,
            component: "system",
            element: Some("redis"),
            data: vec![
                (
                    "URL",
                    self.field(s, "URL", || "redis://system-redis:6379/1".into()),
                ),
                (
                    "SENTINEL_HOSTS",
                    self.field(s, "SENTINEL_HOSTS", String::new),
                ),
                ("SENTINEL_ROLE", self.field(s, "SENTINEL_ROLE", String::new)),
            ]
            .into_iter()
            // 2.14 still has NAMESPACE (3scale-2.14-stable redis.go SystemRedisSecret:
            // 618-633, DefaultSystemRedisNamespace ""); 2.15 deletes it.
            .chain(
                (self.release() == Release::V2_14)
                    .then(|| ("NAMESPACE", self.field(s, "NAMESPACE", String::new))),
            )
            .collect(),
        }
    }

    pub fn backend_redis_secret(&self) -> DesiredSecret {
        let s = "backend-redis";
        let f = |k: &'static str, d: &str| (k, self.field(s, k, || d.to_string()));
        DesiredSecret {
            name: s,
            component: "backend",
            element: Some("redis"),
            data: vec![
                f("REDIS_STORAGE_URL", "redis://backend-redis:6379/0"),
                f("REDIS_QUEUES_URL", "redis://backend-redis:6379/1"),
                f("REDIS_STORAGE_SENTINEL_HOSTS", ""),
                f("REDIS_STORAGE_SENTINEL_ROLE", ""),
                f("REDIS_QUEUES_SENTINEL_HOSTS", ""),
                f("REDIS_QUEUES_SENTINEL_ROLE", ""),
            ],
        }
    }

    pub fn backend_secrets(&self) -> Vec<DesiredSecret> {
        let internal = "backend-internal-api";
        let listener = "backend-listener";
        let route = format!(
            "https://backend-{}.{}",
            self.tenant_name(),
            self.apimanager["spec"]["wildcardDomain"]
                .as_str()
                .unwrap_or_default()
        );
        vec![
            DesiredSecret {
                name: internal,
                component: "backend",
                element: None,
                data: vec![
                    (
                        "username",
                        self.field(internal, "username", || "3scale_api_user".into()),
                    ),
                    (
                        "password",
                        self.field(internal, "password", || random_string(8)),
                    ),
                ],
            },
            DesiredSecret {
                name: listener,
                component: "backend",
                element: None,
                data: vec![
                    (
                        "service_endpoint",
                        self.field(listener, "service_endpoint", || {
                            "http://backend-listener:3000".into()
                        }),
                    ),
                    (
                        "route_endpoint",
                        self.field(listener, "route_endpoint", || route),
                    ),
                ],
            },
        ]
    }

    /// system_reconciler.go:104-145, in that order.
    pub fn system_secrets(&self) -> Vec<DesiredSecret> {
        let empty = |s: &'static str, keys: &[&'static str]| DesiredSecret {
            name: s,
            component: "system",
            element: None,
            data: keys
                .iter()
                .map(|k| (*k, self.field(s, k, String::new)))
                .collect(),
        };
        let apicast_token =
            self.field("system-master-apicast", "ACCESS_TOKEN", || random_string(8));
        let seed = "system-seed";
        let tenant = self.tenant_name();
        vec![
            empty(
                "system-smtp",
                &[
                    "address",
                    "authentication",
                    "domain",
                    "openssl.verify.mode",
                    "password",
                    "port",
                    "username",
                ],
            ),
            DesiredSecret {
                name: "system-events-hook",
                component: "system",
                element: None,
                data: vec![
                    (
                        "URL",
                        self.field("system-events-hook", "URL", || {
                            "http://system-master:3000/master/events/import".into()
                        }),
                    ),
                    (
                        "PASSWORD",
                        self.field("system-events-hook", "PASSWORD", || random_string(8)),
                    ),
                ],
            },
            DesiredSecret {
                name: "system-master-apicast",
                component: "system",
                element: None,
                data: vec![
                    (
                        "PROXY_CONFIGS_ENDPOINT",
                        self.field("system-master-apicast", "PROXY_CONFIGS_ENDPOINT", || {
                            format!(
                                "http://{apicast_token}@system-master:3000/master/api/proxy/configs"
                            )
                        }),
                    ),
                    ("ACCESS_TOKEN", apicast_token.clone()),
                ],
            },
            DesiredSecret {
                name: seed,
                component: "system",
                element: None,
                data: vec![
                    (
                        "MASTER_DOMAIN",
                        self.field(seed, "MASTER_DOMAIN", || "master".into()),
                    ),
                    (
                        "MASTER_ACCESS_TOKEN",
                        self.field(seed, "MASTER_ACCESS_TOKEN", || random_string(8)),
                    ),
                    (
                        "MASTER_USER",
                        self.field(seed, "MASTER_USER", || "master".into()),
                    ),
                    (
                        "MASTER_PASSWORD",
                        self.field(seed, "MASTER_PASSWORD", || random_string(8)),
                    ),
                    (
                        "ADMIN_ACCESS_TOKEN",
                        self.field(seed, "ADMIN_ACCESS_TOKEN", || random_string(16)),
                    ),
                    (
                        "ADMIN_USER",
                        self.field(seed, "ADMIN_USER", || "admin".into()),
                    ),
                    (
                        "ADMIN_PASSWORD",
                        self.field(seed, "ADMIN_PASSWORD", || random_string(8)),
                    ),
                    ("ADMIN_EMAIL", self.field(seed, "ADMIN_EMAIL", String::new)),
                    ("TENANT_NAME", self.field(seed, "TENANT_NAME", || tenant)),
                ],
            },
            empty("system-recaptcha", &["PUBLIC_KEY", "PRIVATE_KEY"]),
            DesiredSecret {
                name: "system-app",
                component: "system",
                element: Some("app"),
                data: vec![
                    (
                        "SECRET_KEY_BASE",
                        self.field("system-app", "SECRET_KEY_BASE", || random_string(128)),
                    ),
                    (
                        "USER_SESSION_TTL",
                        self.field("system-app", "USER_SESSION_TTL", String::new),
                    ),
                ],
            },
            DesiredSecret {
                name: "system-memcache",
                component: "system",
                element: None,
                data: vec![(
                    "SERVERS",
                    self.field("system-memcache", "SERVERS", || {
                        "system-memcache:11211".into()
                    }),
                )],
            },
        ]
    }

    /// zync (zync_options_provider.go:75-170), including its check that the password in
    /// DATABASE_URL is ZYNC_DATABASE_PASSWORD.
    pub fn zync_secret(&self) -> crate::Result<DesiredSecret> {
        let s = "zync";
        let password = self.field(s, "ZYNC_DATABASE_PASSWORD", || random_string(16));
        let url = self.field(s, "DATABASE_URL", || {
            format!("postgresql://zync:{password}@zync-database:5432/zync_production")
        });
        let url_password = url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, p)| p.to_string())
            .ok_or_else(|| {
                SimError::Other("GetZyncOptions: 'DATABASE_URL' field in 'zync' secret doesn't have required password part"
                    .to_string())
            })?;
        if url_password != password {
            return Err(SimError::Other("GetZyncOptions: 'ZYNC_DATABASE_PASSWORD' field in secret 'zync' does not match password part in field 'DATABASE_URL'. Inconsistency detected".into()));
        }
        Ok(DesiredSecret {
            name: s,
            component: "zync",
            element: None,
            data: vec![
                (
                    "SECRET_KEY_BASE",
                    self.field(s, "SECRET_KEY_BASE", || random_string(16)),
                ),
                ("DATABASE_URL", url),
                ("ZYNC_DATABASE_PASSWORD", password),
                (
                    "ZYNC_AUTHENTICATION_TOKEN",
                    self.field(s, "ZYNC_AUTHENTICATION_TOKEN", || random_string(16)),
                ),
            ],
        })
    }
}

/// system_mysql_options_provider.go systemDatabaseURLIsValid.
fn valid_mysql_url(url: &str) -> crate::Result<()> {
    let bad = |what: &str| {
        Err(SimError::Other(format!(
            "{what} in 'URL' field of 'system-database' secret"
        )))
    };
    let Some(rest) = url.strip_prefix("mysql2://") else {
        return Err(SimError::Other(
            "'URL' field of 'system-database' secret must contain 'mysql2' as the scheme part"
                .into(),
        ));
    };
    let Some((userinfo, hostpath)) = rest.split_once('@') else {
        return bad("authentication information must be provided");
    };
    match userinfo.split_once(':') {
        Some(("root", _)) => {}
        Some(_) => return bad("authentication information must contain 'root' as the username"),
        None => return bad("authentication information must contain a password"),
    }
    match hostpath.split_once('/') {
        Some((host, db)) if !host.is_empty() && !db.is_empty() => Ok(()),
        _ => bad("host and database name must be provided"),
    }
}
