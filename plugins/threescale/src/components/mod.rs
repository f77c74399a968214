//! Each plugin's hooks, for any release: the per-release plugin crates
//! (`plugins/3scale-X.Y/NAME`) call these with their release ([`crate::v2_14::RELEASE`],
//! [`crate::v2_15::RELEASE`]) and add only their manifest. The redis plugins call
//! [`crate::redis`].

pub mod apimanager;
pub mod configmaps;
pub mod restarts;
pub mod secrets;
pub mod system_app;
pub mod system_mysql;
pub mod system_storage;
pub mod zync;
