//! `host backup`: every plugin's backup hook, independent components in parallel. Each
//! writes into its own staging directory; only a hook that succeeds has its artifacts
//! moved into the set and recorded in manifest.json, so a failed or interrupted backup
//! never leaves a partial artifact that looks good.

use std::sync::Arc;

use std::time::Duration;
use tokio::sync::Mutex;

use futures::StreamExt;

use super::Session;
use crate::backup_set::manifest::{self, Component, PluginRecord, SetManifest};
use crate::error::{Error, Result};
use crate::plugin::LoadedPlugin;
use contract::Hook;

#[derive(Debug)]
pub struct ComponentOutcome {
    pub plugin: String,
    pub result: std::result::Result<(usize, u64), String>,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct BackupReport {
    pub components: Vec<ComponentOutcome>,
    pub set: std::path::PathBuf,
    pub run_id: String,
    /// The run's audit log and journals, when they are not in the set (a set in an
    /// object store keeps them in the state directory).
    pub run_log: Option<std::path::PathBuf>,
    /// The fingerprint of the key that sealed the set (`--sign-key`).
    pub sealed_by: Option<String>,
    /// Why a seal was asked for and not made.
    pub not_sealed: Option<String>,
    /// When the backup started (RFC 3339) and how long it took.
    pub started: String,
    pub duration: Duration,
    /// For a backup into a repository: what became of the set.
    pub repository: Option<InRepository>,
}

/// A backup into a repository: the set's name, whether it was put in place, and the
/// verification that decided it.
#[derive(Debug, Clone)]
pub struct InRepository {
    pub location: String,
    pub name: String,
    /// Complete and verified: put in place, and `latest` if no newer good set is there.
    pub good: bool,
    /// Files and bytes checked against manifest.json before it was put in place.
    pub verified: Option<(usize, u64)>,
    /// Why a set was kept as failed although every component was backed up.
    pub refused: Option<String>,
    /// The good set `latest` names after this backup.
    pub latest: Option<String>,
}

impl BackupReport {
    pub fn run_log(&self) -> std::path::PathBuf {
        self.run_log
            .clone()
            .unwrap_or_else(|| self.set.join(crate::backup_set::RUNS).join(&self.run_id))
    }

