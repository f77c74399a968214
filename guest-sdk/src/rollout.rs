//! Deployment rollouts, as far as the plugin's `rollout` grant reaches.

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
