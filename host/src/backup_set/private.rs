//! How the host opens and creates what is in a set. Everything it creates is private to
//! the user (directories 0700, files 0600) whatever the umask, because a set holds every
//! 3scale Secret and full database dumps in plain text. Reads never block on a FIFO
//! (`O_NONBLOCK`) and never follow a link (`O_NOFOLLOW`); callers check what they opened
//! is a regular file.

use cap_std::fs::{DirBuilder, DirBuilderExt, OpenOptions, OpenOptionsExt};

/// `create_dir_all` with mode 0700.
pub fn dirs() -> DirBuilder {
    let mut b = DirBuilder::new();
    b.recursive(true).mode(0o700);
    b
}

/// A new file (or an existing one truncated), 0600 when created.
pub fn new_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true).mode(0o600);
    o
}

/// A file that must not exist yet, 0600: O_EXCL also refuses a link at its name.
pub fn fresh_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true).mode(0o600);
    o
}

/// For reading: a FIFO opens at once instead of waiting for a writer, a link is an error.
pub fn reading() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    o
}
