//! A command started in a pod: its pipes and its exit status, safe against a cut
//! connection.
//!
//! kube's exec task drops its output pipes without closing them when the WebSocket fails
//! (a reset, an apiserver or kubelet gone), and nobody drains its stdin pipe after that.
//! A plain reader would then wait forever for the rest of a dump, and a writer for room.
//! The one signal that reaches us is the status channel closing with no status, so a
//! watcher turns that into an error on every pipe still in use.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::AttachedProcess;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, SimplexStream, WriteHalf};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pub(super) struct Attached {
    process: AttachedProcess,
    pub stdin: Option<Guarded<WriteHalf<SimplexStream>>>,
    pub stdout: Option<Guarded<ReadHalf<SimplexStream>>>,
    pub stderr: Option<Guarded<ReadHalf<SimplexStream>>>,
    status: JoinHandle<Option<Status>>,
    cut: CancellationToken,
}

impl Attached {
    pub fn new(mut process: AttachedProcess) -> Attached {
        let cut = CancellationToken::new();
        let status = process.take_status().expect("a new process has its status");
        let watcher = cut.clone();
        let status = tokio::spawn(async move {
            let status = status.await;
            if status.is_none() {
                watcher.cancel();
            }
            status
        });
        Attached {
            stdin: process.stdin().map(|w| Guarded::new(w, &cut)),
            stdout: process.stdout().map(|r| Guarded::new(r, &cut)),
            stderr: process.stderr().map(|r| Guarded::new(r, &cut)),
            process,
            status,
            cut,
        }
    }

    /// Stops the command's stream when our side failed; its pipes fail at once, so
    /// nothing still reading or writing them waits.
    pub fn abort(&self) {
        self.process.abort();
        self.cut.cancel();
    }

    /// The status the server sent; `None` when the stream ended without one.
    pub async fn status(self) -> Option<Status> {
        self.status.await.ok().flatten()
    }
}

/// A pipe that fails, instead of waiting forever, once the connection is known cut.
/// Data already buffered is still delivered first.
pub(super) struct Guarded<T> {
    inner: T,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the exec stream ended without an exit status: the connection was cut",
    )
}

impl<T> Guarded<T> {
    fn new(inner: T, cut: &CancellationToken) -> Guarded<T> {
        Guarded {
            inner,
            cut: Box::pin(cut.clone().cancelled_owned()),
        }
    }

    fn poll_cut<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match self.cut.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(cut_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Guarded<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.poll_cut(cx),
            ready => ready,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Guarded<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.poll_cut(cx),
            ready => ready,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.poll_cut(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => this.poll_cut(cx),
            ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_cut_ends_a_read_that_would_wait_forever_after_the_buffered_data() {
        let (reader, mut writer) = tokio::io::simplex(16);
        let cut = CancellationToken::new();
        let mut guarded = Guarded::new(reader, &cut);
        writer.write_all(b"partial").await.unwrap();
        // The writer is dropped without a shutdown, as kube's task does on a failed socket.
        drop(writer);
        let mut buf = [0u8; 7];
        guarded.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"partial");
        let waiting = tokio::spawn(async move {
            let mut rest = Vec::new();
            guarded.read_to_end(&mut rest).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "read ended before the cut was known"
        );
        cut.cancel();
        let err = waiting.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("connection was cut"), "{err}");
    }

    #[tokio::test]
    async fn a_cut_ends_a_write_into_a_full_pipe() {
        let (_reader, writer) = tokio::io::simplex(4);
        let cut = CancellationToken::new();
        let mut guarded = Guarded::new(writer, &cut);
        let waiting = tokio::spawn(async move { guarded.write_all(b"more than four").await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        cut.cancel();
        assert!(waiting.await.unwrap().is_err());
    }
}
