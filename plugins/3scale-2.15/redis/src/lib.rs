//! redis: backend-redis and system-redis with the shared redis procedure
//! ([`threescale::redis`]) on 3scale 2.15, both restored in one redis-config window.

use guest_sdk::prelude::*;
use threescale::redis::{self, Target};
use threescale::v2_15::RELEASE;

const TARGETS: [Target; 2] = [
    Target {
        name: "backend-redis",
        artifact: "backend-redis-dump.rdb",
    },
    Target {
        name: "system-redis",
        artifact: "system-redis-dump.rdb",
    },
];

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        redis::backup(&RELEASE, TARGETS[0].name, TARGETS[0].artifact, "9.4.3")?;
        redis::backup(&RELEASE, TARGETS[1].name, TARGETS[1].artifact, "9.4.4")
    }

    fn restore() -> Result<()> {
        redis::restore(&RELEASE, &TARGETS, "9.5.5.1-2")
    }

    fn resume() -> Result<()> {
        redis::resume(&RELEASE, &TARGETS.map(|t| t.name))
    }
}

guest_sdk::export_plugin!(Redis);
