//! What the sandbox keeps per instance, apart from the capabilities: WASI with nothing
//! ambient, the resource table, the memory limiter, the guest clock, the log budget and
//! the guest's stderr. Host code reaches it through [`SandboxView`], as wasmtime-wasi's
//! `WasiView` does, so the sandbox does not depend on what the capabilities keep.

use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

use super::clock::GuestClock;
use super::limits::{ArgumentFlood, AuditFlood, HostCallBudget, InstanceLimits, Limiter, LogFlood};

pub struct SandboxState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: Limiter,
    pub(super) clock: GuestClock,
    pub(super) limits: InstanceLimits,
    stderr: MemoryOutputPipe,
    log_messages: u64,
    log_bytes: u64,
    host_calls: u64,
    audit_bytes: u64,
    argument_bytes: u64,
    open_artifacts: usize,
}

/// Access to an instance's sandbox state from the store's data.
pub trait SandboxView: Send {
    fn sandbox(&mut self) -> &mut SandboxState;
    fn sandbox_ref(&self) -> &SandboxState;
}

/// What a log message may do once counted.
#[derive(Debug, PartialEq, Eq)]
pub enum LogVerdict {
    Show,
    /// Counted, not shown; `first` is true for the first message past the shown ones.
    Hide {
        first: bool,
    },
}

/// Messages shown and audited per hook call; past it they are counted, not shown, until
/// the budget that stops the plugin.
const SHOWN_MESSAGES: u64 = 200;

impl SandboxState {
    pub fn new(limits: InstanceLimits) -> SandboxState {
        // No preopened directories, no environment, no arguments, no network, no stdin:
        // everything a plugin reaches goes through the checked interfaces. Its stderr is
        // kept (bounded) so a panic message can be shown.
        let stderr = MemoryOutputPipe::new(64 * 1024);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        SandboxState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits.memory),
            clock: GuestClock::default(),
            limits,
            stderr,
            log_messages: 0,
            log_bytes: 0,
            host_calls: 0,
            audit_bytes: 0,
            argument_bytes: 0,
            open_artifacts: 0,
        }
    }

    pub fn limits(&self) -> &InstanceLimits {
        &self.limits
    }

    /// Counts one host call, the audit bytes it caused and the argument bytes it handed
    /// the host; past any budget the plugin is stopped. The call itself has happened (and
    /// is in the audit log).
    pub fn count_call(&mut self, audit_bytes: u64, argument_bytes: u64) -> wasmtime::Result<()> {
        self.host_calls += 1;
        self.audit_bytes += audit_bytes;
        self.argument_bytes += argument_bytes;
        if self.argument_bytes > self.limits.argument_bytes {
            return Err(wasmtime::Error::new(ArgumentFlood(
                self.limits.argument_bytes,
            )));
        }
        if self.host_calls > self.limits.host_calls {
            return Err(wasmtime::Error::new(HostCallBudget(self.limits.host_calls)));
        }
        if self.audit_bytes > self.limits.audit_bytes {
            return Err(wasmtime::Error::new(AuditFlood(self.limits.audit_bytes)));
        }
        Ok(())
    }

    /// One more artifact open, if the instance has room for it; `Err(limit)` otherwise.
    pub fn open_artifact(&mut self) -> Result<(), usize> {
        if self.open_artifacts >= self.limits.open_artifacts {
            return Err(self.limits.open_artifacts);
        }
        self.open_artifacts += 1;
        Ok(())
    }

    pub fn close_artifact(&mut self) {
        self.open_artifacts = self.open_artifacts.saturating_sub(1);
    }

    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub fn wasi(&mut self) -> (&mut WasiCtx, &mut ResourceTable) {
        (&mut self.wasi, &mut self.table)
    }

    /// A host call that began at `entered` is over: its time is not the guest's.
    pub fn leave_host(&mut self, entered: Instant) {
        self.clock.leave_host(entered);
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.contents().to_vec()
    }

    /// Counts one log message against the budget; past it, the plugin is stopped.
    pub fn count_log(&mut self, bytes: usize) -> Result<LogVerdict, LogFlood> {
        self.log_messages += 1;
        self.log_bytes += bytes as u64;
        if self.log_messages > self.limits.log_messages || self.log_bytes > self.limits.log_bytes {
            return Err(LogFlood {
                messages: self.log_messages,
                bytes: self.log_bytes,
            });
        }
        if self.log_messages > SHOWN_MESSAGES {
            return Ok(LogVerdict::Hide {
                first: self.log_messages == SHOWN_MESSAGES + 1,
            });
        }
        Ok(LogVerdict::Show)
    }

    pub fn shown_messages() -> u64 {
        SHOWN_MESSAGES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(host_calls: u64, audit_bytes: u64, argument_bytes: u64) -> SandboxState {
        SandboxState::new(InstanceLimits {
            host_calls,
            audit_bytes,
            argument_bytes,
            ..InstanceLimits::default()
        })
    }

    #[test]
    fn a_plugin_in_a_loop_of_host_calls_is_stopped() {
        let mut s = state(3, 1000, 1000);
        for _ in 0..3 {
            s.count_call(10, 10).unwrap();
        }
        let e = s.count_call(0, 0).unwrap_err();
        assert!(e.downcast_ref::<HostCallBudget>().is_some());

        let mut s = state(100, 1000, 1 << 30);
        s.count_call(999, 0).unwrap();
        let e = s.count_call(2, 0).unwrap_err();
        assert!(e.downcast_ref::<AuditFlood>().is_some());

        let mut s = state(100, 1 << 30, 64 << 20);
        s.count_call(300, 64 << 20).unwrap();
        let e = s.count_call(300, 1).unwrap_err();
        assert!(e.downcast_ref::<ArgumentFlood>().is_some());
    }

    #[test]
    fn open_artifacts_are_bounded() {
        let mut s = SandboxState::new(InstanceLimits {
            open_artifacts: 2,
            ..InstanceLimits::default()
        });
        s.open_artifact().unwrap();
        s.open_artifact().unwrap();
        assert_eq!(s.open_artifact(), Err(2));
        s.close_artifact();
        s.open_artifact().unwrap();
    }
}
