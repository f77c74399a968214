//! Checking a backup set before the first change to the cluster. A set written by `host`
//! is checked against its manifest.json (every file's size and sha256, nothing missing,
//! nothing extra, each record inside its artifact), and, with `--trust-key`, the manifest
//! against its seal; the plugins must be the ones the set was made with, and a restore
//! must go to the namespace the set came from, unless the user says otherwise. A set made
//! by hand with the manual's commands has no manifest; only when the user says so
//! (`--hand-made`) is each artifact checked for its format instead (a gzip stream that
//! decodes to its end within a bound, JSON that parses within a bound, an RDB header, a
//! directory of plain files, and the client commands of declared dumps).

use std::io::Read;

use sha2::{Digest, Sha256};

use super::BackupSet;
use super::artifacts::ArtifactStore;
use super::encryption::{Mode, decrypt_sync};
use super::limits;
use super::manifest::{ArtifactRecord, SetManifest};
use super::record_check::{Records, Tally};
use super::seal::{self, TrustedKey};
use crate::dump_guard::{Guard, check_reader};
use crate::error::{Error, Result};
use contract::manifest::{Artifact, Format, Manifest};

/// A plugin as the set is checked for it: its manifest and the file it came from.
#[derive(Debug, Clone)]
pub struct PluginFile {
    pub manifest: Manifest,
    pub file: String,
    pub sha256: String,
}

/// What the user asked of the set.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// `--trust-key`: the set must be sealed by one of these.
    pub trusted: Vec<TrustedKey>,
    /// `--hand-made`: a set without manifest.json is checked by format.
    pub hand_made: bool,
    /// `--other-plugins`: plugins other than the set was made with are used anyway.
    pub other_plugins: bool,
    /// For a restore: the namespace it goes to.
    pub namespace: Option<String>,
    /// `--other-namespace`: a set from another namespace is restored anyway.
    pub other_namespace: bool,
    /// A restore reads every file: an encrypted set without its key is refused before
    /// anything changes.
    pub contents: bool,
}

#[derive(Debug, Default)]
pub struct Verified {
    /// No manifest.json: checked by format only.
    pub hand_made: bool,
    pub warnings: Vec<String>,
    pub files: usize,
    pub bytes: u64,
    /// The fingerprint of the trusted key that sealed the set.
    pub sealed_by: Option<String>,
    /// The set is encrypted and every file was decrypted and found whole.
    pub encrypted: bool,
}

/// Verifies what `plugins` will read. Runs on a blocking thread (it reads every byte).
/// Whatever stops it (a FIFO, a planted link, an unreadable file) refuses the set.
pub fn verify(set: &BackupSet, plugins: &[PluginFile], checks: &Checks) -> Result<Verified> {
    refusing(set, verify_set(set, plugins, checks))
}

fn encryption_note(store: &ArtifactStore, out: &mut Verified) {
    match store.mode() {
        Mode::Locked => out.warnings.push(
            "the set is encrypted: its files' sizes and hashes were checked, but not that they decrypt (give --identity or --passphrase-file for that)".into(),
        ),
        Mode::Decrypt(_) => out.encrypted = true,
        Mode::Plain | Mode::Encrypt(_) => {}
    }
}

fn refusing<T>(set: &BackupSet, r: Result<T>) -> Result<T> {
    r.map_err(|e| match e {
        Error::BadSet { .. } | Error::Refused(_) | Error::Invalid(_) => e,
        other => Error::bad_set(set.path(), other.to_string()),
    })
}

