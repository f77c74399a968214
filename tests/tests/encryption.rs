//! Encryption at rest end to end, against the reference age (Go, Debian's `age`): keys
//! made with `age-keygen`, a backup into a repository with `--recipient`, every file of
//! the set an age file that `age -d` opens by hand, verify with and without the key, a
//! restore refused without the key or with another one before anything changes, a
//! restore with it, and tampering found with and without the key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Sim, assert_same, plugins_dir, shared};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.all()))
}

/// A key pair made by age-keygen: (the key file, its public key).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen (scripts/setup installs Debian's age)");
    assert!(out.status.success(), "{out:?}");
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success(), "{public:?}");
    (
        key,
        String::from_utf8(public.stdout).unwrap().trim().to_string(),
    )
}

/// Every file under `dir` but manifest.json and the runs' logs.
fn artifact_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            if name != "runs" {
                artifact_files(&path, out);
            }
        } else if !name.starts_with("manifest.json") {
            out.push(path);
        }
    }
}

fn restore(sim: &Sim, set: &Path, more: &[&str]) -> common::Run {
    let plugins = plugins_dir();
    let mut args = vec![
        "restore",
        "--plugins",
        s(&plugins),
        "--backup-dir",
        s(set),
        "-o",
        "json",
    ];
    args.extend_from_slice(more);
    sim.host(&args)
}

