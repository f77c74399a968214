//! SPDY/3.1 framing, as much of it as Kubernetes' streaming uses (moby/spdystream, which
//! client-go and the kubelet speak): control frames SYN_STREAM, SYN_REPLY, RST_STREAM,
//! SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE, and data frames. Header blocks are
//! zlib streams that run across the whole connection, each block ending on a sync flush;
//! the client compresses against SPDY/3's preset dictionary. spdystream does no flow
//! control (it ignores WINDOW_UPDATE), so neither do we.
//! Spec: https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3-1/

use std::io;
use std::sync::OnceLock;

use axum::body::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VERSION: u16 = 3;
pub const FLAG_FIN: u8 = 0x01;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;

/// Frames bigger than this are refused; stdin chunks from kubectl are 32 KiB at most.
const MAX_FRAME: usize = 16 << 20;

#[derive(Debug)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        headers: Vec<(String, String)>,
    },
    RstStream {
        stream_id: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY and anything newer: nothing to do.
    Other,
}

pub struct FrameReader<R> {
    io: R,
    inflate: Decompress,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R) -> Self {
        FrameReader {
            io,
            inflate: Decompress::new(true),
        }
    }

    /// The next frame; `None` at a clean end of the connection.
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 8];
        match self.io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let flags = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        if length > MAX_FRAME {
            return Err(invalid(format!("a SPDY frame of {length} bytes")));
        }
        let mut body = vec![0u8; length];
        self.io.read_exact(&mut body).await?;
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: Bytes::from(body),
            }));
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(invalid(format!("SPDY version {version}")));
        }
        let id = |b: &[u8]| -> io::Result<u32> {
            let bytes: [u8; 4] = b
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| invalid("a short SPDY control frame"))?;
            Ok(u32::from_be_bytes(bytes) & 0x7fff_ffff)
        };
        Ok(Some(match u16::from_be_bytes([head[2], head[3]]) {
            SYN_STREAM => {
                let stream_id = id(&body)?;
                // stream id, associated stream id, priority and slot: 10 bytes.
                let block = body
                    .get(10..)
                    .ok_or_else(|| invalid("a short SYN_STREAM"))?;
                let headers = parse_block(&self.inflate_block(block)?)?;
                Frame::SynStream { stream_id, headers }
            }
            // Their header blocks still feed the shared zlib stream.
            SYN_REPLY | HEADERS => {
                if let Some(block) = body.get(4..) {
                    self.inflate_block(block)?;
                }
                Frame::Other
            }
            RST_STREAM => Frame::RstStream {
                stream_id: id(&body)?,
            },
            PING => Frame::Ping { id: id(&body)? },
            GOAWAY => Frame::GoAway,
            _ => Frame::Other,
        }))
    }

    fn inflate_block(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 4 + 256);
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
            {
                Ok(Status::Ok | Status::BufError | Status::StreamEnd) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(dictionary())
                        .map_err(|e| invalid(format!("SPDY header dictionary: {e}")))?;
                }
                Err(e) => return Err(invalid(format!("SPDY header block: {e}"))),
            }
            input = &input[(self.inflate.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

pub struct FrameWriter<W> {
    io: W,
    deflate: Compress,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W) -> Self {
        FrameWriter {
            io,
            deflate: Compress::new(Compression::default(), true),
        }
    }

    /// Accepts a stream the client opened, with no headers (what the kubelet's
    /// httpstream/spdy connection replies).
    pub async fn syn_reply(&mut self, stream_id: u32) -> io::Result<()> {
        let block = self.deflate_block(&0u32.to_be_bytes())?;
        let mut body = stream_id.to_be_bytes().to_vec();
        body.extend_from_slice(&block);
        self.control(SYN_REPLY, 0, &body).await
    }

    pub async fn data(&mut self, stream_id: u32, data: &[u8], fin: bool) -> io::Result<()> {
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
        head[4] = if fin { FLAG_FIN } else { 0 };
        head[5..].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        self.io.write_all(&head).await?;
        self.io.write_all(data).await
    }

    pub async fn ping(&mut self, id: u32) -> io::Result<()> {
        self.control(PING, 0, &id.to_be_bytes()).await
    }

    /// GOAWAY with status OK: no more streams; the connection closes after this.
    pub async fn go_away(&mut self, last_stream: u32) -> io::Result<()> {
        let mut body = last_stream.to_be_bytes().to_vec();
        body.extend_from_slice(&0u32.to_be_bytes());
        self.control(GOAWAY, 0, &body).await
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.flush().await
    }

    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }

    async fn control(&mut self, kind: u16, flags: u8, body: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(8 + body.len());
        frame.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
        frame.extend_from_slice(&kind.to_be_bytes());
        frame.push(flags);
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(body);
        self.io.write_all(&frame).await
    }

    /// One header block: the continuing zlib stream up to a sync flush. Compressed without
    /// the preset dictionary, which a reader only applies when the zlib header asks for
    /// it.
    fn deflate_block(&mut self, block: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = block;
        loop {
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| invalid(format!("SPDY header compression: {e}")))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(256);
        }
    }
}

