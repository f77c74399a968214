//! 3scale 2.14, on OpenShift DeploymentConfigs (`sim serve --threescale 2.14`), with the
//! 2.14 plugin set: a round trip through `host`, the 2.14 manual's commands both ways,
//! the set chosen by version from a directory of sets, and a set for another release
//! refused before anything changes. One 2.14 simulator is shared; the tests take turns.
//!
//! kubectl cannot `rollout latest` a DeploymentConfig: where the manual says `oc rollout
//! latest dc/X`, the scripts POST the DeploymentRequest `oc` sends to the `instantiate`
//! subresource (openshift/oc pkg/cli/rollout/latest.go:196-202) with `kubectl create
//! --raw`, and `oc rollout status dc/X` is its test (oc pkg/helpers/
//! originpolymorphichelpers/deploymentconfigs/status.go:47-61) in a loop.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use common::manual::V2_14 as MANUAL;
use common::{Run, Sim, assert_same, plugin, plugin_set, plugin_sets, shared_with};
use serde_json::Value;

fn sim() -> &'static Sim {
    shared_with(
        Some("4MiB"),
        &[
            "--threescale",
            "2.14",
            "--operator-delay",
            "0.3",
            "--deploy-job-seconds",
            "1",
            "--job-backoff-seconds",
            "0.3",
        ],
    )
}

fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn dc(sim: &Sim, name: &str) -> Value {
    sim.json(&["get", "dc", name, "-o", "json"])
}

fn latest_version(sim: &Sim, name: &str) -> i64 {
    dc(sim, name)["status"]["latestVersion"].as_i64().unwrap()
}

/// Rolled out as `oc rollout status dc/NAME` sees it, with its pods up.
fn assert_rolled_out(sim: &Sim, name: &str, replicas: i64) {
    let d = dc(sim, name);
    let progressing = d["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Progressing")
        .unwrap_or_else(|| panic!("{name}: no Progressing condition: {d}"));
    assert_eq!(
        progressing["reason"], "NewReplicationControllerAvailable",
        "{name}: {d}"
    );
    assert!(
        d["metadata"]["generation"].as_i64() <= d["status"]["observedGeneration"].as_i64(),
        "{name}: {d}"
    );
    assert_eq!(d["spec"]["replicas"], replicas, "{name}");
    assert_eq!(d["status"]["availableReplicas"], replicas, "{name}");
}

/// What a refused run must not have changed: the objects a restore touches first.
fn untouched(sim: &Sim) -> Vec<Value> {
    let mut seen: Vec<Value> = ["system-app", "zync", "backend-redis"]
        .iter()
        .map(|n| dc(sim, n)["metadata"]["generation"].clone())
        .collect();
    seen.push(
        sim.json(&["get", "apimanager", "3scale", "-o", "json"])["metadata"]["resourceVersion"]
            .clone(),
    );
    seen.push(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["metadata"]
            ["resourceVersion"]
            .clone(),
    );
    seen
}

fn backup(sim: &Sim, plugins: &Path, set: &Path) -> Run {
    sim.host_ok(&[
        "backup",
        "--plugins",
        path(plugins),
        "--backup-dir",
        path(set),
    ])
}

