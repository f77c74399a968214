//! `host run` with one plugin, end to end: the real zync plugin in wasmtime, the kube
//! client over HTTPS and WebSocket, the simulator's real PostgreSQL; and the hostile
//! plugin's attacks, each contained with a clear error.

mod common;

use std::path::Path;

use common::{Sim, plugin, shared};
use serde_json::{Value, json};

fn sim() -> &'static Sim {
    shared(Some("8MiB"))
}

fn zync_fingerprint(sim: &Sim) -> Value {
    sim.fingerprint()["components"]["zync-database"]["digest"].clone()
}

fn apimanager_zync(sim: &Sim) -> Value {
    sim.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"]["zync"].clone()
}

fn replicas(sim: &Sim, deployment: &str) -> i64 {
    sim.json(&["get", "deployment", deployment, "-o", "json"])["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

/// Every run's audit lines: the backups' in the set, the restores' in the state
/// directory.
/// The tests take turns: they share one namespace, and the host refuses a restore there
/// while another run in it still has something to put back (the zync round trip has).
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn audit(set: &Path) -> Vec<Value> {
    sim().audit(set)
}

/// Backup, drop zync's data, restore: the data is back, and `.spec.zync` is what it was
/// before the restore, whatever the restore scaled down on the way. Then the same with a
/// spec that names no replicas: the manual scales deployment/zync to 1 by hand.
#[test]
fn zync_round_trip_restores_the_data_and_the_spec() {
    let _turn = turn();
    let sim = sim();
    let zync = plugin("3scale-2.15", "zync.wasm");
    let zync = zync.to_str().unwrap();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path().to_str().unwrap();
    let before = zync_fingerprint(sim);

    let run = sim.host_ok(&["run", "backup", "--plugin", zync, "--backup-dir", dir]);
    assert!(run.stdout.contains("backup complete"), "{}", run.stdout);
    let dump = set.path().join("zync-database-backup.gz");
    assert!(std::fs::metadata(&dump).unwrap().len() > 1000);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["threescale_version"], "2.15.5");
    assert_eq!(
        manifest["components"]["zync-database"]["artifacts"][0]["path"],
        "zync-database-backup.gz"
    );

    // The data goes; the spec is changed to something the restore must keep.
    let pod = sim.pod("zync-database");
    sim.ok(&[
        "exec",
        &pod,
        "--",
        "psql",
        "-q",
        "zync_production",
        "-c",
        "DROP TABLE entries, notifications",
    ]);
    assert_ne!(zync_fingerprint(sim), before);
    let spec = json!({"appSpec": {"replicas": 1}, "queSpec": {"replicas": 1}});
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "merge",
        "-p",
        &json!({"spec": {"zync": spec}}).to_string(),
    ]);

    let run = sim.host_ok(&["run", "restore", "--plugin", zync, "--backup-dir", dir]);
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    assert_eq!(
        zync_fingerprint(sim),
        before,
        "zync_production differs after the restore"
    );
    assert_eq!(apimanager_zync(sim), spec);
    assert_eq!(replicas(sim, "zync"), 1);
    assert_eq!(replicas(sim, "zync-que"), 1);

    // The operator's default spec, which names no replicas: the operator then leaves both
    // Deployments alone, so after the restore zync runs one pod, as 9.5.4.1 says, and so
    // does zync-que (which the manual forgets, leaving the resync's jobs unprocessed).
    let default = json!({"appSpec": {}, "queSpec": {}});
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "json",
        "-p",
        &json!([{"op": "replace", "path": "/spec/zync", "value": default}]).to_string(),
    ]);
    sim.ok(&["scale", "deployment", "zync", "--replicas", "0"]);
    sim.ok(&["scale", "deployment", "zync-que", "--replicas", "0"]);
    sim.host_ok(&["run", "restore", "--plugin", zync, "--backup-dir", dir]);
    assert_eq!(apimanager_zync(sim), default);
    assert_eq!(replicas(sim, "zync"), 1);
    assert_eq!(replicas(sim, "zync-que"), 1);
    sim.pod("zync-que");
    // The fingerprint reads zync_production as the `zync` role zync connects as: it
    // fails if the restore left that role without its rights on the schema.
    assert_eq!(zync_fingerprint(sim), before);

    // Every call of every run is in the audit log, allowed.
    let lines = audit(set.path());
    assert!(
        lines
            .iter()
            .any(|l| l["call"] == "exec-to-artifact" && l["decision"] == "allowed")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["call"] == "artifact-to-exec" && l["outcome"] == "ok")
    );
}

