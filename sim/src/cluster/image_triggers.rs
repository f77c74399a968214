//! openshift-controller-manager's image trigger controller for DeploymentConfigs
//! (pkg/image/trigger/deploymentconfigs): an automatic ImageChange trigger whose image
//! stream tag resolves to an image the DC does not run yet gets that image into the named
//! containers and into `lastTriggeredImage` (a spec change: the DC's ConfigChange logic
//! then starts a version). The simulator serves no ImageStreams; the tags resolve as the
//! 3scale 2.14 operator's ImageStreams do (3scale-2.14-stable pkg/3scale/amp/component/
//! ampimages.go and redis.go/system_mysql.go/zync.go ImageStream, with the images of
//! images.go:3-45), each to its repository pinned by a digest, as an imported tag's
//! `dockerImageReference` is.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Cluster, watch};
use crate::pod::spec::image_id;
use crate::resources::DEPLOYMENT_CONFIGS;

const LATENCY: Duration = Duration::from_millis(15);

/// (image stream, the DockerImage its `2.14` tag imports).
const STREAMS: &[(&str, &str)] = &[
    (
        "amp-system",
        "quay.io/3scale/3scale214:porta-3scale-2.14.1-GA",
    ),
    (
        "amp-backend",
        "quay.io/3scale/3scale214:apisonator-3scale-2.14.1-GA",
    ),
    (
        "amp-apicast",
        "quay.io/3scale/3scale214:apicast-3scale-2.14.1-GA",
    ),
    ("amp-zync", "quay.io/3scale/3scale214:zync-3scale-2.14.1-GA"),
    (
        "system-searchd",
        "quay.io/3scale/3scale214:searchd-3scale-2.14.1-GA",
    ),
    ("backend-redis", "quay.io/fedora/redis-6"),
    ("system-redis", "quay.io/fedora/redis-6"),
    ("system-mysql", "centos/mysql-80-centos7"),
    ("zync-database-postgresql", "centos/postgresql-10-centos7"),
    ("system-memcached", "memcached:1.5"),
];

/// What `NAME:TAG` of the operator's image streams points at, if it is one of them.
pub fn resolve(stream_tag: &str) -> Option<String> {
    let (stream, tag) = stream_tag.split_once(':')?;
    if tag != crate::release::Release::V2_14.as_str() {
        return None;
    }
    STREAMS
        .iter()
        .find(|(s, _)| *s == stream)
        .map(|(_, image)| image_id(image))
}

pub fn spawn(cluster: Arc<Cluster>) {
    watch::spawn_informer(
        cluster.clone(),
        |c| {
            for dc in c.store.list(&DEPLOYMENT_CONFIGS, Some(&c.namespace)).0 {
                c.queues
                    .image_triggers
                    .add_after(dc["metadata"]["name"].as_str().unwrap_or_default(), LATENCY);
            }
        },
        |c, event| {
            if event.plural == "deploymentconfigs" {
                c.queues.image_triggers.add_after(
                    event.object["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default(),
                    LATENCY,
                );
            }
        },
    );
    watch::spawn_worker(cluster, |c| &c.queues.image_triggers, sync);
}

fn sync(cluster: &Arc<Cluster>, name: &str) {
    let _ = cluster
        .store
        .modify(&DEPLOYMENT_CONFIGS, &cluster.namespace, name, |dc| {
            apply(dc);
            Ok(())
        });
}

/// The triggers' images into the DC (a no-op write when nothing changes).
fn apply(dc: &mut Value) {
    let paused = dc["spec"]["paused"] == true;
    let triggers = dc["spec"]["triggers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, trigger) in triggers.iter().enumerate() {
        let params = &trigger["imageChangeParams"];
        if trigger["type"] != "ImageChange" || params["automatic"] != true || paused {
            continue;
        }
        let Some(image) = params["from"]["name"].as_str().and_then(resolve) else {
            continue;
        };
        let names: Vec<&str> = params["containerNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for field in ["containers", "initContainers"] {
            for c in dc["spec"]["template"]["spec"][field]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if c["name"].as_str().is_some_and(|n| names.contains(&n)) {
                    c["image"] = json!(image);
                }
            }
        }
        dc["spec"]["triggers"][i]["imageChangeParams"]["lastTriggeredImage"] = json!(image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_resolves_into_its_containers() {
        let mut dc = json!({"spec": {
            "triggers": [{"type": "ConfigChange"}, {"type": "ImageChange", "imageChangeParams": {
                "automatic": true, "containerNames": ["postgresql"],
                "from": {"kind": "ImageStreamTag", "name": "zync-database-postgresql:2.14"}}}],
            "template": {"spec": {"containers": [{"name": "postgresql", "image": " "}]}}}});
        apply(&mut dc);
        let image = dc["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            image.starts_with("centos/postgresql-10-centos7@sha256:"),
            "{image}"
        );
        assert_eq!(
            dc["spec"]["triggers"][1]["imageChangeParams"]["lastTriggeredImage"],
            image.as_str()
        );
    }
}
