//! A plugin's view of the backup set: where its artifacts are written during backup (a
//! staging directory) or read from during restore (the set). Paths were already checked
//! against the plugin's grant. In a directory, cap-std additionally refuses anything that
//! would leave it, and symlinks are refused outright, so a planted link cannot redirect a
//! read or a write. In an object store (`objects.rs`) a path is a key under the set's
//! prefix, refused unless it is plain: there are no links, and no directories, only the
//! names of the files under them.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWrite;

use super::blocking::{Blocking, block_on};
use super::encryption::{self, Mode, Sealer};
use super::objects::ObjectPrefix;
use super::open_beneath;
use super::sink::{Sink, StdSink};
use crate::error::{Error, Result};

/// Size and content hash of one file, computed while it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Of the file as stored (for an encrypted set, the age file).
    pub size: u64,
    pub sha256: String,
    /// The plaintext's size, when the file is stored encrypted.
    pub plain_size: Option<u64>,
    /// For a file of a tree copied out of a pod: its modification time there (seconds),
    /// which the next backup compares (see `incremental.rs`).
    pub mtime: Option<u64>,
}

/// An artifact's bytes as the plugin wrote them (decrypted, for an encrypted set).
pub type PlainReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
}

/// Where the store's files are.
enum Backing {
    Dir(Arc<Dir>),
    Objects(ObjectPrefix),
}

pub struct ArtifactStore {
    backing: Backing,
    /// Where the directory is, for messages.
    shown: PathBuf,
    written: Mutex<BTreeMap<String, FileDigest>>,
    /// Directories this store made or checked (they exist and no part of them is a link),
    /// so a tree of thousands of files does not re-walk its parents for every file.
    checked_dirs: Mutex<HashSet<String>>,
    mode: Mode,
}

impl ArtifactStore {
    pub fn new(dir: Dir, shown: PathBuf) -> ArtifactStore {
        Self::with_backing(Backing::Dir(Arc::new(dir)), shown)
    }

    /// The files under an object store's prefix.
    pub fn objects(prefix: ObjectPrefix) -> ArtifactStore {
        let shown = PathBuf::from(prefix.url());
        Self::with_backing(Backing::Objects(prefix), shown)
    }

    fn with_backing(backing: Backing, shown: PathBuf) -> ArtifactStore {
        ArtifactStore {
            backing,
            shown,
            written: Mutex::new(BTreeMap::new()),
            checked_dirs: Mutex::new(HashSet::new()),
            mode: Mode::Plain,
        }
    }

    /// Files are written encrypted, or read decrypted, as `mode` says.
    pub fn with_mode(mut self, mode: Mode) -> ArtifactStore {
        self.mode = mode;
        self
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The size a reader of `path` sees: an encrypted file's plaintext size.
    fn plain_len(&self, path: &str, stored: u64) -> Result<u64> {
        if !self.mode.encrypted() {
            return Ok(stored);
        }
        let file = self.open_stored(path)?;
        encryption::plain_size(file, stored).map_err(|e| self.io_error(path, e))
    }

    pub fn location(&self, path: &str) -> PathBuf {
        self.shown.join(path)
    }

    /// Every file written so far, taken out of the store (a tree of 100,000 files is
    /// not held twice while its records are made).
    pub fn take_written(&self) -> BTreeMap<String, FileDigest> {
        std::mem::take(&mut *self.written.lock().unwrap())
    }

    fn record(&self, path: &str, digest: FileDigest) {
        self.written
            .lock()
            .unwrap()
            .insert(path.to_string(), digest);
    }

    /// Refuses a path if any existing component of it is a symlink (directories already
    /// checked by this store are not looked at again).
    fn no_links(&self, path: &str) -> Result<()> {
        let dir = match &self.backing {
            Backing::Dir(dir) => dir,
            Backing::Objects(prefix) => return prefix.key(path).map(|_| ()),
        };
        let mut at = PathBuf::new();
        for part in Path::new(path).components() {
            let Component::Normal(part) = part else {
                return Err(Error::Denied(format!(
                    "artifact path `{path}` is not a plain relative path"
                )));
            };
            at.push(part);
            if self
                .checked_dirs
                .lock()
                .unwrap()
                .contains(at.to_string_lossy().as_ref())
            {
                continue;
            }
            match dir.symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Denied(format!(
                        "`{}` is a symbolic link; the backup set does not follow links",
                        at.display()
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(self.io_error(path, e)),
            }
        }
        Ok(())
    }

    fn io_error(&self, path: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound(format!(
                "artifact `{path}` ({})",
                self.location(path).display()
            ))
        } else {
            // cap-std reports attempts to leave the directory as permission errors.
            Error::io(self.location(path), e)
        }
    }

    pub fn exists(&self, path: &str) -> Result<bool> {
        self.no_links(path)?;
        let dir = match &self.backing {
            Backing::Dir(dir) => dir,
            Backing::Objects(_) => return Ok(self.object_kind(path)?.is_some()),
        };
        match dir.symlink_metadata(path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_error(path, e)),
        }
    }

