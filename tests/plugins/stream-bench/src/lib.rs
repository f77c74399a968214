//! `cat` of a file in system-mysql's pod into a gzip'd artifact: what a dump costs the
//! host once the database is not the slower end.

use guest_sdk::prelude::*;

struct StreamBench;

impl Plugin for StreamBench {
    fn backup() -> Result<()> {
        let pod = pods::find_pod("deployment=system-mysql")?;
        let size = pods::exec_to_artifact(
            &pod,
            &["cat", "/tmp/stream-bench.sql"],
            "stream-bench.sql.gz",
            Compression::Gzip,
        )?;
        info!("stream-bench.sql.gz: {size} bytes");
        Ok(())
    }
}

guest_sdk::export_plugin!(StreamBench);
