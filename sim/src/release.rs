//! Which 3scale release the simulated namespace runs: 2.15 (Kubernetes Deployments, the
//! default) or 2.14, the last release on OpenShift DeploymentConfigs. A data directory
//! keeps the release it was made with.

use std::path::Path;

use crate::resources::{DEPLOYMENT_CONFIGS, REPLICATION_CONTROLLERS, ResourceType};
use crate::{Result, SimError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Release {
    /// 3scale 2.15 (3scale-operator branch 3scale-2.15-stable): apps/v1 Deployments.
    #[default]
    V2_15,
    /// 3scale 2.14 (3scale-operator branch 3scale-2.14-stable): apps.openshift.io/v1
    /// DeploymentConfigs, ReplicationControllers, lifecycle hooks.
    V2_14,
}

const FILE: &str = "threescale-release";

impl Release {
    pub fn parse(text: &str) -> std::result::Result<Release, String> {
        match text.trim() {
            "2.15" => Ok(Release::V2_15),
            "2.14" => Ok(Release::V2_14),
            other => Err(format!(
                "`{other}` is not a 3scale release the simulator serves (2.15, 2.14)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Release::V2_15 => "2.15",
            Release::V2_14 => "2.14",
        }
    }

    /// The release of the data directory `dir`: the one asked for, or the one it was made
    /// with, or 2.15 for a new one. Asking for another release than the directory holds
    /// is an error, as an operator of one release cannot serve another's namespace.
    pub fn for_dir(dir: &Path, asked: Option<Release>) -> Result<Release> {
        let path = dir.join(FILE);
        let kept = match std::fs::read_to_string(&path) {
            Ok(text) => Some(Release::parse(&text).map_err(SimError::Other)?),
            Err(_) if dir.join("objects.json").exists() => Some(Release::V2_15),
            Err(_) => None,
        };
        let release = match (kept, asked) {
            (Some(k), Some(a)) if k != a => {
                return Err(SimError::Other(format!(
                    "{} holds a 3scale {} namespace; serve it with --threescale {} or use a new directory",
                    dir.display(),
                    k.as_str(),
                    k.as_str()
                )));
            }
            (Some(k), _) => k,
            (None, a) => a.unwrap_or_default(),
        };
        std::fs::create_dir_all(dir).map_err(|e| SimError::io(dir, e))?;
        std::fs::write(&path, release.as_str()).map_err(|e| SimError::io(&path, e))?;
        Ok(release)
    }

    /// The pod label the operator selects a component's pods by: `deployment` in 2.15
    /// (pkg/reconcilers/deployment.go:21), `deploymentConfig` in 2.14
    /// (e.g. pkg/3scale/amp/operator/system_options_provider.go:549).
    pub fn selector_key(self) -> &'static str {
        match self {
            Release::V2_15 => "deployment",
            Release::V2_14 => "deploymentConfig",
        }
    }

    /// Whether the API server of this release's cluster serves `rt`. The 2.15 namespace
    /// is served as before DeploymentConfigs were modelled: no apps.openshift.io, no
    /// ReplicationControllers.
    pub fn serves(self, rt: &ResourceType) -> bool {
        self == Release::V2_14
            || (rt.plural != DEPLOYMENT_CONFIGS.plural
                && rt.plural != REPLICATION_CONTROLLERS.plural)
    }

    /// The workload kind the operator makes for each component.
    pub fn workload(self) -> &'static ResourceType {
        match self {
            Release::V2_15 => &crate::resources::DEPLOYMENTS,
            Release::V2_14 => &DEPLOYMENT_CONFIGS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_keeps_its_release() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Release::for_dir(dir.path(), Some(Release::V2_14)).unwrap(),
            Release::V2_14
        );
        assert_eq!(Release::for_dir(dir.path(), None).unwrap(), Release::V2_14);
        assert!(Release::for_dir(dir.path(), Some(Release::V2_15)).is_err());
        let fresh = tempfile::tempdir().unwrap();
        assert_eq!(
            Release::for_dir(fresh.path(), None).unwrap(),
            Release::V2_15
        );
    }
}
