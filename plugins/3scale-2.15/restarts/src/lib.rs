//! Runs last in each phase: `restore` after every data set is back (backend-worker),
//! `resume` after system-app is back (sidekiq, searchd, the zync resync). A failed
//! restore does not call `resume` here (nothing is recorded to put back), so the resync
//! never runs against half-restored data.

use guest_sdk::prelude::*;

const WAIT: u32 = 900;

struct Restarts;

impl Plugin for Restarts {
    fn restore() -> Result<()> {
        info!("9.5.6: rollout restart deployment/backend-worker");
        rollout::restart_and_wait("backend-worker", WAIT)
    }

    fn resume() -> Result<()> {
        info!("9.5.8: rollout restart deployment/system-sidekiq");
        rollout::restart_and_wait("system-sidekiq", WAIT)?;
        info!("9.5.8.1: rollout restart deployment/system-searchd");
        rollout::restart_and_wait("system-searchd", WAIT)?;
        let pod = pods::find_pod("deployment=system-sidekiq")?;
        info!("9.5.8.2: bundle exec rake zync:resync:domains in {pod}");
        pods::exec_ok(
            &pod,
            &["bash", "-c", "bundle exec rake zync:resync:domains"],
        )?;
        Ok(())
    }
}

guest_sdk::export_plugin!(Restarts);
