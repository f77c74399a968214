//! The redis procedure of the manual, shared by backend-redis and system-redis (they
//! differ only in the workload and the file name) and by the 3scale releases: a fresh
//! dump.rdb for the backup (9.4.3, 9.4.4), and the restore of 9.5.5.1/9.5.5.2 with the
//! shared `redis-config` ConfigMap edited and put back.
//!
//! How an edit reaches the pods is the release's ([`RedisConfig`]). The 3scale 2.15
//! operator rolls *both* redis Deployments whenever `redis-config` changes (the
//! `redisConfigMapResourceVersion` pod-template annotation,
//! redis_options_provider.go:268-307), a while after the edit. So each edit is followed
//! by a wait until both Deployments carry the new version and have rolled out, and the
//! procedure restarts a Deployment itself only where the operator would not (the load of
//! the new dump.rdb, or an operator that does not roll). The other redis also runs with
//! saving off for the length of the window; before the configuration is put back (which
//! restarts it without a final save), its memory is written to its AOF, so no write of
//! that window is lost. In 2.14 nothing follows the ConfigMap: each edit is followed by
//! the manual's `oc rollout latest dc/NAME` of the one redis being restored, and the
//! other keeps running as it was. Every change is journalled before it is made, so
//! [`resume`] can put the ConfigMap, and the data files that were moved aside, back.

use guest_sdk::json::json;
use guest_sdk::prelude::*;

use crate::release::{RedisConfig, Release};

const CONFIGMAP: &str = "redis-config";
const CONF_KEY: &str = "redis.conf";
const DATA: &str = "/var/lib/redis/data";
/// Journal keys.
const RECORDED_CONF: &str = "redis-conf";
const MOVED_ASIDE: &str = "moved-aside";
const WAIT: u32 = 900;

/// The two redis workloads sharing `redis-config`.
pub const REDIS: [&str; 2] = ["backend-redis", "system-redis"];

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

/// Turns the AOF on in a running redis (which writes its whole memory to a new AOF) and
/// waits for that rewrite: the writes of a window with saving off survive the restart
/// that ends the window.
const PERSIST_NOW: &str = r#"redis-cli CONFIG SET appendonly yes >/dev/null || exit 1
sleep 0.2
while :; do
  info=$(redis-cli INFO persistence | tr -d '\r')
  if echo "$info" | grep -q '^aof_rewrite_in_progress:0' && echo "$info" | grep -q '^aof_rewrite_scheduled:0'; then
    echo "$info" | grep -q '^aof_last_bgrewrite_status:ok' && exit 0
    echo "AOF rewrite failed: $(echo "$info" | grep aof_last_bgrewrite_status)" >&2; exit 1
  fi
  sleep 0.2
done"#;

fn find_pod(release: &Release, name: &str) -> Result<String> {
    pods::find_pod(&release.workload.selector(name))
}

/// A redis the procedure restores: its workload and its file in the set.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub name: &'a str,
    pub artifact: &'a str,
}

/// The journal key of a redis whose data files are moved aside: its pod.
fn moved_aside_key(name: &str) -> String {
    format!("{MOVED_ASIDE} {name}")
}

/// The redis workloads an edit of `redis-config` restarts while `names` are restored.
fn restarted_by_edits(release: &Release, names: &[&str]) -> Vec<&'static str> {
    match release.redis_config {
        RedisConfig::OperatorRolls { .. } => REDIS.to_vec(),
        RedisConfig::CreateOnly => REDIS.into_iter().filter(|r| names.contains(r)).collect(),
    }
}

pub fn backup(release: &Release, name: &str, artifact: &str, section: &str) -> Result<()> {
    let pod = find_pod(release, name)?;
    info!("{section}: BGSAVE in {pod}, then dump.rdb -> {artifact}");
    pods::exec_ok(&pod, &["bash", "-c", BGSAVE])?;
    let bytes = pods::copy_from_pod(&pod, &format!("{DATA}/dump.rdb"), artifact)?;
    info!("{artifact}: {bytes} bytes");
    Ok(())
}

/// Whether the operator rolls the redis Deployments on a `redis-config` change: their
/// pod templates carry its annotation.
fn operator_rolls(release: &Release, name: &str, annotation: &str) -> Result<bool> {
    let w = release.workload;
    let d = objects::get(w.api_version(), w.kind(), name)?;
    Ok(!d["spec"]["template"]["metadata"]["annotations"][annotation].is_null())
}

