//! `host:plugin/journal`: the plugin's restore notes, on disk before each call returns.
//! Each plugin has its own journal; no capability is needed to keep notes about oneself.

use super::{HostState, to_wit};
use crate::runtime::bindings::host::plugin::{journal, types};

type WitResult<T> = wasmtime::Result<std::result::Result<T, types::Error>>;

impl journal::Host for HostState {
    async fn record(&mut self, key: String, value: String) -> WitResult<()> {
        let result = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&key, &value);
        self.run.audit.note(
            &self.plugin,
            self.hook.name(),
            &format!("journal record {key}"),
        );
        Ok(result.map_err(to_wit))
    }

    async fn recall(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recall(&key))
    }

    async fn forget(&mut self, key: String) -> WitResult<()> {
        let result = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(&key);
        self.run.audit.note(
            &self.plugin,
            self.hook.name(),
            &format!("journal forget {key}"),
        );
        Ok(result.map_err(to_wit))
    }
}
