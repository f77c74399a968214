//! The one capability check every host call passes through. Deny by default: a plugin's
//! grant is exactly what its manifest asks for, within the namespace the host targets, and
//! it can only narrow what the user's own credentials allow (the host acts as the user).
//!
//! Cluster and store operations take a [`Permit`], which only [`Grant::authorize`] makes,
//! so a host call that skipped the check would not compile.

pub mod patch_paths;
pub mod selector;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::plugin::manifest::{Artifact, Format, Hook, KindGrant, Manifest, PatchGrant};
use patch_paths::{is_under, json_patch_paths, merge_patch_paths};
use selector::Selector;

/// Proof that a call was authorized. Not constructible outside this module.
#[derive(Debug)]
pub struct Permit(());

impl Permit {
    /// For the host's own reads (the APIManager's version, the report of what a failed
    /// run left behind). Crate-private: no plugin call can reach it.
    pub(crate) fn host_read() -> Permit {
        Permit(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A host call as the capability check sees it.
#[derive(Debug)]
pub enum Request<'a> {
    FindPod {
        selector: &'a str,
    },
    Exec {
        pod: &'a str,
        argv: &'a [String],
    },
    ExecToArtifact {
        pod: &'a str,
        argv: &'a [String],
        artifact: &'a str,
    },
    ArtifactToExec {
        artifact: &'a str,
        pod: &'a str,
        argv: &'a [String],
    },
    CopyFromPod {
        pod: &'a str,
        path: &'a str,
        artifact: &'a str,
    },
    CopyToPod {
        artifact: &'a str,
        pod: &'a str,
        path: &'a str,
    },
    Get {
        api_version: &'a str,
        kind: &'a str,
        name: &'a str,
    },
    List {
        api_version: &'a str,
        kind: &'a str,
    },
    Apply {
        object: &'a Value,
    },
    Patch {
        api_version: &'a str,
        kind: &'a str,
        name: &'a str,
        patch: PatchKind,
        body: &'a Value,
    },
    RolloutRestart {
        deployment: &'a str,
    },
    RolloutStatus {
        deployment: &'a str,
    },
    Artifact {
        path: &'a str,
        access: Access,
    },
}

impl Request<'_> {
    /// (call, target) for the audit log and messages.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Request::FindPod { selector } => ("find-pod", selector.to_string()),
            Request::Exec { pod, argv } => ("exec", format!("{pod}: {}", argv.join(" "))),
            Request::ExecToArtifact {
                pod,
                argv,
                artifact,
            } => (
                "exec-to-artifact",
                format!("{pod}: {} > {artifact}", argv.join(" ")),
            ),
            Request::ArtifactToExec {
                artifact,
                pod,
                argv,
            } => (
                "artifact-to-exec",
                format!("{artifact} > {pod}: {}", argv.join(" ")),
            ),
            Request::CopyFromPod {
                pod,
                path,
                artifact,
            } => ("copy-from-pod", format!("{pod}:{path} > {artifact}")),
            Request::CopyToPod {
                artifact,
                pod,
                path,
            } => ("copy-to-pod", format!("{artifact} > {pod}:{path}")),
            Request::Get {
                api_version,
                kind,
                name,
            } => ("get", format!("{kind}.{api_version}/{name}")),
            Request::List { api_version, kind } => ("list", format!("{kind}.{api_version}")),
            Request::Apply { object } => (
                "apply",
                format!(
                    "{}.{}/{}",
                    object["kind"].as_str().unwrap_or("?"),
                    object["apiVersion"].as_str().unwrap_or("?"),
                    object["metadata"]["name"].as_str().unwrap_or("?")
                ),
            ),
            Request::Patch {
                api_version,
                kind,
                name,
                patch,
                body,
            } => (
                "patch",
                format!("{kind}.{api_version}/{name} ({patch:?}) {body}"),
            ),
            Request::RolloutRestart { deployment } => ("rollout-restart", deployment.to_string()),
            Request::RolloutStatus { deployment } => ("rollout-status", deployment.to_string()),
            Request::Artifact { path, access } => (
                if *access == Access::Read {
                    "store-read"
                } else {
                    "store-write"
                },
                path.to_string(),
            ),
        }
    }

    /// The pod the call runs something in, whose labels the check needs.
    pub fn pod(&self) -> Option<&str> {
        match self {
            Request::Exec { pod, .. }
            | Request::ExecToArtifact { pod, .. }
            | Request::ArtifactToExec { pod, .. }
            | Request::CopyFromPod { pod, .. }
            | Request::CopyToPod { pod, .. } => Some(pod),
            _ => None,
        }
    }
}