/// The tests take turns: one damages and restores the cluster the other backs up.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn an_encrypted_set_is_age_files_restores_with_its_key_and_refuses_without() {
    let _turn = turn();
    let sim = shared(Some("8MiB"));
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keygen(dir.path(), "key.txt");
    let (other_key, _) = keygen(dir.path(), "other.txt");
    let recipients = dir.path().join("recipients");
    std::fs::write(&recipients, format!("# the ops team\n{public}\n")).unwrap();
    let repo = dir.path().join("repo");
    let before = sim.fingerprint();

    let run = sim.host(&[
        "backup",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--recipients-file",
        s(&recipients),
        "-o",
        "json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["repository"]["result"], "good", "{doc:#}");
    let set = repo.join(doc["repository"]["name"].as_str().unwrap());

    // Nothing in plain text: every file is an age file from its first byte.
    let mut files = Vec::new();
    artifact_files(&set, &mut files);
    assert!(files.len() > 10, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            bytes.starts_with(b"age-encryption.org/v1\n"),
            "{} is not an age file",
            file.display()
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["encryption"],
        serde_json::json!({"format": "age-encryption.org/v1", "recipients": 1})
    );
    assert!(
        !String::from_utf8_lossy(&std::fs::read(set.join("manifest.json")).unwrap())
            .contains(&public),
        "manifest.json names no key"
    );
    let d = json(&sim.host_ok(&["describe", "--repo", s(&repo), "latest", "-o", "json"]));
    assert_eq!(d["encryption"]["recipients"], 1, "{d:#}");

    // The reference age opens a dump by hand, as the manual's commands would then read it.
    let sql = Command::new("sh")
        .arg("-c")
        .arg("age -d -i \"$1\" \"$2\" | gzip -dc | head -c 200000")
        .arg("sh")
        .arg(&key)
        .arg(set.join("system-mysql-backup.gz"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sql.stdout).contains("CREATE TABLE"),
        "{sql:?}"
    );
    let secret = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(set.join("system-seed.json"))
        .output()
        .unwrap();
    let secret: Value = serde_json::from_slice(&secret.stdout).unwrap();
    assert_eq!(secret["kind"], "Secret");

    // Without the key, verify checks hashes and says it could not check more.
    let v = json(&sim.host_ok(&[
        "verify",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(&set),
        "-o",
        "json",
    ]));
    assert!(v.get("decrypted").is_none(), "{v:#}");
    assert!(v["warnings"].to_string().contains("encrypted"), "{v:#}");
    let v = json(&sim.host_ok(&[
        "verify",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(&set),
        "--identity",
        s(&key),
        "-o",
        "json",
    ]));
    assert_eq!(v["decrypted"], true, "{v:#}");

    // A restore without the key, or with another, is refused before any change.
    sim.sim(&["damage"]);
    sim.settle_system_app();
    let damaged = sim.quiet_fingerprint();
    let run = restore(sim, &set, &[]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(run.stderr.contains("--identity"), "{}", run.stderr);
    let run = restore(sim, &set, &["--identity", s(&other_key)]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("none of the --identity keys"),
        "{}",
        run.stderr
    );
    assert_same(&damaged, &sim.fingerprint());

    let run = restore(sim, &set, &["--identity", s(&key)]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let r = json(&run);
    assert_eq!(r["verified"]["decrypted"], true, "{r:#}");
    assert_same(&before, &sim.fingerprint());

    // Tampering: a changed byte fails the hash; a changed byte with manifest.json
    // rewritten to match fails decryption (age authenticates every chunk).
    let copy = dir.path().join("copy");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&set)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let victim = copy.join("zync-database-backup.gz");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    let plugins = plugins_dir();
    let verify = |more: &[&str]| {
        let mut args = vec!["verify", "--plugins", s(&plugins), "--backup-dir", s(&copy)];
        args.extend_from_slice(more);
        sim.host(&args)
    };
    let run = verify(&[]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("does not match manifest.json"),
        "{}",
        run.stderr
    );
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    for c in m["components"].as_object_mut().unwrap().values_mut() {
        for a in c["artifacts"].as_array_mut().unwrap() {
            if a["path"] == "zync-database-backup.gz" {
                a["sha256"] = sha.clone().into();
            }
        }
    }
    std::fs::write(copy.join("manifest.json"), m.to_string()).unwrap();
    let run = verify(&[]);
    assert_eq!(
        run.code,
        Some(0),
        "without the key only the hashes: {}",
        run.all()
    );
    let run = verify(&["--identity", s(&key)]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("zync-database-backup.gz") && run.stderr.contains("does not decrypt"),
        "{}",
        run.stderr
    );
}

/// A set is all encrypted or all plain: an encrypted backup into a plain set (or the
/// reverse) is refused, since a restore reads every file one way.
#[test]
fn a_set_is_not_half_encrypted() {
    let _turn = turn();
    let sim = shared(Some("8MiB"));
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keygen(dir.path(), "key.txt");
    let set = dir.path().join("bk");
    let zync = plugins_dir().join("zync.wasm");
    let backup = |more: &[&str]| {
        let mut args = vec![
            "run",
            "backup",
            "--plugin",
            s(&zync),
            "--backup-dir",
            s(&set),
        ];
        args.extend_from_slice(more);
        sim.host(&args)
    };
    let run = backup(&[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let run = backup(&["--recipient", &public]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(run.stderr.contains("not encrypted"), "{}", run.stderr);
    // A private key given as a recipient is refused with what to give instead.
    let key = std::fs::read_to_string(dir.path().join("key.txt")).unwrap();
    let secret = key
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    let run = backup(&["--recipient", secret]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("private key"), "{}", run.stderr);
    assert!(!run.all().contains(secret), "the key is not echoed");
}

/// With a passphrase: the set gets a key of its own, kept in it as set-key.age under the
/// passphrase, which the reference age opens by hand (it reads the passphrase from a
/// terminal: `script` gives it one). verify and restore take `--passphrase-file`; a wrong
/// passphrase is refused before anything changes, and the set is not given a second key.
#[test]
fn a_passphrase_set_opens_with_its_passphrase_by_host_and_by_hand() {
    let _turn = turn();
    let sim = shared(Some("8MiB"));
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass.txt");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, "correct horse battery\n").unwrap();
    let set = dir.path().join("set");
    let plugins = plugins_dir();
    let backup = |more: &[&str]| {
        let mut args = vec!["backup", "--plugins", s(&plugins), "--backup-dir", s(&set)];
        args.extend_from_slice(more);
        sim.host(&args)
    };
    let run = backup(&["--passphrase-file", s(&pass)]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["encryption"]["passphrase"], true, "{manifest:#}");
    let dump = std::fs::read(set.join("system-mysql-backup.gz")).unwrap();
    assert!(dump.starts_with(b"age-encryption.org/v1\n"));

    // By hand: the passphrase opens the set's key, the key opens the dump.
    let key = dir.path().join("key.txt");
    let opened = Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "age -d -o {} {}",
            key.display(),
            set.join("set-key.age").display()
        ))
        .arg("/dev/null")
        .stdin(std::fs::File::open(&pass).unwrap())
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    let sql = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i {} {} | gunzip | head -c 4096",
            key.display(),
            set.join("system-mysql-backup.gz").display()
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sql.stdout).contains("MariaDB dump"),
        "{sql:?}"
    );

    let verify = |more: &[&str]| {
        let mut args = vec!["verify", "--plugins", s(&plugins), "--backup-dir", s(&set)];
        args.extend_from_slice(more);
        sim.host(&args)
    };
    let v = verify(&["--passphrase-file", s(&pass)]);
    assert_eq!(v.code, Some(0), "{}", v.all());
    assert!(v.stdout.contains("every file decrypted"), "{}", v.stdout);
    let bad = verify(&["--passphrase-file", s(&wrong)]);
    assert_eq!(bad.code, Some(3), "{}", bad.all());
    assert!(
        bad.stderr.contains("passphrase does not open"),
        "{}",
        bad.stderr
    );

    let before = sim.fingerprint();
    sim.sim(&["damage"]);
    let damaged = sim.quiet_fingerprint();
    let refused = restore(sim, &set, &[]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    assert!(
        refused.all().contains("--passphrase-file"),
        "{}",
        refused.all()
    );
    let refused = restore(sim, &set, &["--passphrase-file", s(&wrong)]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    assert_same(&damaged, &sim.fingerprint());
    let done = restore(sim, &set, &["--passphrase-file", s(&pass)]);
    assert_eq!(done.code, Some(0), "{}", done.all());
    assert_same(&before, &sim.fingerprint());

    // A second passphrase backup into the same directory would give the set a second
    // key and orphan the files encrypted to the first.
    let again = backup(&["--passphrase-file", s(&pass)]);
    assert_eq!(again.code, Some(3), "{}", again.all());
    assert!(again.all().contains("new directory"), "{}", again.all());
    let v = verify(&["--passphrase-file", s(&pass)]);
    assert_eq!(v.code, Some(0), "{}", v.all());
}