    pub fn is_dir(&self, path: &str) -> Result<bool> {
        self.no_links(path)?;
        let dir = match &self.backing {
            Backing::Dir(dir) => dir,
            Backing::Objects(_) => {
                return match self.object_kind(path)? {
                    Some(kind) => Ok(kind == ObjectKind::Dir),
                    None => Err(self.not_found(path)),
                };
            }
        };
        let m = dir
            .symlink_metadata(path)
            .map_err(|e| self.io_error(path, e))?;
        Ok(m.is_dir())
    }

    /// Every entry under `path`, or the entry itself for a file, with the sizes a reader
    /// sees (an encrypted file's plaintext size, read from its header).
    pub fn list(&self, path: &str) -> Result<Vec<Entry>> {
        self.list_sized(path, true)
    }

    /// [`ArtifactStore::list`] with the sizes as stored: no file is opened, where the
    /// plaintext sizes of an encrypted tree cost a read of every file's header (in an
    /// object store, a request each).
    pub fn list_stored(&self, path: &str) -> Result<Vec<Entry>> {
        self.list_sized(path, false)
    }

    fn list_sized(&self, path: &str, plain: bool) -> Result<Vec<Entry>> {
        self.no_links(path)?;
        let dir = match &self.backing {
            Backing::Dir(dir) => dir,
            Backing::Objects(prefix) => return self.list_objects(prefix, path, plain),
        };
        let m = dir
            .symlink_metadata(path)
            .map_err(|e| self.io_error(path, e))?;
        let mut out = Vec::new();
        if m.is_dir() {
            self.walk(path, plain, &mut out)?;
        } else {
            out.push(Entry {
                path: path.to_string(),
                is_dir: false,
                size: self.sized(path, m.len(), plain)?,
            });
        }
        Ok(out)
    }

    fn sized(&self, path: &str, stored: u64, plain: bool) -> Result<u64> {
        if plain {
            self.plain_len(path, stored)
        } else {
            Ok(stored)
        }
    }

    fn walk(&self, path: &str, plain: bool, out: &mut Vec<Entry>) -> Result<()> {
        let Backing::Dir(dir) = &self.backing else {
            unreachable!("only a directory is walked")
        };
        let mut children: Vec<_> = dir
            .read_dir(path)
            .map_err(|e| self.io_error(path, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| self.io_error(path, e))?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name();
            let child_path = format!("{path}/{}", name.to_string_lossy());
            let ft = child
                .file_type()
                .map_err(|e| self.io_error(&child_path, e))?;
            if ft.is_symlink() {
                return Err(Error::Denied(format!(
                    "`{child_path}` is a symbolic link; the backup set does not follow links"
                )));
            }
            let meta = child
                .metadata()
                .map_err(|e| self.io_error(&child_path, e))?;
            special(&child_path, &meta)?;
            out.push(Entry {
                path: child_path.clone(),
                is_dir: ft.is_dir(),
                size: if ft.is_dir() {
                    0
                } else {
                    self.sized(&child_path, meta.len(), plain)?
                },
            });
            if ft.is_dir() {
                self.walk(&child_path, plain, out)?;
            }
        }
        Ok(())
    }

