//! The 3scale operator and kube-controller-manager as the simulator runs them, seen
//! through the real kubectl: the APIManager's defaults, the operator's delay, the
//! system-app-pre Job that holds system-app, redis-config rollouts, ReplicaSets and
//! Events, `--empty` installs, and the zync role's access to its data.

mod common;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Sim;
use serde_json::{Value, json};

/// Shared by the tests that leave the namespace as they found it.
fn sim() -> &'static Sim {
    common::shared_with(
        Some("2MiB"),
        &[
            "--operator-delay",
            "1",
            "--deploy-job-seconds",
            "2",
            "--job-backoff-seconds",
            "0.3",
        ],
    )
}

fn decode(secret: &Value, key: &str) -> String {
    use base64::Engine;
    let raw = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {secret}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .unwrap(),
    )
    .unwrap()
}

fn has_condition(object: &Value, kind: &str) -> bool {
    object["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn generation(sim: &Sim, deployment: &str) -> i64 {
    sim.json("deployment", deployment)["metadata"]["generation"]
        .as_i64()
        .unwrap()
}

fn spec_replicas(sim: &Sim, deployment: &str) -> i64 {
    sim.json("deployment", deployment)["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

/// The pre Job the operator made for system-app's current generation, once it exists.
fn pre_job_for(sim: &Sim, generation: i64) -> Value {
    sim.wait_for(
        60,
        &format!("system-app-pre for generation {generation}"),
        || {
            let out = sim.kubectl(&["get", "job", "system-app-pre", "-o", "json"]);
            let job: Value = serde_json::from_slice(&out.stdout).ok()?;
            let tracked =
                job["metadata"]["annotations"]["system-app-deployment-generation"].as_str();
            (tracked == Some(generation.to_string().as_str())).then_some(job)
        },
    )
}

fn job_pods(sim: &Sim) -> Vec<Value> {
    let list: Value = serde_json::from_str(&sim.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=system-app-pre",
        "-o",
        "json",
    ]))
    .unwrap();
    list["items"].as_array().unwrap().clone()
}

#[test]
fn the_namespace_is_what_the_operator_makes_of_a_default_apimanager() {
    let sim = sim();
    let am = sim.json("apimanager", "3scale");
    assert_eq!(am["spec"]["system"]["appSpec"], json!({}), "{am}");
    assert_eq!(am["spec"]["zync"], json!({"appSpec": {}, "queSpec": {}}));
    assert_eq!(
        am["spec"]["backend"],
        json!({"cronSpec": {}, "listenerSpec": {}, "workerSpec": {}})
    );
    assert_eq!(
        am["metadata"]["annotations"]["apps.3scale.net/apimanager-threescale-version"],
        "2.15.5"
    );
    sim.wait_for(60, "APIManager Available", || {
        has_condition(&sim.json("apimanager", "3scale"), "Available").then_some(())
    });
    let deployments: Value =
        serde_json::from_str(&sim.ok(&["get", "deployments", "-o", "json"])).unwrap();
    for d in deployments["items"].as_array().unwrap() {
        let owner = &d["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "APIManager", "{d}");
        assert_eq!(owner["uid"], am["metadata"]["uid"]);
        assert_eq!(owner["controller"], true);
    }

    let redis = sim.json("secret", "system-redis");
    assert!(redis["data"].get("NAMESPACE").is_none(), "{redis}");
    assert_eq!(decode(&redis, "URL"), "redis://system-redis:6379/1");
    let zync = sim.json("secret", "zync");
    assert!(decode(&zync, "DATABASE_URL").contains(&decode(&zync, "ZYNC_DATABASE_PASSWORD")));
    // system-mysql's root password is the one in the system-database URL, not DB_PASSWORD.
    let database = sim.json("secret", "system-database");
    let mysql = sim.pod("system-mysql");
    let root = sim.ok(&["exec", &mysql, "--", "printenv", "MYSQL_ROOT_PASSWORD"]);
    assert!(decode(&database, "URL").contains(&format!("root:{}@", root.trim())));
    assert_ne!(root.trim(), decode(&database, "DB_PASSWORD"));
    // ... written into the Deployment as a literal, as the operator builds it.
    let d = sim.json("deployment", "system-mysql");
    let env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap();
    let literal = env
        .iter()
        .find(|e| e["name"] == "MYSQL_ROOT_PASSWORD")
        .unwrap();
    assert_eq!(literal["value"], root.trim(), "{literal}");

    let env = sim.json("configmap", "system-environment");
    assert!(env["data"].get("AMP_RELEASE").is_none(), "{env}");
    assert_eq!(env["data"]["THREESCALE_SUPERDOMAIN"], "apps.example.com");
    let apicast = sim.json("configmap", "apicast-environment");
    assert_eq!(apicast["data"]["APICAST_MANAGEMENT_API"], "status");
    let conf = sim.json("configmap", "redis-config")["data"]["redis.conf"].clone();
    let conf = conf.as_str().unwrap();
    assert!(
        conf.contains("rename-command REPLICAOF \"\"")
            && conf.contains("rename-command SLAVEOF \"\"")
    );

    let job = sim.json("job", "system-app-pre");
    assert!(has_condition(&job, "Complete"), "{job}");
    assert_eq!(
        job["metadata"]["annotations"]["system-app-deployment-generation"],
        generation(sim, "system-app").to_string()
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["bash", "-c", "bundle exec rake boot openshift:deploy"])
    );
}

#[test]
fn the_operator_acts_after_its_delay_and_holds_system_app_until_the_pre_job_completed() {
    let sim = Sim::start_with(&[
        "--operator-delay",
        "2",
        "--deploy-job-seconds",
        "5",
        "--job-backoff-seconds",
        "0.3",
    ]);
    sim.sim(&["seed", "--size", "1MiB"]);
    let started = Instant::now();
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"system":{"appSpec":{"replicas":0}}}}"#,
    ]);
    let right_after = spec_replicas(&sim, "system-app");
    if started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(right_after, 1, "the operator has not reconciled yet");
    }
    sim.wait_for(30, "system-app scaled to 0", || {
        (spec_replicas(&sim, "system-app") == 0).then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the operator's delay"
    );

    // The scale-down changed system-app's generation: the pre Job is made again for it.
    let generation_now = generation(&sim, "system-app");
    let job = pre_job_for(&sim, generation_now);
    assert!(!has_condition(&job, "Complete"), "a new run: {job}");
    // Putting the replicas back while it runs: the operator holds system-app.
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"system":{"appSpec":{"replicas":1}}}}"#,
    ]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!has_condition(
        &sim.json("job", "system-app-pre"),
        "Complete"
    ));
    assert_eq!(
        spec_replicas(&sim, "system-app"),
        0,
        "held by the running pre Job"
    );
    assert!(
        sim.sim(&["events"])
            .contains("system-app replicas 1 held: job system-app-pre")
    );

    sim.ok(&[
        "wait",
        "--for=condition=complete",
        "job/system-app-pre",
        "--timeout=60s",
    ]);
    // The Job's pod, as the job controller makes it.
    let pods = job_pods(&sim);
    let job = sim.json("job", "system-app-pre");
    let pod = pods
        .iter()
        .find(|p| p["status"]["phase"] == "Succeeded")
        .unwrap_or_else(|| panic!("a succeeded pod: {pods:?}"));
    assert!(
        pod["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("system-app-pre-")
    );
    assert_eq!(
        pod["metadata"]["labels"]["controller-uid"],
        job["metadata"]["uid"]
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(job["status"]["succeeded"], 1);
    assert!(job["status"]["completionTime"].is_string());
    let log = sim.ok(&["logs", "job/system-app-pre"]);
    assert!(
        log.contains("db:migrate: reading 7 tables of system"),
        "{log}"
    );

    // The operator does not watch Jobs, and the reconcile that found it running asked
    // for a requeue that reconcileAPIManagerLogic drops: system-app waits for the next
    // event the operator sees.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(spec_replicas(&sim, "system-app"), 0);
    sim.ok(&["annotate", "apimanager", "3scale", "example.com/nudge=1"]);
    sim.wait_for(30, "system-app back to 1", || {
        (spec_replicas(&sim, "system-app") == 1).then_some(())
    });
    sim.ok(&[
        "rollout",
        "status",
        "deployment/system-app",
        "--timeout=60s",
    ]);

    // A dump loaded while the pre Job reads the database fails that run.
    let mysql = sim.pod("system-mysql");
    let dump = sim.ok(&[
        "exec",
        &mysql,
        "--",
        "bash",
        "-c",
        "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysqldump --single-transaction -hsystem-mysql -uroot system",
    ]);
    let generation_now = generation(&sim, "system-app");
    pre_job_for(&sim, generation_now);
    sim.ok(&[
        "wait",
        "--for=condition=complete",
        "job/system-app-pre",
        "--timeout=60s",
    ]);
    sim.ok(&["rollout", "restart", "deployment/system-app"]);
    let job = pre_job_for(&sim, generation_now + 1);
    let reading = sim.wait_for(30, "the pre Job reading the database", || {
        job_pods(&sim).into_iter().find_map(|p| {
            let name = p["metadata"]["name"].as_str()?.to_string();
            let log = sim.kubectl(&["logs", &name]);
            String::from_utf8_lossy(&log.stdout)
                .contains("db:migrate: reading")
                .then_some(name)
        })
    });
    let load = sim.kubectl_stdin(
        &[
            "exec",
            "-i",
            &mysql,
            "--",
            "bash",
            "-c",
            "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot system",
        ],
        dump.as_bytes(),
    );
    assert!(load.status.success(), "{load:?}");
    sim.wait_for(30, "the pre Job's pod failing", || {
        let now = sim.json("job", "system-app-pre");
        (now["metadata"]["uid"] == job["metadata"]["uid"]
            && now["status"]["failed"].as_i64() >= Some(1))
        .then_some(())
    });
    let log = String::from_utf8_lossy(&sim.kubectl(&["logs", &reading]).stdout).into_owned();
    assert!(
        log.contains("rake aborted!")
            && (log.contains("Table definition has changed") || log.contains("doesn't exist")),
        "{log}"
    );
    let events = sim.sim(&["events"]);
    assert!(
        events.contains(&format!("job/system-app-pre: pod {reading} failed")),
        "{events}"
    );
    // Once the load is over, the next pod of the Job gets through.
    sim.ok(&[
        "wait",
        "--for=condition=complete",
        "job/system-app-pre",
        "--timeout=60s",
    ]);
}

#[test]
fn a_pre_job_that_cannot_reach_mysql_fails_after_its_backoff_limit_and_blocks_system_app() {
    let sim = Sim::start_with(&[
        "--operator-delay",
        "0.5",
        "--deploy-job-seconds",
        "1",
        "--job-backoff-seconds",
        "0.1",
    ]);
    sim.ok(&["scale", "deployment/system-mysql", "--replicas=0"]);
    sim.ok(&[
        "rollout",
        "status",
        "deployment/system-mysql",
        "--timeout=60s",
    ]);
    sim.ok(&["rollout", "restart", "deployment/system-app"]);
    let generation_now = generation(&sim, "system-app");
    pre_job_for(&sim, generation_now);
    let job = sim.wait_for(90, "the pre Job failing", || {
        let job = sim.json("job", "system-app-pre");
        has_condition(&job, "Failed").then_some(job)
    });
    assert_eq!(
        job["status"]["failed"], 7,
        "backoffLimit 6, then one more: {job}"
    );
    let failed = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap()
        .clone();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    let wait = sim.kubectl(&[
        "wait",
        "--for=condition=complete",
        "job/system-app-pre",
        "--timeout=1s",
    ]);
    assert!(!wait.status.success());
    let events: Value = serde_json::from_str(&sim.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Job,involvedObject.name=system-app-pre",
        "-o",
        "json",
    ]))
    .unwrap();
    let reasons: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"BackoffLimitExceeded") && reasons.contains(&"SuccessfulCreate"),
        "{reasons:?}"
    );
    let log = sim.ok(&["logs", "job/system-app-pre"]);
    assert!(
        log.contains("Can't connect to server on 'system-mysql'"),
        "{log}"
    );
    assert!(
        sim.sim(&["events"])
            .contains("Can't connect to server on 'system-mysql'")
    );

    // A failed pre Job never completes: the operator will neither scale system-app nor
    // delete the Job for a new generation (helper.DeleteJob refuses).
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"system":{"appSpec":{"replicas":0}}}}"#,
    ]);
    sim.ok(&["rollout", "restart", "deployment/system-app"]);
    sim.wait_for(30, "the operator refusing to delete the failed Job", || {
        sim.sim(&["events"])
            .contains("won't delete job system-app-pre because it's still running")
            .then_some(())
    });
    assert_eq!(spec_replicas(&sim, "system-app"), 1);
}

