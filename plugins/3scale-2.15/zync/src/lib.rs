//! zync's database (9.4.5, 9.5.4.1): [`threescale::components::zync`] on 3scale 2.15.

use guest_sdk::prelude::*;
use threescale::components::zync;
use threescale::v2_15::RELEASE;

struct ZyncDatabase;

impl Plugin for ZyncDatabase {
    fn backup() -> Result<()> {
        zync::backup(&RELEASE)
    }

    fn restore() -> Result<()> {
        zync::restore(&RELEASE)
    }

    fn resume() -> Result<()> {
        zync::resume(&RELEASE)
    }
}

guest_sdk::export_plugin!(ZyncDatabase);
