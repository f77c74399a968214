//! Compiled plugins on disk, so a run does not pay Cranelift twice. A compiled entry is
//! native code the host runs outside the sandbox, so it is loaded only if nobody else
//! could have written it:
//!
//! - the directory is the user's own and nobody else's (owned by the user, mode 0700),
//!   and so is each file (0600), checked on the open file, symlinks refused;
//! - the entry carries an HMAC-SHA256 of its name and bytes under a key kept outside the
//!   cache, in the user's state directory (0600): a sidecar anyone can compute (a plain
//!   sha256) proves nothing, a keyed one proves this user's host wrote the entry;
//! - the file is opened once: the bytes that are authenticated are the bytes that are
//!   deserialised.
//!
//! Anything else (a group-writable or foreign directory, a wrong MAC, a stale engine) is
//! compiled again, with a warning when it looks like tampering rather than a miss.

use std::collections::hash_map::DefaultHasher;
use std::fs::{File, Metadata, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

type Signer = Hmac<Sha256>;

#[derive(Debug)]
pub struct Cache {
    dir: Option<PathBuf>,
    key_file: Option<PathBuf>,
    key: OnceLock<Option<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Compiled,
}

/// Why an entry was not used: a plain miss, or something to warn about.
enum Refused {
    Missing,
    Unsafe(String),
}

impl Cache {
    /// `None` turns the cache off. The key is kept in the user's state directory.
    pub fn new(dir: Option<PathBuf>) -> Cache {
        Cache::with_key_file(dir, Cache::default_key_file())
    }

    pub fn with_key_file(dir: Option<PathBuf>, key_file: Option<PathBuf>) -> Cache {
        Cache {
            dir,
            key_file,
            key: OnceLock::new(),
        }
    }

    /// `--cache-dir`, else $XDG_CACHE_HOME/host, else ~/.cache/host.
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("host"))
    }

    /// $XDG_STATE_HOME/host/cache-key, else ~/.local/state/host/cache-key: never inside
    /// the cache directory, which may be shared or handed to the host by someone else.
    pub fn default_key_file() -> Option<PathBuf> {
        std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .map(|d| d.join("host").join("cache-key"))
    }

    fn entry_name(engine: &Engine, wasm_sha256: &str) -> String {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        format!("{wasm_sha256}-{:016x}", h.finish())
    }

    /// The key, read (or made) once per process; `None` (with a warning) turns the cache
    /// off.
    fn key(&self) -> Option<&[u8]> {
        self.key
            .get_or_init(|| {
                let path = self.key_file.as_ref()?;
                match read_or_make_key(path) {
                    Ok(key) => Some(key),
                    Err(why) => {
                        tracing::warn!(
                            "not using the compiled-plugin cache: its key {}: {why}",
                            path.display()
                        );
                        None
                    }
                }
            })
            .as_deref()
    }

    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        wasm_sha256: &str,
        shown: &Path,
    ) -> Result<(Component, Source)> {
        let compile = || {
            Component::new(engine, wasm)
                .map_err(|e| Error::bad_plugin(shown, format!("does not compile: {e}")))
        };
        let (Some(dir), Some(key)) = (&self.dir, self.key()) else {
            return Ok((compile()?, Source::Compiled));
        };
        let name = Self::entry_name(engine, wasm_sha256);
        match Self::trusted(engine, key, dir, &name) {
            Ok(component) => return Ok((component, Source::Cache)),
            Err(Refused::Missing) => {}
            Err(Refused::Unsafe(why)) => tracing::warn!(
                "not loading {} from the compiled-plugin cache: {why}; compiling it again",
                shown.display()
            ),
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| Error::bad_plugin(shown, format!("does not compile: {e}")))?;
        // A cache that cannot be written only costs time next run.
        if let Err(why) = Self::store(key, dir, &name, &compiled) {
            tracing::warn!(
                "not writing the compiled-plugin cache in {}: {why}",
                dir.display()
            );
        }
        // SAFETY: bytes that this engine produced a moment ago, never read back from disk.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| Error::wasm("loading the plugin just compiled", e))?;
        Ok((component, Source::Compiled))
    }

    fn trusted(
        engine: &Engine,
        key: &[u8],
        dir: &Path,
        name: &str,
    ) -> std::result::Result<Component, Refused> {
        let dir_meta = match std::fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(_) => return Err(Refused::Missing),
        };
        private(dir, &dir_meta, true).map_err(Refused::Unsafe)?;
        let entry = dir.join(format!("{name}.cwasm"));
        let sidecar = dir.join(format!("{name}.mac"));
        let (Some(bytes), Some(mac)) = (read_private(&entry)?, read_private(&sidecar)?) else {
            return Err(Refused::Missing);
        };
        let mac = hex::decode(String::from_utf8_lossy(&mac).trim())
            .map_err(|_| Refused::Unsafe(format!("{} is not a MAC", sidecar.display())))?;
        signer(key, name, &bytes).verify_slice(&mac).map_err(|_| {
            Refused::Unsafe(format!(
                "{} was not written by this user's host (its MAC does not match)",
                entry.display()
            ))
        })?;
        // SAFETY: these exact bytes (read once, from a file only this user can write)
        // carry a MAC under this user's key over the entry's name: this host wrote them
        // for this plugin. deserialize also checks the engine's compatibility.
        unsafe { Component::deserialize(engine, &bytes) }
            .map_err(|e| Refused::Unsafe(format!("{} does not load: {e}", entry.display())))
    }

    fn store(
        key: &[u8],
        dir: &Path,
        name: &str,
        compiled: &[u8],
    ) -> std::result::Result<(), String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| e.to_string())?;
        let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
        if meta.uid() != euid() || !meta.is_dir() {
            return Err("it is not a directory of yours".into());
        }
        // Ours but open to others: close it; what others put there is refused above.
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| e.to_string())?;
        }
        let mac = hex::encode(signer(key, name, compiled).finalize().into_bytes());
        write_private(&dir.join(format!("{name}.cwasm")), compiled)?;
        write_private(&dir.join(format!("{name}.mac")), mac.as_bytes())
    }
}

