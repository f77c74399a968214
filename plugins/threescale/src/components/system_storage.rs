//! `oc rsync POD:/opt/system/public/system ./` (9.4.2) and back (9.5.3). The artifact is
//! the directory `system/`, as the manual's rsync leaves it.

use guest_sdk::prelude::*;

use crate::release::Release;

const PATH: &str = "/opt/system/public/system";
const ARTIFACT: &str = "system";

/// A running pod that mounts system-storage: system-app, else system-sidekiq (the only
/// one left during a restore, when system-app is scaled to zero).
fn storage_pod(release: &Release) -> Result<String> {
    let w = release.workload;
    match pods::find_pod(&w.selector("system-app")) {
        Ok(pod) => Ok(pod),
        Err(e) if e.is_not_found() => pods::find_pod(&w.selector("system-sidekiq")),
        Err(e) => Err(e),
    }
}

pub fn backup(release: &Release) -> Result<()> {
    let pod = storage_pod(release)?;
    info!("9.4.2: copying {PATH} from {pod}");
    let bytes = pods::copy_from_pod(&pod, PATH, ARTIFACT)?;
    info!("system/: {bytes} bytes of files");
    Ok(())
}

pub fn restore(release: &Release) -> Result<()> {
    let pod = storage_pod(release)?;
    info!("9.5.3: copying system/ into {PATH} in {pod}");
    let bytes = pods::copy_to_pod(ARTIFACT, &pod, PATH)?;
    info!("{bytes} bytes of files restored");
    Ok(())
}
