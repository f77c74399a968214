//! A plugin's restore notes (the `journal` WIT interface): key/value pairs written to disk
//! (temp file, fsync, rename) before a call returns, so whatever a restore scaled down can
//! be put back after a failure, a trap, or a crash of the host itself.
//!
//! A journal is acted on later, by `host resume` or by the put-back of a failed restore.
//! It lives in the user's state directory (see `state/`), but sets written by earlier
//! hosts kept journals in its own `runs/`, which anyone who can write the set (a
//! hostile plugin of an earlier release, whoever handed the set over) could have changed,
//! and those are still read. A forged note
//! would have a plugin write what it says into the cluster (backend-redis puts a noted
//! redis.conf back). So every journal file carries an HMAC-SHA256 over its run, its
//! plugin and its notes, under a key that is the user's, kept outside any set (see
//! [`JournalKey`]); a journal that does not verify is refused before anything is done.
//! A keyed MAC rather than a signature: the host is the only writer and the only reader,
//! on the same account, so a shared secret is enough and needs no key management. What it
//! does not stop: replaying an older journal of the same run and plugin (its notes were
//! the host's own, so at worst an earlier recorded state is put back), and anyone who can
//! read the user's key file, who is the user.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::state::bounded::Unread;

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    run: String,
    plugin: String,
    key: JournalKey,
    notes: BTreeMap<String, String>,
}

/// Keys and values are for small notes (specs, config files), not data.
const MAX_NOTE: usize = 1 << 20;
const MAX_NOTES: usize = 256;
/// A journal file bigger than every note at its largest cannot be one the host wrote.
const MAX_FILE: u64 = (MAX_NOTES as u64) * (MAX_NOTE as u64 + 512) * 2;

const FORMAT: &str = "host-journal/2";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    run: String,
    plugin: String,
    notes: BTreeMap<String, String>,
    /// HMAC-SHA256, hex, over [`signed_bytes`].
    mac: String,
}

/// What the MAC covers: the format, the run and the plugin (so a journal cannot be moved
/// to another run or plugin) and the notes, in one unambiguous JSON encoding.
fn signed_bytes(run: &str, plugin: &str, notes: &BTreeMap<String, String>) -> Vec<u8> {
    serde_json::to_vec(&(FORMAT, run, plugin, notes)).expect("strings serialise")
}

