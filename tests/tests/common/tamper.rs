//! Changing what a test is handed: a plugin's manifest, a backup set's files and records.
//!
//! A plugin's manifest is its `host-plugin-manifest` custom section, which is also what
//! its `describe()` returns (the SDK's static is the section itself). Replacing a piece
//! of it with text of the same length (padded with spaces inside the TOML) keeps every
//! offset of the file valid, so the result is the same plugin with another manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `plugin` with `from` replaced by `to` in its manifest, written to `dir/NAME`. `to` is
/// padded with spaces to `from`'s length (so it must be no longer). The manifest is in
/// the file twice (the custom section, and the copy in a data segment that `describe()`
/// reads); every copy is changed, so the plugin stays consistent with itself.
pub fn patch_manifest(plugin: &Path, from: &str, to: &str, dir: &Path) -> PathBuf {
    assert!(
        to.len() <= from.len(),
        "`{to}` is longer than `{from}`: the section's length cannot change"
    );
    let mut bytes = std::fs::read(plugin).unwrap();
    let padded = format!("{to:<width$}", width = from.len());
    let mut at = 0;
    let mut found = 0;
    while let Some(i) = find(&bytes[at..], from.as_bytes()) {
        let start = at + i;
        bytes[start..start + from.len()].copy_from_slice(padded.as_bytes());
        at = start + from.len();
        found += 1;
    }
    assert!(
        (1..=2).contains(&found),
        "`{from}` is in {} {found} times, not once per copy of the manifest",
        plugin.display()
    );
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join(plugin.file_name().unwrap());
    std::fs::write(&out, bytes).unwrap();
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A copy of the plugin set `dir` with one plugin's manifest patched.
pub fn plugins_with(dir: &Path, plugin: &str, from: &str, to: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == plugin {
            patch_manifest(&path, from, to, copy.path());
        } else {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

/// A copy of a backup set, without its runs.
pub fn copy_set(set: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", set.display()))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(copy.path().join("runs"));
    copy
}

pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

pub fn read_manifest(set: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap()
}

pub fn write_manifest(set: &Path, manifest: &Value) {
    std::fs::write(
        set.join("manifest.json"),
        serde_json::to_vec_pretty(manifest).unwrap(),
    )
    .unwrap();
}

/// Records a file's new size and sha256 in manifest.json, as someone who changed the file
/// and wants it to pass verification would.
pub fn rehash(set: &Path, component: &str, file: &str) {
    let mut manifest = read_manifest(set);
    let records = manifest["components"][component]["artifacts"]
        .as_array_mut()
        .unwrap();
    let record = records
        .iter_mut()
        .find(|r| r["path"] == file)
        .unwrap_or_else(|| panic!("no record of {file} in {component}"));
    let path = set.join(file);
    record["size"] = std::fs::metadata(&path).unwrap().len().into();
    record["sha256"] = sha256(&path).into();
    write_manifest(set, &manifest);
}

/// Rewrites a gzip'd text artifact through `edit`.
pub fn edit_gzip(path: &Path, edit: impl FnOnce(String) -> String) {
    let out = Command::new("gzip").arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success());
    let text = edit(String::from_utf8(out.stdout).unwrap());
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        std::io::Write::write_all(&mut stdin, text.as_bytes()).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    std::fs::write(path, out.stdout).unwrap();
}
