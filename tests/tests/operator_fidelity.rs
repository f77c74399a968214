//! The host against the operator as it really is: system-app's three containers, the
//! operator rolling both redis Deployments whenever redis-config changes, and its own
//! pace (every change acted on a while later).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    let pod = running_pod(sim, deployment)?;
    let mut argv = vec!["exec", pod.as_str(), "--", "redis-cli"];
    argv.extend_from_slice(args);
    let out = sim.kubectl(&argv);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A client of one redis for the length of a restore: `INCR acknowledged` every 20 ms
/// from inside its running pod (an exec of 100 writes at a time, begun again in the next
/// pod after a restart), keeping each acknowledged value with the pod that gave it.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(String, i64)>>,
}

impl Writer {
    fn start(sim: &'static Sim, deployment: &'static str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let Some(pod) = running_pod(sim, deployment) else {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                let script = "for i in $(seq 100); do redis-cli INCR acknowledged || exit 1; sleep 0.02; done";
                let mut cmd = sim.kubectl_cmd(&["exec", &pod, "--", "sh", "-c", script]);
                cmd.stdout(Stdio::piped()).stderr(Stdio::null());
                let Ok(mut child) = cmd.spawn() else { continue };
                let out = BufReader::new(child.stdout.take().unwrap());
                for line in out.lines().map_while(Result::ok) {
                    // An error reply (LOADING while the dataset loads) is no write.
                    if let Ok(v) = line.trim().parse::<i64>() {
                        acknowledged.push((pod.clone(), v));
                    }
                }
                let _ = child.wait();
            }
            acknowledged
        });
        Writer { stop, thread }
    }

    fn stop(self) -> Vec<(String, i64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn running_pod(sim: &Sim, deployment: &str) -> Option<String> {
    let pods = sim.json(&[
        "get",
        "pods",
        "-l",
        &format!("deployment={deployment}"),
        "-o",
        "json",
    ]);
    Some(
        pods["items"].as_array()?.iter().find(|p| {
            p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running"
        })?["metadata"]["name"]
            .as_str()?
            .to_string(),
    )
}

/// Both redis share redis-config, and the operator rolls both on every edit of it. The
/// restore takes one window for both: one edit before, one load restart each, one edit
/// back: three rollouts of each Deployment, where restoring one after the other took
/// five of each (two edits each, plus its own load). The data are the backup's, and
/// redis-config and both redis run as before.
///
/// A client writes to each redis throughout. Its writes before the load are replaced by
/// the backup's data, as a restore must; every write acknowledged after the load
/// survives the edit back, whose restart would drop what was written with the AOF off
/// if the host did not turn it on in the running redis first.
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
    // Values from a million up are the client's writes before the load (in the RDB file
    // too, so that the first edit's restart keeps them); the backup has no such key, so
    // after the load its count starts again from 1.
    const BEFORE_LOAD: i64 = 1_000_000;
    for deployment in REDIS {
        redis_cli(
            sim,
            deployment,
            &["SET", "acknowledged", &BEFORE_LOAD.to_string()],
        );
        redis_cli(sim, deployment, &["SAVE"]);
    }
    let writers = REDIS.map(|d| Writer::start(sim, d));
    let run = sim.run_plugin("restore", &redis, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    let after = REDIS.map(generation);
    for (deployment, writer) in REDIS.into_iter().zip(writers) {
        let writes = writer.stop();
        let since_load: Vec<&(String, i64)> =
            writes.iter().filter(|(_, v)| *v < BEFORE_LOAD).collect();
        for pair in since_load.windows(2) {
            assert!(
                pair[1].1 > pair[0].1,
                "{deployment}: a write acknowledged after the load was lost at a restart: {pair:?}"
            );
        }
        let pods: std::collections::BTreeSet<&str> =
            since_load.iter().map(|(pod, _)| pod.as_str()).collect();
        assert!(
            pods.len() >= 2,
            "{deployment}: no write between the load and the edit back, nothing tested: {since_load:?}"
        );
        assert_eq!(
            redis_cli(sim, deployment, &["GET", "acknowledged"]),
            since_load.last().map(|(_, v)| v.to_string()),
            "{deployment}"
        );
    }
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

/// Seconds since midnight (UTC) of an event line of `sim events`, which begins with an
/// RFC 3339 time such as `2026-11-27T01:34:41.677Z`.
fn event_second(line: &str) -> f64 {
    let clock = &line[11..23];
    let parts: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

/// The operator watches no Jobs (apimanager_controller.go:366-384). A change it receives
/// while system-app-pre runs for a generation of system-app that is no longer current
/// fails its reconcile before zync's part ("won't delete job ... still running",
/// pkg/helper/job.go:117-135), and its retries back off, doubling, for as long as the Job
/// runs; the Job's completion then wakes nothing. zync's scale-down must notice and ask
/// the operator again once the Job is done, not sit out the backoff (the stall of up to
/// 30 s that the 512 MiB bench showed right after system-app's return).
#[test]
fn zync_scale_down_behind_a_stale_pre_job_asks_the_operator_again_once_the_job_completes() {
    // A slow operator, so the restore's change reaches it after it has made the stale
    // Job; a long Job, so its backoff would outlast the Job by far.
    const JOB_SECONDS: f64 = 20.0;
    let sim = Sim::start_with(&[
        "--operator-delay",
        "3",
        "--deploy-job-seconds",
        &JOB_SECONDS.to_string(),
    ]);
    sim.sim(&["seed", "--size", "1MiB"]);
    let zync = plugin("3scale-2.15", "zync.wasm");
    let set = tempfile::tempdir().unwrap();
    let run = sim.run_plugin("backup", &zync, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    sim.settle_system_app();

    // No Job when the restore looks, so it changes the APIManager at once; two new
    // generations of system-app, so the Job the operator then makes for the first is
    // stale by the time it handles the restore's change.
    sim.ok(&["delete", "job", "system-app-pre"]);
    sim.ok(&["rollout", "restart", "deployment/system-app"]);
    // kubectl refuses a second restart within the same second.
    std::thread::sleep(Duration::from_millis(1100));
    sim.ok(&["rollout", "restart", "deployment/system-app"]);
    let run = sim.run_plugin("restore", &zync, set.path());
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.all()
            .contains("asking it to reconcile again once no system-app-pre Job runs"),
        "the operator should have been stuck behind the stale Job: {}",
        run.all()
    );

    let events = sim.sim(&["events"]);
    let lines: Vec<&str> = events.lines().collect();
    let scaled = lines
        .iter()
        .position(|l| l.contains("updated deployment/zync: replicas 1 -> 0"))
        .expect("the operator scaled zync down");
    let stuck = lines[..scaled]
        .iter()
        .any(|l| l.contains("won't delete job system-app-pre because it's still running"));
    assert!(stuck, "the operator never refused the stale Job:\n{events}");
    let completed = lines[..scaled]
        .iter()
        .rposition(|l| l.contains("Completed job/system-app-pre"))
        .expect("the stale Job completed before zync was scaled down");
    // The nudge reaches the operator one operator delay (3 s) after the Job completes; its
    // own backoff would come about a Job's length later.
    let gap = event_second(lines[scaled]) - event_second(lines[completed]);
    assert!(
        (0.0..12.0).contains(&gap),
        "zync was scaled down {gap:.1}s after the stale Job completed, not soon after the restore asked again:\n{}",
        lines[completed..=scaled].join("\n")
    );
    assert_eq!(
        sim.ok(&[
            "get",
            "deployment",
            "zync",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "1"
    );
}
