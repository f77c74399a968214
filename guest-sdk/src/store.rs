//! This plugin's slice of the backup set: the artifacts its manifest declares.

use std::io;

use crate::__bindings::host::plugin::store as wit;
use crate::{Error, Result};

pub use wit::Entry;

/// Largest artifact `read_bytes` returns whole; bigger ones are for streaming host calls.
pub const READ_LIMIT: u64 = 16 << 20;

pub fn exists(path: &str) -> Result<bool> {
    Ok(wit::exists(path)?)
}

pub fn list(path: &str) -> Result<Vec<Entry>> {
    Ok(wit::list(path)?)
}

/// A small artifact (a JSON object), whole.
pub fn read_bytes(path: &str) -> Result<Vec<u8>> {
    let reader = wit::open(path)?;
    let mut out = Vec::new();
    loop {
        let chunk = reader.read(64 * 1024)?;
        if chunk.is_empty() {
            return Ok(out);
        }
        if out.len() as u64 + chunk.len() as u64 > READ_LIMIT {
            return Err(Error::invalid(format!(
                "{path} is larger than {READ_LIMIT} bytes; stream it with artifact-to-exec instead"
            )));
        }
        out.extend_from_slice(&chunk);
    }
}

pub fn read_to_string(path: &str) -> Result<String> {
    String::from_utf8(read_bytes(path)?)
        .map_err(|_| Error::invalid(format!("{path} is not UTF-8 text")))
}

/// Writes a whole artifact; it becomes visible only once complete.
pub fn write(path: &str, bytes: &[u8]) -> Result<u64> {
    let writer = wit::create(path)?;
    for chunk in bytes.chunks(64 * 1024) {
        writer.write(chunk)?;
    }
    Ok(writer.finish()?)
}

/// `std::io::Read` over an artifact.
pub struct Reader(wit::Reader);

pub fn open(path: &str) -> Result<Reader> {
    Ok(Reader(wit::open(path)?))
}

impl io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self
            .0
            .read(buf.len().min(u32::MAX as usize) as u32)
            .map_err(|e| io::Error::other(Error::from(e).message()))?;
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(chunk.len())
    }
}

/// `std::io::Write` into a new artifact; call [`Writer::finish`] to keep it.
pub struct Writer(wit::Writer);

pub fn create(path: &str) -> Result<Writer> {
    Ok(Writer(wit::create(path)?))
}

impl Writer {
    /// Commits the artifact and returns its size. Dropping a writer instead discards it.
    pub fn finish(self) -> Result<u64> {
        Ok(self.0.finish()?)
    }
}

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .write(buf)
            .map_err(|e| io::Error::other(Error::from(e).message()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
