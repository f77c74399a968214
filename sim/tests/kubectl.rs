//! The real kubectl against the simulator: what the 3scale manual's commands need.

mod common;
#[path = "common/ws.rs"]
mod ws;

use std::time::Duration;

use common::shared;
use serde_json::Value;

fn sim() -> &'static common::Sim {
    shared(Some("4MiB"))
}

#[test]
fn get_pods_by_label_as_json_like_the_manual() {
    let out = sim().ok(&["get", "pods", "-l", "deployment=system-mysql", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{out}");
    let pod = &items[0];
    assert!(
        pod["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("system-mysql-")
    );
    assert_eq!(pod["metadata"]["labels"]["deployment"], "system-mysql");
    assert_eq!(pod["status"]["phase"], "Running");
    // Counted by Deployment: a rolling restart another test makes runs two pods of one
    // for a while.
    let all: Value = serde_json::from_str(&sim().ok(&["get", "pods", "-o", "json"])).unwrap();
    let deployments: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["metadata"]["labels"]["deployment"].as_str())
        .collect();
    assert_eq!(
        deployments.len(),
        15,
        "every 3scale 2.15 deployment has a pod: {deployments:?}"
    );
}

#[test]
fn exec_passes_stdin_and_exit_codes() {
    let pod = sim().pod("system-mysql");
    let out = sim().kubectl_stdin(
        &[
            "exec",
            "-i",
            &pod,
            "--",
            "bash",
            "-c",
            "tr a-z A-Z; id -un; exit 7",
        ],
        b"hello pod\n",
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "kubectl exits with the command's code: {out:?}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO POD\nmysql\n");
    let ok = sim().ok(&["exec", &pod, "--", "bash", "-c", "echo $HOME; hostname"]);
    assert_eq!(ok, format!("/var/lib/mysql\n{pod}\n"));
}

#[test]
fn exec_streams_large_output_intact() {
    let pod = sim().pod("zync-database");
    let out = sim().ok(&[
        "exec",
        &pod,
        "--",
        "bash",
        "-c",
        "head -c 30000000 /dev/zero | tr '\\0' x",
    ]);
    assert_eq!(out.len(), 30_000_000);
    assert!(out.bytes().all(|b| b == b'x'));
}

#[test]
fn the_manuals_database_commands_work_in_their_pods() {
    let mysql = sim().pod("system-mysql");
    let rows = sim().ok(&["exec", &mysql, "--", "bash", "-c", "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot system -N -e 'SELECT COUNT(*) FROM accounts'"]);
    assert!(
        rows.trim().parse::<u64>().unwrap() > 0,
        "seeded accounts: {rows}"
    );
    let zync = sim().pod("zync-database");
    let tables = sim().ok(&[
        "exec",
        &zync,
        "--",
        "bash",
        "-c",
        "psql zync_production -tAc 'SELECT count(*) FROM entries'",
    ]);
    assert!(tables.trim().parse::<u64>().unwrap() > 0);
    let redis = sim().pod("backend-redis");
    assert_eq!(
        sim().ok(&[
            "exec",
            &redis,
            "--",
            "bash",
            "-c",
            "cd ${HOME}/data && redis-cli ping"
        ]),
        "PONG\n"
    );
}

#[test]
fn cp_copies_files_and_directories_both_ways() {
    let pod = sim().pod("system-sidekiq");
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), "alpha").unwrap();
    std::fs::write(tree.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    let file = local.path().join("single.txt");
    std::fs::write(&file, "just one").unwrap();

    sim().ok(&[
        "cp",
        file.to_str().unwrap(),
        &format!("{pod}:/opt/system/public/system/cp-test-single.txt"),
    ]);
    sim().ok(&[
        "cp",
        tree.to_str().unwrap(),
        &format!("{pod}:/opt/system/public/system/cp-test-tree"),
    ]);
    // system-app mounts the same volume: what sidekiq wrote, app sees.
    let app = sim().pod("system-app");
    let listing = sim().ok(&[
        "exec",
        &app,
        "--",
        "find",
        "/opt/system/public/system/cp-test-tree",
        "-type",
        "f",
    ]);
    assert!(
        listing.contains("cp-test-tree/a.txt") && listing.contains("cp-test-tree/sub/b.bin"),
        "{listing}"
    );

    let back = local.path().join("back");
    sim().ok(&[
        "cp",
        &format!("{app}:/opt/system/public/system/cp-test-tree"),
        back.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(back.join("a.txt")).unwrap(),
        "alpha"
    );
    assert_eq!(
        std::fs::read(back.join("sub/b.bin")).unwrap(),
        vec![7u8; 100_000]
    );
    let single = local.path().join("single-back.txt");
    sim().ok(&[
        "cp",
        &format!("{app}:/opt/system/public/system/cp-test-single.txt"),
        single.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(single).unwrap(), "just one");
    sim().ok(&[
        "exec",
        &app,
        "--",
        "rm",
        "-rf",
        "/opt/system/public/system/cp-test-tree",
        "/opt/system/public/system/cp-test-single.txt",
    ]);
}

fn replicas(deployment: &str) -> (i64, i64) {
    let d: Value = serde_json::from_str(&sim().ok(&[
        "get",
        &format!("deployment/{deployment}"),
        "-o",
        "json",
    ]))
    .unwrap();
    (
        d["spec"]["replicas"].as_i64().unwrap(),
        d["status"]["availableReplicas"].as_i64().unwrap_or(0),
    )
}

/// Waits until the operator (1 s after a change, by default) has set the deployment's
/// replicas, then for the rollout.
fn operator_sets_replicas(deployment: &str, want: i64) {
    sim().wait_for(30, &format!("{deployment} replicas {want}"), || {
        (replicas(deployment).0 == want).then_some(())
    });
    sim().ok(&[
        "rollout",
        "status",
        &format!("deployment/{deployment}"),
        "--timeout=60s",
    ]);
}

#[test]
fn patching_the_apimanager_drives_replicas_like_the_operator() {
    // The operator's defaults: component specs without replicas.
    let spec = sim().ok(&["get", "APIManager/3scale", "-o", "jsonpath={.spec.zync}"]);
    let recorded: Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(recorded, serde_json::json!({"appSpec": {}, "queSpec": {}}));

    sim().ok(&[
        "patch",
        "APIManager/3scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}}"#,
    ]);
    operator_sets_replicas("zync", 0);
    operator_sets_replicas("zync-que", 0);
    assert_eq!(replicas("zync"), (0, 0));
    assert!(
        sim()
            .ok(&["get", "pods", "-l", "deployment=zync", "-o", "name"])
            .is_empty()
    );

    // A spec with replicas is enforced: a direct scale is put back.
    sim().ok(&["scale", "deployment/zync", "--replicas=1"]);
    operator_sets_replicas("zync", 0);

    // The manual's way back: a JSON patch that replaces the recorded spec. Without
    // replicas the operator leaves the deployments alone, so the manual scales by hand.
    let back = format!(r#"[{{"op": "replace", "path": "/spec/zync", "value": {spec}}}]"#);
    sim().ok(&["patch", "APIManager/3scale", "--type", "json", "-p", &back]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(replicas("zync"), (0, 0), "an empty appSpec scales nothing");
    for deployment in ["deployment/zync", "deployment/zync-que"] {
        sim().ok(&[
            "patch",
            deployment,
            "--type",
            "json",
            "-p",
            r#"[{"op": "replace", "path": "/spec/replicas", "value": 1}]"#,
        ]);
    }
    operator_sets_replicas("zync", 1);
    operator_sets_replicas("zync-que", 1);
    assert_eq!(replicas("zync"), (1, 1));
    assert_eq!(replicas("zync-que"), (1, 1));
}

#[test]
fn rollout_restart_replaces_the_pod_and_status_waits_for_it() {
    let before = sim().pod("system-redis");
    sim().ok(&[
        "exec",
        &before,
        "--",
        "redis-cli",
        "SET",
        "restart-probe",
        "kept",
    ]);
    sim().ok(&["rollout", "restart", "deployment/system-redis"]);
    let status = sim().ok(&[
        "rollout",
        "status",
        "deployment/system-redis",
        "--timeout=120s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let after = sim().pod("system-redis");
    assert_ne!(before, after, "a restart gives a new pod name");
    // The new pod is a real redis that loaded what the old one persisted.
    assert_eq!(
        sim().ok(&["exec", &after, "--", "redis-cli", "GET", "restart-probe"]),
        "kept\n"
    );
    sim().ok(&["exec", &after, "--", "redis-cli", "DEL", "restart-probe"]);
}

/// The operator makes system-app, sidekiq, backend and zync RollingUpdate Deployments with
/// 25% surge and 25% unavailable (system.go:542-553, backend.go:72-83), so a restart of
/// one pod starts the new pod beside the old one and removes the old one only once the
/// new one is available. The databases are Recreate: the old pod goes first.
/// backend-worker is restarted here: the other tests of this file use system-app's pod.
#[test]
fn a_rolling_restart_keeps_a_ready_pod_throughout() {
    let strategy = |d: &str| {
        sim().ok(&[
            "get",
            "deployment",
            d,
            "-o",
            "jsonpath={.spec.strategy.type}",
        ])
    };
    assert_eq!(strategy("system-app"), "RollingUpdate");
    assert_eq!(strategy("backend-worker"), "RollingUpdate");
    assert_eq!(strategy("system-mysql"), "Recreate");
    sim().ok(&[
        "rollout",
        "status",
        "deployment/backend-worker",
        "--timeout=120s",
    ]);
    let before = sim().pod("backend-worker");
    let hash_of = |pod: &str| {
        sim().ok(&[
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.metadata.labels.pod-template-hash}",
        ])
    };
    let old_hash = hash_of(&before);
    sim().ok(&["rollout", "restart", "deployment/backend-worker"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let d: serde_json::Value =
            serde_json::from_str(&sim().ok(&["get", "deployment", "backend-worker", "-o", "json"]))
                .unwrap();
        let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
        assert!(
            ready >= 1,
            "backend-worker had no ready pod during its restart: {}",
            d["status"]
        );
        let done = d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["updatedReplicas"].as_i64() == Some(1)
            && d["status"]["replicas"].as_i64() == Some(1)
            && ready == 1;
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", d["status"]);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let after = sim().pod("backend-worker");
    assert_ne!(after, before);
    // The new pod ran beside the old one: the deployment controller scaled the new
    // ReplicaSet up before it scaled the old one down (its ScalingReplicaSet events, in
    // order; Recreate does it the other way round).
    let events: serde_json::Value =
        serde_json::from_str(&sim().ok(&["get", "events", "-o", "json"])).unwrap();
    let scaling: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["reason"] == "ScalingReplicaSet" && e["involvedObject"]["name"] == "backend-worker"
        })
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    let at = |message: String| {
        scaling
            .iter()
            .rposition(|m| *m == message)
            .unwrap_or_else(|| panic!("no `{message}` in {scaling:#?}"))
    };
    let up = at(format!(
        "Scaled up replica set backend-worker-{} from 0 to 1",
        hash_of(&after)
    ));
    let down = at(format!(
        "Scaled down replica set backend-worker-{old_hash} from 1 to 0"
    ));
    assert!(
        up < down,
        "the new pod never ran beside the old one: {scaling:#?}"
    );
}

#[test]
fn apply_creates_then_updates_a_configmap() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cm.json");
    let cm = |value: &str| {
        format!(
            r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "apply-test"}}, "data": {{"KEY": "{value}"}}}}"#
        )
    };
    std::fs::write(&file, cm("one")).unwrap();
    let created = sim().ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(created.contains("created"), "{created}");
    std::fs::write(&file, cm("two")).unwrap();
    let configured = sim().ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(configured.contains("configured"), "{configured}");
    assert_eq!(
        sim().ok(&[
            "get",
            "configmap",
            "apply-test",
            "-o",
            "jsonpath={.data.KEY}"
        ]),
        "two"
    );
    let unchanged = sim().ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(unchanged.contains("unchanged"), "{unchanged}");
    sim().ok(&["delete", "configmap", "apply-test"]);
    let gone = sim().kubectl(&["get", "configmap", "apply-test"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

#[test]
fn requests_without_the_token_are_refused() {
    let out = sim().kubectl(&["--token", "not-the-token", "get", "pods"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("credentials"),
        "{err}"
    );
}

#[test]
fn the_manuals_backup_commands_produce_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(d)
            .env("KUBECONFIG", &sim().kubeconfig)
            .env("KUBECACHEDIR", d.join(".kube-cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // 9.4.1 .. 9.4.6, with `oc rsh POD CMD` as `kubectl exec POD -- CMD` and `oc rsync` as `kubectl cp`.
    sh(
        "kubectl exec $(kubectl get pods -l 'deployment=system-mysql' -o json | jq -r '.items[0].metadata.name') -- bash -c 'export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysqldump --single-transaction -hsystem-mysql -uroot system' | gzip > system-mysql-backup.gz",
    );
    sh(
        "mkdir -p local/dir && kubectl cp $(kubectl get pods -l 'deployment=system-app' -o json | jq '.items[0].metadata.name' -r):/opt/system/public/system ./local/dir/system",
    );
    sh(
        "kubectl cp $(kubectl get pods -l 'deployment=backend-redis' -o json | jq '.items[0].metadata.name' -r):/var/lib/redis/data/dump.rdb ./backend-redis-dump.rdb",
    );
    sh(
        "kubectl cp $(kubectl get pods -l 'deployment=system-redis' -o json | jq '.items[0].metadata.name' -r):/var/lib/redis/data/dump.rdb ./system-redis-dump.rdb",
    );
    sh(
        "kubectl exec $(kubectl get pods -l 'deployment=zync-database' -o json | jq -r '.items[0].metadata.name') -- bash -c 'pg_dump zync_production' | gzip > zync-database-backup.gz",
    );
    sh(
        "kubectl get configmaps system-environment -o json > system-environment.json; kubectl get configmaps apicast-environment -o json > apicast-environment.json",
    );

    let gunzip = |f: &str| {
        let out = std::process::Command::new("gzip")
            .args(["-dc", f])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(out.status.success(), "{f} is a valid gzip stream");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mysql = gunzip("system-mysql-backup.gz");
    assert!(
        mysql.contains("CREATE TABLE `accounts`") && mysql.contains("INSERT INTO `audits` VALUES"),
        "a SQL dump with the seeded rows"
    );
    let zync = gunzip("zync-database-backup.gz");
    assert!(
        zync.contains("COPY public.entries") && zync.contains("PostgreSQL database dump complete")
    );
    for rdb in ["backend-redis-dump.rdb", "system-redis-dump.rdb"] {
        let check = std::process::Command::new("redis-check-rdb")
            .arg(d.join(rdb))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(
            check.status.success() && text.contains("RDB looks OK"),
            "{rdb}: {text}"
        );
    }
    let files = walkdir(&d.join("local/dir/system"));
    assert!(files > 10, "the storage tree was copied ({files} files)");
    let cm: Value =
        serde_json::from_slice(&std::fs::read(d.join("system-environment.json")).unwrap()).unwrap();
    // system.go EnvironmentConfigMap: no AMP_RELEASE in 2.15.
    assert_eq!(cm["data"]["RAILS_ENV"], "production");
    assert!(cm["data"].get("AMP_RELEASE").is_none(), "{cm}");
}

fn walkdir(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walkdir(&p) } else { 1 })
        .sum()
}

fn pod_json(deployment: &str) -> Value {
    let name = sim().pod(deployment);
    serde_json::from_str(&sim().ok(&["get", "pod", &name, "-o", "json"])).unwrap()
}

#[test]
fn system_app_runs_the_operators_three_containers() {
    let pod = pod_json("system-app");
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["system-master", "system-provider", "system-developer"]
    );
    // The operator sets no default-container annotation: kubectl picks the first and says so.
    assert!(
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].is_null(),
        "{}",
        pod["metadata"]
    );
    let statuses = pod["status"]["containerStatuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 3);
    for s in statuses {
        for field in ["image", "imageID", "name", "ready", "restartCount"] {
            assert!(!s[field].is_null(), "containerStatuses lacks {field}: {s}");
        }
        assert_eq!(s["ready"], true);
        assert!(s["imageID"].as_str().unwrap().contains("@sha256:"), "{s}");
    }
    let name = pod["metadata"]["name"].as_str().unwrap();
    let out = sim().kubectl(&["exec", name, "--", "hostname"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "Defaulted container \"system-master\" out of: system-master, system-provider, system-developer"
        ),
        "{out:?}"
    );
}

#[test]
fn exec_without_a_container_on_system_app_is_the_api_servers_400() {
    let app = sim().pod("system-app");
    // kubectl sends no container with --raw; the API server checks the container before
    // any upgrade, so a plain GET gets the same answer as a WebSocket or SPDY request.
    let out = sim().kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/3scale/pods/{app}/exec?command=true&stdout=true"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Error from server (BadRequest): a container name must be specified for pod {app}, choose one of: [system-master system-provider system-developer]"
        )),
        "{err}"
    );
    // attach goes through the same check (strategy.go `AttachLocation` → `streamLocation`).
    let attach = sim().kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/3scale/pods/{app}/attach?stdout=true"),
    ]);
    assert!(
        String::from_utf8_lossy(&attach.stderr).contains(&format!(
            "a container name must be specified for pod {app}, choose one of: [system-master system-provider system-developer]"
        )),
        "{attach:?}"
    );
    let wrong = sim().kubectl(&["exec", &app, "-c", "system-app", "--", "true"]);
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains(&format!("container system-app is not valid for pod {app}")),
        "{wrong:?}"
    );
    // A single-container pod still defaults: the container check passes and only the
    // missing upgrade is left to refuse.
    let redis = sim().pod("system-redis");
    let plain = sim().kubectl(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/3scale/pods/{redis}/exec?command=true&stdout=true"),
    ]);
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("Upgrade request required"),
        "{plain:?}"
    );
}

