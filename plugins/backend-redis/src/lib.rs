//! backend-redis: the shared redis procedure ([`guest_sdk::redis`]) for this deployment.

use guest_sdk::prelude::*;

const DEPLOYMENT: &str = "backend-redis";
const ARTIFACT: &str = "backend-redis-dump.rdb";

struct Redis;

impl Plugin for Redis {
    fn backup() -> Result<()> {
        guest_sdk::redis::backup(DEPLOYMENT, ARTIFACT, "9.4.3")
    }

    fn restore() -> Result<()> {
        guest_sdk::redis::restore(DEPLOYMENT, ARTIFACT, "9.5.5.1")
    }

    fn resume() -> Result<()> {
        guest_sdk::redis::resume(DEPLOYMENT)
    }
}

guest_sdk::export_plugin!(Redis);
