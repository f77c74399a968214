//! system-app scaled down through the APIManager before a restore (9.5) and brought back
//! after it (9.5.7): [`threescale::components::system_app`] on 3scale 2.14.

use guest_sdk::prelude::*;
use threescale::components::system_app;
use threescale::v2_14::RELEASE;

struct SystemApp;

impl Plugin for SystemApp {
    fn quiesce() -> Result<()> {
        system_app::quiesce(&RELEASE)
    }

    fn resume() -> Result<()> {
        system_app::resume(&RELEASE)
    }
}

guest_sdk::export_plugin!(SystemApp);