    /// What the plugin wrote to `path`, decrypted if the set is encrypted.
    pub async fn open(&self, path: &str) -> Result<PlainReader> {
        let file: PlainReader = match &self.backing {
            Backing::Dir(_) => Box::new(tokio::fs::File::from_std(self.open_file(path)?)),
            Backing::Objects(prefix) => Box::new(prefix.reader(path).await?),
        };
        match &self.mode {
            Mode::Plain | Mode::Encrypt(_) => Ok(Box::new(file)),
            Mode::Decrypt(keys) => encryption::decrypt_async(file, keys)
                .await
                .map_err(|e| self.decrypt_error(path, e)),
            Mode::Locked => Err(self.locked(path)),
        }
    }

    /// The blocking twin of [`ArtifactStore::open`] (a tar into a pod is built on a
    /// blocking thread).
    pub fn read_plain(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>> {
        let file = self.open_stored(path)?;
        match &self.mode {
            Mode::Plain | Mode::Encrypt(_) => Ok(Box::new(file)),
            Mode::Decrypt(keys) => Ok(Box::new(
                encryption::decrypt_sync(file, keys).map_err(|e| self.decrypt_error(path, e))?,
            )),
            Mode::Locked => Err(self.locked(path)),
        }
    }

    fn locked(&self, path: &str) -> Error {
        Error::Refused(format!(
            "artifact `{path}` is encrypted (the set's manifest.json says so) and no key was given: --identity FILE names the age or SSH private key it was encrypted to (--passphrase-file, for a set made with one)"
        ))
    }

    fn decrypt_error(&self, path: &str, e: std::io::Error) -> Error {
        Error::bad_set(self.location(path), format!("cannot decrypt `{path}`: {e}"))
    }

    /// A file's bytes as stored (an encrypted set's age file), read on a blocking thread.
    pub fn open_stored(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>> {
        match &self.backing {
            Backing::Dir(_) => Ok(Box::new(self.open_file(path)?)),
            Backing::Objects(prefix) => {
                self.no_links(path)?;
                prefix.blocking_reader(path)
            }
        }
    }

    /// Opens a regular file of a directory set, its bytes as stored. A FIFO, device or
    /// socket is refused without waiting (a FIFO's open would block until someone writes
    /// to it).
    fn open_file(&self, path: &str) -> Result<std::fs::File> {
        let Backing::Dir(dir) = &self.backing else {
            unreachable!("open_file is for directory sets")
        };
        let file = match open_beneath::open_for_reading(dir, path) {
            Some(file) => file,
            None => {
                self.no_links(path)?;
                dir.open_with(path, &super::private::reading())
                    .map_err(|e| self.io_error(path, e))?
                    .into_std()
            }
        };
        let meta = file.metadata().map_err(|e| self.io_error(path, e))?;
        if meta.is_dir() {
            return Err(Error::Invalid(format!("artifact `{path}` is a directory")));
        }
        if !meta.is_file() {
            return Err(Error::Denied(format!(
                "`{path}` is not a regular file ({}); the backup set holds only files and directories",
                kind(&meta)
            )));
        }
        open_beneath::blocking(&file);
        Ok(file)
    }

    pub fn create_dir_all(&self, path: &str) -> Result<()> {
        if self.checked_dirs.lock().unwrap().contains(path) {
            return Ok(());
        }
        self.no_links(path)?;
        // An object store has no directories: the names of the files under them are all.
        if let Backing::Dir(dir) = &self.backing {
            dir.create_dir_with(path, &super::private::dirs())
                .map_err(|e| self.io_error(path, e))?;
        }
        let mut checked = self.checked_dirs.lock().unwrap();
        let mut at = Path::new(path);
        while !at.as_os_str().is_empty() {
            checked.insert(at.to_string_lossy().into_owned());
            at = at.parent().unwrap_or(Path::new(""));
        }
        Ok(())
    }

    /// Checks `path` is plain and not a link, and creates its parent directories.
    fn prepare_file(&self, path: &str) -> Result<()> {
        self.no_links(path)?;
        match Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            Some(parent) => self.create_dir_all(&parent.to_string_lossy()),
            None => Ok(()),
        }
    }

    pub fn remove_all(&self, path: &str) -> Result<()> {
        self.no_links(path)?;
        match &self.backing {
            Backing::Dir(dir) => {
                let result = match dir.symlink_metadata(path) {
                    Ok(m) if m.is_dir() => dir.remove_dir_all(path),
                    Ok(_) => dir.remove_file(path),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e),
                };
                result.map_err(|e| self.io_error(path, e))?;
            }
            Backing::Objects(prefix) => {
                block_on(prefix.delete(path))?;
                block_on(prefix.delete_all(path))?;
            }
        }
        self.checked_dirs
            .lock()
            .unwrap()
            .retain(|p| !within(p, path));
        self.written.lock().unwrap().retain(|p, _| !within(p, path));
        Ok(())
    }

