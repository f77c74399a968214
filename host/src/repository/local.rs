//! A repository in a local directory:
//!
//! ```text
//! REPO/
//!   repository.json           marks the directory as a repository (format)
//!   latest -> NAME            the newest good set (a relative symlink, replaced by rename)
//!   NAME/                     a good set: complete and verified when put in place
//!   NAME.failed/              a backup that failed: kept to read why, never restored
//!   .staging/NAME/            a backup being written (NAME.lock held while it runs)
//!   .deleting/                sets being pruned, out of sight before they are removed
//! ```
//!
//! Every move is a rename within REPO, so a set is whole wherever it is seen, and a
//! reader never finds `latest` half written.

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{LATEST, Pending, Repository, SetEntry, SetState, check_name};
use crate::backup_set::{BackupSet, SetLocation};
use crate::error::{Error, Result};

const MARKER: &str = "repository.json";
const FORMAT: &str = "host-repository/1";
const STAGING: &str = ".staging";
const DELETING: &str = ".deleting";
const FAILED: &str = ".failed";

pub struct LocalRepository {
    root: PathBuf,
}

fn private_dir(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

impl LocalRepository {
    /// Opens a repository, making it if the directory is new or empty. A directory that
    /// holds other things is refused: `prune` must never be pointed at a home directory.
    pub fn create(root: &Path) -> Result<LocalRepository> {
        if !root.join(MARKER).exists() {
            let empty = match std::fs::read_dir(root) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(Error::io(root, e)),
            };
            if !empty {
                return Err(Error::Invalid(format!(
                    "{} is not a backup repository (it has no {MARKER}) and is not empty: give a new or empty directory to --repo, or use --backup-dir for one set",
                    root.display()
                )));
            }
            private_dir(root)?;
            let marker = root.join(MARKER);
            let text = serde_json::json!({ "format": FORMAT }).to_string();
            std::fs::write(&marker, text).map_err(|e| Error::io(&marker, e))?;
        }
        Self::open(root)
    }

    pub fn open(root: &Path) -> Result<LocalRepository> {
        let marker = root.join(MARKER);
        let text = std::fs::read_to_string(&marker).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Invalid(format!(
                "{} is not a backup repository (no {MARKER}; `host backup --repo` makes one)",
                root.display()
            )),
            _ => Error::io(&marker, e),
        })?;
        let format = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["format"].as_str().map(str::to_string));
        if format.as_deref() != Some(FORMAT) {
            return Err(Error::Invalid(format!(
                "{} is a repository of another format ({}); this host reads {FORMAT}",
                root.display(),
                format.unwrap_or_else(|| "unreadable".into())
            )));
        }
        Ok(LocalRepository {
            root: root.to_path_buf(),
        })
    }

    /// What `latest` names, if it names a set.
    fn latest_name(&self) -> Option<String> {
        let target = std::fs::read_link(self.root.join(LATEST)).ok()?;
        let name = target.to_str()?.to_string();
        check_name(&name).ok()?;
        Some(name)
    }

    /// Points `latest` at `name`: a new symlink renamed over the old one.
    fn set_latest(&self, name: &str) -> Result<()> {
        let tmp = self.root.join(".latest.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(name, &tmp).map_err(|e| Error::io(&tmp, e))?;
        let latest = self.root.join(LATEST);
        std::fs::rename(&tmp, &latest).map_err(|e| Error::io(&latest, e))
    }

    fn entry(&self, name: &str, state: SetState, path: PathBuf) -> Option<SetEntry> {
        let time = check_name(name).ok()?;
        let (manifest, sealed) = match BackupSet::open(&path) {
            Ok(set) => (
                set.manifest().ok().flatten(),
                path.join(crate::backup_set::seal::FILE).is_file(),
            ),
            Err(_) => (None, false),
        };
        let (state, bytes) = super::described(state, &manifest, || disk_usage(&path));
        Some(SetEntry {
            name: name.to_string(),
            state,
            location: SetLocation::Dir(path),
            latest: false,
            time,
            manifest,
            bytes,
            sealed,
        })
    }
}

