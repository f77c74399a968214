//! The backup set: a directory with the manual's file names (system-mysql-backup.gz,
//! backend-redis-dump.rdb, system/, ...), a `manifest.json`, and `runs/` with each run's
//! audit log and journal. A plugin's backup writes into a staging directory inside the
//! set; only when its hook succeeds are the artifacts moved into place and recorded.
//!
//! A set can also be a prefix in an object store (a repository on `s3://`, see
//! `objects.rs`), with the same names. There a set is always new (each backup into a
//! repository makes one), so files are uploaded under their own names at once, and a
//! component's files count only once manifest.json records them; its runs are in the
//! local state directory.

pub mod artifacts;
pub mod blocking;
pub mod encryption;
pub mod incremental;
pub mod limits;
pub mod manifest;
pub mod manifest_stream;
pub mod objects;
pub mod open_beneath;
pub mod private;
pub mod record_check;
pub mod seal;
pub mod sink;
pub mod tar_stream;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::Dir;

use crate::error::{Error, Result};
use artifacts::{ArtifactStore, FileDigest};
use blocking::block_on;
use contract::manifest::{Format, Manifest};
use encryption::{Keys, Mode};
use manifest::{ArtifactRecord, SetManifest};
use objects::ObjectPrefix;

/// Where a set is: a directory, or a prefix in an object store.
#[derive(Debug, Clone)]
pub enum SetLocation {
    Dir(PathBuf),
    Objects(ObjectPrefix),
}

impl SetLocation {
    /// The directory, or the `s3://` URL, as messages and reports show it.
    pub fn shown(&self) -> PathBuf {
        match self {
            SetLocation::Dir(p) => p.clone(),
            SetLocation::Objects(o) => PathBuf::from(o.url()),
        }
    }

    pub fn local(&self) -> Option<&Path> {
        match self {
            SetLocation::Dir(p) => Some(p),
            SetLocation::Objects(_) => None,
        }
    }
}

impl From<PathBuf> for SetLocation {
    fn from(p: PathBuf) -> Self {
        SetLocation::Dir(p)
    }
}

impl std::fmt::Display for SetLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shown().display().fmt(f)
    }
}

enum Backing {
    Dir(Dir),
    Objects(ObjectPrefix),
}

pub struct BackupSet {
    /// The directory, or the object store's URL: for messages.
    path: PathBuf,
    at: Backing,
    keys: Keys,
    /// Whether manifest.json says the set is encrypted: read once, kept as it is written.
    encrypted: std::sync::Mutex<Option<bool>>,
    /// The key a passphrase opened from set-key.age, once it has.
    opened: std::sync::Mutex<Option<Arc<encryption::Identities>>>,
}

const STAGING: &str = ".staging";
pub const RUNS: &str = "runs";

