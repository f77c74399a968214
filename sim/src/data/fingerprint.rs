//! `sim fingerprint`: one digest per component, computed from what the servers hold (rows
//! in table order, Redis keys with their values, files with their content, ConfigMap and
//! Secret data), so two fingerprints are equal exactly when a round trip lost nothing.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::pod_exec::{self, MYSQL_CLIENT};
use crate::cluster::Cluster;
use crate::cluster::bootstrap::SECRET_NAMES;
use crate::resources::{CONFIGMAPS, SECRETS};
use crate::{Result, SimError};

/// The ConfigMaps and Secrets the backup procedure covers.
pub const BACKED_UP_CONFIGMAPS: &[&str] = &["system-environment", "apicast-environment"];
pub const BACKED_UP_SECRETS: &[&str] = &[
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
];

pub async fn fingerprint(cluster: &Cluster) -> Result<Value> {
    let storage_dir = cluster.dirs.volumes.join("system-storage");
    let (mysql, zync, backend, system, storage) = tokio::join!(
        tables(cluster, "system-mysql"),
        tables(cluster, "zync-database"),
        redis(cluster, "backend-redis"),
        redis(cluster, "system-redis"),
        files(&storage_dir),
    );
    let mut components = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for (name, result) in [
        ("system-mysql", mysql),
        ("zync-database", zync),
        ("backend-redis", backend),
        ("system-redis", system),
        ("system-storage", storage),
    ] {
        match result {
            Ok(c) => {
                components.insert(name, c);
            }
            Err(e) => {
                components.insert(name, json!({"error": e.to_string()}));
                errors.insert(name, e.to_string());
            }
        }
    }
    components.insert(
        "configmaps",
        objects(cluster, &CONFIGMAPS, BACKED_UP_CONFIGMAPS),
    );
    components.insert("secrets", objects(cluster, &SECRETS, BACKED_UP_SECRETS));
    debug_assert!(BACKED_UP_SECRETS.iter().all(|s| SECRET_NAMES.contains(s)));
    Ok(json!({"components": components, "errors": errors}))
}

fn component(hasher: Sha256, summary: String) -> Value {
    json!({"digest": hex::encode(hasher.finalize()), "summary": summary})
}

/// What zync can read is what counts: zync connects as the `zync` role
/// (POSTGRESQL_USER), not as the superuser an admin's `psql` in the pod is. A restore that
/// recreated schema `public` as postgres leaves zync without USAGE on it (PostgreSQL's
/// `CREATE SCHEMA` grants nothing to PUBLIC), and zync fails although every row is there.
const ZYNC_ACCESS_CHECK: &str = "\
SELECT format('schema public (owner %s, privileges %s) grants zync no USAGE', \
  pg_get_userbyid(nspowner), coalesce(nspacl::text, 'the owner''s only')) \
  FROM pg_namespace WHERE nspname = 'public' AND NOT has_schema_privilege('zync', oid, 'USAGE') \
UNION ALL \
SELECT format('table %s (owner %s) grants zync no SELECT', tablename, tableowner) \
  FROM pg_tables WHERE schemaname = 'public' \
  AND NOT has_table_privilege('zync', format('%I.%I', schemaname, tablename), 'SELECT')";

async fn zync_can_read(pod: &crate::cluster::PodHandle) -> Result<()> {
    let problems = pod_exec::output(
        pod,
        &[
            "psql",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            ZYNC_ACCESS_CHECK,
            "zync_production",
        ],
    )
    .await?;
    let problems: Vec<&str> = problems.lines().filter(|l| !l.trim().is_empty()).collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(SimError::Other(format!(
        "the zync role cannot read its data in zync_production, so zync would fail: {}",
        problems.join("; ")
    )))
}

