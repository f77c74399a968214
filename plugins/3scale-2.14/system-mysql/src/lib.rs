//! system's MySQL database (9.4.1, 9.5.2): [`threescale::components::system_mysql`] on
//! 3scale 2.14, where `rake boot openshift:deploy` is system-app's pre hook and runs
//! only inside its rollouts.

use guest_sdk::prelude::*;
use threescale::components::system_mysql;
use threescale::v2_14::RELEASE;

struct SystemMysql;

impl Plugin for SystemMysql {
    fn backup() -> Result<()> {
        system_mysql::backup(&RELEASE)
    }

    fn restore() -> Result<()> {
        system_mysql::restore(&RELEASE)
    }
}

guest_sdk::export_plugin!(SystemMysql);
