//! Sealing a backup set: an ed25519 signature over the exact bytes of its manifest.json,
//! kept beside it in `manifest.json.sig`.
//!
//! What it protects: manifest.json names every file of the set with its size and sha256,
//! the plugins (by sha256) the set was made with, the namespace and the 3scale version.
//! A restore or verify with `--trust-key` accepts the set only if the seal verifies under
//! one of the keys given, so any change to any artifact, to the manifest, or the removal
//! of the manifest or the seal, is refused before anything runs. Without a trusted key
//! the sha256 values are only a checksum: whoever can change a file can change the
//! manifest with it.
//!
//! What it does not protect: what is not in manifest.json (the audit logs under runs/;
//! journals have their own authentication, see `journal.rs`); a set sealed by a trusted
//! key from a compromised cluster or by a compromised host (the seal says who made the
//! set, not that its content is harmless); an older set sealed by the same key (a seal
//! has no expiry: restoring an old sealed set is possible on purpose); secrecy (the set
//! is not encrypted, only private to its owner on disk); and the private key itself,
//! which anyone who can read it can seal with.
//!
//! The signed message is a fixed context string followed by the manifest's bytes, so the
//! key signs nothing that could be taken for another protocol's message. Keys are the
//! usual PEM files (PKCS#8 private, SPKI public), as `openssl genpkey -algorithm ed25519`
//! makes them.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::hazmat::{ExpandedSecretKey, raw_sign_byupdate};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, SignatureError, SigningKey, StreamVerifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use super::BackupSet;
use crate::error::{Error, Result};

pub const FILE: &str = "manifest.json.sig";
const FORMAT: &str = "host-seal/1";
const CONTEXT: &[u8] = b"host backup set seal v1\n";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealFile {
    format: String,
    algorithm: String,
    /// The public key, 32 bytes in hex, to name it in messages.
    key: String,
    signature: String,
}

/// A public key given with `--trust-key`.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    key: VerifyingKey,
    path: PathBuf,
}

impl TrustedKey {
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public half of the key a backup seals with: a new set is checked against the
    /// key that sealed it before it is put in a repository.
    pub fn own(key: &SigningKey) -> TrustedKey {
        TrustedKey {
            key: key.verifying_key(),
            path: PathBuf::from("--sign-key"),
        }
    }
}

/// The key a set's seal names, unchecked: what `host describe` shows. Whether the seal
/// holds, and whether the key is trusted, is `verify --trust-key`'s to say.
pub fn claimed_key(set: &BackupSet) -> Option<String> {
    let bytes = set.seal_bytes().ok()??;
    let file: SealFile = serde_json::from_slice(&bytes).ok()?;
    let key: [u8; 32] = hex::decode(&file.key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&key).ok().map(|k| fingerprint(&k))
}

/// `SHA256:` and the start of the sha256 of the raw public key, to tell keys apart.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("SHA256:{}", &hex::encode(digest)[..32])
}

/// A new key pair: the private key at `out` (0600, never overwritten) and the public key
/// at `out.pub`. Returns the public key's path and fingerprint.
pub fn generate(out: &Path) -> Result<(PathBuf, String)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| Error::io(out, std::io::Error::other(format!("no randomness: {e}"))))?;
    let key = SigningKey::from_bytes(&seed);
    let private = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::Invalid(format!("encoding the private key: {e}")))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| Error::Invalid(format!("encoding the public key: {e}")))?;
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    let create = |path: &Path, mode: u32, text: &[u8]| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Invalid(format!("{} exists: not overwritten", path.display()))
                } else {
                    Error::io(path, e)
                }
            })?;
        f.write_all(text).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))
    };
    if pub_path.exists() {
        return Err(Error::Invalid(format!(
            "{} exists: not overwritten",
            pub_path.display()
        )));
    }
    create(out, 0o600, private.as_bytes())?;
    create(&pub_path, 0o644, public.as_bytes())?;
    // A public key is meant to be handed out: readable whatever the host's umask.
    std::fs::set_permissions(&pub_path, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(&pub_path, e))?;
    Ok((pub_path, fingerprint(&key.verifying_key())))
}

/// The private key to seal with. It must be readable by its owner alone, as ssh demands
/// of its keys: a key others can read cannot say who sealed a set.
pub fn signing_key(path: &Path) -> Result<SigningKey> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: getuid has no preconditions.
    let me = unsafe { libc::getuid() };
    if meta.permissions().mode() & 0o077 != 0 || meta.uid() != me {
        return Err(Error::Invalid(format!(
            "the signing key {} must belong to you and be readable by you alone (chmod 600)",
            path.display()
        )));
    }
    let text = read_pem(path)?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        Error::Invalid(format!(
            "{} is not an ed25519 private key in PKCS#8 PEM ({e}); `host key new` makes one",
            path.display()
        ))
    })
}

pub fn trusted_key(path: &Path) -> Result<TrustedKey> {
    let text = read_pem(path)?;
    let key = VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        Error::Invalid(format!(
            "{} is not an ed25519 public key in PEM ({e}); `host key new` writes one as FILE.pub",
            path.display()
        ))
    })?;
    Ok(TrustedKey {
        key,
        path: path.to_path_buf(),
    })
}

