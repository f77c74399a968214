//! The run's audit log: one JSON line per host call, allowed or denied, with its outcome.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use crate::error::{Error, Result};

pub struct Audit {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
}

pub struct Entry<'a> {
    pub plugin: &'a str,
    pub hook: &'a str,
    pub call: &'a str,
    pub target: &'a str,
    /// `Err(reason)` when the capability check refused the call.
    pub decision: std::result::Result<(), &'a str>,
    /// `Err(message)` when the call was allowed but failed.
    pub outcome: std::result::Result<(), &'a str>,
    pub duration: Duration,
}

impl Audit {
    pub fn create(path: &Path) -> Result<Audit> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Audit {
            path: path.to_path_buf(),
            file: Mutex::new(BufWriter::new(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&self, e: Entry) {
        // The target can be a whole patch body or command line; keep lines readable.
        let target: String = e.target.chars().take(2000).collect();
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "plugin": e.plugin,
            "hook": e.hook,
            "call": e.call,
            "target": target,
            "decision": if e.decision.is_ok() { "allowed" } else { "denied" },
            "reason": e.decision.err(),
            "outcome": match (e.decision, e.outcome) {
                (Err(_), _) => "not run",
                (Ok(()), Ok(())) => "ok",
                (Ok(()), Err(_)) => "error",
            },
            "error": e.outcome.err(),
            "ms": e.duration.as_millis() as u64,
        });
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Losing an audit line must not fail the backup; a disk that cannot take one small
        // line will fail the artifacts loudly anyway.
        let _ = writeln!(file, "{line}");
        let _ = file.flush();
    }

    /// A note from the host itself (not a plugin call), e.g. a suppressed log flood.
    pub fn note(&self, plugin: &str, hook: &str, message: &str) {
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "plugin": plugin, "hook": hook, "call": "host-note", "target": message,
        });
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(file, "{line}");
        let _ = file.flush();
    }
}
