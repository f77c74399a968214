//! A run: what `host backup`, `host restore` and `host resume` share. It loads and checks
//! the plugins, opens the backup set, connects to the cluster, reads the 3scale version,
//! and gives each hook call a fresh sandboxed instance with its grant, store and journal.

pub mod backup;
pub mod into_repository;
pub mod plan;
pub mod report;
pub mod restore;
mod schedule;
pub(crate) mod version;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::Audit;
use crate::backup_set::BackupSet;
use crate::backup_set::artifacts::ArtifactStore;
use crate::backup_set::incremental::Previous;
use contract::Hook;

use crate::capabilities::quota::SetQuota;
use crate::capabilities::{Grant, HostState, RunContext};
use crate::cluster::{Cluster, ClusterOptions, Timeouts};
use crate::error::{Error, Result};
use crate::journal::{Journal, JournalKey};
use crate::plugin::sets::{self, Layout};
use crate::plugin::signature::Requirement;
use crate::plugin::{self, LoadedPlugin, Runtime};
use crate::progress::Progress;
use crate::sandbox::cache::Cache;
use crate::sandbox::{InstanceLimits, Sandbox};
use crate::state::StateDir;
use crate::state::runs::{self as run_state, RunDir, RunRecord};

/// Which plugins a run uses.
#[derive(Debug, Clone)]
pub enum PluginSource {
    File(PathBuf),
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster: ClusterOptions,
    /// The set: a directory, or a set of an object-store repository.
    pub backup_dir: crate::backup_set::SetLocation,
    pub plugins: PluginSource,
    pub cache_dir: Option<PathBuf>,
    pub quiet: bool,
    /// Run plugins whose 3scale versions do not include the cluster's.
    pub force: bool,
    pub parallel: usize,
    pub limits: InstanceLimits,
    pub timeouts: Timeouts,
    /// For `host resume`: the earlier run whose journal notes to act on.
    pub resume_run: Option<String>,
    /// The id a new run takes (a backup into a repository names its set by it); else one
    /// is made.
    pub run_id: Option<String>,
    /// Where restores keep their run state, and the user's keys.
    pub state: StateDir,
    /// What a restore asks of the set (seal, hand-made, plugins, namespace).
    pub checks: crate::backup_set::verify::Checks,
    /// For `host backup --sign-key`: seal the set when every component is backed up.
    pub sign_key: Option<ed25519_dalek::SigningKey>,
    /// `--require-signed`: the public key every plugin must be signed by.
    pub require_signed: Option<PathBuf>,
    /// `--recipient` for a backup, `--identity` for a restore.
    pub keys: crate::backup_set::encryption::Keys,
    /// For a backup into a repository: its newest good set (path and name), whose
    /// unchanged storage files are reused.
    pub previous: Option<(crate::backup_set::SetLocation, String)>,
    /// A backup into a repository reuses the previous set's unchanged storage files
    /// (`--no-incremental`: copies everything).
    pub incremental: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Backup,
    Restore,
    Resume,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Restore => "restore",
            Kind::Resume => "resume",
        }
    }
}

pub struct Session {
    pub runtime: Runtime,
    pub plugins: Vec<LoadedPlugin>,
    pub set: BackupSet,
    pub run_id: String,
    /// Where this run's audit log and journals are.
    pub run: RunDir,
    pub ctx: Arc<RunContext>,
    pub threescale_version: Option<String>,
    /// The namespace has no APIManager yet; the restore creates it from the set.
    pub new_namespace: bool,
    pub settings: Settings,
    journal_key: JournalKey,
    journals: Mutex<BTreeMap<String, Arc<Mutex<Journal>>>>,
}

impl Session {
    /// The loaded plugins as verification sees them: manifest, file name and digest.
    pub fn plugin_files(&self) -> Vec<crate::backup_set::verify::PluginFile> {
        self.plugins
            .iter()
            .map(|p| crate::backup_set::verify::PluginFile {
                manifest: p.manifest.clone(),
                file: p.file_name.clone(),
                sha256: p.sha256.clone(),
            })
            .collect()
    }

