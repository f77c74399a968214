//! Reading the small files the host itself wrote (journals, run records) without
//! following a planted link, blocking on a FIFO, or reading a file grown past its bound.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file could not be read; each caller words it for its own file.
#[derive(Debug)]
pub enum Unread {
    /// Not openable as a plain file (a symbolic link, permissions, ...).
    Open(std::io::Error),
    /// Not a regular file, or longer than the bound.
    NotAFile,
    Read(std::io::Error),
}

/// The file's bytes, `None` if it does not exist.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, Unread> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Unread::Open(e)),
    };
    let meta = file.metadata().map_err(Unread::Read)?;
    if !meta.is_file() || meta.len() > limit {
        return Err(Unread::NotAFile);
    }
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(Unread::Read)?;
    Ok(Some(bytes))
}