fn verify_set(set: &BackupSet, plugins: &[PluginFile], checks: &Checks) -> Result<Verified> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    // The first read of manifest.json: the seal and a digest over its bytes, and what
    // each record must be before any file is read. Nothing of it is held but its head
    // and, for each artifact, a count and a digest of each path (`record_check.rs`).
    let mut seal = (!checks.trusted.is_empty()).then(|| seal::Check::new(set, &checks.trusted));
    let mut first = Sha256::new();
    let mut records = Records::declared(plugins.iter().map(|p| &p.manifest));
    let read = set.read_manifest(
        &mut |bytes| {
            first.update(bytes);
            if let Some(seal) = seal.as_mut() {
                seal.update(bytes);
            }
        },
        &mut |component, record| {
            records.note(component, &record);
            Ok(())
        },
    )?;
    let Some(parsed) = read else {
        if !checks.trusted.is_empty() {
            return Err(bad(
                "it has no manifest.json, so it cannot be sealed: --trust-key accepts only a set sealed by a key you trust".into(),
            ));
        }
        if !checks.hand_made {
            return Err(bad(
                "manifest.json is missing. A set made by `host backup` always has one, so this set is incomplete or was changed. If you made it by hand with the manual's commands, --hand-made checks its artifacts by their format instead (which cannot tell whether they are the ones that were backed up)".into(),
            ));
        }
        return hand_made(set, plugins);
    };
    let mut out = Verified::default();
    // The seal first: of a manifest changed after sealing, that is what to say.
    if let Some(seal) = seal {
        out.sealed_by = Some(seal.finish()?);
    }
    let manifest = parsed?;
    let first = first.finalize();
    if checks.hand_made {
        out.warnings
            .push("--hand-made: the set has a manifest.json, and is checked against it".into());
    }
    check_namespace(&manifest, checks, &mut out)?;
    check_provenance(&manifest, plugins, checks, &mut out)?;
    set.note_encryption(&manifest);
    let store = set.reader()?;
    if checks.contents && matches!(store.mode(), Mode::Locked) {
        return Err(Error::Refused(format!(
            "the backup set {} is encrypted (age, to {} recipient(s)) and no key was given: {}. Nothing was changed",
            set.path().display(),
            manifest.encryption.as_ref().map_or(0, |e| e.recipients),
            if manifest.encryption.as_ref().is_some_and(|e| e.passphrase) {
                "--passphrase-file FILE gives its passphrase (or --identity FILE a private key it was also encrypted to)"
            } else {
                "--identity FILE names the private key it was encrypted to"
            }
        )));
    }
    encryption_note(&store, &mut out);
    // The artifacts whose files are checked, in the plugins' order.
    let mut checked: Vec<&Tally> = Vec::new();
    for plugin in plugins
        .iter()
        .map(|p| &p.manifest)
        .filter(|p| !p.artifacts.is_empty())
    {
        if let Some(why) = manifest.failed.get(&plugin.name) {
            return Err(bad(format!(
                "the last backup of `{}` failed ({why}); its artifacts cannot be trusted",
                plugin.name
            )));
        }
        if !manifest.components.contains_key(&plugin.name) {
            if plugin.artifacts.iter().all(|a| a.optional) {
                out.warnings.push(format!(
                    "the set has no {} component; its artifacts are optional, skipped",
                    plugin.name
                ));
                continue;
            }
            let listed: Vec<&str> = manifest.components.keys().map(|s| s.as_str()).collect();
            return Err(bad(format!(
                "it has no `{}` component (manifest.json lists: {})",
                plugin.name,
                listed.join(", ")
            )));
        }
        for artifact in &plugin.artifacts {
            let tally = records
                .get(&plugin.name, &artifact.path)
                .expect("every declared artifact is tallied");
            if let Some(fault) = &tally.fault {
                return Err(bad(fault.clone()));
            }
            if tally.records == 0 && artifact.format != Format::Tree {
                if artifact.optional {
                    continue;
                }
                return Err(bad(format!(
                    "artifact `{}` is not in manifest.json",
                    artifact.path
                )));
            }
            checked.push(tally);
        }
    }
    // The second read: each record's file hashed as the record is parsed. The bytes read
    // must be those the first read checked and the seal vouched for.
    let mut second = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    set.read_manifest(
        &mut |bytes| second.update(bytes),
        &mut |component, record| {
            // A record found here is of a component the manifest has and of an artifact with
            // records: one of those checked.
            let Some(tally) = records.get(component, &record.artifact) else {
                return Ok(());
            };
            tally.check(&record).map_err(bad)?;
            check_file(set, &store, &record, &mut buf, &mut out)
        },
    )?
    .ok_or_else(|| bad("manifest.json was removed while the set was verified".into()))??;
    if second.finalize() != first {
        return Err(bad(
            "manifest.json changed while the set was verified: verify it again".into(),
        ));
    }
    for tally in checked {
        check_tree(set, &store, tally)?;
    }
    Ok(out)
}

/// Checks every record of manifest.json against the files, whatever the plugins: what
/// `host seal` vouches for. Returns the sha256 of the manifest's bytes as checked: the
/// seal signs those bytes, and must find them again when it reads the file (see
/// `seal::seal`). The manifest is read twice as a stream, as a restore reads it, never
/// held whole.
pub fn verify_all_records(set: &BackupSet) -> Result<([u8; 32], Verified)> {
    refusing(set, all_records(set))
}

