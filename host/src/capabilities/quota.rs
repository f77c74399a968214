//! How much a run may write into the backup set (`--max-set-size`), across all its
//! plugins: every byte a host call puts on disk for a plugin (a command's output, a tar
//! stream from a pod, a store write) is taken from it first. A plugin streaming
//! `cat /dev/zero` into an artifact fills its share, not the disk.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

use crate::progress::human;

#[derive(Debug)]
pub struct SetQuota {
    limit: u64,
    used: AtomicU64,
}

impl SetQuota {
    pub fn new(limit: u64) -> SetQuota {
        SetQuota {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Takes `n` bytes, or says which limit they would pass.
    pub fn take(&self, n: u64) -> Result<(), String> {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.limit {
            return Err(format!(
                "the backup set reached this run's size limit of {} (--max-set-size raises it)",
                human(self.limit)
            ));
        }
        Ok(())
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed).min(self.limit)
    }
}

/// A writer that takes every byte from the quota before it passes it on.
pub struct QuotaWriter<W> {
    inner: W,
    quota: Arc<SetQuota>,
}

impl<W> QuotaWriter<W> {
    pub fn new(inner: W, quota: Arc<SetQuota>) -> Self {
        QuotaWriter { inner, quota }
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for QuotaWriter<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => Poll::Ready(
                this.quota
                    .take(n as u64)
                    .map(|()| n)
                    .map_err(io::Error::other),
            ),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A reader whose bytes are taken from the quota as they are read: a tar stream from a
/// pod, whose files the set keeps (its headers are counted too, which errs on the safe
/// side).
pub struct QuotaReader<R> {
    inner: R,
    quota: Arc<SetQuota>,
}

impl<R> QuotaReader<R> {
    pub fn new(inner: R, quota: Arc<SetQuota>) -> Self {
        QuotaReader { inner, quota }
    }
}

impl<R: Read> Read for QuotaReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.quota.take(n as u64).map_err(io::Error::other)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn writes_past_the_limit_fail_naming_the_flag() {
        let quota = Arc::new(SetQuota::new(10));
        let mut w = QuotaWriter::new(Vec::new(), quota.clone());
        w.write_all(b"0123456789").await.unwrap();
        let e = w.write_all(b"x").await.unwrap_err().to_string();
        assert!(
            e.contains("size limit of 10 B") && e.contains("--max-set-size"),
            "{e}"
        );
        // The quota is the run's: another artifact has no room either.
        let mut r = QuotaReader::new(&b"abc"[..], quota.clone());
        assert!(r.read(&mut [0u8; 8]).is_err());
        assert_eq!(quota.used(), 10);
    }
}
