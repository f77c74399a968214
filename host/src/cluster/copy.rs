//! Copying files and directories between pods and the backup set as `kubectl cp` does:
//! tar over exec, streamed. The tar coming out of a pod is untrusted input: entries must
//! stay under the path asked for, links are refused, and files are written through the
//! artifact store (which cannot leave its directory).

use std::io::{Read, Write};
use std::path::{Component, Path};
use std::sync::Arc;

use tokio_util::io::SyncIoBridge;

use super::{CAPTURE_LIMIT, Cluster};
use crate::backup_set::artifacts::ArtifactStore;
use crate::capability::Permit;
use crate::error::{Error, Result};
use crate::progress::Transfer;

/// `/opt/system/public/system` -> (`/opt/system/public`, `system`).
fn split(path: &str) -> Result<(String, String)> {
    let p = Path::new(path);
    if !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(Error::Invalid(format!(
            "pod path `{path}` must be absolute, without . or .."
        )));
    }
    let base = p
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("pod path `{path}` has no last component")))?
        .to_string_lossy()
        .into_owned();
    let dir = p
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    Ok((dir, base))
}

impl Cluster {
    pub async fn copy_from_pod(
        &self,
        _: &Permit,
        pod: &str,
        path: &str,
        store: Arc<ArtifactStore>,
        artifact: &str,
        mut transfer: Transfer,
    ) -> Result<u64> {
        let (dir, base) = split(path)?;
        let argv: Vec<String> = ["tar", "cf", "-", "-C", &dir, &base]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut process = self.start(pod, &argv, false, true).await?;
        // Buffered: tar reads 512-byte headers, and each read of the bridge is a trip
        // through the runtime.
        let stdout = std::io::BufReader::with_capacity(
            256 * 1024,
            SyncIoBridge::new(process.stdout.take().expect("requested")),
        );
        let stderr = process.stderr.take().expect("requested");
        let artifact_owned = artifact.to_string();
        let pod_owned = pod.to_string();
        let extract = tokio::task::spawn_blocking(move || {
            let result = extract(
                stdout,
                &base,
                &store,
                &artifact_owned,
                &pod_owned,
                &mut transfer,
            );
            (result, transfer)
        });
        let extracted = async {
            let extracted = extract.await;
            if !matches!(extracted, Ok((Ok(_), _))) {
                // A refused entry or a full disk: stop tar in the pod instead of waiting
                // for a status it cannot send while its output is not read.
                process.abort();
            }
            extracted
        };
        let (extracted, tail) = tokio::join!(
            extracted,
            super::exec::capture_tail(stderr, super::STDERR_TAIL)
        );
        let (extracted, transfer) =
            extracted.map_err(|e| Error::Runtime(format!("tar extraction task: {e}")))?;
        let bytes = match extracted {
            Ok(b) => b,
            Err(e) => {
                transfer.finish(false);
                return Err(e);
            }
        };
        let code = super::exec::exit_code(pod, &argv, process.status().await)?;
        transfer.finish(code == 0);
        if code != 0 {
            return Err(Error::CommandFailed {
                argv,
                exit_code: code,
                stderr_tail: String::from_utf8_lossy(&tail).into_owned(),
            });
        }
        Ok(bytes)
    }

