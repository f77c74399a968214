//! The object store is async; verification and the tar streams into pods are
//! synchronous and run on blocking threads. This bridges the two, one request at a time.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// Runs one request of the object store from synchronous code: on a blocking thread, or
/// on a worker thread given up for the while (`block_in_place`), never stalling the
/// runtime's other tasks.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// An async reader or writer used from synchronous code, one call at a time (see
/// [`block_on`]).
pub struct Blocking<T>(pub T);

impl<R: AsyncRead + Unpin> io::Read for Blocking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        block_on(self.0.read(buf))
    }
}

impl<W: AsyncWrite + Unpin> io::Write for Blocking<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use tokio::io::AsyncWriteExt;
        block_on(self.0.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        block_on(self.0.flush())
    }
}