/// A set with the hostile plugin's attack in it.
fn attack(what: &str) -> tempfile::TempDir {
    let set = tempfile::tempdir().unwrap();
    std::fs::write(set.path().join("attack"), what).unwrap();
    set
}

/// Runs the hostile plugin's restore; the host must fail the run (exit 1) with `expect`
/// in its message, and survive to say so.
fn contained(sim: &Sim, set: &Path, expect: &str) -> common::Run {
    let hostile = plugin("test", "hostile.wasm");
    let run = sim.host(&[
        "run",
        "restore",
        "--plugin",
        hostile.to_str().unwrap(),
        "--backup-dir",
        set.to_str().unwrap(),
        "--plugin-cpu",
        "3",
        "--plugin-memory",
        "64",
        // The attack is a set made by hand: no manifest.json.
        "--hand-made",
    ]);
    assert_eq!(
        run.code,
        Some(1),
        "the attack was not stopped, or the host died:\n{}",
        run.all()
    );
    assert!(
        run.all().contains(expect),
        "expected `{expect}` in:\n{}",
        run.all()
    );
    assert!(
        run.all().contains("restore FAILED at hostile restore"),
        "{}",
        run.all()
    );
    run
}

#[test]
fn exec_outside_the_grant_is_denied_and_nothing_runs() {
    let _turn = turn();
    let sim = sim();
    let mysql = sim.pod("system-mysql");
    let set = attack(&format!("exec-outside {mysql}"));
    contained(sim, set.path(), "denied: exec in pod");
    let check = sim.kubectl(&["exec", &mysql, "--", "test", "-e", "/tmp/pwned"]);
    assert!(!check.status.success(), "the denied command ran in {mysql}");
    let lines = audit(set.path());
    let denied: Vec<_> = lines.iter().filter(|l| l["decision"] == "denied").collect();
    assert_eq!(denied.len(), 1, "{lines:?}");
    assert_eq!(denied[0]["call"], "exec");
    assert_eq!(denied[0]["outcome"], "not run");

    contained(
        sim,
        attack("find-outside deployment=system-mysql").path(),
        "denied: find-pod",
    );
    contained(
        sim,
        attack("read-secret system-database").path(),
        "denied: Secret (v1) `system-database`",
    );
}

#[test]
fn store_paths_cannot_leave_the_backup_set() {
    let _turn = turn();
    let sim = sim();
    contained(sim, attack("open ../x").path(), "`..` is not allowed");
    contained(
        sim,
        attack("open /etc/passwd").path(),
        "absolute paths are not allowed",
    );
    contained(
        sim,
        attack("create attack2").path(),
        "read-only except during backup",
    );
    // A symlink planted in the set, to be read or copied into a pod: the set is refused
    // before any plugin runs (exit 3), naming the link.
    for what in ["open files/passwd", "copy-tree"] {
        let set = attack(what);
        std::os::unix::fs::symlink("/etc", set.path().join("files")).unwrap();
        let hostile = plugin("test", "hostile.wasm");
        let run = sim.host(&[
            "run",
            "restore",
            "--plugin",
            hostile.to_str().unwrap(),
            "--backup-dir",
            set.path().to_str().unwrap(),
            "--hand-made",
        ]);
        assert_eq!(run.code, Some(3), "{}", run.all());
        assert!(
            run.stderr.contains("`files` is a symbolic link"),
            "{}",
            run.all()
        );
    }
}

#[test]
fn runaway_plugins_are_stopped() {
    let _turn = turn();
    let sim = sim();
    contained(
        sim,
        attack("loop").path(),
        "ran past its CPU deadline of 3s",
    );
    contained(sim, attack("membomb").path(), "exceeded its memory limit");
    let run = contained(sim, attack("panic").path(), "panicked");
    assert!(run.all().contains("hostile plugin panicked on purpose"));
    let set = attack("logflood");
    let run = contained(sim, set.path(), "flooded the log");
    // Only the first messages reach the terminal and the audit log.
    assert!(run.all().contains("the rest are not shown"));
    assert!(
        run.all().lines().count() < 300,
        "{} lines of output",
        run.all().lines().count()
    );
    let lines = audit(set.path());
    assert!(lines.len() < 300, "{} audit lines", lines.len());
}

