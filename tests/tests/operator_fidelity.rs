//! The host against the operator as it really is: system-app's three containers, the
//! operator rolling both redis Deployments whenever redis-config changes, and its own
//! pace (every change acted on a while later).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Restoring backend-redis edits the redis-config both redis share, so the operator
/// restarts system-redis too, twice, and system-redis runs with saving off in between.
/// What was written to system-redis meanwhile, and acknowledged, is still there after.
#[test]
fn the_other_redis_keeps_what_it_acknowledged_during_the_restore_of_one() {
    let sim = sim();
    let set = tempfile::tempdir().unwrap();
    let backend = plugin("3scale-2.15", "backend-redis.wasm");
    let run = sim.run_plugin("backup", &backend, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("during-restore-{i}");
                if redis_cli(sim, "system-redis", &["SET", &key, "x"]).as_deref() == Some("OK") {
                    acknowledged.push(key);
                }
                i += 1;
            }
            acknowledged
        })
    };
    let run = sim.run_plugin("restore", &backend, set.path());
    stop.store(true, Ordering::SeqCst);
    let acknowledged = writer.join().unwrap();
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        acknowledged.len() > 5,
        "the writer got too few writes in: {acknowledged:?}"
    );

    for deployment in ["backend-redis", "system-redis"] {
        assert_eq!(
            redis_cli(sim, deployment, &["CONFIG", "GET", "appendonly"])
                .unwrap_or_default()
                .lines()
                .nth(1),
            Some("yes"),
            "{deployment} runs without its AOF"
        );
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| redis_cli(sim, "system-redis", &["EXISTS", k]).as_deref() != Some("1"))
        .collect();
    assert!(
        lost.is_empty(),
        "system-redis lost acknowledged writes: {lost:?}"
    );
    for key in &acknowledged {
        redis_cli(sim, "system-redis", &["DEL", key]);
    }
}