fn read_pem(path: &Path) -> Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut text = String::new();
    file.take(16 << 10)
        .read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    Ok(text)
}

/// Seals the set as its manifest.json is now: the bytes whose sha256 is `verified` (what
/// `verify_all_records` checked). Ed25519 hashes the message twice, so manifest.json is
/// read twice as a stream instead of held whole (100,000 records are 29 MB). Each read
/// must give the verified bytes: two signatures whose two passes differ would give the
/// key away, so nothing is signed unless both reads match.
pub fn seal(set: &BackupSet, verified: &[u8; 32], key: &SigningKey) -> Result<String> {
    let failure: RefCell<Option<Error>> = RefCell::new(None);
    let fail = |e: Error| {
        failure.borrow_mut().get_or_insert(e);
        SignatureError::new()
    };
    let pass = |hasher: &mut Sha512| -> std::result::Result<(), SignatureError> {
        let mut reader = set.manifest_reader().map_err(&fail)?.ok_or_else(|| {
            fail(Error::bad_set(
                set.path(),
                "manifest.json was removed while it was sealed",
            ))
        })?;
        hasher.update(CONTEXT);
        let mut seen = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| fail(Error::io(set.path().join(super::manifest::FILE), e)))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            seen.update(&buf[..n]);
        }
        if <[u8; 32]>::from(seen.finalize()) != *verified {
            return Err(fail(Error::bad_set(
                set.path(),
                "manifest.json changed while it was sealed: seal it again",
            )));
        }
        Ok(())
    };
    let expanded = ExpandedSecretKey::from(&key.to_bytes());
    let signature =
        raw_sign_byupdate::<Sha512, _>(&expanded, pass, &key.verifying_key()).map_err(|e| {
            failure
                .take()
                .unwrap_or_else(|| Error::bad_set(set.path(), format!("cannot seal: {e}")))
        })?;
    let file = SealFile {
        format: FORMAT.to_string(),
        algorithm: "ed25519".to_string(),
        key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    };
    set.write_seal(&serde_json::to_vec_pretty(&file).expect("strings serialise"))?;
    Ok(fingerprint(&key.verifying_key()))
}

/// Checks the seal over `manifest` (the bytes about to be trusted) against the trusted
/// keys. Returns the fingerprint of the key that sealed it.
pub fn check(set: &BackupSet, manifest: &[u8], trusted: &[TrustedKey]) -> Result<String> {
    let mut check = Check::new(set, trusted);
    check.update(manifest);
    check.finish()
}

/// The seal checked over manifest.json's bytes as they are read, so that a manifest of
/// 100,000 records is never held whole to be checked. What the seal file says (missing,
/// unknown, a key not trusted) is learnt first, but told only by [`Check::finish`]: a
/// missing manifest.json is the first thing to say.
pub struct Check {
    state: Result<(StreamVerifier, String)>,
    set: PathBuf,
}

impl Check {
    pub fn new(set: &BackupSet, trusted: &[TrustedKey]) -> Check {
        Check {
            state: begin(set, trusted),
            set: set.path().to_path_buf(),
        }
    }

    /// The next bytes of the manifest.
    pub fn update(&mut self, bytes: &[u8]) {
        if let Ok((verifier, _)) = &mut self.state {
            verifier.update(bytes);
        }
    }

    /// Returns the fingerprint of the key that sealed the bytes given.
    pub fn finish(self) -> Result<String> {
        let (verifier, print) = self.state?;
        verifier
            .finalize_and_verify()
            .map(|()| print.clone())
            .map_err(|_| changed(&self.set, &print))
    }
}

