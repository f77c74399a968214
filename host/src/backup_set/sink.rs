//! Where an artifact writer's bytes go: a file of a directory set, or an object's upload
//! (see `objects.rs`). The writers hash and encrypt; this only carries bytes, and says
//! what finishing and abandoning mean for each.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use object_store::buffered::BufWriter;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::blocking::{Blocking, block_on};

pub enum Sink {
    File(tokio::fs::File),
    Object(Box<BufWriter>),
}

impl Sink {
    /// The bytes are where a reader finds them: a file flushed (on disk at the set's
    /// sync), an upload completed (the object appears only now).
    pub async fn finish(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush().await,
            Sink::Object(w) => w.shutdown().await,
        }
    }

    /// An unfinished object upload is aborted, so the store keeps no parts of it.
    pub fn abandon(self) {
        if let Sink::Object(w) = self {
            abort(*w);
        }
    }
}

fn abort(mut w: BufWriter) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = w.abort().await;
        });
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Sink::File(f) => Pin::new(f).poll_write(cx, buf),
            Sink::Object(w) => Pin::new(w.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Sink::File(f) => Pin::new(f).poll_flush(cx),
            Sink::Object(w) => Pin::new(w.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Sink::File(f) => Pin::new(f).poll_shutdown(cx),
            // The upload completes in `finish`, once the writer has hashed its last bytes.
            Sink::Object(w) => Pin::new(w.as_mut()).poll_flush(cx),
        }
    }
}

/// The blocking twin of [`Sink`] (a tree is extracted on a blocking thread).
pub enum StdSink {
    File(std::fs::File),
    Object(Box<Blocking<BufWriter>>),
}

impl StdSink {
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            // No fsync per file: see BackupSet::sync.
            StdSink::File(_) => Ok(()),
            StdSink::Object(w) => block_on(w.0.shutdown()),
        }
    }

    pub fn abandon(self) {
        if let StdSink::Object(w) = self {
            abort(w.0);
        }
    }
}

impl io::Write for StdSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdSink::File(f) => f.write(buf),
            StdSink::Object(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            StdSink::File(f) => f.flush(),
            StdSink::Object(w) => w.flush(),
        }
    }
}
