//! What runs in each 3scale 2.15 deployment's pod: the server, its user, its volumes and its
//! environment, as the 3scale operator lays them out.

/// What a pod's main process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    MariaDb,
    Postgres,
    Redis,
    /// The Ruby/Lua services we do not run: an idle process with the right labels and mounts.
    Idle,
}

/// Where an environment variable's value comes from at pod start.
#[derive(Debug, Clone, Copy)]
pub enum EnvValue {
    Literal(&'static str),
    /// `secretKeyRef`: a missing secret keeps the pod Pending, as Kubernetes does.
    Secret {
        name: &'static str,
        key: &'static str,
    },
    /// The password part of a URL in a Secret: the operator puts system-mysql's root
    /// password into its env from the `system-database` URL (system_mysql.go:197).
    SecretUrlPassword {
        name: &'static str,
        key: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub deployment: &'static str,
    pub container: &'static str,
    pub component: &'static str,
    pub element: &'static str,
    pub workload: Workload,
    /// The container's user; exec runs as this user too. `None` runs as root.
    pub user: Option<&'static str>,
    pub home: &'static str,
    /// (persistent volume claim, mount path)
    pub volumes: &'static [(&'static str, &'static str)],
    pub env: &'static [(&'static str, EnvValue)],
    pub replicas: i64,
    /// The 3scale tools stubbed on the pod's PATH (`bundle`), for system pods.
    pub system_tools: bool,
}

const SYSTEM_STORAGE: (&str, &str) = ("system-storage", "/opt/system/public/system");

pub const TEMPLATES: &[Template] = &[
    Template {
        deployment: "system-mysql",
        container: "system-mysql",
        component: "system",
        element: "mysql",
        workload: Workload::MariaDb,
        user: Some("mysql"),
        home: "/var/lib/mysql",
        volumes: &[("mysql-storage", "/var/lib/mysql")],
        env: &[
            (
                "MYSQL_ROOT_PASSWORD",
                EnvValue::SecretUrlPassword {
                    name: "system-database",
                    key: "URL",
                },
            ),
            ("MYSQL_DATABASE", EnvValue::Literal("system")),
            (
                "MYSQL_USER",
                EnvValue::Secret {
                    name: "system-database",
                    key: "DB_USER",
                },
            ),
        ],
        replicas: 1,
        system_tools: false,
    },
    Template {
        deployment: "zync-database",
        container: "postgresql",
        component: "zync",
        element: "database",
        workload: Workload::Postgres,
        user: Some("postgres"),
        home: "/var/lib/pgsql",
        volumes: &[("zync-database-data", "/var/lib/pgsql")],
        // zync.go:399-431, and the image's own ENV (sclorg postgresql-10: the container
        // user is postgres, PGUSER=postgres, so psql in the pod is the superuser).
        env: &[
            ("POSTGRESQL_USER", EnvValue::Literal("zync")),
            (
                "POSTGRESQL_PASSWORD",
                EnvValue::Secret {
                    name: "zync",
                    key: "ZYNC_DATABASE_PASSWORD",
                },
            ),
            ("POSTGRESQL_DATABASE", EnvValue::Literal("zync_production")),
            ("PGUSER", EnvValue::Literal("postgres")),
        ],
        replicas: 1,
        system_tools: false,
    },
    Template {
        deployment: "backend-redis",
        container: "backend-redis",
        component: "backend",
        element: "redis",
        workload: Workload::Redis,
        user: Some("redis"),
        home: "/var/lib/redis",
        volumes: &[("backend-redis-storage", "/var/lib/redis/data")],
        env: &[],
        replicas: 1,
        system_tools: false,
    },
    Template {
        deployment: "system-redis",
        container: "system-redis",
        component: "system",
        element: "redis",
        workload: Workload::Redis,
        user: Some("redis"),
        home: "/var/lib/redis",
        volumes: &[("system-redis-storage", "/var/lib/redis/data")],
        env: &[],
        replicas: 1,
        system_tools: false,
    },
    idle(
        "system-app",
        "system-master",
        "system",
        "app",
        &[SYSTEM_STORAGE],
        true,
    ),
    idle(
        "system-sidekiq",
        "system-sidekiq",
        "system",
        "sidekiq",
        &[SYSTEM_STORAGE],
        true,
    ),
    idle(
        "system-searchd",
        "system-searchd",
        "system",
        "searchd",
        &[],
        false,
    ),
    idle(
        "system-memcache",
        "memcache",
        "system",
        "memcache",
        &[],
        false,
    ),
    idle(
        "backend-listener",
        "backend-listener",
        "backend",
        "listener",
        &[],
        false,
    ),
    idle(
        "backend-worker",
        "backend-worker",
        "backend",
        "worker",
        &[],
        false,
    ),
    idle(
        "backend-cron",
        "backend-cron",
        "backend",
        "cron",
        &[],
        false,
    ),
    idle(
        "apicast-production",
        "apicast-production",
        "apicast",
        "production",
        &[],
        false,
    ),
    idle(
        "apicast-staging",
        "apicast-staging",
        "apicast",
        "staging",
        &[],
        false,
    ),
    idle("zync", "zync", "zync", "zync", &[], false),
    idle("zync-que", "que", "zync", "zync-que", &[], false),
];

const fn idle(
    deployment: &'static str,
    container: &'static str,
    component: &'static str,
    element: &'static str,
    volumes: &'static [(&'static str, &'static str)],
    system_tools: bool,
) -> Template {
    Template {
        deployment,
        container,
        component,
        element,
        workload: Workload::Idle,
        user: None,
        home: "/root",
        volumes,
        env: &[],
        replicas: 1,
        system_tools,
    }
}

pub fn find(deployment: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.deployment == deployment)
}

/// Every 3scale service name resolves to the pod's own loopback, so `-hsystem-mysql` works
/// inside the system-mysql pod as it does through the Service in a real cluster.
pub const SERVICE_NAMES: &[&str] = &[
    "system-mysql",
    "system-redis",
    "backend-redis",
    "zync-database",
    "system-memcache",
    "system-searchd",
    "system-master",
    "system-developer",
    "system-provider",
    "backend-listener",
    "apicast-production",
    "apicast-staging",
    "zync",
];
