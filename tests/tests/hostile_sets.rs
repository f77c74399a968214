//! Backup sets turned against the cluster: a forged journal, a record that vouches for a
//! decoy, a set changed after it was sealed, other plugins than the set's, a restore into
//! another namespace, dumps that carry client commands, a set readable by other users,
//! and hand-made sets with FIFOs, hardlinks, a gzip bomb or files too big to read. Each
//! is refused with a message naming what is wrong, and nothing is done to the cluster
//! (or, for a dump, nothing past the line that was refused).
//!
//! One seeded cluster and one sealed backup of it, shared; the tests take turns.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::tamper::{self, copy_set, read_manifest, rehash, write_manifest};
use common::{Run, Sim, host_bin, plugin, plugins_dir, shared};
use serde_json::Value;

struct Fixture {
    sim: &'static Sim,
    set: tempfile::TempDir,
    keys: tempfile::TempDir,
    /// The cluster as it was backed up.
    fingerprint: Value,
}

impl Fixture {
    fn set(&self) -> &Path {
        self.set.path()
    }
    fn public(&self) -> PathBuf {
        self.keys.path().join("seal.pub")
    }
}

/// The cluster, its sealed backup, and the key pair that sealed it.
fn setup() -> (&'static Fixture, std::sync::MutexGuard<'static, ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let fixture = FIXTURE.get_or_init(|| {
        let sim = shared(Some("8MiB"));
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("seal");
        let made = sim.host_ok(&["key", "new", "--out", s(&key)]);
        assert!(made.stdout.contains("SHA256:"), "{}", made.stdout);
        let fingerprint = sim.fingerprint();
        let set = tempfile::tempdir().unwrap();
        // Made with the umask most users have: the set must be private all the same.
        let run = with_umask(
            sim,
            "022",
            &[
                "backup",
                "--plugins",
                s(&plugins_dir()),
                "--backup-dir",
                s(&set.path().join("set")),
                "--sign-key",
                s(&key),
            ],
        );
        assert_eq!(run.code, Some(0), "{}", run.all());
        assert!(run.stdout.contains("sealed with SHA256:"), "{}", run.stdout);
        Fixture {
            sim,
            set,
            keys,
            fingerprint,
        }
    });
    (fixture, turn)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `host ARGS` under `umask MASK`.
fn with_umask(sim: &Sim, mask: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {mask}; exec \"$0\" \"$@\""))
        .arg(host_bin())
        .args(args);
    sim.host_run(cmd, &format!("umask {mask}; host {args:?}"))
}

/// `host ARGS` with more environment.
fn with_env(sim: &Sim, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(host_bin());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    sim.host_run(cmd, &format!("{env:?} host {args:?}"))
}

fn verify(sim: &Sim, plugins: &Path, set: &Path, more: &[&str]) -> Run {
    let mut args = vec!["verify", "--plugins", s(plugins), "--backup-dir", s(set)];
    args.extend_from_slice(more);
    sim.host(&args)
}

/// `Sim::settle_system_app`, then a moment for the operator's status updates.
fn settle(sim: &Sim) {
    sim.settle_system_app();
    std::thread::sleep(Duration::from_secs(2));
}

fn restore(sim: &Sim, set: &Path, more: &[&str]) -> Run {
    settle(sim);
    let plugins = plugins_dir();
    let mut args = vec!["restore", "--plugins", s(&plugins), "--backup-dir", s(set)];
    args.extend_from_slice(more);
    sim.host(&args)
}

fn refused(run: &Run, code: i32, words: &[&str]) {
    assert_eq!(run.code, Some(code), "{}", run.all());
    for w in words {
        assert!(run.all().contains(w), "expected `{w}` in:\n{}", run.all());
    }
}

fn get(sim: &Sim, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    sim.json(&all)
}

/// What a refused restore must not have touched.
fn cluster_state(sim: &Sim) -> Vec<Value> {
    vec![
        get(sim, &["apimanager", "3scale"])["spec"].clone(),
        get(sim, &["deployment", "system-app"])["spec"]["replicas"].clone(),
        get(sim, &["configmap", "redis-config"])["data"].clone(),
    ]
}

fn copy_of(f: &Fixture) -> tempfile::TempDir {
    copy_set(&f.set().join("set"))
}

