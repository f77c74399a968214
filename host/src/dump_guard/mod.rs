//! Keeps client commands out of the dumps the host streams into `psql` and `mysql`.
//!
//! A dump is a script, and both clients run their own commands from a script as readily
//! as SQL: psql's `\!` and `\o |cmd` start a shell, `\copy ... program` runs a program,
//! `\i` reads a file; mysql's `system`, `\!`, `source`, `tee` and `pager` do the same
//! (the CVE-2025-8714 class: PostgreSQL 10 has no `\restrict`). The artifacts a manifest
//! declares as `content = "mysql-dump"` or `"postgresql-dump"` are read through a
//! [`Guard`], which follows the client's own lexer (quotes, comments, COPY data, the
//! mysql delimiter) and fails the stream *before* forwarding the first byte of a command.
//! The only client commands let through are pg_dump's own `\restrict KEY` and
//! `\unrestrict KEY` lines (newer pg_dump writes them) and MariaDB's `\-` (sandbox mode,
//! which only takes rights away).
//!
//! Where the client's lexer depends on the server (mysql with `NO_BACKSLASH_ESCAPES` or
//! `ANSI_QUOTES`, psql with `standard_conforming_strings = off`), a dump can set that
//! mode itself, so each possible reading is followed at once (a *view*): the one the
//! dumps are written for refuses every command; the others refuse those that reach
//! beyond the database (shell, files, connections, the lexer's own settings), since
//! misreading a genuine dump's data can make harmless ones appear there. For psql the
//! guard also starts the stream with `\set ON_ERROR_STOP on`: a COPY whose table does
//! not exist would otherwise make psql read the COPY data as commands.
//!
//! What it does not do: judge the SQL. A dump runs as the database's superuser, and SQL
//! alone can do harm (`COPY ... TO PROGRAM` in PostgreSQL runs a shell in the database's
//! pod); only a sealed set (`--trust-key`) says the dump is the one that was made. Nor
//! does it follow client encodings whose characters can end in a backslash byte (SJIS,
//! BIG5, GBK), which a dump could switch psql to.
//!
//! Memory is bounded (an undecided token is at most [`MAX_HOLD`] bytes) and the cost is
//! a few passes of `memchr` over the data.

mod mysql;
mod psql;
mod read;

pub use read::{GuardedRead, check_reader};

use contract::manifest::Content;

/// The longest token the guard holds back while it decides (a `\restrict KEY` line, a
/// named mysql command and its argument).
pub const MAX_HOLD: usize = 512;

/// Why a stream was stopped: where, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: u64,
    pub what: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// One reading of the stream (see the module's notes).
trait View: Send {
    /// Consumes `bytes` (the stream's next bytes, each seen once). Returns how many bytes
    /// at the end of everything seen so far are still undecided.
    fn feed(&mut self, bytes: &[u8]) -> Result<usize, Refusal>;
    /// The stream ended.
    fn finish(&mut self) -> Result<(), Refusal>;
}

pub struct Guard {
    views: Vec<Box<dyn View>>,
    preamble: &'static [u8],
}

impl Guard {
    pub fn new(content: Content) -> Guard {
        match content {
            Content::PostgresqlDump => Guard {
                views: psql::views(),
                preamble: b"\\set ON_ERROR_STOP on\n",
            },
            Content::MysqlDump => Guard {
                views: mysql::views(),
                preamble: b"",
            },
        }
    }

    /// Bytes the host puts before the stream (for psql, `\set ON_ERROR_STOP on`).
    pub fn preamble(&self) -> &'static [u8] {
        self.preamble
    }

    /// Checks the next bytes. Returns how many of the bytes seen so far, counted from
    /// the end, must wait for more input before they can be forwarded.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, Refusal> {
        let mut hold = 0;
        for v in &mut self.views {
            hold = hold.max(v.feed(bytes)?);
        }
        Ok(hold)
    }

    pub fn finish(&mut self) -> Result<(), Refusal> {
        for v in &mut self.views {
            v.finish()?;
        }
        Ok(())
    }
}

/// Where a view is in the stream.
#[derive(Debug, Clone, Default)]
struct Position {
    /// 1-based line of the next byte.
    line: u64,
}

impl Position {
    fn new() -> Position {
        Position { line: 1 }
    }
}

/// A command name as shown in a refusal.
fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests;
