//! Copying between pods and the host as `kubectl cp` does: tar over exec, streamed. This
//! module runs tar in the pod and hands its stream to a consumer, or takes one from a
//! producer; what the stream may hold is the caller's concern (the backup set checks
//! every entry of a tar that comes out of a pod).

use std::io::{Read, Write};
use std::path::{Component, Path};

use tokio_util::io::SyncIoBridge;

use super::exec::{BUFFER, capture_tail, exit_code, shown};
use super::{CAPTURE_LIMIT, Cluster, PodPermit, STDERR_TAIL};
use crate::error::{Error, Result};

/// `/opt/system/public/system` -> (`/opt/system/public`, `system`).
pub fn pod_path(path: &str) -> Result<(String, String)> {
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
    /// `tar cf - -C DIR BASE` in the pod; `consume` reads the archive on a blocking
    /// thread and returns the bytes of file data it took.
    pub async fn tar_from_pod<F>(
        &self,
        target: &PodPermit,
        dir: &str,
        base: &str,
        consume: F,
    ) -> Result<u64>
    where
        F: FnOnce(&mut dyn Read) -> Result<u64> + Send + 'static,
    {
        let argv: Vec<String> = ["tar", "cf", "-", "-C", dir, base]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.tar_out(target, argv, consume).await
    }

    /// `tar cf - -C DIR MEMBER...`: some files of a tree (see `incremental.rs`).
    pub async fn tar_members_from_pod<F>(
        &self,
        target: &PodPermit,
        dir: &str,
        members: &[String],
        consume: F,
    ) -> Result<u64>
    where
        F: FnOnce(&mut dyn Read) -> Result<u64> + Send + 'static,
    {
        // `--` ends the options: a member named `--to-command=...` stays a name.
        let mut argv: Vec<String> = ["tar", "cf", "-", "-C", dir, "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.extend(members.iter().cloned());
        self.tar_out(target, argv, consume).await
    }

    async fn tar_out<F>(&self, target: &PodPermit, argv: Vec<String>, consume: F) -> Result<u64>
    where
        F: FnOnce(&mut dyn Read) -> Result<u64> + Send + 'static,
    {
        let mut process = self.start(target, &argv, false, true).await?;
        // Buffered: tar reads 512-byte headers, and each read of the bridge is a trip
        // through the runtime.
        let mut stdout = std::io::BufReader::with_capacity(
            256 * 1024,
            SyncIoBridge::new(process.stdout.take().expect("requested")),
        );
        let stderr = process.stderr.take().expect("requested");
        let consumer = tokio::task::spawn_blocking(move || {
            let taken = consume(&mut stdout)?;
            // Read what follows the end-of-archive marker, so the stream reaches its status.
            std::io::copy(&mut stdout, &mut std::io::sink())
                .map_err(|e| Error::Stream(format!("the tar stream: {e}")))?;
            Ok(taken)
        });
        let consumed = async {
            let consumed = consumer
                .await
                .map_err(|e| Error::task("reading a tar stream", e))
                .and_then(|r| r);
            if consumed.is_err() {
                // A refused entry or a full disk: stop tar in the pod instead of waiting
                // for a status it cannot send while its output is not read.
                process.abort();
            }
            consumed
        };
        let (consumed, tail) = tokio::join!(consumed, capture_tail(stderr, STDERR_TAIL));
        let bytes = consumed?;
        let code = exit_code(&shown(target), &argv, process.status().await)?;
        if code != 0 {
            return Err(Error::CommandFailed {
                argv,
                exit_code: code,
                stderr_tail: String::from_utf8_lossy(&tail).into_owned(),
            });
        }
        Ok(bytes)
    }

    /// The tree at `path` as `find -printf FORMAT` lists it, at most `limit` bytes of
    /// listing (a bigger tree is copied whole).
    pub async fn list_tree(
        &self,
        target: &PodPermit,
        path: &str,
        format: &str,
        limit: usize,
        transfer: &mut crate::progress::Transfer,
    ) -> Result<Vec<u8>> {
        let argv: Vec<String> = ["find", path, "-printf", format]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.output_capped(target, &argv, limit, transfer).await
    }

    /// A command's stdout, refused past `limit` bytes.
    async fn output_capped(
        &self,
        target: &PodPermit,
        argv: &[String],
        limit: usize,
        transfer: &mut crate::progress::Transfer,
    ) -> Result<Vec<u8>> {
        let mut out = Capped {
            bytes: Vec::new(),
            limit,
        };
        self.exec_to_writer(target, argv, &mut out, transfer)
            .await?;
        Ok(out.bytes)
    }

    /// The names directly under `path` (hidden ones too), sorted; at most `limit` bytes of
    /// them. Needs only `sh`, where `list_tree` needs GNU find.
    pub async fn list_top_level(
        &self,
        target: &PodPermit,
        path: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let argv: Vec<String> = [
            "sh",
            "-c",
            r#"cd -- "$1" && for f in * .[!.]* ..?*; do if [ -e "$f" ] || [ -h "$f" ]; then printf '%s\0' "$f"; fi; done"#,
            "sh",
            path,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut quiet = crate::progress::Progress::silent().transfer(String::new(), None);
        let listed = self.output_capped(target, &argv, limit, &mut quiet).await?;
        let mut names = listed
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| {
                String::from_utf8(n.to_vec()).map_err(|_| {
                    Error::Stream(format!("a name under {path} in the pod is not UTF-8"))
                })
            })
            .collect::<Result<Vec<String>>>()?;
        names.sort();
        Ok(names)
    }

    /// `tar -x` under DIR in the pod (created if missing); `produce` writes the archive
    /// on a blocking thread and returns the bytes of file data it sent.
    pub async fn tar_into_pod<F>(&self, target: &PodPermit, dir: &str, produce: F) -> Result<u64>
    where
        F: FnOnce(&mut dyn Write) -> Result<u64> + Send + 'static,
    {
        let argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            "mkdir -p -- \"$1\" && exec tar -x -m --no-same-owner -f - -C \"$1\"".into(),
            "sh".into(),
            dir.to_string(),
        ];
        let mut process = self.start(target, &argv, true, true).await?;
        let stdin = SyncIoBridge::new(process.stdin.take().expect("requested"));
        let producer = tokio::task::spawn_blocking(move || {
            // A tar of small files is written 512 bytes at a time (a header, a file, its
            // padding); unbuffered, each write was a trip through the runtime.
            let mut buffered = std::io::BufWriter::with_capacity(BUFFER, stdin);
            let result = produce(&mut buffered).and_then(|n| {
                buffered
                    .flush()
                    .map(|()| n)
                    .map_err(|e| Error::Stream(format!("writing to tar in the pod: {e}")))
            });
            let (mut stdin, _) = buffered.into_parts();
            // Close stdin for real (dropping the bridge does not): tar in the pod waits
            // for end of input before it finishes the last file and exits.
            let closed = stdin
                .shutdown()
                .map_err(|e| Error::Stream(format!("closing the input of tar in the pod: {e}")));
            result.and_then(|n| closed.map(|()| n))
        });
        let fed = async {
            producer
                .await
                .map_err(|e| Error::task("writing a tar stream", e))
                .and_then(|r| r)
        };
        let stdout = process.stdout.take().expect("requested");
        let stderr = process.stderr.take().expect("requested");
        let outputs = async {
            tokio::join!(
                capture_tail(stdout, CAPTURE_LIMIT),
                capture_tail(stderr, STDERR_TAIL)
            )
        };
        let (fed, (_, err)) = tokio::join!(fed, outputs);
        let code = exit_code(&shown(target), &argv, process.status().await)?;
        if code != 0 {
            return Err(Error::CommandFailed {
                argv,
                exit_code: code,
                stderr_tail: String::from_utf8_lossy(&err).into_owned(),
            });
        }
        fed
    }
}

/// A Vec that refuses to grow past `limit`.
struct Capped {
    bytes: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.bytes.len() + buf.len() > self.limit {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "more than {} of listing",
                crate::progress::human(self.limit as u64)
            ))));
        }
        self.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_paths_split_like_kubectl_cp() {
        assert_eq!(
            pod_path("/opt/system/public/system").unwrap(),
            ("/opt/system/public".into(), "system".into())
        );
        assert_eq!(
            pod_path("/var/lib/redis/data/dump.rdb").unwrap(),
            ("/var/lib/redis/data".into(), "dump.rdb".into())
        );
        assert!(pod_path("relative/path").is_err());
        assert!(pod_path("/var/lib/../etc").is_err());
    }
}
