//! backend-redis: the shared redis procedure ([`threescale::redis`]) on 3scale 2.14.

use guest_sdk::prelude::*;
use threescale::redis::{self, Target};
use threescale::v2_14::RELEASE;

const NAME: &str = "backend-redis";
const ARTIFACT: &str = "backend-redis-dump.rdb";
const TARGET: Target = Target {
    name: NAME,
    artifact: ARTIFACT,
};

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        redis::backup(&RELEASE, NAME, ARTIFACT, "9.4.3")
    }

    fn restore() -> Result<()> {
        redis::restore(&RELEASE, &[TARGET], "9.5.5.1")
    }

    fn resume() -> Result<()> {
        redis::resume(&RELEASE, &[NAME])
    }
}

guest_sdk::export_plugin!(Redis);
