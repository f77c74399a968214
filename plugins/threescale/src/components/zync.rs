//! zync's database: `pg_dump zync_production` gzip'd (9.4.5), and the operator-based
//! restore of 9.5.4.1 with zync and zync-que scaled down around the load.

use guest_sdk::prelude::*;

use crate::apimanager::{self, ZYNC};
use crate::release::Release;

const COMPONENT: &str = "zync-database";
const ARTIFACT: &str = "zync-database-backup.gz";

/// The dump is loaded into a clean schema inside one transaction, so a load that fails
/// halfway leaves the database as it was, and loading over existing data does not trip
/// over "relation already exists" (the manual assumes a freshly deployed, empty
/// database; pg_dump's plain format does not drop what exists).
///
/// zync connects as its own role `zync` (POSTGRESQL_USER, zync.go:399-431), not as the
/// superuser the load runs as. A new `public` schema would belong to the superuser with
/// no rights for anyone else (PostgreSQL 10's `CREATE SCHEMA`), and a plain pg_dump does
/// not restore the initdb-time grants on it, so zync would get "permission denied": the
/// schema's owner and every grant on it are read first and put back.
const LOAD: &str = r#"{ cat <<'SQL'
DO $$
DECLARE
  owner text;
  acl aclitem[];
  grant_ record;
BEGIN
  SELECT n.nspowner::regrole::text, n.nspacl INTO owner, acl
    FROM pg_namespace n WHERE n.nspname = 'public';
  DROP SCHEMA IF EXISTS public CASCADE;
  CREATE SCHEMA public;
  IF owner IS NULL THEN
    -- No public schema before: the one initdb makes.
    GRANT ALL ON SCHEMA public TO PUBLIC;
    RETURN;
  END IF;
  EXECUTE format('ALTER SCHEMA public OWNER TO %s', owner);
  IF acl IS NOT NULL THEN
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
    FOR grant_ IN SELECT * FROM aclexplode(acl) LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %s%s', grant_.privilege_type,
        CASE WHEN grant_.grantee = 0 THEN 'PUBLIC' ELSE grant_.grantee::regrole::text END,
        CASE WHEN grant_.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
  END IF;
END $$;
SQL
cat; } | psql -v ON_ERROR_STOP=1 --single-transaction -q zync_production"#;

pub fn backup(release: &Release) -> Result<()> {
    let pod = pods::find_pod(&release.workload.selector(COMPONENT))?;
    info!("9.4.5: pg_dump zync_production in {pod}");
    let size = pods::exec_to_artifact(
        &pod,
        &["bash", "-c", "pg_dump zync_production"],
        ARTIFACT,
        Compression::Gzip,
    )?;
    info!("{ARTIFACT}: {size} bytes");
    Ok(())
}

pub fn restore(release: &Release) -> Result<()> {
    let name = apimanager::name()?;
    apimanager::scale_down(release, &name, &ZYNC, "9.5.4.1")?;
    let pod = pods::find_pod(&release.workload.selector(COMPONENT))?;
    info!(
        "9.5.4.1: loading {ARTIFACT} into zync_production in {pod}, keeping the zync role's rights on schema public"
    );
    pods::artifact_to_exec(ARTIFACT, &pod, &["bash", "-c", LOAD], Compression::Gzip)?;
    apimanager::put_back(release, &name, &ZYNC, "9.5.4.1")
}

pub fn resume(release: &Release) -> Result<()> {
    if journal::recall(ZYNC.journal_key).is_none() {
        return Ok(());
    }
    warn!("the restore did not finish: putting .spec.zync back as recorded");
    apimanager::put_back(release, &apimanager::name()?, &ZYNC, "9.5.4.1")
}
