//! One run's state, `runs/ID/`: `run.json` (what the run was: its kind, set, namespace,
//! cluster), `audit.jsonl`, `journal/PLUGIN.json` and `steps.jsonl` (each step as it
//! starts and ends, so that `host resume` can say where a run was cut off).
//!
//! Restores and resumes keep theirs in the state directory; a backup keeps its audit log
//! in the set it writes. Sets written by earlier hosts hold restore runs under
//! their own `runs/`: those are still found (`RunDir::legacy`) so that an unfinished one
//! is resumed, never overlooked.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bounded::Unread;
use crate::error::{Error, Result};
use crate::journal::{Journal, JournalKey};

const RECORD: &str = "run.json";
const STEPS: &str = "steps.jsonl";
pub const FORMAT: &str = "host-run/1";
/// A run record or step log bigger than this was not written by the host.
const MAX_RECORD: u64 = 64 << 10;
const MAX_STEPS: u64 = 16 << 20;

/// What a run was, written when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: String,
    pub id: String,
    pub kind: String,
    /// The backup set it read (absolute).
    pub set: PathBuf,
    pub namespace: String,
    /// The API server's URL.
    pub server: String,
    pub started: String,
}

/// One line of `steps.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEvent {
    pub plugin: String,
    pub hook: String,
    /// `started`, `ok`, `failed`.
    pub event: String,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    id: String,
    /// Inside a backup set (a restore of earlier hosts, or a backup's own audit).
    in_set: bool,
}

impl RunDir {
    /// A run in the state directory's `runs/`.
    pub fn in_state(runs: &Path, id: &str) -> RunDir {
        RunDir {
            path: runs.join(id),
            id: id.to_string(),
            in_set: false,
        }
    }

    /// A run kept in a backup set's own `runs/`.
    pub fn in_set(set: &Path, id: &str) -> RunDir {
        RunDir {
            path: set.join(crate::backup_set::RUNS).join(id),
            id: id.to_string(),
            in_set: true,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_in_set(&self) -> bool {
        self.in_set
    }

    pub fn audit(&self) -> PathBuf {
        self.path.join("audit.jsonl")
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.path.join("journal")
    }

    pub fn journal(&self, plugin: &str) -> PathBuf {
        self.journal_dir().join(format!("{plugin}.json"))
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    pub fn write_record(&self, record: &RunRecord) -> Result<()> {
        let path = self.path.join(RECORD);
        let text = serde_json::to_vec_pretty(record).expect("a run record serialises");
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }

    /// The run's record; `None` for a run that has none (one of an earlier host).
    pub fn record(&self) -> Result<Option<RunRecord>> {
        let path = self.path.join(RECORD);
        let Some(bytes) = read_bounded(&path, MAX_RECORD)? else {
            return Ok(None);
        };
        let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Refused(format!("{} is not a host run record: {e}", path.display()))
        })?;
        if record.format != FORMAT || record.id != self.id {
            return Err(Error::Refused(format!(
                "{} is not the record of run {}",
                path.display(),
                self.id
            )));
        }
        Ok(Some(record))
    }

    /// Appends a step's start or end. Not fsynced: it tells a person where a run
    /// stopped, and a `kill -9` of the host keeps what was written (only a lost machine
    /// may lose the last lines). Steps running side by side log from several threads:
    /// one line at a time, so no line is ever interleaved with another.
    pub fn log_step(&self, plugin: &str, hook: &str, event: &str, message: Option<&str>) {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let line = StepEvent {
            plugin: plugin.to_string(),
            hook: hook.to_string(),
            event: event.to_string(),
            at: crate::backup_set::manifest::now(),
            message: message.map(|m| crate::audit::cut(m, 500).into_owned()),
        };
        let path = self.path.join(STEPS);
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                let mut text = serde_json::to_vec(&line).expect("a step serialises");
                text.push(b'\n');
                f.write_all(&text)
            });
        if let Err(e) = written {
            tracing::warn!("cannot log the step in {}: {e}", path.display());
        }
    }

    /// The step log; `None` if the run kept none (a run of an earlier host).
    pub fn steps(&self) -> Result<Option<Vec<StepEvent>>> {
        let path = self.path.join(STEPS);
        let Some(bytes) = read_bounded(&path, MAX_STEPS)? else {
            return Ok(None);
        };
        // A line cut by a kill is skipped; every whole line is the host's.
        Ok(Some(
            bytes
                .split(|b| *b == b'\n')
                .filter_map(|l| serde_json::from_slice(l).ok())
                .collect(),
        ))
    }

    /// Plugins whose journals still hold notes. Every journal is authenticated: a forged
    /// or changed one refuses the run (see `journal.rs`).
    pub fn pending(&self, key: &JournalKey) -> Result<Vec<String>> {
        let Ok(journals) = std::fs::read_dir(self.journal_dir()) else {
            return Ok(Vec::new());
        };
        let mut plugins = Vec::new();
        for entry in journals.filter_map(|e| e.ok()) {
            let path = entry.path();
            // `.json.tmp` files are saves cut off before their rename: never acted on.
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let plugin = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !Journal::open(&path, key, &self.id, &plugin)?.is_empty() {
                plugins.push(plugin);
            }
        }
        plugins.sort();
        Ok(plugins)
    }
}