#[test]
fn a_2_14_namespace_round_trips_through_host_with_the_set_chosen_by_version() {
    let sim = sim();
    let _turn = turn();
    let before = sim.fingerprint();
    let spec = sim.apimanager_spec();
    let conf = sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"].clone();
    let rolled = [
        "system-app",
        "backend-worker",
        "system-sidekiq",
        "system-searchd",
    ]
    .map(|n| latest_version(sim, n));
    let set = tempfile::tempdir().unwrap();

    // target/plugins holds the 2.14 and 2.15 sets (and the test plugins).
    let run = backup(sim, &plugin_sets(), set.path());
    let chosen = run
        .all()
        .lines()
        .find(|l| l.contains("chosen from"))
        .unwrap_or_default()
        .to_string();
    assert!(
        chosen.starts_with(&format!(
            "plugin set {} (3scale 2.14) chosen",
            plugin_set("2.14").display()
        )) && chosen.ends_with(
            "namespace 3scale runs 3scale 2.14 (its APIManager's apps.3scale.net/apimanager-threescale-version)"
        ),
        "{}",
        run.all()
    );
    // The manual's file names; the ten Secrets of the 2.14 manual.
    for file in [
        "system-mysql-backup.gz",
        "zync-database-backup.gz",
        "backend-redis-dump.rdb",
        "system-redis-dump.rdb",
        "system-environment.json",
        "apicast-environment.json",
        "system-master-apicast.json",
        "apimanager.json",
    ] {
        assert!(set.path().join(file).is_file(), "{file} missing");
    }
    assert!(!set.path().join("backend-listener.json").exists());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(set.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["threescale_version"], "2.14");

    sim.sim(&["damage"]);
    let resyncs = sim.resyncs();
    let run = sim.host_ok(&[
        "restore",
        "--plugins",
        path(&plugin_sets()),
        "--backup-dir",
        path(set.path()),
    ]);
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    for step in [
        "rollout latest dc/backend-redis",
        "oc patch dc/system-app -p '{\"spec\": {\"replicas\": 1}}'",
        "9.5.7: rollout latest dc/system-app",
    ] {
        assert!(run.all().contains(step), "{step}:\n{}", run.all());
    }

    assert_same(&before, &sim.fingerprint());
    assert_eq!(sim.apimanager_spec(), spec, "the APIManager spec");
    assert_eq!(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"],
        conf
    );
    for name in [
        "system-app",
        "zync",
        "zync-que",
        "backend-redis",
        "system-redis",
    ] {
        assert_rolled_out(sim, name, 1);
    }
    for (name, was) in [
        "system-app",
        "backend-worker",
        "system-sidekiq",
        "system-searchd",
    ]
    .iter()
    .zip(rolled)
    {
        assert!(latest_version(sim, name) > was, "{name} was not rolled out");
        assert_rolled_out(sim, name, 1);
    }
    for redis in ["backend-redis", "system-redis"] {
        let pods = format!("deploymentConfig={redis}");
        assert_eq!(sim.redis_config(&pods, "appendonly"), "yes", "{redis}");
        assert_eq!(
            sim.redis_config(&pods, "save"),
            "900 1 300 10 60 10000",
            "{redis}"
        );
    }
    assert_eq!(sim.resyncs(), resyncs + 1, "the zync resync runs once");
}

#[test]
fn a_backup_made_with_the_2_14_manuals_commands_restores_with_host() {
    let sim = sim();
    let _turn = turn();
    let set = tempfile::tempdir().unwrap();
    let before = sim.fingerprint();
    MANUAL.backup(sim, set.path());
    assert!(set.path().join("system-master-apicast.json").is_file());
    sim.sim(&["damage"]);
    let run = sim.host_ok(&[
        "restore",
        "--plugins",
        path(&plugin_set("2.14")),
        "--backup-dir",
        path(set.path()),
        "--hand-made",
    ]);
    assert!(
        run.all().contains("no manifest.json: a set made by hand"),
        "{}",
        run.all()
    );
    assert_same(&before, &sim.fingerprint());
}

