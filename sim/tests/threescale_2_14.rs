//! `sim serve --threescale 2.14`: 3scale 2.14 on OpenShift DeploymentConfigs, seen through
//! the real kubectl and, for `instantiate` (what `oc rollout latest` POSTs), curl. One
//! simulator is shared by the tests of this file; they take turns (`turn`), as most of
//! them roll something out.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::Sim;
use serde_json::{Value, json};

fn sim() -> &'static Sim {
    common::shared_with(
        Some("2MiB"),
        &[
            "--threescale",
            "2.14",
            "--operator-delay",
            "0.5",
            "--deploy-job-seconds",
            "2",
            "--job-backoff-seconds",
            "0.3",
        ],
    )
}

/// The tests roll DeploymentConfigs out; one at a time.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

const COMPONENTS: &[&str] = &[
    "apicast-production",
    "apicast-staging",
    "backend-cron",
    "backend-listener",
    "backend-redis",
    "backend-worker",
    "system-app",
    "system-memcache",
    "system-mysql",
    "system-redis",
    "system-searchd",
    "system-sidekiq",
    "zync",
    "zync-database",
    "zync-que",
];

fn list(sim: &Sim, args: &[&str]) -> Vec<Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out: Value = serde_json::from_str(&sim.ok(&full)).unwrap();
    out["items"].as_array().unwrap().clone()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn latest_version(dc: &Value) -> i64 {
    dc["status"]["latestVersion"].as_i64().unwrap()
}

