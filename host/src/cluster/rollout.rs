//! `oc rollout restart` and `oc rollout status`, with kubectl's notion of done: the new
//! spec observed, every replica updated and available, no old replica left.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::wait::poll_until;
use super::{Cluster, DeploymentPermit, retry};
use crate::error::{Error, Result};

impl Cluster {
    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn rollout_restart(&self, p: &DeploymentPermit) -> Result<()> {
        // kubectl stamps seconds; two restarts of one deployment within a second (the
        // redis procedure does that) would then be one no-op patch and no new pod. The
        // stamp is taken once, so a retried patch is the same patch.
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
        let api = self.deployments();
        let params = PatchParams::default();
        let patch = Patch::Strategic(&body);
        retry::idempotent(|| api.patch(&p.name, &params, &patch))
            .await
            .map_err(|e| Error::api(format!("restarting deployment {}", p.name), e))?;
        Ok(())
    }

    pub async fn rollout_status(&self, p: &DeploymentPermit, timeout: Duration) -> Result<()> {
        let name = p.name.as_str();
        let api = self.deployments();
        let read = || async {
            retry::idempotent(|| api.get_opt(name))
                .await
                .map_err(|e| Error::api(format!("reading deployment {name}"), e))
        };
        // Fail on a missing deployment now, not after the timeout.
        if read().await?.is_none() {
            return Err(Error::NotFound(format!(
                "deployment `{name}` in namespace {}",
                self.namespace
            )));
        }
        let (done, last) = poll_until(timeout, || async {
            let d = read().await?;
            Ok((rolled_out(d.as_ref()), d))
        })
        .await?;
        if done {
            return Ok(());
        }
        let state = last
            .as_ref()
            .map(describe)
            .unwrap_or_else(|| "it is gone".into());
        Err(Error::Timeout(format!(
            "deployment {name} did not finish rolling out within {}s ({state})",
            timeout.as_secs()
        )))
    }
}

fn rolled_out(deployment: Option<&Deployment>) -> bool {
    let Some(d) = deployment else { return false };
    let generation = d.metadata.generation.unwrap_or(0);
    let want = d.spec.replicas.unwrap_or(1);
    let Some(status) = &d.status else {
        return false;
    };
    status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas.unwrap_or(0) >= want
        && status.replicas.unwrap_or(0) <= want
        && status.available_replicas.unwrap_or(0) >= want
        && status.updated_replicas.unwrap_or(0) == status.replicas.unwrap_or(0)
}

fn describe(d: &Deployment) -> String {
    let want = d.spec.replicas.unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    let seen = if s.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        ", its controller has not seen the latest spec"
    } else {
        ""
    };
    format!(
        "{} of {want} updated, {} available, {} total{seen}",
        s.updated_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
        s.replicas.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_rollout_is_done_only_once_the_latest_spec_is_observed() {
        let mut d = json!({
            "metadata": {"name": "system-app", "generation": 3},
            "spec": {"replicas": 0, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
        });
        assert!(
            !rolled_out(Some(&deployment(d.clone()))),
            "the controller has not caught up"
        );
        d["status"] = json!({"observedGeneration": 3, "replicas": 0});
        assert!(rolled_out(Some(&deployment(d.clone()))));
        d["spec"]["replicas"] = json!(1);
        assert!(!rolled_out(Some(&deployment(d))));
    }
}
