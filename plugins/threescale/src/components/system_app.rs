//! 9.5's "prevent record creation": `.spec.system.appSpec` recorded, replicas set to 0 in
//! the APIManager; and 9.5.7: the spec put back, system-app scaled to 1 by hand if the
//! spec named no replicas (the operator's default `{}` names none), and a restart
//! (`oc rollout restart deployment/system-app` in 2.15, left out when the scale-up
//! started every pod anew; `oc rollout latest dc/system-app` in 2.14, whose rollout runs
//! system-app's pre and post hooks). The recorded spec lives
//! in the journal, so a failed restore (or a host killed mid-way) still gets system-app
//! back.

use guest_sdk::prelude::*;

use crate::apimanager::{self, SYSTEM_APP, WAIT};
use crate::release::Release;

pub fn quiesce(release: &Release) -> Result<()> {
    let Some(name) = apimanager::find()? else {
        // Only a run of this plugin alone gets here: in a full restore the apimanager
        // plugin, which this one comes after, has created it.
        info!("9.5: no APIManager, nothing runs to scale down");
        return Ok(());
    };
    apimanager::scale_down(release, &name, &SYSTEM_APP, "9.5")
}

pub fn resume(release: &Release) -> Result<()> {
    if journal::recall(SYSTEM_APP.journal_key).is_none() {
        return Ok(());
    }
    let name = apimanager::name()?;
    let w = release.workload;
    let pods_before = objects::get(w.api_version(), w.kind(), "system-app")?["status"]["replicas"]
        .as_i64()
        .unwrap_or(0);
    apimanager::put_back(release, &name, &SYSTEM_APP, "9.5.7")?;
    // 9.5.7's restart gives system-app pods started after the restore. In 2.15 a scale-up
    // from no pods has done that already: every pod is new, and the new generation has
    // the operator run system-app-pre and -post for it (system_reconciler.go:149-205). A
    // restart would start them all again, and have the operator run both Jobs once more,
    // holding system-app and (while the older Job runs) every component after system.
    // 2.14's rollout runs system-app's pre and post hooks, which a scale-up does not: it
    // stays.
    if release.pre_deploy.job().is_some() && pods_before == 0 {
        info!(
            "9.5.7: no {}: every system-app pod started after the restore, from none",
            w.restart_words("system-app")
        );
        return Ok(());
    }
    // From here system-app runs as recorded; a failed restart is reported, not undone.
    info!("9.5.7: {}", w.restart_words("system-app"));
    w.restart_and_wait("system-app", WAIT)
}
