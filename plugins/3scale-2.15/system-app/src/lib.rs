//! 9.5's "prevent record creation": `.spec.system.appSpec` recorded, replicas set to 0 in
//! the APIManager; and 9.5.7: the spec put back, system-app scaled to 1 by hand if the
//! spec named no replicas (the operator's default `{}` names none), and a rollout
//! restart. The recorded spec lives in the journal, so a failed restore (or a host killed
//! mid-way) still gets system-app back.

use guest_sdk::prelude::*;
use threescale::apimanager::{self, SYSTEM_APP, WAIT};

struct SystemApp;

impl Plugin for SystemApp {
    fn quiesce() -> Result<()> {
        let Some(name) = apimanager::find()? else {
            // Only a run of this plugin alone gets here: in a full restore the apimanager
            // plugin, which this one comes after, has created it.
            info!("9.5: no APIManager, nothing runs to scale down");
            return Ok(());
        };
        apimanager::scale_down(&name, &SYSTEM_APP, "9.5")
    }

    fn resume() -> Result<()> {
        if journal::recall(SYSTEM_APP.journal_key).is_none() {
            return Ok(());
        }
        let name = apimanager::name()?;
        apimanager::put_back(&name, &SYSTEM_APP, "9.5.7")?;
        // From here system-app runs as recorded; a failed restart is reported, not undone.
        info!("9.5.7: rollout restart deployment/system-app");
        rollout::restart_and_wait("system-app", WAIT)
    }
}

guest_sdk::export_plugin!(SystemApp);
