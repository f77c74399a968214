//! The backup set: a directory with the manual's file names (system-mysql-backup.gz,
//! backend-redis-dump.rdb, system/, ...), a `manifest.json`, and `runs/` with each run's
//! audit log and journal. A plugin's backup writes into a staging directory inside the
//! set; only when its hook succeeds are the artifacts moved into place and recorded.

pub mod artifacts;
pub mod manifest;
pub mod tar_stream;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

use crate::error::{Error, Result};
use artifacts::{ArtifactStore, FileDigest};
use contract::manifest::{Format, Manifest};
use manifest::{ArtifactRecord, SetManifest};

pub struct BackupSet {
    path: PathBuf,
    dir: Dir,
}

const STAGING: &str = ".staging";
pub const RUNS: &str = "runs";

impl BackupSet {
    /// Opens the set, creating the directory for a backup.
    pub fn create(path: &Path) -> Result<BackupSet> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        Self::open(path)
    }

    pub fn open(path: &Path) -> Result<BackupSet> {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::bad_set(path, "no such directory")
            } else {
                Error::io(path, e)
            }
        })?;
        Ok(BackupSet {
            path: path.to_path_buf(),
            dir,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.path.join(RUNS).join(run_id)
    }

    /// The set itself, for reading during a restore.
    pub fn reader(&self) -> Result<Arc<ArtifactStore>> {
        let dir = self.dir.try_clone().map_err(|e| Error::io(&self.path, e))?;
        Ok(Arc::new(ArtifactStore::new(dir, self.path.clone())))
    }

    /// A fresh staging directory for one plugin's backup.
    pub fn staging(&self, run_id: &str, plugin: &str) -> Result<Arc<ArtifactStore>> {
        let rel = format!("{STAGING}/{run_id}/{plugin}");
        let shown = self.path.join(&rel);
        let _ = self.dir.remove_dir_all(&rel);
        self.dir
            .create_dir_all(&rel)
            .map_err(|e| Error::io(&shown, e))?;
        let dir = self.dir.open_dir(&rel).map_err(|e| Error::io(&shown, e))?;
        Ok(Arc::new(ArtifactStore::new(dir, shown)))
    }

    pub fn discard_staging(&self, run_id: &str) {
        let _ = self.dir.remove_dir_all(format!("{STAGING}/{run_id}"));
        let _ = self.dir.remove_dir(STAGING);
    }

    /// Moves a plugin's staged artifacts into the set, replacing older ones, and returns
    /// their records. Every declared, non-optional artifact must have been written.
    pub fn commit(
        &self,
        run_id: &str,
        manifest: &Manifest,
        staged: &ArtifactStore,
    ) -> Result<Vec<ArtifactRecord>> {
        let written = staged.written();
        let mut records = Vec::new();
        let staging = format!("{STAGING}/{run_id}/{}", manifest.name);
        for artifact in &manifest.artifacts {
            let files: BTreeMap<&String, &FileDigest> = written
                .iter()
                .filter(|(p, _)| {
                    **p == artifact.path || p.starts_with(&format!("{}/", artifact.path))
                })
                .collect();
            let staged_path = format!("{staging}/{}", artifact.path);
            let present = self.dir.symlink_metadata(&staged_path).is_ok();
            if !present {
                if artifact.optional {
                    continue;
                }
                return Err(Error::Plugin {
                    plugin: manifest.name.clone(),
                    hook: contract::Hook::Backup,
                    message: format!("finished without writing its artifact `{}`", artifact.path),
                });
            }
            if artifact.format != Format::Tree && files.is_empty() {
                return Err(Error::Plugin {
                    plugin: manifest.name.clone(),
                    hook: contract::Hook::Backup,
                    message: format!(
                        "artifact `{}` was not written through the host",
                        artifact.path
                    ),
                });
            }
            for (path, digest) in files {
                records.push(ArtifactRecord {
                    path: path.clone(),
                    artifact: artifact.path.clone(),
                    format: artifact.format,
                    size: digest.size,
                    sha256: digest.sha256.clone(),
                });
            }
            // Make room in the set: the old artifact goes aside, then away, once the new
            // one is in place.
            let aside = format!(
                "{STAGING}/{run_id}/replaced-{}",
                artifact.path.replace('/', "_")
            );
            let had_old = self.dir.symlink_metadata(&artifact.path).is_ok();
            if had_old {
                self.dir
                    .rename(&artifact.path, &self.dir, &aside)
                    .map_err(|e| Error::io(self.path.join(&artifact.path), e))?;
            }
            if let Some(parent) = Path::new(&artifact.path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                self.dir
                    .create_dir_all(parent)
                    .map_err(|e| Error::io(self.path.join(parent), e))?;
            }
            self.dir
                .rename(&staged_path, &self.dir, &artifact.path)
                .map_err(|e| Error::io(self.path.join(&artifact.path), e))?;
            if had_old {
                let _ = self
                    .dir
                    .remove_dir_all(&aside)
                    .or_else(|_| self.dir.remove_file(&aside));
            }
        }
        Ok(records)
    }

    pub fn manifest(&self) -> Result<Option<SetManifest>> {
        match self.dir.read(manifest::FILE) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::bad_set(
                    &self.path,
                    format!("{} is not a backup set manifest: {e}", manifest::FILE),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(self.path.join(manifest::FILE), e)),
        }
    }

    /// Written to a temporary name and renamed, so a reader never sees half a manifest.
    pub fn write_manifest(&self, m: &SetManifest) -> Result<()> {
        let tmp = format!("{}.tmp", manifest::FILE);
        let text = serde_json::to_vec_pretty(m).expect("manifest serialises");
        let mut file = self
            .dir
            .create(&tmp)
            .map_err(|e| Error::io(self.path.join(&tmp), e))?;
        std::io::Write::write_all(&mut file, &text)
            .map_err(|e| Error::io(self.path.join(&tmp), e))?;
        file.sync_all()
            .map_err(|e| Error::io(self.path.join(&tmp), e))?;
        self.dir
            .rename(&tmp, &self.dir, manifest::FILE)
            .map_err(|e| Error::io(self.path.join(manifest::FILE), e))
    }
}
