//! The `rollout` capability and `host:plugin/rollout`: restarting named Deployments and
//! waiting for their rollouts, as `oc rollout restart|status deployment/NAME`.

use std::time::Duration;

use contract::Manifest;

use super::bindings::host::plugin::rollout;
use super::{Call, Grant as FullGrant, HostError, HostState, list_or_none};
use crate::cluster::{DeploymentPermit, PodFacts};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Grant {
    deployments: Vec<String>,
}

impl Grant {
    pub fn new(manifest: &Manifest) -> Grant {
        Grant {
            deployments: manifest.capabilities.rollout.clone(),
        }
    }

    fn check(&self, deployment: &str) -> Result<DeploymentPermit> {
        if self.deployments.iter().any(|d| d == deployment) {
            Ok(DeploymentPermit::issue(deployment))
        } else {
            Err(Error::Denied(format!(
                "rollout of deployment `{deployment}` needs a rollout capability for it; granted: {}",
                list_or_none(&self.deployments)
            )))
        }
    }
}

/// `host inspect`'s words for the rollout grant.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    manifest
        .capabilities
        .rollout
        .iter()
        .map(|d| format!("restart deployment {d} and wait for its rollout"))
        .collect()
}

pub struct Restart {
    pub deployment: String,
}

impl Call for Restart {
    type Permit = DeploymentPermit;
    fn audit(&self) -> (&'static str, String) {
        ("rollout-restart", self.deployment.clone())
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<DeploymentPermit> {
        g.rollout.check(&self.deployment)
    }
}

pub struct Status {
    pub deployment: String,
}

impl Call for Status {
    type Permit = DeploymentPermit;
    fn audit(&self) -> (&'static str, String) {
        ("rollout-status", self.deployment.clone())
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<DeploymentPermit> {
        g.rollout.check(&self.deployment)
    }
}

impl rollout::Host for HostState {
    async fn restart(&mut self, deployment: String) -> std::result::Result<(), HostError> {
        self.guarded(Restart { deployment }, async |permit, ctx| {
            ctx.run.cluster.rollout_restart(&permit).await
        })
        .await
    }

    async fn status(
        &mut self,
        deployment: String,
        timeout_seconds: u32,
    ) -> std::result::Result<(), HostError> {
        let timeout = Duration::from_secs(timeout_seconds.max(1) as u64);
        self.guarded(Status { deployment }, async move |permit, ctx| {
            ctx.run.cluster.rollout_status(&permit, timeout).await
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use contract::Hook;

    use super::super::testing::{denial, grant};
    use super::*;

    #[test]
    fn rollouts_only_of_granted_deployments() {
        let g = grant(Hook::Restore);
        let ok = Status {
            deployment: "zync".into(),
        }
        .check(&g, None)
        .unwrap();
        assert_eq!(ok, DeploymentPermit::issue("zync"));
        let m = denial(
            Restart {
                deployment: "backend-redis".into(),
            }
            .check(&g, None),
        );
        assert!(m.contains("granted: zync"), "{m}");
    }
}
