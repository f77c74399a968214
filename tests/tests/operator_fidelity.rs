//! The host against the operator as it really is: system-app's three containers, the
//! operator rolling both redis Deployments whenever redis-config changes, and its own
//! pace (every change acted on a while later).

mod common;

use std::path::Path;

use common::{Sim, plugin, shared};
use serde_json::Value;

fn sim() -> &'static Sim {
    shared(Some("4MiB"))
}

/// Every run's audit lines: the backups' in the set, the restores' in the state
/// directory.
fn audit(set: &Path) -> Vec<Value> {
    sim().audit(set)
}

/// An API server refuses an exec with no container in a pod of several; the host names
/// one, as kubectl does, and says which in the audit log.
#[test]
fn system_storage_is_copied_out_of_a_pod_with_three_containers() {
    let sim = sim();
    let pod = sim.pod("system-app");
    let containers: Vec<String> =
        sim.json(&["get", "pod", &pod, "-o", "json"])["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(
        containers,
        ["system-master", "system-provider", "system-developer"]
    );

    let set = tempfile::tempdir().unwrap();
    let storage = plugin("3scale-2.15", "system-storage.wasm");
    let run = sim.run_plugin("backup", &storage, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        set.path()
            .join("system")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
    let copy = audit(set.path())
        .into_iter()
        .find(|l| l["call"] == "copy-from-pod")
        .expect("the copy is audited");
    assert!(
        copy["target"]
            .as_str()
            .unwrap()
            .contains("(container system-master)"),
        "{copy}"
    );
}

fn redis_cli(sim: &Sim, deployment: &str, args: &[&str]) -> Option<String> {
    let pods = sim.json(&[
        "get",
        "pods",
        "-l",
        &format!("deployment={deployment}"),
        "-o",
        "json",
    ]);
    let pod = pods["items"].as_array()?.iter().find(|p| {
        p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running"
    })?["metadata"]["name"]
        .as_str()?
        .to_string();
    let mut argv = vec!["exec", pod.as_str(), "--", "redis-cli"];
    argv.extend_from_slice(args);
    let out = sim.kubectl(&argv);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Both redis share redis-config, and the operator rolls both on every edit of it. The
/// restore takes one window for both: one edit before, one load restart each, one edit
/// back: three rollouts of each Deployment, where restoring one after the other took
/// five of each (two edits each, plus its own load). The data are the backup's, and
/// redis-config and both redis run as before.
#[test]
fn both_redis_are_restored_in_one_redis_config_window() {
    let sim = sim();
    let set = tempfile::tempdir().unwrap();
    let redis = plugin("3scale-2.15", "redis.wasm");
    let run = sim.run_plugin("backup", &redis, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    for file in ["backend-redis-dump.rdb", "system-redis-dump.rdb"] {
        assert!(set.path().join(file).is_file(), "{file}");
    }

    const REDIS: [&str; 2] = ["backend-redis", "system-redis"];
    for deployment in REDIS {
        assert_eq!(
            redis_cli(sim, deployment, &["SET", "written-after-the-backup", "x"]).as_deref(),
            Some("OK")
        );
    }
    let generation = |d: &str| {
        sim.json(&["get", "deployment", d, "-o", "json"])["metadata"]["generation"]
            .as_i64()
            .unwrap()
    };
    let conf_before = sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"].clone();
    let before = REDIS.map(generation);
    let run = sim.run_plugin("restore", &redis, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    let after = REDIS.map(generation);
    for (i, deployment) in REDIS.iter().enumerate() {
        assert_eq!(
            after[i] - before[i],
            3,
            "{deployment}: rollouts during the restore (edit, load, edit back)\n{}",
            run.all()
        );
        assert_eq!(
            redis_cli(sim, deployment, &["EXISTS", "written-after-the-backup"]).as_deref(),
            Some("0"),
            "{deployment} does not hold the backup's data"
        );
        assert_eq!(
            redis_cli(sim, deployment, &["CONFIG", "GET", "appendonly"])
                .unwrap_or_default()
                .lines()
                .nth(1),
            Some("yes"),
            "{deployment} runs without its AOF"
        );
    }
    assert_eq!(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"],
        conf_before
    );
}
