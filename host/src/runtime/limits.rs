//! How a plugin's instance is bounded, and what an operator is told when it hits a bound.

use std::time::Duration;

use crate::iface::log::LogFlood;

/// The guest used more CPU time in one hook than allowed (host calls not counted).
#[derive(Debug)]
pub struct CpuDeadline(pub Duration);

impl std::fmt::Display for CpuDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ran past its CPU deadline of {}s (time inside host calls is not counted): an endless loop?",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for CpuDeadline {}

/// One line for a trap: which limit, or the guest's panic message, or the trap itself.
pub fn explain(trap: &wasmtime::Error, stderr: &[u8]) -> String {
    if let Some(d) = trap.downcast_ref::<CpuDeadline>() {
        return d.to_string();
    }
    if let Some(f) = trap.downcast_ref::<LogFlood>() {
        return f.to_string();
    }
    let full = format!("{trap:?}");
    if full.contains("forcing trap when growing memory")
        || full.contains("forcing a memory growth failure")
    {
        return "exceeded its memory limit (--plugin-memory) and was stopped".to_string();
    }
    let stderr = String::from_utf8_lossy(stderr);
    if let Some(at) = stderr.find("panicked at") {
        let panic: String = stderr[at..]
            .lines()
            .take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        return format!("panicked: {}", panic.trim());
    }
    let first = trap.to_string();
    let code = trap
        .downcast_ref::<wasmtime::Trap>()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    format!("trapped: {first}{code}")
}
