//! How a plugin's instance is bounded, and what an operator is told when it hits a bound.
//! Every bound that stops a plugin stops it with an error type of its own, so the report
//! names the bound from the type, never from wasmtime's wording.

use std::time::Duration;

use wasmtime::ResourceLimiter;

/// Per-instance limits: what one hook call of one plugin may cost the host.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    /// All of the instance's linear memories and tables together.
    pub memory: usize,
    /// Time spent in guest code per hook call; time inside host calls that were allowed
    /// does not count (a refused call's does: the host's work for it is the plugin's).
    pub cpu: Duration,
    /// Wall-clock time per hook call, host calls included (`--hook-timeout`): nothing a
    /// plugin does keeps 3scale quiesced longer.
    pub wall: Duration,
    pub log_messages: u64,
    pub log_bytes: u64,
    /// Host calls per hook call, of every kind.
    pub host_calls: u64,
    /// Bytes of audit log one hook call may cause.
    pub audit_bytes: u64,
    /// Bytes of arguments (names, paths, commands, patch bodies) the host may be handed
    /// in one hook call: copying and checking them is the host's work on the plugin's
    /// behalf, whether the call is allowed or not.
    pub argument_bytes: u64,
    /// Artifacts (store readers and writers) open at once.
    pub open_artifacts: usize,
    /// Bytes a whole run may write into the backup set (`--max-set-size`), counted across
    /// its plugins by the run.
    pub set_bytes: u64,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            memory: 256 << 20,
            cpu: Duration::from_secs(30),
            wall: Duration::from_secs(6 * 3600),
            log_messages: 2_000,
            log_bytes: 4 << 20,
            // A 3scale plugin makes tens of calls per hook; a million is a plugin in a
            // loop, and 16 MiB of audit lines is some 50,000 calls.
            host_calls: 1_000_000,
            audit_bytes: 16 << 20,
            argument_bytes: 256 << 20,
            open_artifacts: 64,
            set_bytes: 1 << 40,
        }
    }
}

/// The guest used more CPU time in one hook than allowed (host calls not counted).
#[derive(Debug, thiserror::Error)]
#[error("ran past its CPU deadline of {}s (--plugin-cpu; time inside allowed host calls is not counted): an endless loop?", .0.as_secs())]
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

/// The guest made more host calls in one hook than allowed.
#[derive(Debug, thiserror::Error)]
#[error("made more than {0} host calls in one hook (a loop?) and was stopped")]
pub struct HostCallBudget(pub u64);

/// The guest's host calls wrote more audit log in one hook than allowed.
#[derive(Debug, thiserror::Error)]
#[error("flooded the audit log (more than {} MiB of audit lines in one hook) and was stopped", .0 >> 20)]
pub struct AuditFlood(pub u64);

/// The guest handed the host more argument bytes in one hook than allowed.
#[derive(Debug, thiserror::Error)]
#[error("handed the host more than {} MiB of arguments in one hook (the same call over and over?) and was stopped", .0 >> 20)]
pub struct ArgumentFlood(pub u64);

/// The hook ran longer than its wall-clock limit, host calls included.
#[derive(Debug, thiserror::Error)]
#[error("ran longer than its wall-clock limit of {} (--hook-timeout) and was stopped", seconds(.0))]
pub struct WallClock(pub Duration);

fn seconds(d: &Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

/// Bytes a table element costs the host (a pointer and its lazy-init tag, rounded up).
const TABLE_ELEMENT: usize = 16;

/// Counts an instance's memory across all its linear memories and tables, and traps (with
/// [`MemoryLimit`]) a growth past the limit, rather than letting `memory.grow` fail
/// quietly into an allocator abort with no reason given. Sixteen instances of sixteen
/// memories and 64 tables of a million elements each would be gigabytes: the limit is on
/// their sum, not on each.
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    used: usize,
}

impl Limiter {
    pub fn new(limit: usize) -> Limiter {
        Limiter { limit, used: 0 }
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let used = (self.used - current.min(self.used)).saturating_add(desired);
        if used > self.limit {
            return Err(wasmtime::Error::new(MemoryLimit(self.limit)));
        }
        self.used = used;
        Ok(true)
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            current.saturating_mul(TABLE_ELEMENT),
            desired.saturating_mul(TABLE_ELEMENT),
        )
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
    if let Some(b) = trap.downcast_ref::<HostCallBudget>() {
        return b.to_string();
    }
    if let Some(a) = trap.downcast_ref::<AuditFlood>() {
        return a.to_string();
    }
    if let Some(a) = trap.downcast_ref::<ArgumentFlood>() {
        return a.to_string();
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

    #[test]
    fn tables_count_against_the_same_limit() {
        let mut l = Limiter::new(4 << 20);
        assert!(l.memory_growing(0, 2 << 20, None).unwrap());
        // 2 MiB of table elements fit; a second table of as many does not.
        let elements = (2 << 20) / TABLE_ELEMENT;
        assert!(l.table_growing(0, elements, None).unwrap());
        let e = l.table_growing(0, elements, None).unwrap_err();
        assert!(e.downcast_ref::<MemoryLimit>().is_some());
        // What was never granted is not counted: the limiter still has its 4 MiB.
        assert!(l.table_growing(elements, elements / 2, None).unwrap());
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        assert!(l.table_growing(0, usize::MAX, None).is_err(), "no overflow");
    }

    #[test]
    fn every_budget_names_itself() {
        let said = |e: wasmtime::Error| explain(&e, b"");
        assert!(said(wasmtime::Error::new(HostCallBudget(5))).contains("more than 5 host calls"));
        assert!(
            said(wasmtime::Error::new(AuditFlood(16 << 20)))
                .contains("flooded the audit log (more than 16 MiB")
        );
        assert_eq!(
            WallClock(Duration::from_secs(6 * 3600)).to_string(),
            "ran longer than its wall-clock limit of 6h (--hook-timeout) and was stopped"
        );
        assert!(
            WallClock(Duration::from_secs(5))
                .to_string()
                .contains("of 5s")
        );
    }
}
