//! Compiled plugins on disk, so a run does not pay Cranelift twice. An entry is keyed by
//! the wasm's sha256 and the engine's compatibility hash, and carries the sha256 of its
//! own bytes: a stale, truncated or swapped file is recompiled, never trusted. The cache
//! directory is the user's own (0700), as the deserialised code is run natively.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Compiled,
}

impl Cache {
    /// `None` turns the cache off.
    pub fn new(dir: Option<PathBuf>) -> Cache {
        Cache { dir }
    }

    /// `--cache-dir`, else $XDG_CACHE_HOME/host, else ~/.cache/host.
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("host"))
    }

    fn key(engine: &Engine, wasm_sha256: &str) -> String {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        format!("{wasm_sha256}-{:016x}", h.finish())
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
        let Some(dir) = &self.dir else {
            return Ok((compile()?, Source::Compiled));
        };
        let key = Self::key(engine, wasm_sha256);
        let entry = dir.join(format!("{key}.cwasm"));
        let check = dir.join(format!("{key}.sha256"));
        if let Some(component) = Self::trusted(engine, &entry, &check) {
            return Ok((component, Source::Cache));
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(|e| Error::bad_plugin(shown, format!("does not compile: {e}")))?;
        // A cache that cannot be written only costs time next run.
        if Self::store(dir, &entry, &check, &compiled).is_err() {
            tracing::warn!(
                "cannot write the compiled-plugin cache in {}",
                dir.display()
            );
        }
        // SAFETY: bytes that this engine produced a moment ago.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| Error::wasm("loading the plugin just compiled", e))?;
        Ok((component, Source::Compiled))
    }

    fn trusted(engine: &Engine, entry: &Path, check: &Path) -> Option<Component> {
        let expected = std::fs::read_to_string(check).ok()?;
        let mut file = std::fs::File::open(entry).ok()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != expected.trim() {
            return None;
        }
        // SAFETY: the file has the hash recorded when this host wrote it into a directory
        // only the user can write; deserialize also checks engine compatibility.
        unsafe { Component::deserialize_file(engine, entry) }.ok()
    }

    fn store(dir: &Path, entry: &Path, check: &Path, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, compiled)?;
        std::fs::rename(&tmp, entry)?;
        std::fs::write(check, hex::encode(Sha256::digest(compiled)))
    }
}
