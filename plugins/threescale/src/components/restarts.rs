//! The restore steps that belong to no data set. Runs last in each phase: `restore` after
//! every data set is back and system-app with them (backend-worker, 9.5.6; its manifest
//! says why after 9.5.7), `resume` after that (sidekiq and searchd, 9.5.8 and 9.5.8.1;
//! the zync resync, 9.5.8.2). A failed restore
//! does not call `resume` here (nothing is recorded to put back), so the resync never
//! runs against half-restored data.

use guest_sdk::prelude::*;

use crate::release::Release;

const WAIT: u32 = 900;

fn restart(release: &Release, section: &str, name: &str) -> Result<()> {
    let w = release.workload;
    info!("{section}: {}", w.restart_words(name));
    w.restart_and_wait(name, WAIT)
}

pub fn restore(release: &Release) -> Result<()> {
    restart(release, "9.5.6", "backend-worker")
}

pub fn resume(release: &Release) -> Result<()> {
    restart(release, "9.5.8", "system-sidekiq")?;
    restart(release, "9.5.8.1", "system-searchd")?;
    let pod = pods::find_pod(&release.workload.selector("system-sidekiq"))?;
    info!("9.5.8.2: bundle exec rake zync:resync:domains in {pod}");
    pods::exec_ok(
        &pod,
        &["bash", "-c", "bundle exec rake zync:resync:domains"],
    )?;
    Ok(())
}
