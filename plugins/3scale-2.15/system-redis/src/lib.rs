//! system-redis: the shared redis procedure ([`threescale::redis`]) for this deployment.

use guest_sdk::prelude::*;

const DEPLOYMENT: &str = "system-redis";
const ARTIFACT: &str = "system-redis-dump.rdb";

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        threescale::redis::backup(DEPLOYMENT, ARTIFACT, "9.4.4")
    }

    fn restore() -> Result<()> {
        threescale::redis::restore(DEPLOYMENT, ARTIFACT, "9.5.5.2")
    }

    fn resume() -> Result<()> {
        threescale::redis::resume(DEPLOYMENT)
    }
}

guest_sdk::export_plugin!(Redis);