/// `oc rollout latest dc/$1` and `oc rollout status dc/$1` for the scripts below.
const ROLLOUT: &str = r#"
rollout_latest() {
  kubectl create --raw "/apis/apps.openshift.io/v1/namespaces/3scale/deploymentconfigs/$1/instantiate" -f - >/dev/null <<EOF
{"kind":"DeploymentRequest","apiVersion":"apps.openshift.io/v1","name":"$1","latest":true,"force":true}
EOF
}
rollout_status() {
  local state generation observed reason
  for _ in $(seq 600); do
    state=$(kubectl get dc "$1" -o jsonpath='{.metadata.generation}/{.status.observedGeneration}/{.status.conditions[?(@.type=="Progressing")].reason}')
    IFS=/ read -r generation observed reason <<< "$state"
    if [ "$generation" -le "${observed:-0}" ] && [ "$reason" = NewReplicationControllerAvailable ]; then return 0; fi
    case "$reason" in ProgressDeadlineExceeded|RolloutCancelled) echo "dc/$1: $reason" >&2; return 1;; esac
    sleep 0.2
  done
  echo "dc/$1 did not roll out" >&2; return 1
}
"#;

/// x.5.5.1/x.5.5.2: redis-config edited (with `save ""` added, as the 2.15 test does:
/// Redis 6.2 and later fall back to built-in save points when every `save` line is
/// commented out), `oc rollout latest` after each edit and after the dump is in place.
/// The 2.14 operator leaves redis-config and the redis DCs alone.
fn manual_redis_restore(sim: &Sim, dir: &Path, name: &str, file: &str) {
    let p = MANUAL.pod(name);
    sim.shell(
        dir,
        &format!(
            r#"{ROLLOUT}
            kubectl get configmap redis-config -o jsonpath='{{.data.redis\.conf}}' > redis.conf.orig
            sed -e 's/^save /#save /' -e 's/^appendonly .*/appendonly no/' redis.conf.orig > redis.conf.restore
            echo 'save ""' >> redis.conf.restore
            kubectl create configmap redis-config --from-file=redis.conf=redis.conf.restore --dry-run=client -o json | kubectl apply -f -
            rollout_latest {name}; rollout_status {name}
            kubectl exec {p} -- bash -c 'mv ${{HOME}}/data/dump.rdb ${{HOME}}/data/dump.rdb-old'
            kubectl exec {p} -- bash -c 'cd ${{HOME}}/data; for f in appendonly.aof appendonlydir; do [ ! -e $f ] || mv $f $f-old; done'
            kubectl cp ./{file} {p}:/var/lib/redis/data/dump.rdb
            rollout_latest {name}; rollout_status {name}
            kubectl exec {p} -- bash -c 'redis-cli BGREWRITEAOF'
            until kubectl exec {p} -- bash -c 'redis-cli info' | grep -q 'aof_rewrite_in_progress:0'; do sleep 0.5; done
            kubectl create configmap redis-config --from-file=redis.conf=redis.conf.orig --dry-run=client -o json | kubectl apply -f -
            rollout_latest {name}; rollout_status {name}"#
        ),
    );
}

