//! Version and discovery documents, and the minimal OpenAPI v3 that lets plain
//! `kubectl apply` (with its default strict validation) work.

use serde_json::{Value, json};

use crate::protocols::ExecProtocols;
use crate::release::Release;
use crate::resources::{ALL, ResourceType};

/// The kinds the cluster of `release` serves.
fn served(release: Release) -> impl Iterator<Item = &'static ResourceType> {
    ALL.iter().filter(move |r| release.serves(r))
}

/// The release the simulator plays follows the exec protocols it offers (see
/// `protocols`); `/usr/bin/kubectl`, Google's dispatcher, runs the kubectl of that minor.
pub fn version(protocols: ExecProtocols) -> Value {
    let minor = protocols.kubernetes_minor();
    let go = if minor >= 32 { "go1.23.4" } else { "go1.21.5" };
    json!({
        "major": "1", "minor": minor.to_string(), "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": "sim", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": go, "compiler": "gc", "platform": "linux/amd64"
    })
}

pub fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

pub fn groups(release: Release) -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for rt in served(release).filter(|r| !r.group.is_empty()) {
        if groups.iter().any(|g| g["name"] == rt.group) {
            continue;
        }
        let gv = json!({"groupVersion": rt.api_version(), "version": rt.version});
        groups.push(json!({"name": rt.group, "versions": [gv.clone()], "preferredVersion": gv}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn resource_list(release: Release, group: &str, version: &str) -> Option<Value> {
    let resources: Vec<ResourceType> = ResourceType::in_group_version(group, version)
        .into_iter()
        .filter(|r| release.serves(r))
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut list: Vec<Value> = resources
        .iter()
        .map(|r| {
            let mut resource = json!({
                "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                "kind": r.kind, "verbs": r.verbs, "shortNames": r.short_names,
            });
            // `kubectl get all`
            if matches!(
                r.plural,
                "pods"
                    | "services"
                    | "deployments"
                    | "replicasets"
                    | "jobs"
                    | "deploymentconfigs"
                    | "replicationcontrollers"
            ) {
                resource["categories"] = json!(["all"]);
            }
            resource
        })
        .collect();
    for r in &resources {
        if r.plural == "pods" {
            list.push(json!({"name": "pods/attach", "singularName": "", "namespaced": true, "kind": "PodAttachOptions", "verbs": ["create", "get"]}));
            list.push(json!({"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]}));
            list.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if matches!(
            r.plural,
            "replicasets" | "jobs" | "services" | "persistentvolumeclaims" | "namespaces"
        ) {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.plural == "deployments" {
            list.push(json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            list.push(json!({"name": "deployments/status", "singularName": "", "namespaced": true, "kind": "Deployment", "verbs": ["get", "patch", "update"]}));
        }
        if r.plural == "replicationcontrollers" {
            list.push(json!({"name": "replicationcontrollers/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            list.push(json!({"name": "replicationcontrollers/status", "singularName": "", "namespaced": true, "kind": "ReplicationController", "verbs": ["get", "patch", "update"]}));
        }
        if r.plural == "serviceaccounts" {
            // `kubectl create token` (pkg/registry/core/rest/storage_core.go registers
            // serviceaccounts/token; TokenREST.GroupVersionKind is authentication.k8s.io/v1).
            list.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
        }
        if r.plural == "deploymentconfigs" {
            // openshift-apiserver pkg/apps/apiserver/apiserver.go: instantiate takes a
            // DeploymentRequest; scale speaks extensions/v1beta1 inside apps.openshift.io/v1
            // (deployconfig/etcd/etcd.go ScaleREST.GroupVersionKind).
            list.push(json!({"name": "deploymentconfigs/instantiate", "singularName": "", "namespaced": true, "kind": "DeploymentRequest", "verbs": ["create"]}));
            list.push(json!({"name": "deploymentconfigs/scale", "singularName": "", "namespaced": true, "group": "extensions", "version": "v1beta1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            list.push(json!({"name": "deploymentconfigs/status", "singularName": "", "namespaced": true, "kind": "DeploymentConfig", "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = resources[0].api_version();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

fn openapi_path(r: &ResourceType) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

pub fn openapi_index(release: Release) -> Value {
    let mut paths = serde_json::Map::new();
    for r in served(release) {
        let p = openapi_path(r);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sim1")}),
        );
    }
    json!({"paths": paths})
}

/// One group-version's document: enough for kubectl to know the kinds exist and that the
/// server validates fields itself.
pub fn openapi_group(path: &str, protocols: ExecProtocols, release: Release) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for r in served(release).filter(|r| openapi_path(r) == path) {
        let base = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let operation = json!({"x-kubernetes-group-version-kind": gvk, "parameters": [{"name": "fieldValidation", "in": "query"}], "responses": {}});
        if !r.verbs.contains(&"patch") {
            // The reviews are only ever POSTed to their collection.
            paths.insert(format!("{base}/{}", r.plural), json!({"post": operation}));
            continue;
        }
        paths.insert(
            if r.namespaced {
                format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
            } else {
                format!("{base}/{}/{{name}}", r.plural)
            },
            json!({"patch": operation}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": format!("v1.{}.0", protocols.kubernetes_minor())}, "paths": paths}),
    )
}
