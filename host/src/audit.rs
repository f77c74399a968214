//! The run's audit log: one JSON line per host call, allowed or denied, with its outcome.
//!
//! Every field a plugin's arguments reach is cut to a line's length (saying so), and the
//! whole log to [`RUN_LIMIT`]: a plugin repeating a denied call with a 64 MiB argument
//! must not fill the disk that holds the backup set. Past the limit nothing more is
//! written, and the chokepoint refuses every further call, so nothing happens unaudited.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::error::{Error, Result};

pub struct Audit {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
    written: AtomicU64,
}

/// The most a run's audit log holds. Each hook's share is smaller (the sandbox's
/// `InstanceLimits::audit_bytes`), so only many plugins together come near it.
pub const RUN_LIMIT: u64 = 256 << 20;

/// The most of one field (a target, a reason, an error) a line keeps, in characters.
pub const FIELD_LIMIT: usize = 2000;

/// `text` cut to `max` characters, saying how long it was.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((at, _)) => Cow::Owned(format!(
            "{}… [cut: {} bytes in all]",
            &text[..at],
            text.len()
        )),
    }
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
            written: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the log has reached [`RUN_LIMIT`]: then no host call may run.
    pub fn full(&self) -> bool {
        self.written.load(Ordering::Relaxed) >= RUN_LIMIT
    }

    /// Writes one call's line; returns its length (0 once the log is full).
    pub fn record(&self, e: Entry) -> u64 {
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "plugin": e.plugin,
            "hook": e.hook,
            "call": e.call,
            "target": cut(e.target, FIELD_LIMIT),
            "decision": if e.decision.is_ok() { "allowed" } else { "denied" },
            "reason": e.decision.err().map(|r| cut(r, FIELD_LIMIT)),
            "outcome": match (e.decision, e.outcome) {
                (Err(_), _) => "not run",
                (Ok(()), Ok(())) => "ok",
                (Ok(()), Err(_)) => "error",
            },
            "error": e.outcome.err().map(|r| cut(r, FIELD_LIMIT)),
            "ms": e.duration.as_millis() as u64,
        });
        self.write(line)
    }

    /// A note from the host itself (not a plugin call), e.g. a suppressed log flood.
    /// Returns its length (0 once the log is full).
    pub fn note(&self, plugin: &str, hook: &str, message: &str) -> u64 {
        let line = json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "plugin": plugin, "hook": hook, "call": "host-note", "target": cut(message, FIELD_LIMIT),
        });
        self.write(line)
    }

    fn write(&self, line: serde_json::Value) -> u64 {
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let before = self.written.load(Ordering::Relaxed);
        if before >= RUN_LIMIT {
            return 0;
        }
        let mut bytes = text.len() as u64;
        if before + bytes >= RUN_LIMIT {
            text.push_str(&format!(
                "{}\n",
                json!({"call": "host-note", "target": format!(
                    "the audit log reached its limit of {} MiB: every further host call of this run is refused",
                    RUN_LIMIT >> 20
                )})
            ));
            bytes = RUN_LIMIT - before;
        }
        self.written.fetch_add(bytes, Ordering::Relaxed);
        // Losing an audit line must not fail the backup; a disk that cannot take one small
        // line will fail the artifacts loudly anyway.
        let _ = file.write_all(text.as_bytes());
        let _ = file.flush();
        text.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(target: &'a str, reason: &'a str) -> Entry<'a> {
        Entry {
            plugin: "hostile",
            hook: "restore",
            call: "store-exists",
            target,
            decision: Err(reason),
            outcome: Ok(()),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn long_fields_are_cut_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::create(&dir.path().join("audit.jsonl")).unwrap();
        let huge = "a".repeat(8 << 20);
        let reason = format!("artifact `{huge}` is not declared");
        let bytes = audit.record(entry(&huge, &reason));
        assert!(bytes < 3 * FIELD_LIMIT as u64 + 500, "{bytes} bytes");
        let text = std::fs::read_to_string(audit.path()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let target = line["target"].as_str().unwrap();
        assert!(target.ends_with(&format!("… [cut: {} bytes in all]", 8 << 20)));
        assert!(line["reason"].as_str().unwrap().contains("[cut:"));
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééé", 2), "éé… [cut: 6 bytes in all]");
    }

    #[test]
    fn a_full_log_takes_no_more_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::create(&dir.path().join("audit.jsonl")).unwrap();
        audit.written.store(RUN_LIMIT - 10, Ordering::Relaxed);
        assert!(!audit.full());
        assert!(audit.record(entry("x", "no")) > 0);
        assert!(audit.full());
        assert_eq!(audit.record(entry("y", "no")), 0);
        assert_eq!(audit.note("p", "restore", "z"), 0);
        let text = std::fs::read_to_string(audit.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("every further host call of this run is refused"));
    }
}