#[tokio::test]
async fn exec_without_a_container_over_websocket_is_refused_before_the_upgrade() {
    let app = sim().pod("system-app");
    let path = ws::exec_path(&app, None, &["true"], false);
    let refused = ws::open(&sim().dir, &path, "v5.channel.k8s.io,v4.channel.k8s.io").await;
    let (code, body) = refused.err().expect("refused");
    assert_eq!(code, 400);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(
        status["message"],
        format!(
            "a container name must be specified for pod {app}, choose one of: [system-master system-provider system-developer]"
        )
    );
}

#[test]
fn system_developer_sees_the_storage_read_only_master_and_provider_share_it() {
    let app = sim().pod("system-app");
    let file = "/opt/system/public/system/shared-by-containers.txt";
    sim().ok(&[
        "exec",
        &app,
        "-c",
        "system-master",
        "--",
        "sh",
        "-c",
        &format!("echo from master > {file}"),
    ]);
    assert_eq!(
        sim().ok(&["exec", &app, "-c", "system-provider", "--", "cat", file]),
        "from master\n"
    );
    assert_eq!(
        sim().ok(&["exec", &app, "-c", "system-developer", "--", "cat", file]),
        "from master\n"
    );
    let denied = sim().kubectl(&[
        "exec",
        &app,
        "-c",
        "system-developer",
        "--",
        "touch",
        "/opt/system/public/system/x",
    ]);
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Read-only file system"),
        "{denied:?}"
    );
    sim().ok(&["exec", &app, "-c", "system-provider", "--", "rm", file]);
}

