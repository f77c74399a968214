//! `sim seed`: fills a 3scale namespace with data shaped like 3scale's, at a requested
//! size, deterministically. Everything is generated as a stream into the real clients in
//! the pods (`mariadb`, `psql` COPY, `redis-cli --pipe`) or written into the storage
//! volume, so a multi-GB seed never sits in memory.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::generate::{Rng, sql_str, timestamp};
use super::pod_exec::{self, MYSQL_CLIENT};
use crate::cluster::Cluster;
use crate::{Result, SimError};

/// Shares of the requested size per component.
const MYSQL: f64 = 0.40;
const ZYNC: f64 = 0.15;
const BACKEND_REDIS: f64 = 0.10;
const SYSTEM_REDIS: f64 = 0.05;
const STORAGE: f64 = 0.30;

/// `files`: system-storage as that many small files instead of its share of `size`.
pub async fn seed(cluster: &Cluster, size: u64, files: Option<u64>) -> Result<Value> {
    let part = |share: f64| ((size as f64) * share) as u64;
    let storage_dir = cluster.dirs.volumes.join("system-storage");
    let (mysql, zync, backend, system, storage) = tokio::join!(
        seed_mysql(cluster, part(MYSQL)),
        seed_zync(cluster, part(ZYNC)),
        seed_redis(cluster, "backend-redis", part(BACKEND_REDIS), 0xB0),
        seed_redis(cluster, "system-redis", part(SYSTEM_REDIS), 0x5E),
        async {
            match files {
                Some(n) => seed_small_files(&storage_dir, n).await,
                None => seed_storage(&storage_dir, part(STORAGE)).await,
            }
        },
    );
    Ok(json!({
        "size": size,
        "system-mysql": mysql?,
        "zync-database": zync?,
        "backend-redis": backend?,
        "system-redis": system?,
        "system-storage": storage?,
    }))
}

/// A generator task writing into a bounded pipe whose other end is a command's stdin.
fn pipe<F, Fut>(generate: F) -> DuplexStream
where
    F: FnOnce(DuplexStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send,
{
    let (reader, writer) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        if let Err(e) = generate(writer).await {
            tracing::debug!("seed generator stopped: {e}");
        }
    });
    reader
}

