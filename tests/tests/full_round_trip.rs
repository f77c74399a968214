//! The README's demo as a test: seed, `host backup` of every component, damage every
//! component, `host restore`, and everything is back as it was.

mod common;

use common::{Sim, assert_same, plugins_dir};
use serde_json::Value;

fn replicas(sim: &Sim, deployment: &str) -> i64 {
    sim.json(&["get", "deployment", deployment, "-o", "json"])["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

#[test]
fn every_component_survives_backup_damage_restore() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "16MiB"]);
    let before = sim.fingerprint();
    let spec_before = sim.apimanager_spec();
    let conf_before = sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"].clone();
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path().to_str().unwrap();

    let run = sim.host_ok(&["backup", "--plugins", plugins, "--backup-dir", dir]);
    assert!(run.stdout.contains("backup complete"), "{}", run.stdout);
    // The manual's file names, and a manifest recording each with its hash.
    for file in [
        "system-mysql-backup.gz",
        "zync-database-backup.gz",
        "backend-redis-dump.rdb",
        "system-redis-dump.rdb",
        "system-environment.json",
        "apicast-environment.json",
        // 9.4.6.1 writes each Secret as NAME.json next to the dumps.
        "system-database.json",
        "system-seed.json",
        "apimanager.json",
        "manifest.json",
    ] {
        assert!(
            set.path().join(file).is_file(),
            "{file} missing from the set"
        );
    }
    assert!(
        set.path()
            .join("system")
            .read_dir()
            .unwrap()
            .next()
            .is_some(),
        "system/ is empty"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "host-backup-set/1");
    assert_eq!(manifest["namespace"], "3scale");
    // The plugins with artifacts; system-app and restarts only act during a restore.
    assert_eq!(
        manifest["components"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "apimanager",
            "configmaps",
            "redis",
            "secrets",
            "system-mysql",
            "system-storage",
            "zync-database"
        ],
        "{manifest:#}"
    );
    for (name, component) in manifest["components"].as_object().unwrap() {
        assert_eq!(
            component["plugin"]["sha256"].as_str().unwrap().len(),
            64,
            "{name}"
        );
        for artifact in component["artifacts"].as_array().unwrap() {
            let size = std::fs::metadata(set.path().join(artifact["path"].as_str().unwrap()))
                .unwrap()
                .len();
            assert_eq!(
                artifact["size"].as_u64().unwrap(),
                size,
                "{name}: {artifact}"
            );
        }
    }

    sim.sim(&["damage"]);
    let damaged = sim.fingerprint();
    for component in [
        "system-mysql",
        "zync-database",
        "backend-redis",
        "system-redis",
        "system-storage",
        "configmaps",
        "secrets",
    ] {
        assert_ne!(
            damaged["components"][component]["digest"], before["components"][component]["digest"],
            "{component} was not damaged"
        );
    }
    let resyncs_before = sim.resyncs();

    let run = sim.host_ok(&["restore", "--plugins", plugins, "--backup-dir", dir]);
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);

    assert_same(&before, &sim.fingerprint());
    assert_eq!(
        sim.apimanager_spec(),
        spec_before,
        "the APIManager spec was not put back"
    );
    assert_eq!(replicas(&sim, "system-app"), 1);
    assert_eq!(replicas(&sim, "zync"), 1);
    assert_eq!(replicas(&sim, "zync-que"), 1);
    for redis in ["backend-redis", "system-redis"] {
        let pods = format!("deployment={redis}");
        assert_eq!(sim.redis_config(&pods, "appendonly"), "yes", "{redis}");
        assert_eq!(
            sim.redis_config(&pods, "save"),
            "900 1 300 10 60 10000",
            "{redis}"
        );
    }
    assert_eq!(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"],
        conf_before
    );
    assert_eq!(
        sim.resyncs(),
        resyncs_before + 1,
        "the zync resync should run once"
    );
}
