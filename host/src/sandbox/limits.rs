//! How a plugin's instance is bounded, and what an operator is told when it hits a bound.
//! Every bound that stops a plugin stops it with an error type of its own, so the report
//! names the bound from the type, never from wasmtime's wording.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Per-instance limits.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    /// All of the instance's linear memories together.
    pub memory: usize,
    /// Time spent in guest code per hook call; time inside host calls does not count.
    pub cpu: Duration,
    pub log_messages: u64,
    pub log_bytes: u64,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            memory: 256 << 20,
            cpu: Duration::from_secs(30),
            log_messages: 2_000,
            log_bytes: 4 << 20,
        }
    }
}

/// The guest used more CPU time in one hook than allowed (host calls not counted).
#[derive(Debug, thiserror::Error)]
#[error("ran past its CPU deadline of {}s (time inside host calls is not counted): an endless loop?", .0.as_secs())]
pub struct CpuDeadline(pub Duration);

/// The guest asked for more memory than its limit.
#[derive(Debug, thiserror::Error)]
#[error("exceeded its memory limit of {} MiB (--plugin-memory) and was stopped", .0 >> 20)]
pub struct MemoryLimit(pub usize);

/// The guest flooded the log past its budget.
#[derive(Debug, thiserror::Error)]
#[error("flooded the log ({messages} messages, {bytes} bytes) and was stopped")]
pub struct LogFlood {
    pub messages: u64,
    pub bytes: u64,
}

/// Counts an instance's memory across all its linear memories and traps (with
/// [`MemoryLimit`]) a growth past the limit, rather than letting `memory.grow` fail
/// quietly into an allocator abort with no reason given.
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    used: usize,
}

impl Limiter {
    pub fn new(limit: usize) -> Limiter {
        Limiter { limit, used: 0 }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let used = self.used - current.min(self.used) + desired;
        if used > self.limit {
            return Err(wasmtime::Error::new(MemoryLimit(self.limit)));
        }
        self.used = used;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// One line for a trap: which limit, or the guest's panic message, or the trap itself.
pub fn explain(trap: &wasmtime::Error, stderr: &[u8]) -> String {
    if let Some(d) = trap.downcast_ref::<CpuDeadline>() {
        return d.to_string();
    }
    if let Some(m) = trap.downcast_ref::<MemoryLimit>() {
        return m.to_string();
    }
    if let Some(f) = trap.downcast_ref::<LogFlood>() {
        return f.to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_counted_across_memories() {
        let mut l = Limiter::new(4 << 20);
        assert!(l.memory_growing(0, 2 << 20, None).unwrap());
        assert!(
            l.memory_growing(0, 2 << 20, None).unwrap(),
            "a second memory"
        );
        let e = l.memory_growing(2 << 20, 3 << 20, None).unwrap_err();
        assert!(e.downcast_ref::<MemoryLimit>().is_some());
        assert_eq!(
            explain(&e, b""),
            "exceeded its memory limit of 4 MiB (--plugin-memory) and was stopped"
        );
    }
}
