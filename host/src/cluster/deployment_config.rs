//! OpenShift DeploymentConfigs (`apps.openshift.io/v1`), on which 3scale 2.14 runs:
//! `oc rollout latest` and `oc rollout status`, as openshift/oc does them.

use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

use super::wait::poll_until;
use super::{Cluster, retry};
use crate::error::{Error, Result};

/// Leave to roll out one DeploymentConfig and wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPermit {
    name: String,
}

impl ConfigPermit {
    pub(crate) fn issue(name: &str) -> ConfigPermit {
        ConfigPermit {
            name: name.to_string(),
        }
    }
}

/// The RC annotation naming a deployment's phase (openshift/api apps/v1/consts.go:47).
const PHASE: &str = "openshift.io/deployment.phase";

impl Cluster {
    fn resource(&self, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    async fn config(&self, name: &str) -> Result<Value> {
        let api = self.resource("apps.openshift.io", "v1", "DeploymentConfig");
        let dc = retry::idempotent(|| api.get(name))
            .await
            .map_err(|e| Error::api(format!("reading deploymentconfig {name}"), e))?;
        Ok(serde_json::to_value(dc).expect("objects serialise"))
    }

    /// `oc rollout latest dc/NAME` (openshift/oc pkg/cli/rollout/latest.go:177-209, at
    /// 6b8e30c5): refused while paused or while the latest ReplicationController has not
    /// finished (openshift-apiserver itself would accept a second one and cancel the
    /// running rollout); then a `DeploymentRequest{latest: true, force: true}` to
    /// `instantiate`. Not retried: a second request would start a second deployment.
    pub async fn rollout_latest(&self, p: &ConfigPermit) -> Result<()> {
        let name = p.name.as_str();
        let dc = self.config(name).await?;
        if dc["spec"]["paused"] == true {
            return Err(Error::Stream(format!(
                "deploymentconfig {name} is paused; resume it first"
            )));
        }
        let version = dc["status"]["latestVersion"].as_i64().unwrap_or(0);
        if version > 0 {
            let rcs = self.resource("", "v1", "ReplicationController");
            let rc = format!("{name}-{version}");
            let current = retry::idempotent(|| rcs.get_opt(&rc))
                .await
                .map_err(|e| Error::api(format!("reading replicationcontroller {rc}"), e))?;
            let phase = current
                .as_ref()
                .and_then(|rc| rc.metadata.annotations.as_ref()?.get(PHASE).cloned())
                .unwrap_or_default();
            if current.is_some() && phase != "Complete" && phase != "Failed" {
                return Err(Error::Stream(format!(
                    "deploymentconfig {name}: #{version} is already in progress ({phase})"
                )));
            }
        }
        let body = json!({
            "kind": "DeploymentRequest",
            "apiVersion": "apps.openshift.io/v1",
            "name": name,
            "latest": true,
            "force": true,
        });
        let path = ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apps.openshift.io",
            "v1",
            "DeploymentConfig",
        ));
        let url = <DynamicObject as kube::Resource>::url_path(&path, Some(&self.namespace));
        let request = kube::core::Request::new(url)
            .create_subresource(
                "instantiate",
                name,
                &PostParams::default(),
                body.to_string().into_bytes(),
            )
            .map_err(|e| Error::Invalid(format!("an instantiate request: {e}")))?;
        match self.client.request::<Value>(request).await {
            Ok(_) => Ok(()),
            // oc falls back to an Update of the DC as it read it, with status.latestVersion
            // one up, when instantiate answers 404 or 403 (latest.go:204-209: written for
            // servers before 1.4, but openshift-apiserver also answers 404 while the latest
            // version's ReplicationController does not exist yet, openshift/
            // openshift-apiserver pkg/apps/apiserver/registry/instantiate/rest.go:322-336
            // at 56aa2d96). The resourceVersion is the one read above: a DC changed
            // meanwhile is a conflict, as for oc.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 403 => {
                self.bump_latest_version(name, dc).await
            }
            Err(e) => Err(Error::api(
                format!("rollout latest of deploymentconfig {name}"),
                e,
            )),
        }
    }

    async fn bump_latest_version(&self, name: &str, mut dc: Value) -> Result<()> {
        let version = dc["status"]["latestVersion"].as_i64().unwrap_or(0);
        dc["status"]["latestVersion"] = json!(version + 1);
        let object: DynamicObject = serde_json::from_value(dc)
            .map_err(|e| Error::Invalid(format!("deploymentconfig {name}: {e}")))?;
        self.resource("apps.openshift.io", "v1", "DeploymentConfig")
            .replace(name, &PostParams::default(), &object)
            .await
            .map_err(|e| {
                Error::api(
                    format!("rollout latest of deploymentconfig {name} (latestVersion {version} -> {}, as oc does when instantiate is not found)", version + 1),
                    e,
                )
            })?;
        Ok(())
    }

    /// `oc rollout status dc/NAME` (openshift/oc
    /// pkg/helpers/originpolymorphichelpers/deploymentconfigs/status.go:25-74).
    pub async fn config_rollout_status(&self, p: &ConfigPermit, timeout: Duration) -> Result<()> {
        let name = p.name.as_str();
        let (done, last) = poll_until(timeout, || async {
            let dc = self.config(name).await?;
            match rolled_out(&dc) {
                Ok(done) => Ok((done, dc)),
                Err(reason) => Err(Error::Stream(format!(
                    "deploymentconfig {name} will not finish rolling out: {reason}"
                ))),
            }
        })
        .await?;
        if done {
            return Ok(());
        }
        let reason = progressing(&last)["reason"]
            .as_str()
            .unwrap_or("no Progressing condition")
            .to_string();
        Err(Error::Timeout(format!(
            "deploymentconfig {name} did not finish rolling out within {}s ({reason})",
            timeout.as_secs()
        )))
    }
}

fn progressing(dc: &Value) -> &Value {
    dc["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Progressing"))
        .unwrap_or(&Value::Null)
}

/// Done, not yet, or never (the reason).
fn rolled_out(dc: &Value) -> std::result::Result<bool, String> {
    let generation = dc["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = dc["status"]["observedGeneration"].as_i64().unwrap_or(0);
    if generation > observed {
        return Ok(false);
    }
    match progressing(dc)["reason"].as_str() {
        Some("NewReplicationControllerAvailable") => Ok(true),
        Some(r @ ("ProgressDeadlineExceeded" | "RolloutCancelled" | "DeploymentConfigPaused")) => {
            Err(r.to_string())
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_the_progressing_condition_as_oc_does() {
        let dc = |generation: i64, observed: i64, reason: &str| {
            json!({"metadata": {"generation": generation},
                   "status": {"observedGeneration": observed,
                              "conditions": [{"type": "Progressing", "status": "True", "reason": reason}]}})
        };
        assert_eq!(
            rolled_out(&dc(3, 3, "NewReplicationControllerAvailable")),
            Ok(true)
        );
        assert_eq!(
            rolled_out(&dc(4, 3, "NewReplicationControllerAvailable")),
            Ok(false)
        );
        assert_eq!(
            rolled_out(&dc(3, 3, "ReplicationControllerUpdated")),
            Ok(false)
        );
        assert_eq!(
            rolled_out(&dc(3, 3, "ProgressDeadlineExceeded")),
            Err("ProgressDeadlineExceeded".into())
        );
    }
}
