//! A template as the Kubernetes objects show it: the pod template spec the operator puts in
//! each Deployment (containers, init containers, volumes), and the per-container status
//! entries the kubelet reports.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::templates::{EnvValue, Template, VolumeSource};

/// `spec.template.spec` of the template's Deployment, with the fields the API server
/// defaults filled in as a real server returns them.
pub fn pod_template_spec(t: &Template) -> Value {
    let env: Vec<Value> = t
        .env
        .iter()
        .map(|(name, value)| match value {
            EnvValue::Literal(v) => json!({"name": name, "value": v}),
            EnvValue::Secret { name: secret, key } => {
                json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
            }
            // A literal the operator fills in from the Secret (`operator::components`).
            EnvValue::SecretUrlPassword { .. } => json!({"name": name, "value": ""}),
        })
        .collect();
    let containers: Vec<Value> = t
        .containers
        .iter()
        .map(|c| {
            let ports: Vec<Value> = c
                .ports
                .iter()
                .map(|p| {
                    let mut port = json!({"containerPort": p.port, "protocol": "TCP"});
                    if let Some(name) = p.name {
                        port["name"] = json!(name);
                    }
                    port
                })
                .collect();
            let mounts: Vec<Value> = c
                .mounts
                .iter()
                .map(|m| {
                    let mut mount = json!({"name": m.volume, "mountPath": m.path});
                    if m.read_only {
                        mount["readOnly"] = json!(true);
                    }
                    mount
                })
                .collect();
            let mut container = container_defaults(c.name, t.image);
            if !ports.is_empty() {
                container["ports"] = json!(ports);
            }
            if !mounts.is_empty() {
                container["volumeMounts"] = json!(mounts);
            }
            if !env.is_empty() {
                container["env"] = json!(env);
            }
            container
        })
        .collect();
    let volumes: Vec<Value> = t
        .volumes
        .iter()
        .map(|v| match v.source {
            VolumeSource::Claim(claim) => {
                json!({"name": v.name, "persistentVolumeClaim": {"claimName": claim}})
            }
            VolumeSource::EmptyDir => json!({"name": v.name, "emptyDir": {}}),
            VolumeSource::Memory => json!({"name": v.name, "emptyDir": {"medium": "Memory"}}),
        })
        .collect();
    let mut spec = json!({
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        // zync-que runs as its own service account (zync.go:325); the rest as amp.
        "serviceAccountName": if t.deployment == "zync-que" { "zync-que-sa" } else { "amp" },
        "serviceAccount": if t.deployment == "zync-que" { "zync-que-sa" } else { "amp" },
        "securityContext": {},
        "schedulerName": "default-scheduler",
    });
    if !t.init_containers.is_empty() {
        spec["initContainers"] = json!(
            t.init_containers
                .iter()
                .map(|i| {
                    let mut c = container_defaults(i.name, t.image);
                    c["command"] = json!(i.command);
                    c
                })
                .collect::<Vec<_>>()
        );
    }
    if !volumes.is_empty() {
        spec["volumes"] = json!(volumes);
    }
    spec
}

fn container_defaults(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    })
}

/// What the kubelet reports as `imageID`: the image's repository pinned to a digest. The
/// digest is made up but stable for an image, as a real one is.
pub fn image_id(image: &str) -> String {
    // Pinned by digest already (a DeploymentConfig's resolved image): that is its ID.
    if image.contains("@sha256:") {
        return image.to_string();
    }
    let repository = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    format!(
        "{repository}@sha256:{}",
        hex::encode(Sha256::digest(image.as_bytes()))
    )
}

/// A container ID as CRI-O reports it, unique to one start of one container of one pod.
pub fn container_id(pod: &str, container: &str, start: u32) -> String {
    let seed = format!("{pod}/{container}/{start}");
    format!("cri-o://{}", hex::encode(Sha256::digest(seed.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::templates::find;

    #[test]
    fn system_app_has_three_containers_and_developer_reads_only() {
        let spec = pod_template_spec(find("system-app").unwrap());
        let names: Vec<&str> = spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["system-master", "system-provider", "system-developer"]
        );
        assert_eq!(spec["containers"][2]["volumeMounts"][0]["readOnly"], true);
        assert!(spec["containers"][0]["volumeMounts"][0]["readOnly"].is_null());
        assert_eq!(
            spec["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "system-storage"
        );
    }

    #[test]
    fn image_ids_pin_the_repository_to_a_digest() {
        let id = image_id("quay.io/3scale/porta:latest");
        assert!(id.starts_with("quay.io/3scale/porta@sha256:"), "{id}");
        assert_eq!(id.len(), "quay.io/3scale/porta@sha256:".len() + 64);
        assert!(image_id("quay.io/fedora/redis-6").starts_with("quay.io/fedora/redis-6@sha256:"));
    }
}
