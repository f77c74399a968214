//! Opening a file of a directory set in one system call. A set of 100,000 storage files
//! is opened twice per restore (verification, then the tar into the pod); walking each
//! path component by component to refuse links cost five opens and seven stats a file,
//! most of a verification's time. `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`
//! gives the same guarantee in the kernel: nothing outside the set, no link anywhere on
//! the path.

use std::fs::File;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use cap_std::fs::Dir;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Cleared the first time the kernel (before 5.6) or a seccomp profile refuses openat2.
static AVAILABLE: AtomicBool = AtomicBool::new(true);

/// `path` under `dir` for reading, never blocking on a FIFO (`O_NONBLOCK`, left set for
/// the caller to clear once it has checked the file is regular). `None` when the fast way
/// cannot say: openat2 is unavailable, or it refused the path (a link, a `..`, a missing
/// file). The caller then takes the component-by-component way, whose errors name the
/// link or the missing file as before.
pub fn open_for_reading(dir: &Dir, path: &str) -> Option<File> {
    if !AVAILABLE.load(Ordering::Relaxed)
        || !Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(dir, path, flags, Mode::empty(), resolve) {
        Ok(fd) => Some(File::from(fd)),
        Err(Errno::NOSYS | Errno::PERM) => {
            AVAILABLE.store(false, Ordering::Relaxed);
            None
        }
        Err(_) => None,
    }
}

/// Reads block as usual from here. `F_SETFL` changes only the status flags (of which
/// the file was opened with `O_NONBLOCK` alone), so one call clears it.
pub fn blocking(file: &File) {
    let _ = rustix::fs::fcntl_setfl(file, OFlags::empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("system/a")).unwrap();
        std::fs::write(tmp.path().join("system/a/f"), b"x").unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        (tmp, dir)
    }

    #[test]
    fn opens_a_plain_path_and_leaves_links_and_escapes_to_the_careful_way() {
        let (tmp, dir) = dir();
        let f = open_for_reading(&dir, "system/a/f").expect("a plain file opens");
        blocking(&f);
        assert_eq!(std::io::read_to_string(f).unwrap(), "x");
        std::os::unix::fs::symlink("a", tmp.path().join("system/l")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("system/p")).unwrap();
        for refused in [
            "system/l/f",
            "system/p",
            "system/../system/a/f",
            "../x",
            "system/missing",
        ] {
            assert!(open_for_reading(&dir, refused).is_none(), "{refused}");
        }
    }
}
