//! `oc rsync POD:/opt/system/public/system ./` and back. The artifact is the directory
//! `system/`, as the manual's rsync leaves it.

use guest_sdk::prelude::*;

const PATH: &str = "/opt/system/public/system";
const ARTIFACT: &str = "system";

/// A running pod that mounts system-storage: system-app, else system-sidekiq (the only
/// one left during a restore, when system-app is scaled to zero).
fn storage_pod() -> Result<String> {
    match pods::find_pod("deployment=system-app") {
        Ok(pod) => Ok(pod),
        Err(e) if e.is_not_found() => pods::find_pod("deployment=system-sidekiq"),
        Err(e) => Err(e),
    }
}

struct SystemStorage;

impl Plugin for SystemStorage {
    fn backup() -> Result<()> {
        let pod = storage_pod()?;
        info!("9.4.2: copying {PATH} from {pod}");
        let bytes = pods::copy_from_pod(&pod, PATH, ARTIFACT)?;
        info!("system/: {bytes} bytes of files");
        Ok(())
    }

    fn restore() -> Result<()> {
        let pod = storage_pod()?;
        info!("9.5.3: copying system/ into {PATH} in {pod}");
        let bytes = pods::copy_to_pod(ARTIFACT, &pod, PATH)?;
        info!("{bytes} bytes of files restored");
        Ok(())
    }
}

guest_sdk::export_plugin!(SystemStorage);
