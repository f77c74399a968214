//! `oc rollout latest dc/scratch`, without waiting: the test's DeploymentConfig never
//! gets a ReplicationController, so its rollout never ends.

use guest_sdk::prelude::*;

struct RolloutLatest;

impl Plugin for RolloutLatest {
    fn restore() -> Result<()> {
        rollout::latest("scratch")
    }
}

guest_sdk::export_plugin!(RolloutLatest);