#[test]
fn sidekiq_shows_its_completed_init_container() {
    let pod = pod_json("system-sidekiq");
    assert_eq!(pod["spec"]["initContainers"][0]["name"], "check-svc");
    let init = &pod["status"]["initContainerStatuses"][0];
    assert_eq!(init["name"], "check-svc");
    assert_eq!(init["state"]["terminated"]["reason"], "Completed");
    assert_eq!(init["state"]["terminated"]["exitCode"], 0);
    assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 1);
}

#[test]
fn the_namespace_has_the_operators_services_and_claims() {
    let list: Value = serde_json::from_str(&sim().ok(&["get", "svc,pvc", "-o", "json"])).unwrap();
    let names = |kind: &str| -> Vec<String> {
        let mut n: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == kind)
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names("Service"),
        [
            "apicast-production",
            "apicast-staging",
            "backend-listener",
            "backend-redis",
            "system-developer",
            "system-master",
            "system-memcache",
            "system-mysql",
            "system-provider",
            "system-redis",
            "system-searchd",
            "zync",
            "zync-database"
        ]
    );
    assert_eq!(
        names("PersistentVolumeClaim"),
        [
            "backend-redis-storage",
            "mysql-storage",
            "system-redis-storage",
            "system-searchd-manticore",
            "system-storage"
        ]
    );
    let storage: Value =
        serde_json::from_str(&sim().ok(&["get", "pvc", "system-storage", "-o", "json"])).unwrap();
    assert_eq!(storage["spec"]["accessModes"][0], "ReadWriteMany");
    assert_eq!(storage["status"]["phase"], "Bound");
    // The class the APIManager's fileStorage names.
    assert_eq!(storage["spec"]["storageClassName"], "nfs");
    let master: Value =
        serde_json::from_str(&sim().ok(&["get", "svc", "system-master", "-o", "json"])).unwrap();
    assert_eq!(master["spec"]["selector"]["deployment"], "system-app");
    assert_eq!(master["spec"]["ports"][0]["targetPort"], "master");
    assert_eq!(
        master["metadata"]["ownerReferences"][0]["kind"],
        "APIManager"
    );
    // ServiceSelectorMutator puts an edited selector back at the operator's next reconcile
    // (Services are not watched: a change to the APIManager brings one).
    sim().ok(&[
        "patch",
        "svc",
        "system-master",
        "-p",
        r#"{"spec": {"selector": {"deployment": "elsewhere"}}}"#,
    ]);
    sim().ok(&[
        "annotate",
        "--overwrite",
        "apimanager",
        "3scale",
        "sim.example/nudge=services",
    ]);
    sim().wait_for(20, "the selector put back", || {
        let svc: Value =
            serde_json::from_str(&sim().ok(&["get", "svc", "system-master", "-o", "json"])).ok()?;
        (svc["spec"]["selector"]["deployment"] == "system-app").then_some(())
    });
    let resources = sim().ok(&["api-resources", "--no-headers", "-o", "name"]);
    for r in ["services", "persistentvolumeclaims", "namespaces"] {
        assert!(resources.lines().any(|l| l == r), "{resources}");
    }
}