fn all_records(set: &BackupSet) -> Result<([u8; 32], Verified)> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    let mut first = Sha256::new();
    let mut records = Records::every();
    let Some(parsed) = set.read_manifest(
        &mut |bytes| first.update(bytes),
        &mut |component, record| {
            records.note(component, &record);
            Ok(())
        },
    )?
    else {
        return Err(bad(
            "manifest.json is missing: only a set made by `host backup` can be sealed".into(),
        ));
    };
    let manifest = parsed?;
    let first: [u8; 32] = first.finalize().into();
    if let Some((name, why)) = manifest.failed.iter().next() {
        return Err(bad(format!(
            "the last backup of `{name}` failed ({why}): back it up again before sealing"
        )));
    }
    if let Some(fault) = records.iter().find_map(|t| t.fault.as_ref()) {
        return Err(bad(fault.clone()));
    }
    set.note_encryption(&manifest);
    let store = set.reader()?;
    let mut out = Verified::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut second = Sha256::new();
    set.read_manifest(
        &mut |bytes| second.update(bytes),
        &mut |component, record| {
            let tally = records
                .get(component, &record.artifact)
                .ok_or_else(|| bad("manifest.json changed while the set was verified".into()))?;
            tally.check(&record).map_err(bad)?;
            check_file(set, &store, &record, &mut buf, &mut out)
        },
    )?
    .ok_or_else(|| bad("manifest.json was removed while the set was verified".into()))??;
    if <[u8; 32]>::from(second.finalize()) != first {
        return Err(bad(
            "manifest.json changed while the set was verified: verify it again".into(),
        ));
    }
    for tally in records.iter() {
        check_tree(set, &store, tally)?;
    }
    Ok((first, out))
}

/// One record's file: its size and sha256 as recorded.
fn check_file(
    set: &BackupSet,
    store: &ArtifactStore,
    record: &ArtifactRecord,
    buf: &mut [u8],
    out: &mut Verified,
) -> Result<()> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    let (size, sha) = hash(store, record, buf).map_err(|e| match e {
        Error::NotFound(_) => bad(format!(
            "artifact `{}` is listed in manifest.json but missing",
            record.path
        )),
        other => other,
    })?;
    if size != record.size || sha != record.sha256 {
        return Err(bad(format!(
            "artifact `{}` does not match manifest.json (size {size}, expected {}; sha256 {}, expected {}): corrupt or tampered",
            record.path,
            record.size,
            &sha[..12],
            &record.sha256[..record.sha256.len().min(12)]
        )));
    }
    out.files += 1;
    out.bytes += size;
    Ok(())
}

/// A tree holds no file its records do not list. Every record's file was found in it,
/// and no path is listed twice, so the tree must hold exactly as many files as records.
fn check_tree(set: &BackupSet, store: &ArtifactStore, tally: &Tally) -> Result<()> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    let path = tally.artifact.path.as_str();
    if tally.artifact.format != Format::Tree || !store.exists(path)? {
        return Ok(());
    }
    let mut files = 0;
    // Names only: the files' contents were checked record by record.
    for entry in store.list_stored(path)?.into_iter().filter(|e| !e.is_dir) {
        if !tally.lists(&entry.path) {
            return Err(bad(format!(
                "`{}` is not in manifest.json: the set was changed after the backup",
                entry.path
            )));
        }
        files += 1;
    }
    if files != tally.records {
        return Err(bad(format!(
            "`{path}` holds {files} files where manifest.json lists {}: the set was changed after the backup",
            tally.records
        )));
    }
    Ok(())
}

fn check_namespace(manifest: &SetManifest, checks: &Checks, out: &mut Verified) -> Result<()> {
    let Some(target) = &checks.namespace else {
        return Ok(());
    };
    if &manifest.namespace == target {
        return Ok(());
    }
    let message = format!(
        "the set was made from namespace `{}` and this restore goes to `{target}`: its databases, files and Redis data would replace another 3scale's",
        manifest.namespace
    );
    if checks.other_namespace {
        out.warnings
            .push(format!("{message} (going on: --other-namespace)"));
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "{message}. Nothing was changed; --other-namespace restores it there"
        )))
    }
}