#[test]
fn editing_redis_config_rolls_both_redis_deployments_after_the_operator_delay() {
    let sim = sim();
    let before: Vec<String> = ["system-redis", "backend-redis"]
        .map(|d| sim.pod(d))
        .to_vec();
    let annotation = |d: &str| {
        sim.json("deployment", d)["spec"]["template"]["metadata"]["annotations"]
            ["redisConfigMapResourceVersion"]
            .clone()
    };
    // Before the edit, both carry the ConfigMap's current version (a freshly started
    // shared simulator may not have had its first reconcile yet).
    let old = sim.wait_for(
        30,
        "both redis annotated with redis-config's version",
        || {
            let rv = sim.json("configmap", "redis-config")["metadata"]["resourceVersion"].clone();
            (annotation("system-redis") == rv && annotation("backend-redis") == rv).then_some(rv)
        },
    );
    let mut cm = sim.json("configmap", "redis-config");
    let conf = cm["data"]["redis.conf"].as_str().unwrap().to_string();
    // The manual's edit, plus one the operator reverts: it re-adds rename-command lines.
    let edited = conf
        .replace("appendonly yes", "appendonly no")
        .replace("rename-command SLAVEOF \"\"\n", "");
    cm["data"]["redis.conf"] = json!(edited);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cm.json");
    std::fs::write(&file, cm.to_string()).unwrap();
    sim.ok(&["replace", "-f", file.to_str().unwrap()]);
    let rv = sim.wait_for(30, "the operator annotating both redis deployments", || {
        let rv = sim.json("configmap", "redis-config")["metadata"]["resourceVersion"].clone();
        (annotation("system-redis") == rv && annotation("backend-redis") == rv).then_some(rv)
    });
    assert_ne!(rv, old);
    let conf = sim.json("configmap", "redis-config")["data"]["redis.conf"].clone();
    assert!(
        conf.as_str().unwrap().contains("appendonly no"),
        "the edit stays"
    );
    assert!(
        conf.as_str()
            .unwrap()
            .contains("rename-command SLAVEOF \"\""),
        "re-added"
    );
    for (d, old_pod) in ["system-redis", "backend-redis"].iter().zip(&before) {
        sim.ok(&[
            "rollout",
            "status",
            &format!("deployment/{d}"),
            "--timeout=120s",
        ]);
        let pod = sim.pod(d);
        assert_ne!(&pod, old_pod, "{d} rolled");
        assert_eq!(
            sim.ok(&[
                "exec",
                &pod,
                "--",
                "redis-cli",
                "CONFIG",
                "GET",
                "appendonly"
            ]),
            "appendonly\nno\n"
        );
    }
    // Back as it was, for the other tests; that rolls both again.
    let mut cm = sim.json("configmap", "redis-config");
    cm["data"]["redis.conf"] = json!(
        conf.as_str()
            .unwrap()
            .replace("appendonly no", "appendonly yes")
    );
    std::fs::write(&file, cm.to_string()).unwrap();
    sim.ok(&["replace", "-f", file.to_str().unwrap()]);
    sim.wait_for(30, "the rollback annotated", || {
        let rv = sim.json("configmap", "redis-config")["metadata"]["resourceVersion"].clone();
        (annotation("system-redis") == rv && annotation("backend-redis") == rv).then_some(())
    });
    for d in ["system-redis", "backend-redis"] {
        sim.ok(&[
            "rollout",
            "status",
            &format!("deployment/{d}"),
            "--timeout=120s",
        ]);
    }
}

