//! The artifacts a manifest declares, and `host:plugin/store`: the plugin's own slice of
//! the backup set, as small chunked reads and writes. Writable only during backup; a
//! writer's artifact appears only when `finish` succeeds.

use std::time::Instant;

use contract::manifest::{Artifact, Format};
use contract::paths::{check_relative_path, is_within};
use contract::{Hook, Manifest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::component::Resource;

use super::bindings::host::plugin::store::{self, Entry};
use super::{Call, Grant as FullGrant, HostError, HostState, list_or_none};
use crate::backup_set::artifacts::ArtifactWriter;
use crate::cluster::PodFacts;
use crate::error::{Error, Result};

/// The biggest chunk one `read` returns, whatever the plugin asks for.
const MAX_CHUNK: u32 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Default)]
pub struct Grant {
    artifacts: Vec<Artifact>,
    writable: bool,
    hook: Option<Hook>,
}

impl Grant {
    pub fn new(manifest: &Manifest, hook: Hook) -> Grant {
        Grant {
            artifacts: manifest.artifacts.clone(),
            writable: hook.writes_the_set(),
            hook: Some(hook),
        }
    }

    /// Paths are checked as text first (no `..`, no absolute paths, nothing the set keeps
    /// for itself), then must name a declared artifact or lie inside a declared directory.
    pub fn check(&self, path: &str, access: Access) -> Result<()> {
        // Messages quote a line's worth of the path: it is the plugin's, of any length.
        let shown = crate::audit::cut(path, 200);
        check_relative_path(path)
            .map_err(|e| Error::Denied(format!("artifact path `{shown}`: {e}")))?;
        if access == Access::Write && !self.writable {
            let during = self.hook.map(Hook::name).unwrap_or("describe");
            return Err(Error::Denied(format!(
                "writing `{shown}` during {during}: the backup set is read-only except during backup"
            )));
        }
        let declared = self
            .artifacts
            .iter()
            .any(|a| a.path == path || (a.format == Format::Tree && is_within(path, &a.path)));
        if declared {
            Ok(())
        } else {
            let names: Vec<String> = self.artifacts.iter().map(|a| a.path.clone()).collect();
            Err(Error::Denied(format!(
                "artifact `{shown}` is not declared in the plugin's manifest; declared: {}",
                list_or_none(&names)
            )))
        }
    }
}

impl Grant {
    /// The declared artifact is a directory tree.
    pub fn is_tree(&self, path: &str) -> bool {
        self.artifacts
            .iter()
            .any(|a| a.path == path && a.format == contract::manifest::Format::Tree)
    }

    /// What a declared artifact holds, if a database client reads it.
    pub fn content(&self, path: &str) -> Option<contract::manifest::Content> {
        self.artifacts
            .iter()
            .find(|a| a.path == path)
            .and_then(|a| a.content)
    }
}

/// `host inspect`'s words for the artifacts.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    manifest
        .artifacts
        .iter()
        .map(|a| {
            let optional = if a.optional { ", optional" } else { "" };
            let content = match a.content {
                Some(c) => format!(", {}: the host refuses client commands in it", c.name()),
                None => String::new(),
            };
            format!(
                "artifact {} ({}{optional}{content}): written during backup, read during restore",
                a.path,
                a.format.name()
            )
        })
        .collect()
}

/// A store call on one path.
pub struct StoreCall {
    call: &'static str,
    path: String,
    access: Access,
}

impl StoreCall {
    pub fn read(call: &'static str, path: &str) -> StoreCall {
        StoreCall {
            call,
            path: path.to_string(),
            access: Access::Read,
        }
    }

    pub fn write(call: &'static str, path: &str) -> StoreCall {
        StoreCall {
            call,
            path: path.to_string(),
            access: Access::Write,
        }
    }
}

impl Call for StoreCall {
    type Permit = ();
    fn audit(&self) -> (&'static str, String) {
        (self.call, self.path.clone())
    }
    fn check(&self, g: &FullGrant, _: Option<&PodFacts>) -> Result<()> {
        g.artifacts.check(&self.path, self.access)
    }
}

pub struct ReaderHandle {
    file: crate::backup_set::artifacts::PlainReader,
    path: String,
}

pub struct WriterHandle {
    writer: Option<ArtifactWriter>,
    path: String,
}

impl store::Host for HostState {
    async fn exists(&mut self, path: String) -> std::result::Result<bool, HostError> {
        let call = StoreCall::read("store-exists", &path);
        self.guarded(call, async |(), ctx| ctx.artifacts.exists(&path))
            .await
    }

    async fn list(&mut self, path: String) -> std::result::Result<Vec<Entry>, HostError> {
        let call = StoreCall::read("store-list", &path);
        self.guarded(call, async |(), ctx| {
            Ok(ctx
                .artifacts
                .list(&path)?
                .into_iter()
                .map(|e| Entry {
                    path: e.path,
                    is_dir: e.is_dir,
                    size: e.size,
                })
                .collect())
        })
        .await
    }

