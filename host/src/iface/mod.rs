//! The host side of the contract: one module per WIT interface, each a thin layer that
//! asks the capability check, does the work through `cluster` or the artifact store, and
//! writes the call to the audit log. This module holds the state they share.

pub mod cluster;
pub mod journal;
pub mod log;
pub mod store;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::audit::{self, Audit};
use crate::backup_set::artifacts::ArtifactStore;
use crate::capability::{Grant, Permit, Request};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::plugin::manifest::Hook;
use crate::progress::Progress;
use crate::runtime::bindings::host::plugin::types::{self, CommandFailure};

/// What every instance of a run shares.
pub struct RunContext {
    pub cluster: Arc<Cluster>,
    pub audit: Arc<Audit>,
    pub progress: Progress,
}

/// Per-instance limits.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
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

/// Guest time, as opposed to wall time: the clock stops while a host call runs, so a
/// 20-minute dump does not count against the plugin's CPU deadline, and a `loop {}` does.
#[derive(Debug)]
pub struct GuestClock {
    started: Instant,
    in_host: Duration,
}

impl GuestClock {
    fn new() -> Self {
        GuestClock {
            started: Instant::now(),
            in_host: Duration::ZERO,
        }
    }
    pub fn restart(&mut self) {
        *self = GuestClock::new();
    }
    pub fn enter_host(&self) -> Instant {
        Instant::now()
    }
    pub fn leave_host(&mut self, entered: Instant) {
        self.in_host += entered.elapsed();
    }
    pub fn guest_time(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.in_host)
    }
}

/// The store's data for one plugin instance running one hook.
pub struct HostState {
    pub run: Arc<RunContext>,
    pub plugin: String,
    pub hook: Hook,
    pub grant: Arc<Grant>,
    pub artifacts: Arc<ArtifactStore>,
    pub journal: Arc<Mutex<Journal>>,
    pub limits: InstanceLimits,
    pub clock: GuestClock,
    pub store_limits: StoreLimits,
    pub log_messages: u64,
    pub log_bytes: u64,
    pub stderr: MemoryOutputPipe,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub fn new(
        run: Arc<RunContext>,
        grant: Grant,
        hook: Hook,
        artifacts: Arc<ArtifactStore>,
        journal: Arc<Mutex<Journal>>,
        limits: InstanceLimits,
    ) -> HostState {
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
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory)
            .instances(16)
            .tables(64)
            .memories(16)
            .table_elements(1 << 20)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            plugin: grant.plugin.clone(),
            run,
            hook,
            grant: Arc::new(grant),
            artifacts,
            journal,
            limits,
            clock: GuestClock::new(),
            store_limits,
            log_messages: 0,
            log_bytes: 0,
            stderr,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// What an async host call needs, detached from the store's data (which holds the
    /// WASI context and cannot be shared across an await).
    pub fn ctx(&self) -> CallCtx {
        CallCtx {
            run: self.run.clone(),
            grant: self.grant.clone(),
            hook: self.hook,
            artifacts: self.artifacts.clone(),
            plugin: self.plugin.clone(),
        }
    }

    /// Audits a finished call and stops its host-time clock.
    pub fn finish<T>(&mut self, entered: Instant, request: &Request<'_>, result: &Result<T>) {
        self.clock.leave_host(entered);
        let (call, target) = request.describe();
        let (decision, outcome) = match result {
            Ok(_) => (Ok(()), Ok(())),
            Err(Error::Denied(reason)) => (Err(reason.as_str()), Ok(())),
            Err(_) => (Ok(()), Err(())),
        };
        let message = result.as_ref().err().map(|e| e.to_string());
        self.run.audit.record(audit::Entry {
            plugin: &self.plugin,
            hook: self.hook.name(),
            call,
            target: &target,
            decision,
            outcome: outcome.map_err(|()| message.as_deref().unwrap_or("")),
            duration: entered.elapsed(),
        });
    }
}

#[derive(Clone)]
pub struct CallCtx {
    pub run: Arc<RunContext>,
    pub grant: Arc<Grant>,
    pub hook: Hook,
    pub artifacts: Arc<ArtifactStore>,
    pub plugin: String,
}

impl CallCtx {
    /// The capability check for one call. Pod-targeted calls need the pod's labels, read
    /// from the API server; a pod that does not exist is not-found, not denied.
    pub async fn authorize(&self, request: &Request<'_>) -> Result<Permit> {
        let labels = match request.pod() {
            Some(pod) => Some(self.run.cluster.pod_labels(pod).await?),
            None => None,
        };
        self.grant.authorize(request, self.hook, labels.as_ref())
    }

    pub fn transfer_label(&self, what: &str) -> String {
        format!("{} {}: {what}", self.plugin, self.hook)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

/// What a plugin sees of a host error.
pub fn to_wit(e: Error) -> types::Error {
    match e {
        Error::Denied(m) => types::Error::Denied(m),
        Error::NotFound(m) => types::Error::NotFound(m),
        Error::Timeout(m) => types::Error::Timeout(m),
        Error::CommandFailed {
            argv,
            exit_code,
            stderr_tail,
        } => types::Error::CommandFailed(CommandFailure {
            argv,
            exit_code,
            stderr_tail,
        }),
        Error::Invalid(m) => types::Error::Invalid(m),
        other => types::Error::Failed(other.to_string()),
    }
}

/// One line for a person, from what a plugin returned.
pub fn describe_wit(e: &types::Error) -> String {
    match e {
        types::Error::Denied(m) => format!("denied: {m}"),
        types::Error::NotFound(m) => format!("not found: {m}"),
        types::Error::Timeout(m) => format!("timed out: {m}"),
        types::Error::Invalid(m) => format!("invalid: {m}"),
        types::Error::Failed(m) => m.clone(),
        types::Error::CommandFailed(f) => format!(
            "`{}` exited with {}: {}",
            f.argv.join(" "),
            f.exit_code,
            f.stderr_tail.trim()
        ),
    }
}

impl HostState {
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
