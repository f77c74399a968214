//! The sandbox: a wasmtime engine, a linker that offers a plugin the contract and WASI
//! with nothing ambient, and the calls of one hook in a fresh, limited instance.

pub mod bindings;
pub mod cache;
pub mod engine;
mod limits;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::error::{Error, Result};
use crate::iface::{HostState, describe_wit};
use crate::plugin::LoadedPlugin;
use crate::plugin::manifest::Hook;
use bindings::{Plugin, PluginPre};
pub use limits::CpuDeadline;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: cache::Cache,
}

impl Runtime {
    pub fn new(cache: cache::Cache) -> Result<Runtime> {
        let engine = engine::new()?;
        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| Error::Runtime(format!("linking the host interfaces: {e}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s).map_err(link)?;
        Ok(Runtime {
            engine,
            linker,
            cache,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache(&self) -> &cache::Cache {
        &self.cache
    }

    /// Resolves the component's imports against what the host offers, once per plugin.
    pub fn link(&self, component: &Component) -> std::result::Result<PluginPre<HostState>, String> {
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            format!("imports something this host does not provide (plugins get host:plugin and WASI without files, environment or network): {e}")
        })?;
        PluginPre::new(pre).map_err(|e| format!("does not fit the host:plugin world: {e}"))
    }

    fn store(&self, state: HostState) -> Store<HostState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.store_limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            let state = ctx.data();
            if state.clock.guest_time() > state.limits.cpu {
                return Err(wasmtime::Error::new(CpuDeadline(state.limits.cpu)));
            }
            // Yield to the executor every tick so other plugins and transfers go on.
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Runs one hook in a fresh instance. The instance is dropped afterwards whatever
    /// happened, so a trap or a hostile plugin leaves nothing behind in the host.
    pub async fn call(&self, plugin: &LoadedPlugin, state: HostState, hook: Hook) -> Result<()> {
        let name = plugin.manifest.name.clone();
        let mut store = self.store(state);
        store.data_mut().clock.restart();
        let outcome = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            match hook {
                Hook::Backup => instance.call_backup(&mut store).await,
                Hook::Quiesce => instance.call_quiesce(&mut store).await,
                Hook::Restore => instance.call_restore(&mut store).await,
                Hook::Resume => instance.call_resume(&mut store).await,
            }
        }
        .await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Plugin {
                plugin: name,
                hook: hook.name().into(),
                message: describe_wit(&e),
            }),
            Err(trap) => Err(Error::Plugin {
                plugin: name,
                hook: hook.name().into(),
                message: limits::explain(&trap, &store.data().stderr.contents()),
            }),
        }
    }

    /// The plugin's `describe()`, which must equal its embedded manifest.
    pub async fn describe(&self, plugin: &LoadedPlugin, state: HostState) -> Result<String> {
        let mut store = self.store(state);
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        }
        .await;
        result.map_err(|trap| Error::Plugin {
            plugin: plugin.manifest.name.clone(),
            hook: "describe".into(),
            message: limits::explain(&trap, &store.data().stderr.contents()),
        })
    }
}
