//! Checking a backup set before the first change to the cluster. A set written by `host`
//! is checked against its manifest.json (every file's size and sha256, nothing missing,
//! nothing extra, each record inside its artifact), and, with `--trust-key`, the manifest
//! against its seal; the plugins must be the ones the set was made with, and a restore
//! must go to the namespace the set came from, unless the user says otherwise. A set made
//! by hand with the manual's commands has no manifest; only when the user says so
//! (`--hand-made`) is each artifact checked for its format instead (a gzip stream that
//! decodes to its end within a bound, JSON that parses within a bound, an RDB header, a
//! directory of plain files, and the client commands of declared dumps).

use std::collections::BTreeSet;
use std::io::Read;

use sha2::{Digest, Sha256};

use super::BackupSet;
use super::artifacts::ArtifactStore;
use super::encryption::{Mode, decrypt_sync};
use super::limits;
use super::manifest::{ArtifactRecord, SetManifest};
use super::seal::{self, TrustedKey};
use crate::dump_guard::{Guard, check_reader};
use crate::error::{Error, Result};
use contract::manifest::{Artifact, Format, Manifest};
use contract::paths::{check_relative_path, is_within};

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
    /// The manifest as checked (sealed, if `sealed_by`).
    pub manifest: Option<SetManifest>,
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
    let Some(bytes) = set.manifest_bytes()? else {
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
    if !checks.trusted.is_empty() {
        out.sealed_by = Some(seal::check(set, &bytes, &checks.trusted)?);
    }
    let manifest = set.parse_manifest(&bytes)?;
    drop(bytes);
    if checks.hand_made {
        out.warnings
            .push("--hand-made: the set has a manifest.json, and is checked against it".into());
    }
    check_namespace(&manifest, checks, &mut out)?;
    check_provenance(&manifest, plugins, checks, &mut out)?;
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
        let Some(component) = manifest.components.get(&plugin.name) else {
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
        };
        for artifact in &plugin.artifacts {
            let records: Vec<&ArtifactRecord> = component
                .artifacts
                .iter()
                .filter(|r| r.artifact == artifact.path)
                .collect();
            check_records(artifact, &records).map_err(bad)?;
            if records.is_empty() && artifact.format != Format::Tree {
                if artifact.optional {
                    continue;
                }
                return Err(bad(format!(
                    "artifact `{}` is not in manifest.json",
                    artifact.path
                )));
            }
            for record in &records {
                let (size, sha) = hash(&store, record).map_err(|e| match e {
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
            }
            if artifact.format == Format::Tree && store.exists(&artifact.path)? {
                let listed: BTreeSet<&str> = records.iter().map(|r| r.path.as_str()).collect();
                for entry in store
                    .list(&artifact.path)?
                    .into_iter()
                    .filter(|e| !e.is_dir)
                {
                    if !listed.contains(entry.path.as_str()) {
                        return Err(bad(format!(
                            "`{}` is not in manifest.json: the set was changed after the backup",
                            entry.path
                        )));
                    }
                }
            }
        }
    }
    out.manifest = Some(manifest);
    Ok(out)
}

/// Checks every record of manifest.json against the files, whatever the plugins: what
/// `host seal` vouches for. Returns the manifest's bytes as checked.
pub fn verify_all_records(set: &BackupSet) -> Result<(Vec<u8>, Verified)> {
    refusing(set, all_records(set))
}

fn all_records(set: &BackupSet) -> Result<(Vec<u8>, Verified)> {
    let bad = |m: String| Error::bad_set(set.path(), m);
    let Some(bytes) = set.manifest_bytes()? else {
        return Err(bad(
            "manifest.json is missing: only a set made by `host backup` can be sealed".into(),
        ));
    };
    let manifest = set.parse_manifest(&bytes)?;
    if let Some((name, why)) = manifest.failed.iter().next() {
        return Err(bad(format!(
            "the last backup of `{name}` failed ({why}): back it up again before sealing"
        )));
    }
    let store = set.reader()?;
    let mut out = Verified::default();
    for component in manifest.components.values() {
        let artifacts: BTreeSet<&str> = component
            .artifacts
            .iter()
            .map(|r| r.artifact.as_str())
            .collect();
        for path in artifacts {
            let records: Vec<&ArtifactRecord> = component
                .artifacts
                .iter()
                .filter(|r| r.artifact == path)
                .collect();
            let artifact = Artifact {
                path: path.to_string(),
                format: records[0].format,
                optional: false,
                content: None,
            };
            check_records(&artifact, &records).map_err(bad)?;
            for record in &records {
                let (size, sha) = hash(&store, record)?;
                if size != record.size || sha != record.sha256 {
                    return Err(bad(format!(
                        "artifact `{}` does not match manifest.json: corrupt or tampered",
                        record.path
                    )));
                }
                out.files += 1;
                out.bytes += size;
            }
            if artifact.format == Format::Tree && store.exists(path)? {
                let listed: BTreeSet<&str> = records.iter().map(|r| r.path.as_str()).collect();
                for entry in store.list(path)?.into_iter().filter(|e| !e.is_dir) {
                    if !listed.contains(entry.path.as_str()) {
                        return Err(bad(format!(
                            "`{}` is not in manifest.json: the set was changed after the backup",
                            entry.path
                        )));
                    }
                }
            }
        }
    }
    out.manifest = Some(manifest);
    Ok((bytes, out))
}

/// A record's path is its artifact (a file) or lies inside it (a tree), is a plain path
/// of the set, and is listed once: a record cannot vouch for a decoy while the plugin
/// reads another file.
fn check_records(
    artifact: &Artifact,
    records: &[&ArtifactRecord],
) -> std::result::Result<(), String> {
    let mut seen = BTreeSet::new();
    for r in records {
        if let Err(e) = check_relative_path(&r.path) {
            return Err(format!(
                "manifest.json's record `{}` for artifact `{}` is not a path of the set: {e}",
                r.path, artifact.path
            ));
        }
        let inside = match artifact.format {
            Format::Tree => is_within(&r.path, &artifact.path) && r.path != artifact.path,
            _ => r.path == artifact.path,
        };
        if !inside {
            return Err(format!(
                "manifest.json's record for artifact `{}` names `{}`, another file: tampered",
                artifact.path, r.path
            ));
        }
        if r.format != artifact.format {
            return Err(format!(
                "manifest.json records `{}` as {}, the plugin declares {}",
                r.path,
                r.format.name(),
                artifact.format.name()
            ));
        }
        if !seen.insert(r.path.as_str()) {
            return Err(format!("manifest.json lists `{}` twice", r.path));
        }
    }
    if artifact.format != Format::Tree && records.len() > 1 {
        return Err(format!(
            "manifest.json lists artifact `{}` more than once",
            artifact.path
        ));
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
fn hash(store: &ArtifactStore, record: &ArtifactRecord) -> Result<(u64, String)> {
    let path = record.path.as_str();
    let mut hashing = Hashing {
        inner: store.open_stored(path)?,
        hasher: Sha256::new(),
        size: 0,
    };
    let mut buf = vec![0u8; 256 * 1024];
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
            match plain.read(&mut buf).map_err(undecryptable)? {
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
    while hashing.read(&mut buf).map_err(read_error)? != 0 {}
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
