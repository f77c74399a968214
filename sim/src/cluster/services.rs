//! The Services the 3scale operator creates, one per component that listens: names, ports,
//! selectors and labels as in 3scale-operator 3scale-2.15-stable pkg/3scale/amp/component.
//! Inside a pod every one of these names resolves to the pod's own loopback (see
//! `pod::templates::SERVICE_NAMES`); the objects are what `kubectl get svc` shows.

use serde_json::{Value, json};

use crate::release::Release;

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

/// The Service `name` as the operator builds it (labelled with the APIManager's
/// `appLabel`); the API server allocates its cluster IP (`defaulting`). 3scale 2.14's
/// Services select `deploymentConfig` (e.g. 3scale-2.14-stable system_mysql.go:44); names
/// and ports are 2.15's.
pub fn desired_for(name: &str, app_label: &str, release: Release) -> Option<Value> {
    let s = SERVICES_OF_3SCALE.iter().find(|s| s.name == name)?;
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
    Some(json!({
        "metadata": {
            "name": s.name,
            "labels": {
                "app": app_label,
                "threescale_component": s.component,
                "threescale_component_element": s.element,
            },
        },
        "spec": {
            "ports": ports,
            "selector": {release.selector_key(): s.selects},
            "type": "ClusterIP",
            "sessionAffinity": "None",
        },
    }))
}

#[cfg(test)]
mod tests {
    use crate::release::Release;

    fn desired(name: &str, app_label: &str) -> Option<serde_json::Value> {
        super::desired_for(name, app_label, Release::V2_15)
    }

    #[test]
    fn every_service_is_built() {
        for s in super::SERVICES_OF_3SCALE {
            let d = desired(s.name, "3scale-api-management").unwrap();
            assert_eq!(d["spec"]["selector"]["deployment"], s.selects);
            let d = super::desired_for(s.name, "x", Release::V2_14).unwrap();
            assert_eq!(d["spec"]["selector"]["deploymentConfig"], s.selects);
        }
        assert!(desired("no-such-service", "x").is_none());
    }

    #[test]
    fn the_api_server_gives_each_service_its_own_cluster_ip() {
        let mut ips: Vec<String> = super::SERVICES_OF_3SCALE
            .iter()
            .map(|s| {
                let mut svc = desired(s.name, "3scale-api-management").unwrap();
                crate::defaulting::on_create(&crate::resources::SERVICES, &mut svc);
                svc["spec"]["clusterIP"].as_str().unwrap().to_string()
            })
            .collect();
        assert!(ips.iter().all(|ip| ip.starts_with("172.30.")), "{ips:?}");
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), super::SERVICES_OF_3SCALE.len());
    }

    #[test]
    fn every_service_name_resolves_in_pods() {
        let mut services: Vec<&str> = super::SERVICES_OF_3SCALE.iter().map(|s| s.name).collect();
        let mut resolved = crate::pod::templates::SERVICE_NAMES.to_vec();
        services.sort();
        resolved.sort();
        assert_eq!(services, resolved);
    }
}