/// H1: a forged journal (here: a redis.conf for the redis plugin to "put back") is refused
/// by `host resume` and by the restore's check for unfinished runs, and redis-config is
/// left alone: planted in the set's own runs/ (where host 0.2 and earlier kept journals,
/// and where a hostile plugin of an earlier release or whoever handed the set over could
/// write it), and planted in the state directory, where journals live now.
#[test]
fn a_forged_journal_is_refused_by_resume_and_restore() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let set = copy_of(f);
    let run_id = "29991231T000000Z-restore";
    let in_set = set.path().join("runs").join(run_id);
    let in_state = sim.state_dir().join("runs").join(run_id);
    // Removed whatever happens: a forged journal in the shared state directory would
    // refuse every later restore of this test binary.
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    for run_dir in [in_set, in_state] {
        let _cleanup = Remove(run_dir.clone());
        let journal = run_dir.join("journal");
        // As the host makes its own (0700), so the state directory stays as it would be.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&journal)
            .unwrap();
        let conf = "dir /etc\ndbfilename cron.d\nsave \"\"\n";
        // As host 0.1 wrote journals (no code), and in today's format with a made-up code.
        std::fs::write(
            journal.join("redis.json"),
            serde_json::json!({ "redis-conf": conf }).to_string(),
        )
        .unwrap();
        let before = get(sim, &["configmap", "redis-config"])["data"].clone();
        let plugins = plugins_dir();
        let resume = |set: &Path| {
            sim.host(&[
                "resume",
                "--plugins",
                s(&plugins),
                "--backup-dir",
                s(set),
                "--run",
                run_id,
            ])
        };
        let run = resume(set.path());
        refused(
            &run,
            3,
            &[
                "redis.json",
                "was not written by this host",
                "no authentication code",
            ],
        );
        assert!(!run.stdout.contains("resume: started"), "{}", run.stdout);
        let run = restore(sim, set.path(), &[]);
        refused(&run, 3, &["redis.json", "was not written by this host"]);
        assert!(!run.all().contains("host resume --run"), "{}", run.all());

        let forged = serde_json::json!({
            "format": "host-journal/2",
            "run": run_id,
            "plugin": "redis",
            "notes": { "redis-conf": conf },
            "mac": "00".repeat(32),
        });
        std::fs::write(journal.join("redis.json"), forged.to_string()).unwrap();
        refused(
            &resume(set.path()),
            3,
            &["authentication code does not match"],
        );
        assert_eq!(get(sim, &["configmap", "redis-config"])["data"], before);
    }

    // A run id is a directory name under runs/, nothing else.
    let plugins = plugins_dir();
    let run = sim.host(&[
        "resume",
        "--plugins",
        s(&plugins),
        "--backup-dir",
        s(set.path()),
        "--run",
        "../../etc",
    ]);
    refused(&run, 2, &["is not a run id"]);
}

/// H1: the set's own names cannot be a plugin's artifact: a manifest declaring `runs`
/// (or the seal's name) is refused when the plugin is loaded.
#[test]
fn an_artifact_in_the_sets_own_names_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let mysql = plugin("3scale-2.15", "system-mysql.wasm");
    for name in ["runs", "manifest.json.sig", "runs/x/journal/a.json"] {
        let patched = tamper::patch_manifest(
            &mysql,
            "\"system-mysql-backup.gz\"",
            &format!("\"{name}\""),
            &dir.path().join(name.replace('/', "_")),
        );
        let out = common::output_within(
            {
                let mut c = Command::new(host_bin());
                c.args(["inspect", s(&patched)]);
                c
            },
            "host inspect",
            None,
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains("kept by the host"), "{name}: {text}");
    }
    let (f, _turn) = setup();
    let patched =
        tamper::patch_manifest(&mysql, "\"system-mysql-backup.gz\"", "\"runs\"", dir.path());
    let set = copy_of(f);
    let run = f.sim.run_plugin("backup", &patched, set.path());
    refused(&run, 2, &["artifact `runs`", "kept by the host"]);
    assert!(set.path().join("system-mysql-backup.gz").is_file());
}