/// name/value pairs of a decompressed header block: a 32-bit count, then each name and
/// value with a 32-bit length. Several values of one name are NUL-separated.
fn parse_block(block: &[u8]) -> io::Result<Vec<(String, String)>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> io::Result<&[u8]> {
        let s = block
            .get(at..at + n)
            .ok_or_else(|| invalid("a truncated SPDY header block"))?;
        at += n;
        Ok(s)
    };
    let word = |b: &[u8]| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize;
    let count = word(take(4)?);
    let mut pairs = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let len = word(take(4)?);
        let name = String::from_utf8_lossy(take(len)?).to_ascii_lowercase();
        let len = word(take(4)?);
        let value = String::from_utf8_lossy(take(len)?).into_owned();
        for v in value.split('\0') {
            pairs.push((name.clone(), v.to_string()));
        }
    }
    Ok(pairs)
}

/// SPDY/3's zlib dictionary for header blocks (spec section 2.6.10.1): the common header
/// names each with a 32-bit length before it, then common values run together.
fn dictionary() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        const WORDS: &[&str] = &[
            "options",
            "head",
            "post",
            "put",
            "delete",
            "trace",
            "accept",
            "accept-charset",
            "accept-encoding",
            "accept-language",
            "accept-ranges",
            "age",
            "allow",
            "authorization",
            "cache-control",
            "connection",
            "content-base",
            "content-encoding",
            "content-language",
            "content-length",
            "content-location",
            "content-md5",
            "content-range",
            "content-type",
            "date",
            "etag",
            "expect",
            "expires",
            "from",
            "host",
            "if-match",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "last-modified",
            "location",
            "max-forwards",
            "pragma",
            "proxy-authenticate",
            "proxy-authorization",
            "range",
            "referer",
            "retry-after",
            "server",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "user-agent",
            "vary",
            "via",
            "warning",
            "www-authenticate",
            "method",
            "get",
            "status",
            "200 OK",
            "version",
            "HTTP/1.1",
            "url",
            "public",
            "set-cookie",
            "keep-alive",
            "origin",
        ];
        const VALUES: &str = concat!(
            "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
            "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
            "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
            "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
            "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
            "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=",
            "iso-8859-1,utf-,*,enq=0.",
        );
        let mut d = Vec::with_capacity(1423);
        for w in WORDS {
            d.extend_from_slice(&(w.len() as u32).to_be_bytes());
            d.extend_from_slice(w.as_bytes());
        }
        d.extend_from_slice(VALUES.as_bytes());
        d
    })
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_has_the_specs_length() {
        assert_eq!(dictionary().len(), 1423);
        assert!(dictionary().ends_with(b"enq=0."));
    }

    /// A header block compressed against the dictionary (as spdystream's framer does)
    /// comes back as its pairs, and a second block continues the same zlib stream.
    #[tokio::test]
    async fn syn_streams_compressed_with_the_dictionary_are_read() {
        let mut deflate = Compress::new(Compression::best(), true);
        deflate.set_dictionary(dictionary()).unwrap();
        let mut wire = Vec::new();
        for (id, kind) in [(1u32, "error"), (3, "stdout")] {
            let mut block = 1u32.to_be_bytes().to_vec();
            for s in ["streamtype", kind] {
                block.extend_from_slice(&(s.len() as u32).to_be_bytes());
                block.extend_from_slice(s.as_bytes());
            }
            let mut packed = Vec::with_capacity(256);
            deflate
                .compress_vec(&block, &mut packed, FlushCompress::Sync)
                .unwrap();
            let mut body = id.to_be_bytes().to_vec();
            body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            body.extend_from_slice(&packed);
            wire.extend_from_slice(&[0x80, 3, 0, 1, 0]);
            wire.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            wire.extend_from_slice(&body);
        }
        let mut reader = FrameReader::new(&wire[..]);
        for (id, kind) in [(1u32, "error"), (3, "stdout")] {
            match reader.next().await.unwrap() {
                Some(Frame::SynStream {
                    stream_id, headers, ..
                }) => {
                    assert_eq!(stream_id, id);
                    assert_eq!(headers, vec![("streamtype".to_string(), kind.to_string())]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(reader.next().await.unwrap().is_none());
    }
}
