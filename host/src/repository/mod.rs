//! A repository of backup sets (`--repo`): every `host backup --repo R` writes a new set,
//! named by the UTC time and run id it started with, so names sort by time. A set is
//! built under a staging name and only a complete set that verifies is put in place and
//! becomes `latest`; a failed backup never touches an earlier set. Each set inside is the
//! manual-compatible layout of a single `--backup-dir` set.
//!
//! [`Repository`] is what `list`, `describe`, `prune`, `restore` and `backup` need of a
//! repository; [`local::LocalRepository`] keeps it in a directory,
//! [`objects::ObjectRepository`] under an `s3://` prefix. Sets are addressed by name, and
//! the only location handed out is the set a run reads or writes.

pub mod local;
pub mod objects;
pub mod prune;

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::backup_set::SetLocation;
use crate::backup_set::manifest::SetManifest;
use crate::error::{Error, Result};

/// The name a set is asked for by when it is the newest good one.
pub const LATEST: &str = "latest";

/// Where a set stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SetState {
    /// Complete and verified when it was put in place: restorable.
    Good,
    /// Its backup failed (a component, the seal, or the verification); kept to read why,
    /// never restored.
    Failed,
    /// A backup that stopped without a word (the host killed), or a set whose
    /// manifest.json cannot be read.
    Incomplete,
    /// A backup still writing it.
    Running,
}

impl SetState {
    pub fn word(self) -> &'static str {
        match self {
            SetState::Good => "ok",
            SetState::Failed => "FAILED",
            SetState::Incomplete => "incomplete",
            SetState::Running => "running",
        }
    }
}

/// One set as a repository lists it.
#[derive(Debug, Clone)]
pub struct SetEntry {
    /// The set's name (`20261125T101500Z-backup-3f9a0c`); a failed set's directory adds
    /// `.failed`.
    pub name: String,
    pub state: SetState,
    /// Where to read it.
    pub location: SetLocation,
    /// What `latest` names.
    pub latest: bool,
    /// When its backup started, from its name.
    pub time: DateTime<Utc>,
    pub manifest: Option<SetManifest>,
    /// Bytes of its files (as manifest.json records them for a good set).
    pub bytes: u64,
    /// It has a seal (manifest.json.sig); whose, `verify --trust-key` checks.
    pub sealed: bool,
}

/// A set being written: a backup writes into `path`, then the repository commits it or
/// keeps it as failed.
#[derive(Debug)]
pub struct Pending {
    pub name: String,
    pub location: SetLocation,
    /// Held while the backup runs: `list` and `prune` tell a running backup from one that
    /// was killed by whether they can take it (a local repository's lock file).
    _lock: Option<std::fs::File>,
}

pub trait Repository: Send + Sync {
    /// The repository as the user gave it, for messages.
    fn location(&self) -> String;
    /// Every set, oldest first.
    fn list(&self) -> Result<Vec<SetEntry>>;
    /// A set by name, or the newest good one for `latest` (or no name).
    fn resolve(&self, name: Option<&str>) -> Result<SetEntry>;
    /// A new set under a staging name.
    fn begin(&self, name: &str) -> Result<Pending>;
    /// Puts a complete, verified set in place and makes it `latest` (unless a newer good
    /// set is there already). Returns where it now is.
    fn commit(&self, pending: Pending) -> Result<SetLocation>;
    /// Keeps a failed backup's set, marked failed, where no restore takes it.
    fn keep_failed(&self, pending: Pending) -> Result<SetLocation>;
    /// Removes a set that nothing was written to (the run stopped before backing up).
    fn discard(&self, pending: Pending) -> Result<()>;
    /// Deletes a set (prune).
    fn remove(&self, entry: &SetEntry) -> Result<()>;
}

/// A listing in time order, with `latest` marked: the good set the repository's own
/// pointer names, else the newest good set (a pointer left at a pruned or failed set
/// never makes a restore take something else).
fn in_order(mut sets: Vec<SetEntry>, pointed: Option<String>) -> Vec<SetEntry> {
    sets.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
    let latest = sets
        .iter()
        .rposition(|e| e.state == SetState::Good && Some(&e.name) == pointed.as_ref())
        .or_else(|| sets.iter().rposition(|e| e.state == SetState::Good));
    if let Some(i) = latest {
        sets[i].latest = true;
    }
    sets
}

/// The set `name` names in a listing, or the latest good one for none or `latest`.
fn pick(sets: Vec<SetEntry>, name: Option<&str>, location: &str) -> Result<SetEntry> {
    match name.filter(|n| *n != LATEST) {
        None => sets.into_iter().find(|e| e.latest).ok_or_else(|| {
            Error::Refused(format!("the repository {location} holds no good set yet"))
        }),
        Some(n) => {
            check_name(n)?;
            sets.into_iter().find(|e| e.name == n).ok_or_else(|| {
                Error::Refused(format!(
                    "the repository {location} has no set {n} (`host list --repo {location}` shows them)"
                ))
            })
        }
    }
}

/// What a set's listing says of it: a set recorded good whose manifest.json cannot be
/// read is incomplete, and a good set's size is what its manifest records.
fn described(
    state: SetState,
    manifest: &Option<SetManifest>,
    on_store: impl FnOnce() -> u64,
) -> (SetState, u64) {
    let state = match (state, manifest) {
        (SetState::Good, None) => SetState::Incomplete,
        (s, _) => s,
    };
    let bytes = match (manifest, state) {
        (Some(m), SetState::Good) => m
            .components
            .values()
            .flat_map(|c| &c.artifacts)
            .map(|a| a.size)
            .sum(),
        _ => on_store(),
    };
    (state, bytes)
}

/// A set name: the UTC time a backup started and its run id's kind and random part,
/// `20261125T101500Z-backup-3f9a0c`. Nothing else is taken for a set: a repository
/// directory may hold other files, and `prune` never touches them.
pub fn check_name(name: &str) -> Result<DateTime<Utc>> {
    let bad = || {
        Error::Invalid(format!(
            "`{name}` is not a set name (such as 20261125T101500Z-backup-3f9a0c, as `host list` shows them)"
        ))
    };
    if name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(bad());
    }
    let (stamp, rest) = name.split_at_checked(16).ok_or_else(bad)?;
    if !rest.starts_with('-') || rest.len() < 2 {
        return Err(bad());
    }
    let time = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").map_err(|_| bad())?;
    Ok(time.and_utc())
}

/// Opens `--repo`: `s3://bucket/prefix`, or a local directory.
pub fn open(location: &Path, create: bool) -> Result<Box<dyn Repository>> {
    if let Some(url) = location.to_str().filter(|l| l.starts_with("s3://")) {
        let prefix = crate::backup_set::objects::open_s3(url)?;
        let repo = if create {
            objects::ObjectRepository::create(prefix)?
        } else {
            objects::ObjectRepository::open(prefix)?
        };
        return Ok(Box::new(repo));
    }
    let repo = if create {
        local::LocalRepository::create(location)?
    } else {
        local::LocalRepository::open(location)?
    };
    Ok(Box::new(repo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_carry_their_time() {
        let t = check_name("20261125T101500Z-backup-3f9a0c").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T10:15:00+00:00");
        for bad in [
            "latest",
            "20261125T101500Z",
            "20261125T101500Z-",
            "2026112XT101500Z-backup-1",
            "20261125T101500Z-../x",
            "20261125T101500Z-backup-3f9a0c.failed",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
