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
    /// The password part of a URL in a Secret, written into the Deployment as a literal
    /// `value`: the operator takes system-mysql's root password from the `system-database`
    /// URL when it builds the Deployment (system_mysql_options_provider.go:104,
    /// system_mysql.go:197) and never updates it there (no env mutator,
    /// system_mysql_reconciler.go:35-44). The pod uses the Deployment's value.
    SecretUrlPassword {
        name: &'static str,
        key: &'static str,
    },
}

/// Where a pod volume's files live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSource {
    /// `persistentVolumeClaim`: a folder under the data directory's `volumes/`, kept across
    /// pods and restarts of the simulator.
    Claim(&'static str),
    /// `emptyDir`: created with the pod and removed with it (a container restart keeps it).
    EmptyDir,
    /// `emptyDir` with `medium: Memory`: a tmpfs of the pod's own.
    Memory,
}

#[derive(Debug, Clone, Copy)]
pub struct Volume {
    pub name: &'static str,
    pub source: VolumeSource,
}

#[derive(Debug, Clone, Copy)]
pub struct Mount {
    pub volume: &'static str,
    pub path: &'static str,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Port {
    pub name: Option<&'static str>,
    pub port: u16,
}

/// One container of a pod. In a pod of several, each is a process with its own mount
/// namespace (its own view of the volumes) sharing the pod's network, UTS and PIDs.
#[derive(Debug, Clone, Copy)]
pub struct Container {
    pub name: &'static str,
    pub ports: &'static [Port],
    pub mounts: &'static [Mount],
}

/// An init container: shown in the Pod object as run to completion before the containers
/// start; the simulator does not run its command (it waits for services it fakes anyway).
#[derive(Debug, Clone, Copy)]
pub struct InitContainer {
    pub name: &'static str,
    pub command: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub deployment: &'static str,
    /// In the operator's order; the first is the one kubectl defaults to.
    pub containers: &'static [Container],
    pub init_containers: &'static [InitContainer],
    pub image: &'static str,
    pub component: &'static str,
    pub element: &'static str,
    pub workload: Workload,
    /// The container's user; exec runs as this user too. `None` runs as root.
    pub user: Option<&'static str>,
    pub home: &'static str,
    pub volumes: &'static [Volume],
    pub env: &'static [(&'static str, EnvValue)],
    pub replicas: i64,
    /// The 3scale tools stubbed on the pod's PATH (`bundle`), for system pods.
    pub system_tools: bool,
}

impl Template {
    /// The first container: the one a single-container pod's exec enters.
    pub fn main_container(&self) -> &'static str {
        self.containers[0].name
    }

    /// Every (volume, path) some container mounts, once per path: what the pod's own mount
    /// namespace holds before each container narrows its view.
    pub fn pod_mounts(&self) -> Vec<(&'static Volume, &'static str)> {
        let mut out: Vec<(&'static Volume, &'static str)> = Vec::new();
        for c in self.containers {
            for m in c.mounts {
                if out.iter().any(|(_, p)| *p == m.path) {
                    continue;
                }
                if let Some(v) = self.volumes.iter().find(|v| v.name == m.volume) {
                    out.push((v, m.path));
                }
            }
        }
        out
    }

    /// The claims this pod's volumes bind.
    pub fn claims(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.volumes.iter().filter_map(|v| match v.source {
            VolumeSource::Claim(c) => Some(c),
            _ => None,
        })
    }
}

// The operator's default images (3scale-operator 3scale-2.15-stable
// pkg/3scale/amp/component/images.go:3-45).
const PORTA: &str = "quay.io/3scale/porta:latest";
const APISONATOR: &str = "quay.io/3scale/apisonator:latest";
const APICAST: &str = "quay.io/3scale/apicast:latest";
const ZYNC: &str = "quay.io/3scale/zync:latest";
const SEARCHD: &str = "quay.io/3scale/searchd:latest";
const REDIS: &str = "quay.io/fedora/redis-6";
const MYSQL: &str = "quay.io/sclorg/mysql-80-c8s";
const POSTGRESQL: &str = "quay.io/sclorg/postgresql-10-c8s";
const MEMCACHED: &str = "memcached:1.5";