fn phase(rc: &Value) -> String {
    rc["metadata"]["annotations"]["openshift.io/deployment.phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// POST `.../deploymentconfigs/NAME/instantiate` as `oc rollout latest` sends it
/// (openshift/oc pkg/cli/rollout/latest.go:196-202): (HTTP status, body).
fn instantiate(sim: &Sim, dc: &str) -> (u16, Value) {
    let (server, token, ca) = sim::endpoint(&sim.dir).unwrap();
    let ca_file = sim.dir.join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let body = json!({"kind": "DeploymentRequest", "apiVersion": "apps.openshift.io/v1",
                      "name": dc, "latest": true, "force": true});
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_file)
        .args([
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            &body.to_string(),
            "-w",
            "\n%{http_code}",
            &format!(
                "{server}/apis/apps.openshift.io/v1/namespaces/3scale/deploymentconfigs/{dc}/instantiate"
            ),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `oc rollout status dc/NAME` (oc pkg/helpers/originpolymorphichelpers/deploymentconfigs/
/// status.go:25-74): done once the DC observed its generation and its Progressing reason
/// is NewReplicationControllerAvailable; here also at `version` at least.
fn rolled_out(sim: &Sim, dc: &str, version: i64) -> Value {
    sim.wait_for(
        90,
        &format!("dc/{dc} rolled out to version {version}"),
        || {
            let d = sim.json("dc", dc);
            let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
            (d["metadata"]["generation"].as_i64().unwrap() <= observed
                && latest_version(&d) >= version
                && condition(&d, "Progressing")["reason"] == "NewReplicationControllerAvailable")
                .then_some(d)
        },
    )
}

/// The running, not terminating pods that select as `selector`.
fn running(sim: &Sim, selector: &str) -> Vec<Value> {
    list(sim, &["pods", "-l", selector])
        .into_iter()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .collect()
}

#[test]
fn every_deployment_config_runs_a_pod_with_the_three_labels() {
    let sim = sim();
    let _turn = turn();
    let am = sim.json("apimanager", "3scale");
    let annotations = &am["metadata"]["annotations"];
    assert_eq!(
        annotations["apps.3scale.net/apimanager-threescale-version"], "2.14",
        "{am}"
    );
    assert_eq!(
        annotations["apps.3scale.net/threescale-operator-version"],
        "0.11.3"
    );
    assert_eq!(am["spec"]["system"]["appSpec"], json!({}));
    assert_eq!(am["spec"]["zync"], json!({"appSpec": {}, "queSpec": {}}));

    let dcs = list(sim, &["dc"]);
    let names: Vec<&str> = dcs.iter().map(name).collect();
    assert_eq!(names, COMPONENTS);
    assert!(
        list(sim, &["deployments"]).is_empty(),
        "2.14 has no Deployments"
    );
    assert!(list(sim, &["jobs"]).is_empty(), "and no system-app-pre Job");
    for dc in &dcs {
        let n = name(dc);
        assert_eq!(dc["metadata"]["ownerReferences"][0]["kind"], "APIManager");
        assert_eq!(dc["spec"]["selector"], json!({"deploymentConfig": n}));
        let strategy = dc["spec"]["strategy"]["type"].as_str().unwrap();
        let databases = [
            "system-mysql",
            "system-redis",
            "backend-redis",
            "zync-database",
            "system-searchd",
        ];
        assert_eq!(
            strategy,
            if databases.contains(&n) {
                "Recreate"
            } else {
                "Rolling"
            },
            "{n}"
        );
        let version = latest_version(dc);
        let rc = format!("{n}-{version}");
        let pods = running(sim, &format!("deploymentConfig={n}"));
        assert_eq!(pods.len(), 1, "{n}: {pods:?}");
        let labels = &pods[0]["metadata"]["labels"];
        assert_eq!(labels["deploymentConfig"], n);
        assert_eq!(labels["deploymentconfig"], n);
        assert_eq!(labels["deployment"], rc.as_str());
        let owner = &pods[0]["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicationController");
        assert_eq!(owner["name"], rc.as_str());
        assert_eq!(owner["controller"], true);
        // The manual's 2.15 selector finds nothing on 2.14: the label is `NAME-VERSION`.
        assert!(list(sim, &["pods", "-l", &format!("deployment={n}")]).is_empty());
        assert_eq!(condition(dc, "Available")["status"], "True", "{dc}");
        assert_eq!(
            condition(dc, "Progressing")["reason"],
            "NewReplicationControllerAvailable"
        );
        let rc = sim.json("rc", &rc);
        assert_eq!(phase(&rc), "Complete");
        assert_eq!(
            rc["metadata"]["annotations"]["openshift.io/deployment-config.name"],
            n
        );
        assert!(
            rc["metadata"]["annotations"]["openshift.io/encoded-deployment-config"]
                .as_str()
                .unwrap()
                .contains("\"DeploymentConfig\"")
        );
    }
    let app = &running(sim, "deploymentConfig=system-app")[0];
    let containers: Vec<&str> = app["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        containers,
        ["system-master", "system-provider", "system-developer"]
    );
    // Lifecycle hook pods are the deployment's, not the DC's.
    let hooks = list(
        sim,
        &["pods", "-l", "openshift.io/deployer-pod.type=hook-pre"],
    );
    assert!(!hooks.is_empty());
    for hook in &hooks {
        assert!(hook["metadata"]["labels"]["deploymentConfig"].is_null());
        assert!(
            hook["metadata"]["labels"]["openshift.io/deployer-pod-for.name"]
                .as_str()
                .unwrap()
                .starts_with("system-app-")
        );
    }
    let conf = sim.json("configmap", "redis-config")["data"]["redis.conf"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(conf.contains("appendonly yes") && !conf.contains("rename-command"));
    let resources = sim.ok(&["api-resources", "--api-group", "apps.openshift.io"]);
    assert!(
        resources.contains("deploymentconfigs") && resources.contains("dc"),
        "{resources}"
    );
    let svc = sim.json("svc", "system-mysql");
    assert_eq!(
        svc["spec"]["selector"],
        json!({"deploymentConfig": "system-mysql"})
    );
}

#[test]
fn instantiate_rolls_out_a_new_replication_controller() {
    let sim = sim();
    let _turn = turn();
    let before = sim.json("deploymentconfig", "system-mysql");
    let version = latest_version(&before);
    let generation = before["metadata"]["generation"].as_i64().unwrap();
    let old_pod = name(&running(sim, "deploymentConfig=system-mysql")[0]).to_string();
    let data = sim.fingerprint()["components"]["system-mysql"]["digest"].clone();

    let (code, dc) = instantiate(sim, "system-mysql");
    assert_eq!(code, 201, "{dc}");
    assert_eq!(latest_version(&dc), version + 1);
    assert_eq!(dc["metadata"]["generation"], generation + 1);
    assert_eq!(dc["status"]["details"]["message"], "manual change");

    let dc = rolled_out(sim, "system-mysql", version + 1);
    assert_eq!(latest_version(&dc), version + 1);
    assert_eq!(dc["status"]["observedGeneration"], generation + 1);
    let rc = format!("system-mysql-{}", version + 1);
    assert_eq!(phase(&sim.json("rc", &rc)), "Complete");
    let old_rc = sim.json("rc", &format!("system-mysql-{version}"));
    assert_eq!(old_rc["spec"]["replicas"], 0);
    sim.wait_for(30, "the old mysql pod gone", || {
        let pods = list(sim, &["pods", "-l", "deploymentConfig=system-mysql"]);
        (pods.len() == 1 && name(&pods[0]) != old_pod).then_some(())
    });
    let pod = &running(sim, "deploymentConfig=system-mysql")[0];
    assert_eq!(pod["metadata"]["labels"]["deployment"], rc.as_str());
    let log = sim.ok(&["logs", &format!("{rc}-deploy")]);
    assert!(
        log.contains(&format!("--> Scaling system-mysql-{version} down to zero"))
            && log.contains("--> Success"),
        "{log}"
    );
    assert_eq!(
        sim.fingerprint()["components"]["system-mysql"]["digest"],
        data,
        "the data is on the claim"
    );
    // `kubectl scale` and `kubectl patch` reach the DC; the active RC follows it.
    sim.ok(&["scale", "dc/system-mysql", "--replicas=0"]);
    sim.wait_for(30, "system-mysql at 0", || {
        list(sim, &["pods", "-l", "deploymentConfig=system-mysql"])
            .is_empty()
            .then_some(())
    });
    assert_eq!(sim.json("rc", &rc)["spec"]["replicas"], 0);
    assert_eq!(
        condition(&sim.json("dc", "system-mysql"), "Available")["status"],
        "False",
        "no replica, no availability"
    );
    sim.ok(&[
        "patch",
        "dc/system-mysql",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ]);
    // A paused DC takes no deployment request (validation.go:569-580).
    sim.ok(&[
        "patch",
        "dc/system-mysql",
        "-p",
        r#"{"spec":{"paused":true}}"#,
    ]);
    let (code, status) = instantiate(sim, "system-mysql");
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("is paused - unpause to request a new deployment"),
        "{status}"
    );
    sim.ok(&[
        "patch",
        "dc/system-mysql",
        "-p",
        r#"{"spec":{"paused":false}}"#,
    ]);
    sim.wait_for(60, "system-mysql available again", || {
        let d = sim.json("dc", "system-mysql");
        (condition(&d, "Available")["status"] == "True").then_some(())
    });
    assert_eq!(latest_version(&sim.json("dc", "system-mysql")), version + 1);
}

#[test]
fn the_apimanager_drives_replicas_only_where_its_spec_has_them() {
    let sim = sim();
    let _turn = turn();
    let version = latest_version(&sim.json("dc", "system-app"));
    // The manual's x.5 preamble: system-app to 0 through the APIManager.
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"system":{"appSpec":{"replicas":0}}}}"#,
    ]);
    sim.wait_for(30, "system-app at 0", || {
        (sim.json("dc", "system-app")["spec"]["replicas"] == 0
            && running(sim, "deploymentConfig=system-app").is_empty())
        .then_some(())
    });
    // x.5.7: the spec put back as it was, `{}`: the operator leaves the replicas alone...
    sim.ok(&[
        "patch",
        "apimanager",
        "3scale",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/system/appSpec","value":{}}]"#,
    ]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.json("dc", "system-app")["spec"]["replicas"], 0);
    // ... so the manual scales the DC itself. Neither is a new version: no hook runs.
    sim.ok(&["patch", "dc/system-app", "-p", r#"{"spec":{"replicas":1}}"#]);
    sim.wait_for(60, "system-app back", || {
        let d = sim.json("dc", "system-app");
        (condition(&d, "Available")["status"] == "True").then_some(())
    });
    assert_eq!(latest_version(&sim.json("dc", "system-app")), version);
    let hook = format!("system-app-{}-hook-pre", version + 1);
    assert!(!sim.kubectl(&["get", "pod", &hook]).status.success());
}

#[test]
fn a_pod_template_change_starts_a_version_by_itself() {
    let sim = sim();
    let _turn = turn();
    let before = sim.json("dc", "zync-que");
    let version = latest_version(&before);
    let old_pod = name(&running(sim, "deploymentConfig=zync-que")[0]).to_string();
    // The ConfigChange trigger: the template differs from the one in zync-que-V.
    sim.ok(&[
        "patch",
        "dc/zync-que",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"example.com/restarted":"1"}}}}}"#,
    ]);
    let dc = rolled_out(sim, "zync-que", version + 1);
    assert_eq!(
        dc["status"]["details"],
        json!({"message": "config change", "causes": [{"type": "ConfigChange"}]})
    );
    let pods = running(sim, "deploymentConfig=zync-que");
    assert_eq!(pods.len(), 1);
    assert_ne!(name(&pods[0]), old_pod);
    assert_eq!(
        pods[0]["metadata"]["annotations"]["example.com/restarted"], "1",
        "the pod is the new template's"
    );
    // Rolling with one replica: the new pod ran before the old one went.
    let log = sim.ok(&["logs", &format!("zync-que-{}-deploy", version + 1)]);
    assert!(
        log.contains("(keep 1 pods available, don't exceed 2 pods)"),
        "{log}"
    );
    // The operator merges its labels and annotations in and leaves this one: no more
    // versions come of it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(latest_version(&sim.json("dc", "zync-que")), version + 1);
    // An update of the DC keeps its status, but for latestVersion one up: what
    // `oc rollout latest` falls back to without instantiate (deployconfig/strategy.go:68-92).
    let bump = |to: i64| {
        sim.ok(&[
            "patch",
            "dc/zync-que",
            "--type",
            "merge",
            "-p",
            &format!(r#"{{"status":{{"latestVersion":{to}}}}}"#),
        ])
    };
    bump(version + 5);
    assert_eq!(latest_version(&sim.json("dc", "zync-que")), version + 1);
    bump(version + 2);
    rolled_out(sim, "zync-que", version + 2);
}

