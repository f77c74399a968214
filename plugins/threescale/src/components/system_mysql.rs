//! The manual's commands for system's MySQL database (9.4.1, 9.5.2), with the dump
//! streamed: out of the pod through the host's gzip into the set, and back through
//! gunzip into `mysql`'s stdin, never as a file in the pod (9.5.2 copies the dump into
//! the pod and decompresses it there, which needs twice its size free on the database's
//! volume).
//!
//! Before the load, `rake boot openshift:deploy` must not be running against this
//! database ([`apimanager::wait_for_pre_deploy_of_current_generation`]): a load under it
//! would race its migrations.

use guest_sdk::prelude::*;

use crate::apimanager;
use crate::release::{PreDeploy, Release};

const COMPONENT: &str = "system-mysql";
const ARTIFACT: &str = "system-mysql-backup.gz";
const DUMP: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; \
                    mysqldump --single-transaction -hsystem-mysql -uroot system";
const LOAD: &str = "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -hsystem-mysql -uroot system";

pub fn backup(release: &Release) -> Result<()> {
    let pod = pods::find_pod(&release.workload.selector(COMPONENT))?;
    info!("9.4.1: mysqldump --single-transaction system in {pod}");
    let size = pods::exec_to_artifact(&pod, &["bash", "-c", DUMP], ARTIFACT, Compression::Gzip)?;
    info!("{ARTIFACT}: {size} bytes");
    Ok(())
}

pub fn restore(release: &Release) -> Result<()> {
    if let PreDeploy::Job { name, .. } = release.pre_deploy {
        info!("9.5.2: waiting for the operator's {name} Job of system-app's current generation");
    }
    apimanager::wait_for_pre_deploy_of_current_generation(release)?;
    let pod = pods::find_pod(&release.workload.selector(COMPONENT))?;
    info!("9.5.2: loading {ARTIFACT} into system in {pod}");
    pods::artifact_to_exec(ARTIFACT, &pod, &["bash", "-c", LOAD], Compression::Gzip)?;
    Ok(())
}
