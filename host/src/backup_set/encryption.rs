//! Encryption at rest. With `--recipient` (or `--recipients-file`), every file a backup
//! writes into the set is an age file (age-encryption.org/v1) from its first byte on:
//! the bytes are encrypted as they arrive, so no dump, Secret or storage file is ever on
//! disk in plain text, staging included. Each file is one age file under its usual name,
//! so `age -d -i KEY FILE` opens any of them by hand, and the set's layout stays the
//! manual's. age's payload is authenticated (ChaCha20-Poly1305 in 64 KiB chunks), so a
//! changed byte fails decryption; manifest.json records each file's sha256 as stored, so
//! `verify` finds tampering without the key too.
//!
//! With a passphrase (`--passphrase-file`), age's passphrase recipient is not used for
//! each file: it runs scrypt (about a second, by design) per file, and a set holds up to
//! 100,000 storage files. The backup makes a new X25519 key for the set instead, encrypts
//! every file to it (and to any `--recipient`), and keeps that key in the set as
//! `set-key.age`, encrypted under the passphrase: one scrypt to write, one to read. By
//! hand, `age -d set-key.age > key.txt` (it asks for the passphrase), then
//! `age -d -i key.txt FILE`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// What manifest.json says of an encrypted set: how, and to how many keys (never which).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Encryption {
    pub format: String,
    pub recipients: usize,
    /// The set's key is in `set-key.age` under a passphrase (and counts among the
    /// recipients).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passphrase: bool,
}

/// Where a passphrase-encrypted set keeps its key.
pub const SET_KEY: &str = "set-key.age";
/// A set key file is one age file of one key line: a few hundred bytes.
pub const MAX_SET_KEY: u64 = 64 * 1024;

pub const FORMAT: &str = "age-encryption.org/v1";
/// age's plaintext chunk, and what each chunk adds (its Poly1305 tag).
const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;

pub type Recipient = Box<dyn age::Recipient + Send + Sync>;
type Identity = Box<dyn age::Identity + Send + Sync>;

/// The public keys a backup encrypts to.
pub struct Recipients(Vec<Recipient>);

/// The private keys a restore decrypts with.
pub struct Identities(Vec<Identity>);

/// The keys a run was given on its command line.
#[derive(Clone, Default)]
pub struct Keys {
    pub recipients: Option<Arc<Recipients>>,
    pub identities: Option<Arc<Identities>>,
    /// For a backup with a passphrase: the new set key, already encrypted under it.
    pub sealed_set_key: Option<Arc<Vec<u8>>>,
    /// For a restore or verify: opens the set's `set-key.age`.
    pub passphrase: Option<Arc<Passphrase>>,
}

/// A passphrase, read from a file (`--passphrase-file`), held only in memory.
pub struct Passphrase(age::secrecy::SecretString);

impl Passphrase {
    /// The file's first line, without its line end. An empty one is refused: it would
    /// encrypt to a key anyone can derive.
    pub fn read(file: &Path) -> Result<Passphrase> {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(Error::Invalid(format!(
                "--passphrase-file {}: its first line is empty",
                file.display()
            )));
        }
        Ok(Passphrase(line.to_string().into()))
    }
}

/// A new key for one set: its recipient, and its private key encrypted under the
/// passphrase (age's scrypt recipient, so `age -d` opens it by hand).
pub fn new_set_key(passphrase: &Passphrase) -> Result<(Recipient, Vec<u8>)> {
    use age::secrecy::ExposeSecret;
    let key = age::x25519::Identity::generate();
    let line = format!(
        "# the key of one backup set; its files are encrypted to {}\n{}\n",
        key.to_public(),
        key.to_string().expose_secret()
    );
    let sealed = age::encrypt(
        &age::scrypt::Recipient::new(passphrase.0.clone()),
        line.as_bytes(),
    )
    .map_err(|e| Error::Invalid(format!("cannot encrypt the set key: {e}")))?;
    Ok((Box::new(key.to_public()), sealed))
}

/// The set's key, from its `set-key.age` and the passphrase.
pub fn open_set_key(sealed: &[u8], passphrase: &Passphrase, set: &Path) -> Result<Identities> {
    let plain =
        age::decrypt(&age::scrypt::Identity::new(passphrase.0.clone()), sealed).map_err(|e| {
            Error::Refused(format!(
                "the passphrase does not open {SET_KEY} of {} ({e})",
                set.display()
            ))
        })?;
    let text = String::from_utf8(plain)
        .map_err(|_| Error::bad_set(set, format!("{SET_KEY} does not hold an age key")))?;
    Ok(Identities(identities(&text, &set.join(SET_KEY))?))
}

