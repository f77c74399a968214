//! For a plugin's `build.rs`: refuse to build a component whose `plugin.toml` the host
//! would refuse to run, so a wrong manifest is a build error and not a denied call in
//! production.
//!
//! ```ignore
//! // build.rs of a plugin crate
//! fn main() {
//!     contract::build::check_plugin_manifest();
//! }
//! ```

use std::path::PathBuf;

use crate::manifest::Manifest;

/// Reads `$CARGO_MANIFEST_DIR/plugin.toml`, validates it, and fails the build with the
/// reason if it is not a valid manifest.
pub fn check_plugin_manifest() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"));
    let path = dir.join("plugin.toml");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Err(e) = Manifest::parse(&text) {
        panic!("{}: {e}", path.display());
    }
}