fn signer(key: &[u8], name: &str, bytes: &[u8]) -> Signer {
    let mut mac = Signer::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(name.as_bytes());
    mac.update(&[0]);
    mac.update(bytes);
    mac
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Owned by this user and by nobody else's reach: 0700 for a directory, 0600 for a file.
fn private(path: &Path, meta: &Metadata, dir: bool) -> std::result::Result<(), String> {
    let what = if dir { "directory" } else { "file" };
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link", path.display()));
    }
    if meta.is_dir() != dir {
        return Err(format!("{} is not a {what}", path.display()));
    }
    if meta.uid() != euid() {
        return Err(format!(
            "{} belongs to uid {}, not to you (uid {})",
            path.display(),
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "the {what} {} is open to other users (mode {:o}; it must be {})",
            path.display(),
            meta.mode() & 0o777,
            if dir { "0700" } else { "0600" }
        ));
    }
    Ok(())
}

/// A file's bytes, if it exists and is private; checked on the open file, not the path.
fn read_private(path: &Path) -> std::result::Result<Option<Vec<u8>>, Refused> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Refused::Unsafe(format!("{}: {e}", path.display()))),
    };
    let meta = file
        .metadata()
        .map_err(|e| Refused::Unsafe(format!("{}: {e}", path.display())))?;
    private(path, &meta, false).map_err(Refused::Unsafe)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| Refused::Unsafe(format!("{}: {e}", path.display())))?;
    Ok(Some(bytes))
}

/// Written beside the target as a new 0600 file and renamed over it.
fn write_private(path: &Path, bytes: &[u8]) -> std::result::Result<(), String> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| format!("{}: {e}", path.display()))
}

/// The user's cache key: 32 random bytes in a 0600 file of theirs, made on first use.
fn read_or_make_key(path: &Path) -> std::result::Result<Vec<u8>, String> {
    match read_private(path) {
        Ok(Some(key)) if key.len() >= 32 => return Ok(key),
        Ok(Some(_)) => return Err("it is shorter than 32 bytes".into()),
        Ok(None) => {}
        Err(Refused::Unsafe(why)) => return Err(why),
        Err(Refused::Missing) => {}
    }
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| e.to_string())?;
    }
    let mut key = vec![0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut key))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    // create_new: two hosts starting at once must not both write a key; the loser reads.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(|e| e.to_string())?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_private(path) {
            Ok(Some(key)) if key.len() >= 32 => Ok(key),
            _ => Err("it was being written by another host; try again".into()),
        },
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    struct Setup {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        key: PathBuf,
        engine: Engine,
        wasm: Vec<u8>,
    }

    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let key = tmp.path().join("state/host/cache-key");
        Setup {
            dir,
            key,
            _tmp: tmp,
            engine: Engine::default(),
            wasm: wat::parse_str(WAT).unwrap(),
        }
    }

    impl Setup {
        fn load(&self) -> Source {
            Cache::with_key_file(Some(self.dir.clone()), Some(self.key.clone()))
                .load(&self.engine, &self.wasm, "abc", Path::new("p.wasm"))
                .unwrap()
                .1
        }

        fn entry(&self, ext: &str) -> PathBuf {
            let name = Cache::entry_name(&self.engine, "abc");
            self.dir.join(format!("{name}.{ext}"))
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn entries_are_private_and_reused() {
        let s = setup();
        assert_eq!(s.load(), Source::Compiled);
        assert_eq!(s.load(), Source::Cache);
        assert_eq!(mode(&s.dir), 0o700);
        assert_eq!(mode(&s.entry("cwasm")), 0o600);
        assert_eq!(mode(&s.entry("mac")), 0o600);
        assert_eq!(mode(&s.key), 0o600);
        assert!(
            !s.key.starts_with(&s.dir),
            "the key lives outside the cache"
        );
    }

    #[test]
    fn an_entry_anyone_could_have_written_is_compiled_again() {
        let s = setup();
        s.load();
        // A group-writable directory: refused, then closed again and rewritten.
        std::fs::set_permissions(&s.dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        assert_eq!(mode(&s.dir), 0o700);
        assert_eq!(s.load(), Source::Cache);
        // A world-readable entry.
        std::fs::set_permissions(s.entry("cwasm"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        // An entry whose sidecar is an unkeyed hash (what anyone can compute).
        let bytes = std::fs::read(s.entry("cwasm")).unwrap();
        let plain = hex::encode(<Sha256 as sha2::Digest>::digest(&bytes));
        std::fs::write(s.entry("mac"), plain).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        // The right MAC under another key.
        let forged = hex::encode(
            signer(&[7u8; 32], &Cache::entry_name(&s.engine, "abc"), &bytes)
                .finalize()
                .into_bytes(),
        );
        std::fs::write(s.entry("mac"), forged).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        // A symlinked entry.
        std::fs::rename(s.entry("cwasm"), s.dir.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(s.dir.join("elsewhere"), s.entry("cwasm")).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        assert_eq!(s.load(), Source::Cache);
    }

    #[test]
    fn a_key_open_to_others_turns_the_cache_off() {
        let s = setup();
        s.load();
        std::fs::set_permissions(&s.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(s.load(), Source::Compiled);
        assert_eq!(s.load(), Source::Compiled);
    }
}
