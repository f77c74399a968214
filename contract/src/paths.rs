//! Paths inside a backup set, as plugins name their artifacts: relative, `/`-separated,
//! and never one of the names the set keeps for its own bookkeeping.

/// Top-level names the host owns in a set: a plugin's artifact there could replace the
/// audit logs and journals of every run, the set's own index or its seal. Every file the
/// host keeps in a set is one of these or lies under one (`manifest.json.tmp` and
/// `manifest.json.sig.tmp` are the atomic writes of the index and the seal; `set-key.age`
/// is a passphrase-encrypted set's key).
pub const RESERVED: &[&str] = &[
    "runs",
    "manifest.json",
    "manifest.json.tmp",
    "manifest.json.sig",
    "manifest.json.sig.tmp",
    "set-key.age",
    "set-key.age.tmp",
    ".staging",
];

/// A path inside the backup set: relative, `/`-separated, no `.` or `..` or empty parts,
/// not under a reserved name.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("backslashes and NUL are not allowed".into());
    }
    for part in path.split('/') {
        match part {
            "" => return Err("empty path component".into()),
            "." | ".." => return Err(format!("`{part}` is not allowed")),
            _ => {}
        }
    }
    let first = path.split('/').next().unwrap_or_default();
    if RESERVED.contains(&first) {
        return Err(format!(
            "`{first}` is kept by the host for the set's own records"
        ));
    }
    Ok(())
}

/// `path` is `root` or lies inside it.
pub fn is_within(path: &str, root: &str) -> bool {
    path.strip_prefix(root)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Two artifact paths overlap when one is the other or contains it.
pub fn overlap(a: &str, b: &str) -> bool {
    is_within(a, b) || is_within(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert!(check_relative_path("system/provider-1/file.css").is_ok());
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./x",
            "a\\b",
            "runs",
            "runs/x/audit.jsonl",
            "manifest.json",
            "manifest.json.sig",
            "manifest.json.tmp",
            ".staging/a",
        ] {
            assert!(check_relative_path(p).is_err(), "{p}");
        }
        assert!(check_relative_path("runs.d/x").is_ok());
    }

    #[test]
    fn nesting() {
        assert!(overlap("secrets", "secrets/system-seed.json"));
        assert!(overlap("secrets", "secrets"));
        assert!(!overlap("secrets", "secrets2"));
        assert!(is_within("system/a", "system"));
        assert!(!is_within("systemd", "system"));
    }
}
