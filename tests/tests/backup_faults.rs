//! A backup whose stream breaks: the component fails with a clear error, no partial
//! artifact is left or recorded as good, and a later restore refuses the component
//! until a backup of it succeeds again.

mod common;

use common::{Sim, plugin};
use serde_json::Value;

fn manifest(set: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn a_cut_exec_stream_fails_the_component_and_leaves_no_artifact() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "8MiB"]);
    let mysql = plugin("3scale-2.15", "system-mysql.wasm");
    let set = tempfile::tempdir().unwrap();

    // The stream is cut after 256 KiB of the dump, with no exit status.
    let fault = sim.fault("exec-drop-after=256KiB");
    let run = sim.run_plugin("backup", &mysql, set.path());
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.all().contains("the connection was cut"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("backup FAILED"), "{}", run.stdout);
    assert!(
        !set.path().join("system-mysql-backup.gz").exists(),
        "a partial dump was left in the set"
    );
    assert!(
        !set.path().join(".staging").exists(),
        "staging was not cleaned up"
    );
    let m = manifest(set.path());
    assert!(m["components"].get("system-mysql").is_none(), "{m:#}");
    assert!(
        m["failed"]["system-mysql"]
            .as_str()
            .unwrap()
            .contains("connection was cut"),
        "{m:#}"
    );

    // A restore from this set refuses the component, before any change.
    let run = sim.run_plugin("restore", &mysql, set.path());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr
            .contains("the last backup of `system-mysql` failed"),
        "{}",
        run.stderr
    );

    // With the fault gone, the backup succeeds and the set is whole again.
    drop(fault);
    let run = sim.run_plugin("backup", &mysql, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    let m = manifest(set.path());
    assert!(m.get("failed").is_none(), "{m:#}");
    let size = std::fs::metadata(set.path().join("system-mysql-backup.gz"))
        .unwrap()
        .len();
    assert_eq!(
        m["components"]["system-mysql"]["artifacts"][0]["size"],
        size
    );
    let only = tempfile::tempdir().unwrap();
    std::fs::copy(&mysql, only.path().join("system-mysql.wasm")).unwrap();
    let run = sim.host_ok(&[
        "verify",
        "--plugins",
        only.path().to_str().unwrap(),
        "--backup-dir",
        set.path().to_str().unwrap(),
    ]);
    assert!(run.stdout.contains("1 files"), "{}", run.stdout);
}

#[test]
fn a_pod_killed_during_the_dump_fails_the_component() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "8MiB"]);
    let zync = plugin("3scale-2.15", "zync.wasm");
    let set = tempfile::tempdir().unwrap();
    let _fault = sim.fault("kill-pod-on-exec=pg_dump");
    let run = sim.run_plugin("backup", &zync, set.path());
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout.contains("zync-database") && run.stdout.contains("FAILED"),
        "{}",
        run.stdout
    );
    assert!(!set.path().join("zync-database-backup.gz").exists());
}
