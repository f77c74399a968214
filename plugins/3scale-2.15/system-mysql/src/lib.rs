//! system's MySQL database (9.4.1, 9.5.2): [`threescale::components::system_mysql`] on
//! 3scale 2.15, where the load waits for the operator's system-app-pre Job.

use guest_sdk::prelude::*;
use threescale::components::system_mysql;
use threescale::v2_15::RELEASE;

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