const fn port(port: u16) -> Port {
    Port { name: None, port }
}
const fn named(name: &'static str, port: u16) -> Port {
    Port {
        name: Some(name),
        port,
    }
}
const fn rw(volume: &'static str, path: &'static str) -> Mount {
    Mount {
        volume,
        path,
        read_only: false,
    }
}
const fn claim(name: &'static str) -> Volume {
    Volume {
        name,
        source: VolumeSource::Claim(name),
    }
}
const fn one(name: &'static str, ports: &'static [Port], mounts: &'static [Mount]) -> Container {
    Container {
        name,
        ports,
        mounts,
    }
}

const SYSTEM_STORAGE_PATH: &str = "/opt/system/public/system";
const SYSTEM_STORAGE: Volume = claim("system-storage");

/// system-app's three containers (system.go:573, :624, :675): system-storage read-write in
/// master and provider, read-only in developer (system.go:966-1017: systemStorageVolumeMount,
/// appDeveloperContainerVolumeMounts).
const SYSTEM_APP_CONTAINERS: &[Container] = &[
    one(
        "system-master",
        &[named("master", 3002), named("master-metrics", 9395)],
        &[rw("system-storage", SYSTEM_STORAGE_PATH)],
    ),
    one(
        "system-provider",
        &[named("provider", 3000), named("prov-metrics", 9396)],
        &[rw("system-storage", SYSTEM_STORAGE_PATH)],
    ),
    one(
        "system-developer",
        &[named("developer", 3001), named("dev-metrics", 9394)],
        &[Mount {
            volume: "system-storage",
            path: SYSTEM_STORAGE_PATH,
            read_only: true,
        }],
    ),
];

/// The init containers' commands (system.go:921-935, backend.go:100-113 and :183-196,
/// apicast.go:206-218, zync.go:190-212).
const CHECK_SVC: InitContainer = InitContainer {
    name: "check-svc",
    command: &[
        "bash",
        "-c",
        "bundle exec sh -c \"until rake boot:redis && curl --output /dev/null --silent --fail --head http://system-master:3000/status; do sleep $SLEEP_SECONDS; done\"",
    ],
};
const BACKEND_REDIS_SVC: InitContainer = InitContainer {
    name: "backend-redis-svc",
    command: &[
        "/opt/app/entrypoint.sh",
        "sh",
        "-c",
        "until rake connectivity:redis_storage_queue_check; do sleep $SLEEP_SECONDS; done",
    ],
};
const SYSTEM_MASTER_SVC: InitContainer = InitContainer {
    name: "system-master-svc",
    command: &[
        "sh",
        "-c",
        "until $(curl --output /dev/null --silent --fail --head http://system-master:3000/status); do sleep $SLEEP_SECONDS; done",
    ],
};
const ZYNC_DB_SVC: InitContainer = InitContainer {
    name: "zync-db-svc",
    command: &[
        "bash",
        "-c",
        "bundle exec sh -c \"until rake boot:db; do sleep $SLEEP_SECONDS; done\"",
    ],
};