async fn tables(cluster: &Cluster, deployment: &str) -> Result<Value> {
    let pod = pod_exec::pod(cluster, deployment)?;
    if deployment == "zync-database" {
        zync_can_read(&pod).await?;
    }
    let script = if deployment == "system-mysql" {
        format!(
            "set -e; q() {{ {MYSQL_CLIENT} -N -B \"$@\"; }}; \
             for t in $(q -e \"SELECT table_name FROM information_schema.tables WHERE table_schema='system' ORDER BY 1\"); do \
             echo \"== $t\"; q -e \"SELECT * FROM \\`$t\\` ORDER BY 1\" system; done"
        )
    } else {
        "set -e; for t in $(psql -U zync -tA -c \"SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1\" zync_production); do \
         echo \"== $t\"; psql -U zync -tA -c \"COPY (SELECT * FROM \\\"$t\\\" ORDER BY 1) TO STDOUT\" zync_production; done"
            .to_string()
    };
    let mut hasher = Sha256::new();
    let (mut tables, mut rows) = (0u64, 0u64);
    pod_exec::run_lines(
        &pod,
        &["bash", "-c", &script],
        None::<tokio::io::Empty>,
        |line| {
            if line.starts_with("== ") {
                tables += 1;
            } else {
                rows += 1;
            }
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        },
    )
    .await?;
    Ok(component(hasher, format!("{tables} tables, {rows} rows")))
}

/// Hashes every key with its type and value inside Redis, in key order.
const REDIS_DIGEST: &str = r#"
local keys = redis.call('KEYS', '*')
table.sort(keys)
local parts = {}
for _, k in ipairs(keys) do
  local t = redis.call('TYPE', k).ok
  local v = ''
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), '\0')
  elseif t == 'set' then local m = redis.call('SMEMBERS', k); table.sort(m); v = table.concat(m, '\0')
  elseif t == 'zset' then v = table.concat(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), '\0')
  elseif t == 'hash' then
    local h = redis.call('HGETALL', k); local pairs_ = {}
    for i = 1, #h, 2 do pairs_[#pairs_ + 1] = h[i] .. '\0' .. h[i + 1] end
    table.sort(pairs_); v = table.concat(pairs_, '\0')
  end
  parts[#parts + 1] = redis.sha1hex(k .. '\0' .. t .. '\0' .. v)
end
return {#keys, redis.sha1hex(table.concat(parts, ''))}
"#;

async fn redis(cluster: &Cluster, deployment: &str) -> Result<Value> {
    let pod = pod_exec::pod(cluster, deployment)?;
    let keyspace = pod_exec::output(&pod, &["redis-cli", "INFO", "keyspace"]).await?;
    let mut dbs: Vec<u32> = keyspace
        .lines()
        .filter_map(|l| l.strip_prefix("db")?.split(':').next()?.parse().ok())
        .collect();
    dbs.sort();
    let mut hasher = Sha256::new();
    let mut summary = Vec::new();
    for db in dbs {
        let out = pod_exec::output(
            &pod,
            &[
                "redis-cli",
                "-n",
                &db.to_string(),
                "EVAL",
                REDIS_DIGEST,
                "0",
            ],
        )
        .await?;
        let mut lines = out.lines();
        let (count, digest) = (lines.next().unwrap_or("0"), lines.next().unwrap_or(""));
        if count == "0" {
            continue;
        }
        hasher.update(format!("db{db}:{count}:{digest}\n").as_bytes());
        summary.push(format!("db{db}: {count} keys"));
    }
    if summary.is_empty() {
        summary.push("no keys".into());
    }
    Ok(component(hasher, summary.join(", ")))
}

async fn files(root: &Path) -> Result<Value> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut paths = Vec::new();
        walk(&root, &root, &mut paths)?;
        paths.sort();
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        for rel in &paths {
            let path = root.join(rel);
            let mut file = std::fs::File::open(&path).map_err(|e| SimError::io(&path, e))?;
            let mut content = Sha256::new();
            loop {
                let n = file.read(&mut buf).map_err(|e| SimError::io(&path, e))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                content.update(&buf[..n]);
            }
            hasher.update(format!("{rel}\0{}\n", hex::encode(content.finalize())).as_bytes());
        }
        Ok(component(
            hasher,
            format!("{} files, {:.1} MiB", paths.len(), total as f64 / 1048576.0),
        ))
    })
    .await
    .map_err(|e| SimError::Other(e.to_string()))?
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() {
            walk(root, &path, out)?;
        } else {
            out.push(
                path.strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    Ok(())
}

fn objects(cluster: &Cluster, rt: &crate::resources::ResourceType, names: &[&str]) -> Value {
    let mut hasher = Sha256::new();
    let mut present = 0;
    for name in names {
        let data = cluster
            .store
            .get(rt, &cluster.namespace, name)
            .map(|o| o["data"].clone());
        if data.is_some() {
            present += 1;
        }
        hasher.update(format!("{name}\0{}\n", data.unwrap_or(Value::Null)).as_bytes());
    }
    component(hasher, format!("{present} of {} present", names.len()))
}
