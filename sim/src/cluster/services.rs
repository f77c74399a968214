//! The Services the 3scale operator creates, one per component that listens: names, ports,
//! selectors and labels as in 3scale-operator 3scale-2.15-stable pkg/3scale/amp/component.
//! Inside a pod every one of these names resolves to the pod's own loopback (see
//! `pod::templates::SERVICE_NAMES`); the objects are what `kubectl get svc` shows.

use serde_json::{Value, json};

use crate::resources::SERVICES;
use crate::store::Store;

/// A target port given by number or by the container port's name.
enum Target {
    Number(u16),
    Name(&'static str),
}

struct ServicePort {
    name: Option<&'static str>,
    port: u16,
    target: Target,
}

struct Service {
    name: &'static str,
    component: &'static str,
    element: &'static str,
    /// The `deployment` label value its selector matches.
    selects: &'static str,
    ports: &'static [ServicePort],
}

const fn same(name: Option<&'static str>, port: u16) -> ServicePort {
    ServicePort {
        name,
        port,
        target: Target::Number(port),
    }
}

const APICAST_PORTS: &[ServicePort] = &[
    same(Some("gateway"), 8080),
    same(Some("management"), 8090),
    same(Some("metrics"), 9421),
];

const SERVICES_OF_3SCALE: &[Service] = &[
    // system_mysql.go:25-47
    Service {
        name: "system-mysql",
        component: "system",
        element: "mysql",
        selects: "system-mysql",
        ports: &[same(Some("system-mysql"), 3306)],
    },
    // redis.go:419-440
    Service {
        name: "system-redis",
        component: "system",
        element: "redis",
        selects: "system-redis",
        ports: &[same(Some("redis"), 6379)],
    },
    // redis.go:201-244 (an unnamed port)
    Service {
        name: "backend-redis",
        component: "backend",
        element: "redis",
        selects: "backend-redis",
        ports: &[same(None, 6379)],
    },
    // zync.go:498-520
    Service {
        name: "zync-database",
        component: "zync",
        element: "database",
        selects: "zync-database",
        ports: &[same(Some("postgresql"), 5432)],
    },
    // system.go:1141-1162
    Service {
        name: "system-memcache",
        component: "system",
        element: "memcache",
        selects: "system-memcache",
        ports: &[same(Some("memcache"), 11211)],
    },
    // system_searchd.go:31-52
    Service {
        name: "system-searchd",
        component: "system",
        element: "searchd",
        selects: "system-searchd",
        ports: &[same(Some("searchd"), 9306)],
    },
    // system.go:1069-1139: three Services in front of system-app's three containers, each
    // aimed at its container's named port.
    Service {
        name: "system-master",
        component: "system",
        element: "master-ui",
        selects: "system-app",
        ports: &[ServicePort {
            name: Some("http"),
            port: 3000,
            target: Target::Name("master"),
        }],
    },
    Service {
        name: "system-developer",
        component: "system",
        element: "developer-ui",
        selects: "system-app",
        ports: &[ServicePort {
            name: Some("http"),
            port: 3000,
            target: Target::Name("developer"),
        }],
    },
    Service {
        name: "system-provider",
        component: "system",
        element: "provider-ui",
        selects: "system-app",
        ports: &[ServicePort {
            name: Some("http"),
            port: 3000,
            target: Target::Name("provider"),
        }],
    },
    // backend.go:305-328
    Service {
        name: "backend-listener",
        component: "backend",
        element: "listener",
        selects: "backend-listener",
        ports: &[same(Some("http"), 3000)],
    },
    // apicast.go:59-93, ports at :782-827
    Service {
        name: "apicast-production",
        component: "apicast",
        element: "production",
        selects: "apicast-production",
        ports: APICAST_PORTS,
    },
    Service {
        name: "apicast-staging",
        component: "apicast",
        element: "staging",
        selects: "apicast-staging",
        ports: APICAST_PORTS,
    },
    // zync.go:474-496
    Service {
        name: "zync",
        component: "zync",
        element: "zync",
        selects: "zync",
        ports: &[same(Some("8080-tcp"), 8080)],
    },
];

/// Creates the Services a namespace lacks (a new one, or one made by an older simulator).
pub fn ensure(store: &Store, ns: &str) -> crate::Result<()> {
    for (i, s) in SERVICES_OF_3SCALE.iter().enumerate() {
        if store.get(&SERVICES, ns, s.name).is_some() {
            continue;
        }
        store
            .create(&SERVICES, ns, object(s, i))
            .map_err(|e| crate::SimError::Other(e.message))?;
    }
    Ok(())
}

fn object(s: &Service, index: usize) -> Value {
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            let mut port = json!({
                "protocol": "TCP",
                "port": p.port,
                "targetPort": match p.target {
                    Target::Number(n) => json!(n),
                    Target::Name(n) => json!(n),
                },
            });
            if let Some(name) = p.name {
                port["name"] = json!(name);
            }
            port
        })
        .collect();
    // An address from OpenShift's default service network, one per Service.
    let ip = format!("172.30.{}.{}", 10 + index / 200, 10 + index % 200);
    json!({
        "metadata": {
            "name": s.name,
            "labels": {
                "app": "3scale-api-management",
                "threescale_component": s.component,
                "threescale_component_element": s.element,
            },
        },
        "spec": {
            "ports": ports,
            "selector": {"deployment": s.selects},
            "clusterIP": ip,
            "clusterIPs": [ip],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_service_name_resolves_in_pods() {
        let mut services: Vec<&str> = super::SERVICES_OF_3SCALE.iter().map(|s| s.name).collect();
        let mut resolved = crate::pod::templates::SERVICE_NAMES.to_vec();
        services.sort();
        resolved.sort();
        assert_eq!(services, resolved);
    }
}
