//! The guard on a stream: as an `AsyncRead` between the decompressor and the pod's stdin
//! (nothing it has not cleared is handed on), and over a whole reader for verification.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::{Guard, Refusal};

const CHUNK: usize = 64 * 1024;

pub struct GuardedRead<R> {
    inner: R,
    guard: Guard,
    /// Read from `inner`; `buf[..cleared]` may be handed on, from `sent`.
    buf: Vec<u8>,
    cleared: usize,
    sent: usize,
    preamble_sent: usize,
    eof: bool,
    refused: Option<Refusal>,
}

impl<R> GuardedRead<R> {
    pub fn new(inner: R, guard: Guard) -> GuardedRead<R> {
        GuardedRead {
            inner,
            guard,
            buf: Vec::with_capacity(2 * CHUNK),
            cleared: 0,
            sent: 0,
            preamble_sent: 0,
            eof: false,
            refused: None,
        }
    }
}

fn refusal_error(r: &Refusal) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, r.to_string())
}

impl<R: AsyncRead + Unpin> AsyncRead for GuardedRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            // The preamble goes only with the first checked bytes: a stream refused at
            // once hands nothing on.
            let preamble = this.guard.preamble();
            let started = this.cleared > 0 || (this.eof && this.refused.is_none());
            if this.preamble_sent < preamble.len() && started {
                let n = (preamble.len() - this.preamble_sent).min(out.remaining());
                out.put_slice(&preamble[this.preamble_sent..this.preamble_sent + n]);
                this.preamble_sent += n;
                return Poll::Ready(Ok(()));
            }
            if this.sent < this.cleared {
                let n = (this.cleared - this.sent).min(out.remaining());
                out.put_slice(&this.buf[this.sent..this.sent + n]);
                this.sent += n;
                return Poll::Ready(Ok(()));
            }
            if let Some(r) = &this.refused {
                return Poll::Ready(Err(refusal_error(r)));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            // Everything cleared was sent: keep only the undecided tail.
            this.buf.drain(..this.sent);
            this.cleared -= this.sent;
            this.sent = 0;
            let start = this.buf.len();
            this.buf.resize(start + CHUNK, 0);
            let mut read = ReadBuf::new(&mut this.buf[start..]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => {
                    this.buf.truncate(start);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    this.buf.truncate(start);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    this.buf.truncate(start + n);
                    if n == 0 {
                        this.eof = true;
                        match this.guard.finish() {
                            Ok(()) => this.cleared = this.buf.len(),
                            Err(r) => this.refused = Some(r),
                        }
                    } else {
                        match this.guard.feed(&this.buf[start..]) {
                            Ok(hold) => {
                                this.cleared = this.cleared.max(this.buf.len().saturating_sub(hold))
                            }
                            Err(r) => this.refused = Some(r),
                        }
                    }
                }
            }
        }
    }
}

/// Reads `reader` to its end through a guard, up to `limit` bytes. `Err` says why, in
/// words for a message about the artifact. Returns the bytes read.
pub fn check_reader(
    mut reader: impl Read,
    mut guard: Option<Guard>,
    limit: u64,
) -> Result<u64, String> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            if let Some(g) = guard.as_mut() {
                g.finish().map_err(|r| r.to_string())?;
            }
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(format!(
                "it expands past {} (a gzip bomb?); {}=SIZE raises the bound",
                crate::progress::human(limit),
                crate::backup_set::limits::MAX_UNPACKED_ENV
            ));
        }
        if let Some(g) = guard.as_mut() {
            g.feed(&buf[..n]).map_err(|r| r.to_string())?;
        }
    }
}