/// Writes redis.conf into the ConfigMap and waits until the redis workloads run with
/// it: both rolled by the operator (2.15), or `names` restarted here, as the manual does
/// (2.14, or an operator that does not roll).
fn set_conf(release: &Release, conf: &str, names: &[&str]) -> Result<()> {
    let w = release.workload;
    // Read before the edit: the annotation is on the pod templates either way.
    let rolled_by = match release.redis_config {
        RedisConfig::OperatorRolls { annotation }
            if operator_rolls(release, names[0], annotation)? =>
        {
            Some(annotation)
        }
        _ => None,
    };
    let patched = objects::merge_patch(
        "v1",
        "ConfigMap",
        CONFIGMAP,
        &json!({"data": {CONF_KEY: conf}}),
    )?;
    let Some(annotation) = rolled_by else {
        for name in names {
            info!("{}", w.restart_words(name));
        }
        return w.restart_all_and_wait(names, WAIT);
    };
    let mut version = patched["metadata"]["resourceVersion"]
        .as_str()
        .or_invalid("the patched ConfigMap has no resourceVersion")?
        .to_string();
    for d in REDIS {
        // The operator may rewrite the ConfigMap itself (it re-adds its rename-command
        // lines, configmap.go:23-47): then the version to wait for is the newer one.
        let condition =
            |v: &str| format!("jsonpath={{.spec.template.metadata.annotations.{annotation}}}={v}");
        if let Err(e) = objects::wait_for(w.api_version(), w.kind(), d, &condition(&version), WAIT)
        {
            let now = objects::get("v1", "ConfigMap", CONFIGMAP)?;
            match now["metadata"]["resourceVersion"].as_str() {
                Some(v) if v != version => {
                    version = v.to_string();
                    objects::wait_for(w.api_version(), w.kind(), d, &condition(&version), WAIT)?;
                }
                _ => {
                    return Err(e.context(&format!(
                        "waiting for the operator to roll {d} with redis-config version {version}"
                    )));
                }
            }
        }
        w.status(d, WAIT)?;
    }
    Ok(())
}

/// 9.5.5.1/9.5.5.2 for each of `targets` in one configuration window: one edit of
/// redis-config, every move-aside and copy, one restart of each to load its dump, one
/// AOF rewrite each, and one edit back. With the 2.15 operator, which rolls both redis
/// on every edit, restoring both together takes half the rollouts of one after the
/// other.
pub fn restore(release: &Release, targets: &[Target], section: &str) -> Result<()> {
    let w = release.workload;
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    let configmap = objects::get("v1", "ConfigMap", CONFIGMAP)?;
    let original = configmap["data"][CONF_KEY]
        .as_str()
        .ok_or_else(|| Error::invalid(format!("ConfigMap {CONFIGMAP} has no {CONF_KEY}")))?
        .to_string();
    journal::record(RECORDED_CONF, &original)?;
    info!(
        "{section}: redis-config with save off and appendonly no; waiting for {} to run with it",
        restarted_by_edits(release, &names).join(" and ")
    );
    set_conf(release, &redis_conf_for_restore(&original), &names)?;

    for t in targets {
        let pod = find_pod(release, t.name)?;
        info!("{section}: moving dump.rdb and the AOF aside in {pod}");
        journal::record(&moved_aside_key(t.name), &pod)?;
        pods::exec_ok(&pod, &["bash", "-c", MOVE_ASIDE])?;
        info!("{section}: {} -> {pod}:{DATA}/dump.rdb", t.artifact);
        pods::copy_to_pod(t.artifact, &pod, &format!("{DATA}/dump.rdb"))?;
    }
    for name in &names {
        info!("{section}: {} to load its dump.rdb", w.restart_words(name));
    }
    w.restart_all_and_wait(&names, WAIT)?;

    for name in &names {
        let pod = find_pod(release, name)?;
        info!("{section}: BGREWRITEAOF in {pod}, waiting for aof_rewrite_in_progress:0");
        pods::exec_ok(&pod, &["bash", "-c", REWRITE_AOF])?;
        // The restored data now lives in the new AOF too: nothing to move back any more.
        journal::forget(&moved_aside_key(name))?;
    }

    info!("{section}: redis-config put back");
    put_conf_back(release, &names, &[])?;
    for d in restarted_by_edits(release, &names) {
        let pod = find_pod(release, d)?;
        let appendonly = pods::exec_ok(&pod, &["redis-cli", "CONFIG", "GET", "appendonly"])?;
        if !appendonly.contains("yes") {
            warn!("{d} runs with appendonly no after the restore: check redis-config");
        }
    }
    Ok(())
}

