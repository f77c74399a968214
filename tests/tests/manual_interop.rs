//! Compatibility with the vendor's manual procedure, both ways: a backup made with the
//! manual's commands (sections 9.4.x, `oc` written as `kubectl`) restores with
//! `host restore`; a backup made by `host backup` restores with the manual's commands
//! (9.5.x). The two share one cluster and take turns.

mod common;

use std::sync::Mutex;

use common::manual::V2_15 as MANUAL;
use common::{Sim, assert_same, plugins_dir, shared};

static TURN: Mutex<()> = Mutex::new(());

fn sim() -> &'static Sim {
    shared(Some("8MiB"))
}

#[test]
fn a_backup_made_with_the_manuals_commands_restores_with_host() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sim = sim();
    let set = tempfile::tempdir().unwrap();
    let before = sim.fingerprint();
    MANUAL.backup(sim, set.path());
    sim.sim(&["damage"]);
    let plugins = plugins_dir();
    // Without --hand-made, a set without manifest.json is refused before any change.
    let refused = sim.host(&[
        "restore",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        set.path().to_str().unwrap(),
    ]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    assert!(
        refused.stderr.contains("manifest.json is missing")
            && refused.stderr.contains("--hand-made"),
        "{}",
        refused.stderr
    );
    let run = sim.host_ok(&[
        "restore",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        set.path().to_str().unwrap(),
        "--hand-made",
    ]);
    assert!(
        run.all().contains("no manifest.json: a set made by hand"),
        "{}",
        run.all()
    );
    assert_same(&before, &sim.fingerprint());
}

/// 9.5.5.1/9.5.5.2 with kubectl. Two changes to the manual: `save ""` is added where the
/// manual only comments the save lines out, because Redis 6.2 and later fall back to
/// built-in save points and the old pod's shutdown overwrites the dump put in place; and
/// after each edit of redis-config the person waits for the operator, which rolls both
/// redis Deployments by itself (the `redisConfigMapResourceVersion` annotation) a while
/// after the edit: copying the dump before that rollout would lose it with the old pod.
/// The `sleep 1` before a restart is a person's pace: kubectl refuses a restart within
/// the same second as the last one, and the simulator's pods restart in less.
fn manual_redis_restore(sim: &Sim, dir: &std::path::Path, deployment: &str, file: &str) {
    let p = MANUAL.pod(deployment);
    let wait_for_operator = r#"rv=$(kubectl get configmap redis-config -o jsonpath='{.metadata.resourceVersion}')
            for d in backend-redis system-redis; do
              kubectl wait --for=jsonpath='{.spec.template.metadata.annotations.redisConfigMapResourceVersion}'=$rv deployment/$d --timeout=300s
              kubectl rollout status deployment/$d
            done"#;
    sim.shell(
        dir,
        &format!(
            r#"kubectl get configmap redis-config -o jsonpath='{{.data.redis\.conf}}' > redis.conf.orig
            sed -e 's/^save /#save /' -e 's/^appendonly .*/appendonly no/' redis.conf.orig > redis.conf.restore
            echo 'save ""' >> redis.conf.restore
            kubectl create configmap redis-config --from-file=redis.conf=redis.conf.restore --dry-run=client -o json | kubectl apply -f -
            {wait_for_operator}
            kubectl exec {p} -- bash -c 'mv ${{HOME}}/data/dump.rdb ${{HOME}}/data/dump.rdb-old'
            kubectl exec {p} -- bash -c 'cd ${{HOME}}/data; for f in appendonly.aof appendonlydir; do [ ! -e $f ] || mv $f $f-old; done'
            kubectl cp ./{file} {p}:/var/lib/redis/data/dump.rdb
            sleep 1
            kubectl rollout restart deployment/{deployment}
            kubectl rollout status deployment/{deployment}
            kubectl exec {p} -- bash -c 'redis-cli BGREWRITEAOF'
            until kubectl exec {p} -- bash -c 'redis-cli info' | grep -q 'aof_rewrite_in_progress:0'; do sleep 0.5; done
            kubectl create configmap redis-config --from-file=redis.conf=redis.conf.orig --dry-run=client -o json | kubectl apply -f -
            {wait_for_operator}"#
        ),
    );
}

#[test]
fn a_backup_made_by_host_restores_with_the_manuals_commands() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sim = sim();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path();
    let before = sim.fingerprint();
    let plugins = plugins_dir();
    sim.host_ok(&[
        "backup",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        dir.to_str().unwrap(),
    ]);
    sim.sim(&["damage"]);

    MANUAL.restore_objects(sim, dir);
    MANUAL.restore_system(sim, dir);
    MANUAL.load_zync(sim, dir);
    manual_redis_restore(sim, dir, "backend-redis", "backend-redis-dump.rdb");
    manual_redis_restore(sim, dir, "system-redis", "system-redis-dump.rdb");
    assert_same(&before, &sim.fingerprint());
}