impl Recipients {
    /// Adds a recipient (a passphrase set's own key).
    pub fn with(mut self, r: Recipient) -> Recipients {
        self.0.push(r);
        self
    }

    pub fn one(r: Recipient) -> Recipients {
        Recipients(vec![r])
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("recipients", &self.recipients.as_ref().map(|r| r.0.len()))
            .field("identities", &self.identities.as_ref().map(|i| i.0.len()))
            .field("passphrase", &self.passphrase.is_some())
            .finish()
    }
}

impl Recipients {
    /// `--recipient` keys and the lines of `--recipients-file` files, as age's `-r` and
    /// `-R` take them: `age1...` (X25519) or an SSH public key (`ssh-ed25519 ...`,
    /// `ssh-rsa ...`); blank lines and `#` comments are skipped.
    pub fn parse(keys: &[String], files: &[PathBuf]) -> Result<Option<Recipients>> {
        let mut out = Vec::new();
        for key in keys {
            out.push(recipient(key.trim(), "--recipient")?);
        }
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
            let before = out.len();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(recipient(
                    line,
                    &format!("{} line {}", file.display(), n + 1),
                )?);
            }
            if out.len() == before {
                return Err(Error::Invalid(format!(
                    "{} holds no recipient (age1... or ssh-... public keys, one a line)",
                    file.display()
                )));
            }
        }
        Ok((!out.is_empty()).then_some(Recipients(out)))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn describe(&self) -> Encryption {
        Encryption {
            format: FORMAT.into(),
            recipients: self.0.len(),
            passphrase: false,
        }
    }
}

fn recipient(text: &str, origin: &str) -> Result<Recipient> {
    if text.starts_with("age1") {
        return text
            .parse::<age::x25519::Recipient>()
            .map(|r| Box::new(r) as Recipient)
            .map_err(|e| Error::Invalid(format!("{origin}: not an age recipient: {e}")));
    }
    if text.starts_with("ssh-") {
        return text
            .parse::<age::ssh::Recipient>()
            .map(|r| Box::new(r) as Recipient)
            .map_err(|e| {
                Error::Invalid(format!("{origin}: not an SSH public key age takes: {e:?}"))
            });
    }
    if text.starts_with("AGE-SECRET-KEY-") {
        return Err(Error::Invalid(format!(
            "{origin}: that is a private key; give its public key (`age-keygen -y KEYFILE` prints it)"
        )));
    }
    Err(Error::Invalid(format!(
        "{origin}: `{}` is not a recipient: give an age public key (age1...) or an SSH public key (ssh-ed25519 ..., ssh-rsa ...)",
        text.chars().take(24).collect::<String>()
    )))
}

impl Identities {
    /// `--identity` files, as age's `-i` takes them: an age key file (`AGE-SECRET-KEY-1...`
    /// lines, as `age-keygen` writes it) or an unencrypted SSH private key.
    pub fn load(files: &[PathBuf]) -> Result<Option<Identities>> {
        let mut out: Vec<Identity> = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
            out.extend(identities(&text, file)?);
        }
        Ok((!out.is_empty()).then_some(Identities(out)))
    }
}

fn identities(text: &str, file: &Path) -> Result<Vec<Identity>> {
    let bad = |m: String| Error::Invalid(format!("--identity {}: {m}", file.display()));
    if text.trim_start().starts_with("-----BEGIN") {
        let key =
            age::ssh::Identity::from_buffer(text.as_bytes(), Some(file.display().to_string()))
                .map_err(|e| bad(format!("not an SSH private key age reads ({e})")))?;
        return match key {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(key)]),
            age::ssh::Identity::Encrypted(_) => Err(bad(
                "the SSH key is protected by a passphrase; give an unprotected copy, or an age key"
                    .into(),
            )),
            age::ssh::Identity::Unsupported(_) => {
                Err(bad("age does not take this kind of SSH key".into()))
            }
        };
    }
    let mut out: Vec<Identity> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.parse::<age::x25519::Identity>().map_err(|_| {
            bad(format!(
                "line {} is not an age private key (AGE-SECRET-KEY-1...)",
                n + 1
            ))
        })?;
        out.push(Box::new(key));
    }
    if out.is_empty() {
        return Err(bad("it holds no key".into()));
    }
    Ok(out)
}

