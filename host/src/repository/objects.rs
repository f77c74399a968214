//! A repository in an object store (`--repo s3://bucket/prefix`):
//!
//! ```text
//! PREFIX/
//!   repository.json        marks the prefix as a repository (format)
//!   latest                 the newest good set's name
//!   NAME/...               a set, with the manual's names (see backup_set/objects.rs)
//!   .sets/NAME.json        where the set stands: running, good, failed, deleting
//! ```
//!
//! An object store renames nothing (a "rename" is a copy of every object), so a set is
//! written where it stays, and its state is a small object of its own, written after the
//! set's last object: a set counts as good only once `.sets/NAME.json` says so, and it
//! says so only after manifest.json and the verification. Each of those writes is one
//! PUT, which S3 makes visible whole or not at all.
//!
//! There is no lock to hold in S3. A backup records its host and pid; on that host, a
//! set whose backup process is gone is incomplete. A set still "running" as written by
//! another host cannot be told from one whose host died, so prune leaves it alone and
//! `host list` says which host wrote it.

use chrono::Utc;

use super::{LATEST, Pending, Repository, SetEntry, SetState, check_name};
use crate::backup_set::blocking::block_on;
use crate::backup_set::objects::ObjectPrefix;
use crate::backup_set::{BackupSet, SetLocation, seal};
use crate::error::{Error, Result};

const MARKER: &str = "repository.json";
const FORMAT: &str = "host-repository/1";
const STATES: &str = ".sets";
/// A set's state record is a few hundred bytes; anything bigger is not ours.
const MAX_RECORD: u64 = 64 * 1024;

pub struct ObjectRepository {
    root: ObjectPrefix,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StateRecord {
    state: String,
    host: String,
    pid: u32,
    since: String,
}

impl ObjectRepository {
    /// Opens a repository, making it if the prefix is empty. A prefix that holds other
    /// objects is refused: `prune` must never be pointed at someone else's bucket.
    pub fn create(root: ObjectPrefix) -> Result<ObjectRepository> {
        if block_on(root.head(MARKER))?.is_none() {
            let (dirs, objects) = block_on(root.children())?;
            if !dirs.is_empty() || !objects.is_empty() {
                return Err(Error::Invalid(format!(
                    "{} is not a backup repository (it has no {MARKER}) and is not empty: give a new or empty prefix to --repo",
                    root.url()
                )));
            }
            let text = serde_json::json!({ "format": FORMAT }).to_string();
            block_on(root.put_small(MARKER, text.into_bytes()))?;
        }
        Self::open(root)
    }

    pub fn open(root: ObjectPrefix) -> Result<ObjectRepository> {
        let text = block_on(root.get_small(MARKER, MAX_RECORD))?.ok_or_else(|| {
            Error::Invalid(format!(
                "{} is not a backup repository (no {MARKER}; `host backup --repo` makes one)",
                root.url()
            ))
        })?;
        let format = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["format"].as_str().map(str::to_string));
        if format.as_deref() != Some(FORMAT) {
            return Err(Error::Invalid(format!(
                "{} is a repository of another format ({}); this host reads {FORMAT}",
                root.url(),
                format.unwrap_or_else(|| "unreadable".into())
            )));
        }
        Ok(ObjectRepository { root })
    }

    fn state_key(name: &str) -> String {
        format!("{STATES}/{name}.json")
    }