/// Reads the seal and finds its key among the trusted ones.
fn begin(set: &BackupSet, trusted: &[TrustedKey]) -> Result<(StreamVerifier, String)> {
    let refused = |m: String| Error::bad_set(set.path(), m);
    let Some(bytes) = set.seal_bytes()? else {
        return Err(refused(format!(
            "it is not sealed ({FILE} is missing) and --trust-key asks for a set sealed by a key you trust"
        )));
    };
    let file: SealFile = serde_json::from_slice(&bytes)
        .map_err(|e| refused(format!("{FILE} is not a seal ({e})")))?;
    if file.format != FORMAT || file.algorithm != "ed25519" {
        return Err(refused(format!(
            "{FILE} is a seal of an unknown kind ({} {})",
            file.format, file.algorithm
        )));
    }
    let key_bytes: [u8; 32] = hex::decode(&file.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| refused(format!("{FILE} names no valid key")))?;
    let signature: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| refused(format!("{FILE} holds no valid signature")))?;
    let signature = Signature::from_bytes(&signature);
    let Some(key) = trusted.iter().find(|t| t.key.as_bytes() == &key_bytes) else {
        let named = VerifyingKey::from_bytes(&key_bytes)
            .map(|k| fingerprint(&k))
            .unwrap_or_else(|_| "an invalid key".into());
        return Err(refused(format!(
            "it is sealed by {named}, which is not a key you trust (--trust-key: {})",
            trusted
                .iter()
                .map(|t| format!("{} {}", t.path.display(), fingerprint(&t.key)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let print = fingerprint(&key.key);
    let mut verifier =
        strict_stream(&key.key, &signature).map_err(|_| changed(set.path(), &print))?;
    verifier.update(CONTEXT);
    Ok((verifier, print))
}

/// What `verify_strict` checks, over a message given in parts: a stream verifier alone
/// does not refuse a signature whose R is not a point of the curve or is of small order,
/// nor a key of small order, which `verify_strict` does (such signatures can be made to
/// verify for more than one message).
fn strict_stream(
    key: &VerifyingKey,
    signature: &Signature,
) -> std::result::Result<StreamVerifier, SignatureError> {
    // R is a point encoded as a public key is: decoding it as one checks it.
    let r = VerifyingKey::from_bytes(signature.r_bytes())?;
    if r.is_weak() || key.is_weak() {
        return Err(SignatureError::new());
    }
    key.verify_stream(signature)
}

fn changed(set: &Path, print: &str) -> Error {
    Error::bad_set(
        set,
        format!(
            "its seal does not match manifest.json: the manifest was changed after {print} sealed it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;

    /// What is signed, whole: the seal signs it in two passes over manifest.json.
    fn message(manifest: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(CONTEXT.len() + manifest.len());
        m.extend_from_slice(CONTEXT);
        m.extend_from_slice(manifest);
        m
    }

    #[test]
    fn sealed_manifests_verify_under_their_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let set = BackupSet::create(&dir.path().join("set")).unwrap();
        let keys = tempfile::tempdir().unwrap();
        let (public, print) = generate(&keys.path().join("k")).unwrap();
        assert!(
            generate(&keys.path().join("k")).is_err(),
            "never overwrites"
        );
        let mode = std::fs::metadata(keys.path().join("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = signing_key(&keys.path().join("k")).unwrap();
        let trusted = [trusted_key(&public).unwrap()];
        let manifest = b"{\"a\":1}";
        std::fs::write(dir.path().join("set").join("manifest.json"), manifest).unwrap();
        let verified: [u8; 32] = Sha256::digest(manifest).into();
        // Bytes other than those verified: nothing is signed.
        let other: [u8; 32] = Sha256::digest(b"{\"a\":2}").into();
        let refused = seal(&set, &other, &key).unwrap_err().to_string();
        assert!(refused.contains("changed while it was sealed"), "{refused}");
        assert!(set.seal_bytes().unwrap().is_none(), "a seal was written");
        assert_eq!(seal(&set, &verified, &key).unwrap(), print);
        // Two passes over the file sign what one pass over the whole message does.
        let file: SealFile = serde_json::from_slice(&set.seal_bytes().unwrap().unwrap()).unwrap();
        assert_eq!(
            file.signature,
            hex::encode(key.sign(&message(manifest)).to_bytes())
        );
        assert_eq!(check(&set, b"{\"a\":1}", &trusted).unwrap(), print);
        let changed = check(&set, b"{\"a\":2}", &trusted).unwrap_err().to_string();
        assert!(changed.contains("changed after"), "{changed}");
        let (other, _) = generate(&keys.path().join("other")).unwrap();
        let wrong = check(&set, b"{\"a\":1}", &[trusted_key(&other).unwrap()])
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("not a key you trust"), "{wrong}");
        set.remove_seal().unwrap();
        let unsealed = check(&set, b"{\"a\":1}", &trusted).unwrap_err().to_string();
        assert!(unsealed.contains("not sealed"), "{unsealed}");
        assert!(
            trusted_key(&keys.path().join("k")).is_err(),
            "a private key is not a public one"
        );
    }

    /// The seal is checked as manifest.json streams past: that check accepts and refuses
    /// what `verify_strict` over the whole message does.
    #[test]
    fn the_streamed_check_is_verify_strict() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let public = key.verifying_key();
        let manifest = b"{\"components\": {\"zync\": [1, 2, 3]}}";
        let signature = key.sign(&message(manifest));
        let streamed = |m: &[u8], sig: &Signature| {
            strict_stream(&public, sig)
                .and_then(|mut v| {
                    v.update(CONTEXT);
                    for chunk in m.chunks(5) {
                        v.update(chunk);
                    }
                    v.finalize_and_verify()
                })
                .is_ok()
        };
        let strict = |m: &[u8], sig: &Signature| public.verify_strict(&message(m), sig).is_ok();
        let other = b"{\"components\": {\"zync\": [1, 2, 4]}}";
        // R replaced by the identity point, of small order.
        let mut weak = signature.to_bytes();
        weak[..32].copy_from_slice(
            &[1u8; 1]
                .iter()
                .chain(&[0u8; 31])
                .copied()
                .collect::<Vec<_>>(),
        );
        let weak = Signature::from_bytes(&weak);
        for (m, sig, ok) in [
            (&manifest[..], &signature, true),
            (&other[..], &signature, false),
            (&manifest[..], &weak, false),
        ] {
            assert_eq!(streamed(m, sig), ok);
            assert_eq!(strict(m, sig), ok);
        }
    }
}
