//! Plugins in the sandbox: a linker that offers a component the contract (each interface
//! implemented by its capability module) and WASI with nothing ambient, and the calls of
//! one hook in a fresh, limited instance.

use contract::Hook;
use wasmtime::component::{Component, HasSelf, Linker};

use super::LoadedPlugin;
use crate::capabilities::bindings::{Plugin, PluginPre};
use crate::capabilities::{HostState, describe_wit};
use crate::error::{Error, Result};
use crate::printable::printable;
use crate::sandbox::{Sandbox, SandboxView, WallClock, explain};

pub struct Runtime {
    sandbox: Sandbox,
    linker: Linker<HostState>,
}

impl Runtime {
    pub fn new(sandbox: Sandbox) -> Result<Runtime> {
        let mut linker = Linker::new(sandbox.engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::wasm("linking WASI", e))?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| Error::wasm("linking the host interfaces", e))?;
        Ok(Runtime { sandbox, linker })
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Resolves the component's imports against what the host offers, once per plugin.
    pub fn link(&self, component: &Component) -> std::result::Result<PluginPre<HostState>, String> {
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            format!("imports something this host does not provide (plugins get host:plugin and WASI without files, environment or network): {e}")
        })?;
        PluginPre::new(pre).map_err(|e| format!("does not fit the host:plugin world: {e}"))
    }

    /// Runs one hook in a fresh instance, within its wall-clock limit. The instance is
    /// dropped afterwards whatever happened, so a trap or a hostile plugin leaves nothing
    /// behind in the host. What the plugin says (its error, its panic) is made printable:
    /// it reaches the operator's terminal.
    pub async fn call(&self, plugin: &LoadedPlugin, state: HostState, hook: Hook) -> Result<()> {
        let name = plugin.manifest.name.clone();
        let wall = state.sandbox_ref().limits().wall;
        let mut store = self.sandbox.store(state);
        let outcome = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            match hook {
                Hook::Backup => instance.call_backup(&mut store).await,
                Hook::Quiesce => instance.call_quiesce(&mut store).await,
                Hook::Restore => instance.call_restore(&mut store).await,
                Hook::Resume => instance.call_resume(&mut store).await,
                Hook::Describe => instance.call_describe(&mut store).await.map(|_| Ok(())),
            }
        };
        // Guest code yields at every epoch tick and host calls are async, so the
        // deadline ends a guest loop and a host call that waits alike.
        let Ok(outcome) = tokio::time::timeout(wall, outcome).await else {
            return Err(Error::Plugin {
                plugin: name,
                hook,
                message: WallClock(wall).to_string(),
            });
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Plugin {
                plugin: name,
                hook,
                message: printable(&describe_wit(&e)).into_owned(),
            }),
            Err(trap) => Err(Error::Plugin {
                plugin: name,
                hook,
                message: printable(&explain(&trap, &store.data().stderr())).into_owned(),
            }),
        }
    }

    /// The plugin's `describe()`, run with nothing granted; it must equal the embedded
    /// manifest.
    pub async fn describe(&self, plugin: &LoadedPlugin, state: HostState) -> Result<String> {
        let mut store = self.sandbox.store(state);
        let result = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        }
        .await;
        result.map_err(|trap| Error::Plugin {
            plugin: plugin.manifest.name.clone(),
            hook: Hook::Describe,
            message: printable(&explain(&trap, &store.data().stderr())).into_owned(),
        })
    }
}