/// The plugins must be the files the set was made with (by sha256), or the user says
/// `--other-plugins`: another file under a known name would be handed that component's
/// artifacts and journal.
fn check_provenance(
    manifest: &SetManifest,
    plugins: &[PluginFile],
    checks: &Checks,
    out: &mut Verified,
) -> Result<()> {
    let mut others = Vec::new();
    for p in plugins {
        let name = &p.manifest.name;
        let recorded: Vec<_> = manifest
            .components
            .get(name)
            .map(|c| &c.plugin)
            .into_iter()
            .chain(manifest.plugins.get(name))
            .collect();
        let short = |s: &str| s[..s.len().min(12)].to_string();
        if let Some(r) = recorded.iter().find(|r| r.sha256 != p.sha256) {
            others.push(format!(
                "{name} ({}, sha256 {}…): the set was made with {} {}, sha256 {}…",
                p.file,
                short(&p.sha256),
                r.file,
                r.version,
                short(&r.sha256)
            ));
        } else if recorded.is_empty() && !manifest.plugins.is_empty() {
            others.push(format!(
                "{name} ({}): not among the plugins the set was made with",
                p.file
            ));
        }
    }
    if others.is_empty() {
        return Ok(());
    }
    if checks.other_plugins {
        for o in others {
            out.warnings
                .push(format!("another plugin: {o} (going on: --other-plugins)"));
        }
        return Ok(());
    }
    Err(Error::Refused(format!(
        "these plugins are not the ones the set was made with: {}. Nothing was changed; --other-plugins uses them anyway",
        others.join("; ")
    )))
}

fn hand_made(set: &BackupSet, plugins: &[PluginFile]) -> Result<Verified> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    let store = set.reader()?;
    let max_unpacked = limits::max_unpacked().map_err(Error::Invalid)?;
    let mut out = Verified {
        hand_made: true,
        ..Verified::default()
    };
    out.warnings.push(
        "no manifest.json: a set made by hand (--hand-made); artifacts are checked by format only"
            .into(),
    );
    for plugin in plugins.iter().map(|p| &p.manifest) {
        for artifact in &plugin.artifacts {
            if !store.exists(&artifact.path)? {
                if artifact.optional {
                    out.warnings.push(format!(
                        "{}: `{}` is not in the set, skipped",
                        plugin.name, artifact.path
                    ));
                    continue;
                }
                return Err(bad(format!(
                    "artifact `{}` ({}) is missing",
                    artifact.path, plugin.name
                )));
            }
            let (files, bytes) = check_format(&store, artifact, max_unpacked)
                .map_err(|m| bad(format!("artifact `{}`: {m}", artifact.path)))?;
            out.files += files;
            out.bytes += bytes;
        }
    }
    Ok(out)
}

