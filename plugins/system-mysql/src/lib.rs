//! The manual's commands, with the dump streamed: out of the pod through the host's gzip
//! into the set, and back through gunzip into `mysql`'s stdin, never as a file in the pod
//! (9.5.2 copies the dump into the pod and decompresses it there, which needs twice its
//! size free on the database's volume).

use guest_sdk::prelude::*;

const POD: &str = "deployment=system-mysql";
const ARTIFACT: &str = "system-mysql-backup.gz";
const DUMP: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; \
                    mysqldump --single-transaction -hsystem-mysql -uroot system";
const LOAD: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot system";

struct SystemMysql;

impl Plugin for SystemMysql {
    fn backup() -> Result<()> {
        let pod = cluster::find_pod(POD)?;
        info!("9.4.1: mysqldump --single-transaction system in {pod}");
        let size =
            cluster::exec_to_artifact(&pod, &["bash", "-c", DUMP], ARTIFACT, Compression::Gzip)?;
        info!("{ARTIFACT}: {size} bytes");
        Ok(())
    }

    fn restore() -> Result<()> {
        let pod = cluster::find_pod(POD)?;
        info!("9.5.2: loading {ARTIFACT} into system in {pod}");
        cluster::artifact_to_exec(ARTIFACT, &pod, &["bash", "-c", LOAD], Compression::Gzip)?;
        Ok(())
    }
}

guest_sdk::export_plugin!(SystemMysql);
