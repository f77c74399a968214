//! The APIManager resource, for a restore into a new namespace (9.5.1):
//! [`threescale::components::apimanager`] on 3scale 2.14.

use guest_sdk::prelude::*;
use threescale::components::apimanager;
use threescale::v2_14::RELEASE;

struct ApiManager;

impl Plugin for ApiManager {
    fn backup() -> Result<()> {
        apimanager::backup()
    }

    fn restore() -> Result<()> {
        apimanager::restore(&RELEASE)
    }
}

guest_sdk::export_plugin!(ApiManager);