/// The size and sha256 of a file as stored. With the key of an encrypted set, the same
/// read also decrypts it, so a file changed along with its record in manifest.json
/// still fails (age authenticates every chunk), and its plaintext size must be the
/// recorded one.
fn hash(store: &ArtifactStore, record: &ArtifactRecord, buf: &mut [u8]) -> Result<(u64, String)> {
    let path = record.path.as_str();
    let mut hashing = Hashing {
        inner: store.open_stored(path)?,
        hasher: Sha256::new(),
        size: 0,
    };
    let read_error = |e: std::io::Error| Error::io(store.location(path), e);
    if let Mode::Decrypt(keys) = store.mode() {
        let undecryptable = |e: std::io::Error| {
            let why = if e.kind() == std::io::ErrorKind::PermissionDenied {
                ""
            } else {
                ": corrupt or tampered"
            };
            Error::bad_set(
                store.location(path),
                format!("artifact `{path}` does not decrypt: {e}{why}"),
            )
        };
        let mut plain = decrypt_sync(&mut hashing, keys).map_err(undecryptable)?;
        let mut n = 0u64;
        loop {
            match plain.read(buf).map_err(undecryptable)? {
                0 => break,
                k => n += k as u64,
            }
        }
        drop(plain);
        if record.plain_size.is_some_and(|expected| expected != n) {
            return Err(Error::bad_set(
                store.location(path),
                format!(
                    "artifact `{path}` decrypts to {n} bytes where manifest.json says {}: corrupt or tampered",
                    record.plain_size.unwrap_or_default()
                ),
            ));
        }
    }
    // The rest (all of it, without a key): what age left unread is hashed too.
    while hashing.read(buf).map_err(read_error)? != 0 {}
    Ok((hashing.size, hex::encode(hashing.hasher.finalize())))
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// (files, bytes) checked.
fn check_format(
    store: &ArtifactStore,
    artifact: &Artifact,
    max_unpacked: u64,
) -> std::result::Result<(usize, u64), String> {
    let path = artifact.path.as_str();
    let open = || store.open_stored(path).map_err(|e| e.to_string());
    let guard = artifact.content.map(Guard::new);
    match artifact.format {
        Format::Gzip => {
            let decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(open()?));
            let n = check_reader(decoder, guard, max_unpacked).map_err(|e| {
                if e.contains("expands past") || e.starts_with("line ") {
                    e
                } else {
                    format!("not a complete gzip stream ({e})")
                }
            })?;
            if n == 0 {
                return Err("the gzip stream is empty".into());
            }
            Ok((1, n))
        }
        Format::Raw => {
            let n = check_reader(open()?, guard, u64::MAX)?;
            Ok((1, n))
        }
        Format::Json => {
            // Read only up to the limit, whatever the store says of the size.
            let mut bytes = Vec::new();
            open()?
                .take(limits::MAX_JSON + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            let size = bytes.len() as u64;
            if size > limits::MAX_JSON {
                return Err(format!(
                    "more JSON than the {} a Kubernetes object can be: not read",
                    crate::progress::human(limits::MAX_JSON)
                ));
            }
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("not JSON ({e})"))?;
            if value.get("kind").and_then(|k| k.as_str()).is_none() {
                return Err("JSON without a `kind`: not a Kubernetes object".into());
            }
            Ok((1, size))
        }
        Format::Rdb => {
            let mut head = [0u8; 9];
            open()?
                .read_exact(&mut head)
                .map_err(|_| "too short for an RDB file".to_string())?;
            if &head[..5] != b"REDIS" || !head[5..].iter().all(u8::is_ascii_digit) {
                return Err("not a Redis RDB file (no REDIS header)".into());
            }
            Ok((1, 9))
        }
        Format::Tree => {
            if !store.is_dir(path).map_err(|e| e.to_string())? {
                return Err("expected a directory".into());
            }
            let entries = store.list(path).map_err(|e| e.to_string())?;
            let files: Vec<_> = entries.iter().filter(|e| !e.is_dir).collect();
            Ok((files.len(), files.iter().map(|e| e.size).sum()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_set::manifest::{Component, PluginRecord};

    const FILES: usize = 3_000;

    fn plugin() -> PluginFile {
        PluginFile {
            manifest: Manifest {
                name: "system-storage".into(),
                version: "1.0.0".into(),
                description: String::new(),
                threescale: vec![],
                after: vec![],
                hooks: vec![],
                restore_when: Default::default(),
                artifacts: vec![Artifact {
                    path: "system".into(),
                    format: Format::Tree,
                    optional: false,
                    content: None,
                }],
                capabilities: Default::default(),
            },
            file: "system-storage.wasm".into(),
            sha256: "ab".into(),
        }
    }

    /// A set of one tree of [`FILES`] files, and its manifest's records.
    fn tree_set(dir: &std::path::Path) -> (BackupSet, SetManifest) {
        let set = BackupSet::create(&dir.join("set")).unwrap();
        let mut records = Vec::new();
        for i in 0..FILES {
            let path = format!("system/{}/{i}.txt", i % 10);
            let text = format!("file {i}\n");
            let on_disk = set.path().join(&path);
            std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
            std::fs::write(&on_disk, &text).unwrap();
            records.push(ArtifactRecord {
                path,
                artifact: "system".into(),
                format: Format::Tree,
                size: text.len() as u64,
                sha256: hex::encode(Sha256::digest(&text)),
                plain_size: None,
                mtime: None,
            });
        }
        let mut m = SetManifest::new("3scale", None, "t0".into());
        m.components.insert(
            "system-storage".into(),
            Component {
                plugin: PluginRecord {
                    name: "system-storage".into(),
                    version: "1.0.0".into(),
                    sha256: "ab".into(),
                    file: "system-storage.wasm".into(),
                },
                started: "t0".into(),
                finished: "t1".into(),
                artifacts: records,
            },
        );
        set.write_manifest(&m).unwrap();
        (set, m)
    }

    fn verified(set: &BackupSet) -> Result<Verified> {
        verify(set, &[plugin()], &Checks::default())
    }

    fn refused(set: &BackupSet, words: &str) {
        let e = verified(set).unwrap_err().to_string();
        assert!(e.contains(words), "expected `{words}` in: {e}");
        let e = verify_all_records(set).unwrap_err().to_string();
        assert!(e.contains(words), "host seal: expected `{words}` in: {e}");
    }

    fn records(m: &mut SetManifest) -> &mut Vec<ArtifactRecord> {
        &mut m.components.get_mut("system-storage").unwrap().artifacts
    }

    /// Records are checked as they stream past and none is kept: a fault deep in a
    /// large manifest is still found, whatever it is.
    #[test]
    fn every_record_of_a_streamed_manifest_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (set, m) = tree_set(dir.path());
        let v = verified(&set).unwrap();
        assert_eq!(v.files, FILES);
        assert_eq!(verify_all_records(&set).unwrap().1.files, FILES);

        // One file changed, its record not.
        let deep = &m.components["system-storage"].artifacts[FILES - 7].path;
        std::fs::write(set.path().join(deep), "changed\n").unwrap();
        refused(
            &set,
            &format!("artifact `{deep}` does not match manifest.json"),
        );
        set.write_manifest(&m).unwrap();
        std::fs::write(set.path().join(deep), format!("file {}\n", FILES - 7)).unwrap();
        assert_eq!(verified(&set).unwrap().files, FILES);

        // A record's hash changed, its file not.
        let mut bad = m.clone();
        records(&mut bad)[FILES / 2].sha256 = "00".repeat(32);
        set.write_manifest(&bad).unwrap();
        refused(&set, "does not match manifest.json");

        // A path listed twice (the file it names is right), and a record for a file
        // outside the tree.
        let mut twice = m.clone();
        let again = records(&mut twice)[10].clone();
        records(&mut twice)[FILES - 1] = again.clone();
        set.write_manifest(&twice).unwrap();
        refused(&set, &format!("manifest.json lists `{}` twice", again.path));
        let mut outside = m.clone();
        records(&mut outside)[FILES - 2].path = "system-mysql-backup.gz".into();
        set.write_manifest(&outside).unwrap();
        refused(
            &set,
            "names `system-mysql-backup.gz`, another file: tampered",
        );

        // A file no record lists, and one whose record was dropped.
        set.write_manifest(&m).unwrap();
        std::fs::write(set.path().join("system/3/extra"), "x").unwrap();
        refused(&set, "`system/3/extra` is not in manifest.json");
        std::fs::remove_file(set.path().join("system/3/extra")).unwrap();
        let mut dropped = m.clone();
        let gone = records(&mut dropped).remove(FILES - 3).path;
        set.write_manifest(&dropped).unwrap();
        refused(&set, &format!("`{gone}` is not in manifest.json"));
        // And a file removed whose record stays.
        set.write_manifest(&m).unwrap();
        std::fs::remove_file(set.path().join(&gone)).unwrap();
        refused(
            &set,
            &format!("artifact `{gone}` is listed in manifest.json but missing"),
        );
    }

    /// The seal is checked over the bytes streamed, before anything else is said.
    #[test]
    fn a_sealed_manifest_streams_through_its_seal() {
        let dir = tempfile::tempdir().unwrap();
        let (set, m) = tree_set(dir.path());
        let (public, _) = seal::generate(&dir.path().join("key")).unwrap();
        let key = seal::signing_key(&dir.path().join("key")).unwrap();
        let (digest, _) = verify_all_records(&set).unwrap();
        let print = seal::seal(&set, &digest, &key).unwrap();
        let bytes = std::fs::read(set.path().join("manifest.json")).unwrap();
        let checks = Checks {
            trusted: vec![seal::trusted_key(&public).unwrap()],
            ..Checks::default()
        };
        let v = verify(&set, &[plugin()], &checks).unwrap();
        assert_eq!(v.sealed_by.as_deref(), Some(print.as_str()));
        // One byte of one record, whose file is wrong too: the seal is what is said.
        let mut changed = m.clone();
        records(&mut changed)[FILES - 5].size += 1;
        let text = serde_json::to_vec_pretty(&changed).unwrap();
        std::fs::write(set.path().join("manifest.json"), text).unwrap();
        let e = verify(&set, &[plugin()], &checks).unwrap_err().to_string();
        assert!(e.contains("changed after"), "{e}");
        // Not JSON to its end: still the seal first.
        std::fs::write(set.path().join("manifest.json"), &bytes[..bytes.len() - 9]).unwrap();
        let e = verify(&set, &[plugin()], &checks).unwrap_err().to_string();
        assert!(e.contains("changed after"), "{e}");
        let e = verified(&set).unwrap_err().to_string();
        assert!(e.contains("not a backup set manifest"), "{e}");
    }
}
