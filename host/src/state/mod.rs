//! The user's local state directory: `$XDG_STATE_HOME/host` (else
//! `~/.local/state/host`), or `--state-dir`. It holds the journal key and the run state of
//! restores and resumes (their audit logs, journals and step logs, under `runs/ID/`).
//!
//! Run state lives here rather than in the backup set so that a set can be restored
//! read-only (a `chmod -R a-w` copy, a read-only bind mount, later an object store), and
//! so that what a restore must put back stays with the machine and the user who changed
//! the cluster, not with a set that can be copied, pruned or handed to someone else.
//! Backups still keep their audit log inside the set they write: it documents the set.

pub mod bounded;
pub mod runs;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::journal::JournalKey;

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// `$XDG_STATE_HOME/host` (an absolute XDG_STATE_HOME only, as the spec asks), else
    /// `~/.local/state/host`.
    pub fn default_root() -> Option<PathBuf> {
        std::env::var_os("XDG_STATE_HOME")
            .filter(|d| Path::new(d).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
            .map(|d| d.join("host"))
    }

    /// `--state-dir`, else the default.
    pub fn new(given: Option<PathBuf>) -> Result<StateDir> {
        let root = given.or_else(Self::default_root).ok_or_else(|| {
            Error::Invalid(
                "no --state-dir, and neither XDG_STATE_HOME nor HOME is set to find the default"
                    .into(),
            )
        })?;
        Ok(StateDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn journal_key(&self) -> Result<JournalKey> {
        JournalKey::at(&self.root.join("journal.key"))
    }

    /// Where restores and resumes keep their run state.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Makes the directory (0700) and checks it is the user's alone: journals in it are
    /// acted on, and audit logs in it name every Secret a run touched.
    pub fn ensure_private(&self, dir: &Path) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(dir, e))?;
        let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io(dir, e))?;
        // SAFETY: getuid has no preconditions.
        let me = unsafe { libc::getuid() };
        if !meta.is_dir() || meta.uid() != me || meta.permissions().mode() & 0o022 != 0 {
            return Err(Error::Refused(format!(
                "the state directory {} must be a directory that belongs to you and that others cannot write (chmod 700)",
                dir.display()
            )));
        }
        Ok(())
    }
}
