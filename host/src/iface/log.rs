//! `host:plugin/log`: messages for the operator, kept in the audit log too. A plugin that
//! floods the log is cut short (only its first messages are shown) and stopped (a trap)
//! once it passes its budget, so it can neither fill the disk nor drown the terminal.

use super::HostState;
use crate::runtime::bindings::host::plugin::log;

/// The trap a log flood ends in, recognised when the hook's error is reported.
#[derive(Debug)]
pub struct LogFlood {
    pub messages: u64,
    pub bytes: u64,
}

impl std::fmt::Display for LogFlood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "flooded the log ({} messages, {} bytes) and was stopped",
            self.messages, self.bytes
        )
    }
}

impl std::error::Error for LogFlood {}

/// Messages shown and audited per hook call; past it they are counted, not shown, until
/// the budget that stops the plugin.
const SHOWN_MESSAGES: u64 = 200;

/// Longest message shown; the rest is cut.
const MAX_MESSAGE: usize = 2000;

impl HostState {
    fn emit(&mut self, level: &str, message: &str) -> wasmtime::Result<()> {
        self.log_messages += 1;
        self.log_bytes += message.len() as u64;
        if self.log_messages > self.limits.log_messages || self.log_bytes > self.limits.log_bytes {
            self.run
                .audit
                .note(&self.plugin, self.hook.name(), "log flood: plugin stopped");
            return Err(wasmtime::Error::new(LogFlood {
                messages: self.log_messages,
                bytes: self.log_bytes,
            }));
        }
        if self.log_messages > SHOWN_MESSAGES {
            if self.log_messages == SHOWN_MESSAGES + 1 {
                let note = format!(
                    "more than {SHOWN_MESSAGES} messages in one {}: the rest are not shown",
                    self.hook
                );
                self.run
                    .progress
                    .line(&format!("  [{}] {note}", self.plugin));
                self.run.audit.note(&self.plugin, self.hook.name(), &note);
            }
            return Ok(());
        }
        let shown: String = message
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .take(MAX_MESSAGE)
            .collect();
        self.run
            .progress
            .line(&format!("  [{}] {level}{shown}", self.plugin));
        self.run
            .audit
            .note(&self.plugin, self.hook.name(), &format!("{level}{shown}"));
        Ok(())
    }
}

impl log::Host for HostState {
    async fn info(&mut self, message: String) -> wasmtime::Result<()> {
        self.emit("", &message)
    }

    async fn warn(&mut self, message: String) -> wasmtime::Result<()> {
        self.emit("warning: ", &message)
    }

    async fn progress(
        &mut self,
        step: String,
        done: u64,
        total: Option<u64>,
    ) -> wasmtime::Result<()> {
        let of = total.map(|t| format!("/{t}")).unwrap_or_default();
        self.emit("", &format!("{step}: {done}{of}"))
    }
}