    /// Everything that can be checked before the cluster is touched: plugins, set,
    /// connection, versions.
    pub async fn open(settings: Settings, kind: Kind) -> Result<Session> {
        let progress = Progress::new(settings.quiet);
        let runtime = Runtime::new(Sandbox::new(Cache::new(settings.cache_dir.clone()))?)?;
        let started = Instant::now();
        // Signatures are checked before a plugin is even compiled.
        let required = Requirement::load(settings.require_signed.as_slice())?;
        let required = required.as_ref();
        // A directory of sets is loaded once the 3scale version says which set.
        let (mut plugins, several) = match &settings.plugins {
            PluginSource::File(path) => {
                (vec![plugin::load_signed(&runtime, path, required)?], None)
            }
            PluginSource::Dir(dir) => match sets::survey(dir)? {
                Layout::One => (plugin::load_dir_signed(&runtime, dir, required)?, None),
                Layout::Several(sets) => (Vec::new(), Some(sets)),
            },
        };
        let mut load_time = started.elapsed();
        let set = BackupSet::at(&settings.backup_dir, kind == Kind::Backup)?
            .with_keys(settings.keys.clone());
        settings.state.ensure_private(settings.state.root())?;
        let journal_key = settings.state.journal_key()?;
        let cluster = Cluster::connect(&settings.cluster, settings.timeouts).await?;
        let scope = (
            cluster.server().to_string(),
            cluster.namespace().to_string(),
        );
        let run = open_run(&settings, kind, &set, &journal_key, &scope)?;
        let run_id = run.id().to_string();
        if kind == Kind::Restore {
            progress.line(&format!(
                "run {run_id}: its audit log and journals are in {}",
                run.path().display()
            ));
        }
        let audit = Audit::create(&run.audit())?;
        let previous = match (&settings.previous, kind) {
            (Some((path, name)), Kind::Backup) => {
                let encrypting = settings.keys.recipients.is_some();
                let opened = BackupSet::at(path, false)
                    .map_err(|e| e.to_string())
                    .and_then(|set| Previous::open(set, name, cluster.namespace(), encrypting));
                match opened {
                    Ok(p) => {
                        progress.line(&format!(
                            "incremental: unchanged storage files are copied from set {name}"
                        ));
                        Some(Arc::new(p))
                    }
                    Err(why) => {
                        progress.line(&format!(
                            "not incremental: set {name} cannot be the source ({why}); trees are copied whole"
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        let ctx = Arc::new(RunContext {
            cluster: Arc::new(cluster),
            audit: Arc::new(audit),
            progress,
            quota: Arc::new(SetQuota::new(settings.limits.set_bytes)),
            previous,
        });
        let mut threescale_version = version::read(&ctx.cluster).await?;
        let mut new_namespace = false;
        if threescale_version.is_none()
            && kind == Kind::Restore
            && let Some(made) = set.manifest_head()?.and_then(|m| m.threescale_version)
        {
            // A restore into a namespace with no 3scale yet (manual 9.5.1): the set's
            // plugins deploy it, so the set's version is the one to check against.
            ctx.progress.line(&format!(
                "no APIManager in namespace {}: restoring into a new namespace (manual 9.5.1); the set was made from 3scale {made}",
                ctx.cluster.namespace()
            ));
            threescale_version = Some(made);
            new_namespace = true;
        }
        if let Some(sets) = several {
            let source = version_source(&ctx, &set, threescale_version.as_deref(), new_namespace);
            let chosen = sets.choose(threescale_version.as_deref(), &source)?;
            ctx.progress.line(&chosen.reason);
            let started = Instant::now();
            plugins = plugin::load_dir_signed(&runtime, &chosen.dir, required)?;
            load_time += started.elapsed();
        }
        let session = Session {
            runtime,
            plugins,
            set,
            run_id,
            run,
            ctx,
            threescale_version,
            new_namespace,
            settings,
            journal_key,
            journals: Mutex::new(BTreeMap::new()),
        };
        session.check_versions()?;
        // Instantiating each plugin once (for describe()) is also the measure of what a
        // plugin costs to start.
        let mut start_time = Duration::ZERO;
        for p in &session.plugins {
            let t = Instant::now();
            session.check_describe(p).await?;
            start_time += t.elapsed();
        }
        let n = session.plugins.len();
        let compiled = session
            .plugins
            .iter()
            .filter(|p| p.source == crate::sandbox::cache::Source::Compiled)
            .count();
        session.progress().line(&format!(
            "loaded {n} plugin{} in {:.0} ms ({}); start {:.2} ms each (instantiate and describe)",
            if n == 1 { "" } else { "s" },
            load_time.as_secs_f64() * 1000.0,
            match compiled {
                0 => "all from the compiled cache".to_string(),
                c if c == n => "compiled, now cached".to_string(),
                c => format!("{c} compiled, the rest from the cache"),
            },
            start_time.as_secs_f64() * 1000.0 / n as f64,
        ));
        Ok(session)
    }

    pub fn namespace(&self) -> &str {
        self.ctx.cluster.namespace()
    }

    pub fn progress(&self) -> &Progress {
        &self.ctx.progress
    }

    fn check_versions(&self) -> Result<()> {
        let Some(version) = &self.threescale_version else {
            let message = format!(
                "cannot tell which 3scale version runs in namespace `{}`: no APIManager with the {} annotation",
                self.namespace(),
                version::ANNOTATION
            );
            return self.refuse_unless_forced(message);
        };
        let source = version_source(&self.ctx, &self.set, Some(version), self.new_namespace);
        let unfit: Vec<&LoadedPlugin> = self
            .plugins
            .iter()
            .filter(|p| !version::supports(&p.manifest.threescale, version))
            .collect();
        let all_for = |declared: &[String]| unfit.iter().all(|p| p.manifest.threescale == declared);
        let message = match unfit.as_slice() {
            [] => return Ok(()),
            [first, ..]
                if unfit.len() == self.plugins.len()
                    && self.plugins.len() > 1
                    && all_for(&first.manifest.threescale) =>
            {
                format!(
                    "the plugin set {} is for 3scale {}, but {source}",
                    first.path.parent().unwrap_or(&first.path).display(),
                    first.manifest.threescale.join(", ")
                )
            }
            [first, ..] => format!(
                "plugin {} ({}) is for 3scale {}, but {source}",
                first.manifest.name,
                first.path.display(),
                first.manifest.threescale.join(", ")
            ),
        };
        self.refuse_unless_forced(message)
    }

    fn refuse_unless_forced(&self, message: String) -> Result<()> {
        if self.settings.force {
            self.progress()
                .line(&format!("warning: {message} (going on: --force)"));
            Ok(())
        } else {
            Err(Error::Refused(format!("{message}; --force runs it anyway")))
        }
    }

    /// The embedded manifest is what the host grants from, and `describe()` is what the
    /// plugin's code believes it asked for; a difference means the file was tampered with
    /// or built wrongly, and either way its grant cannot be trusted.
    async fn check_describe(&self, p: &LoadedPlugin) -> Result<()> {
        let state = self.state(p, Hook::Describe, self.set.reader()?)?;
        let described = self.runtime.describe(p, state).await?;
        if described.trim() != p.manifest_text.trim() {
            return Err(Error::bad_plugin(
                &p.path,
                "describe() does not return the manifest embedded in the file: rebuild the plugin",
            ));
        }
        Ok(())
    }

    fn journal(&self, plugin: &str) -> Result<Arc<Mutex<Journal>>> {
        let mut journals = self.journals.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = journals.get(plugin) {
            return Ok(j.clone());
        }
        let path = self.journal_path(plugin);
        let journal = Arc::new(Mutex::new(Journal::open(
            &path,
            &self.journal_key,
            &self.run_id,
            plugin,
        )?));
        journals.insert(plugin.to_string(), journal.clone());
        Ok(journal)
    }

    /// Whether a plugin still holds notes of something to put back.
    pub fn has_notes(&self, plugin: &str) -> bool {
        self.journal(plugin)
            .map(|j| !j.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
            .unwrap_or(true)
    }

    pub fn journal_path(&self, plugin: &str) -> PathBuf {
        self.run.journal(plugin)
    }

    fn state(
        &self,
        p: &LoadedPlugin,
        hook: Hook,
        artifacts: Arc<ArtifactStore>,
    ) -> Result<HostState> {
        let grant = Grant::new(&p.manifest, self.namespace(), hook)?;
        Ok(HostState::new(
            self.ctx.clone(),
            grant,
            artifacts,
            self.journal(&p.manifest.name)?,
            self.settings.limits,
        ))
    }

    /// One hook of one plugin in a fresh instance.
    pub async fn call(
        &self,
        p: &LoadedPlugin,
        hook: Hook,
        artifacts: Arc<ArtifactStore>,
    ) -> Result<Duration> {
        let started = Instant::now();
        let state = self.state(p, hook, artifacts)?;
        self.progress()
            .line(&format!("{} {hook}: started", p.manifest.name));
        let outcome = self.runtime.call(p, state, hook).await;
        match &outcome {
            Ok(()) => self.progress().line(&format!(
                "{} {hook}: done in {:.1}s",
                p.manifest.name,
                started.elapsed().as_secs_f64()
            )),
            Err(e) => self
                .progress()
                .line(&format!("{} {hook}: FAILED: {e}", p.manifest.name)),
        }
        outcome.map(|()| started.elapsed())
    }
}

/// Where the 3scale version a run works on comes from, in words.
fn version_source(
    ctx: &RunContext,
    set: &BackupSet,
    version: Option<&str>,
    new_namespace: bool,
) -> String {
    let ns = ctx.cluster.namespace();
    match version {
        Some(v) if new_namespace => format!(
            "namespace {ns} has no APIManager yet, and the backup set {} was made from 3scale {v}",
            set.path().display()
        ),
        Some(v) => format!(
            "namespace {ns} runs 3scale {v} (its APIManager's {})",
            version::ANNOTATION
        ),
        None => format!(
            "namespace {ns} has no APIManager with the {} annotation",
            version::ANNOTATION
        ),
    }
}

/// The run's state: a backup's in the set it writes, a restore's new in the state
/// directory, a resume's where the cut-off run left it. Every journal a run will act on,
/// or that says an earlier run is unfinished, is authenticated before any plugin runs.
fn open_run(
    settings: &Settings,
    kind: Kind,
    set: &BackupSet,
    key: &JournalKey,
    (server, namespace): &(String, String),
) -> Result<RunDir> {
    let runs = settings.state.runs();
    match (kind, &settings.resume_run) {
        (Kind::Resume, Some(id)) => {
            run_state::check_id(id)?;
            let in_set = set.local_dir().map(|d| RunDir::in_set(d, id));
            let run = std::iter::once(RunDir::in_state(&runs, id))
                .chain(in_set)
                .find(|r| r.exists())
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "no run `{id}` in {} (nor, for a run of an earlier host, in {})",
                        runs.display(),
                        set.path().join(crate::backup_set::RUNS).display()
                    ))
                })?;
            if let Some(record) = run.record()?
                && (&record.namespace != namespace || &record.server != server)
            {
                return Err(Error::Refused(format!(
                    "run {id} restored into namespace {} at {}, not namespace {namespace} at {server}: give the same --context and -n",
                    record.namespace, record.server
                )));
            }
            run.pending(key)?;
            Ok(run)
        }
        (Kind::Backup, _) => {
            let id = settings
                .run_id
                .clone()
                .unwrap_or_else(|| run_state::new_id(kind.name()));
            // An object set has no place for runs: they stay with this machine's state.
            match set.local_dir() {
                Some(dir) => Ok(RunDir::in_set(dir, &id)),
                None => {
                    settings.state.ensure_private(&runs)?;
                    run_state::create(&runs, &id)
                }
            }
        }
        _ => {
            let mut unfinished =
                run_state::unfinished(&runs, false, key, Some((server, namespace)))?;
            if let Some(dir) = set.local_dir() {
                unfinished.extend(run_state::unfinished(
                    &dir.join(crate::backup_set::RUNS),
                    true,
                    key,
                    None,
                )?);
            }
            if let Some(u) = unfinished.into_iter().next() {
                let id = u.run.id();
                let set_flag = if u.run.is_in_set() {
                    format!(" --backup-dir {}", set.path().display())
                } else {
                    String::new()
                };
                return Err(Error::Refused(format!(
                    "run {id} did not finish putting back what it changed ({}), or is still running; once it is not, run `host resume --run {id}{set_flag}`",
                    u.plugins.join(", ")
                )));
            }
            settings.state.ensure_private(&runs)?;
            let id = run_state::new_id(kind.name());
            let run = run_state::create(&runs, &id)?;
            run.write_record(&RunRecord {
                format: run_state::FORMAT.into(),
                id: id.clone(),
                kind: kind.name().into(),
                set: match set.local_dir() {
                    Some(dir) => std::path::absolute(dir).map_err(|e| Error::io(dir, e))?,
                    None => set.path().to_path_buf(),
                },
                namespace: namespace.clone(),
                server: server.clone(),
                started: crate::backup_set::manifest::now(),
            })?;
            Ok(run)
        }
    }
}