const MYSQL_SCHEMA: &str = "
SET autocommit=0; SET unique_checks=0; SET foreign_key_checks=0;
DROP TABLE IF EXISTS accounts, users, services, plans, cinstances, cms_templates, audits;
CREATE TABLE accounts (id BIGINT PRIMARY KEY, org_name VARCHAR(255), domain VARCHAR(255), provider TINYINT(1), state VARCHAR(32), created_at DATETIME) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE users (id BIGINT PRIMARY KEY, account_id BIGINT, username VARCHAR(255), email VARCHAR(255), role VARCHAR(32), state VARCHAR(32)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE services (id BIGINT PRIMARY KEY, account_id BIGINT, name VARCHAR(255), system_name VARCHAR(255), backend_version VARCHAR(8), state VARCHAR(32)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE plans (id BIGINT PRIMARY KEY, issuer_id BIGINT, name VARCHAR(255), type VARCHAR(64), cost_per_month DECIMAL(20,4)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE cinstances (id BIGINT PRIMARY KEY, plan_id BIGINT, user_account_id BIGINT, application_id VARCHAR(255), user_key VARCHAR(255), state VARCHAR(32), name VARCHAR(255)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE cms_templates (id BIGINT PRIMARY KEY, provider_id BIGINT, system_name VARCHAR(255), path VARCHAR(255), published MEDIUMTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE audits (id BIGINT PRIMARY KEY, auditable_type VARCHAR(255), auditable_id BIGINT, action VARCHAR(32), audited_changes MEDIUMTEXT, created_at DATETIME) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
";

/// Writes `INSERT` statements of about 256 KiB each.
struct Inserts {
    table: &'static str,
    buf: String,
    rows: u64,
}

impl Inserts {
    fn new(table: &'static str) -> Self {
        Inserts {
            table,
            buf: String::new(),
            rows: 0,
        }
    }
    async fn row(&mut self, out: &mut DuplexStream, values: String) -> std::io::Result<()> {
        if self.buf.is_empty() {
            self.buf = format!("INSERT INTO {} VALUES ", self.table);
        } else {
            self.buf.push(',');
        }
        self.buf.push('(');
        self.buf.push_str(&values);
        self.buf.push(')');
        self.rows += 1;
        if self.buf.len() > 256 * 1024 {
            self.flush(out).await?;
        }
        Ok(())
    }
    async fn flush(&mut self, out: &mut DuplexStream) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.buf.push_str(";\n");
            out.write_all(self.buf.as_bytes()).await?;
            self.buf.clear();
        }
        Ok(())
    }
}

async fn seed_mysql(cluster: &Cluster, bytes: u64) -> Result<Value> {
    let pod = pod_exec::pod(cluster, "system-mysql")?;
    let scale = (bytes / (1 << 20)).max(1);
    let counts = json!({
        "accounts": 20 + scale * 4, "users": 40 + scale * 8, "services": 10 + scale,
        "plans": 30 + scale * 3, "cinstances": 100 + scale * 20, "cms_templates": 20 + scale * 2,
    });
    let audits = (bytes / 1100).max(50);
    let c = counts.clone();
    let input = pipe(move |mut out| async move {
        let mut rng = Rng::new(0x0051_57E3);
        out.write_all(MYSQL_SCHEMA.as_bytes()).await?;
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let mut t = Inserts::new("accounts");
        for id in 1..=n("accounts") {
            let org = rng.text(20);
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{},{}",
                    sql_str(&org),
                    sql_str(&format!("t{id}.apps.example.com")),
                    u8::from(id <= 2),
                    sql_str(rng.pick(&["approved", "pending", "suspended"])),
                    sql_str(&timestamp(id * 977))
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        let mut t = Inserts::new("users");
        for id in 1..=n("users") {
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{},{}",
                    1 + rng.below(n("accounts")),
                    sql_str(&format!("user{id}")),
                    sql_str(&format!("user{id}@example.com")),
                    sql_str(rng.pick(&["admin", "member"])),
                    sql_str("active")
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        let mut t = Inserts::new("services");
        for id in 1..=n("services") {
            let name = rng.text(24);
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{},{}",
                    1 + rng.below(n("accounts")),
                    sql_str(&name),
                    sql_str(&format!("api_{id}")),
                    sql_str(rng.pick(&["1", "2", "oauth"])),
                    sql_str("incomplete")
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        let mut t = Inserts::new("plans");
        for id in 1..=n("plans") {
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{}.{:04}",
                    1 + rng.below(n("services")),
                    sql_str(&rng.text(16)),
                    sql_str(rng.pick(&["ApplicationPlan", "ServicePlan", "AccountPlan"])),
                    rng.below(500),
                    rng.below(10_000)
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        let mut t = Inserts::new("cinstances");
        for id in 1..=n("cinstances") {
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{},{},{}",
                    1 + rng.below(n("plans")),
                    1 + rng.below(n("accounts")),
                    sql_str(&rng.hex(4)),
                    sql_str(&rng.hex(16)),
                    sql_str(rng.pick(&["live", "pending", "suspended"])),
                    sql_str(&rng.text(30))
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        let mut t = Inserts::new("cms_templates");
        for id in 1..=n("cms_templates") {
            let body = format!(
                "<html><body><h1>{}</h1><p>{}</p></body></html>",
                rng.text(30),
                rng.text(2000)
            );
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{}",
                    1 + rng.below(2),
                    sql_str(&format!("page_{id}")),
                    sql_str(&format!("/docs/{id}")),
                    sql_str(&body)
                ),
            )
            .await?;
        }
        t.flush(&mut out).await?;
        out.write_all(b"COMMIT;\n").await?;
        let mut t = Inserts::new("audits");
        for id in 1..=audits {
            let changes = format!(
                "---\nstate:\n- {}\n- {}\nnote: {}",
                rng.pick(&["pending", "live"]),
                rng.pick(&["live", "suspended"]),
                rng.text(900)
            );
            t.row(
                &mut out,
                format!(
                    "{id},{},{},{},{},{}",
                    sql_str(rng.pick(&["Cinstance", "Account", "Service", "Plan"])),
                    1 + rng.below(1000),
                    sql_str(rng.pick(&["create", "update", "destroy"])),
                    sql_str(&changes),
                    sql_str(&timestamp(id * 13))
                ),
            )
            .await?;
            if id % 5000 == 0 {
                t.flush(&mut out).await?;
                out.write_all(b"COMMIT;\n").await?;
            }
        }
        t.flush(&mut out).await?;
        out.write_all(b"COMMIT;\n").await?;
        out.shutdown().await
    });
    pod_exec::run_lines(
        &pod,
        &["bash", "-c", &format!("{MYSQL_CLIENT} system")],
        Some(input),
        |_| {},
    )
    .await?;
    let mut counts = counts;
    counts["audits"] = json!(audits);
    Ok(counts)
}

/// Run as the `zync` role, as zync's own migrations would: the tables are zync's.
const ZYNC_SCHEMA: &str = "
\\set ON_ERROR_STOP on
DROP TABLE IF EXISTS notifications, entries, integrations, models, tenants CASCADE;
CREATE TABLE tenants (id bigint PRIMARY KEY, endpoint text NOT NULL, access_token text NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE models (id bigint PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES tenants(id), record_type text NOT NULL, record_id bigint NOT NULL, created_at timestamp NOT NULL);
CREATE TABLE integrations (id bigint PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES tenants(id), type text NOT NULL, state text NOT NULL, configuration jsonb);
CREATE TABLE entries (id bigint PRIMARY KEY, tenant_id bigint NOT NULL, model_id bigint NOT NULL REFERENCES models(id), data jsonb, created_at timestamp NOT NULL);
CREATE TABLE notifications (id bigint PRIMARY KEY, model_id bigint NOT NULL REFERENCES models(id), integration_id bigint NOT NULL, data jsonb, created_at timestamp NOT NULL);
CREATE INDEX index_entries_on_model_id ON entries (model_id);
";

async fn seed_zync(cluster: &Cluster, bytes: u64) -> Result<Value> {
    let pod = pod_exec::pod(cluster, "zync-database")?;
    let tenants = 3 + bytes / (8 << 20);
    let models = 50 + bytes / 20_000;
    let integrations = tenants * 2;
    let entries = (bytes / 600).max(50);
    let notifications = models;
    let input = pipe(move |mut out| async move {
        let mut rng = Rng::new(0x2F1C);
        out.write_all(ZYNC_SCHEMA.as_bytes()).await?;
        out.write_all(b"BEGIN;\nCOPY tenants FROM STDIN;\n").await?;
        for id in 1..=tenants {
            out.write_all(
                format!(
                    "{id}\thttps://t{id}-admin.apps.example.com\t{}\t{}\n",
                    rng.hex(16),
                    timestamp(id * 31)
                )
                .as_bytes(),
            )
            .await?;
        }
        out.write_all(b"\\.\nCOPY models FROM STDIN;\n").await?;
        for id in 1..=models {
            out.write_all(
                format!(
                    "{id}\t{}\t{}\t{}\t{}\n",
                    1 + rng.below(tenants),
                    rng.pick(&["Application", "Proxy", "Service", "Provider"]),
                    rng.below(100_000),
                    timestamp(id * 7)
                )
                .as_bytes(),
            )
            .await?;
        }
        out.write_all(b"\\.\nCOPY integrations FROM STDIN;\n")
            .await?;
        for id in 1..=integrations {
            out.write_all(
                format!(
                    "{id}\t{}\t{}\tactive\t{{\"endpoint\": \"https://sso{id}.example.com\"}}\n",
                    1 + (id - 1) % tenants,
                    rng.pick(&[
                        "Integration::Keycloak",
                        "Integration::Kubernetes",
                        "Integration::Generic"
                    ])
                )
                .as_bytes(),
            )
            .await?;
        }
        out.write_all(b"\\.\nCOPY entries FROM STDIN;\n").await?;
        for id in 1..=entries {
            let data = format!(
                "{{\"id\": {id}, \"name\": \"{}\", \"description\": \"{}\"}}",
                rng.text(20),
                rng.text(450)
            );
            out.write_all(
                format!(
                    "{id}\t{}\t{}\t{data}\t{}\n",
                    1 + rng.below(tenants),
                    1 + rng.below(models),
                    timestamp(id)
                )
                .as_bytes(),
            )
            .await?;
        }
        out.write_all(b"\\.\nCOPY notifications FROM STDIN;\n")
            .await?;
        for id in 1..=notifications {
            out.write_all(
                format!(
                    "{id}\t{id}\t{}\t{{\"status\": \"{}\"}}\t{}\n",
                    1 + rng.below(integrations),
                    rng.pick(&["ok", "failed", "retry"]),
                    timestamp(id * 3)
                )
                .as_bytes(),
            )
            .await?;
        }
        out.write_all(b"\\.\nCOMMIT;\n").await?;
        out.shutdown().await
    });
    pod_exec::run_lines(
        &pod,
        &[
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "zync",
            "zync_production",
        ],
        Some(input),
        |_| {},
    )
    .await?;
    Ok(
        json!({"tenants": tenants, "models": models, "integrations": integrations, "entries": entries, "notifications": notifications}),
    )
}

fn resp(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s
}

async fn seed_redis(cluster: &Cluster, deployment: &str, bytes: u64, salt: u64) -> Result<Value> {
    let pod = pod_exec::pod(cluster, deployment)?;
    let backend = deployment == "backend-redis";
    let data_keys = (bytes * 8 / 10 / 160).max(20);
    let queue_jobs = (bytes * 2 / 10 / 300).max(5);
    let input = pipe(move |mut out| async move {
        let mut rng = Rng::new(salt);
        out.write_all(resp(&["FLUSHALL"]).as_bytes()).await?;
        out.write_all(resp(&["SELECT", "0"]).as_bytes()).await?;
        for i in 0..data_keys {
            let cmd = match (backend, i % 4) {
                (true, 0) => resp(&[
                    "SET",
                    &format!("stats/{{service:{}}}/metric:{}/day:{}", i % 97, i % 13, i),
                    &rng.below(100_000).to_string(),
                ]),
                (true, 1) => resp(&[
                    "HSET",
                    &format!("service/id:{i}"),
                    "provider_key",
                    &rng.hex(16),
                    "referrer_filters_required",
                    "0",
                    "backend_version",
                    "2",
                ]),
                (true, 2) => resp(&[
                    "SADD",
                    &format!("service_id:{}/applications", i % 97),
                    &rng.hex(4),
                    &rng.hex(4),
                ]),
                (true, _) => resp(&[
                    "SET",
                    &format!("application/service_id:{}/id:{}/state", i % 97, rng.hex(4)),
                    &rng.text(120),
                ]),
                (false, 0) => resp(&[
                    "SET",
                    &format!("user_session:{}", rng.hex(8)),
                    &rng.text(140),
                ]),
                (false, 1) => resp(&["HSET", &format!("cache:views:{i}"), "body", &rng.text(120)]),
                (false, _) => resp(&[
                    "ZADD",
                    "schedule",
                    &rng.below(1_000_000).to_string(),
                    &format!("{{\"jid\":\"{}\"}}", rng.hex(8)),
                ]),
            };
            out.write_all(cmd.as_bytes()).await?;
        }
        out.write_all(resp(&["SELECT", "1"]).as_bytes()).await?;
        for i in 0..queue_jobs {
            let queue = if backend {
                "resque:queue:priority"
            } else {
                "queue:default"
            };
            let job = format!(
                "{{\"class\":\"{}\",\"args\":[{},\"{}\"]}}",
                rng.pick(&["ReportJob", "SyncJob", "NotifyJob"]),
                i,
                rng.text(220)
            );
            out.write_all(resp(&["RPUSH", queue, &job]).as_bytes())
                .await?;
        }
        out.shutdown().await
    });
    let mut summary = String::new();
    pod_exec::run_lines(&pod, &["redis-cli", "--pipe"], Some(input), |l| {
        summary.push_str(l);
        summary.push(' ');
    })
    .await?;
    if !summary.contains("errors: 0") {
        return Err(SimError::pod(
            &pod.name,
            format!("redis-cli --pipe reported: {summary}"),
        ));
    }
    Ok(json!({"db0": data_keys, "db1": queue_jobs}))
}

async fn seed_storage(root: &Path, bytes: u64) -> Result<Value> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<Value> {
        clear_dir(&root)?;
        let mut rng = Rng::new(0x5707);
        let (mut written, mut files) = (0u64, 0u64);
        let mut buf = Vec::new();
        while written < bytes.max(4096) {
            let provider = files % 3 + 1;
            let (dir, ext, size) = match rng.below(4) {
                0 => ("attachments", "pdf", 4096 + rng.below(256 * 1024)),
                1 => ("images", "png", 1024 + rng.below(64 * 1024)),
                2 => ("stylesheets", "css", 512 + rng.below(16 * 1024)),
                _ => ("javascripts", "js", 512 + rng.below(32 * 1024)),
            };
            let path = root
                .join(format!("provider-{provider}"))
                .join(dir)
                .join(format!("{:03}", files / 50))
                .join(format!("file-{files}.{ext}"));
            std::fs::create_dir_all(path.parent().expect("has parent"))
                .map_err(|e| SimError::io(&path, e))?;
            buf.clear();
            if ext == "css" || ext == "js" {
                buf.extend_from_slice(rng.text(size as usize).as_bytes());
            } else {
                rng.bytes(size as usize, &mut buf);
            }
            std::fs::write(&path, &buf).map_err(|e| SimError::io(&path, e))?;
            written += size;
            files += 1;
        }
        Ok(json!({"files": files, "bytes": written}))
    })
    .await
    .map_err(|e| SimError::Other(e.to_string()))?
}

/// `count` files of 100 B to 2 KiB, 500 to a directory: a tree whose cost is per file
/// (headers, creates, round trips), not per byte.
async fn seed_small_files(root: &Path, count: u64) -> Result<Value> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<Value> {
        clear_dir(&root)?;
        let mut rng = Rng::new(0x5A11);
        let mut written = 0u64;
        let mut dir = PathBuf::new();
        for n in 0..count {
            if n % 500 == 0 {
                dir = root
                    .join(format!("provider-{}", n / 500 % 3 + 1))
                    .join("attachments")
                    .join(format!("{:05}", n / 500));
                std::fs::create_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
            }
            let size = 100 + rng.below(1948) as usize;
            let path = dir.join(format!("a-{n}.txt"));
            std::fs::write(&path, rng.text(size)).map_err(|e| SimError::io(&path, e))?;
            written += size as u64;
        }
        Ok(json!({"files": count, "bytes": written}))
    })
    .await
    .map_err(|e| SimError::Other(e.to_string()))?
}

pub fn clear_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| SimError::io(dir, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| SimError::io(dir, e))? {
        let path = entry?.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| SimError::io(&path, e))?;
    }
    Ok(())
}