/// H3: a set made under umask 022, and a restore's run state under umask 002: every
/// directory is 0700 and every file 0600, so no other local user reads a Secret. (The
/// journals of full restores are walked in the dump test below, run under umask 002.)
#[test]
fn every_file_of_a_set_is_private_whatever_the_umask() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let set = f.set().join("set");
    let copy = copy_set(&set);
    let plugins = plugins_dir();
    // Refused after its run began (another namespace): its audit log is written.
    let run = with_umask(
        sim,
        "002",
        &[
            "restore",
            "--plugins",
            s(&plugins),
            "--backup-dir",
            s(copy.path()),
            "-n",
            "other",
        ],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    let mut seen = (0, 0);
    for root in [set.as_path(), copy.path()] {
        walk(root, &mut seen);
    }
    assert!(seen.0 > 60 && seen.1 > 5, "walked {seen:?}");
    // The restore's run state is in the state directory, private too.
    let runs = sim.runs_of(copy.path());
    assert!(
        runs.iter().any(|r| r.join("audit.jsonl").is_file()),
        "{runs:?}"
    );
    let mut state = (0, 0);
    for run in &runs {
        assert_eq!(mode(run), 0o700, "{}", run.display());
        walk(run, &mut state);
    }
    assert!(state.0 >= 2, "walked {state:?}");
    assert_eq!(mode(&sim.state_dir().join("runs")), 0o700);
    let key = sim.dir.join("host-state/host/journal.key");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    assert_eq!(mode(key.parent().unwrap()), 0o700);
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn walk(dir: &Path, seen: &mut (usize, usize)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
            seen.1 += 1;
            walk(&path, seen);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            seen.0 += 1;
        }
    }
}

/// H4: a record of manifest.json that vouches for another file (the zync dump, whose
/// hash is right) while the plugin reads a replaced system-mysql dump.
#[test]
fn a_record_that_names_a_decoy_is_refused() {
    let (f, _turn) = setup();
    let set = copy_of(f);
    let mut m = read_manifest(set.path());
    let zync = m["components"]["zync-database"]["artifacts"][0].clone();
    let record = &mut m["components"]["system-mysql"]["artifacts"][0];
    record["path"] = zync["path"].clone();
    record["size"] = zync["size"].clone();
    record["sha256"] = zync["sha256"].clone();
    write_manifest(set.path(), &m);
    std::fs::write(set.path().join("system-mysql-backup.gz"), b"not the dump").unwrap();
    let run = verify(f.sim, &plugins_dir(), set.path(), &[]);
    refused(
        &run,
        3,
        &[
            "artifact `system-mysql-backup.gz` names `zync-database-backup.gz`",
            "tampered",
        ],
    );
}

