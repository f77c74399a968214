//! The plugin contract of `host`, without a runtime: what a plugin declares about itself
//! and the rules both sides apply to it. The host (which grants and checks) and the
//! plugins' build scripts (which refuse a wrong `plugin.toml` before a component is ever
//! built) use this same code, so a manifest means one thing everywhere.
//!
//! - [`manifest`]: the `plugin.toml` format, the one place its grammar is defined.
//! - [`Hook`]: the functions a plugin exports.
//! - [`selector`]: the label selectors of exec grants.
//! - [`patch_paths`]: which JSON-pointer paths a patch touches.
//! - [`names`]: Kubernetes object names, kinds and API versions, as the API server spells them.
//! - [`paths`]: what a path inside a backup set may be.
//! - [`order`]: the restore order, from the plugins' `after` lists.
//!
//! No wasmtime, no kube, no I/O beyond [`build`].

pub mod build;
mod error;
mod hook;
pub mod manifest;
pub mod names;
pub mod order;
pub mod patch_paths;
pub mod paths;
pub mod selector;

pub use error::ManifestError;
pub use hook::Hook;
pub use manifest::Manifest;

/// The WIT package plugins are built against, and its version: the contract version. A
/// host runs components built for the same major version.
pub const CONTRACT: &str = "host:plugin";
pub const CONTRACT_VERSION: &str = "2.1.0";
pub const CONTRACT_MAJOR: u64 = 2;

/// The custom section of a component that holds its manifest (the text of `plugin.toml`).
pub const MANIFEST_SECTION: &str = "host-plugin-manifest";
