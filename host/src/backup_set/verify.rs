//! Checking a backup set before the first change to the cluster. A set written by `host`
//! is checked against its manifest.json (every file's size and sha256, nothing missing,
//! nothing extra); a set made by hand with the manual's commands has no manifest, so each
//! artifact is checked for its format instead (a gzip stream that decodes to the end, JSON
//! that parses, an RDB header, a directory).

use std::collections::BTreeSet;
use std::io::Read;

use sha2::{Digest, Sha256};

use super::BackupSet;
use super::artifacts::ArtifactStore;
use crate::error::{Error, Result};
use contract::manifest::{Format, Manifest};

#[derive(Debug, Default)]
pub struct Verified {
    /// No manifest.json: checked by format only.
    pub hand_made: bool,
    pub warnings: Vec<String>,
    pub files: usize,
    pub bytes: u64,
}

/// Verifies what `plugins` will read. Runs on a blocking thread (it reads every byte).
pub fn verify(set: &BackupSet, plugins: &[Manifest]) -> Result<Verified> {
    let store = set.reader()?;
    let mut out = Verified::default();
    let bad = |m: String| Error::bad_set(set.path(), m);
    match set.manifest()? {
        Some(manifest) => {
            for plugin in plugins.iter().filter(|p| !p.artifacts.is_empty()) {
                if let Some(why) = manifest.failed.get(&plugin.name) {
                    return Err(bad(format!(
                        "the last backup of `{}` failed ({why}); its artifacts cannot be trusted",
                        plugin.name
                    )));
                }
                let Some(component) = manifest.components.get(&plugin.name) else {
                    if plugin.artifacts.iter().all(|a| a.optional) {
                        out.warnings.push(format!(
                            "the set has no {} component; its artifacts are optional, skipped",
                            plugin.name
                        ));
                        continue;
                    }
                    let listed: Vec<&String> = manifest.components.keys().collect();
                    return Err(bad(format!(
                        "it has no `{}` component (manifest.json lists: {})",
                        plugin.name,
                        listed
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                for artifact in &plugin.artifacts {
                    let records: Vec<_> = component
                        .artifacts
                        .iter()
                        .filter(|r| r.artifact == artifact.path)
                        .collect();
                    if records.is_empty() && artifact.format != Format::Tree {
                        if artifact.optional {
                            continue;
                        }
                        return Err(bad(format!(
                            "artifact `{}` is not in manifest.json",
                            artifact.path
                        )));
                    }
                    for record in &records {
                        let (size, sha) = hash(&store, &record.path).map_err(|e| match e {
                            Error::NotFound(_) => bad(format!(
                                "artifact `{}` is listed in manifest.json but missing",
                                record.path
                            )),
                            other => other,
                        })?;
                        if size != record.size || sha != record.sha256 {
                            return Err(bad(format!(
                                "artifact `{}` does not match manifest.json (size {size}, expected {}; sha256 {}, expected {}): corrupt or tampered",
                                record.path,
                                record.size,
                                &sha[..12],
                                &record.sha256[..record.sha256.len().min(12)]
                            )));
                        }
                        out.files += 1;
                        out.bytes += size;
                    }
                    if artifact.format == Format::Tree && store.exists(&artifact.path)? {
                        let listed: BTreeSet<&str> =
                            records.iter().map(|r| r.path.as_str()).collect();
                        for entry in store
                            .list(&artifact.path)?
                            .into_iter()
                            .filter(|e| !e.is_dir)
                        {
                            if !listed.contains(entry.path.as_str()) {
                                return Err(bad(format!(
                                    "`{}` is not in manifest.json: the set was changed after the backup",
                                    entry.path
                                )));
                            }
                        }
                    }
                }
            }
        }
        None => {
            out.hand_made = true;
            out.warnings.push(
                "no manifest.json: a set made by hand; artifacts are checked by format only".into(),
            );
            for plugin in plugins {
                for artifact in &plugin.artifacts {
                    if !store.exists(&artifact.path)? {
                        if artifact.optional {
                            out.warnings.push(format!(
                                "{}: `{}` is not in the set, skipped",
                                plugin.name, artifact.path
                            ));
                            continue;
                        }
                        return Err(bad(format!(
                            "artifact `{}` ({}) is missing",
                            artifact.path, plugin.name
                        )));
                    }
                    let (files, bytes) = check_format(&store, &artifact.path, artifact.format)
                        .map_err(|m| bad(format!("artifact `{}`: {m}", artifact.path)))?;
                    out.files += files;
                    out.bytes += bytes;
                }
            }
        }
    }
    Ok(out)
}

fn hash(store: &ArtifactStore, path: &str) -> Result<(u64, String)> {
    let mut file = store.open_std(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io(store.location(path), e))?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
}

/// (files, bytes) checked.
fn check_format(
    store: &ArtifactStore,
    path: &str,
    format: Format,
) -> std::result::Result<(usize, u64), String> {
    let open = || store.open_std(path).map_err(|e| e.to_string());
    match format {
        Format::Gzip => {
            let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(open()?));
            let n = std::io::copy(&mut decoder, &mut std::io::sink())
                .map_err(|e| format!("not a complete gzip stream ({e})"))?;
            if n == 0 {
                return Err("the gzip stream is empty".into());
            }
            Ok((1, n))
        }
        Format::Json => {
            let value: serde_json::Value =
                serde_json::from_reader(std::io::BufReader::new(open()?))
                    .map_err(|e| format!("not JSON ({e})"))?;
            if value.get("kind").and_then(|k| k.as_str()).is_none() {
                return Err("JSON without a `kind`: not a Kubernetes object".into());
            }
            Ok((1, 0))
        }
        Format::Rdb => {
            let mut head = [0u8; 9];
            open()?
                .read_exact(&mut head)
                .map_err(|_| "too short for an RDB file".to_string())?;
            if &head[..5] != b"REDIS" || !head[5..].iter().all(u8::is_ascii_digit) {
                return Err("not a Redis RDB file (no REDIS header)".into());
            }
            Ok((1, 9))
        }
        Format::Tree => {
            if !store.is_dir(path).map_err(|e| e.to_string())? {
                return Err("expected a directory".into());
            }
            let entries = store.list(path).map_err(|e| e.to_string())?;
            let files: Vec<_> = entries.iter().filter(|e| !e.is_dir).collect();
            Ok((files.len(), files.iter().map(|e| e.size).sum()))
        }
        Format::Raw => Ok((1, 0)),
    }
}