/// H4: a sealed set restores under its key; an unsealed one, one changed after sealing,
/// one sealed by another key and one without manifest.json are refused with exit 3.
#[test]
fn sealed_sets_restore_only_under_a_key_you_trust() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let plugins = plugins_dir();
    let public = f.public();
    let trust = ["--trust-key", s(&public)];

    // Changed after sealing: one byte of the manifest (the recorded finish time).
    let set = copy_of(f);
    let mut m = read_manifest(set.path());
    m["finished"] = "2999-01-01T00:00:00Z".into();
    write_manifest(set.path(), &m);
    refused(
        &verify(sim, &plugins, set.path(), &trust),
        3,
        &["manifest.json", "changed after"],
    );
    // Changed after sealing: a dump and its record, as restore_failures.rs does.
    let set = copy_of(f);
    tamper::edit_gzip(&set.path().join("zync-database-backup.gz"), |t| {
        t.replace("zync", "zonk")
    });
    rehash(set.path(), "zync-database", "zync-database-backup.gz");
    refused(
        &verify(sim, &plugins, set.path(), &trust),
        3,
        &["changed after"],
    );
    // Unsealed.
    let set = copy_of(f);
    std::fs::remove_file(set.path().join("manifest.json.sig")).unwrap();
    refused(
        &verify(sim, &plugins, set.path(), &trust),
        3,
        &["not sealed", "manifest.json.sig"],
    );
    // Sealed by another key.
    let other = f.keys.path().join("other");
    sim.host_ok(&["key", "new", "--out", s(&other)]);
    let other_pub = f.keys.path().join("other.pub");
    refused(
        &verify(
            sim,
            &plugins,
            f.set().join("set").as_path(),
            &["--trust-key", s(&other_pub)],
        ),
        3,
        &["not a key you trust"],
    );
    // Either of two keys will do.
    let run = verify(
        sim,
        &plugins,
        &f.set().join("set"),
        &["--trust-key", s(&other_pub), "--trust-key", s(&f.public())],
    );
    refused(&run, 0, &["sealed by SHA256:"]);
    // No manifest at all: nothing a seal could vouch for; and --hand-made is no way out.
    let set = copy_of(f);
    std::fs::remove_file(set.path().join("manifest.json")).unwrap();
    refused(
        &verify(sim, &plugins, set.path(), &trust),
        3,
        &["no manifest.json"],
    );
    let mut both = trust.to_vec();
    both.push("--hand-made");
    refused(
        &verify(sim, &plugins, set.path(), &both),
        2,
        &["--hand-made"],
    );

    // `host seal` seals a set made without a key, after checking it.
    let set = copy_of(f);
    std::fs::remove_file(set.path().join("manifest.json.sig")).unwrap();
    let run = sim.host(&[
        "seal",
        "--sign-key",
        s(&other),
        "--backup-dir",
        s(set.path()),
    ]);
    refused(&run, 0, &["sealed with SHA256:"]);
    refused(
        &verify(sim, &plugins, set.path(), &["--trust-key", s(&other_pub)]),
        0,
        &["sealed by"],
    );
    std::fs::write(
        set.path().join("backend-redis-dump.rdb"),
        b"REDIS0011 changed",
    )
    .unwrap();
    let run = sim.host(&[
        "seal",
        "--sign-key",
        s(&other),
        "--backup-dir",
        s(set.path()),
    ]);
    refused(&run, 3, &["backend-redis-dump.rdb", "does not match"]);

    // The round trip: the cluster loses its data, the sealed set brings it back.
    let before = cluster_state(sim);
    sim.sim(&["damage"]);
    let run = restore(sim, &f.set().join("set"), &trust);
    refused(&run, 0, &["sealed by SHA256:", "restore complete"]);
    let after = sim.fingerprint();
    for (component, fp) in f.fingerprint["components"].as_object().unwrap() {
        assert_eq!(&after["components"][component], fp, "{component} differs");
    }
    assert_eq!(cluster_state(sim)[0], before[0]);
}

/// H4: without --hand-made, a set without manifest.json is refused; the message says
/// what is missing and what the flag means.
#[test]
fn a_set_without_its_manifest_is_refused_unless_said_to_be_hand_made() {
    let (f, _turn) = setup();
    let set = copy_of(f);
    std::fs::remove_file(set.path().join("manifest.json")).unwrap();
    let state = cluster_state(f.sim);
    let run = restore(f.sim, set.path(), &[]);
    refused(
        &run,
        3,
        &["manifest.json is missing", "--hand-made", "by hand"],
    );
    assert_eq!(cluster_state(f.sim), state);
    let run = verify(f.sim, &plugins_dir(), set.path(), &["--hand-made"]);
    refused(&run, 0, &["a set made by hand"]);
}

/// Inserts `line` as the dump's first line in place of the client's own guard (MariaDB's
/// sandbox line, pg_dump's `\restrict`), which a tamperer would drop, and re-hashes it.
fn plant(set: &Path, component: &str, file: &str, line: &str) {
    tamper::edit_gzip(&set.join(file), |text| {
        let mut lines: Vec<&str> = text.lines().collect();
        let own = lines
            .iter()
            .position(|l| l.starts_with("/*M!999999\\-") || l.starts_with("\\restrict "));
        match own {
            Some(i) => lines[i] = line,
            None => lines.insert(0, line),
        }
        let unrestrict: Vec<&str> = lines
            .into_iter()
            .filter(|l| !l.starts_with("\\unrestrict "))
            .collect();
        unrestrict.join("\n") + "\n"
    });
    rehash(set, component, file);
}

