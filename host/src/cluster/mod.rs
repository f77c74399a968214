//! Everything the host does to the cluster, through the `kube` crate only. Each operation
//! a plugin can trigger takes a [`Permit`](crate::capability::Permit).

mod attached;
pub mod client;
mod copy;
mod exec;
mod pods;
mod resources;
mod rollout;

use std::time::Duration;

use kube::Client;

pub use client::ClusterOptions;
pub use exec::ExecResult;

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

pub struct Cluster {
    client: Client,
    namespace: String,
    server: String,
    timeouts: Timeouts,
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
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn server(&self) -> &str {
        &self.server
    }
}
