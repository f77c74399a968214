//! `host:plugin/store`: the plugin's declared artifacts in the backup set, as small
//! chunked reads and writes. A writer's artifact appears only when `finish` succeeds.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::component::Resource;

use super::{HostState, to_wit};
use crate::backup_set::artifacts::ArtifactWriter;
use crate::capability::{Access, Request};
use crate::error::{Error, Result};
use crate::runtime::bindings::host::plugin::store::{self, Entry};
use crate::runtime::bindings::host::plugin::types;

type WitResult<T> = wasmtime::Result<std::result::Result<T, types::Error>>;

/// The biggest chunk one `read` returns, whatever the plugin asks for.
const MAX_CHUNK: u32 = 1 << 20;

pub struct ReaderHandle {
    file: tokio::fs::File,
    path: String,
}

pub struct WriterHandle {
    writer: Option<ArtifactWriter>,
    path: String,
}

impl store::Host for HostState {
    async fn exists(&mut self, path: String) -> WitResult<bool> {
        let entered = self.clock.enter_host();
        let request = Request::Artifact {
            path: &path,
            access: Access::Read,
        };
        let result = match self.ctx().authorize(&request).await {
            Ok(_) => self.artifacts.exists(&path),
            Err(e) => Err(e),
        };
        self.finish(entered, &request, &result);
        Ok(result.map_err(to_wit))
    }

    async fn list(&mut self, path: String) -> WitResult<Vec<Entry>> {
        let entered = self.clock.enter_host();
        let request = Request::Artifact {
            path: &path,
            access: Access::Read,
        };
        let result = match self.ctx().authorize(&request).await {
            Ok(_) => self.artifacts.list(&path),
            Err(e) => Err(e),
        };
        self.finish(entered, &request, &result);
        Ok(result
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| Entry {
                        path: e.path,
                        is_dir: e.is_dir,
                        size: e.size,
                    })
                    .collect()
            })
            .map_err(to_wit))
    }

    async fn open(&mut self, path: String) -> WitResult<Resource<ReaderHandle>> {
        let entered = self.clock.enter_host();
        let request = Request::Artifact {
            path: &path,
            access: Access::Read,
        };
        let result = match self.ctx().authorize(&request).await {
            Ok(_) => self.artifacts.open(&path),
            Err(e) => Err(e),
        };
        self.finish(entered, &request, &result);
        match result {
            Ok(file) => Ok(Ok(self.table().push(ReaderHandle { file, path })?)),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }

    async fn create(&mut self, path: String) -> WitResult<Resource<WriterHandle>> {
        let entered = self.clock.enter_host();
        let request = Request::Artifact {
            path: &path,
            access: Access::Write,
        };
        let result = match self.ctx().authorize(&request).await {
            Ok(_) => self.artifacts.create(&path),
            Err(e) => Err(e),
        };
        self.finish(entered, &request, &result);
        match result {
            Ok(writer) => Ok(Ok(self.table().push(WriterHandle {
                writer: Some(writer),
                path,
            })?)),
            Err(e) => Ok(Err(to_wit(e))),
        }
    }
}

impl store::HostReader for HostState {
    async fn read(&mut self, reader: Resource<ReaderHandle>, max: u32) -> WitResult<Vec<u8>> {
        let entered = self.clock.enter_host();
        let handle = self.table().get_mut(&reader)?;
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
        self.clock.leave_host(entered);
        Ok(result.map_err(to_wit))
    }

    async fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table().delete(reader)?;
        Ok(())
    }
}

impl store::HostWriter for HostState {
    async fn write(&mut self, writer: Resource<WriterHandle>, bytes: Vec<u8>) -> WitResult<()> {
        let entered = self.clock.enter_host();
        let handle = self.table().get_mut(&writer)?;
        let result = match handle.writer.as_mut() {
            Some(w) => w
                .write_all(&bytes)
                .await
                .map_err(|e| Error::Stream(format!("writing artifact `{}`: {e}", handle.path))),
            None => Err(Error::Invalid(format!(
                "artifact `{}` is already finished",
                handle.path
            ))),
        };
        self.clock.leave_host(entered);
        Ok(result.map_err(to_wit))
    }

    async fn finish(&mut self, writer: Resource<WriterHandle>) -> WitResult<u64> {
        let entered = self.clock.enter_host();
        let handle = self.table().get_mut(&writer)?;
        let path = handle.path.clone();
        let result: Result<u64> = match handle.writer.take() {
            Some(w) => w.finish().await.map(|d| d.size),
            None => Err(Error::Invalid(format!(
                "artifact `{path}` is already finished"
            ))),
        };
        let request = Request::Artifact {
            path: &path,
            access: Access::Write,
        };
        self.finish(entered, &request, &result);
        Ok(result.map_err(to_wit))
    }

    async fn drop(&mut self, writer: Resource<WriterHandle>) -> wasmtime::Result<()> {
        // An unfinished writer's partial file goes with it.
        self.table().delete(writer)?;
        Ok(())
    }
}