/// H4: a dump with a client command (`\!`), re-hashed so the set verifies: the restore
/// fails at that step naming the artifact and the line, the command never reaches the
/// client (no /tmp/pwned in the pod), and what the run scaled down is put back: system-app
/// for MySQL's load, made while it is down; zync for zync's, made once system-app is back.
#[test]
fn a_dump_with_a_client_command_fails_its_step_before_the_command_reaches_the_client() {
    let (f, _turn) = setup();
    let sim = f.sim;
    for (component, file, deployment, put_back) in [
        (
            "system-mysql",
            "system-mysql-backup.gz",
            "system-mysql",
            "put back by system-app",
        ),
        (
            "zync-database",
            "zync-database-backup.gz",
            "zync-database",
            "put back by zync-database",
        ),
    ] {
        let set = copy_of(f);
        plant(set.path(), component, file, "\\! touch /tmp/pwned");
        let spec = get(sim, &["apimanager", "3scale"])["spec"].clone();
        settle(sim);
        let plugins = plugins_dir();
        let run = with_umask(
            sim,
            "002",
            &[
                "restore",
                "--plugins",
                s(&plugins),
                "--backup-dir",
                s(set.path()),
            ],
        );
        refused(
            &run,
            1,
            &[
                &format!("restore FAILED at {component} restore"),
                &format!("artifact `{file}`"),
                "`\\!`",
                put_back,
            ],
        );
        let line = run
            .all()
            .lines()
            .find(|l| l.contains(&format!("artifact `{file}`")))
            .unwrap()
            .to_string();
        assert!(line.contains("line "), "{line}");
        let pod = sim.pod(deployment);
        let pwned = sim.kubectl(&["exec", &pod, "--", "test", "-e", "/tmp/pwned"]);
        assert!(!pwned.status.success(), "the command ran in {pod}");
        assert!(!Path::new("/tmp/pwned").exists());
        assert_eq!(get(sim, &["apimanager", "3scale"])["spec"], spec);
        assert_eq!(
            get(sim, &["deployment", "system-app"])["spec"]["replicas"],
            1
        );
        sim.pod("system-app");
        if component == "system-mysql" {
            // Refused at its first line: mysql was handed nothing, the data is as it was.
            assert_eq!(
                sim.fingerprint()["components"][component],
                f.fingerprint["components"][component]
            );
        }
        // The run's journals and audit log, written under umask 002 into the state
        // directory, are private too.
        let mut seen = (0, 0);
        for run in sim.runs_of(set.path()) {
            walk(&run, &mut seen);
        }
        assert!(seen.0 >= 2, "walked {seen:?}");
    }
}

/// M9/13: the plugins must be the files the set was made with. Another build of
/// system-mysql (its manifest's description changed, so another sha256) is refused,
/// named, unless --other-plugins.
#[test]
fn plugins_other_than_the_sets_are_refused_unless_asked_for() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let other = tamper::plugins_with(
        &plugins_dir(),
        "system-mysql.wasm",
        "mysqldump --single-transaction gzip'd",
        "mysqldump, another build",
    );
    let set = f.set().join("set");
    let run = verify(sim, other.path(), &set, &[]);
    refused(
        &run,
        3,
        &[
            "system-mysql (system-mysql.wasm",
            "the set was made with",
            "--other-plugins",
        ],
    );
    assert!(!run.all().contains("zync-database ("), "{}", run.all());
    let run = verify(sim, other.path(), &set, &["--other-plugins"]);
    refused(&run, 0, &["another plugin: system-mysql"]);
    // A restore is refused the same way, before any change.
    let state = cluster_state(sim);
    let mut args = vec!["restore", "--plugins", s(other.path()), "--backup-dir"];
    args.push(s(&set));
    let run = sim.host(&args);
    refused(&run, 3, &["system-mysql (system-mysql.wasm"]);
    assert_eq!(cluster_state(sim), state);
    // A plugin the set was not made with at all.
    let extra = tamper::plugins_with(&plugins_dir(), "none.wasm", "", "");
    std::fs::copy(
        plugin("test", "hostile.wasm"),
        extra.path().join("hostile.wasm"),
    )
    .unwrap();
    let run = sim.host(&[
        "restore",
        "--plugins",
        s(extra.path()),
        "--backup-dir",
        s(&set),
    ]);
    refused(&run, 3, &["hostile (hostile.wasm): not among the plugins"]);
    assert_eq!(cluster_state(sim), state);
}

