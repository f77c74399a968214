//! system's uploaded files (9.4.2, 9.5.3): [`threescale::components::system_storage`] on
//! 3scale 2.14.

use guest_sdk::prelude::*;
use threescale::components::system_storage;
use threescale::v2_14::RELEASE;

struct SystemStorage;

impl Plugin for SystemStorage {
    fn backup() -> Result<()> {
        system_storage::backup(&RELEASE)
    }

    fn restore() -> Result<()> {
        system_storage::restore(&RELEASE)
    }
}

guest_sdk::export_plugin!(SystemStorage);