#[test]
fn a_second_instantiate_while_one_runs_is_accepted_and_cancels_it() {
    let sim = sim();
    let _turn = turn();
    let version = latest_version(&sim.json("dc", "system-app"));
    let (code, _) = instantiate(sim, "system-app");
    assert_eq!(code, 201);
    let first = format!("system-app-{}", version + 1);
    sim.wait_for(30, "the first rollout running its pre hook", || {
        let out = sim.kubectl(&["logs", &format!("{first}-hook-pre")]);
        String::from_utf8_lossy(&out.stdout)
            .contains("db:migrate: reading")
            .then_some(())
    });
    // `oc rollout latest` would refuse here: it reads the latest RC's phase itself
    // (latest.go:181-188, "#N is already in progress (Running)"). The server does not.
    assert_eq!(phase(&sim.json("rc", &first)), "Running");
    let (code, dc) = instantiate(sim, "system-app");
    assert_eq!(code, 201, "{dc}");
    assert_eq!(latest_version(&dc), version + 2);

    let second = format!("system-app-{}", version + 2);
    let mut reasons: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let dc = loop {
        let d = sim.json("dc", "system-app");
        let reason = condition(&d, "Progressing")["reason"]
            .as_str()
            .unwrap_or("(none)")
            .to_string();
        if reasons.last() != Some(&reason) {
            reasons.push(reason.clone());
        }
        let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(0);
        if latest_version(&d) == version + 2
            && reason == "NewReplicationControllerAvailable"
            && d["metadata"]["generation"].as_i64().unwrap() <= observed
        {
            break d;
        }
        assert!(Instant::now() < deadline, "not rolled out: {reasons:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        reasons.iter().any(|r| r == "ReplicationControllerUpdated"),
        "progressing while the new RC scaled up: {reasons:?}"
    );
    assert_eq!(
        dc["status"]["details"]["causes"],
        json!([{"type": "Manual"}])
    );
    let cancelled = sim.json("rc", &first);
    assert_eq!(phase(&cancelled), "Failed");
    let annotations = &cancelled["metadata"]["annotations"];
    assert_eq!(annotations["openshift.io/deployment.cancelled"], "true");
    assert_eq!(
        annotations["openshift.io/deployment.status-reason"],
        "newer deployment was found running"
    );
    // A cancelled deployment's deployer and hook pods are deleted.
    assert!(
        list(
            sim,
            &[
                "pods",
                "-l",
                &format!("openshift.io/deployer-pod-for.name={first}")
            ]
        )
        .is_empty()
    );
    assert_eq!(phase(&sim.json("rc", &second)), "Complete");
    let pods = running(sim, "deploymentConfig=system-app");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["labels"]["deployment"], second.as_str());
    // The pre hook ran against system-mysql, the post hook after the rollout.
    let pre = sim.json("pod", &format!("{second}-hook-pre"));
    assert_eq!(pre["status"]["phase"], "Succeeded");
    assert_eq!(
        pre["spec"]["restartPolicy"], "OnFailure",
        "FailurePolicy Retry"
    );
    assert_eq!(
        pre["spec"]["containers"][0]["command"],
        json!(["bash", "-c", "bundle exec rake boot openshift:deploy"])
    );
    let deployer = sim.ok(&["logs", &format!("{second}-deploy")]);
    let order = [
        "--> pre: Running hook pod ...",
        "db:migrate: reading 7 tables of system on system-mysql",
        "--> pre: Success",
        &format!("Scaling {second} up to 1"),
        "--> post: Running hook pod ...",
        "--> post: Success",
        "--> Success",
    ];
    let mut at = 0;
    for line in order {
        let found = deployer[at..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} after byte {at} of:\n{deployer}"));
        at += found + line.len();
    }
    let post = sim.json("pod", &format!("{second}-hook-post"));
    assert_eq!(
        post["spec"]["restartPolicy"], "Never",
        "FailurePolicy Abort"
    );
}

