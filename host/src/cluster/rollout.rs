//! `oc rollout restart` and `oc rollout status`, with kubectl's notion of done: the new
//! spec observed, every replica updated and available, no old replica left.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::await_condition;

use super::Cluster;
use crate::capability::Permit;
use crate::error::{Error, Result};

impl Cluster {
    fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn rollout_restart(&self, _: &Permit, deployment: &str) -> Result<()> {
        // kubectl stamps seconds; two restarts of one deployment within a second (the
        // redis procedure does that) would then be one no-op patch and no new pod.
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let body = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}});
        self.deployments()
            .patch(deployment, &PatchParams::default(), &Patch::Strategic(body))
            .await?;
        Ok(())
    }

    pub async fn rollout_status(
        &self,
        _: &Permit,
        deployment: &str,
        timeout: Duration,
    ) -> Result<()> {
        // Fail on a missing deployment now, not after the timeout.
        self.deployments()
            .get_opt(deployment)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "deployment `{deployment}` in namespace {}",
                    self.namespace
                ))
            })?;
        let done = await_condition(self.deployments(), deployment, rolled_out);
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Kube(format!(
                "watching deployment {deployment}: {e}"
            ))),
            Err(_) => {
                let state = self
                    .deployments()
                    .get_opt(deployment)
                    .await
                    .ok()
                    .flatten()
                    .map(|d| describe(&d))
                    .unwrap_or_default();
                Err(Error::Timeout(format!(
                    "deployment {deployment} did not finish rolling out within {}s ({state})",
                    timeout.as_secs()
                )))
            }
        }
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
    format!(
        "{} of {want} updated, {} available, {} total",
        s.updated_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
        s.replicas.unwrap_or(0)
    )
}