    /// A new file, invisible under its name until [`ArtifactWriter::finish`].
    pub fn create(self: &Arc<Self>, path: &str) -> Result<ArtifactWriter> {
        self.prepare_file(path)?;
        let (partial, file) = match &self.backing {
            Backing::Dir(dir) => {
                let partial = partial_name(path);
                let file = dir
                    .open_with(&partial, &super::private::new_file())
                    .map_err(|e| self.io_error(path, e))?;
                (
                    partial,
                    Sink::File(tokio::fs::File::from_std(file.into_std())),
                )
            }
            // An upload is invisible until completed: no partial name is needed.
            Backing::Objects(prefix) => (
                path.to_string(),
                Sink::Object(Box::new(prefix.writer(path)?)),
            ),
        };
        Ok(ArtifactWriter {
            store: self.clone(),
            path: path.to_string(),
            partial,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            sealing: self.sealer(path)?,
        })
    }

    /// A writer's encryption, when the set is written encrypted.
    fn sealer(&self, path: &str) -> Result<Option<Sealing>> {
        match &self.mode {
            Mode::Encrypt(keys) => Ok(Some(Sealing {
                sealer: Sealer::new(keys).map_err(|e| self.io_error(path, e))?,
                out: Vec::new(),
                at: 0,
                plain: 0,
            })),
            Mode::Plain => Ok(None),
            Mode::Decrypt(_) | Mode::Locked => Err(Error::Invalid(format!(
                "artifact `{path}`: an encrypted set is only read by a restore"
            ))),
        }
    }

