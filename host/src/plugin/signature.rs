//! Plugin signatures: an ed25519 signature over a plugin file's sha256 digest, kept
//! beside it as `NAME.wasm.sig`, made and checked with the same keys that seal backup
//! sets (`host key new`; PKCS#8 private and SPKI public PEM, see `backup_set::seal`).
//!
//! What it says: the holder of the private key vouched for exactly these bytes. A run
//! with `--require-signed KEY` (or `HOST_REQUIRE_SIGNED`) loads no plugin whose file is
//! not signed by that key, so a plugin changed on disk, in a registry or on the way is
//! refused before it is compiled or run. What it does not say: where the plugin belongs
//! (the manifest inside the file names the plugin and its 3scale versions, and the host
//! checks those as for any plugin), or that the key's holder built it carefully.
//!
//! The signed message is a fixed context string and `sha256:HEX` of the file: distinct
//! from a seal's message (another context string), and checkable against the digest an
//! OCI registry lists for the plugin's layer. The signature file names the key and the
//! digest it signed, so a refusal can say which key signed and whether the file changed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backup_set::seal::{TrustedKey, fingerprint};
use crate::error::{Error, Result};

const FORMAT: &str = "host-plugin-signature/1";
const CONTEXT: &[u8] = b"host plugin signature v1\n";
/// A signature file is a few hundred bytes; anything much larger is not one.
const MAX_SIG_BYTES: u64 = 16 << 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    format: String,
    algorithm: String,
    /// The public key, 32 bytes in hex.
    key: String,
    /// `sha256:HEX` of the plugin file: what was signed.
    digest: String,
    signature: String,
}

/// `zync.wasm` -> `zync.wasm.sig`.
pub fn sig_path(plugin: &Path) -> PathBuf {
    let mut p = plugin.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

/// `sha256:HEX`, as OCI descriptors write digests.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn message(digest: &str) -> Vec<u8> {
    [CONTEXT, digest.as_bytes()].concat()
}

/// The signature file's bytes for a plugin whose file has `digest`.
pub fn sign_digest(digest: &str, key: &SigningKey) -> Vec<u8> {
    let file = SignatureFile {
        format: FORMAT.into(),
        algorithm: "ed25519".into(),
        key: hex::encode(key.verifying_key().as_bytes()),
        digest: digest.into(),
        signature: hex::encode(key.sign(&message(digest)).to_bytes()),
    };
    let mut out = serde_json::to_vec_pretty(&file).expect("strings serialise");
    out.push(b'\n');
    out
}

/// Signs a plugin file into `FILE.sig` (replacing an older signature). Returns the
/// signature's path and the file's digest.
pub fn sign_file(plugin: &Path, key: &SigningKey) -> Result<(PathBuf, String)> {
    let bytes = super::read(plugin)?;
    // Only a file the host would load is worth vouching for.
    super::inspect::examine(plugin, &bytes)?;
    let digest = digest(&bytes);
    let path = sig_path(plugin);
    write_atomically(&path, &sign_digest(&digest, key))?;
    Ok((path, digest))
}

/// Writes through a temporary file and a rename: a reader sees the old signature or the
/// new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".sig-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    // Signatures are public: readable like the plugin beside them.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// What a plugin's signature file says, read without any key.
#[derive(Debug, Clone)]
pub struct Found {
    /// The signing key's fingerprint, as `host key new` prints it.
    pub signer: String,
    key: VerifyingKey,
    signed_digest: String,
    signature: Signature,
}

/// Reads `FILE.sig` beside a plugin: `None` if there is none.
pub fn read(plugin: &Path) -> std::result::Result<Option<Found>, String> {
    let path = sig_path(plugin);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map(Some).map_err(|why| {
        format!(
            "{} is not a plugin signature ({why})",
            path.file_name().unwrap_or_default().to_string_lossy()
        )
    })
}

/// A signature file's bytes, as `host plugin sign` writes them.
pub fn parse(bytes: &[u8]) -> std::result::Result<Found, String> {
    if bytes.len() as u64 > MAX_SIG_BYTES {
        return Err("too large".into());
    }
    let file: SignatureFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.format != FORMAT || file.algorithm != "ed25519" {
        return Err(format!("unknown kind {} {}", file.format, file.algorithm));
    }
    let key: [u8; 32] = hex::decode(&file.key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("no valid key")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| "no valid key")?;
    let signature: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("no valid signature")?;
    Ok(Found {
        signer: fingerprint(&key),
        key,
        signed_digest: file.digest,
        signature: Signature::from_bytes(&signature),
    })
}

impl Found {
    /// `sha256:HEX` of the file this signature was made for.
    pub fn signed_digest(&self) -> &str {
        &self.signed_digest
    }

    /// Whether this signature vouches for a file whose digest is `digest`, under one of
    /// `trusted`. `Err` says why not, in words that name the keys.
    pub fn check(&self, digest: &str, trusted: &[TrustedKey]) -> std::result::Result<(), String> {
        let Some(key) = trusted
            .iter()
            .find(|t| t.verifying_key().as_bytes() == self.key.as_bytes())
        else {
            return Err(format!(
                "it is signed by {}, not by a key you gave ({})",
                self.signer,
                named(trusted)
            ));
        };
        if self.signed_digest != digest {
            return Err(format!(
                "its signature by {} is for {}, but the file is {digest}: it was changed after it was signed",
                self.signer, self.signed_digest
            ));
        }
        key.verifying_key()
            .verify_strict(&message(digest), &self.signature)
            .map_err(|_| {
                format!(
                    "its signature file names {} but the signature does not check: it was forged or damaged",
                    self.signer
                )
            })
    }
}

