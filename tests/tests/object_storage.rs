//! A repository in object storage (`--repo s3://bucket/prefix`) end to end, against a
//! real S3-compatible server (moto, see common/s3.rs): a round trip with list, describe
//! and verify; encrypted, with the objects opened by hand and tampering found; a failed
//! backup that leaves the previous set restorable, and prune keeping the last good set.
//!
//! One seeded cluster (48 MiB, so the MySQL dump is past S3's 5 MiB part size and goes
//! up as a multipart upload) and one server; each test has its own prefix, and the tests
//! take turns on the cluster.

mod common;

use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::s3::S3;
use common::{Run, Sim, assert_same, host_bin, plugins_dir, shared};
use serde_json::Value;

struct Fixture {
    sim: &'static Sim,
    s3: S3,
}

fn setup() -> (&'static Fixture, std::sync::MutexGuard<'static, ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let fixture = FIXTURE.get_or_init(|| Fixture {
        sim: shared(Some("48MiB")),
        s3: S3::start(),
    });
    (fixture, turn)
}

impl Fixture {
    /// `host ARGS` with the cluster's and the bucket's environment.
    fn host(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(host_bin());
        cmd.args(args);
        self.s3.env(&mut cmd);
        self.sim.host_run(cmd, &format!("host {args:?}"))
    }

    fn host_ok(&self, args: &[&str]) -> Run {
        let run = self.host(args);
        assert_eq!(run.code, Some(0), "host {args:?} failed:\n{}", run.all());
        run
    }

    fn backup(&self, repo: &str, more: &[&str]) -> Run {
        let plugins = plugins_dir();
        let mut args = vec![
            "backup",
            "--plugins",
            plugins.to_str().unwrap(),
            "--repo",
            repo,
            "-o",
            "json",
        ];
        args.extend_from_slice(more);
        self.host(&args)
    }

    fn list(&self, repo: &str) -> Value {
        json(&self.host_ok(&["list", "--repo", repo, "-o", "json"]))
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.all()))
}

