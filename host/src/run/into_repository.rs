//! `host backup --repo R`: a new set under a staging name, backed up as a single set is,
//! then verified as a restore would verify it (every file against manifest.json, every
//! plugin's artifacts present, the seal if one was asked for). Only a set that passes is
//! put in place and becomes `latest`. A set whose backup failed is kept as
//! `NAME.failed` to read why, and is never taken for a restore; a run that stopped before
//! backing anything up (no cluster, a refused plugin set) leaves nothing behind.

use std::sync::Arc;

use super::backup::{BackupReport, InRepository};
use super::{Kind, Session, Settings};
use crate::backup_set::BackupSet;
use crate::backup_set::verify::{self, Checks};
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::state::runs;

pub async fn backup(mut settings: Settings, repo: &dyn Repository) -> Result<BackupReport> {
    let name = runs::new_id("backup");
    if settings.incremental
        && let Ok(latest) = repo.resolve(None)
    {
        settings.previous = Some((latest.location.clone(), latest.name.clone()));
    }
    let pending = repo.begin(&name)?;
    settings.backup_dir = pending.location.clone();
    settings.run_id = Some(name.clone());
    let session = match Session::open(settings, Kind::Backup).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            repo.discard(pending)?;
            return Err(e);
        }
    };
    session.progress().line(&format!(
        "backing up into {} as set {name}",
        repo.location()
    ));
    let mut report = match super::backup::run(session.clone()).await {
        Ok(r) => r,
        Err(e) => {
            let kept = repo.keep_failed(pending)?;
            session.progress().line(&format!(
                "the set is kept as {} (marked failed; no restore takes it)",
                kept
            ));
            return Err(e);
        }
    };
    let (verified, refused) = if !report.ok() {
        (None, Some("not every component was backed up".to_string()))
    } else if let Some(why) = &report.not_sealed {
        (None, Some(format!("not sealed: {why}")))
    } else {
        match check(&session).await {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(format!("the new set does not verify: {e}"))),
        }
    };
    let good = refused.is_none();
    report.set = if good {
        repo.commit(pending)?.shown()
    } else {
        repo.keep_failed(pending)?.shown()
    };
    report.repository = Some(InRepository {
        location: repo.location(),
        name,
        good,
        verified,
        refused,
        latest: repo.resolve(None).ok().map(|e| e.name),
    });
    Ok(report)
}

/// The set as a restore with these plugins would check it (the seal with the key that
/// made it). Files and bytes verified.
async fn check(session: &Session) -> Result<(usize, u64)> {
    let location = session.set.location();
    let plugins = session.plugin_files();
    let checks = Checks {
        trusted: session
            .settings
            .sign_key
            .as_ref()
            .map(crate::backup_set::seal::TrustedKey::own)
            .into_iter()
            .collect(),
        ..Checks::default()
    };
    let v = tokio::task::spawn_blocking(move || {
        let set = BackupSet::at(&location, false)?;
        verify::verify(&set, &plugins, &checks)
    })
    .await
    .map_err(|e| Error::task("verifying the new set", e))??;
    Ok((v.files, v.bytes))
}
