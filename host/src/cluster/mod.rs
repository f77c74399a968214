//! Everything the host does to the cluster, through the `kube` crate only.
//!
//! Each operation a plugin can trigger takes a permit naming exactly what it may act on
//! (this pod and container, this object, this Deployment). Permits are issued by the
//! capability checks in `crate::capabilities` once a call is authorized, and by the host
//! for its own reads; the operation takes its target from the permit, so a permit for one
//! thing cannot be spent on another.

mod access;
mod attached;
pub mod client;
mod copy;
mod deployment_config;
mod exec;
mod pods;
pub mod rbac;
mod resources;
pub mod retry;
mod rollout;
pub mod wait;

use std::collections::HashMap;
use std::time::Duration;

use kube::Client;
use tokio::sync::OnceCell;

pub use access::Access;
pub use client::ClusterOptions;
pub use copy::pod_path;
pub use deployment_config::ConfigPermit;
pub use exec::ExecResult;
pub use pods::PodFacts;
pub use resources::PatchKind;

use crate::error::Result;

/// How long host calls may take: a data stream may go on for hours as long as bytes
/// move; a command that says nothing for `idle` is stuck.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub call: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            call: Duration::from_secs(6 * 3600),
            idle: Duration::from_secs(15 * 60),
        }
    }
}

/// Leave to run commands in one container of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPermit {
    pod: String,
    container: Option<String>,
}

impl PodPermit {
    pub(crate) fn issue(pod: &str, container: Option<&str>) -> PodPermit {
        PodPermit {
            pod: pod.to_string(),
            container: container.map(str::to_string),
        }
    }

    pub fn pod(&self) -> &str {
        &self.pod
    }

    pub fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }
}

/// Leave to look for pods by one label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSearchPermit {
    selector: String,
}

impl PodSearchPermit {
    pub(crate) fn issue(selector: &str) -> PodSearchPermit {
        PodSearchPermit {
            selector: selector.to_string(),
        }
    }
}

/// Leave to read or change one object, or (no name) to list a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPermit {
    api_version: String,
    kind: String,
    name: Option<String>,
}

impl ObjectPermit {
    pub(crate) fn issue(api_version: &str, kind: &str, name: Option<&str>) -> ObjectPermit {
        ObjectPermit {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.map(str::to_string),
        }
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
}

/// Leave to restart one Deployment and wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentPermit {
    name: String,
}

impl DeploymentPermit {
    pub(crate) fn issue(name: &str) -> DeploymentPermit {
        DeploymentPermit {
            name: name.to_string(),
        }
    }
}

pub struct Cluster {
    client: Client,
    namespace: String,
    server: String,
    timeouts: Timeouts,
    /// Whether this API server can close a command's stdin over exec (asked once).
    stdin_closes: OnceCell<bool>,
    /// Kinds resolved through discovery, by (apiVersion, kind).
    resources: tokio::sync::Mutex<HashMap<(String, String), kube::api::ApiResource>>,
}

/// Output captured from a command whose output is small.
pub const CAPTURE_LIMIT: usize = 1 << 20;
/// What of stderr an error message keeps.
pub const STDERR_TAIL: usize = 4 << 10;

impl Cluster {
    pub async fn connect(options: &ClusterOptions, timeouts: Timeouts) -> Result<Cluster> {
        let (client, namespace, server) = client::connect(options).await?;
        Ok(Cluster {
            client,
            namespace,
            server,
            timeouts,
            stdin_closes: OnceCell::new(),
            resources: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn server(&self) -> &str {
        &self.server
    }
}
