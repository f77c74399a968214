//! `host`: backs up and restores Red Hat 3scale API Management through sandboxed Wasm
//! plugins. The binary's CLI is in `main.rs`; everything else is here so the pieces can be
//! tested on their own.

pub mod audit;
pub mod backup_set;
pub mod capabilities;
pub mod cluster;
pub mod dump_guard;
pub mod error;
pub mod journal;
pub mod plugin;
pub mod printable;
pub mod progress;
pub mod rbac;
pub mod report;
pub mod repository;
pub mod run;
pub mod sandbox;
pub mod state;
pub mod units;

pub use error::{Error, Result};