/// A run that left something to put back.
#[derive(Debug)]
pub struct Unfinished {
    pub run: RunDir,
    pub plugins: Vec<String>,
}

/// The runs under `runs` whose journals still hold notes, oldest first. `scope` keeps
/// only runs on that (server, namespace), and runs with no record (which could be on
/// any): an unfinished restore of another cluster does not stop this one.
pub fn unfinished(
    runs: &Path,
    in_set: bool,
    key: &JournalKey,
    scope: Option<(&str, &str)>,
) -> Result<Vec<Unfinished>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(runs) else {
        return Ok(out);
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    for id in ids {
        let run = if in_set {
            RunDir {
                path: runs.join(&id),
                id,
                in_set: true,
            }
        } else {
            RunDir::in_state(runs, &id)
        };
        if let Some((server, namespace)) = scope
            && let Ok(Some(record)) = run.record()
            && (record.server != server || record.namespace != namespace)
        {
            continue;
        }
        let plugins = run.pending(key)?;
        if !plugins.is_empty() {
            out.push(Unfinished { run, plugins });
        }
    }
    Ok(out)
}

/// A run id names one directory under `runs/`: no separators, no `..`.
pub fn check_id(id: &str) -> Result<()> {
    let plain = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "--run `{id}` is not a run id (a directory name under runs/, as a restore prints it)"
        )))
    }
}

/// Sortable by time and unique across sets and machines: `20261125T101500Z-restore-3f9a0c`.
pub fn new_id(kind: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut random = [0u8; 3];
    // Without randomness the time alone still names the run; a clash is caught when its
    // directory is made.
    let _ = getrandom::fill(&mut random);
    format!("{stamp}-{kind}-{}", hex::encode(random))
}

/// Makes the run's directory (0700), refusing one that exists: two runs never share
/// their journals.
pub fn create(runs: &Path, id: &str) -> Result<RunDir> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(runs)
        .map_err(|e| Error::io(runs, e))?;
    let run = RunDir::in_state(runs, id);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(run.path())
        .map_err(|e| Error::io(run.path(), e))?;
    Ok(run)
}

fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    super::bounded::read_bounded(path, limit).map_err(|e| match e {
        Unread::Open(e) | Unread::Read(e) => Error::io(path, e),
        Unread::NotAFile => {
            Error::Refused(format!("{} is not a file the host wrote", path.display()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_do_not_clash() {
        let a = new_id("restore");
        let b = new_id("restore");
        assert_ne!(a, b);
        check_id(&a).unwrap();
        assert!(a.contains("-restore-"));
        assert!(check_id("../x").is_err());
    }

    #[test]
    fn a_cut_step_log_keeps_its_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let run = create(dir.path(), "r1").unwrap();
        assert!(run.steps().unwrap().is_none());
        run.log_step("system-mysql", "restore", "started", None);
        let path = run.path().join(STEPS);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"plugin\":\"cut").unwrap();
        let steps = run.steps().unwrap().unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].event, "started");
        assert!(
            create(dir.path(), "r1").is_err(),
            "a run dir is never shared"
        );
    }
}
