//! `host:plugin/journal`: the plugin's restore notes, on disk before each call returns.
//! Each plugin has its own journal; no grant is needed to keep notes about oneself, but
//! the notes are bounded: each save rewrites the journal, and it is read back whole.

use super::bindings::host::plugin::journal;
use super::{HostError, HostState};
use crate::error::Error;

/// All of a plugin's notes together (keys and values). A recorded spec or a redis.conf
/// is a few KiB.
const JOURNAL_LIMIT: usize = 1 << 20;
/// The longest key.
const KEY_LIMIT: usize = 256;

impl journal::Host for HostState {
    async fn record(&mut self, key: String, value: String) -> Result<(), HostError> {
        let result = {
            let mut journal = self.ctx.journal.lock().unwrap_or_else(|p| p.into_inner());
            let others: usize = journal
                .keys()
                .iter()
                .filter(|k| **k != key)
                .map(|k| k.len() + journal.recall(k).map_or(0, |v| v.len()))
                .sum();
            if key.is_empty() || key.len() > KEY_LIMIT {
                Err(Error::Invalid(format!(
                    "a journal key must have 1 to {KEY_LIMIT} bytes"
                )))
            } else if others + key.len() + value.len() > JOURNAL_LIMIT {
                Err(Error::Invalid(format!(
                    "the plugin's journal notes would pass {} KiB together; keep notes small",
                    JOURNAL_LIMIT >> 10
                )))
            } else {
                journal.record(&key, &value)
            }
        };
        let noted = self.ctx.note(&format!(
            "journal record {}",
            crate::audit::cut(&key, KEY_LIMIT)
        ));
        self.count(noted)?;
        Ok(result?)
    }

    async fn recall(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.count(0)?;
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
        let noted = self.ctx.note(&format!(
            "journal forget {}",
            crate::audit::cut(&key, KEY_LIMIT)
        ));
        self.count(noted)?;
        Ok(result?)
    }
}
