//! The manual's commands, with the dump streamed: out of the pod through the host's gzip
//! into the set, and back through gunzip into `mysql`'s stdin, never as a file in the pod
//! (9.5.2 copies the dump into the pod and decompresses it there, which needs twice its
//! size free on the database's volume).
//!
//! Before the load, the operator's system-app-pre Job must be done: scaling system-app
//! down (9.5) changed its Deployment, so the operator deletes the Job and runs it again
//! (`rake boot openshift:deploy` against this database), and a load under it would race
//! its migrations.

use guest_sdk::prelude::*;
use threescale::apimanager;
use threescale::v2_15::SYSTEM_APP_PRE_JOB;

const POD: &str = "deployment=system-mysql";
const ARTIFACT: &str = "system-mysql-backup.gz";
const DUMP: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; \
                    mysqldump --single-transaction -hsystem-mysql -uroot system";
const LOAD: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot system";

struct SystemMysql;

impl Plugin for SystemMysql {
    fn backup() -> Result<()> {
        let pod = pods::find_pod(POD)?;
        info!("9.4.1: mysqldump --single-transaction system in {pod}");
        let size =
            pods::exec_to_artifact(&pod, &["bash", "-c", DUMP], ARTIFACT, Compression::Gzip)?;
        info!("{ARTIFACT}: {size} bytes");
        Ok(())
    }

    fn restore() -> Result<()> {
        info!(
            "9.5.2: waiting for the operator's {SYSTEM_APP_PRE_JOB} Job of system-app's current generation"
        );
        apimanager::wait_for_system_app_pre_of_current_generation()?;
        let pod = pods::find_pod(POD)?;
        info!("9.5.2: loading {ARTIFACT} into system in {pod}");
        pods::artifact_to_exec(ARTIFACT, &pod, &["bash", "-c", LOAD], Compression::Gzip)?;
        Ok(())
    }
}

guest_sdk::export_plugin!(SystemMysql);
