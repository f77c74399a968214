//! A plugin file: read, examined without running it, compiled (or taken from the cache)
//! and linked, ready to instantiate for each hook call.

pub mod inspect;
pub mod manifest;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::iface::HostState;
use crate::runtime::Runtime;
use crate::runtime::bindings::PluginPre;
use crate::runtime::cache::Source;
use manifest::Manifest;

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
    let started = Instant::now();
    let bytes = read(path)?;
    let examined = inspect::examine(path, &bytes)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let (component, source) = runtime
        .cache()
        .load(runtime.engine(), &bytes, &sha256, path)?;
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

/// Every `*.wasm` in a directory, sorted by the manifest's restore order.
pub fn load_dir(runtime: &Runtime, dir: &Path) -> Result<Vec<LoadedPlugin>> {
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::bad_plugin(dir, "no such plugin directory"),
        _ => Error::io(dir, e),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::bad_plugin(dir, "holds no .wasm plugins"));
    }
    let mut plugins = paths
        .iter()
        .map(|p| load(runtime, p))
        .collect::<Result<Vec<_>>>()?;
    plugins.sort_by(|a, b| {
        (a.manifest.order, &a.manifest.name).cmp(&(b.manifest.order, &b.manifest.name))
    });
    for pair in plugins.windows(2) {
        if pair[0].manifest.name == pair[1].manifest.name {
            return Err(Error::bad_plugin(
                dir,
                format!(
                    "two plugins are named `{}`: {} and {}",
                    pair[0].manifest.name, pair[0].file_name, pair[1].file_name
                ),
            ));
        }
    }
    for (i, a) in plugins.iter().enumerate() {
        for b in &plugins[i + 1..] {
            for x in &a.manifest.artifacts {
                if b.manifest.artifacts.iter().any(|y| x.path == y.path) {
                    return Err(Error::bad_plugin(
                        dir,
                        format!(
                            "`{}` and `{}` both declare the artifact `{}`",
                            a.manifest.name, b.manifest.name, x.path
                        ),
                    ));
                }
            }
        }
    }
    Ok(plugins)
}