/// L4: a set made from namespace 3scale restored with `-n other` is refused before any
/// change unless --other-namespace.
#[test]
fn a_restore_into_another_namespace_needs_saying_so() {
    let (f, _turn) = setup();
    let state = cluster_state(f.sim);
    let run = restore(f.sim, &f.set().join("set"), &["-n", "other"]);
    refused(
        &run,
        3,
        &[
            "made from namespace `3scale`",
            "goes to `other`",
            "--other-namespace",
        ],
    );
    assert_eq!(cluster_state(f.sim), state);
}

/// A hand-made set: the shared set without its manifest and seal.
fn hand_made(f: &Fixture) -> tempfile::TempDir {
    let set = copy_of(f);
    std::fs::remove_file(set.path().join("manifest.json")).unwrap();
    std::fs::remove_file(set.path().join("manifest.json.sig")).unwrap();
    set
}

fn first_dir(dir: &Path) -> PathBuf {
    let mut d = dir.to_path_buf();
    while let Some(sub) = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
    {
        d = sub;
    }
    d
}

/// L3: special files and hardlinks under system/, a gzip bomb, a huge JSON export, a
/// dump with client commands, and a manifest.json of several GB: each refused at
/// verification, quickly, naming the file.
#[test]
fn hand_made_sets_cannot_block_exhaust_or_smuggle() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let plugins = plugins_dir();
    let hand = ["--hand-made"];
    let within = |run: Run, started: Instant, words: &[&str]| {
        refused(&run, 3, words);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "took {:?}",
            started.elapsed()
        );
    };

    let set = hand_made(f);
    let dir = first_dir(&set.path().join("system"));
    let fifo = dir.join("pipe.css");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    within(
        verify(sim, &plugins, set.path(), &hand),
        t,
        &["pipe.css", "FIFO"],
    );
    // A set with a manifest walks its trees the same way.
    let set = copy_of(f);
    let fifo = first_dir(&set.path().join("system")).join("pipe.css");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    within(
        verify(sim, &plugins, set.path(), &[]),
        t,
        &["pipe.css", "FIFO"],
    );

    let set = hand_made(f);
    let dir = first_dir(&set.path().join("system"));
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::hard_link(&file, outside.path().join("other-name")).unwrap();
    let t = Instant::now();
    within(verify(sim, &plugins, set.path(), &hand), t, &["hardlink"]);

    // 256 MiB of zeros in a quarter of a MiB, against a bound of 32 MiB.
    let set = hand_made(f);
    let dump = set.path().join("system-mysql-backup.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 256M /dev/zero | gzip -1 > {}",
            dump.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    let mut args = vec![
        "verify",
        "--plugins",
        s(&plugins),
        "--backup-dir",
        s(set.path()),
    ];
    args.push("--hand-made");
    within(
        with_env(sim, &[("HOST_MAX_UNPACKED", "32MiB")], &args),
        t,
        &[
            "system-mysql-backup.gz",
            "expands past 32.0 MiB",
            "HOST_MAX_UNPACKED",
        ],
    );

    // A 20 GB JSON export (sparse: nothing is written, nothing must be read).
    let set = hand_made(f);
    let json = set.path().join("system-environment.json");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&json)
        .unwrap()
        .set_len(20 << 30)
        .unwrap();
    let t = Instant::now();
    within(
        verify(sim, &plugins, set.path(), &hand),
        t,
        &["system-environment.json", "not read"],
    );

    // A dump with a client command in a hand-made set: refused before any change.
    let set = hand_made(f);
    tamper::edit_gzip(&set.path().join("system-mysql-backup.gz"), |t| {
        let (_, rest) = t.split_once('\n').unwrap();
        format!("SELECT 1;\nsystem touch /tmp/pwned\n{rest}")
    });
    let state = cluster_state(sim);
    let run = restore(sim, set.path(), &hand);
    refused(
        &run,
        3,
        &[
            "system-mysql-backup.gz",
            "line 2",
            "`system` is a mysql client command",
        ],
    );
    assert_eq!(cluster_state(sim), state);

    // A manifest.json of 5 GB: refused by its size.
    let set = copy_of(f);
    std::fs::OpenOptions::new()
        .write(true)
        .open(set.path().join("manifest.json"))
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    let t = Instant::now();
    within(
        verify(sim, &plugins, set.path(), &[]),
        t,
        &["manifest.json is 5.0 GiB", "not read"],
    );
}
