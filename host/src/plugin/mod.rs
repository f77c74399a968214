//! A plugin file: read, examined without running it, compiled (or taken from the cache)
//! and linked, ready to instantiate for each hook call.

pub mod inspect;
pub mod oci;
mod runtime;
pub mod scaffold;
pub mod sets;
pub mod signature;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use contract::Manifest;
use contract::order::{self, Missing};
use contract::paths::overlap;

use crate::backup_set::verify::PluginFile;
use crate::capabilities::HostState;
use crate::capabilities::bindings::PluginPre;
use crate::error::{Error, Result};
use crate::sandbox::cache::Source;
pub use runtime::Runtime;
use signature::Requirement;

pub struct LoadedPlugin {
    pub path: PathBuf,
    pub file_name: String,
    pub sha256: String,
    pub manifest: Manifest,
    pub manifest_text: String,
    pub pre: PluginPre<HostState>,
    pub source: Source,
    pub load_time: Duration,
}

/// Reads a plugin file (a friendly error for the usual mistakes).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::bad_plugin(path, "no such file"),
        _ => Error::io(path, e),
    })?;
    if meta.is_dir() {
        return Err(Error::bad_plugin(
            path,
            "is a directory; give a .wasm file (or use --plugins DIR)",
        ));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

pub fn load(runtime: &Runtime, path: &Path) -> Result<LoadedPlugin> {
    load_signed(runtime, path, None)
}

/// [`load`], refusing a file not signed as `required` asks; the signature is checked on
/// the very bytes that are then compiled.
pub fn load_signed(
    runtime: &Runtime,
    path: &Path,
    required: Option<&Requirement>,
) -> Result<LoadedPlugin> {
    let bytes = read(path)?;
    if let Some(r) = required {
        r.check_bytes(path, &bytes)?;
    }
    compile(runtime, path, bytes)
}

fn compile(runtime: &Runtime, path: &Path, bytes: Vec<u8>) -> Result<LoadedPlugin> {
    let started = Instant::now();
    let examined = inspect::examine(path, &bytes)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sandbox = runtime.sandbox();
    let (component, source) = sandbox
        .cache()
        .load(sandbox.engine(), &bytes, &sha256, path)?;
    let pre = runtime
        .link(&component)
        .map_err(|m| Error::bad_plugin(path, m))?;
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256,
        manifest: examined.manifest,
        manifest_text: examined.manifest_text,
        pre,
        source,
        load_time: started.elapsed(),
    })
}

/// The `*.wasm` files of a plugin directory, by name.
pub fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::bad_plugin(dir, "no such plugin directory"),
        _ => Error::io(dir, e),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    Ok(files)
}

/// Every `*.wasm` in a directory, in restore order: the waves of the manifests' `after`
/// lists, by name within a wave.
pub fn load_dir(runtime: &Runtime, dir: &Path) -> Result<Vec<LoadedPlugin>> {
    load_dir_signed(runtime, dir, None)
}

/// [`load_dir`], refusing the set if any file is not signed as `required` asks: every
/// signature is checked before the first plugin is compiled.
pub fn load_dir_signed(
    runtime: &Runtime,
    dir: &Path,
    required: Option<&Requirement>,
) -> Result<Vec<LoadedPlugin>> {
    let paths = wasm_files(dir)?;
    if paths.is_empty() {
        return Err(Error::bad_plugin(dir, "holds no .wasm plugins"));
    }
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let bytes = read(&p)?;
        if let Some(r) = required {
            r.check_bytes(&p, &bytes)?;
        }
        files.push((p, bytes));
    }
    let plugins = files
        .into_iter()
        .map(|(p, bytes)| compile(runtime, &p, bytes))
        .collect::<Result<Vec<_>>>()?;
    check_set(dir, &plugins)?;
    in_order(dir, plugins, |p| &p.manifest, Missing::Refuse)
}

/// Plugins (or anything that carries a plugin's manifest) sorted by their `after` lists.
pub fn in_order<T>(
    dir: &Path,
    plugins: Vec<T>,
    manifest: impl Fn(&T) -> &Manifest,
    missing: Missing,
) -> Result<Vec<T>> {
    let manifests: Vec<&Manifest> = plugins.iter().map(&manifest).collect();
    let sequence = order::sequence(&manifests, missing).map_err(|source| Error::BadPluginSet {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut slots: Vec<Option<T>> = plugins.into_iter().map(Some).collect();
    Ok(sequence
        .into_iter()
        .filter_map(|i| slots[i].take())
        .collect())
}

/// Every plugin of a directory, read from its file and never run (`verify`, `--plan`),
/// in the restore order.
pub fn examine_dir(dir: &Path, missing: Missing) -> Result<Vec<PluginFile>> {
    let paths = wasm_files(dir)?;
    let mut files = Vec::new();
    for path in paths {
        let bytes = read(&path)?;
        let examined = inspect::examine(&path, &bytes)?;
        files.push(PluginFile {
            manifest: examined.manifest,
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    in_order(dir, files, |f| &f.manifest, missing)
}

/// Plugins that cannot be loaded together: one name twice, or artifacts that are the
/// same or nest (one plugin's file inside another's directory).
fn check_set(dir: &Path, plugins: &[LoadedPlugin]) -> Result<()> {
    for (i, a) in plugins.iter().enumerate() {
        for b in &plugins[i + 1..] {
            if a.manifest.name == b.manifest.name {
                return Err(Error::bad_plugin(
                    dir,
                    format!(
                        "two plugins are named `{}`: {} and {}",
                        a.manifest.name, a.file_name, b.file_name
                    ),
                ));
            }
            for x in &a.manifest.artifacts {
                if let Some(y) = b
                    .manifest
                    .artifacts
                    .iter()
                    .find(|y| overlap(&x.path, &y.path))
                {
                    return Err(Error::bad_plugin(
                        dir,
                        if x.path == y.path {
                            format!(
                                "`{}` and `{}` both declare the artifact `{}`",
                                a.manifest.name, b.manifest.name, x.path
                            )
                        } else {
                            format!(
                                "`{}` declares the artifact `{}` and `{}` declares `{}`: one lies inside the other",
                                a.manifest.name, x.path, b.manifest.name, y.path
                            )
                        },
                    ));
                }
            }
        }
    }
    Ok(())
}
