//! `host:plugin/journal`: the plugin's restore notes, on disk before each call returns.
//! Each plugin has its own journal; no grant is needed to keep notes about oneself.

use super::bindings::host::plugin::journal;
use super::{HostError, HostState};

impl journal::Host for HostState {
    async fn record(&mut self, key: String, value: String) -> Result<(), HostError> {
        let result = self
            .ctx
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&key, &value);
        self.ctx.note(&format!("journal record {key}"));
        Ok(result?)
    }

    async fn recall(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self
            .ctx
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recall(&key))
    }

    async fn forget(&mut self, key: String) -> Result<(), HostError> {
        let result = self
            .ctx
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(&key);
        self.ctx.note(&format!("journal forget {key}"));
        Ok(result?)
    }
}
