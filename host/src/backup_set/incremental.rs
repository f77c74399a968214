//! Incremental trees. A backup into a repository copies a tree out of a pod (system/,
//! the manual's `oc rsync`) as rsync does: it lists the tree in the pod first, with each
//! file's size and modification time, and fetches only the files that are new or whose
//! size or time changed; every other file is copied from the previous good set, and its
//! content hash checked against what that set recorded (a file that does not match is
//! fetched). The new set is whole on its own, as a full copy would have made it: prune
//! can delete the previous set.
//!
//! Files are compared as rsync's quick check does (size and mtime to the second). A file
//! rewritten with the same size within the second of the previous backup is missed, as
//! rsync misses it; `--no-incremental` copies everything.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use super::BackupSet;
use super::artifacts::ArtifactStore;
use super::manifest::SetManifest;
use crate::error::{Error, Result};

/// The previous good set of a repository, for the trees of the next backup.
pub struct Previous {
    /// Its name, for messages.
    pub name: String,
    store: Arc<ArtifactStore>,
    /// By record path: size, sha256, mtime.
    files: HashMap<String, (u64, String, Option<u64>)>,
}

impl Previous {
    /// The set as a source of unchanged files, if it can be one: a plain set (an
    /// encrypted one's files are sealed to keys this run may not have) from the same
    /// namespace. `None` says why not.
    pub fn open(
        set: BackupSet,
        name: &str,
        namespace: &str,
        encrypting: bool,
    ) -> std::result::Result<Previous, String> {
        let manifest: SetManifest = set
            .manifest()
            .map_err(|e| e.to_string())?
            .ok_or("it has no manifest.json")?;
        if manifest.encryption.is_some() || encrypting {
            return Err("encrypted sets are copied whole".into());
        }
        if manifest.namespace != namespace {
            return Err(format!("it is of namespace {}", manifest.namespace));
        }
        let files = manifest
            .components
            .values()
            .flat_map(|c| &c.artifacts)
            .map(|r| (r.path.clone(), (r.size, r.sha256.clone(), r.mtime)))
            .collect();
        Ok(Previous {
            name: name.to_string(),
            store: set.reader().map_err(|e| e.to_string())?,
            files,
        })
    }
}

/// One entry of the tree as the pod lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    /// Relative to the copied path.
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    /// Seconds, as tar records them.
    pub mtime: u64,
}

/// `find PATH -printf` with what [`parse_listing`] reads: type, size, mtime, and the path
/// under PATH, NUL-terminated (a file name may hold any byte but NUL and `/`).
pub const LISTING_FORMAT: &str = "%y %s %T@ %P\\0";

/// Reads `find -printf LISTING_FORMAT` output. Anything but plain files and directories
/// (links, FIFOs) is left to the tar copy, which refuses it.
pub fn parse_listing(bytes: &[u8]) -> Result<Vec<PodEntry>> {
    let bad = |m: String| Error::Invalid(format!("the listing of the tree in the pod: {m}"));
    let mut out = Vec::new();
    for record in bytes.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let text =
            std::str::from_utf8(record).map_err(|_| bad("a file name that is not UTF-8".into()))?;
        let mut parts = text.splitn(4, ' ');
        let (Some(kind), Some(size), Some(mtime), Some(path)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(format!("`{text}` is not `type size mtime path`")));
        };
        if path.is_empty() {
            continue; // the copied directory itself
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| bad(format!("size `{size}`")))?;
        let mtime = mtime
            .split('.')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad(format!("mtime `{mtime}`")))?;
        contract::paths::check_relative_path(path).map_err(|e| bad(format!("`{path}`: {e}")))?;
        match kind {
            "f" => out.push(PodEntry {
                path: path.to_string(),
                is_dir: false,
                size,
                mtime,
            }),
            "d" => out.push(PodEntry {
                path: path.to_string(),
                is_dir: true,
                size: 0,
                mtime,
            }),
            other => {
                return Err(bad(format!(
                    "`{path}` is of type `{other}`: only files and directories are copied"
                )));
            }
        }
    }
    Ok(out)
}

/// What a tree copy does with each entry.
#[derive(Debug, Default)]
pub struct Plan {
    pub dirs: Vec<String>,
    /// Unchanged since the previous set: (path under the tree, its record there).
    pub reuse: Vec<(String, u64, String, u64)>,
    /// New or changed: fetched from the pod.
    pub fetch: Vec<String>,
    pub fetch_bytes: u64,
}

impl Plan {
    pub fn new(listing: Vec<PodEntry>, artifact: &str, previous: &Previous) -> Plan {
        let mut plan = Plan::default();
        for e in listing {
            if e.is_dir {
                plan.dirs.push(e.path);
                continue;
            }
            let key = format!("{artifact}/{}", e.path);
            match previous.files.get(&key) {
                Some((size, sha, Some(mtime))) if *size == e.size && *mtime == e.mtime => {
                    plan.reuse.push((e.path, *size, sha.clone(), *mtime))
                }
                _ => {
                    plan.fetch_bytes += e.size;
                    plan.fetch.push(e.path);
                }
            }
        }
        plan
    }
}

/// Copies an unchanged file from the previous set into the staged tree, with the pod's
/// mtime, and checks it against the previous set's record. `false`: it does not match
/// (the previous set was changed), so the caller fetches it instead.
pub fn reuse(
    previous: &Previous,
    staged: &Arc<ArtifactStore>,
    path: &str,
    sha256: &str,
    mtime: u64,
) -> Result<bool> {
    let mut source = previous.store.read_plain(path)?;
    let mut out = staged.create_fresh_std(path)?;
    out.set_mtime(mtime);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = source
            .read(&mut buf)
            .map_err(|e| Error::io(previous.store.location(path), e))?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut out, &buf[..n])
            .map_err(|e| Error::io(staged.location(path), e))?;
    }
    if out.sha256_so_far() != sha256 {
        drop(out);
        return Ok(false);
    }
    out.finish()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_listing_is_read_and_checked() {
        let listing = b"d 4096 1732600000.5 \0d 4096 1732600000.5 provider-1\0f 12 1732600001.9 provider-1/a b.txt\0";
        let entries = parse_listing(listing).unwrap();
        assert_eq!(
            entries,
            vec![
                PodEntry {
                    path: "provider-1".into(),
                    is_dir: true,
                    size: 0,
                    mtime: 1732600000
                },
                PodEntry {
                    path: "provider-1/a b.txt".into(),
                    is_dir: false,
                    size: 12,
                    mtime: 1732600001
                },
            ]
        );
        assert!(parse_listing(b"f 1 1 ../etc/passwd\0").is_err());
        assert!(parse_listing(b"l 1 1 link\0").is_err());
        assert!(parse_listing(b"f x 1 a\0").is_err());
    }
}