/// How a store treats the bytes of its files.
#[derive(Clone)]
pub enum Mode {
    /// As they are (a set without encryption).
    Plain,
    /// Written encrypted to these recipients.
    Encrypt(Arc<Recipients>),
    /// An encrypted set, read with these keys.
    Decrypt(Arc<Identities>),
    /// An encrypted set read without a key: sizes and hashes can be checked, contents not.
    Locked,
}

impl Mode {
    pub fn encrypted(&self) -> bool {
        !matches!(self, Mode::Plain)
    }
}

/// The plaintext size of an age file of `stored` bytes, from its header's length: age's
/// payload is the nonce, then 64 KiB chunks each with a 16-byte tag, and only the last
/// chunk short (empty only for empty plaintext). A tar header needs the size before
/// the first byte, and this needs no key.
pub fn plain_size(file: impl Read, stored: u64) -> io::Result<u64> {
    struct Counting<R> {
        inner: R,
        read: u64,
    }
    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }
    let mut counting = Counting {
        inner: file,
        read: 0,
    };
    // The unbuffered parser never reads past the header and nonce.
    let decryptor = age::Decryptor::new(&mut counting).map_err(not_age)?;
    drop(decryptor);
    let payload = stored
        .checked_sub(counting.read)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "shorter than its header"))?;
    let chunks = payload.div_ceil(CHUNK + TAG).max(1);
    payload
        .checked_sub(chunks * TAG)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "truncated age payload"))
}

fn not_age(e: age::DecryptError) -> io::Error {
    match e {
        age::DecryptError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::InvalidData,
            "not an age file: its header is cut short (the set says its files are encrypted)",
        ),
        age::DecryptError::Io(e) => e,
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => io::Error::new(
            io::ErrorKind::InvalidData,
            "not an age file (the set says its files are encrypted)",
        ),
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

fn cannot_decrypt(e: age::DecryptError) -> io::Error {
    match e {
        age::DecryptError::NoMatchingKeys => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "none of the --identity keys opens it (the set was encrypted to other recipients)",
        ),
        other => not_age(other),
    }
}

