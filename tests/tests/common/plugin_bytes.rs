//! Plugins changed byte for byte, for tests of what the host makes of a file it did not
//! build. A plugin's manifest is its `host-plugin-manifest` custom section, and the text
//! `describe()` returns (the SDK's static) is a second copy in the data segment; replacing
//! a part of the manifest with text of the same length, in every copy, keeps the
//! component valid and consistent: the host reads the new manifest both ways.

use std::path::{Path, PathBuf};

/// `plugin` with each `(old, new)` replaced inside its manifest (`manifest` is the
/// plugin.toml it was built from). `new` may be shorter: it is padded with spaces, which
/// TOML ignores at the end of a line. Each `old` must occur once in the manifest.
pub fn patched(plugin: &Path, manifest: &str, changes: &[(&str, &str)], to: &Path) -> PathBuf {
    let mut bytes = std::fs::read(plugin).unwrap();
    let copies = find_all(&bytes, manifest.as_bytes());
    assert!(
        !copies.is_empty(),
        "{} does not embed the manifest given",
        plugin.display()
    );
    for at in copies {
        let copy = &mut bytes[at..at + manifest.len()];
        for (old, new) in changes {
            assert!(
                new.len() <= old.len(),
                "`{new}` is longer than `{old}`: the section keeps its length"
            );
            let text = std::str::from_utf8(copy).unwrap();
            assert_eq!(text.matches(old).count(), 1, "`{old}` in the manifest");
            let start = text.find(old).unwrap();
            let padded = format!("{new:<width$}", width = old.len());
            copy[start..start + old.len()].copy_from_slice(padded.as_bytes());
        }
    }
    std::fs::write(to, &bytes).unwrap();
    to.to_path_buf()
}

/// `plugin` with one more top-level custom section `name` holding `data`.
pub fn with_section(plugin: &Path, name: &str, data: &[u8], to: &Path) -> PathBuf {
    let mut bytes = std::fs::read(plugin).unwrap();
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    bytes.push(0);
    bytes.extend(leb128(payload.len()));
    bytes.extend(payload);
    std::fs::write(to, &bytes).unwrap();
    to.to_path_buf()
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}
