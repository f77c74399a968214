//! system-redis: the shared redis procedure ([`threescale::redis`]) on 3scale 2.14.

use guest_sdk::prelude::*;
use threescale::redis::{self, Target};
use threescale::v2_14::RELEASE;

const NAME: &str = "system-redis";
const ARTIFACT: &str = "system-redis-dump.rdb";
const TARGET: Target = Target {
    name: NAME,
    artifact: ARTIFACT,
};

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        redis::backup(&RELEASE, NAME, ARTIFACT, "9.4.4")
    }

    fn restore() -> Result<()> {
        redis::restore(&RELEASE, &[TARGET], "9.5.5.2")
    }

    fn resume() -> Result<()> {
        redis::resume(&RELEASE, &[NAME])
    }
}

guest_sdk::export_plugin!(Redis);