    fn record(&self, name: &str) -> Option<StateRecord> {
        let bytes = block_on(self.root.get_small(&Self::state_key(name), MAX_RECORD))
            .ok()
            .flatten()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn set_state(&self, name: &str, state: &str) -> Result<()> {
        let record = StateRecord {
            state: state.to_string(),
            host: hostname(),
            pid: std::process::id(),
            since: Utc::now().to_rfc3339(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| Error::Invalid(e.to_string()))?;
        block_on(self.root.put_small(&Self::state_key(name), bytes))
    }

    fn latest_name(&self) -> Option<String> {
        let bytes = block_on(self.root.get_small(LATEST, 1024)).ok().flatten()?;
        let name = String::from_utf8(bytes).ok()?.trim().to_string();
        check_name(&name).ok()?;
        Some(name)
    }

    fn entry(&self, name: &str) -> Option<SetEntry> {
        let time = check_name(name).ok()?;
        let record = self.record(name);
        let state = match record.as_ref().map(|r| r.state.as_str()) {
            Some("good") => SetState::Good,
            Some("failed") => SetState::Failed,
            Some("running") => {
                let r = record.as_ref().expect("matched");
                if r.host == hostname() && !alive(r.pid) {
                    SetState::Incomplete
                } else {
                    SetState::Running
                }
            }
            // Being pruned: already out of sight.
            Some("deleting") => return None,
            _ => SetState::Incomplete,
        };
        let prefix = self.root.child(name);
        let location = SetLocation::Objects(prefix.clone());
        let set = BackupSet::at(&location, false).ok()?;
        let manifest = set.manifest().ok().flatten();
        let sealed = block_on(prefix.head(seal::FILE)).ok().flatten().is_some();
        let (state, bytes) = super::described(state, &manifest, || {
            block_on(prefix.list(""))
                .map(|objects| objects.iter().map(|(_, size)| size).sum())
                .unwrap_or(0)
        });
        Some(SetEntry {
            name: name.to_string(),
            state,
            location,
            latest: false,
            time,
            manifest,
            bytes,
            sealed,
        })
    }
}

impl Repository for ObjectRepository {
    fn location(&self) -> String {
        self.root.url().to_string()
    }

    fn list(&self) -> Result<Vec<SetEntry>> {
        // A set is named by its state record, or by its objects alone (a backup that
        // died before its record, or a set copied in by hand).
        let (dirs, _) = block_on(self.root.children())?;
        let recorded = block_on(self.root.list(STATES))?;
        let mut names: Vec<String> = recorded
            .iter()
            .filter_map(|(key, _)| {
                key.strip_prefix(&format!("{STATES}/"))?
                    .strip_suffix(".json")
            })
            .map(str::to_string)
            .chain(dirs)
            .filter(|d| check_name(d).is_ok())
            .collect();
        names.sort();
        names.dedup();
        let sets = names.iter().filter_map(|d| self.entry(d)).collect();
        Ok(super::in_order(sets, self.latest_name()))
    }

    fn resolve(&self, name: Option<&str>) -> Result<SetEntry> {
        super::pick(self.list()?, name, &self.location())
    }

    fn begin(&self, name: &str) -> Result<Pending> {
        check_name(name)?;
        if block_on(self.root.head(&Self::state_key(name)))?.is_some() {
            return Err(Error::Refused(format!(
                "{} already has a set {name}",
                self.location()
            )));
        }
        self.set_state(name, "running")?;
        Ok(Pending {
            name: name.to_string(),
            location: SetLocation::Objects(self.root.child(name)),
            _lock: None,
        })
    }

    fn commit(&self, pending: Pending) -> Result<SetLocation> {
        self.set_state(&pending.name, "good")?;
        let newer = self
            .latest_name()
            .filter(|l| *l > pending.name)
            .is_some_and(|l| self.record(&l).is_some_and(|r| r.state == "good"));
        if !newer {
            block_on(
                self.root
                    .put_small(LATEST, pending.name.clone().into_bytes()),
            )?;
        }
        Ok(pending.location)
    }

    fn keep_failed(&self, pending: Pending) -> Result<SetLocation> {
        self.set_state(&pending.name, "failed")?;
        Ok(pending.location)
    }

    fn discard(&self, pending: Pending) -> Result<()> {
        block_on(self.root.delete_all(&pending.name))?;
        block_on(self.root.delete(&Self::state_key(&pending.name)))
    }

    fn remove(&self, entry: &SetEntry) -> Result<()> {
        if entry.state == SetState::Running {
            return Err(Error::Refused(format!(
                "set {} is being written by a running backup",
                entry.name
            )));
        }
        // Out of sight first, so no half-deleted set is ever listed or restored.
        self.set_state(&entry.name, "deleting")?;
        block_on(self.root.delete_all(&entry.name))?;
        block_on(self.root.delete(&Self::state_key(&entry.name)))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    let found = unsafe { libc::kill(pid as i32, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_set::manifest::SetManifest;
    use std::sync::Arc;

    fn repo() -> ObjectRepository {
        let store = Arc::new(object_store::memory::InMemory::new());
        ObjectRepository::create(ObjectPrefix::new(store, "s3://b", "backups")).unwrap()
    }

    fn good(repo: &ObjectRepository, name: &str) {
        let p = repo.begin(name).unwrap();
        let set = BackupSet::at(&p.location, true).unwrap();
        set.write_manifest(&SetManifest::new("3scale", Some("2.15".into()), "t".into()))
            .unwrap();
        repo.commit(p).unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sets_are_good_failed_or_incomplete_by_their_state_record() {
        let repo = repo();
        assert!(repo.resolve(None).is_err(), "no good set yet");
        good(&repo, "20260101T000000Z-backup-aaaaaa");
        let failed = repo.begin("20260102T000000Z-backup-bbbbbb").unwrap();
        repo.keep_failed(failed).unwrap();
        let running = repo.begin("20260103T000000Z-backup-cccccc").unwrap();
        let sets = repo.list().unwrap();
        let states: Vec<(SetState, bool)> = sets.iter().map(|e| (e.state, e.latest)).collect();
        assert_eq!(
            states,
            [
                (SetState::Good, true),
                (SetState::Failed, false),
                (SetState::Running, false)
            ]
        );
        assert!(
            repo.remove(&sets[2]).is_err(),
            "a running backup's set stays"
        );
        drop(running);
        // An older set committed late does not take `latest` from a newer one.
        good(&repo, "20260105T000000Z-backup-eeeeee");
        good(&repo, "20260104T000000Z-backup-dddddd");
        assert_eq!(
            repo.resolve(None).unwrap().name,
            "20260105T000000Z-backup-eeeeee"
        );
        let first = repo
            .resolve(Some("20260101T000000Z-backup-aaaaaa"))
            .unwrap();
        repo.remove(&first).unwrap();
        let names: Vec<String> = repo.list().unwrap().into_iter().map(|e| e.name).collect();
        assert!(!names.contains(&"20260101T000000Z-backup-aaaaaa".to_string()));
        assert!(
            block_on(repo.root.list("20260101T000000Z-backup-aaaaaa"))
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_prefix_with_other_objects_is_not_made_a_repository() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let root = ObjectPrefix::new(store, "s3://b", "mine");
        block_on(root.put_small("notes.txt", b"x".to_vec())).unwrap();
        assert!(ObjectRepository::create(root.clone()).is_err());
        assert!(ObjectRepository::open(root).is_err());
    }
}
