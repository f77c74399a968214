//! ConfigMaps system-environment and apicast-environment (9.4.6.2, 9.5.1):
//! [`threescale::components::configmaps`], the same in every release.

use guest_sdk::prelude::*;
use threescale::components::configmaps;

struct ConfigMaps;

impl Plugin for ConfigMaps {
    fn backup() -> Result<()> {
        configmaps::backup()
    }

    fn restore() -> Result<()> {
        configmaps::restore()
    }
}

guest_sdk::export_plugin!(ConfigMaps);