    /// A file of a tree copied out of a pod, written under its own name at once: a tree
    /// is staged whole and appears in the set only when its component commits, so the
    /// partial name and rename per file ([`ArtifactStore::create_std`]) would only cost
    /// two directory operations for each of 100,000 storage files. A name that exists
    /// already (a tar listing a path twice, a planted link) is refused by O_EXCL.
    pub fn create_fresh_std(self: &Arc<Self>, path: &str) -> Result<StdArtifactWriter> {
        match Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            Some(parent) => self.create_dir_all(&parent.to_string_lossy())?,
            None => self.no_links(path)?,
        }
        let file = match &self.backing {
            Backing::Dir(dir) => StdSink::File(
                dir.open_with(path, &super::private::fresh_file())
                    .map_err(|e| self.io_error(path, e))?
                    .into_std(),
            ),
            Backing::Objects(prefix) => {
                // O_EXCL's refusal of a name written twice (a tar listing a path twice).
                if self.written.lock().unwrap().contains_key(path) {
                    return Err(Error::Denied(format!(
                        "`{path}` is written twice into the set"
                    )));
                }
                StdSink::Object(Box::new(Blocking(prefix.writer(path)?)))
            }
        };
        Ok(StdArtifactWriter {
            store: self.clone(),
            path: path.to_string(),
            partial: path.to_string(),
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            sealing: self.sealer(path)?,
            mtime: None,
        })
    }

    fn commit(&self, partial: &str, path: &str, digest: FileDigest) -> Result<FileDigest> {
        if partial != path
            && let Backing::Dir(dir) = &self.backing
        {
            dir.rename(partial, dir, path)
                .map_err(|e| self.io_error(path, e))?;
        }
        self.record(path, digest.clone());
        Ok(digest)
    }

    fn discard(&self, partial: &str) {
        if let Backing::Dir(dir) = &self.backing {
            let _ = dir.remove_file(partial);
        }
    }

    fn not_found(&self, path: &str) -> Error {
        self.io_error(path, std::io::ErrorKind::NotFound.into())
    }

    /// Whether `path` is an object, the prefix of some (a directory), or neither.
    fn object_kind(&self, path: &str) -> Result<Option<ObjectKind>> {
        let Backing::Objects(prefix) = &self.backing else {
            unreachable!("object_kind is for object sets")
        };
        if block_on(prefix.head(path))?.is_some() {
            return Ok(Some(ObjectKind::File));
        }
        let made = self.checked_dirs.lock().unwrap().contains(path);
        if made || block_on(prefix.any_under(path))? {
            return Ok(Some(ObjectKind::Dir));
        }
        Ok(None)
    }

    /// A walk of an object set: the objects under `path`, with the directories their
    /// names imply, each before what it holds.
    fn list_objects(&self, prefix: &ObjectPrefix, path: &str, plain: bool) -> Result<Vec<Entry>> {
        if let Some(size) = block_on(prefix.head(path))? {
            return Ok(vec![Entry {
                path: path.to_string(),
                is_dir: false,
                size: self.sized(path, size, plain)?,
            }]);
        }
        let objects = block_on(prefix.list(path))?;
        if objects.is_empty() && !self.checked_dirs.lock().unwrap().contains(path) {
            return Err(self.not_found(path));
        }
        let mut out = Vec::with_capacity(objects.len());
        let mut dirs: HashSet<String> = HashSet::new();
        for (name, size) in objects {
            let Some(rel) = name.strip_prefix(path).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            let mut at = path.to_string();
            let parts: Vec<&str> = rel.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                at = format!("{at}/{part}");
                if dirs.insert(at.clone()) {
                    out.push(Entry {
                        path: at.clone(),
                        is_dir: true,
                        size: 0,
                    });
                }
            }
            out.push(Entry {
                size: self.sized(&name, size, plain)?,
                path: name,
                is_dir: false,
            });
        }
        Ok(out)
    }

    /// Whether a staged artifact was written: a file, or a tree the plugin made (in an
    /// object store, a tree of no files is only the store's word that it was made).
    pub fn staged(&self, path: &str) -> Result<bool> {
        match &self.backing {
            Backing::Dir(dir) => Ok(dir.symlink_metadata(path).is_ok()),
            Backing::Objects(_) => {
                let under = format!("{path}/");
                Ok(self.checked_dirs.lock().unwrap().contains(path)
                    || self
                        .written
                        .lock()
                        .unwrap()
                        .keys()
                        .any(|p| p == path || p.starts_with(&under)))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    File,
    Dir,
}

/// Only directories and regular files with one name belong in a tree artifact: a FIFO
/// would block whoever opens it, a device or socket is no backup, and a second name (a
/// hardlink) can be a file from outside the set that its owner never meant to hand over.
fn special(path: &str, meta: &cap_std::fs::Metadata) -> Result<()> {
    use cap_std::fs::MetadataExt;
    if meta.is_dir() {
        return Ok(());
    }
    if !meta.is_file() {
        return Err(Error::Denied(format!(
            "`{path}` is a {}; the backup set holds only files and directories",
            kind_of(meta.file_type())
        )));
    }
    if meta.nlink() > 1 {
        return Err(Error::Denied(format!(
            "`{path}` is a hardlink ({} names); the backup set holds no hardlinks",
            meta.nlink()
        )));
    }
    Ok(())
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

fn kind_of(t: cap_std::fs::FileType) -> &'static str {
    use cap_std::fs::FileTypeExt;
    if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

/// `p` is `path` or lies under it.
fn within(p: &str, path: &str) -> bool {
    p.strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn partial_name(path: &str) -> String {
    format!("{path}.partial-{}", std::process::id())
}

/// A writer's encryption: the sealer and the ciphertext it made that is not yet on disk.
struct Sealing {
    sealer: Sealer,
    out: Vec<u8>,
    at: usize,
    plain: u64,
}

impl Sealing {
    fn take_ciphertext(&mut self) {
        debug_assert_eq!(self.at, self.out.len());
        self.out.clear();
        self.at = 0;
        self.sealer.drain_into(&mut self.out);
    }
}

/// Puts the sealed bytes not yet written into the file, hashing them as stored.
fn drain(
    file: &mut Sink,
    s: &mut Sealing,
    hasher: &mut Sha256,
    size: &mut u64,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    while s.at < s.out.len() {
        let n = match Pin::new(&mut *file).poll_write(cx, &s.out[s.at..]) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        hasher.update(&s.out[s.at..s.at + n]);
        *size += n as u64;
        s.at += n;
    }
    Poll::Ready(Ok(()))
}

/// An artifact being written: bytes are hashed on the way to disk (encrypted first, if
/// the set is); the file gets its name only when `finish` succeeds, and a writer dropped
/// unfinished removes its partial file.
pub struct ArtifactWriter {
    store: Arc<ArtifactStore>,
    path: String,
    partial: String,
    file: Option<Sink>,
    hasher: Sha256,
    size: u64,
    sealing: Option<Sealing>,
}

impl ArtifactWriter {
    /// Bytes the plugin wrote (before encryption).
    pub fn bytes_written(&self) -> u64 {
        match &self.sealing {
            Some(s) => s.plain,
            None => self.size,
        }
    }

    pub async fn finish(mut self) -> Result<FileDigest> {
        let shown = self.store.location(&self.path);
        let mut file = self.file.take().expect("finished once");
        let plain_size = match self.sealing.as_mut() {
            Some(s) => {
                let (hasher, size) = (&mut self.hasher, &mut self.size);
                std::future::poll_fn(|cx| drain(&mut file, s, hasher, size, cx))
                    .await
                    .map_err(|e| Error::io(&shown, e))?;
                s.sealer.finish().map_err(|e| Error::io(&shown, e))?;
                s.take_ciphertext();
                std::future::poll_fn(|cx| drain(&mut file, s, hasher, size, cx))
                    .await
                    .map_err(|e| Error::io(&shown, e))?;
                Some(s.plain)
            }
            None => None,
        };
        // On disk by the set's sync once the component is done (see BackupSet::sync); an
        // upload completes here.
        file.finish().await.map_err(|e| Error::io(&shown, e))?;
        let digest = FileDigest {
            size: self.size,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            plain_size,
            mtime: None,
        };
        let partial = std::mem::take(&mut self.partial);
        self.store.commit(&partial, &self.path, digest)
    }
}

impl Drop for ArtifactWriter {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            self.store.discard(&self.partial);
            if let Some(sink) = self.file.take() {
                sink.abandon();
            }
        }
    }
}

impl AsyncWrite for ArtifactWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let file = this.file.as_mut().expect("not finished");
        match this.sealing.as_mut() {
            None => match Pin::new(file).poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => {
                    this.hasher.update(&buf[..n]);
                    this.size += n as u64;
                    Poll::Ready(Ok(n))
                }
                other => other,
            },
            Some(s) => {
                // The ciphertext of the last write goes out before more is taken, so
                // the writer is never more than a chunk ahead of the file.
                match drain(file, s, &mut this.hasher, &mut this.size, cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
                let n = s.sealer.seal(buf)?;
                s.plain += n as u64;
                s.take_ciphertext();
                Poll::Ready(Ok(n))
            }
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let file = this.file.as_mut().expect("not finished");
        if let Some(s) = this.sealing.as_mut() {
            match drain(file, s, &mut this.hasher, &mut this.size, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Pin::new(file).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The age file's last chunk is written by `finish`, which follows every shutdown.
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(self.file.as_mut().expect("not finished")).poll_shutdown(cx)
    }
}

/// The blocking twin of [`ArtifactWriter`].
pub struct StdArtifactWriter {
    store: Arc<ArtifactStore>,
    path: String,
    partial: String,
    file: Option<StdSink>,
    hasher: Sha256,
    size: u64,
    sealing: Option<Sealing>,
    mtime: Option<u64>,
}

impl StdArtifactWriter {
    /// Records the file's modification time in the pod it came from.
    pub fn set_mtime(&mut self, mtime: u64) {
        self.mtime = Some(mtime);
    }

    /// The sha256 of what was stored so far.
    pub fn sha256_so_far(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    pub fn finish(mut self) -> Result<FileDigest> {
        let shown = self.store.location(&self.path);
        let plain_size = match self.sealing.as_mut() {
            Some(s) => {
                s.sealer.finish().map_err(|e| Error::io(&shown, e))?;
                s.take_ciphertext();
                let file = self.file.as_mut().expect("finished once");
                put(file, &mut self.hasher, &mut self.size, &s.out)
                    .map_err(|e| Error::io(&shown, e))?;
                s.at = s.out.len();
                Some(s.plain)
            }
            None => None,
        };
        // No fsync per file: a tree of 100,000 storage files would wait for 100,000 disk
        // flushes. The set is synced once a component is done (BackupSet::sync). An
        // upload completes here.
        let mut file = self.file.take().expect("finished once");
        file.finish().map_err(|e| Error::io(&shown, e))?;
        let digest = FileDigest {
            size: self.size,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            plain_size,
            mtime: self.mtime,
        };
        let partial = std::mem::take(&mut self.partial);
        self.store.commit(&partial, &self.path, digest)
    }
}

fn put(
    file: &mut StdSink,
    hasher: &mut Sha256,
    size: &mut u64,
    bytes: &[u8],
) -> std::io::Result<()> {
    std::io::Write::write_all(file, bytes)?;
    hasher.update(bytes);
    *size += bytes.len() as u64;
    Ok(())
}

impl std::io::Write for StdArtifactWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let file = self.file.as_mut().expect("not finished");
        match self.sealing.as_mut() {
            None => {
                let n = file.write(buf)?;
                self.hasher.update(&buf[..n]);
                self.size += n as u64;
                Ok(n)
            }
            Some(s) => {
                let n = s.sealer.seal(buf)?;
                s.plain += n as u64;
                s.take_ciphertext();
                put(file, &mut self.hasher, &mut self.size, &s.out)?;
                s.at = s.out.len();
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not finished").flush()
    }
}

impl Drop for StdArtifactWriter {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            self.store.discard(&self.partial);
            if let Some(sink) = self.file.take() {
                sink.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn store(dir: &Path) -> Arc<ArtifactStore> {
        let d = Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap();
        Arc::new(ArtifactStore::new(d, dir.to_path_buf()))
    }

    #[tokio::test]
    async fn a_file_appears_only_when_finished_and_is_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let mut w = s.create("zync-database-backup.gz").unwrap();
        w.write_all(b"hello").await.unwrap();
        assert!(!s.exists("zync-database-backup.gz").unwrap());
        let digest = w.finish().await.unwrap();
        assert_eq!(digest.size, 5);
        assert_eq!(
            digest.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("zync-database-backup.gz")).unwrap(),
            b"hello"
        );
        let mut dropped = s.create("dropped.gz").unwrap();
        dropped.write_all(b"partial").await.unwrap();
        drop(dropped);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "an unfinished writer leaves nothing"
        );
    }

    #[test]
    fn symlinks_and_escapes_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("system")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), tmp.path().join("link.json"))
            .unwrap();
        let s = store(tmp.path());
        assert!(matches!(
            s.open_file("system/secret"),
            Err(Error::Denied(_))
        ));
        assert!(matches!(s.open_file("link.json"), Err(Error::Denied(_))));
        assert!(s.create_fresh_std("system/new").is_err());
        // Even past the text checks, cap-std refuses to leave the directory.
        let Backing::Dir(dir) = &s.backing else {
            unreachable!()
        };
        assert!(dir.open("../x").is_err());
        assert!(!outside.path().join("new").exists());
    }
}