impl BackupSet {
    /// Opens the set, creating the directory for a backup (0700: the set holds Secrets
    /// and database dumps, whatever the umask).
    pub fn create(path: &Path) -> Result<BackupSet> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|e| Error::io(path, e))?;
        Self::open(path)
    }

    /// Who else may read the set's directory itself, if anyone: a directory the user
    /// made beforehand keeps its mode (its files and subdirectories are private anyway).
    pub fn readable_by_others(&self) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        self.local_dir()?;
        let mode = std::fs::metadata(&self.path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
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
            at: Backing::Dir(dir),
            keys: Keys::default(),
            encrypted: std::sync::Mutex::new(None),
            opened: std::sync::Mutex::new(None),
        })
    }

    /// Opens a set wherever it is (a directory set for a backup is made if need be; an
    /// object set needs nothing made).
    pub fn at(location: &SetLocation, create: bool) -> Result<BackupSet> {
        match location {
            SetLocation::Dir(p) if create => Self::create(p),
            SetLocation::Dir(p) => Self::open(p),
            SetLocation::Objects(prefix) => Ok(BackupSet {
                path: PathBuf::from(prefix.url()),
                at: Backing::Objects(prefix.clone()),
                keys: Keys::default(),
                encrypted: std::sync::Mutex::new(None),
                opened: std::sync::Mutex::new(None),
            }),
        }
    }

    pub fn location(&self) -> SetLocation {
        match &self.at {
            Backing::Dir(_) => SetLocation::Dir(self.path.clone()),
            Backing::Objects(o) => SetLocation::Objects(o.clone()),
        }
    }

    /// The set's directory; `None` for a set in an object store.
    pub fn local_dir(&self) -> Option<&Path> {
        matches!(self.at, Backing::Dir(_)).then_some(self.path.as_path())
    }

    /// The keys a backup encrypts to or a restore decrypts with.
    pub fn with_keys(mut self, keys: Keys) -> BackupSet {
        self.keys = keys;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// manifest.json says the set's files are encrypted.
    pub fn encrypted(&self) -> Result<bool> {
        if let Some(e) = *self.encrypted.lock().unwrap() {
            return Ok(e);
        }
        let e = self
            .manifest_head()?
            .is_some_and(|m| m.encryption.is_some());
        *self.encrypted.lock().unwrap() = Some(e);
        Ok(e)
    }

    /// What a manifest just read says of encryption, so that [`BackupSet::reader`] does
    /// not read manifest.json once more to learn it.
    pub fn note_encryption(&self, m: &SetManifest) {
        *self.encrypted.lock().unwrap() = Some(m.encryption.is_some());
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A run's directory in a directory set (runs of object sets are in the state dir).
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.path.join(RUNS).join(run_id)
    }

    /// The set itself, for reading during a restore.
    pub fn reader(&self) -> Result<Arc<ArtifactStore>> {
        let mode = match (self.encrypted()?, &self.keys.identities) {
            (false, _) => Mode::Plain,
            (true, Some(keys)) => Mode::Decrypt(keys.clone()),
            (true, None) => match self.set_key()? {
                Some(keys) => Mode::Decrypt(keys),
                None => Mode::Locked,
            },
        };
        let store = match &self.at {
            Backing::Dir(dir) => {
                let dir = dir.try_clone().map_err(|e| Error::io(&self.path, e))?;
                ArtifactStore::new(dir, self.path.clone())
            }
            Backing::Objects(prefix) => ArtifactStore::objects(prefix.clone()),
        };
        Ok(Arc::new(store.with_mode(mode)))
    }

    /// With a passphrase: the set's own key, from set-key.age (one scrypt, then kept).
    fn set_key(&self) -> Result<Option<Arc<encryption::Identities>>> {
        let Some(passphrase) = &self.keys.passphrase else {
            return Ok(None);
        };
        if let Some(keys) = self.opened.lock().unwrap().clone() {
            return Ok(Some(keys));
        }
        let sealed = self
            .read_small(encryption::SET_KEY, encryption::MAX_SET_KEY)?
            .ok_or_else(|| {
                Error::Refused(format!(
                    "--passphrase-file was given, but the set {} has no {}: it was encrypted to keys only (--identity)",
                    self.path.display(),
                    encryption::SET_KEY
                ))
            })?;
        let keys = Arc::new(encryption::open_set_key(&sealed, passphrase, &self.path)?);
        *self.opened.lock().unwrap() = Some(keys.clone());
        Ok(Some(keys))
    }

    /// Keeps a passphrase set's key (see encryption.rs), written once per set.
    pub fn write_set_key(&self, sealed: &[u8]) -> Result<()> {
        self.write_atomic(encryption::SET_KEY, sealed)
    }

    pub fn has_set_key(&self) -> Result<bool> {
        Ok(self
            .read_small(encryption::SET_KEY, encryption::MAX_SET_KEY)?
            .is_some())
    }

    /// A fresh staging directory for one plugin's backup.
    pub fn staging(&self, run_id: &str, plugin: &str) -> Result<Arc<ArtifactStore>> {
        let mode = match &self.keys.recipients {
            Some(keys) => Mode::Encrypt(keys.clone()),
            None => Mode::Plain,
        };
        let dir = match &self.at {
            Backing::Dir(dir) => dir,
            // A new set: the files go under their own names (see the module's note).
            Backing::Objects(prefix) => {
                return Ok(Arc::new(
                    ArtifactStore::objects(prefix.clone()).with_mode(mode),
                ));
            }
        };
        let rel = format!("{STAGING}/{run_id}/{plugin}");
        let shown = self.path.join(&rel);
        let _ = dir.remove_dir_all(&rel);
        dir.create_dir_with(&rel, &private::dirs())
            .map_err(|e| Error::io(&shown, e))?;
        let staged = dir.open_dir(&rel).map_err(|e| Error::io(&shown, e))?;
        Ok(Arc::new(ArtifactStore::new(staged, shown).with_mode(mode)))
    }

    pub fn discard_staging(&self, run_id: &str) {
        if let Backing::Dir(dir) = &self.at {
            let _ = dir.remove_dir_all(format!("{STAGING}/{run_id}"));
            let _ = dir.remove_dir(STAGING);
        }
    }

    /// Moves a plugin's staged artifacts into the set, replacing older ones, and returns
    /// their records. Every declared, non-optional artifact must have been written.
    pub fn commit(
        &self,
        run_id: &str,
        manifest: &Manifest,
        staged: &ArtifactStore,
    ) -> Result<Vec<ArtifactRecord>> {
        // Moved, not copied, into the records: a tree's 100,000 paths and hashes are held
        // once.
        let mut written: Vec<(String, FileDigest)> = staged.take_written().into_iter().collect();
        let mut records = Vec::new();
        let staging = format!("{STAGING}/{run_id}/{}", manifest.name);
        for artifact in &manifest.artifacts {
            let under = format!("{}/", artifact.path);
            let files: Vec<(String, FileDigest)> = written
                .extract_if(.., |(p, _)| *p == artifact.path || p.starts_with(&under))
                .collect();
            let staged_path = format!("{staging}/{}", artifact.path);
            if files.is_empty() && !staged.staged(&artifact.path)? {
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
                    path,
                    artifact: artifact.path.clone(),
                    format: artifact.format,
                    size: digest.size,
                    sha256: digest.sha256,
                    plain_size: digest.plain_size,
                    mtime: digest.mtime,
                });
            }
            let Backing::Dir(dir) = &self.at else {
                // Written in place (see `staging`).
                continue;
            };
            // Make room in the set: the old artifact goes aside, then away, once the new
            // one is in place.
            let aside = format!(
                "{STAGING}/{run_id}/replaced-{}",
                artifact.path.replace('/', "_")
            );
            let had_old = dir.symlink_metadata(&artifact.path).is_ok();
            if had_old {
                dir.rename(&artifact.path, dir, &aside)
                    .map_err(|e| Error::io(self.path.join(&artifact.path), e))?;
            }
            if let Some(parent) = Path::new(&artifact.path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                dir.create_dir_with(parent, &private::dirs())
                    .map_err(|e| Error::io(self.path.join(parent), e))?;
            }
            dir.rename(&staged_path, dir, &artifact.path)
                .map_err(|e| Error::io(self.path.join(&artifact.path), e))?;
            if had_old {
                let _ = dir
                    .remove_dir_all(&aside)
                    .or_else(|_| dir.remove_file(&aside));
            }
        }
        Ok(records)
    }

    /// Puts everything written into the set on disk, before manifest.json records it:
    /// one syncfs for a component, where an fsync per file would cost a disk flush for
    /// each of system-storage's files.
    pub fn sync(&self) -> Result<()> {
        use std::os::fd::AsRawFd;
        if self.local_dir().is_none() {
            // Each upload was complete when its writer finished.
            return Ok(());
        }
        // cap-std holds the directory as O_PATH, which syncfs refuses: a plain descriptor.
        let dir = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        // SAFETY: the descriptor is open for the whole call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(Error::io(&self.path, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// manifest.json's bytes as a stream, up to [`limits::MAX_MANIFEST`] (a seal reads
    /// it twice: ed25519 signs a message in two passes).
    pub fn manifest_reader(&self) -> Result<Option<Box<dyn std::io::Read + Send>>> {
        self.open_small(manifest::FILE, limits::MAX_MANIFEST)
    }

    /// The manifest with every record, as a backup extends it.
    pub fn manifest(&self) -> Result<Option<SetManifest>> {
        let mut records: std::collections::BTreeMap<String, Vec<ArtifactRecord>> =
            Default::default();
        let read = self.read_manifest(&mut |_| {}, &mut |component, record| {
            records
                .entry(component.to_string())
                .or_default()
                .push(record);
            Ok(())
        })?;
        let Some(mut m) = read.transpose()? else {
            return Ok(None);
        };
        for (name, component) in m.components.iter_mut() {
            component.artifacts = records.remove(name).unwrap_or_default();
        }
        Ok(Some(m))
    }

    /// The manifest without its records (each still parsed, so a manifest that does not
    /// parse is refused here as it would be whole): what a restore asks of it before and
    /// besides verification, at the memory of its head only.
    pub fn manifest_head(&self) -> Result<Option<SetManifest>> {
        self.read_manifest(&mut |_| {}, &mut |_, _| Ok(()))?
            .transpose()
    }

    /// The 3scale version manifest.json records, unverified and read no further than
    /// that field: what a restore checks before verification (which reads it all).
    pub fn threescale_version(&self) -> Result<Option<String>> {
        use std::io::Read;
        let Some(file) = self.open_small(manifest::FILE, limits::MAX_MANIFEST)? else {
            return Ok(None);
        };
        let mut tap = |_: &[u8]| {};
        let reader = manifest_stream::Tapped::new(file.take(limits::MAX_MANIFEST), &mut tap);
        Ok(manifest_stream::threescale_version(reader))
    }

    /// manifest.json read as a stream (see `manifest_stream.rs`): `tap` sees every byte
    /// of it, `on_record` every record as it is parsed. The outer error is the file's (it
    /// could not be read, or is too big); the inner one, its content's, after `tap` has
    /// seen the rest of the file anyway, so a seal can still be checked first.
    pub fn read_manifest(
        &self,
        tap: &mut dyn FnMut(&[u8]),
        on_record: &mut manifest_stream::OnRecord<'_>,
    ) -> Result<Option<Result<SetManifest>>> {
        use std::io::Read;
        let name = manifest::FILE;
        let Some(file) = self.open_small(name, limits::MAX_MANIFEST)? else {
            return Ok(None);
        };
        let mut tapped = manifest_stream::Tapped::new(file.take(limits::MAX_MANIFEST + 1), tap);
        let parsed = manifest_stream::parse(&mut tapped, on_record);
        if matches!(parsed, Err(manifest_stream::Stop::Json(_))) {
            std::io::copy(&mut tapped, &mut std::io::sink())
                .map_err(|e| Error::io(self.path.join(name), e))?;
        }
        if tapped.read > limits::MAX_MANIFEST {
            return Err(Error::bad_set(
                &self.path,
                format!(
                    "{name} grew past {} while read",
                    crate::progress::human(limits::MAX_MANIFEST)
                ),
            ));
        }
        Ok(Some(parsed.map_err(|stop| self.not_a_manifest(stop))))
    }

    /// Parses manifest.json's `bytes`, as [`BackupSet::read_manifest`] reads the file.
    pub fn parse_manifest(
        &self,
        bytes: &[u8],
        on_record: &mut manifest_stream::OnRecord<'_>,
    ) -> Result<SetManifest> {
        manifest_stream::parse(bytes, on_record).map_err(|stop| self.not_a_manifest(stop))
    }

    fn not_a_manifest(&self, stop: manifest_stream::Stop) -> Error {
        match stop {
            manifest_stream::Stop::Record(e) => e,
            manifest_stream::Stop::Json(e) if e.is_io() => {
                Error::io(self.path.join(manifest::FILE), e.into())
            }
            manifest_stream::Stop::Json(e) => Error::bad_set(
                &self.path,
                format!("{} is not a backup set manifest: {e}", manifest::FILE),
            ),
        }
    }

    /// A file the host keeps in the set, refused if it is not a regular file or is
    /// bigger than `limit`.
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        use std::io::Read;
        if let Backing::Objects(prefix) = &self.at {
            return block_on(prefix.get_small(name, limit));
        }
        let Some(file) = self.open_small(name, limit)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(self.path.join(name), e))?;
        if bytes.len() as u64 > limit {
            return Err(Error::bad_set(
                &self.path,
                format!(
                    "{name} grew past {} while read",
                    crate::progress::human(limit)
                ),
            ));
        }
        Ok(Some(bytes))
    }

    /// A file the host keeps in the set, opened for reading: refused if it is not a
    /// regular file or is bigger than `limit` (its reader bounds what it reads).
    fn open_small(&self, name: &str, limit: u64) -> Result<Option<Box<dyn std::io::Read + Send>>> {
        let dir = match &self.at {
            Backing::Dir(dir) => dir,
            Backing::Objects(prefix) => {
                let Some(size) = block_on(prefix.head(name))? else {
                    return Ok(None);
                };
                if size > limit {
                    return Err(self.too_big(name, size, limit));
                }
                return prefix.blocking_reader(name).map(Some);
            }
        };
        let file = match dir.open_with(name, &private::reading()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(self.path.join(name), e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io(self.path.join(name), e))?;
        if !meta.is_file() {
            return Err(Error::bad_set(
                &self.path,
                format!("{name} is not a regular file"),
            ));
        }
        if meta.len() > limit {
            return Err(self.too_big(name, meta.len(), limit));
        }
        Ok(Some(Box::new(file.into_std())))
    }

    fn too_big(&self, name: &str, size: u64, limit: u64) -> Error {
        Error::bad_set(
            &self.path,
            format!(
                "{name} is {}, more than the {} a backup set's {name} may be: not read",
                crate::progress::human(size),
                crate::progress::human(limit)
            ),
        )
    }

    /// Written to a temporary name and renamed, so a reader never sees half a manifest.
    /// A seal is of one manifest's bytes: it goes first, so no set is left with a seal
    /// that no longer matches (see `seal.rs`).
    pub fn write_manifest(&self, m: &SetManifest) -> Result<()> {
        self.remove_seal()?;
        // Streamed to the file: the manifest of a 100,000-file tree is some 30 MB of
        // JSON, not held in memory beside its records.
        self.write_atomic_with(manifest::FILE, |w| {
            serde_json::to_writer_pretty(w, m).map_err(std::io::Error::other)
        })?;
        *self.encrypted.lock().unwrap() = Some(m.encryption.is_some());
        Ok(())
    }

    pub fn seal_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.read_small(seal::FILE, limits::MAX_SEAL)
    }

    pub fn write_seal(&self, bytes: &[u8]) -> Result<()> {
        self.write_atomic(seal::FILE, bytes)
    }

    fn remove_seal(&self) -> Result<()> {
        let dir = match &self.at {
            Backing::Dir(dir) => dir,
            Backing::Objects(prefix) => return block_on(prefix.delete(seal::FILE)),
        };
        match dir.remove_file(seal::FILE) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(self.path.join(seal::FILE), e)),
        }
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_atomic_with(name, |w| std::io::Write::write_all(w, bytes))
    }

    fn write_atomic_with(
        &self,
        name: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> Result<()> {
        let dir = match &self.at {
            Backing::Dir(dir) => dir,
            Backing::Objects(prefix) => return write_object(prefix, name, write),
        };
        let tmp = format!("{name}.tmp");
        let mut file = dir
            .open_with(&tmp, &private::new_file())
            .map_err(|e| Error::io(self.path.join(&tmp), e))?
            .into_std();
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &mut file);
        write(&mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| Error::io(self.path.join(&tmp), e))?;
        drop(out);
        file.sync_all()
            .map_err(|e| Error::io(self.path.join(&tmp), e))?;
        dir.rename(&tmp, dir, name)
            .map_err(|e| Error::io(self.path.join(name), e))
    }
}

/// An object written as a stream: an upload is seen whole or not at all, so no temporary
/// name is needed.
fn write_object(
    prefix: &ObjectPrefix,
    name: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut upload = blocking::Blocking(prefix.writer(name)?);
    let shown = PathBuf::from(prefix.shown(name));
    {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, &mut upload);
        write(&mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| Error::io(&shown, e))?;
    }
    block_on(upload.0.shutdown()).map_err(|e| Error::io(&shown, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name the host writes at the top of a set is one a plugin cannot declare.
    #[test]
    fn the_sets_own_files_are_reserved() {
        for name in [
            manifest::FILE.to_string(),
            format!("{}.tmp", manifest::FILE),
            seal::FILE.to_string(),
            format!("{}.tmp", seal::FILE),
            RUNS.to_string(),
            STAGING.to_string(),
        ] {
            assert!(
                contract::paths::check_relative_path(&name).is_err(),
                "{name} must be reserved"
            );
        }
    }
}
