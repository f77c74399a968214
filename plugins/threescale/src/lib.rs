//! What the 3scale plugins share. The plugins of one 3scale release (under
//! `plugins/3scale-X.Y/`) are thin: a manifest, and hooks that call
//! [`components`] (or [`redis`]) with their release. Where 3scale releases differ, the
//! difference is a field of [`release::Release`], filled in once per release
//! ([`v2_14::RELEASE`], [`v2_15::RELEASE`]); everything else is the same for every
//! release.
//!
//! Pure functions are tested natively (`cargo test -p threescale`); the ones that call
//! the host run only inside a plugin.

pub mod apimanager;
pub mod components;
pub mod export;
pub mod redis;
pub mod release;
pub mod v2_14;
pub mod v2_15;
