//! Starting, stopping and restarting the simulator, and its fault knobs.

mod common;

use common::Sim;
use serde_json::Value;

/// Processes of this simulator's pods: each pod's PID 1 runs the init script from the
/// data directory, and a PID namespace dies with its PID 1.
fn pod_processes(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(dir.to_str().unwrap()))
        .count()
}

fn mounts_mentioning(dir: &std::path::Path) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .count()
}

#[test]
fn data_survives_a_restart_and_shutdown_leaves_nothing_behind() {
    let temp = tempfile::tempdir().unwrap();
    let sim = Sim::start_in(temp.path());
    assert!(
        pod_processes(temp.path()) >= 15,
        "every pod has a PID 1 of its own"
    );
    sim.sim(&["seed", "--size", "3MiB"]);
    let seeded = sim.fingerprint();
    let pod_before = sim.pod("system-mysql");
    // A key the operator does not own (ApicastEnvCMMutator keeps only its three).
    sim.ok(&[
        "patch",
        "configmap",
        "apicast-environment",
        "-p",
        r#"{"data": {"APICAST_LOG_LEVEL": "debug"}}"#,
    ]);
    let seeded_after_edit = sim.fingerprint();
    assert_ne!(
        seeded["components"]["configmaps"],
        seeded_after_edit["components"]["configmaps"]
    );
    let dir = tempfile::tempdir().unwrap();
    let cm = dir.path().join("cm.json");
    std::fs::write(
        &cm,
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone"}, "data": {"a": "b"}}"#,
    )
    .unwrap();
    sim.ok(&["apply", "-f", cm.to_str().unwrap()]);
    sim.ok(&["delete", "configmap", "gone"]);
    let job_uid = sim.json("job", "system-app-pre")["metadata"]["uid"].clone();
    let replica_set = sim.ok(&[
        "get",
        "rs",
        "-l",
        "deployment=system-mysql",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);

    assert_eq!(sim.stop(), Some(0), "SIGTERM stops sim serve cleanly");
    assert_eq!(
        pod_processes(temp.path()),
        0,
        "no pod process outlives the simulator"
    );
    assert_eq!(
        mounts_mentioning(temp.path()),
        0,
        "no mount outlives the simulator"
    );

    let again = Sim::start_in(temp.path());
    let restarted = again.fingerprint();
    // zync-database keeps its data in an emptyDir, not a claim (3scale-operator
    // pkg/3scale/amp/component/zync.go:457-466): its new pod starts with an empty database.
    assert_eq!(
        restarted["components"]["zync-database"]["summary"], "0 tables, 0 rows",
        "{restarted}"
    );
    // The new pod set its database up again as the image does: role zync owns it.
    let owner = again.ok(&[
        "exec",
        &again.pod("zync-database"),
        "--",
        "psql",
        "-tA",
        "-c",
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'zync_production'",
    ]);
    assert_eq!(owner, "zync\n");
    let mut expected = seeded_after_edit.clone();
    expected["components"]["zync-database"] = restarted["components"]["zync-database"].clone();
    assert_eq!(restarted, expected, "claims and API objects persist");
    assert!(
        !again
            .kubectl(&["get", "configmap", "gone"])
            .status
            .success(),
        "deleted stays deleted"
    );
    assert_eq!(
        again.json("job", "system-app-pre")["metadata"]["uid"],
        job_uid
    );
    assert_eq!(
        again.ok(&[
            "get",
            "rs",
            "-l",
            "deployment=system-mysql",
            "-o",
            "jsonpath={.items[*].metadata.name}"
        ]),
        replica_set,
        "the ReplicaSet persists and runs the new pod"
    );
    assert_ne!(again.pod("system-mysql"), pod_before, "pods are new");
    drop(again);
    assert_eq!(pod_processes(temp.path()), 0);
}

#[test]
fn fault_knobs_cut_streams_fail_requests_and_crash_pods() {
    let sim = Sim::start();
    let zync = sim.pod("zync-database");

    sim.sim(&["fault", "exec-drop-after=1MiB"]);
    let cut = sim.kubectl(&[
        "exec",
        &zync,
        "--",
        "bash",
        "-c",
        "head -c 10000000 /dev/zero",
    ]);
    assert!(
        !cut.status.success(),
        "a dropped exec stream is an error for kubectl"
    );
    assert!(
        cut.stdout.len() < 10_000_000,
        "the stream was cut ({} bytes arrived)",
        cut.stdout.len()
    );

    sim.sim(&["fault", "--reset", "error-rate=1", "error-code=500"]);
    let failed = sim.kubectl(&["get", "pods"]);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("fault injection"));

    for args in [
        &["get", "jobs"][..],
        &["get", "rs"],
        &["get", "events"],
        // a watch is a request like any other
        &[
            "get",
            "--raw",
            "/apis/batch/v1/namespaces/3scale/jobs?watch=true&timeoutSeconds=1",
        ],
    ] {
        let out = sim.kubectl(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("fault injection"),
            "{args:?}: {out:?}"
        );
    }

    sim.sim(&["fault", "--reset"]);
    sim.ok(&["get", "pods"]);
    sim.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/3scale/replicasets?watch=true&timeoutSeconds=1",
    ]);

    let redis = sim.pod("backend-redis");
    sim.ok(&["exec", &redis, "--", "redis-cli", "SET", "k", "v"]);
    sim.sim(&["fault", "kill-pod-on-exec=DEBUG-CRASH-ME"]);
    let _ = sim.kubectl(&[
        "exec",
        &redis,
        "--",
        "bash",
        "-c",
        "echo DEBUG-CRASH-ME; sleep 5",
    ]);
    // The container restarts in the same pod, as the kubelet restarts a crashed container.
    let mut restarted = false;
    for _ in 0..100 {
        let pod: Value =
            serde_json::from_str(&sim.ok(&["get", "pod", &redis, "-o", "json"])).unwrap();
        let status = &pod["status"]["containerStatuses"][0];
        if status["restartCount"].as_u64() == Some(1) && status["ready"] == true {
            restarted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(restarted, "the killed pod came back with restartCount 1");
    assert_eq!(sim.pod("backend-redis"), redis);
}

#[test]
fn a_pod_waits_for_a_missing_secret_like_kubernetes() {
    // The operator would recreate the Secret with new values; keep it out of the way.
    let sim = Sim::start_with(&["--operator-delay", "600"]);
    let secret = sim.ok(&["get", "secret", "system-database", "-o", "json"]);
    sim.ok(&["delete", "secret", "system-database"]);
    sim.ok(&["rollout", "restart", "deployment/system-mysql"]);
    let mut waiting = String::new();
    for _ in 0..100 {
        waiting = sim.ok(&[
            "get",
            "pods",
            "-l",
            "deployment=system-mysql",
            "-o",
            "jsonpath={.items[*].status.containerStatuses[0].state.waiting.reason}",
        ]);
        if waiting.contains("CreateContainerConfigError") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(waiting.contains("CreateContainerConfigError"), "{waiting}");
    let dir = tempfile::tempdir().unwrap();
    let mut object: Value = serde_json::from_str(&secret).unwrap();
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k == "name" || k == "labels");
    std::fs::write(dir.path().join("s.json"), object.to_string()).unwrap();
    sim.ok(&["apply", "-f", dir.path().join("s.json").to_str().unwrap()]);
    sim.ok(&[
        "rollout",
        "status",
        "deployment/system-mysql",
        "--timeout=120s",
    ]);
    let pod = sim.pod("system-mysql");
    sim.ok(&[
        "exec",
        &pod,
        "--",
        "bash",
        "-c",
        "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot -e 'SELECT 1' system",
    ]);
}

#[test]
fn the_resync_rake_task_is_recorded() {
    let sim = Sim::start();
    let sidekiq = sim.pod("system-sidekiq");
    let out = sim.ok(&[
        "exec",
        &sidekiq,
        "--",
        "bash",
        "-c",
        "bundle exec rake zync:resync:domains",
    ]);
    assert!(out.contains("done"), "{out}");
    let events = sim.sim(&["events"]);
    assert_eq!(
        events
            .lines()
            .filter(|l| l.contains("rake zync:resync:domains"))
            .count(),
        1,
        "{events}"
    );
    let other = sim.kubectl(&[
        "exec",
        &sidekiq,
        "--",
        "bash",
        "-c",
        "bundle exec rake db:drop",
    ]);
    assert!(!other.status.success());
}