impl Journal {
    /// Opens the journal of `plugin` in `run`: empty if there is none yet, refused if the
    /// file is not one this user's host wrote for that run and plugin.
    pub fn open(path: &Path, key: &JournalKey, run: &str, plugin: &str) -> Result<Journal> {
        let notes = match read_bounded(path, key)? {
            None => BTreeMap::new(),
            Some(bytes) => authenticate(path, &bytes, key, run, plugin)?,
        };
        Ok(Journal {
            path: path.to_path_buf(),
            run: run.to_string(),
            plugin: plugin.to_string(),
            key: key.clone(),
            notes,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    pub fn keys(&self) -> Vec<String> {
        self.notes.keys().cloned().collect()
    }

    pub fn recall(&self, key: &str) -> Option<String> {
        self.notes.get(key).cloned()
    }

    pub fn record(&mut self, key: &str, value: &str) -> Result<()> {
        if key.is_empty() || key.len() > 256 || value.len() > MAX_NOTE {
            return Err(Error::Invalid(format!(
                "journal notes take keys of 1-256 bytes and values up to {MAX_NOTE} bytes"
            )));
        }
        if !self.notes.contains_key(key) && self.notes.len() >= MAX_NOTES {
            return Err(Error::Invalid(format!(
                "a plugin keeps at most {MAX_NOTES} journal notes"
            )));
        }
        self.notes.insert(key.to_string(), value.to_string());
        self.save()
    }

    pub fn forget(&mut self, key: &str) -> Result<()> {
        if self.notes.remove(key).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let dir = self
            .path
            .parent()
            .expect("journal files live in a directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io(dir, e))?;
        let tmp = self.path.with_extension("json.tmp");
        let file = File {
            format: FORMAT.to_string(),
            run: self.run.clone(),
            plugin: self.plugin.clone(),
            notes: self.notes.clone(),
            mac: self
                .key
                .mac(&signed_bytes(&self.run, &self.plugin, &self.notes)),
        };
        let text = serde_json::to_vec_pretty(&file).expect("strings serialise");
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        out.write_all(&text).map_err(|e| Error::io(&tmp, e))?;
        out.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn read_bounded(path: &Path, key: &JournalKey) -> Result<Option<Vec<u8>>> {
    crate::state::bounded::read_bounded(path, MAX_FILE).map_err(|e| match e {
        Unread::Open(e) => forged(path, key, &format!("it cannot be opened as a file ({e})")),
        Unread::NotAFile => forged(path, key, "it is not a journal file"),
        Unread::Read(e) => Error::io(path, e),
    })
}

fn authenticate(
    path: &Path,
    bytes: &[u8],
    key: &JournalKey,
    run: &str,
    plugin: &str,
) -> Result<BTreeMap<String, String>> {
    // A journal of host 0.1 was a bare map of notes with no MAC. An empty one says only
    // that nothing is left to put back, so it is taken as such; any other is refused.
    if let Ok(old) = serde_json::from_slice::<BTreeMap<String, String>>(bytes) {
        if old.is_empty() {
            return Ok(old);
        }
        return Err(forged(path, key, "it has no authentication code"));
    }
    let file: File = serde_json::from_slice(bytes)
        .map_err(|e| forged(path, key, &format!("it is not a host journal ({e})")))?;
    if file.format != FORMAT {
        return Err(forged(
            path,
            key,
            &format!("unknown format `{}`", file.format),
        ));
    }
    // Nothing to put back asks nothing of anyone: a finished run's journal, from another
    // machine or user, does not stop a restore of a set that was carried over.
    if file.notes.is_empty() {
        return Ok(file.notes);
    }
    if file.run != run || file.plugin != plugin {
        return Err(forged(
            path,
            key,
            &format!(
                "it was written for plugin `{}` of run `{}`",
                file.plugin, file.run
            ),
        ));
    }
    let mac = hex::decode(&file.mac).map_err(|_| forged(path, key, "its code is not hex"))?;
    if !key.verify(&signed_bytes(run, plugin, &file.notes), &mac) {
        return Err(forged(path, key, "its authentication code does not match"));
    }
    Ok(file.notes)
}

fn forged(path: &Path, key: &JournalKey, why: &str) -> Error {
    Error::Refused(format!(
        "journal {} was not written by this host for you: {why}. Journals are authenticated \
         with your key ({}); this one was forged, changed, or written by another user or on \
         another machine. Nothing was done. If you did not leave it there, delete its run \
         directory; if it is yours from another machine, put back by hand what its notes say",
        path.display(),
        key.path.display()
    ))
}

/// The user's key for journals: 32 random bytes in the state directory's `journal.key`
/// (`$XDG_STATE_HOME/host/journal.key`, else `~/.local/state/host/journal.key`, or under
/// `--state-dir`), made on first use, 0600 in a 0700 directory. State, not configuration
/// or cache: losing it only means journals of runs cut off before cannot be resumed by
/// the host.
#[derive(Clone)]
pub struct JournalKey {
    key: [u8; 32],
    /// Where it is kept, to name it in messages.
    path: PathBuf,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(..)")
    }
}

impl JournalKey {
    pub fn at(path: &Path) -> Result<JournalKey> {
        for _ in 0..3 {
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
            {
                Ok(file) => {
                    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
                    // SAFETY: getuid has no preconditions.
                    let me = unsafe { libc::getuid() };
                    if meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
                        return Err(Error::Refused(format!(
                            "the journal key {} must belong to you and be readable by you alone (chmod 600)",
                            path.display()
                        )));
                    }
                    let mut key = [0u8; 32];
                    let mut bytes = Vec::new();
                    file.take(64)
                        .read_to_end(&mut bytes)
                        .map_err(|e| Error::io(path, e))?;
                    if bytes.len() == 32 {
                        key.copy_from_slice(&bytes);
                        return Ok(JournalKey {
                            key,
                            path: path.to_path_buf(),
                        });
                    }
                    // Being written by another host process that just made it.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(dir) = path.parent() {
                        std::fs::DirBuilder::new()
                            .recursive(true)
                            .mode(0o700)
                            .create(dir)
                            .map_err(|e| Error::io(dir, e))?;
                    }
                    let mut key = [0u8; 32];
                    getrandom::fill(&mut key).map_err(|e| {
                        Error::io(path, std::io::Error::other(format!("no randomness: {e}")))
                    })?;
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                    {
                        Ok(mut file) => {
                            file.write_all(&key).map_err(|e| Error::io(path, e))?;
                            file.sync_all().map_err(|e| Error::io(path, e))?;
                            return Ok(JournalKey {
                                key,
                                path: path.to_path_buf(),
                            });
                        }
                        // Another host process made it first: read theirs.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io(path, e)),
                    }
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Err(Error::Refused(format!(
            "the journal key {} is not 32 bytes: it is not one the host made",
            path.display()
        )))
    }

    fn mac(&self, bytes: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, bytes: &[u8], code: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(bytes);
        mac.verify_slice(code).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path) -> JournalKey {
        JournalKey::at(&dir.join("state/host/journal.key")).unwrap()
    }

    #[test]
    fn notes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(dir.path());
        let path = dir.path().join("journal/zync.json");
        let mut j = Journal::open(&path, &k, "r1", "zync").unwrap();
        assert!(j.is_empty());
        j.record("zync-spec", r#"{"appSpec":{"replicas":1}}"#)
            .unwrap();
        let reopened = Journal::open(&path, &k, "r1", "zync").unwrap();
        assert_eq!(
            reopened.recall("zync-spec").as_deref(),
            Some(r#"{"appSpec":{"replicas":1}}"#)
        );
        j.forget("zync-spec").unwrap();
        assert!(Journal::open(&path, &k, "r1", "zync").unwrap().is_empty());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The key is made once, private, and read back the same.
        let again = key(dir.path());
        assert_eq!(again.key, k.key);
        let key_mode = std::fs::metadata(dir.path().join("state/host/journal.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
    }

    #[test]
    fn forged_changed_moved_or_foreign_journals_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(dir.path());
        let path = dir.path().join("journal/backend-redis.json");
        let mut j = Journal::open(&path, &k, "r1", "backend-redis").unwrap();
        j.record("redis-conf", "save 900 1").unwrap();
        let refused = |p: &Path, k: &JournalKey, run: &str, plugin: &str| match Journal::open(
            p, k, run, plugin,
        ) {
            Err(Error::Refused(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        };
        // By hand, as host 0.1 wrote them.
        let forged = dir.path().join("journal/forged.json");
        std::fs::write(&forged, r#"{"redis-conf":"dir /etc"}"#).unwrap();
        assert!(refused(&forged, &k, "r1", "forged").contains("no authentication code"));
        // A changed note.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&forged, text.replace("save 900 1", "dir /etc")).unwrap();
        assert!(refused(&forged, &k, "r1", "backend-redis").contains("does not match"));
        // A genuine journal under another run or plugin.
        assert!(refused(&path, &k, "r2", "backend-redis").contains("run `r1`"));
        assert!(refused(&path, &k, "r1", "system-redis").contains("backend-redis"));
        // Another user's key.
        let other = tempfile::tempdir().unwrap();
        assert!(
            refused(&path, &key(other.path()), "r1", "backend-redis").contains("does not match")
        );
        // An empty journal of host 0.1 holds nothing to act on, nor does a finished one
        // written under another key.
        std::fs::write(&forged, "{}").unwrap();
        assert!(Journal::open(&forged, &k, "r1", "x").unwrap().is_empty());
        j.forget("redis-conf").unwrap();
        assert!(
            Journal::open(&path, &key(other.path()), "r1", "backend-redis")
                .unwrap()
                .is_empty()
        );
        // A FIFO is not read (it would block).
        let fifo = dir.path().join("journal/fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        refused(&fifo, &k, "r1", "fifo");
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.key");
        JournalKey::at(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(JournalKey::at(&path), Err(Error::Refused(_))));
    }
}