fn names_in(list: &Value, result: &str) -> Vec<String> {
    list["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == result)
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// A backup into S3 is one set of objects with the manual's names, the MySQL dump among
/// them as one multipart upload, and nothing of the run's state: its audit log stays on
/// this machine. list, describe and verify read it there; after damage, a restore of
/// `latest` brings every component back.
#[test]
fn a_round_trip_through_s3() {
    let (f, _turn) = setup();
    let repo = f.s3.url("plain");
    let run = f.backup(&repo, &[]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    let name = doc["repository"]["name"].as_str().unwrap().to_string();
    assert_eq!(doc["repository"]["result"], "good", "{doc:#}");
    assert_eq!(doc["set"], format!("{repo}/{name}"));

    let keys = f.s3.keys("plain/");
    let set = format!("plain/{name}/");
    for file in [
        "manifest.json",
        "system-mysql-backup.gz",
        "backend-redis-dump.rdb",
        "system-redis-dump.rdb",
        "zync-database-backup.gz",
        "system-seed.json",
    ] {
        assert!(
            keys.contains(&format!("{set}{file}")),
            "{file} not among the {} keys",
            keys.len()
        );
    }
    assert!(keys.iter().any(|k| k.starts_with(&format!("{set}system/"))));
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/runs/") || k.contains(".staging")),
        "the run's state is not in the bucket: {keys:?}"
    );
    let dump = f.s3.get(&format!("{set}system-mysql-backup.gz"));
    assert!(
        dump.len() > 5 << 20,
        "a multipart upload: {} bytes",
        dump.len()
    );
    let manifest: Value =
        serde_json::from_slice(&f.s3.get(&format!("{set}manifest.json"))).unwrap();
    let recorded = manifest["components"]["system-mysql"]["artifacts"][0].clone();
    assert_eq!(recorded["size"], dump.len() as u64);
    use sha2::Digest;
    assert_eq!(recorded["sha256"], hex::encode(sha2::Sha256::digest(&dump)));
    let audit = f
        .sim
        .state_dir()
        .join("runs")
        .join(&name)
        .join("audit.jsonl");
    assert!(
        audit.is_file(),
        "{} is where the run log is",
        audit.display()
    );

    let list = f.list(&repo);
    assert_eq!(names_in(&list, "good"), vec![name.clone()]);
    assert_eq!(list["sets"][0]["latest"], true, "{list:#}");
    let d = json(&f.host_ok(&["describe", "--repo", &repo, "latest", "-o", "json"]));
    assert_eq!(d["name"], name.as_str(), "{d:#}");
    assert_eq!(
        d["componentDetails"].as_array().map(Vec::len),
        Some(7),
        "{d:#}"
    );
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let v = json(&f.host_ok(&[
        "verify",
        "--plugins",
        plugins,
        "--repo",
        &repo,
        "-o",
        "json",
    ]));
    assert_eq!(v["result"], "ok", "{v:#}");
    assert_eq!(v["set"], format!("{repo}/{name}"));
    assert!(v["files"].as_u64().unwrap() > 10, "{v:#}");

    let before = f.sim.fingerprint();
    f.sim.sim(&["damage"]);
    assert_ne!(f.sim.fingerprint(), before);
    let r = json(&f.host_ok(&[
        "restore",
        "--plugins",
        plugins,
        "--repo",
        &repo,
        "-o",
        "json",
    ]));
    assert_eq!(r["result"], "complete", "{r:#}");
    assert_same(&before, &f.sim.fingerprint());
}

/// Encrypted into S3: every object is an age file that the reference age opens by hand;
/// a restore without the key is refused before anything changes; a byte changed in the
/// bucket is found by verify, which names the object.
#[test]
fn encrypted_through_s3_and_tampering_is_found() {
    let (f, _turn) = setup();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    let public = String::from_utf8(public.stdout).unwrap().trim().to_string();
    let key = key.to_str().unwrap();

    let repo = f.s3.url("sealed");
    let run = f.backup(&repo, &["--recipient", &public]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let name = json(&run)["repository"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let set = format!("sealed/{name}/");

    let dump = f.s3.get(&format!("{set}system-mysql-backup.gz"));
    assert!(dump.starts_with(b"age-encryption.org/v1\n"), "an age file");
    let sealed = dir.path().join("dump.age");
    std::fs::write(&sealed, &dump).unwrap();
    let sql = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i {key} {} | gunzip | head -c 4096",
            sealed.display()
        ))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&sql.stdout).contains("MariaDB dump"),
        "{sql:?}"
    );
    for k in f.s3.keys(&set) {
        if !k.ends_with("manifest.json") {
            assert!(
                f.s3.get(&k).starts_with(b"age-encryption.org/v1\n"),
                "{k} is not encrypted"
            );
        }
    }

    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let before = f.sim.fingerprint();
    let refused = f.host(&["restore", "--plugins", plugins, "--repo", &repo]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    assert!(refused.stderr.contains("--identity"), "{}", refused.stderr);
    assert_same(&before, &f.sim.fingerprint());
    f.host_ok(&[
        "verify",
        "--plugins",
        plugins,
        "--repo",
        &repo,
        "--identity",
        key,
    ]);

    // One byte of one storage file, changed in the bucket.
    let victim =
        f.s3.keys(&format!("{set}system/"))
            .into_iter()
            .next()
            .unwrap();
    let mut bytes = f.s3.get(&victim);
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    f.s3.put(&victim, &bytes);
    let bad = f.host(&[
        "verify",
        "--plugins",
        plugins,
        "--repo",
        &repo,
        "--identity",
        key,
    ]);
    assert_eq!(bad.code, Some(3), "{}", bad.all());
    let file = victim.strip_prefix(&set).unwrap();
    assert!(bad.stderr.contains(file), "names {file}: {}", bad.stderr);
}

/// A backup that fails leaves the last good set and `latest` as they were, and its own
/// set marked failed, never restored; prune then deletes it and keeps the last good set.
/// A prefix holding someone else's objects is not made a repository.
#[test]
fn a_failed_backup_keeps_the_previous_set_and_prune_keeps_the_last_good_one() {
    let (f, _turn) = setup();
    let repo = f.s3.url("nightly");
    let good = f.backup(&repo, &[]);
    assert_eq!(good.code, Some(0), "{}", good.all());
    let good = json(&good)["repository"]["name"]
        .as_str()
        .unwrap()
        .to_string();

    let fault = f.sim.fault("exec-drop-after=256KiB");
    let run = f.backup(&repo, &[]);
    drop(fault);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["repository"]["result"], "failed", "{doc:#}");
    assert_eq!(doc["repository"]["latest"], good.as_str(), "{doc:#}");
    let failed = doc["repository"]["name"].as_str().unwrap().to_string();
    let list = f.list(&repo);
    assert_eq!(names_in(&list, "good"), vec![good.clone()]);
    assert_eq!(names_in(&list, "failed"), vec![failed.clone()]);

    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let refused = f.host(&["restore", "--plugins", plugins, "--repo", &repo, &failed]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    let plan = json(&f.host_ok(&[
        "restore",
        "--plugins",
        plugins,
        "--repo",
        &repo,
        "--plan",
        "-o",
        "json",
    ]));
    assert_eq!(plan["set"], format!("{repo}/{good}"));

    // A failed set is kept to read why until a newer good one exists.
    f.host_ok(&["prune", "--repo", &repo, "--keep", "0"]);
    assert_eq!(names_in(&f.list(&repo), "failed"), vec![failed.clone()]);
    let newer = f.backup(&repo, &[]);
    assert_eq!(newer.code, Some(0), "{}", newer.all());
    let newer = json(&newer)["repository"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    f.host_ok(&["prune", "--repo", &repo, "--keep", "0"]);
    let list = f.list(&repo);
    assert_eq!(names_in(&list, "good"), vec![newer.clone()], "{list:#}");
    assert!(names_in(&list, "failed").is_empty(), "{list:#}");
    for gone in [&good, &failed] {
        assert!(f.s3.keys(&format!("nightly/{gone}/")).is_empty());
        assert!(f.s3.keys(&format!("nightly/.sets/{gone}")).is_empty());
    }
    assert!(!f.s3.keys(&format!("nightly/{newer}/")).is_empty());

    f.s3.put("someone-else/notes.txt", b"mine");
    let other = f.backup(&f.s3.url("someone-else"), &[]);
    assert_eq!(other.code, Some(2), "{}", other.all());
    assert!(other.stderr.contains("not empty"), "{}", other.stderr);
    assert_eq!(f.s3.keys("someone-else/"), vec!["someone-else/notes.txt"]);
}
