//! The redis procedure of the manual, shared by backend-redis and system-redis (they
//! differ only in the deployment and the file name): a fresh dump.rdb for the backup
//! (9.4.3, 9.4.4), and the restore of 9.5.5.1/9.5.5.2 with the shared `redis-config`
//! ConfigMap edited and put back. Every change is journalled before it is made, so
//! [`resume`] can put the ConfigMap, and the data files that were moved aside, back.

use serde_json::json;

use crate::threescale::redis_conf_for_restore;
use crate::{Result, cluster, info, journal, warn};

const CONFIGMAP: &str = "redis-config";
const CONF_KEY: &str = "redis.conf";
const DATA: &str = "/var/lib/redis/data";
/// Journal keys.
const RECORDED_CONF: &str = "redis-conf";
const MOVED_ASIDE: &str = "moved-aside";
const WAIT: u32 = 900;

/// BGSAVE, then wait in the pod for it to finish. The manual copies whatever dump.rdb is
/// on disk, which can be up to `save 900 1` old; this is the same file, made now.
const BGSAVE: &str = r#"start=$(date +%s)
redis-cli BGSAVE SCHEDULE >/dev/null || exit 1
while :; do
  info=$(redis-cli INFO persistence | tr -d '\r')
  last=$(redis-cli LASTSAVE)
  if echo "$info" | grep -q '^rdb_bgsave_in_progress:0' && [ "$last" -ge "$start" ]; then
    echo "$info" | grep -q '^rdb_last_bgsave_status:ok' && exit 0
    echo "BGSAVE failed: $(echo "$info" | grep rdb_last_bgsave_status)" >&2; exit 1
  fi
  sleep 0.2
done"#;

/// 9.5.5.1 steps 6-7: dump.rdb and appendonly.aof renamed. Redis 7 keeps its AOF in
/// appendonlydir/, which would load instead of the new dump: it goes aside too.
const MOVE_ASIDE: &str = r#"cd /var/lib/redis/data || exit 1
for f in dump.rdb appendonly.aof appendonlydir; do
  if [ -e "$f" ]; then rm -rf -- "$f-old" && mv -- "$f" "$f-old" || exit 1; fi
done"#;

/// The reverse, for a restore that failed after MOVE_ASIDE: the data as it was.
const MOVE_BACK: &str = r#"cd /var/lib/redis/data || exit 1
for f in dump.rdb appendonly.aof appendonlydir; do
  if [ -e "$f-old" ]; then rm -rf -- "$f" && mv -- "$f-old" "$f" || exit 1; fi
done"#;

/// 9.5.5.1 steps 11-12: BGREWRITEAOF and wait for aof_rewrite_in_progress:0.
const REWRITE_AOF: &str = r#"redis-cli BGREWRITEAOF >/dev/null || exit 1
sleep 0.2
while :; do
  info=$(redis-cli INFO persistence | tr -d '\r')
  if echo "$info" | grep -q '^aof_rewrite_in_progress:0' && echo "$info" | grep -q '^aof_rewrite_scheduled:0'; then
    echo "$info" | grep -q '^aof_last_bgrewrite_status:ok' && exit 0
    echo "BGREWRITEAOF failed: $(echo "$info" | grep aof_last_bgrewrite_status)" >&2; exit 1
  fi
  sleep 0.2
done"#;

fn find_pod(deployment: &str) -> Result<String> {
    cluster::find_pod(&format!("deployment={deployment}"))
}

pub fn backup(deployment: &str, artifact: &str, section: &str) -> Result<()> {
    let pod = find_pod(deployment)?;
    info!("{section}: BGSAVE in {pod}, then dump.rdb -> {artifact}");
    cluster::exec_ok(&pod, &["bash", "-c", BGSAVE])?;
    let bytes = cluster::copy_from_pod(&pod, &format!("{DATA}/dump.rdb"), artifact)?;
    info!("{artifact}: {bytes} bytes");
    Ok(())
}

fn set_conf(conf: &str) -> Result<()> {
    cluster::merge_patch(
        "v1",
        "ConfigMap",
        CONFIGMAP,
        &json!({"data": {CONF_KEY: conf}}),
    )?;
    Ok(())
}

pub fn restore(deployment: &str, artifact: &str, section: &str) -> Result<()> {
    let configmap = cluster::get("v1", "ConfigMap", CONFIGMAP)?;
    let original = configmap["data"][CONF_KEY]
        .as_str()
        .ok_or_else(|| crate::Error::invalid(format!("ConfigMap {CONFIGMAP} has no {CONF_KEY}")))?
        .to_string();
    journal::record(RECORDED_CONF, &original)?;
    info!("{section}: redis-config with save off and appendonly no; restarting {deployment}");
    set_conf(&redis_conf_for_restore(&original))?;
    cluster::restart_and_wait(deployment, WAIT)?;

    let pod = find_pod(deployment)?;
    info!("{section}: moving dump.rdb and the AOF aside in {pod}");
    journal::record(MOVED_ASIDE, &pod)?;
    cluster::exec_ok(&pod, &["bash", "-c", MOVE_ASIDE])?;
    info!("{section}: {artifact} -> {pod}:{DATA}/dump.rdb; restarting {deployment} to load it");
    cluster::copy_to_pod(artifact, &pod, &format!("{DATA}/dump.rdb"))?;
    cluster::restart_and_wait(deployment, WAIT)?;

    let pod = find_pod(deployment)?;
    info!("{section}: BGREWRITEAOF in {pod}, waiting for aof_rewrite_in_progress:0");
    cluster::exec_ok(&pod, &["bash", "-c", REWRITE_AOF])?;
    // The restored data now lives in the new AOF too: nothing to move back any more.
    journal::forget(MOVED_ASIDE)?;

    info!("{section}: redis-config put back; restarting {deployment}");
    put_conf_back(deployment)?;
    let pod = find_pod(deployment)?;
    let appendonly = cluster::exec_ok(&pod, &["redis-cli", "CONFIG", "GET", "appendonly"])?;
    if !appendonly.contains("yes") {
        warn!("{deployment} runs with appendonly no after the restore: check redis-config");
    }
    Ok(())
}

fn put_conf_back(deployment: &str) -> Result<()> {
    let Some(original) = journal::recall(RECORDED_CONF) else {
        return Ok(());
    };
    set_conf(&original)?;
    cluster::restart_and_wait(deployment, WAIT)?;
    journal::forget(RECORDED_CONF)
}

/// After a failed restore: the old data files back in place, then the recorded
/// redis-config, then a restart so redis runs as it did before.
pub fn resume(deployment: &str) -> Result<()> {
    if journal::recall(MOVED_ASIDE).is_some() {
        let pod = find_pod(deployment)?;
        warn!("the restore did not finish: moving the old dump.rdb and AOF back in {pod}");
        cluster::exec_ok(&pod, &["bash", "-c", MOVE_BACK])?;
        journal::forget(MOVED_ASIDE)?;
    }
    if journal::recall(RECORDED_CONF).is_some() {
        warn!("the restore did not finish: putting redis-config back and restarting {deployment}");
        put_conf_back(deployment)?;
    }
    Ok(())
}
