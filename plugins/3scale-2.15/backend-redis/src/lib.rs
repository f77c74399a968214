//! backend-redis: the shared redis procedure ([`threescale::redis`]) on 3scale 2.15.

use guest_sdk::prelude::*;
use threescale::redis;
use threescale::v2_15::RELEASE;

const NAME: &str = "backend-redis";
const ARTIFACT: &str = "backend-redis-dump.rdb";

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        redis::backup(&RELEASE, NAME, ARTIFACT, "9.4.3")
    }

    fn restore() -> Result<()> {
        redis::restore(&RELEASE, NAME, ARTIFACT, "9.5.5.1")
    }

    fn resume() -> Result<()> {
        redis::resume(&RELEASE, NAME)
    }
}

guest_sdk::export_plugin!(Redis);