/// What a plugin may do, resolved from its manifest when the instance is prepared.
#[derive(Debug, Clone)]
pub struct Grant {
    pub plugin: String,
    pub namespace: String,
    exec: Vec<Selector>,
    read: Vec<KindGrant>,
    write: Vec<KindGrant>,
    patch: Vec<PatchGrant>,
    rollout: Vec<String>,
    artifacts: Vec<Artifact>,
}

impl Grant {
    pub fn new(manifest: &Manifest, namespace: &str) -> Result<Grant> {
        let c = &manifest.capabilities;
        let exec = c
            .exec
            .iter()
            .map(|s| {
                Selector::parse(s).map_err(|e| Error::Invalid(format!("exec selector `{s}`: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Grant {
            plugin: manifest.name.clone(),
            namespace: namespace.to_string(),
            exec,
            read: c.read.clone(),
            write: c.write.clone(),
            patch: c.patch.clone(),
            rollout: c.rollout.clone(),
            artifacts: manifest.artifacts.clone(),
        })
    }

    /// The check. `pod_labels` are the labels of the pod a pod-targeted request names, as
    /// the API server reports them (the caller fetches them; a pod that does not exist is
    /// not-found before it gets here). `hook` decides whether the backup set is writable.
    pub fn authorize(
        &self,
        request: &Request,
        hook: Hook,
        pod_labels: Option<&BTreeMap<String, String>>,
    ) -> Result<Permit> {
        self.check(request, hook, pod_labels)
            .map(|()| Permit(()))
            .map_err(Error::Denied)
    }

    fn check(
        &self,
        request: &Request,
        hook: Hook,
        pod_labels: Option<&BTreeMap<String, String>>,
    ) -> std::result::Result<(), String> {
        match request {
            Request::FindPod { selector } => {
                let wanted =
                    Selector::parse(selector).map_err(|e| format!("selector `{selector}`: {e}"))?;
                if self.exec.contains(&wanted) {
                    Ok(())
                } else {
                    Err(format!(
                        "find-pod `{selector}` needs an exec capability for exactly that selector; {}",
                        self.exec_summary()
                    ))
                }
            }
            Request::Exec { .. } => self.check_pod(request, pod_labels),
            Request::ExecToArtifact { artifact, .. } | Request::CopyFromPod { artifact, .. } => {
                self.check_pod(request, pod_labels)?;
                self.check_artifact(artifact, Access::Write, hook)
            }
            Request::ArtifactToExec { artifact, .. } | Request::CopyToPod { artifact, .. } => {
                self.check_pod(request, pod_labels)?;
                self.check_artifact(artifact, Access::Read, hook)
            }
            Request::Get {
                api_version,
                kind,
                name,
            } => check_kind(&self.read, "read", api_version, kind, Some(name)),
            Request::List { api_version, kind } => {
                check_kind(&self.read, "read", api_version, kind, None)
            }
            Request::Apply { object } => {
                let api_version = object["apiVersion"]
                    .as_str()
                    .ok_or("the object has no apiVersion")?;
                let kind = object["kind"].as_str().ok_or("the object has no kind")?;
                let name = object["metadata"]["name"]
                    .as_str()
                    .ok_or("the object has no metadata.name")?;
                if let Some(ns) = object["metadata"]["namespace"].as_str()
                    && !ns.is_empty()
                    && ns != self.namespace
                {
                    return Err(format!(
                        "apply into namespace `{ns}`: this run targets namespace `{}` only",
                        self.namespace
                    ));
                }
                check_kind(&self.write, "write", api_version, kind, Some(name))
            }
            Request::Patch {
                api_version,
                kind,
                name,
                patch,
                body,
            } => {
                let paths = match patch {
                    PatchKind::Json => json_patch_paths(body)?,
                    PatchKind::Merge | PatchKind::Strategic => merge_patch_paths(body),
                };
                let grants: Vec<&PatchGrant> = self
                    .patch
                    .iter()
                    .filter(|g| {
                        g.api_version == *api_version
                            && g.kind == *kind
                            && names_allow(&g.names, Some(name))
                    })
                    .collect();
                if grants.is_empty() {
                    return Err(format!(
                        "patch of {kind} ({api_version}) `{name}` needs a patch capability for it; the plugin has none"
                    ));
                }
                for path in &paths {
                    if !grants
                        .iter()
                        .any(|g| g.paths.iter().any(|p| is_under(path, p)))
                    {
                        let allowed: Vec<&str> = grants
                            .iter()
                            .flat_map(|g| g.paths.iter().map(String::as_str))
                            .collect();
                        return Err(format!(
                            "patch of {kind} `{name}` touches {path}, outside the granted paths {}",
                            allowed.join(", ")
                        ));
                    }
                }
                Ok(())
            }
            Request::RolloutRestart { deployment } | Request::RolloutStatus { deployment } => {
                if self.rollout.iter().any(|d| d == deployment) {
                    Ok(())
                } else {
                    Err(format!(
                        "rollout of deployment `{deployment}` needs a rollout capability for it; granted: {}",
                        list_or_none(&self.rollout)
                    ))
                }
            }
            Request::Artifact { path, access } => self.check_artifact(path, *access, hook),
        }
    }

    fn check_pod(
        &self,
        request: &Request,
        labels: Option<&BTreeMap<String, String>>,
    ) -> std::result::Result<(), String> {
        let pod = request.pod().unwrap_or("?");
        let labels = labels.ok_or_else(|| format!("pod `{pod}`: its labels are unknown"))?;
        if self.exec.iter().any(|s| s.matches(labels)) {
            return Ok(());
        }
        let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Err(format!(
            "{} in pod `{pod}` ({}) needs an exec capability matching its labels; {}",
            request.describe().0,
            shown.join(","),
            self.exec_summary()
        ))
    }

    fn exec_summary(&self) -> String {
        if self.exec.is_empty() {
            "the plugin may exec in no pod".to_string()
        } else {
            let s: Vec<String> = self.exec.iter().map(|s| s.to_string()).collect();
            format!(
                "the plugin may exec only in pods matching {}",
                s.join(" or ")
            )
        }
    }

    /// Paths are checked as text first (no `..`, no absolute paths), then must name a
    /// declared artifact or lie inside a declared directory artifact.
    fn check_artifact(
        &self,
        path: &str,
        access: Access,
        hook: Hook,
    ) -> std::result::Result<(), String> {
        crate::plugin::manifest::check_relative_path(path)
            .map_err(|e| format!("artifact path `{path}`: {e}"))?;
        if access == Access::Write && hook != Hook::Backup {
            return Err(format!(
                "writing `{path}` during {hook}: the backup set is read-only except during backup"
            ));
        }
        let declared = self.artifacts.iter().any(|a| {
            a.path == path
                || (a.format == Format::Tree && path.starts_with(&format!("{}/", a.path)))
        });
        if declared {
            Ok(())
        } else {
            let names: Vec<String> = self.artifacts.iter().map(|a| a.path.clone()).collect();
            Err(format!(
                "artifact `{path}` is not declared in the plugin's manifest; declared: {}",
                list_or_none(&names)
            ))
        }
    }
}

fn names_allow(names: &Option<Vec<String>>, name: Option<&str>) -> bool {
    match (names, name) {
        (None, _) => true,
        (Some(names), Some(name)) => names.iter().any(|n| n == name),
        // Listing a kind reveals every name; only a grant for any name allows it.
        (Some(_), None) => false,
    }
}

fn check_kind(
    grants: &[KindGrant],
    what: &str,
    api_version: &str,
    kind: &str,
    name: Option<&str>,
) -> std::result::Result<(), String> {
    if grants
        .iter()
        .any(|g| g.api_version == api_version && g.kind == kind && names_allow(&g.names, name))
    {
        return Ok(());
    }
    let target = match name {
        Some(n) => format!("{kind} ({api_version}) `{n}`"),
        None => format!("listing {kind} ({api_version})"),
    };
    let granted: Vec<String> = grants
        .iter()
        .map(|g| match &g.names {
            Some(n) => format!("{} {}", g.kind, n.join("/")),
            None => format!("{} (any)", g.kind),
        })
        .collect();
    Err(format!(
        "{target} needs a {what} capability for it; granted {what}: {}",
        list_or_none(&granted)
    ))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant() -> Grant {
        let manifest = Manifest::parse(
            r#"
name = "zync-database"
version = "0.1.0"
threescale = ["2.15"]
order = 60
hooks = ["backup", "restore", "resume"]
[[artifacts]]
path = "zync-database-backup.gz"
format = "gzip"
[[artifacts]]
path = "system"
format = "tree"
[capabilities]
exec = ["deployment=zync-database"]
read = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }]
write = [{ api-version = "v1", kind = "ConfigMap", names = ["system-environment"] }]
patch = [
  { api-version = "apps.3scale.net/v1alpha1", kind = "APIManager", paths = ["/spec/zync"] },
  { api-version = "apps/v1", kind = "Deployment", names = ["zync"], paths = ["/spec/replicas"] },
]
rollout = ["zync"]
"#,
        )
        .unwrap();
        Grant::new(&manifest, "3scale").unwrap()
    }

    fn labels(deployment: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("deployment".to_string(), deployment.to_string()),
            ("app".to_string(), "3scale-api-management".to_string()),
        ])
    }

    fn denied(g: &Grant, r: Request, hook: Hook, pod: Option<&str>) -> String {
        let l = pod.map(labels);
        match g.authorize(&r, hook, l.as_ref()) {
            Err(Error::Denied(m)) => m,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    fn allowed(g: &Grant, r: Request, hook: Hook, pod: Option<&str>) {
        let l = pod.map(labels);
        g.authorize(&r, hook, l.as_ref()).unwrap();
    }

    const ARGV: &[String] = &[];

    #[test]
    fn find_pod_only_with_a_granted_selector() {
        let g = grant();
        allowed(
            &g,
            Request::FindPod {
                selector: "deployment=zync-database",
            },
            Hook::Backup,
            None,
        );
        let m = denied(
            &g,
            Request::FindPod {
                selector: "deployment=system-mysql",
            },
            Hook::Backup,
            None,
        );
        assert!(
            m.contains("deployment=zync-database"),
            "names what is granted: {m}"
        );
        denied(
            &g,
            Request::FindPod {
                selector: "app=3scale-api-management",
            },
            Hook::Backup,
            None,
        );
    }

    #[test]
    fn exec_only_in_pods_whose_labels_match() {
        let g = grant();
        allowed(
            &g,
            Request::Exec {
                pod: "zync-database-1",
                argv: ARGV,
            },
            Hook::Restore,
            Some("zync-database"),
        );
        let m = denied(
            &g,
            Request::Exec {
                pod: "system-mysql-1",
                argv: ARGV,
            },
            Hook::Restore,
            Some("system-mysql"),
        );
        assert!(
            m.contains("system-mysql-1") && m.contains("exec capability"),
            "{m}"
        );
        denied(
            &g,
            Request::CopyToPod {
                artifact: "zync-database-backup.gz",
                pod: "p",
                path: "/tmp",
            },
            Hook::Restore,
            Some("system-app"),
        );
    }

    #[test]
    fn reads_need_a_read_grant() {
        let g = grant();
        allowed(
            &g,
            Request::Get {
                api_version: "apps.3scale.net/v1alpha1",
                kind: "APIManager",
                name: "3scale",
            },
            Hook::Restore,
            None,
        );
        allowed(
            &g,
            Request::List {
                api_version: "apps.3scale.net/v1alpha1",
                kind: "APIManager",
            },
            Hook::Restore,
            None,
        );
        denied(
            &g,
            Request::Get {
                api_version: "v1",
                kind: "Secret",
                name: "system-database",
            },
            Hook::Restore,
            None,
        );
        denied(
            &g,
            Request::List {
                api_version: "v1",
                kind: "Secret",
            },
            Hook::Restore,
            None,
        );
    }

    #[test]
    fn writes_need_a_write_grant_for_that_name_and_namespace() {
        let g = grant();
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "system-environment"}});
        allowed(&g, Request::Apply { object: &ok }, Hook::Restore, None);
        let other =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "redis-config"}});
        denied(&g, Request::Apply { object: &other }, Hook::Restore, None);
        let elsewhere = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "system-environment", "namespace": "kube-system"}});
        assert!(
            denied(
                &g,
                Request::Apply { object: &elsewhere },
                Hook::Restore,
                None
            )
            .contains("kube-system")
        );
    }

    #[test]
    fn patches_only_under_granted_paths() {
        let g = grant();
        let (api, kind) = ("apps.3scale.net/v1alpha1", "APIManager");
        let scale =
            json!({"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}});
        allowed(
            &g,
            Request::Patch {
                api_version: api,
                kind,
                name: "3scale",
                patch: PatchKind::Merge,
                body: &scale,
            },
            Hook::Restore,
            None,
        );
        let back = json!([{"op": "replace", "path": "/spec/zync", "value": {}}]);
        allowed(
            &g,
            Request::Patch {
                api_version: api,
                kind,
                name: "3scale",
                patch: PatchKind::Json,
                body: &back,
            },
            Hook::Restore,
            None,
        );
        let system = json!({"spec": {"system": {"appSpec": {"replicas": 0}}}});
        let m = denied(
            &g,
            Request::Patch {
                api_version: api,
                kind,
                name: "3scale",
                patch: PatchKind::Merge,
                body: &system,
            },
            Hook::Restore,
            None,
        );
        assert!(m.contains("/spec/system/appSpec/replicas"), "{m}");
        let whole = json!({"spec": null});
        denied(
            &g,
            Request::Patch {
                api_version: api,
                kind,
                name: "3scale",
                patch: PatchKind::Merge,
                body: &whole,
            },
            Hook::Restore,
            None,
        );
        let sneaky = json!([{"op": "move", "from": "/spec/system", "path": "/spec/zync/x"}]);
        denied(
            &g,
            Request::Patch {
                api_version: api,
                kind,
                name: "3scale",
                patch: PatchKind::Json,
                body: &sneaky,
            },
            Hook::Restore,
            None,
        );
        let replicas = json!({"spec": {"replicas": 1}});
        allowed(
            &g,
            Request::Patch {
                api_version: "apps/v1",
                kind: "Deployment",
                name: "zync",
                patch: PatchKind::Strategic,
                body: &replicas,
            },
            Hook::Restore,
            None,
        );
        denied(
            &g,
            Request::Patch {
                api_version: "apps/v1",
                kind: "Deployment",
                name: "system-app",
                patch: PatchKind::Merge,
                body: &replicas,
            },
            Hook::Restore,
            None,
        );
    }

    #[test]
    fn rollouts_only_of_granted_deployments() {
        let g = grant();
        allowed(
            &g,
            Request::RolloutStatus { deployment: "zync" },
            Hook::Restore,
            None,
        );
        denied(
            &g,
            Request::RolloutRestart {
                deployment: "backend-redis",
            },
            Hook::Restore,
            None,
        );
    }

    #[test]
    fn artifacts_only_as_declared_and_writable_only_in_backup() {
        let g = grant();
        allowed(
            &g,
            Request::Artifact {
                path: "zync-database-backup.gz",
                access: Access::Write,
            },
            Hook::Backup,
            None,
        );
        allowed(
            &g,
            Request::Artifact {
                path: "system/provider-1/a.css",
                access: Access::Read,
            },
            Hook::Restore,
            None,
        );
        for path in [
            "../x",
            "/etc/passwd",
            "system/../zync-database-backup.gz",
            "other.gz",
            "systemx/a",
        ] {
            denied(
                &g,
                Request::Artifact {
                    path,
                    access: Access::Read,
                },
                Hook::Restore,
                None,
            );
        }
        let m = denied(
            &g,
            Request::Artifact {
                path: "zync-database-backup.gz",
                access: Access::Write,
            },
            Hook::Restore,
            None,
        );
        assert!(m.contains("read-only"), "{m}");
        denied(
            &g,
            Request::ExecToArtifact {
                pod: "p",
                argv: ARGV,
                artifact: "zync-database-backup.gz",
            },
            Hook::Restore,
            Some("zync-database"),
        );
    }
}