/// The plaintext of an age file, read on a blocking thread. A changed byte, a
/// truncation or an appended byte fails the read where it is found.
pub fn decrypt_sync<R: Read>(input: R, keys: &Identities) -> io::Result<impl Read + use<R>> {
    let decryptor =
        age::Decryptor::new_buffered(io::BufReader::with_capacity(CHUNK as usize, input))
            .map_err(not_age)?;
    decryptor
        .decrypt(keys.0.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(cannot_decrypt)
}

/// The plaintext of an age file, for the async readers (a stream into a pod, a plugin).
pub async fn decrypt_async(
    file: impl tokio::io::AsyncRead + Send + Unpin + 'static,
    keys: &Identities,
) -> io::Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>> {
    use tokio_util::compat::{FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
    let buffered = futures::io::BufReader::with_capacity(CHUNK as usize, file.compat());
    let decryptor = age::Decryptor::new_async_buffered(buffered)
        .await
        .map_err(not_age)?;
    let reader = decryptor
        .decrypt_async(keys.0.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(cannot_decrypt)?;
    Ok(Box::new(reader.compat()))
}

/// Turns plaintext into the bytes of an age file as it comes, a chunk at a time, into
/// a buffer that its writer drains to disk: the same for the async and the blocking
/// writer, and never more than a chunk ahead of the file.
pub struct Sealer {
    stream: Option<age::stream::StreamWriter<Spill>>,
    spill: Spill,
}

#[derive(Clone, Default)]
struct Spill(Arc<Mutex<Vec<u8>>>);

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sealer {
    /// A new age file to `keys`: its header is the first ciphertext to drain.
    pub fn new(keys: &Recipients) -> io::Result<Sealer> {
        let spill = Spill::default();
        let encryptor = age::Encryptor::with_recipients(
            keys.0.iter().map(|r| r.as_ref() as &dyn age::Recipient),
        )
        .map_err(|e| io::Error::other(format!("age: {e}")))?;
        let stream = encryptor.wrap_output(spill.clone())?;
        Ok(Sealer {
            stream: Some(stream),
            spill,
        })
    }

    /// Takes up to one chunk of `plain`; returns how much it took.
    pub fn seal(&mut self, plain: &[u8]) -> io::Result<usize> {
        let take = plain.len().min(CHUNK as usize);
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::other("age file already finished"))?;
        stream.write_all(&plain[..take])?;
        Ok(take)
    }

    /// Writes the last chunk; nothing may be sealed after.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(stream) = self.stream.take() {
            stream.finish()?;
        }
        Ok(())
    }

    /// Moves the ciphertext made so far into `out` (which must be drained already).
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        std::mem::swap(&mut *self.spill.0.lock().unwrap(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The set key opens with its passphrase only, and decrypts what was sealed to it.
    #[test]
    fn a_set_key_opens_with_its_passphrase_only() {
        let pass = Passphrase("correct horse".to_string().into());
        let (recipient, sealed) = new_set_key(&pass).unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
        let sealer = Arc::new(Recipients::one(recipient));
        let mut s = Sealer::new(&sealer).unwrap();
        s.seal(b"the dump").unwrap();
        s.finish().unwrap();
        let mut file = Vec::new();
        s.drain_into(&mut file);
        let keys = open_set_key(&sealed, &pass, Path::new("set")).unwrap();
        let mut plain = String::new();
        decrypt_sync(&file[..], &keys)
            .unwrap()
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, "the dump");
        let wrong = Passphrase("correct horse ".to_string().into());
        assert!(matches!(
            open_set_key(&sealed, &wrong, Path::new("set")),
            Err(Error::Refused(_))
        ));
    }

    fn keypair() -> (Recipients, Identities) {
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        (
            Recipients::parse(&[public], &[]).unwrap().unwrap(),
            Identities(vec![Box::new(id)]),
        )
    }

    fn seal_all(keys: &Recipients, plain: &[u8]) -> Vec<u8> {
        let mut sealer = Sealer::new(keys).unwrap();
        let mut out = Vec::new();
        let mut rest = plain;
        let mut spill = Vec::new();
        while !rest.is_empty() {
            let n = sealer.seal(rest).unwrap();
            rest = &rest[n..];
            sealer.drain_into(&mut spill);
            out.append(&mut spill);
        }
        sealer.finish().unwrap();
        sealer.drain_into(&mut spill);
        out.append(&mut spill);
        out
    }

    #[test]
    fn sealed_bytes_are_an_age_file_whose_plain_size_is_known_without_the_key() {
        let (r, i) = keypair();
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 65535, 65536, 65537, 3 * 65536, 200_000] {
            let plain: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
            let sealed = seal_all(&r, &plain);
            assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &sealed).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(
                plain_size(&file, sealed.len() as u64).unwrap(),
                size as u64,
                "{size}"
            );
            let mut back = Vec::new();
            decrypt_sync(sealed.as_slice(), &i)
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, plain, "{size}");
        }
    }

    #[test]
    fn a_changed_byte_or_another_key_fails_decryption() {
        let (r, i) = keypair();
        let (_, other) = keypair();
        let sealed = seal_all(&r, &vec![7u8; 100_000]);
        let e = decrypt_sync(sealed.as_slice(), &other).err().unwrap();
        assert!(e.to_string().contains("--identity"), "{e}");
        let mut sealed = seal_all(&r, &vec![7u8; 100_000]);
        let at = sealed.len() - 500;
        sealed[at] ^= 1;
        let mut back = Vec::new();
        assert!(
            decrypt_sync(sealed.as_slice(), &i)
                .unwrap()
                .read_to_end(&mut back)
                .is_err()
        );
    }

    #[test]
    fn keys_are_read_as_age_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let id = age::x25519::Identity::generate();
        let file = dir.path().join("recipients");
        std::fs::write(&file, format!("# ops\n\n{}\n", id.to_public())).unwrap();
        assert_eq!(Recipients::parse(&[], &[file]).unwrap().unwrap().len(), 1);
        use age::secrecy::ExposeSecret;
        let secret = id.to_string();
        let e = Recipients::parse(&[secret.expose_secret().to_string()], &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("private key"), "{e}");
        assert!(Recipients::parse(&["hello".into()], &[]).is_err());
        let key = dir.path().join("key.txt");
        std::fs::write(
            &key,
            format!("# created: now\n{}\n", secret.expose_secret()),
        )
        .unwrap();
        assert!(Identities::load(&[key]).unwrap().is_some());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "# nothing\n").unwrap();
        assert!(Identities::load(&[empty]).is_err());
        assert!(Recipients::parse(&[], &[]).unwrap().is_none());
    }
}