#[tokio::test]
async fn stdin_arrives_in_text_and_binary_frames_and_v5_closes_it() {
    let pod = sim().pod("system-redis");
    let path = ws::exec_path(&pod, None, &["cat"], true);
    let mut exec = ws::open(&sim().dir, &path, "v5.channel.k8s.io,v4.channel.k8s.io")
        .await
        .unwrap();
    assert_eq!(exec.protocol.as_deref(), Some("v5.channel.k8s.io"));
    exec.stdin_text("a str from Python\n").await;
    exec.stdin(b"then bytes\n").await;
    exec.close_stdin().await;
    let got = exec.receive(Duration::from_secs(10)).await;
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        "a str from Python\nthen bytes\n"
    );
    assert_eq!(got.status.expect("a status")["status"], "Success");
    assert!(got.closed);
}

#[test]
fn kubectl_execs_over_spdy_too() {
    let pod = sim().pod("system-mysql");
    let out = sim()
        .kubectl_cmd(&["exec", "-i", &pod, "--", "bash", "-c", "tr a-z A-Z; exit 6"])
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"spdy\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SPDY\n");
}

/// A program the container does not have never starts: the runtime fails the exec, and
/// the API server answers with its internal error, not an exit code from a shell.
#[test]
fn exec_of_a_program_the_container_lacks_is_the_runtimes_error() {
    let pod = sim().pod("system-mysql");
    let out = sim().kubectl(&["exec", &pod, "--", "no-such-program", "--version"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{stderr}"
    );
    // A path that is not there either; a program that is, by name and by path, still runs.
    let out = sim().kubectl(&["exec", &pod, "--", "/usr/bin/no-such-program"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "exec: \"/usr/bin/no-such-program\": stat /usr/bin/no-such-program: no such file or directory"
        ),
        "{out:?}"
    );
    assert_eq!(
        sim().ok(&["exec", &pod, "--", "/bin/echo", "here"]),
        "here\n"
    );
    assert_eq!(sim().ok(&["exec", &pod, "--", "echo", "here"]), "here\n");
}