    pub fn ok(&self) -> bool {
        self.components.iter().all(|c| c.result.is_ok())
    }
}

pub async fn run(session: Arc<Session>) -> Result<BackupReport> {
    let clock = std::time::Instant::now();
    let started = manifest::now();
    let manifest = Arc::new(Mutex::new(initial_manifest(&session, &started)?));
    let plugins: Vec<usize> = (0..session.plugins.len())
        .filter(|i| session.plugins[*i].manifest.has_hook(Hook::Backup))
        .collect();
    if plugins.is_empty() {
        return Err(Error::Refused(
            "none of the plugins has a backup hook".into(),
        ));
    }
    let parallel = session.settings.parallel.max(1);
    let interrupted = super::restore::interrupt_signal();
    let work = futures::stream::iter(plugins.into_iter().map(|i| {
        let session = session.clone();
        let manifest = manifest.clone();
        // Each component on its own task: gzip and hashing are CPU work.
        tokio::spawn(async move { one(&session, &session.plugins[i], &manifest).await })
    }))
    .buffer_unordered(parallel)
    .collect::<Vec<_>>();
    let results = tokio::select! {
        results = work => results,
        signal = interrupted => {
            session.set.discard_staging(&session.run_id);
            session.progress().line("the set keeps only the components finished before (see manifest.json)");
            return Err(Error::Interrupted(signal));
        }
    };
    session.set.discard_staging(&session.run_id);
    let mut components = Vec::new();
    for r in results {
        components.push(r.map_err(|e| Error::task("a backup task", e))?);
    }
    components.sort_by_key(|c| {
        session
            .plugins
            .iter()
            .position(|p| p.manifest.name == c.plugin)
    });
    let mut report = BackupReport {
        components,
        set: session.set.path().to_path_buf(),
        run_id: session.run_id.clone(),
        run_log: (!session.run.is_in_set()).then(|| session.run.path().to_path_buf()),
        sealed_by: None,
        not_sealed: None,
        started,
        duration: Duration::ZERO,
        repository: None,
    };
    if let Some(key) = &session.settings.sign_key {
        seal(&session, key, &mut report)?;
    }
    report.duration = clock.elapsed();
    Ok(report)
}

/// Seals the set if every component was backed up: a seal says the whole set is as this
/// backup made it. The key was read before the backup started, so a wrong key is found
/// before the cluster is touched.
fn seal(
    session: &Session,
    key: &ed25519_dalek::SigningKey,
    report: &mut BackupReport,
) -> Result<()> {
    if !report.ok() {
        report.not_sealed = Some("not every component was backed up".into());
        return Ok(());
    }
    let (digest, _) = crate::backup_set::verify::verify_all_records(&session.set)?;
    report.sealed_by = Some(crate::backup_set::seal::seal(&session.set, &digest, key)?);
    Ok(())
}

fn initial_manifest(session: &Session, started: &str) -> Result<SetManifest> {
    let mut m = session.set.manifest()?.unwrap_or_else(|| {
        SetManifest::new(
            session.namespace(),
            session.threescale_version.clone(),
            started.to_string(),
        )
    });
    let encryption = session
        .settings
        .keys
        .recipients
        .as_ref()
        .map(|r| r.describe());
    // One set is all encrypted or all plain: a restore reads every file one way.
    if !m.components.is_empty() && m.encryption.is_some() != encryption.is_some() {
        return Err(Error::Refused(format!(
            "the backup set {} is {}; a backup into it must be {} too. Back up into a new directory, or into a repository (--repo), where every backup is a new set",
            session.set.path().display(),
            if m.encryption.is_some() {
                "encrypted"
            } else {
                "not encrypted"
            },
            if m.encryption.is_some() {
                "encrypted (--recipient)"
            } else {
                "unencrypted"
            },
        )));
    }
    if let Some(sealed) = &session.settings.keys.sealed_set_key {
        // A new set key would leave the files already in the set to the old one, which
        // only the old set-key.age (about to be replaced) opens.
        if !m.components.is_empty() || session.set.has_set_key()? {
            return Err(Error::Refused(format!(
                "the backup set {} already has components encrypted to its own key; a backup with --passphrase-file goes into a new directory, or into a repository (--repo), where every backup is a new set",
                session.set.path().display()
            )));
        }
        session.set.write_set_key(sealed)?;
    }
    m.encryption = encryption.map(|mut e| {
        e.passphrase = session.settings.keys.sealed_set_key.is_some();
        e
    });
    m.namespace = session.namespace().to_string();
    m.threescale_version = session.threescale_version.clone();
    m.started = started.to_string();
    for p in &session.plugins {
        m.plugins.insert(p.manifest.name.clone(), record(p));
    }
    Ok(m)
}

fn record(p: &LoadedPlugin) -> PluginRecord {
    PluginRecord {
        name: p.manifest.name.clone(),
        version: p.manifest.version.clone(),
        sha256: p.sha256.clone(),
        file: p.file_name.clone(),
    }
}

async fn one(
    session: &Session,
    p: &LoadedPlugin,
    manifest: &Mutex<SetManifest>,
) -> ComponentOutcome {
    let name = p.manifest.name.clone();
    let started = manifest::now();
    let t = std::time::Instant::now();
    let result = async {
        let staged = session.set.staging(&session.run_id, &name)?;
        session.call(p, Hook::Backup, staged.clone()).await?;
        let records = session.set.commit(&session.run_id, &p.manifest, &staged)?;
        session.set.sync()?;
        Ok::<_, Error>(records)
    }
    .await;
    // An async lock: a component waiting for it must not hold a worker thread while
    // the one that has it writes manifest.json, which for a set in S3 is an upload that
    // needs the runtime's workers (a worker blocked on a std mutex deadlocked it).
    let mut m = manifest.lock().await;
    let result = match result {
        Ok(records) => {
            let summary = (records.len(), records.iter().map(|r| r.size).sum());
            m.failed.remove(&name);
            m.components.insert(
                name.clone(),
                Component {
                    plugin: record(p),
                    started,
                    finished: manifest::now(),
                    artifacts: records,
                },
            );
            Ok(summary)
        }
        Err(e) => {
            m.failed.insert(name.clone(), e.to_string());
            Err(e.to_string())
        }
    };
    m.finished = manifest::now();
    // Written after every component, so a crash later keeps what was finished.
    let written = session.set.write_manifest(&m);
    let result = match (result, written) {
        (Ok(s), Ok(())) => Ok(s),
        (Ok(_), Err(e)) => Err(format!("recording it in manifest.json failed: {e}")),
        (Err(e), _) => Err(e),
    };
    ComponentOutcome {
        plugin: name,
        result,
        duration: t.elapsed(),
    }
}
