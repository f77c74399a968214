//! What differs between 3scale releases, as one value per release ([`crate::v2_14::RELEASE`],
//! [`crate::v2_15::RELEASE`]). The procedures of this crate take a `&Release` and ask it
//! wherever the releases part ways: which workload kind runs a component and how its pods
//! are labelled, how it is restarted and waited for, what runs `rake boot
//! openshift:deploy`, and how a change of `redis-config` reaches the redis pods.

use guest_sdk::prelude::*;

/// One 3scale release as its operator lays it out.
#[derive(Debug)]
pub struct Release {
    /// The release as the operator stamps it on the APIManager
    /// (`apps.3scale.net/apimanager-threescale-version`, major.minor).
    pub version: &'static str,
    pub workload: Workload,
    /// Every workload the operator creates for a default APIManager (system on MySQL,
    /// internal redis and zync databases).
    pub components: &'static [&'static str],
    /// The Secrets the manual exports (9.4.6.1) and applies back (9.5.1).
    pub secrets: &'static [&'static str],
    /// Where an older host kept the Secrets in the set, still read on restore.
    pub legacy_secrets_dir: Option<&'static str>,
    pub pre_deploy: PreDeploy,
    pub redis_config: RedisConfig,
}

/// The kind of object that runs each component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `apps/v1` Deployments; pods labelled `deployment=NAME`
    /// (3scale-operator 2.15 pkg/reconcilers/deployment.go:19-21).
    Deployment,
    /// OpenShift `apps.openshift.io/v1` DeploymentConfigs; pods labelled
    /// `deploymentConfig=NAME` by the operator (2.14 pkg/3scale/amp/operator/
    /// *_options_provider.go, e.g. system_options_provider.go:549). The DC controller's
    /// own `deployment=NAME-VERSION` never equals a bare name, so a 2.15 selector finds
    /// nothing here.
    DeploymentConfig,
}

impl Workload {
    pub fn api_version(self) -> &'static str {
        match self {
            Workload::Deployment => "apps/v1",
            Workload::DeploymentConfig => "apps.openshift.io/v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Workload::Deployment => "Deployment",
            Workload::DeploymentConfig => "DeploymentConfig",
        }
    }

    /// The pod label the operator sets to the component's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Workload::Deployment => "deployment",
            Workload::DeploymentConfig => "deploymentConfig",
        }
    }

    /// The manual's `-l` selector for a component's pods.
    pub fn selector(self, name: &str) -> String {
        format!("{}={name}", self.label_key())
    }

    /// As `oc` names the object: `deployment/NAME`, `dc/NAME`.
    pub fn noun(self, name: &str) -> String {
        match self {
            Workload::Deployment => format!("deployment/{name}"),
            Workload::DeploymentConfig => format!("dc/{name}"),
        }
    }

    /// The manual's restart, as words for the log: `rollout restart deployment/NAME`,
    /// `rollout latest dc/NAME`.
    pub fn restart_words(self, name: &str) -> String {
        match self {
            Workload::Deployment => format!("rollout restart {}", self.noun(name)),
            Workload::DeploymentConfig => format!("rollout latest {}", self.noun(name)),
        }
    }

    /// The manual's restart, not waited for.
    pub fn restart(self, name: &str) -> Result<()> {
        match self {
            Workload::Deployment => rollout::restart(name),
            Workload::DeploymentConfig => rollout::latest(name),
        }
    }

    /// The manual's restart of each workload, then `oc rollout status` of each: the
    /// rollouts run side by side.
    pub fn restart_all_and_wait(self, names: &[&str], timeout: u32) -> Result<()> {
        for name in names {
            self.restart(name)?;
        }
        for name in names {
            self.status(name, timeout)?;
        }
        Ok(())
    }

    /// The manual's restart followed by `oc rollout status`: new pods, waited for.
    pub fn restart_and_wait(self, name: &str, timeout: u32) -> Result<()> {
        self.restart_all_and_wait(&[name], timeout)
    }

    /// `oc rollout status KIND/NAME`.
    pub fn status(self, name: &str, timeout: u32) -> Result<()> {
        match self {
            Workload::Deployment => rollout::status(name, timeout),
            Workload::DeploymentConfig => rollout::config_status(name, timeout),
        }
    }

    /// Waits until the workload, whose spec asks for `replicas`, runs exactly that many
    /// available pods. A Deployment's rollout status says so itself. A DeploymentConfig's
    /// (`oc rollout status dc/`) is done as soon as its controller has seen the change
    /// and the latest deployment is complete: after a scale the pods come and go later
    /// (the replication manager acts on the RC), so their count is waited for too.
    pub fn settled(self, name: &str, replicas: i64, timeout: u32) -> Result<()> {
        self.status(name, timeout)?;
        if self == Workload::DeploymentConfig {
            for field in ["replicas", "availableReplicas"] {
                objects::wait_for(
                    self.api_version(),
                    self.kind(),
                    name,
                    &format!("jsonpath={{.status.{field}}}={replicas}"),
                    timeout,
                )?;
            }
        }
        Ok(())
    }

    /// Waits until the operator has made the workload and it is available.
    pub fn wait_available(self, name: &str, timeout: u32) -> Result<Value> {
        objects::wait_for(
            self.api_version(),
            self.kind(),
            name,
            "condition=Available",
            timeout,
        )
    }
}

