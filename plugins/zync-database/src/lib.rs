//! zync's database: `pg_dump zync_production` gzip'd (9.4.5), and the operator-based
//! restore of 9.5.4.1 with zync and zync-que scaled down around the load.

use guest_sdk::prelude::*;
use guest_sdk::threescale::{
    APIMANAGER_API, APIMANAGER_KIND, apimanager_name, has_replicas, put_back_patch,
};

const POD: &str = "deployment=zync-database";
const ARTIFACT: &str = "zync-database-backup.gz";
/// Journal key holding `.spec.zync` as it was before the restore scaled zync down.
const RECORDED_SPEC: &str = "zync-spec";
const WAIT: u32 = 600;

/// The dump is loaded into a clean schema inside one transaction, so a load that fails
/// halfway leaves the database as it was, and loading over existing data does not trip
/// over "relation already exists" (the manual assumes a freshly deployed, empty database;
/// pg_dump's plain format does not drop what exists).
const LOAD: &str = "{ echo 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;'; cat; } \
                    | psql -v ON_ERROR_STOP=1 --single-transaction -q zync_production";

struct ZyncDatabase;

impl Plugin for ZyncDatabase {
    fn backup() -> Result<()> {
        let pod = cluster::find_pod(POD)?;
        info!("9.4.5: pg_dump zync_production in {pod}");
        let size = cluster::exec_to_artifact(
            &pod,
            &["bash", "-c", "pg_dump zync_production"],
            ARTIFACT,
            Compression::Gzip,
        )?;
        info!("{ARTIFACT}: {size} bytes");
        Ok(())
    }

    fn restore() -> Result<()> {
        let apimanager = apimanager_name()?;
        let spec =
            cluster::get(APIMANAGER_API, APIMANAGER_KIND, &apimanager)?["spec"]["zync"].clone();
        // Recorded before anything changes, so resume can put it back whatever happens next.
        journal::record_json(RECORDED_SPEC, &spec)?;
        info!("9.5.4.1: recorded .spec.zync = {spec}; scaling zync and zync-que to 0");
        cluster::merge_patch(
            APIMANAGER_API,
            APIMANAGER_KIND,
            &apimanager,
            &json!({"spec": {"zync": {"appSpec": {"replicas": 0}, "queSpec": {"replicas": 0}}}}),
        )?;
        cluster::rollout_status("zync", WAIT)?;
        cluster::rollout_status("zync-que", WAIT)?;

        let pod = cluster::find_pod(POD)?;
        info!("9.5.4.1: loading {ARTIFACT} into zync_production in {pod}");
        cluster::artifact_to_exec(ARTIFACT, &pod, &["bash", "-c", LOAD], Compression::Gzip)?;

        put_back(&apimanager)
    }

    fn resume() -> Result<()> {
        if journal::recall(RECORDED_SPEC).is_none() {
            return Ok(());
        }
        warn!("the restore did not finish: putting .spec.zync back as recorded");
        put_back(&apimanager_name()?)
    }
}

/// 9.5.4.1's last steps: the recorded spec back with a JSON patch, and zync scaled to 1
/// by hand if that spec had no replicas (the operator then leaves the deployment alone).
fn put_back(apimanager: &str) -> Result<()> {
    let Some(spec) = journal::recall_json(RECORDED_SPEC)? else {
        return Ok(());
    };
    let recorded = (!spec.is_null()).then_some(&spec);
    let now = cluster::get(APIMANAGER_API, APIMANAGER_KIND, apimanager)?;
    let exists = !now["spec"]["zync"].is_null();
    info!("9.5.4.1: putting .spec.zync back: {spec}");
    cluster::json_patch(
        APIMANAGER_API,
        APIMANAGER_KIND,
        apimanager,
        &put_back_patch("/spec/zync", recorded, exists),
    )?;
    if !has_replicas(&spec["appSpec"]) {
        info!("9.5.4.1: the recorded spec has no replicas; scaling deployment/zync to 1");
        cluster::merge_patch(
            "apps/v1",
            "Deployment",
            "zync",
            &json!({"spec": {"replicas": 1}}),
        )?;
    }
    cluster::rollout_status("zync", WAIT)?;
    cluster::rollout_status("zync-que", WAIT)?;
    journal::forget(RECORDED_SPEC)
}

guest_sdk::export_plugin!(ZyncDatabase);
