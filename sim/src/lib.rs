//! A Kubernetes API simulator with a live 3scale 2.15 namespace (or 2.14, on OpenShift
//! DeploymentConfigs), honest enough for the real kubectl: its pods are real MariaDB, PostgreSQL and Redis processes, each in its
//! own mount, network, UTS and PID namespaces.

pub mod api;
pub mod client;
pub mod cluster;
pub mod data;
mod defaulting;
mod error;
pub mod faults;
mod patch;
pub mod pod;
pub mod protocols;
pub mod release;
pub mod resources;
mod selector;
mod server;
mod status;
mod store;
mod tls;
mod validation;

pub use cluster::ClusterOptions;
pub use error::{Result, SimError};
pub use server::{NAMESPACE, SimConfig, Simulator, endpoint};
