//! The sandbox: one wasmtime engine, the compiled-plugin cache, and for each hook call a
//! store with the instance's limits (memory, guest CPU time through epoch interruption,
//! the log budget) and WASI with nothing ambient. It knows nothing of what a plugin may
//! ask of the cluster: that is `crate::capabilities`, reached through [`SandboxView`].

pub mod cache;
mod clock;
mod engine;
pub mod limits;
mod state;

use wasmtime::{Engine, Store, UpdateDeadline};

use crate::error::Result;
pub use limits::{
    ArgumentFlood, AuditFlood, CpuDeadline, HostCallBudget, InstanceLimits, LogFlood, MemoryLimit,
    WallClock, explain,
};
pub use state::{LogVerdict, SandboxState, SandboxView};

pub struct Sandbox {
    engine: Engine,
    cache: cache::Cache,
}

impl Sandbox {
    pub fn new(cache: cache::Cache) -> Result<Sandbox> {
        Ok(Sandbox {
            engine: engine::new()?,
            cache,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache(&self) -> &cache::Cache {
        &self.cache
    }

    /// A store for one hook call: limits on, the guest clock started, and an epoch
    /// callback that ends the guest past its CPU deadline and otherwise yields, so other
    /// plugins and transfers go on.
    pub fn store<T: SandboxView + 'static>(&self, state: T) -> Store<T> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.sandbox().limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let sandbox = ctx.data().sandbox_ref();
            if sandbox.clock.guest_time() > sandbox.limits.cpu {
                return Err(wasmtime::Error::new(CpuDeadline(sandbox.limits.cpu)));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store.data_mut().sandbox().clock.restart();
        store
    }
}
