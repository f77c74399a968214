//! Messages for the operator running `host`; also kept in the run's audit log.

use crate::__bindings::host::plugin::log as wit;

pub fn info(message: &str) {
    wit::info(message);
}

pub fn warn(message: &str) {
    wit::warn(message);
}

/// Progress of a long step, in the plugin's own unit.
pub fn progress(step: &str, done: u64, total: Option<u64>) {
    wit::progress(step, done, total);
}

/// `info!("scaled {} to 0", name)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&format!($($arg)*)) };
}

/// `warn!("secret {} not found, skipped", name)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&format!($($arg)*)) };
}