    async fn open(
        &mut self,
        path: String,
    ) -> std::result::Result<Resource<ReaderHandle>, HostError> {
        let call = StoreCall::read("store-read", &path);
        let room = self.sandbox.open_artifact();
        let file = self
            .guarded(call, async |(), ctx| {
                room.map_err(too_many)?;
                ctx.artifacts.open(&path).await
            })
            .await;
        let file = file.inspect_err(|_| {
            if room.is_ok() {
                self.sandbox.close_artifact();
            }
        })?;
        Ok(self.sandbox.table().push(ReaderHandle { file, path })?)
    }

    async fn create(
        &mut self,
        path: String,
    ) -> std::result::Result<Resource<WriterHandle>, HostError> {
        let call = StoreCall::write("store-write", &path);
        let room = self.sandbox.open_artifact();
        let writer = self
            .guarded(call, async |(), ctx| {
                room.map_err(too_many)?;
                ctx.artifacts.create(&path)
            })
            .await;
        let writer = writer.inspect_err(|_| {
            if room.is_ok() {
                self.sandbox.close_artifact();
            }
        })?;
        Ok(self.sandbox.table().push(WriterHandle {
            writer: Some(writer),
            path,
        })?)
    }
}

/// Each open artifact is an open file of the host's: a plugin holding a million would
/// leave the host (and the other plugins of a parallel backup) without any.
fn too_many(limit: usize) -> Error {
    Error::Invalid(format!(
        "more than {limit} artifacts open at once in one hook: drop readers and writers when done"
    ))
}

impl store::HostReader for HostState {
    async fn read(
        &mut self,
        reader: Resource<ReaderHandle>,
        max: u32,
    ) -> std::result::Result<Vec<u8>, HostError> {
        self.count(0)?;
        let entered = Instant::now();
        let handle = self.sandbox.table().get_mut(&reader)?;
        let mut buf = vec![0u8; max.min(MAX_CHUNK) as usize];
        let result = handle
            .file
            .read(&mut buf)
            .await
            .map(|n| {
                buf.truncate(n);
                buf
            })
            .map_err(|e| Error::Stream(format!("reading artifact `{}`: {e}", handle.path)));
        self.sandbox.leave_host(entered);
        Ok(result?)
    }

    async fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.sandbox.table().delete(reader)?;
        self.sandbox.close_artifact();
        Ok(())
    }
}

impl store::HostWriter for HostState {
    async fn write(
        &mut self,
        writer: Resource<WriterHandle>,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), HostError> {
        self.count(0)?;
        let entered = Instant::now();
        let quota = self.ctx.run.quota.clone();
        let handle = self.sandbox.table().get_mut(&writer)?;
        let result = match handle.writer.as_mut() {
            Some(w) => match quota.take(bytes.len() as u64) {
                Ok(()) => w
                    .write_all(&bytes)
                    .await
                    .map_err(|e| Error::Stream(format!("writing artifact `{}`: {e}", handle.path))),
                Err(full) => Err(Error::Stream(format!(
                    "writing artifact `{}`: {full}",
                    handle.path
                ))),
            },
            None => Err(Error::Invalid(format!(
                "artifact `{}` is already finished",
                handle.path
            ))),
        };
        self.sandbox.leave_host(entered);
        Ok(result?)
    }

    async fn finish(
        &mut self,
        writer: Resource<WriterHandle>,
    ) -> std::result::Result<u64, HostError> {
        let handle = self.sandbox.table().get_mut(&writer)?;
        let path = handle.path.clone();
        let taken = handle.writer.take();
        // Audited as the write it completes; the grant was checked when it was created.
        let call = StoreCall::write("store-write", &path);
        self.guarded(call, async move |(), _| match taken {
            Some(w) => w.finish().await.map(|d| d.size),
            None => Err(Error::Invalid(format!(
                "artifact `{path}` is already finished"
            ))),
        })
        .await
    }

    async fn drop(&mut self, writer: Resource<WriterHandle>) -> wasmtime::Result<()> {
        // An unfinished writer's partial file goes with it.
        self.sandbox.table().delete(writer)?;
        self.sandbox.close_artifact();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{denial, grant};
    use super::*;

    #[test]
    fn artifacts_only_as_declared_and_writable_only_in_backup() {
        let backup = grant(Hook::Backup);
        StoreCall::write("store-write", "zync-database-backup.gz")
            .check(&backup, None)
            .unwrap();
        let restore = grant(Hook::Restore);
        StoreCall::read("store-read", "system/provider-1/a.css")
            .check(&restore, None)
            .unwrap();
        for path in [
            "../x",
            "/etc/passwd",
            "system/../zync-database-backup.gz",
            "other.gz",
            "systemx/a",
            "runs/x/audit.jsonl",
        ] {
            denial(StoreCall::read("store-read", path).check(&restore, None));
        }
        let m = denial(
            StoreCall::write("store-write", "zync-database-backup.gz").check(&restore, None),
        );
        assert!(m.contains("read-only"), "{m}");
    }
}