/// What runs `bundle exec rake boot openshift:deploy` against system's database, which a
/// database load must not race.
#[derive(Debug, Clone, Copy)]
pub enum PreDeploy {
    /// A Job the operator deletes and runs again at every generation of system-app's
    /// Deployment, holding system-app's reconcile until it completes (2.15:
    /// system_reconciler.go:149-205, pkg/helper/job.go).
    Job {
        name: &'static str,
        /// The Job's annotation naming the system-app generation it ran for.
        generation_annotation: &'static str,
    },
    /// system-app's DeploymentConfig pre lifecycle hook, run inside each rollout of
    /// system-app and only then (2.14: system.go:566-581). Scaling does not roll a DC out,
    /// and every scale here waits for the DC's rollout to finish, so once system-app is
    /// scaled down no hook runs.
    Hook,
}

impl PreDeploy {
    /// The Job's name and its generation annotation, if the operator runs one (2.15).
    pub fn job(self) -> Option<(&'static str, &'static str)> {
        match self {
            PreDeploy::Job {
                name,
                generation_annotation,
            } => Some((name, generation_annotation)),
            PreDeploy::Hook => None,
        }
    }
}

/// How an edit of the shared `redis-config` ConfigMap reaches the redis pods.
#[derive(Debug, Clone, Copy)]
pub enum RedisConfig {
    /// The operator rolls both redis workloads after each edit, through this pod-template
    /// annotation, and re-appends its `rename-command` lines to the file (2.15:
    /// redis_options_provider.go:268-307, pkg/reconcilers/configmap.go:23-47).
    OperatorRolls { annotation: &'static str },
    /// The operator creates the ConfigMap and never looks at it again (2.14:
    /// CreateOnlyMutator, redis_reconciler.go:88), and a DC rolls out only for a changed
    /// pod template: an edit takes effect at the next `oc rollout latest`, which the
    /// procedure starts itself for the one redis it restores.
    CreateOnly,
}

#[cfg(test)]
mod tests {
    use crate::{v2_14, v2_15};

    #[test]
    fn each_release_names_its_pods_as_its_operator_labels_them() {
        let (old, new) = (v2_14::RELEASE.workload, v2_15::RELEASE.workload);
        assert_eq!(
            old.selector("system-mysql"),
            "deploymentConfig=system-mysql"
        );
        assert_eq!(new.selector("system-mysql"), "deployment=system-mysql");
        assert_eq!(
            old.restart_words("backend-redis"),
            "rollout latest dc/backend-redis"
        );
        assert_eq!(
            new.restart_words("backend-redis"),
            "rollout restart deployment/backend-redis"
        );
        assert_eq!(
            (old.api_version(), old.kind()),
            ("apps.openshift.io/v1", "DeploymentConfig")
        );
    }

    #[test]
    fn the_2_14_manual_lists_ten_secrets_all_kept_by_2_15() {
        assert_eq!(v2_14::SECRETS.len(), 10);
        assert!(v2_14::SECRETS.iter().all(|s| v2_15::SECRETS.contains(s)));
        assert_eq!(v2_14::RELEASE.components, v2_15::RELEASE.components);
    }
}