/// Ends the window: the memory of every redis that ran with saving off and holds the
/// data it should keep goes to its AOF first (the coming restart does not save), then
/// the recorded configuration. A redis whose old files were just moved back holds
/// only its old dump.rdb in memory, older than the AOF that the restart loads: it is
/// left alone.
fn put_conf_back(release: &Release, names: &[&str], moved_back: &[&str]) -> Result<()> {
    let Some(original) = journal::recall(RECORDED_CONF) else {
        return Ok(());
    };
    for d in restarted_by_edits(release, names) {
        if moved_back.contains(&d) {
            continue;
        }
        match find_pod(release, d) {
            Ok(pod) => {
                info!("writing {d}'s memory to its AOF before its restart");
                pods::exec_ok(&pod, &["bash", "-c", PERSIST_NOW])?;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    set_conf(release, &original, names)?;
    journal::forget(RECORDED_CONF)
}

/// After a failed restore: the old data files back in place, then the recorded
/// redis-config, so both redis run as they did before.
pub fn resume(release: &Release, names: &[&str]) -> Result<()> {
    let w = release.workload;
    let mut moved_back = Vec::new();
    for name in names {
        if journal::recall(&moved_aside_key(name)).is_some() {
            let pod = find_pod(release, name)?;
            warn!("the restore did not finish: moving the old dump.rdb and AOF back in {pod}");
            pods::exec_ok(&pod, &["bash", "-c", MOVE_BACK])?;
            moved_back.push(*name);
        }
    }
    if !moved_back.is_empty() {
        w.restart_all_and_wait(&moved_back, WAIT)?;
        for name in &moved_back {
            journal::forget(&moved_aside_key(name))?;
        }
    }
    if journal::recall(RECORDED_CONF).is_some() {
        warn!("the restore did not finish: putting redis-config back");
        put_conf_back(release, names, &moved_back)?;
    }
    Ok(())
}

/// redis.conf for loading a dump (manual 9.5.5.1 steps 2-3): `save` lines commented out,
/// `appendonly no`, plus `save ""`. The manual only comments the lines out, but Redis 6.2
/// and later then fall back to built-in save points, and the old pod's shutdown during
/// the next rollout saves its memory over the dump.rdb just put in place. `save ""` turns
/// snapshotting off for real.
pub fn redis_conf_for_restore(conf: &str) -> String {
    let mut out = Vec::new();
    let mut saw_appendonly = false;
    for line in conf.lines() {
        let trimmed = line.trim_start();
        if directive(trimmed) == Some("save") {
            out.push(format!("#{trimmed}"));
        } else if directive(trimmed) == Some("appendonly") {
            out.push("appendonly no".to_string());
            saw_appendonly = true;
        } else {
            out.push(line.to_string());
        }
    }
    if !saw_appendonly {
        out.push("appendonly no".to_string());
    }
    out.push("save \"\"".to_string());
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn directive(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    line.split_whitespace().next()
}

/// Settings of a redis.conf that matter to the procedure: (save rules, appendonly).
pub fn redis_persistence(conf: &str) -> (Vec<String>, Option<String>) {
    let mut saves = Vec::new();
    let mut appendonly = None;
    for line in conf.lines().map(str::trim_start) {
        match directive(line) {
            Some("save") => saves.push(line["save".len()..].trim().to_string()),
            Some("appendonly") => appendonly = line.split_whitespace().nth(1).map(String::from),
            _ => {}
        }
    }
    (saves, appendonly)
}

/// A field of `redis-cli INFO` output, e.g. `aof_rewrite_in_progress`.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "port 6379\n# a comment about save\nsave 900 1\nsave 300 10\n  save 60 10000\nappendonly yes\ndir /var/lib/redis/data\n";

    #[test]
    fn restore_config_disables_every_kind_of_snapshot() {
        let edited = redis_conf_for_restore(CONF);
        let (saves, appendonly) = redis_persistence(&edited);
        assert_eq!(
            saves,
            vec!["\"\""],
            "only save \"\" remains active: {edited}"
        );
        assert_eq!(appendonly.as_deref(), Some("no"));
        assert!(edited.contains("#save 900 1") && edited.contains("#save 60 10000"));
        assert!(edited.contains("dir /var/lib/redis/data"));
        let (orig_saves, orig_aof) = redis_persistence(CONF);
        assert_eq!(orig_saves.len(), 3);
        assert_eq!(orig_aof.as_deref(), Some("yes"));
    }

    #[test]
    fn restore_config_adds_appendonly_when_missing() {
        let edited = redis_conf_for_restore("port 6379\n");
        assert_eq!(redis_persistence(&edited).1.as_deref(), Some("no"));
    }

    #[test]
    fn info_fields() {
        let info = "# Persistence\r\naof_rewrite_in_progress:1\r\nrdb_bgsave_in_progress:0\r\n";
        assert_eq!(info_field(info, "aof_rewrite_in_progress"), Some("1"));
        assert_eq!(info_field(info, "rdb_bgsave_in_progress"), Some("0"));
        assert_eq!(info_field(info, "missing"), None);
    }

    #[test]
    fn an_edit_restarts_both_redis_only_where_the_operator_rolls_them() {
        use crate::{v2_14, v2_15};
        assert_eq!(
            restarted_by_edits(&v2_15::RELEASE, &["system-redis"]),
            ["backend-redis", "system-redis"]
        );
        assert_eq!(
            restarted_by_edits(&v2_14::RELEASE, &["system-redis"]),
            ["system-redis"]
        );
        assert_eq!(
            restarted_by_edits(&v2_14::RELEASE, &["system-redis", "backend-redis"]),
            ["backend-redis", "system-redis"]
        );
    }
}