fn named(trusted: &[TrustedKey]) -> String {
    trusted
        .iter()
        .map(|t| format!("{} {}", t.path().display(), fingerprint(t.verifying_key())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--require-signed KEY`: the keys a plugin must be signed by to be loaded.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub keys: Vec<TrustedKey>,
}

impl Requirement {
    pub fn load(paths: &[PathBuf]) -> Result<Option<Requirement>> {
        if paths.is_empty() {
            return Ok(None);
        }
        let keys = paths
            .iter()
            .map(|p| crate::backup_set::seal::trusted_key(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Requirement { keys }))
    }

    /// Refuses the first plugin that is not signed by one of the keys, naming it and why.
    /// Nothing is compiled or run before this passes.
    pub fn check(&self, plugin: &Path) -> Result<String> {
        self.check_bytes(plugin, &super::read(plugin)?)
    }

    /// [`Requirement::check`] of a plugin file's bytes, as read by the caller (who then
    /// uses these bytes, not the file again).
    pub fn check_bytes(&self, plugin: &Path, bytes: &[u8]) -> Result<String> {
        let digest = digest(bytes);
        let refused = |message: String| Error::Unsigned {
            path: plugin.to_path_buf(),
            message,
        };
        let found = read(plugin).map_err(refused)?.ok_or_else(|| {
            refused(format!(
                "it is not signed (no {}) and --require-signed asks for plugins signed by {}",
                sig_path(plugin)
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy(),
                named(&self.keys)
            ))
        })?;
        found.check(&digest, &self.keys).map_err(refused)?;
        Ok(found.signer)
    }

    /// Every `*.wasm` in a set's directory.
    pub fn check_dir(&self, dir: &Path) -> Result<()> {
        for plugin in super::wasm_files(dir)? {
            self.check(&plugin)?;
        }
        Ok(())
    }
}

/// `host inspect`'s lines about the file's digest and signature; `trusted` are the keys
/// given with `--key` (none: the signature is shown, not checked).
pub fn describe(plugin: &Path, bytes: &[u8], trusted: &[TrustedKey]) -> Vec<String> {
    vec![
        format!("  digest:          {}", digest(bytes)),
        format!("  signature:       {}", state(plugin, bytes, trusted)),
    ]
}

/// The plugin's signature in one phrase: none, unusable, by whom (checked or not).
pub fn state(plugin: &Path, bytes: &[u8], trusted: &[TrustedKey]) -> String {
    let digest = digest(bytes);
    let sig = sig_path(plugin);
    let sig_name = sig.file_name().unwrap_or_default().to_string_lossy();
    match read(plugin) {
        Ok(None) => format!("none (no {sig_name})"),
        Err(why) => format!("unusable: {why}"),
        Ok(Some(found)) if trusted.is_empty() => {
            format!("by {} (not checked: give --key PUBFILE)", found.signer)
        }
        Ok(Some(found)) => match found.check(&digest, trusted) {
            Ok(()) => format!("checks: signed by {}", found.signer),
            Err(why) => format!("DOES NOT CHECK: {why}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_set::seal::{generate, signing_key, trusted_key};

    #[test]
    fn a_signature_checks_for_its_digest_and_key_only() {
        let keys = tempfile::tempdir().unwrap();
        let (public, print) = generate(&keys.path().join("k")).unwrap();
        let (other, _) = generate(&keys.path().join("o")).unwrap();
        let key = signing_key(&keys.path().join("k")).unwrap();
        let trusted = [trusted_key(&public).unwrap()];
        let d = digest(b"\0asm plugin");
        let found = parse(&sign_digest(&d, &key)).unwrap();
        assert_eq!(found.signer, print);
        assert_eq!(found.check(&d, &trusted), Ok(()));
        let changed = found.check(&digest(b"\0asm other"), &trusted).unwrap_err();
        assert!(changed.contains("changed after it was signed"), "{changed}");
        let wrong = found
            .check(&d, &[trusted_key(&other).unwrap()])
            .unwrap_err();
        assert!(
            wrong.contains(&print) && wrong.contains("not by a key you gave"),
            "{wrong}"
        );
        // A signature moved to another digest's file does not verify.
        let mut forged: serde_json::Value = serde_json::from_slice(&sign_digest(&d, &key)).unwrap();
        forged["digest"] = digest(b"\0asm other").into();
        let forged = parse(&serde_json::to_vec(&forged).unwrap()).unwrap();
        let e = forged.check(&digest(b"\0asm other"), &trusted).unwrap_err();
        assert!(e.contains("does not check"), "{e}");
        assert!(parse(b"{}").is_err());
        assert!(
            parse(&vec![b' '; 20 << 10])
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn sig_files_sit_beside_their_plugin() {
        assert_eq!(
            sig_path(Path::new("sets/3scale-2.15/zync.wasm")),
            Path::new("sets/3scale-2.15/zync.wasm.sig")
        );
    }
}