    pub async fn copy_to_pod(
        &self,
        _: &Permit,
        store: Arc<ArtifactStore>,
        artifact: &str,
        pod: &str,
        path: &str,
        mut transfer: Transfer,
    ) -> Result<u64> {
        let (parent, base) = split(path)?;
        let is_dir = store.is_dir(artifact)?;
        let target = if is_dir { path.to_string() } else { parent };
        let argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            "mkdir -p -- \"$1\" && exec tar -x -m --no-same-owner -f - -C \"$1\"".into(),
            "sh".into(),
            target,
        ];
        let mut process = self.start(pod, &argv, true, true).await?;
        let mut stdin = SyncIoBridge::new(process.stdin.take().expect("requested"));
        let artifact_owned = artifact.to_string();
        let build = tokio::task::spawn_blocking(move || {
            let result = build(
                &mut stdin,
                &store,
                &artifact_owned,
                if is_dir { None } else { Some(base.as_str()) },
                &mut transfer,
            );
            // Close stdin for real (dropping the bridge does not): tar in the pod waits
            // for end of input before it finishes the last file and exits.
            let closed = stdin
                .shutdown()
                .map_err(|e| Error::Stream(format!("closing the input of tar in the pod: {e}")));
            (result.and_then(|n| closed.map(|()| n)), transfer)
        });
        let feed = async {
            let (result, transfer) = build
                .await
                .map_err(|e| Error::Runtime(format!("tar building task: {e}")))?;
            transfer.finish(result.is_ok());
            result
        };
        let stdout = process.stdout.take().expect("requested");
        let stderr = process.stderr.take().expect("requested");
        let outputs = async {
            tokio::join!(
                super::exec::capture_tail(stdout, CAPTURE_LIMIT),
                super::exec::capture_tail(stderr, super::STDERR_TAIL)
            )
        };
        let (built, (_, err)) = tokio::join!(feed, outputs);
        let code = super::exec::exit_code(pod, &argv, process.status().await)?;
        if code != 0 {
            return Err(Error::CommandFailed {
                argv,
                exit_code: code,
                stderr_tail: String::from_utf8_lossy(&err).into_owned(),
            });
        }
        built
    }
}

fn extract<R: Read>(
    reader: R,
    base: &str,
    store: &Arc<ArtifactStore>,
    artifact: &str,
    pod: &str,
    transfer: &mut Transfer,
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
                let mut out = store.create_std(&target)?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| Error::io(store.location(&target), e))?;
                    bytes += n as u64;
                    transfer.add(n as u64);
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
    // Read what follows the end-of-archive marker, so the stream reaches its status.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
    Ok(bytes)
}

fn build<W: Write>(
    writer: W,
    store: &ArtifactStore,
    artifact: &str,
    file_name: Option<&str>,
    transfer: &mut Transfer,
) -> Result<u64> {
    let mut builder = tar::Builder::new(writer);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut bytes = 0u64;
    let fail = |e: std::io::Error| Error::Stream(format!("sending `{artifact}` into the pod: {e}"));
    let mut add_file =
        |builder: &mut tar::Builder<W>, source: &str, name: &str, size: u64| -> Result<()> {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(size);
            header.set_mode(0o644);
            let file = store.open_std(source)?;
            let counted = Counted {
                inner: file,
                transfer: &mut *transfer,
            };
            builder
                .append_data(&mut header, name, counted.take(size))
                .map_err(fail)?;
            bytes += size;
            Ok(())
        };
    match file_name {
        Some(name) => {
            let size = store.list(artifact)?.first().map(|e| e.size).unwrap_or(0);
            add_file(&mut builder, artifact, name, size)?;
        }
        None => {
            for entry in store.list(artifact)? {
                let rel = &entry.path[artifact.len() + 1..];
                if entry.is_dir {
                    let mut header = tar::Header::new_gnu();
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    header.set_mode(0o755);
                    builder
                        .append_data(&mut header, rel, std::io::empty())
                        .map_err(fail)?;
                } else {
                    add_file(&mut builder, &entry.path, rel, entry.size)?;
                }
            }
        }
    }
    let mut writer = builder.into_inner().map_err(fail)?;
    writer.flush().map_err(fail)?;
    drop(writer);
    Ok(bytes)
}

/// Counts bytes read, for the progress of a copy into a pod.
struct Counted<'a, R> {
    inner: R,
    transfer: &'a mut Transfer,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.transfer.add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_paths_split_like_kubectl_cp() {
        assert_eq!(
            split("/opt/system/public/system").unwrap(),
            ("/opt/system/public".into(), "system".into())
        );
        assert_eq!(
            split("/var/lib/redis/data/dump.rdb").unwrap(),
            ("/var/lib/redis/data".into(), "dump.rdb".into())
        );
        assert!(split("relative/path").is_err());
        assert!(split("/var/lib/../etc").is_err());
    }

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
                &mut progress.transfer("t".into(), None),
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
                &mut progress.transfer("t".into(), None)
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