impl Repository for LocalRepository {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self) -> Result<Vec<SetEntry>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            // A symlink is never a set: only `latest` is one, and it only points.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let (name, state) = match file_name.strip_suffix(FAILED) {
                Some(name) => (name.to_string(), SetState::Failed),
                None => (file_name.clone(), SetState::Good),
            };
            out.extend(self.entry(&name, state, entry.path()));
        }
        let staging = self.root.join(STAGING);
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for entry in entries.filter_map(|e| e.ok()) {
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let state = if running(&staging.join(format!("{name}.lock"))) {
                    SetState::Running
                } else {
                    SetState::Incomplete
                };
                out.extend(self.entry(&name, state, entry.path()));
            }
        }
        Ok(super::in_order(out, self.latest_name()))
    }

    fn resolve(&self, name: Option<&str>) -> Result<SetEntry> {
        // A failed set is asked for by its name, with or without the directory's suffix.
        let name = name.map(|n| n.strip_suffix(FAILED).unwrap_or(n));
        super::pick(self.list()?, name, &self.location())
    }

    fn begin(&self, name: &str) -> Result<Pending> {
        check_name(name)?;
        let staging = self.root.join(STAGING);
        private_dir(&staging)?;
        let lock_path = staging.join(format!("{name}.lock"));
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        let path = staging.join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Pending {
            name: name.to_string(),
            location: SetLocation::Dir(path),
            _lock: Some(lock),
        })
    }

    fn commit(&self, pending: Pending) -> Result<SetLocation> {
        let to = self.root.join(&pending.name);
        std::fs::rename(staged(&pending), &to).map_err(|e| Error::io(&to, e))?;
        let newer = self
            .latest_name()
            .filter(|l| self.root.join(l).is_dir())
            .is_some_and(|l| l > pending.name);
        if !newer {
            self.set_latest(&pending.name)?;
        }
        release(&self.root, pending);
        Ok(SetLocation::Dir(to))
    }

    fn keep_failed(&self, pending: Pending) -> Result<SetLocation> {
        let to = self.root.join(format!("{}{FAILED}", pending.name));
        std::fs::rename(staged(&pending), &to).map_err(|e| Error::io(&to, e))?;
        release(&self.root, pending);
        Ok(SetLocation::Dir(to))
    }

    fn discard(&self, pending: Pending) -> Result<()> {
        remove_tree(staged(&pending))?;
        release(&self.root, pending);
        Ok(())
    }

    fn remove(&self, entry: &SetEntry) -> Result<()> {
        if entry.state == SetState::Running {
            return Err(Error::Refused(format!(
                "set {} is being written by a running backup",
                entry.name
            )));
        }
        // Out of sight first, so no half-deleted set is ever listed or restored.
        let deleting = self.root.join(DELETING);
        private_dir(&deleting)?;
        let aside = deleting.join(&entry.name);
        let path = entry.location.shown();
        std::fs::rename(&path, &aside).map_err(|e| Error::io(&path, e))?;
        remove_tree(&aside)?;
        let _ = std::fs::remove_file(self.root.join(STAGING).join(format!("{}.lock", entry.name)));
        Ok(())
    }
}

/// Where a pending set of this repository is being written.
fn staged(pending: &Pending) -> &Path {
    pending
        .location
        .local()
        .expect("a local repository's sets are directories")
}

/// Whether a backup holds the set's lock.
fn running(lock: &Path) -> bool {
    match File::open(lock) {
        Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

fn release(root: &Path, pending: Pending) {
    let lock = root.join(STAGING).join(format!("{}.lock", pending.name));
    let _ = std::fs::remove_file(lock);
    drop(pending);
    let _ = std::fs::remove_dir(root.join(STAGING));
}

/// Deletes a set, first giving its directories back the owner's write bit: a set made
/// read-only (`chmod -R a-w`) is still the user's to prune.
fn remove_tree(path: &Path) -> Result<()> {
    fn writable(dir: &Path) {
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return;
        };
        if !meta.is_dir() {
            return;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.filter_map(|e| e.ok()) {
                writable(&e.path());
            }
        }
    }
    writable(path);
    std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))
}

/// Bytes of the regular files under `path`, links not followed.
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| disk_usage(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_set::manifest::SetManifest;

    fn good(repo: &LocalRepository, name: &str) -> PathBuf {
        let p = repo.begin(name).unwrap();
        let set = BackupSet::open(staged(&p)).unwrap();
        set.write_manifest(&SetManifest::new("3scale", Some("2.15".into()), "t".into()))
            .unwrap();
        repo.commit(p).unwrap().shown()
    }

    #[test]
    fn sets_are_committed_or_kept_failed_and_latest_follows_the_newest_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let repo = LocalRepository::create(&root).unwrap();
        assert!(repo.resolve(None).is_err(), "no good set yet");
        good(&repo, "20260101T000000Z-backup-aaaaaa");
        let failed = repo.begin("20260102T000000Z-backup-bbbbbb").unwrap();
        let failed_path = repo.keep_failed(failed).unwrap().shown();
        assert!(failed_path.ends_with("20260102T000000Z-backup-bbbbbb.failed"));
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
        assert_eq!(
            repo.resolve(Some("latest")).unwrap().name,
            "20260101T000000Z-backup-aaaaaa"
        );
        // A backup killed: its lock is no longer held.
        drop(running);
        let sets = repo.list().unwrap();
        assert_eq!(sets[2].state, SetState::Incomplete);
        // An older set committed late does not take `latest` from a newer one.
        good(&repo, "20260105T000000Z-backup-eeeeee");
        good(&repo, "20260104T000000Z-backup-dddddd");
        assert_eq!(
            std::fs::read_link(root.join("latest")).unwrap(),
            Path::new("20260105T000000Z-backup-eeeeee")
        );
        let mode = std::fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_directory_with_other_things_is_not_made_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(LocalRepository::create(dir.path()).is_err());
        assert!(LocalRepository::open(dir.path()).is_err());
    }

    #[test]
    fn a_read_only_set_is_pruned_and_never_seen_half_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalRepository::create(&dir.path().join("r")).unwrap();
        let path = good(&repo, "20260101T000000Z-backup-aaaaaa");
        std::fs::create_dir(path.join("system")).unwrap();
        std::fs::write(path.join("system/f"), "x").unwrap();
        for p in [path.join("system"), path.clone()] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o500)).unwrap();
        }
        let entry = repo.list().unwrap().remove(0);
        repo.remove(&entry).unwrap();
        assert!(!path.exists());
        assert!(repo.list().unwrap().is_empty());
    }
}
