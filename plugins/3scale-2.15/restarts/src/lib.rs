//! The restarts of 9.5.6 and 9.5.8 and zync's route resync:
//! [`threescale::components::restarts`] on 3scale 2.15 (`oc rollout restart deployment/N`).

use guest_sdk::prelude::*;
use threescale::components::restarts;
use threescale::v2_15::RELEASE;

struct Restarts;

impl Plugin for Restarts {
    fn restore() -> Result<()> {
        restarts::restore(&RELEASE)
    }

    fn resume() -> Result<()> {
        restarts::resume(&RELEASE)
    }
}

guest_sdk::export_plugin!(Restarts);