#[test]
fn the_pre_hook_fails_when_tables_go_under_it_and_is_retried() {
    let sim = sim();
    let _turn = turn();
    let mysql = name(&running(sim, "deploymentConfig=system-mysql")[0]).to_string();
    let dump = sim.ok(&[
        "exec",
        &mysql,
        "--",
        "bash",
        "-c",
        "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysqldump --single-transaction -hsystem-mysql -uroot system",
    ]);
    let version = latest_version(&sim.json("dc", "system-app"));
    let (code, _) = instantiate(sim, "system-app");
    assert_eq!(code, 201);
    let rc = format!("system-app-{}", version + 1);
    let hook = format!("{rc}-hook-pre");
    sim.wait_for(30, "the pre hook reading the database", || {
        let out = sim.kubectl(&["logs", &hook]);
        String::from_utf8_lossy(&out.stdout)
            .contains("db:migrate: reading")
            .then_some(())
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
    let failed = sim.wait_for(30, "the hook container failing and restarting", || {
        let pod = sim.json("pod", &hook);
        let status = &pod["status"]["containerStatuses"][0];
        (status["restartCount"].as_i64() >= Some(1)).then(|| status.clone())
    });
    assert_eq!(failed["lastState"]["terminated"]["exitCode"], 1, "{failed}");
    rolled_out(sim, "system-app", version + 1);
    assert_eq!(phase(&sim.json("rc", &rc)), "Complete");
    let deployer = sim.ok(&["logs", &format!("{rc}-deploy")]);
    assert!(
        deployer.contains("rake aborted!")
            && (deployer.contains("Table definition has changed")
                || deployer.contains("doesn't exist"))
            && deployer.contains("--> pre: Retrying hook pod (retry #1)")
            && deployer.contains("--> pre: Success"),
        "{deployer}"
    );
    let events = sim.sim(&["events"]);
    assert!(
        events.contains("rake boot openshift:deploy failed"),
        "{events}"
    );
}

#[test]
fn editing_redis_config_rolls_nothing_until_a_rollout() {
    let sim = sim();
    let _turn = turn();
    let before: Vec<(i64, i64, String)> = ["system-redis", "backend-redis"]
        .iter()
        .map(|r| {
            let d = sim.json("dc", r);
            (
                d["metadata"]["generation"].as_i64().unwrap(),
                latest_version(&d),
                name(&running(sim, &format!("deploymentConfig={r}"))[0]).to_string(),
            )
        })
        .collect();
    let mut cm = sim.json("configmap", "redis-config");
    let original = cm["data"]["redis.conf"].as_str().unwrap().to_string();
    // The manual's edit (x.5.5.1): no snapshots, no AOF.
    let edited = original
        .replace("save 900 1", "#save 900 1")
        .replace("save 300 10", "#save 300 10")
        .replace("save 60 10000", "#save 60 10000")
        .replace("appendonly yes", "appendonly no");
    cm["data"]["redis.conf"] = json!(edited);
    let out = sim.kubectl_stdin(&["replace", "-f", "-"], cm.to_string().as_bytes());
    assert!(out.status.success(), "{out:?}");
    // Past the operator's delay: it keeps the edit (CreateOnlyMutator) and nothing rolls.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        sim.json("configmap", "redis-config")["data"]["redis.conf"],
        edited.as_str()
    );
    for ((r, (generation, version, pod)), _) in ["system-redis", "backend-redis"]
        .iter()
        .zip(&before)
        .zip(0..)
    {
        let d = sim.json("dc", r);
        assert_eq!(d["metadata"]["generation"], *generation, "{r}");
        assert_eq!(latest_version(&d), *version, "{r}");
        assert_eq!(
            name(&running(sim, &format!("deploymentConfig={r}"))[0]),
            pod
        );
    }
    // `oc rollout latest dc/backend-redis`: the new pod reads the edited file.
    let (code, _) = instantiate(sim, "backend-redis");
    assert_eq!(code, 201);
    rolled_out(sim, "backend-redis", before[1].1 + 1);
    let pod = name(&running(sim, "deploymentConfig=backend-redis")[0]).to_string();
    let appendonly = sim.ok(&[
        "exec",
        &pod,
        "--",
        "redis-cli",
        "CONFIG",
        "GET",
        "appendonly",
    ]);
    assert!(appendonly.contains("no"), "{appendonly}");
    // Put it back as it was.
    let mut cm = sim.json("configmap", "redis-config");
    cm["data"]["redis.conf"] = json!(original);
    let out = sim.kubectl_stdin(&["replace", "-f", "-"], cm.to_string().as_bytes());
    assert!(out.status.success(), "{out:?}");
    let (code, _) = instantiate(sim, "backend-redis");
    assert_eq!(code, 201);
    rolled_out(sim, "backend-redis", before[1].1 + 2);
}

#[test]
fn seed_damage_and_fingerprint_work_on_2_14() {
    let sim = sim();
    let _turn = turn();
    // From a fresh seed (deterministic), so what other tests did to the data counts not.
    sim.sim(&["seed", "--size", "2MiB"]);
    let before = sim.fingerprint();
    assert!(
        before["errors"].as_object().is_none_or(|e| e.is_empty()),
        "{before}"
    );
    for (component, summary) in [
        ("system-mysql", "7 tables"),
        ("zync-database", "5 tables"),
        ("secrets", "10 of 10"),
    ] {
        let s = before["components"][component]["summary"].as_str().unwrap();
        assert!(s.contains(summary), "{component}: {s}");
    }
    // What damage deletes, kept to put back as a restore would.
    let saved: Vec<Value> = ["system-environment", "apicast-environment"]
        .iter()
        .map(|c| sim.json("configmap", c))
        .chain(
            [
                "system-smtp",
                "system-seed",
                "system-database",
                "backend-internal-api",
                "system-events-hook",
                "system-app",
                "system-recaptcha",
                "system-redis",
                "zync",
                "system-master-apicast",
            ]
            .iter()
            .map(|s| sim.json("secret", s)),
        )
        .collect();
    sim.sim(&["damage"]);
    let damaged = sim.fingerprint();
    for component in [
        "system-mysql",
        "backend-redis",
        "system-storage",
        "zync-database",
    ] {
        assert_ne!(
            damaged["components"][component]["digest"], before["components"][component]["digest"],
            "{component}"
        );
    }
    for mut object in saved {
        let meta = object["metadata"].as_object_mut().unwrap();
        for field in ["resourceVersion", "uid", "creationTimestamp"] {
            meta.remove(field);
        }
        let out = sim.kubectl_stdin(&["apply", "-f", "-"], object.to_string().as_bytes());
        assert!(out.status.success(), "{out:?}");
    }
    sim.sim(&["seed", "--size", "2MiB"]);
    let after = sim.fingerprint();
    for component in [
        "system-mysql",
        "system-redis",
        "backend-redis",
        "system-storage",
        "zync-database",
        "configmaps",
        "secrets",
    ] {
        assert_eq!(
            after["components"][component]["digest"], before["components"][component]["digest"],
            "{component}"
        );
    }
}