#[test]
fn a_backup_made_by_host_restores_with_the_2_14_manuals_commands() {
    let sim = sim();
    let _turn = turn();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path();
    let before = sim.fingerprint();
    let spec = sim.apimanager_spec();
    backup(sim, &plugin_set("2.14"), dir);
    sim.sim(&["damage"]);
    let resyncs = sim.resyncs();

    // x.5's preamble: system-app scaled down through the APIManager.
    sim.shell(
        dir,
        r#"SYSTEM_SPEC=`kubectl get APIManager/3scale -o jsonpath='{.spec.system.appSpec}'`
        echo "$SYSTEM_SPEC" > system-spec.json
        kubectl patch APIManager/3scale --type merge -p '{"spec": {"system": {"appSpec": {"replicas": 0}}}}'"#,
    );
    MANUAL.restore_objects(sim, dir);
    MANUAL.restore_system(sim, dir);
    // x.5.4.1: zync and zync-que down through the APIManager around the load; the spec
    // put back, and `oc patch dc/zync` since it names no replicas.
    sim.shell(
        dir,
        r#"ZYNC_SPEC=`kubectl get APIManager/3scale -o json | jq -r '.spec.zync'`
        echo "$ZYNC_SPEC" > zync-spec.json
        kubectl patch APIManager/3scale --type merge -p '{"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}}'"#,
    );
    MANUAL.load_zync(sim, dir);
    sim.shell(
        dir,
        r#"ZYNC_SPEC=$(cat zync-spec.json)
        kubectl patch APIManager/3scale --type json -p '[{"op": "replace", "path": "/spec/zync", "value":'"$ZYNC_SPEC"'}]'
        kubectl patch dc/zync -p '{"spec": {"replicas": 1}}'"#,
    );
    manual_redis_restore(sim, dir, "backend-redis", "backend-redis-dump.rdb");
    manual_redis_restore(sim, dir, "system-redis", "system-redis-dump.rdb");
    // x.5.6-x.5.8.2.
    sim.shell(
        dir,
        &format!(
            r#"{ROLLOUT}
            rollout_latest backend-worker; rollout_status backend-worker
            SYSTEM_SPEC=$(cat system-spec.json)
            kubectl patch APIManager/3scale --type json -p '[{{"op": "replace", "path": "/spec/system/appSpec", "value":'"$SYSTEM_SPEC"'}}]'
            kubectl patch dc/system-app -p '{{"spec": {{"replicas": 1}}}}'
            rollout_latest system-app; rollout_status system-app
            rollout_latest system-sidekiq; rollout_status system-sidekiq
            rollout_latest system-searchd; rollout_status system-searchd
            kubectl exec {sidekiq} -- bash -c 'bundle exec rake zync:resync:domains'"#,
            sidekiq = MANUAL.pod("system-sidekiq"),
        ),
    );
    assert_same(&before, &sim.fingerprint());
    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!(sim.resyncs(), resyncs + 1);
    for name in ["system-app", "zync"] {
        assert_rolled_out(sim, name, 1);
    }
}

#[test]
fn a_set_for_another_release_is_refused_before_anything_changes() {
    let sim = sim();
    let _turn = turn();
    let set = tempfile::tempdir().unwrap();
    backup(sim, &plugin_set("2.14"), set.path());
    let before = untouched(sim);

    // The 2.15 set against a 2.14 namespace, for a backup and for a restore.
    for action in ["backup", "restore"] {
        let run = sim.host(&[
            action,
            "--plugins",
            path(&plugin_set("2.15")),
            "--backup-dir",
            path(set.path()),
        ]);
        assert_eq!(run.code, Some(3), "{action}: {}", run.all());
        let expected = format!(
            "the plugin set {} is for 3scale 2.15, but namespace 3scale runs 3scale 2.14",
            plugin_set("2.15").display()
        );
        assert!(run.stderr.contains(&expected), "{action}: {}", run.stderr);
        assert!(!run.all().contains("started"), "{action}: {}", run.all());
    }
    assert_eq!(untouched(sim), before, "a refused run changed the cluster");

    // The reverse: the 2.14 set and the 2.14 backup against a 2.15 namespace.
    let other = Sim::start_with(&["--operator-delay", "0.3"]);
    let before = other.fingerprint();
    let run = other.host(&[
        "restore",
        "--plugins",
        path(&plugin_set("2.14")),
        "--backup-dir",
        path(set.path()),
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "the plugin set {} is for 3scale 2.14, but namespace 3scale runs 3scale 2.15.5",
            plugin_set("2.14").display()
        )),
        "{}",
        run.stderr
    );
    // From the directory of sets the host takes the 2.15 set, then refuses the 2.14
    // backup, naming it.
    let run = other.host(&[
        "restore",
        "--plugins",
        path(&plugin_sets()),
        "--backup-dir",
        path(set.path()),
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "plugin set {} (3scale 2.15) chosen",
            plugin_set("2.15").display()
        )),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains(&format!(
            "the backup set {} was made from 3scale 2.14, but namespace 3scale runs 3scale 2.15.5",
            path(set.path())
        )),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("started"), "{}", run.all());
    assert_same(&before, &other.fingerprint());
}

