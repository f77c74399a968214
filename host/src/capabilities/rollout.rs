//! The `rollout` capability and `host:plugin/rollout`: restarting named Deployments and
//! waiting for their rollouts, as `oc rollout restart|status deployment/NAME`, and the
//! same for OpenShift DeploymentConfigs, as `oc rollout latest|status dc/NAME`.

use contract::Manifest;
use contract::manifest::RolloutGrant;

use super::bindings::host::plugin::rollout;
use super::objects::wait_timeout;
use super::{Call, Grant as FullGrant, HostError, HostState, list_or_none};
use crate::cluster::{ConfigPermit, DeploymentPermit, PodFacts};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct Grant {
    deployments: Vec<String>,
    configs: Vec<String>,
}

impl Grant {
    pub fn new(manifest: &Manifest) -> Grant {
        let mut grant = Grant::default();
        for r in &manifest.capabilities.rollout {
            match r {
                RolloutGrant::Deployment(d) => grant.deployments.push(d.clone()),
                RolloutGrant::Config(c) => grant.configs.push(c.deployment_config.clone()),
            }
        }
        grant
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

    fn check_config(&self, config: &str) -> Result<ConfigPermit> {
        if self.configs.iter().any(|d| d == config) {
            Ok(ConfigPermit::issue(config))
        } else {
            Err(Error::Denied(format!(
                "rollout of deploymentconfig `{config}` needs a rollout capability for it ({{ deployment-config = \"{config}\" }}); granted: {}",
                list_or_none(&self.configs)
            )))
        }
    }
}

/// The API requests a rollout makes. A Deployment's: the `restartedAt` patch and the
/// status polls (cluster/rollout.rs). A DeploymentConfig's, as `oc rollout latest`
/// makes them (cluster/deployment_config.rs): the DC read, the latest
/// ReplicationController read (named `DC-VERSION`, so by any name), the `instantiate`
/// request, and the `update` oc falls back to when instantiate answers 404 or 403.
pub fn rbac(manifest: &Manifest) -> Vec<crate::cluster::rbac::Rule> {
    use crate::cluster::rbac::Rule;
    let mut rules = Vec::new();
    for r in &manifest.capabilities.rollout {
        match r {
            RolloutGrant::Deployment(d) => rules.push(Rule::new(
                "apps",
                "deployments",
                &["get", "patch"],
                Some(std::slice::from_ref(d)),
            )),
            RolloutGrant::Config(c) => {
                let name = std::slice::from_ref(&c.deployment_config);
                rules.push(Rule::new(
                    "apps.openshift.io",
                    "deploymentconfigs",
                    &["get", "update"],
                    Some(name),
                ));
                rules.push(Rule::new(
                    "apps.openshift.io",
                    "deploymentconfigs/instantiate",
                    &["create"],
                    Some(name),
                ));
                rules.push(Rule::new("", "replicationcontrollers", &["get"], None));
            }
        }
    }
    rules
}

/// `host inspect`'s words for the rollout grant.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    manifest
        .capabilities
        .rollout
        .iter()
        .map(|r| match r {
            RolloutGrant::Deployment(d) => {
                format!("restart deployment {d} and wait for its rollout")
            }
            RolloutGrant::Config(c) => format!(
                "roll out deploymentconfig {} (oc rollout latest) and wait for it",
                c.deployment_config
            ),
        })
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

pub struct Latest {
    pub config: String,
}

impl Call for Latest {
    type Permit = ConfigPermit;
    fn audit(&self) -> (&'static str, String) {
        ("rollout-latest", format!("dc/{}", self.config))
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ConfigPermit> {
        g.rollout.check_config(&self.config)
    }
}

pub struct ConfigStatus {
    pub config: String,
}

impl Call for ConfigStatus {
    type Permit = ConfigPermit;
    fn audit(&self) -> (&'static str, String) {
        ("rollout-status", format!("dc/{}", self.config))
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<ConfigPermit> {
        g.rollout.check_config(&self.config)
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
        let timeout = wait_timeout(timeout_seconds);
        self.guarded(Status { deployment }, async move |permit, ctx| {
            ctx.run.cluster.rollout_status(&permit, timeout).await
        })
        .await
    }

    async fn latest(&mut self, deployment_config: String) -> std::result::Result<(), HostError> {
        let call = Latest {
            config: deployment_config,
        };
        self.guarded(call, async |permit, ctx| {
            ctx.run.cluster.rollout_latest(&permit).await
        })
        .await
    }

    async fn config_status(
        &mut self,
        deployment_config: String,
        timeout_seconds: u32,
    ) -> std::result::Result<(), HostError> {
        let timeout = wait_timeout(timeout_seconds);
        let call = ConfigStatus {
            config: deployment_config,
        };
        self.guarded(call, async move |permit, ctx| {
            ctx.run
                .cluster
                .config_rollout_status(&permit, timeout)
                .await
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
