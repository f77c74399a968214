//! `host:plugin/log`: messages for the operator, kept in the audit log too. No grant is
//! needed; the sandbox's log budget bounds them. A plugin that floods the log is cut
//! short (only its first messages are shown) and stopped (a trap) once it passes its
//! budget, so it can neither fill the disk nor drown the terminal.

use super::HostState;
use super::bindings::host::plugin::log;
use crate::sandbox::{LogVerdict, SandboxState};

/// Longest message shown; the rest is cut.
const MAX_MESSAGE: usize = 2000;

impl HostState {
    fn emit(&mut self, level: &str, message: &str) -> wasmtime::Result<()> {
        let ctx = self.ctx.clone();
        let noted = match self.sandbox.count_log(message.len()) {
            Err(flood) => {
                ctx.note("log flood: plugin stopped");
                return Err(wasmtime::Error::new(flood));
            }
            Ok(LogVerdict::Hide { first: true }) => {
                let note = format!(
                    "more than {} messages in one {}: the rest are not shown",
                    SandboxState::shown_messages(),
                    ctx.grant.hook
                );
                ctx.run
                    .progress
                    .line(&format!("  [{}] {note}", ctx.grant.plugin));
                ctx.note(&note)
            }
            Ok(LogVerdict::Hide { first: false }) => 0,
            Ok(LogVerdict::Show) => {
                let shown: String = message
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\t')
                    .take(MAX_MESSAGE)
                    .collect();
                ctx.run
                    .progress
                    .line(&format!("  [{}] {level}{shown}", ctx.grant.plugin));
                ctx.note(&format!("{level}{shown}"))
            }
        };
        self.count(noted)
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
