//! What several 3scale plugins share. The plugins of one 3scale version (under
//! `plugins/3scale-X.Y/`) are thin: they name their component and call these procedures.
//! Where 3scale versions differ, the difference lives in the version's module
//! ([`v2_15`]); everything else is the same for every version.
//!
//! Pure functions are tested natively (`cargo test -p threescale`); the ones that call
//! the host run only inside a plugin.

pub mod apimanager;
pub mod export;
pub mod redis;
pub mod v2_15;
