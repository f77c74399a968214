//! `sim damage`: what the demo's disaster does to every component, through the same
//! servers a real incident would hit.

use serde_json::{Value, json};

use super::fingerprint::{BACKED_UP_CONFIGMAPS, BACKED_UP_SECRETS};
use super::pod_exec::{self, MYSQL_CLIENT};
use crate::Result;
use crate::cluster::Cluster;
use crate::resources::{CONFIGMAPS, SECRETS};

pub async fn damage(cluster: &Cluster) -> Result<Value> {
    let mysql = pod_exec::pod(cluster, "system-mysql")?;
    pod_exec::output(
        &mysql,
        &[
            "bash",
            "-c",
            &format!("{MYSQL_CLIENT} -e 'DROP DATABASE `system`; CREATE DATABASE `system`'"),
        ],
    )
    .await?;
    let zync = pod_exec::pod(cluster, "zync-database")?;
    pod_exec::output(
        &zync,
        // A lost database: zync_production as a new pod's first start makes it (the
        // image's createdb --owner=zync), empty.
        &[
            "bash",
            "-c",
            "psql -q -v ON_ERROR_STOP=1 -d postgres -c 'DROP DATABASE zync_production WITH (FORCE)' \
             && createdb --owner=\"$POSTGRESQL_USER\" zync_production",
        ],
    )
    .await?;
    for redis in ["backend-redis", "system-redis"] {
        let pod = pod_exec::pod(cluster, redis)?;
        pod_exec::output(&pod, &["redis-cli", "FLUSHALL"]).await?;
    }
    super::seed::clear_dir(&cluster.dirs.volumes.join("system-storage"))?;
    // Pods already running keep the environment they started with, as in Kubernetes, so
    // deleting system-database does not stop MySQL; a restarted pod would wait for it.
    let mut deleted = Vec::new();
    for name in BACKED_UP_CONFIGMAPS {
        if cluster
            .store
            .delete(&CONFIGMAPS, &cluster.namespace, name)
            .is_ok()
        {
            deleted.push(format!("configmap/{name}"));
        }
    }
    for name in BACKED_UP_SECRETS {
        if cluster
            .store
            .delete(&SECRETS, &cluster.namespace, name)
            .is_ok()
        {
            deleted.push(format!("secret/{name}"));
        }
    }
    Ok(json!({
        "system-mysql": "dropped and recreated database system",
        "zync-database": "dropped and recreated database zync_production (owner zync)",
        "backend-redis": "FLUSHALL", "system-redis": "FLUSHALL",
        "system-storage": "deleted every file",
        "deleted": deleted,
    }))
}