/// 9.5.1 on 2.14: a namespace with only the operator. No APIManager says which release
/// runs, so the set's own record (manifest.json) picks the plugin set; the 2.14
/// apimanager plugin creates the APIManager and waits for the operator's
/// DeploymentConfigs.
#[test]
fn a_2_14_set_restores_into_a_new_namespace_with_the_set_it_was_made_with() {
    let sim = sim();
    let _turn = turn();
    let before = sim.fingerprint();
    let spec = sim.apimanager_spec();
    let set = tempfile::tempdir().unwrap();
    backup(sim, &plugin_set("2.14"), set.path());

    let new = Sim::start_with(&[
        "--threescale",
        "2.14",
        "--empty",
        "--operator-delay",
        "0.3",
        "--deploy-job-seconds",
        "1",
        "--job-backoff-seconds",
        "0.3",
    ]);
    let run = new.host_ok(&[
        "restore",
        "--plugins",
        path(&plugin_sets()),
        "--backup-dir",
        path(set.path()),
    ]);
    assert!(
        run.stderr.contains(&format!(
            "plugin set {} (3scale 2.14) chosen from {}: namespace 3scale has no APIManager yet, and the backup set {} was made from 3scale 2.14",
            plugin_set("2.14").display(),
            plugin_sets().display(),
            path(set.path())
        )),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    assert_same(&before, &new.fingerprint());
    assert_eq!(new.apimanager_spec(), spec);
    for name in ["system-app", "zync", "zync-que", "system-sidekiq"] {
        assert_rolled_out(&new, name, 1);
    }
}

/// openshift-apiserver answers `instantiate` with 404 while the latest version's
/// ReplicationController does not exist; `oc rollout latest` then bumps
/// `status.latestVersion` with an update (oc latest.go:204-209), and so does the host.
#[test]
fn rollout_latest_bumps_the_latest_version_when_instantiate_is_not_found() {
    let sim = sim();
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    // No image, so the DC controller never makes its ReplicationController.
    let config = r#"{"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
        "metadata": {"name": "scratch"},
        "spec": {"replicas": 1, "selector": {"deploymentConfig": "scratch"}, "triggers": [],
                 "template": {"metadata": {"labels": {"deploymentConfig": "scratch"}},
                              "spec": {"containers": [{"name": "c", "image": " "}]}}}}"#;
    sim.kubectl_stdin(&["delete", "dc", "scratch", "--ignore-not-found"], b"");
    let out = sim.kubectl_stdin(&["create", "-f", "-"], config.as_bytes());
    assert!(out.status.success(), "{out:?}");
    // An update may move latestVersion one up, as oc's fallback relies on: version 1
    // with no scratch-1.
    let mut object = dc(sim, "scratch");
    object["status"]["latestVersion"] = 1.into();
    let out = sim.kubectl_stdin(&["replace", "-f", "-"], object.to_string().as_bytes());
    assert!(out.status.success(), "{out:?}");
    let instantiate = sim.kubectl_stdin(
        &[
            "create",
            "--raw",
            "/apis/apps.openshift.io/v1/namespaces/3scale/deploymentconfigs/scratch/instantiate",
            "-f",
            "-",
        ],
        br#"{"kind":"DeploymentRequest","apiVersion":"apps.openshift.io/v1","name":"scratch","latest":true,"force":true}"#,
    );
    let said = String::from_utf8_lossy(&instantiate.stderr);
    assert!(said.contains("\"scratch-1\" not found"), "{said}");

    let plugin = plugin("test", "rollout-latest.wasm");
    let run = sim.host(&[
        "run",
        "restore",
        "--plugin",
        path(&plugin),
        "--backup-dir",
        path(dir.path()),
        // An empty set: nothing a manifest.json could vouch for.
        "--hand-made",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(latest_version(sim, "scratch"), 2);
    sim.ok(&["delete", "dc", "scratch"]);
}