#[test]
fn inspect_lists_capabilities_and_refuses_what_is_not_a_plugin() {
    let _turn = turn();
    let sim = sim();
    let zync = plugin("3scale-2.15", "zync.wasm");
    let run = sim.host_ok(&["inspect", zync.to_str().unwrap()]);
    for expected in [
        "zync-database 0.3.1",
        "restores:        once the quiesced plugins are back (restore-when = \"resumed\")",
        "exec commands in pods matching deployment=zync-database (the pod's default container)",
        "only these commands: bash (bash runs any command, so this is full control of the container",
        "patch APIManager (apps.3scale.net/v1alpha1): any name, at /spec/zync",
        "patch Deployment (apps/v1): zync, zync-que, at /spec/replicas",
        "restart deployment zync-que",
        "artifact zync-database-backup.gz (gzip, postgresql-dump: the host refuses client commands in it)",
        // The same grants in RBAC's words.
        "Kubernetes RBAC it needs (host rbac prints the Role):",
        "    create,get pods/exec\n",
        "    get,patch deployments.apps zync,zync-que\n",
        "    get jobs.batch system-app-pre\n",
    ] {
        assert!(
            run.stdout.contains(expected),
            "`{expected}` missing:\n{}",
            run.stdout
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "not a plugin\n").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(
        &core,
        wat::parse_str("(module (func (export \"backup\")))").unwrap(),
    )
    .unwrap();
    let world = dir.path().join("world.wasm");
    std::fs::write(
        &world,
        wat::parse_str(
            "(component (core module $m (func (export \"run\"))) (core instance $i (instantiate $m)) \
             (func $f (canon lift (core func $i \"run\"))) (export \"run\" (func $f)))",
        )
        .unwrap(),
    )
    .unwrap();
    let future = plugin("test", "wrong-version.wasm");
    for (file, expected) in [
        (text.as_path(), "is a text file"),
        (
            core.as_path(),
            "is a core WebAssembly module, not a component",
        ),
        (world.as_path(), "is a component of another world"),
        (future.as_path(), "was built for contract host:plugin@3.0.0"),
        (dir.path().join("missing.wasm").as_path(), "no such file"),
    ] {
        let run = sim.host(&["inspect", file.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "{}", run.all());
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "not one line: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(expected),
            "`{expected}` missing: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
    // Running such a file is refused the same way, before the cluster is touched.
    let run = sim.run_plugin("backup", &future, dir.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
}

/// system-storage's files (the simulator's system-storage volume), each file's content
/// by its path: what a restore of the tree must bring back.
fn storage_digest(sim: &Sim) -> Value {
    sim.fingerprint()["components"]["system-storage"]["digest"].clone()
}

/// A tree of thousands of files comes out of its pod and goes back in several tar
/// streams side by side, and every file comes back as it was; a stream cut off makes the
/// restore fail with the exec it lost, never report the tree restored.
#[test]
fn a_tree_of_thousands_of_files_is_copied_both_ways_in_several_streams() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "1MiB", "--files", "4500"]);
    let before = storage_digest(&sim);
    let set = tempfile::tempdir().unwrap();
    let storage = plugin("3scale-2.15", "system-storage.wasm");
    let run = sim.run_plugin("backup", &storage, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    // The seeded tree has three directories at its top: a stream each.
    assert!(
        run.stderr.contains("(3 streams)"),
        "not in three streams: {}",
        run.stderr
    );

    let pod = sim.pod("system-app");
    sim.ok(&[
        "exec",
        &pod,
        "--",
        "sh",
        "-c",
        "cd /opt/system/public/system && find . -type f | head -n 300 | xargs rm -f \
         && find . -type f | tail -n 1 | xargs sh -c 'echo damaged >> \"$0\"'",
    ]);
    assert_ne!(storage_digest(&sim), before, "the damage changed nothing");

    {
        // Every exec's input cut after 256 KiB: each stream carries more than that.
        let _cut = sim.fault("exec-drop-stdin-after=256KiB");
        let run = sim.run_plugin("restore", &storage, set.path());
        assert_ne!(run.code, Some(0), "{}", run.all());
        assert!(!run.stdout.contains("restore complete"), "{}", run.all());
        let all = run.all();
        assert!(
            all.contains("restore FAILED at system-storage restore: the exec stream of")
                && all.contains("the connection was cut"),
            "{all}"
        );
    }

    let run = sim.run_plugin("restore", &storage, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stderr.contains("(2 streams)"),
        "not in two streams: {}",
        run.stderr
    );
    assert_eq!(storage_digest(&sim), before);
}
