//! Pods as real processes in their own namespaces.

pub mod process;
pub mod scripts;
pub mod spec;
pub mod templates;