#[test]
fn rollouts_go_through_replica_sets_and_generations_with_events() {
    let sim = sim();
    let d = "system-searchd";
    let g0 = generation(sim, d);
    let mut watcher = sim
        .kubectl_cmd(&[
            "get",
            &format!("deployment/{d}"),
            "-w",
            "-o",
            "jsonpath={.metadata.generation}/{.status.observedGeneration}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(500));
    sim.ok(&[
        "annotate",
        "deployment",
        d,
        "example.com/note=metadata-only",
    ]);
    assert_eq!(
        generation(sim, d),
        g0,
        "metadata does not move the generation"
    );
    let old_pod = sim.pod(d);
    sim.ok(&["rollout", "restart", &format!("deployment/{d}")]);
    assert_eq!(generation(sim, d), g0 + 1, "a spec change does");
    sim.ok(&[
        "rollout",
        "status",
        &format!("deployment/{d}"),
        "--timeout=120s",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = watcher.kill();
    let _ = watcher.wait();
    let lines = lines.join().unwrap();
    let seen = |l: String| lines.iter().position(|x| *x == l);
    let unobserved = seen(format!("{}/{}", g0 + 1, g0))
        .unwrap_or_else(|| panic!("the new generation before the controller saw it: {lines:?}"));
    let observed = seen(format!("{}/{}", g0 + 1, g0 + 1)).expect("then observed");
    assert!(unobserved < observed, "{lines:?}");

    let deployment = sim.json("deployment", d);
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let sets: Value = serde_json::from_str(&sim.ok(&[
        "get",
        "rs",
        "-l",
        &format!("deployment={d}"),
        "-o",
        "json",
    ]))
    .unwrap();
    let sets = sets["items"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "one ReplicaSet per pod template: {sets:?}");
    let new = sets
        .iter()
        .find(|rs| rs["spec"]["replicas"] == 1)
        .expect("the new one");
    let old = sets
        .iter()
        .find(|rs| rs["spec"]["replicas"] == 0)
        .expect("the old one");
    for rs in [new, old] {
        let hash = rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap();
        assert_eq!(rs["metadata"]["name"], format!("{d}-{hash}"));
        assert_eq!(
            rs["metadata"]["ownerReferences"][0]["uid"],
            deployment["metadata"]["uid"]
        );
    }
    assert_eq!(new["status"]["readyReplicas"], 1);
    let pod = sim.json("pod", &sim.pod(d));
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["uid"],
        new["metadata"]["uid"]
    );
    assert_eq!(
        pod["metadata"]["labels"]["pod-template-hash"],
        new["metadata"]["labels"]["pod-template-hash"]
    );

    let reasons = |kind: &str, name: &str| -> Vec<String> {
        let events: Value = serde_json::from_str(&sim.ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.kind={kind},involvedObject.name={name}"),
            "-o",
            "json",
        ]))
        .unwrap();
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["reason"].as_str().unwrap(),
                    e["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    let scaling = reasons("Deployment", d);
    let old_name = old["metadata"]["name"].as_str().unwrap();
    let new_name = new["metadata"]["name"].as_str().unwrap();
    assert!(
        scaling.contains(&format!(
            "ScalingReplicaSet Scaled down replica set {old_name} from 1 to 0"
        )),
        "{scaling:?}"
    );
    assert!(
        scaling.contains(&format!(
            "ScalingReplicaSet Scaled up replica set {new_name} from 0 to 1"
        )),
        "{scaling:?}"
    );
    assert!(
        reasons("ReplicaSet", new_name)
            .iter()
            .any(|r| r.starts_with("SuccessfulCreate Created pod: "))
    );
    assert!(
        reasons("ReplicaSet", old_name)
            .iter()
            .any(|r| r == &format!("SuccessfulDelete Deleted pod: {old_pod}"))
    );
    let pod_events = reasons("Pod", pod["metadata"]["name"].as_str().unwrap());
    for reason in ["Scheduled", "Pulled", "Created", "Started"] {
        assert!(
            pod_events.iter().any(|e| e.starts_with(reason)),
            "{reason}: {pod_events:?}"
        );
    }
    assert!(
        reasons("Pod", &old_pod)
            .iter()
            .any(|e| e.starts_with("Killing"))
    );
    let described = sim.ok(&["describe", "deployment", d]);
    for part in [
        "NewReplicaSet:",
        "OldReplicaSets:",
        "ScalingReplicaSet",
        new_name,
    ] {
        assert!(described.contains(part), "{part}: {described}");
    }
    assert!(sim.ok(&["get", "rs"]).contains(new_name));
}

#[test]
fn an_empty_namespace_gets_3scale_from_an_applied_apimanager_and_keeps_restored_secrets() {
    // The pre Job retries until a new MySQL accepts connections; a backoff of 3 s, doubled
    // per failure up to its limit of 6, gives it over three minutes (the real default of
    // 10 s gives ten), enough on a loaded CI.
    let sim = Sim::start_with(&[
        "--empty",
        "--operator-delay",
        "0.5",
        "--deploy-job-seconds",
        "1",
        "--job-backoff-seconds",
        "3",
    ]);
    for kind in [
        "deployments",
        "pods",
        "secrets",
        "configmaps",
        "apimanagers",
        "services",
        "persistentvolumeclaims",
    ] {
        assert_eq!(
            sim.ok(&["get", kind, "-o", "name"]),
            "",
            "{kind}: nothing yet"
        );
    }
    // 9.5.1: the secrets first, then the APIManager.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("seed.json");
    std::fs::write(
        &secret,
        r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "system-seed"},
            "stringData": {"MASTER_PASSWORD": "restored-master", "ADMIN_PASSWORD": "restored-admin"}}"#,
    )
    .unwrap();
    sim.ok(&["apply", "-f", secret.to_str().unwrap()]);
    let apimanager = dir.path().join("apimanager.json");
    std::fs::write(
        &apimanager,
        r#"{"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
            "metadata": {"name": "3scale"}, "spec": {"wildcardDomain": "example.test"}}"#,
    )
    .unwrap();
    sim.ok(&["apply", "-f", apimanager.to_str().unwrap()]);
    let mut waiting_for = String::new();
    let applied = std::time::Instant::now();
    let mut last_poke = std::time::Instant::now();
    let mut pokes = 0;
    // The longest wait of the suite: a whole install from nothing, MySQL initialised first.
    sim.wait_for(300, "every deployment available", || {
        let list: Value =
            serde_json::from_str(&sim.ok(&["get", "deployments,pods", "-o", "json"])).ok()?;
        let items = list["items"].as_array()?;
        let deployments: Vec<&Value> = items.iter().filter(|o| o["kind"] == "Deployment").collect();
        let unavailable: Vec<&str> = deployments
            .iter()
            .filter(|d| d["status"]["availableReplicas"] != 1)
            .filter_map(|d| d["metadata"]["name"].as_str())
            .collect();
        // Where each unavailable deployment's pods are: phase, waiting reason, restarts.
        let pods: Vec<String> = items
            .iter()
            .filter(|o| o["kind"] == "Pod")
            .filter(|p| {
                unavailable
                    .iter()
                    .any(|d| p["metadata"]["labels"]["deployment"] == *d)
            })
            .map(|p| {
                let status = &p["status"]["containerStatuses"][0];
                format!(
                    "{} {} {} restarts={}",
                    p["metadata"]["name"].as_str().unwrap_or("?"),
                    p["status"]["phase"].as_str().unwrap_or("?"),
                    status["state"]["waiting"]["reason"].as_str().unwrap_or(""),
                    status["restartCount"]
                )
            })
            .collect();
        let now = format!(
            "{} deployments, unavailable: {unavailable:?}, their pods: {pods:?}",
            deployments.len()
        );
        if now != waiting_for {
            // Shown only when the test fails: which deployment the install was stuck on,
            // since when, and in what state its pods were.
            eprintln!("{:>5.1}s {now}", applied.elapsed().as_secs_f64());
            waiting_for = now;
        }
        // Everything but system-app is up and the pre Job is done, yet the operator may
        // not look again: it watches no Jobs (apimanager_controller.go:365-385), drops
        // the system reconciler's RequeueAfter, and its status requeue is rate-limited
        // (up to 1000 s after the install's many requeues). A person then pokes it, as
        // the plugins do (an annotation on the APIManager); so does the test, every 20 s.
        let job_done = sim
            .kubectl(&[
                "get",
                "job",
                "system-app-pre",
                "-o",
                "jsonpath={.status.succeeded}",
            ])
            .stdout
            == b"1";
        if deployments.len() == 14
            && unavailable.is_empty()
            && job_done
            && last_poke.elapsed() > Duration::from_secs(20)
        {
            pokes += 1;
            eprintln!("{:>5.1}s poke {pokes}", applied.elapsed().as_secs_f64());
            sim.ok(&[
                "annotate",
                "apimanager",
                "3scale",
                "--overwrite",
                &format!("test.sim/poke={pokes}"),
            ]);
            last_poke = std::time::Instant::now();
        }
        (deployments.len() == 15 && unavailable.is_empty()).then_some(())
    });
    // The operator's Services and claims come with the install, owned by the APIManager;
    // the claims bound, system-storage in the default class (the spec names none).
    let uid = sim.json("apimanager", "3scale")["metadata"]["uid"].clone();
    let services: Value =
        serde_json::from_str(&sim.ok(&["get", "services", "-o", "json"])).unwrap();
    let services = services["items"].as_array().unwrap();
    assert_eq!(services.len(), 13, "{services:?}");
    assert!(
        services
            .iter()
            .all(|s| s["metadata"]["ownerReferences"][0]["uid"] == uid)
    );
    let claims: Value = serde_json::from_str(&sim.ok(&["get", "pvc", "-o", "json"])).unwrap();
    let claims = claims["items"].as_array().unwrap();
    assert_eq!(claims.len(), 5, "{claims:?}");
    assert!(
        claims.iter().all(|c| c["status"]["phase"] == "Bound"),
        "{claims:?}"
    );
    let storage = sim.json("pvc", "system-storage");
    assert_eq!(storage["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert_eq!(storage["spec"]["storageClassName"], "standard");
    let seed = sim.json("secret", "system-seed");
    assert_eq!(decode(&seed, "MASTER_PASSWORD"), "restored-master", "kept");
    assert_eq!(decode(&seed, "ADMIN_PASSWORD"), "restored-admin");
    assert_eq!(
        decode(&seed, "ADMIN_ACCESS_TOKEN").len(),
        16,
        "missing keys added"
    );
    assert_eq!(decode(&seed, "TENANT_NAME"), "3scale");
    let app = sim.json("secret", "system-app");
    assert_eq!(decode(&app, "SECRET_KEY_BASE").len(), 128, "generated");
    let listener = sim.json("secret", "backend-listener");
    assert_eq!(
        decode(&listener, "route_endpoint"),
        "https://backend-3scale.example.test"
    );
    assert!(has_condition(
        &sim.json("job", "system-app-pre"),
        "Complete"
    ));
    let mysql = sim.pod("system-mysql");
    sim.ok(&[
        "exec",
        &mysql,
        "--",
        "bash",
        "-c",
        "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot -e 'SELECT 1' system",
    ]);
    let rv = sim.json("configmap", "redis-config")["metadata"]["resourceVersion"].clone();
    assert_eq!(
        sim.json("deployment", "backend-redis")["spec"]["template"]["metadata"]["annotations"]["redisConfigMapResourceVersion"],
        rv
    );
    sim.wait_for(60, "APIManager Available", || {
        has_condition(&sim.json("apimanager", "3scale"), "Available").then_some(())
    });
    let am = sim.json("apimanager", "3scale");
    assert_eq!(am["spec"]["system"]["appSpec"], json!({}));
    assert_eq!(
        am["status"]["deployments"]["ready"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
}

/// `sim fingerprint --json` whatever its exit status (other components may be busy).
fn zync_fingerprint(sim: &Sim) -> Value {
    let out = std::process::Command::new(common::sim_bin())
        .args(["fingerprint", "--json", "--dir"])
        .arg(&sim.dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["components"]["zync-database"].clone()
}

#[test]
fn fingerprint_fails_zync_when_the_zync_role_cannot_read_a_restored_schema() {
    let sim = sim();
    let zync = sim.pod("zync-database");
    let before = zync_fingerprint(sim);
    assert!(before["digest"].is_string(), "{before}");
    let owners = sim.ok(&[
        "exec",
        &zync,
        "--",
        "psql",
        "-tA",
        "-c",
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
        "zync_production",
    ]);
    assert_eq!(owners, "zync\n", "zync's tables are zync's");
    // The manual's dump (psql and pg_dump run as postgres in the pod) ...
    let dump = sim.ok(&["exec", &zync, "--", "bash", "-c", "pg_dump zync_production"]);
    // ... restored into a schema dropped and recreated by postgres.
    sim.ok(&[
        "exec",
        &zync,
        "--",
        "psql",
        "-q",
        "-c",
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
        "zync_production",
    ]);
    let load = sim.kubectl_stdin(
        &[
            "exec",
            "-i",
            &zync,
            "--",
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "zync_production",
        ],
        dump.as_bytes(),
    );
    assert!(load.status.success(), "{load:?}");
    let broken = zync_fingerprint(sim);
    let error = broken["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{broken}"));
    assert!(
        error.contains("zync role cannot read") && error.contains("schema public"),
        "{error}"
    );
    let out = std::process::Command::new(common::sim_bin())
        .args(["fingerprint", "--dir"])
        .arg(&sim.dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zync-database"));

    // The same data with the schema as a new database has it passes again.
    sim.ok(&[
        "exec",
        &zync,
        "--",
        "psql",
        "-q",
        "-c",
        "ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;",
        "zync_production",
    ]);
    assert_eq!(zync_fingerprint(sim), before);
}
