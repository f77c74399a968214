//! Rollouts of Deployments and OpenShift DeploymentConfigs, as far as the plugin's
//! `rollout` grant reaches.

use crate::__bindings::host::plugin::rollout as wit;
use crate::Result;

/// `oc rollout restart deployment/NAME`.
pub fn restart(deployment: &str) -> Result<()> {
    Ok(wit::restart(deployment)?)
}

/// `oc rollout status deployment/NAME --timeout=Ns`.
pub fn status(deployment: &str, timeout_seconds: u32) -> Result<()> {
    Ok(wit::status(deployment, timeout_seconds)?)
}

/// `oc rollout restart` followed by `oc rollout status`.
pub fn restart_and_wait(deployment: &str, timeout_seconds: u32) -> Result<()> {
    restart(deployment)?;
    status(deployment, timeout_seconds)
}

/// `oc rollout latest dc/NAME`: a new deployment of a DeploymentConfig (3scale 2.14).
pub fn latest(deployment_config: &str) -> Result<()> {
    Ok(wit::latest(deployment_config)?)
}

/// `oc rollout status dc/NAME --timeout=Ns`.
pub fn config_status(deployment_config: &str, timeout_seconds: u32) -> Result<()> {
    Ok(wit::config_status(deployment_config, timeout_seconds)?)
}

/// `oc rollout latest` followed by `oc rollout status`, on a DeploymentConfig.
pub fn latest_and_wait(deployment_config: &str, timeout_seconds: u32) -> Result<()> {
    latest(deployment_config)?;
    config_status(deployment_config, timeout_seconds)
}
