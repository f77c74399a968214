//! What a restore does when it cannot succeed: a step that fails mid-way (everything the
//! run changed is put back and the report names the step), and a set that fails
//! verification (refused before the first change to the cluster).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::{Sim, plugins_dir, shared};
use serde_json::Value;

/// One seeded cluster and one backup of it, shared by the tests, which take turns.
fn setup() -> (
    &'static Sim,
    &'static Path,
    std::sync::MutexGuard<'static, ()>,
) {
    static TURN: Mutex<()> = Mutex::new(());
    static SET: OnceLock<tempfile::TempDir> = OnceLock::new();
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sim = shared(Some("8MiB"));
    let set = SET.get_or_init(|| {
        let set = tempfile::tempdir().unwrap();
        let plugins = plugins_dir();
        sim.host_ok(&[
            "backup",
            "--plugins",
            plugins.to_str().unwrap(),
            "--backup-dir",
            set.path().to_str().unwrap(),
        ]);
        set
    });
    (sim, set.path(), turn)
}

fn copy_set(set: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", set.display()))
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(copy.path().join("runs")).unwrap();
    copy
}

fn object(sim: &Sim, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    sim.json(&all)
}

/// One step at a time, as the manual runs them: these tests read what a failure skips
/// in the documented order (a failure beside other running steps is
/// parallel_restore.rs's), and cut the first stream past 1 MiB, which is then MySQL's.
fn restore(sim: &Sim, set: &Path) -> common::Run {
    let plugins = plugins_dir();
    sim.host(&[
        "restore",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        set.to_str().unwrap(),
        "--parallel",
        "1",
    ])
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A dump that is a valid gzip and passes verification (the manifest is updated to match)
/// but that MySQL refuses: the load fails after system-app was scaled down.
#[test]
fn a_failed_step_is_named_and_system_app_is_put_back() {
    let (sim, set, _turn) = setup();
    let set = copy_set(set);
    let dump = set.path().join("system-mysql-backup.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo 'CREATE TABLE broken (;' | gzip > {}",
            dump.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let manifest_path = set.path().join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let record = &mut manifest["components"]["system-mysql"]["artifacts"][0];
    record["size"] = std::fs::metadata(&dump).unwrap().len().into();
    record["sha256"] = sha256(&dump).into();
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let spec_before = object(sim, &["apimanager", "3scale"])["spec"].clone();
    let storage_before = sim.fingerprint()["components"]["system-storage"].clone();
    let run = restore(sim, set.path());
    // system-app is back: its spec as recorded, one replica, a running pod.
    assert_failed_at_mysql_with_system_app_put_back(sim, &run, &spec_before);
    assert!(
        run.stdout.contains("exited with 1"),
        "the error should carry mysql's exit: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ERROR 1064"),
        "the error should carry mysql's message: {}",
        run.stdout
    );
    // Every restore step after the failed one is skipped (the steps' order comes from
    // the plugins' `after` lists, then names: system-storage, zync-database and
    // restarts come after system-mysql).
    let steps: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" restore "))
        .collect();
    let failed = steps
        .iter()
        .position(|l| l.contains("system-mysql") && l.contains("FAILED"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    for line in &steps[failed + 1..] {
        assert!(line.contains("skipped"), "{line}");
    }
    for later in ["system-storage", "zync-database", "restarts"] {
        assert!(
            steps[failed + 1..].iter().any(|l| l.contains(later)),
            "{later} should come after system-mysql: {steps:?}"
        );
    }
    // Steps after the failure did not run.
    assert_eq!(
        sim.fingerprint()["components"]["system-storage"],
        storage_before
    );
    // Nothing is left noted as changed. The run's journals are in the state directory,
    // not in the set.
    assert!(
        !set.path().join("runs").exists(),
        "the restore wrote into the set"
    );
    let runs = sim.runs_of(set.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    for run_dir in runs {
        for journal in std::fs::read_dir(run_dir.join("journal")).unwrap() {
            let journal: Value =
                serde_json::from_slice(&std::fs::read(journal.unwrap().path()).unwrap()).unwrap();
            assert_eq!(journal["notes"], serde_json::json!({}), "{journal}");
        }
    }
}

/// One flipped byte in one artifact: refused with exit 3, naming the file, before any
/// change (the objects a restore would change keep their spec: the operator updates
/// their status on its own meanwhile, so resourceVersions are no measure).
#[test]
fn a_corrupt_artifact_is_refused_before_touching_the_cluster() {
    let (sim, original, _turn) = setup();
    let set = copy_set(original);
    let rdb = set.path().join("backend-redis-dump.rdb");
    let mut bytes = std::fs::read(&rdb).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&rdb, bytes).unwrap();

    let versions = |sim: &Sim| {
        let mut seen: Vec<Value> = [
            ["apimanager", "3scale"],
            ["deployment", "system-app"],
            ["deployment", "backend-redis"],
        ]
        .map(|a| object(sim, &a)["metadata"]["generation"].clone())
        .to_vec();
        seen.push(object(sim, &["configmap", "redis-config"])["data"].clone());
        seen
    };
    let before = versions(sim);
    let fingerprint = sim.fingerprint();
    let run = restore(sim, set.path());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("backend-redis-dump.rdb"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("corrupt or tampered"), "{}", run.stderr);
    assert_eq!(versions(sim), before, "the cluster was changed");
    assert_eq!(sim.fingerprint(), fingerprint);

    // A missing artifact, and a manifest that lists a file no longer there: refused too.
    let set = copy_set(original);
    std::fs::remove_file(set.path().join("zync-database-backup.gz")).unwrap();
    let run = restore(sim, set.path());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("zync-database-backup.gz"),
        "{}",
        run.stderr
    );
}

/// The connection drops while the dump is being fed to mysql: the step fails naming the
/// cut, and system-app is put back as recorded.
#[test]
fn a_stream_cut_during_the_load_fails_the_step_and_system_app_is_put_back() {
    let (sim, set, _turn) = setup();
    let set = copy_set(set);
    let spec_before = object(sim, &["apimanager", "3scale"])["spec"].clone();

    // Past the two redis dump.rdb files, which are copied in first (the redis plugin
    // comes before system-mysql by name), and well inside MySQL's dump.
    let fault = sim.fault("exec-drop-stdin-after=1MiB");
    let run = restore(sim, set.path());
    drop(fault);

    assert_failed_at_mysql_with_system_app_put_back(sim, &run, &spec_before);
    assert!(run.stdout.contains("connection was cut"), "{}", run.stdout);
}

/// What every failure of the system-mysql step must leave: exit 1, the step named, and
/// system-app's spec, replicas and pod as before the run.
fn assert_failed_at_mysql_with_system_app_put_back(sim: &Sim, run: &common::Run, spec: &Value) {
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout
            .contains("restore FAILED at system-mysql restore"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("put back by system-app"),
        "{}",
        run.stdout
    );
    assert_eq!(&object(sim, &["apimanager", "3scale"])["spec"], spec);
    assert_eq!(
        object(sim, &["deployment", "system-app"])["spec"]["replicas"],
        1
    );
    sim.pod("system-app");
}
