//! Tar streams between pods and the set, checked on the set's side. A tar coming out of a
//! pod is untrusted input: entries must stay under the path asked for, links are refused,
//! and files are written through the artifact store (which cannot leave its directory).

use std::io::{Read, Write};
use std::path::Component;
use std::sync::{Arc, Mutex};

use super::artifacts::{ArtifactStore, Entry};
use crate::error::{Error, Result};
use crate::progress::Transfer;

pub fn extract<R: Read>(
    reader: R,
    base: &str,
    store: &Arc<ArtifactStore>,
    artifact: &str,
    pod: &str,
    transfer: &Mutex<Transfer>,
) -> Result<u64> {
    let mut archive = tar::Archive::new(reader);
    let mut bytes = 0u64;
    let bad = |m: String| Error::Invalid(format!("the tar stream from pod {pod}: {m}"));
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let name = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let mut parts = Vec::new();
        for c in name.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => {
                    return Err(bad(format!(
                        "entry `{}` leaves the copied path",
                        name.display()
                    )));
                }
            }
        }
        if parts.first().map(String::as_str) != Some(base) {
            return Err(bad(format!(
                "entry `{}` is not under `{base}`",
                name.display()
            )));
        }
        let rest = &parts[1..];
        let target = if rest.is_empty() {
            artifact.to_string()
        } else {
            format!("{artifact}/{}", rest.join("/"))
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => store.create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut out = store.create_fresh_std(&target)?;
                if let Ok(mtime) = entry.header().mtime() {
                    out.set_mtime(mtime);
                }
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| Error::io(store.location(&target), e))?;
                    bytes += n as u64;
                    transfer
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add(n as u64);
                }
                out.finish()?;
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(bad(format!(
                    "`{}` is a link; links are not copied out of pods",
                    name.display()
                )));
            }
            // Extended headers are consumed by the tar reader; devices and fifos are no data.
            _ => {}
        }
    }
    Ok(bytes)
}

/// One artifact file into a tar as `name` (`copy-to-pod` of a file).
pub fn build_file<W: Write>(
    writer: W,
    store: &ArtifactStore,
    artifact: &str,
    name: &str,
    transfer: &Mutex<Transfer>,
) -> Result<u64> {
    let size = store.list(artifact)?.first().map(|e| e.size).unwrap_or(0);
    let mut tar = Tar::new(writer, artifact, transfer);
    tar.file(store, artifact, name, size)?;
    tar.finish()
}

/// Entries of a tree artifact (all of `store.list(artifact)`, or one stream's share of
/// them), named relative to the artifact.
pub fn build_tree<W: Write>(
    writer: W,
    store: &ArtifactStore,
    artifact: &str,
    entries: &[Entry],
    transfer: &Mutex<Transfer>,
) -> Result<u64> {
    let mut tar = Tar::new(writer, artifact, transfer);
    for entry in entries {
        let rel = &entry.path[artifact.len() + 1..];
        if entry.is_dir {
            tar.dir(rel)?;
        } else {
            tar.file(store, &entry.path, rel, entry.size)?;
        }
    }
    tar.finish()
}

struct Tar<'a, W: Write> {
    builder: tar::Builder<W>,
    artifact: &'a str,
    transfer: &'a Mutex<Transfer>,
    bytes: u64,
}

impl<'a, W: Write> Tar<'a, W> {
    fn new(writer: W, artifact: &'a str, transfer: &'a Mutex<Transfer>) -> Self {
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        Tar {
            builder,
            artifact,
            transfer,
            bytes: 0,
        }
    }

    fn fail(&self, e: std::io::Error) -> Error {
        sending_failed(self.artifact, e)
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o755);
        self.builder
            .append_data(&mut header, name, std::io::empty())
            .map_err(|e| self.fail(e))
    }

    fn file(&mut self, store: &ArtifactStore, source: &str, name: &str, size: u64) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        let counted = Counted {
            inner: store.read_plain(source)?,
            transfer: self.transfer,
        };
        if let Err(e) = self
            .builder
            .append_data(&mut header, name, counted.take(size))
        {
            return Err(self.fail(e));
        }
        self.bytes += size;
        Ok(())
    }

    fn finish(self) -> Result<u64> {
        let artifact = self.artifact;
        let mut writer = self
            .builder
            .into_inner()
            .map_err(|e| sending_failed(artifact, e))?;
        writer.flush().map_err(|e| sending_failed(artifact, e))?;
        Ok(self.bytes)
    }
}

fn sending_failed(artifact: &str, e: std::io::Error) -> Error {
    Error::Stream(format!("sending `{artifact}` into the pod: {e}"))
}

/// Counts bytes read, for the progress of a copy into a pod (shared by the streams of
/// one tree).
struct Counted<'a, R> {
    inner: R,
    transfer: &'a Mutex<Transfer>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.transfer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_tar_entries_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir =
            cap_std::fs::Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        let store = Arc::new(ArtifactStore::new(dir, tmp.path().into()));
        let progress = crate::progress::Progress::silent();
        let tar_with = |name: &str, kind: tar::EntryType| {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(if kind == tar::EntryType::Regular {
                3
            } else {
                0
            });
            h.set_mode(0o644);
            if kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            // set_path refuses `..`, as a well-behaved tar would; a hostile one writes raw bytes.
            let raw = name.as_bytes();
            h.as_old_mut().name[..raw.len()].copy_from_slice(raw);
            h.set_cksum();
            let data: &[u8] = if kind == tar::EntryType::Regular {
                b"abc"
            } else {
                b""
            };
            b.append(&h, data).unwrap();
            b.into_inner().unwrap()
        };
        for (name, kind) in [
            ("system/../../escape", tar::EntryType::Regular),
            ("/etc/cron.d/x", tar::EntryType::Regular),
            ("other/file", tar::EntryType::Regular),
            ("system/link", tar::EntryType::Symlink),
        ] {
            let bytes = tar_with(name, kind);
            let err = extract(
                &bytes[..],
                "system",
                &store,
                "system",
                "p",
                &Mutex::new(progress.transfer("t".into(), None)),
            )
            .unwrap_err();
            assert!(matches!(err, Error::Invalid(_)), "{name}: {err}");
        }
        assert!(!tmp.path().join("escape").exists());
        let ok = tar_with("system/provider/a.css", tar::EntryType::Regular);
        assert_eq!(
            extract(
                &ok[..],
                "system",
                &store,
                "system",
                "p",
                &Mutex::new(progress.transfer("t".into(), None))
            )
            .unwrap(),
            3
        );
        assert_eq!(
            std::fs::read(tmp.path().join("system/provider/a.css")).unwrap(),
            b"abc"
        );
    }
}
