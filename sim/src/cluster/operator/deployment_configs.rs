//! The DeploymentConfigs of 3scale 2.14 as its operator builds them (3scale-operator
//! branch 3scale-2.14-stable, pkg/3scale/amp/component): the pod template is 2.15's
//! (containers, volumes, environment: see `pod::templates`) with the `deploymentConfig`
//! selector label and the image stream images the ImageChange trigger resolves; the
//! strategy is each component's (Recreate for the databases, Redis and searchd, Rolling
//! for the rest); system-app carries its pre and post lifecycle hooks.

use serde_json::{Value, json};

use crate::cluster::bootstrap::labels;
use crate::pod::spec::pod_template_spec;
use crate::pod::templates::Template;
use crate::release::Release;

struct Component {
    name: &'static str,
    /// Rolling with this `timeoutSeconds`, or Recreate (`None`).
    rolling_timeout: Option<i64>,
    /// The image stream of its ImageChange trigger.
    stream: &'static str,
}

/// Per component: strategy and image stream (system.go:553-594, 834-858;
/// system_mysql.go:132-146; redis.go:74-102, 445-460; backend.go:75-99, 153-177, 231-255;
/// zync.go:177-191 (no strategy: the API's Rolling defaults), 320-348, 411-432;
/// system_searchd.go:62-83; memcached.go:36-62; apicast.go:104-129, 198-224).
const COMPONENTS: &[Component] = &[
    rolling("system-app", 1200, "amp-system"),
    rolling("system-sidekiq", 1200, "amp-system"),
    recreate("system-mysql", "system-mysql"),
    recreate("backend-redis", "backend-redis"),
    recreate("system-redis", "system-redis"),
    rolling("backend-worker", 1200, "amp-backend"),
    rolling("backend-cron", 1200, "amp-backend"),
    rolling("backend-listener", 600, "amp-backend"),
    rolling("zync", 600, "amp-zync"),
    rolling("zync-que", 600, "amp-zync"),
    recreate("zync-database", "zync-database-postgresql"),
    recreate("system-searchd", "system-searchd"),
    rolling("system-memcache", 600, "system-memcached"),
    rolling("apicast-staging", 1800, "amp-apicast"),
    rolling("apicast-production", 1800, "amp-apicast"),
];

const fn rolling(name: &'static str, timeout: i64, stream: &'static str) -> Component {
    Component {
        name,
        rolling_timeout: Some(timeout),
        stream,
    }
}

const fn recreate(name: &'static str, stream: &'static str) -> Component {
    Component {
        name,
        rolling_timeout: None,
        stream,
    }
}

/// The pre hook (`bundle exec rake boot openshift:deploy`, Retry) and post hook
/// (`... openshift:post_deploy`, Abort) of system-app, run in system-master's image
/// (system.go:566-581). The pre hook gets system's base environment and
/// MASTER_ACCESS_TOKEN (buildSystemAppPreHookEnv:298-309) and the system-storage claim
/// (volumeNamesForSystemAppPreHookPod:529-539); the post hook nothing of its own.
fn system_app_hooks() -> Value {
    // The sim's base environment of system's rake tasks has MASTER_ACCESS_TOKEN already.
    let env = super::system_app::base_env();
    json!({
        "pre": {
            "failurePolicy": "Retry",
            "execNewPod": {
                "command": ["bash", "-c", "bundle exec rake boot openshift:deploy"],
                "env": env,
                "containerName": "system-master",
                "volumes": ["system-storage"],
            },
        },
        "post": {
            "failurePolicy": "Abort",
            "execNewPod": {
                "command": ["bash", "-c", "bundle exec rake boot openshift:post_deploy"],
                "containerName": "system-master",
            },
        },
    })
}

/// The DeploymentConfig of a component (its replicas are the template's: the operator's
/// default of 1, or the APIManager's when set; see `Ctx::desired_deployment`).
pub fn desired(t: &Template, app_label: &str) -> Value {
    let c = COMPONENTS
        .iter()
        .find(|c| c.name == t.deployment)
        .expect("every 3scale 2.14 component has a DeploymentConfig");
    let mut template_spec = pod_template_spec(t);
    // The operator writes `<stream>:latest` (zync-database: " ") and the trigger puts
    // the resolved image in (e.g. system.go:610, zync.go:447).
    let image = if t.deployment == "zync-database" {
        " ".to_string()
    } else {
        format!("{}:latest", c.stream)
    };
    let mut trigger_containers: Vec<Value> = Vec::new();
    for field in ["initContainers", "containers"] {
        for container in template_spec[field].as_array_mut().into_iter().flatten() {
            container["image"] = json!(image);
            trigger_containers.push(container["name"].clone());
        }
    }
    if t.deployment == "system-app" {
        // system.go:591.
        trigger_containers = vec![
            json!("system-provider"),
            json!("system-developer"),
            json!("system-master"),
        ];
    }
    let strategy = match c.rolling_timeout {
        Some(timeout) => {
            let mut params = json!({
                "updatePeriodSeconds": 1, "intervalSeconds": 1, "timeoutSeconds": timeout,
                "maxUnavailable": "25%", "maxSurge": "25%",
            });
            if t.deployment == "system-app" {
                let hooks = system_app_hooks();
                params["pre"] = hooks["pre"].clone();
                params["post"] = hooks["post"].clone();
            }
            json!({"type": "Rolling", "rollingParams": params})
        }
        None => json!({"type": "Recreate"}),
    };
    let mut meta_labels = labels(t, Release::V2_14);
    if let Some(l) = meta_labels.as_object_mut() {
        l.remove(Release::V2_14.selector_key());
    }
    meta_labels["app"] = json!(app_label);
    let mut pod_labels = labels(t, Release::V2_14);
    pod_labels["app"] = json!(app_label);
    json!({
        "metadata": {"name": t.deployment, "labels": meta_labels},
        "spec": {
            "replicas": t.replicas,
            "selector": {Release::V2_14.selector_key(): t.deployment},
            "strategy": strategy,
            "minReadySeconds": 0,
            "triggers": [
                {"type": "ConfigChange"},
                {"type": "ImageChange", "imageChangeParams": {
                    "automatic": true,
                    "containerNames": trigger_containers,
                    "from": {"kind": "ImageStreamTag",
                             "name": format!("{}:{}", c.stream, Release::V2_14.as_str())},
                }},
            ],
            "template": {"metadata": {"labels": pod_labels}, "spec": template_spec},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::templates::TEMPLATES;

    #[test]
    fn every_component_has_its_deployment_config() {
        for t in TEMPLATES {
            let dc = desired(t, "3scale-api-management");
            assert_eq!(
                dc["spec"]["template"]["metadata"]["labels"]["deploymentConfig"],
                t.deployment
            );
            assert_eq!(dc["spec"]["selector"]["deploymentConfig"], t.deployment);
        }
        let mysql = desired(
            crate::pod::templates::find("system-mysql").unwrap(),
            "3scale-api-management",
        );
        assert_eq!(mysql["spec"]["strategy"]["type"], "Recreate");
        let app = desired(
            crate::pod::templates::find("system-app").unwrap(),
            "3scale-api-management",
        );
        let params = &app["spec"]["strategy"]["rollingParams"];
        assert_eq!(params["pre"]["failurePolicy"], "Retry");
        assert_eq!(params["post"]["failurePolicy"], "Abort");
        assert_eq!(params["timeoutSeconds"], 1200);
        assert_eq!(
            app["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
