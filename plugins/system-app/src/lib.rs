//! 9.5's "prevent record creation": `.spec.system.appSpec` recorded, replicas set to 0 in
//! the APIManager; and 9.5.7: the spec put back, system-app scaled to 1 by hand if the
//! spec named no replicas, and a rollout restart. The recorded spec lives in the journal,
//! so a failed restore (or a host killed mid-way) still gets system-app back.

use guest_sdk::prelude::*;
use guest_sdk::threescale::{
    APIMANAGER_API, APIMANAGER_KIND, apimanager_name, has_replicas, put_back_patch,
};

const RECORDED_SPEC: &str = "system-app-spec";
const WAIT: u32 = 900;

struct SystemApp;

impl Plugin for SystemApp {
    fn quiesce() -> Result<()> {
        let apimanager = apimanager_name()?;
        let spec = cluster::get(APIMANAGER_API, APIMANAGER_KIND, &apimanager)?["spec"]["system"]
            ["appSpec"]
            .clone();
        journal::record_json(RECORDED_SPEC, &spec)?;
        info!("9.5: recorded .spec.system.appSpec = {spec}; scaling system-app to 0");
        cluster::merge_patch(
            APIMANAGER_API,
            APIMANAGER_KIND,
            &apimanager,
            &json!({"spec": {"system": {"appSpec": {"replicas": 0}}}}),
        )?;
        cluster::rollout_status("system-app", WAIT)
    }

    fn resume() -> Result<()> {
        let Some(spec) = journal::recall_json(RECORDED_SPEC)? else {
            return Ok(());
        };
        let apimanager = apimanager_name()?;
        let now = cluster::get(APIMANAGER_API, APIMANAGER_KIND, &apimanager)?;
        let exists = !now["spec"]["system"]["appSpec"].is_null();
        info!("9.5.7: putting .spec.system.appSpec back: {spec}");
        let recorded = (!spec.is_null()).then_some(&spec);
        cluster::json_patch(
            APIMANAGER_API,
            APIMANAGER_KIND,
            &apimanager,
            &put_back_patch("/spec/system/appSpec", recorded, exists),
        )?;
        if !has_replicas(&spec) {
            info!("9.5.7: the recorded spec has no replicas; scaling deployment/system-app to 1");
            cluster::merge_patch(
                "apps/v1",
                "Deployment",
                "system-app",
                &json!({"spec": {"replicas": 1}}),
            )?;
        }
        cluster::rollout_status("system-app", WAIT)?;
        // From here system-app runs as recorded; a failed restart is reported, not undone.
        journal::forget(RECORDED_SPEC)?;
        info!("9.5.7: rollout restart deployment/system-app");
        cluster::restart_and_wait("system-app", WAIT)
    }
}

guest_sdk::export_plugin!(SystemApp);