pub const TEMPLATES: &[Template] = &[
    Template {
        deployment: "system-mysql",
        containers: &[one(
            "system-mysql",
            &[port(3306)],
            &[rw("mysql-storage", "/var/lib/mysql")],
        )],
        init_containers: &[],
        image: MYSQL,
        component: "system",
        element: "mysql",
        workload: Workload::MariaDb,
        user: Some("mysql"),
        home: "/var/lib/mysql",
        volumes: &[claim("mysql-storage")],
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
    // The operator gives zync-database an emptyDir, not a claim (zync.go:457-466): its data
    // goes with the pod.
    Template {
        deployment: "zync-database",
        containers: &[one(
            "postgresql",
            &[port(5432)],
            &[rw("zync-database-data", "/var/lib/pgsql")],
        )],
        init_containers: &[],
        image: POSTGRESQL,
        component: "zync",
        element: "database",
        workload: Workload::Postgres,
        user: Some("postgres"),
        home: "/var/lib/pgsql",
        volumes: &[Volume {
            name: "zync-database-data",
            source: VolumeSource::EmptyDir,
        }],
        // zync.go:399-431. The image's own ENV (PGUSER=postgres: psql in the pod is the
        // superuser) is added at pod start, see `supervisor::resolve_env`.
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
        ],
        replicas: 1,
        system_tools: false,
    },
    Template {
        deployment: "backend-redis",
        containers: &[one(
            "backend-redis",
            &[],
            &[rw("backend-redis-storage", "/var/lib/redis/data")],
        )],
        init_containers: &[],
        image: REDIS,
        component: "backend",
        element: "redis",
        workload: Workload::Redis,
        user: Some("redis"),
        home: "/var/lib/redis",
        volumes: &[claim("backend-redis-storage")],
        env: &[],
        replicas: 1,
        system_tools: false,
    },
    Template {
        deployment: "system-redis",
        containers: &[one(
            "system-redis",
            &[],
            &[rw("system-redis-storage", "/var/lib/redis/data")],
        )],
        init_containers: &[],
        image: REDIS,
        component: "system",
        element: "redis",
        workload: Workload::Redis,
        user: Some("redis"),
        home: "/var/lib/redis",
        volumes: &[claim("system-redis-storage")],
        env: &[],
        replicas: 1,
        system_tools: false,
    },
    Template {
        containers: SYSTEM_APP_CONTAINERS,
        volumes: &[SYSTEM_STORAGE],
        system_tools: true,
        ..idle("system-app", PORTA, "system", "app")
    },
    // sidekiq: system-storage read-write and an in-memory /tmp (system.go:824-835, 1019-1037).
    Template {
        containers: &[one(
            "system-sidekiq",
            &[named("metrics", 9394)],
            &[
                rw("system-storage", SYSTEM_STORAGE_PATH),
                rw("system-tmp", "/tmp"),
            ],
        )],
        init_containers: &[CHECK_SVC],
        volumes: &[
            Volume {
                name: "system-tmp",
                source: VolumeSource::Memory,
            },
            SYSTEM_STORAGE,
        ],
        system_tools: true,
        ..idle("system-sidekiq", PORTA, "system", "sidekiq")
    },
    // Manticore's index on its own claim (system_searchd.go:83-106).
    Template {
        containers: &[one(
            "system-searchd",
            &[],
            &[rw("system-searchd-database", "/var/lib/searchd")],
        )],
        volumes: &[Volume {
            name: "system-searchd-database",
            source: VolumeSource::Claim("system-searchd-manticore"),
        }],
        ..idle("system-searchd", SEARCHD, "system", "searchd")
    },
    Template {
        containers: &[one("memcache", &[port(11211)], &[])],
        ..idle("system-memcache", MEMCACHED, "system", "memcache")
    },
    Template {
        containers: &[one(
            "backend-listener",
            &[port(3000), named("metrics", 9394)],
            &[],
        )],
        ..idle("backend-listener", APISONATOR, "backend", "listener")
    },
    Template {
        containers: &[one("backend-worker", &[named("metrics", 9421)], &[])],
        init_containers: &[BACKEND_REDIS_SVC],
        ..idle("backend-worker", APISONATOR, "backend", "worker")
    },
    Template {
        containers: &[one("backend-cron", &[], &[])],
        init_containers: &[BACKEND_REDIS_SVC],
        ..idle("backend-cron", APISONATOR, "backend", "cron")
    },
    Template {
        containers: &[one(
            "apicast-production",
            &[port(8080), port(8090), named("metrics", 9421)],
            &[],
        )],
        init_containers: &[SYSTEM_MASTER_SVC],
        ..idle("apicast-production", APICAST, "apicast", "production")
    },
    Template {
        containers: &[one(
            "apicast-staging",
            &[port(8080), port(8090), named("metrics", 9421)],
            &[],
        )],
        ..idle("apicast-staging", APICAST, "apicast", "staging")
    },
    Template {
        containers: &[one("zync", &[port(8080), named("metrics", 9393)], &[])],
        init_containers: &[ZYNC_DB_SVC],
        ..idle("zync", ZYNC, "zync", "zync")
    },
    Template {
        containers: &[one("que", &[named("metrics", 9394)], &[])],
        ..idle("zync-que", ZYNC, "zync", "zync-que")
    },
];

/// A pod of a Ruby/Lua service the simulator does not run: one idle container, no volumes.
const fn idle(
    deployment: &'static str,
    image: &'static str,
    component: &'static str,
    element: &'static str,
) -> Template {
    Template {
        deployment,
        containers: &[],
        init_containers: &[],
        image,
        component,
        element,
        workload: Workload::Idle,
        user: None,
        home: "/root",
        volumes: &[],
        env: &[],
        replicas: 1,
        system_tools: false,
    }
}

/// `scheme://user:password@host/...` -> password.
pub fn url_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let (userinfo, _) = rest.split_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password.to_string())
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
