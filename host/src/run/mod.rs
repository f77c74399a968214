//! A run: what `host backup`, `host restore` and `host resume` share. It loads and checks
//! the plugins, opens the backup set, connects to the cluster, reads the 3scale version,
//! and gives each hook call a fresh sandboxed instance with its grant, store and journal.

pub mod backup;
pub mod report;
pub mod restore;
pub(crate) mod version;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::audit::Audit;
use crate::backup_set::BackupSet;
use crate::backup_set::artifacts::ArtifactStore;
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

/// Which plugins a run uses.
#[derive(Debug, Clone)]
pub enum PluginSource {
    File(PathBuf),
    Dir(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster: ClusterOptions,
    pub backup_dir: PathBuf,
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
    /// What a restore asks of the set (seal, hand-made, plugins, namespace).
    pub checks: crate::backup_set::verify::Checks,
    /// For `host backup --sign-key`: seal the set when every component is backed up.
    pub sign_key: Option<ed25519_dalek::SigningKey>,
    /// `--require-signed`: the public key every plugin must be signed by.
    pub require_signed: Option<PathBuf>,
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
    pub ctx: Arc<RunContext>,
    pub threescale_version: Option<String>,
    /// The namespace has no APIManager yet; the restore creates it from the set.
    pub new_namespace: bool,
    pub settings: Settings,
    journal_key: JournalKey,
    journals: Mutex<BTreeMap<String, Arc<Mutex<Journal>>>>,
}

impl Session {
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
        let set = match kind {
            Kind::Backup => BackupSet::create(&settings.backup_dir)?,
            Kind::Restore | Kind::Resume => BackupSet::open(&settings.backup_dir)?,
        };
        let journal_key = JournalKey::load_or_create()?;
        let cluster = Cluster::connect(&settings.cluster, settings.timeouts).await?;
        let run_id = match (&settings.resume_run, kind) {
            (Some(id), Kind::Resume) => {
                check_run_id(id)?;
                if !set.run_dir(id).join("journal").is_dir() {
                    return Err(Error::Refused(format!(
                        "run `{id}` has no journal in {}",
                        set.path().display()
                    )));
                }
                id.clone()
            }
            _ => new_run_id(&set, kind),
        };
        // Every journal of the run to resume is authenticated before any plugin runs;
        // a restore checks all runs' journals (a forged one must not even be suggested
        // for `host resume`).
        let unfinished = match kind {
            Kind::Backup => Vec::new(),
            Kind::Restore => unfinished_runs(&set, &journal_key, None)?,
            Kind::Resume => unfinished_runs(&set, &journal_key, Some(&run_id))?,
        };
        if kind == Kind::Restore
            && let Some((id, plugins)) = unfinished.into_iter().next()
        {
            return Err(Error::Refused(format!(
                "run {id} did not finish putting back what it changed ({}); run `host resume --run {id}` first",
                plugins.join(", ")
            )));
        }
        let audit = Audit::create(&set.run_dir(&run_id).join("audit.jsonl"))?;
        let ctx = Arc::new(RunContext {
            cluster: Arc::new(cluster),
            audit: Arc::new(audit),
            progress,
            quota: Arc::new(SetQuota::new(settings.limits.set_bytes)),
        });
        let mut threescale_version = version::read(&ctx.cluster).await?;
        let mut new_namespace = false;
        if threescale_version.is_none()
            && kind == Kind::Restore
            && let Some(made) = set.manifest()?.and_then(|m| m.threescale_version)
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
        self.set
            .run_dir(&self.run_id)
            .join("journal")
            .join(format!("{plugin}.json"))
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

/// Runs whose journals still hold notes, with the plugins that wrote them (only `only`,
/// if given). Every journal file is authenticated: a forged or changed one refuses the
/// run (see `journal.rs`).
pub fn unfinished_runs(
    set: &BackupSet,
    key: &JournalKey,
    only: Option<&str>,
) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let Ok(runs) = std::fs::read_dir(set.path().join(crate::backup_set::RUNS)) else {
        return Ok(out);
    };
    let mut runs: Vec<_> = runs.filter_map(|e| e.ok()).collect();
    runs.sort_by_key(|e| e.file_name());
    for run in runs {
        let id = run.file_name().to_string_lossy().into_owned();
        if only.is_some_and(|o| o != id) {
            continue;
        }
        let Ok(journals) = std::fs::read_dir(run.path().join("journal")) else {
            continue;
        };
        let mut plugins = Vec::new();
        for entry in journals.filter_map(|e| e.ok()) {
            let path = entry.path();
            // `.json.tmp` files are saves cut off before their rename: never acted on.
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let plugin = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !Journal::open(&path, key, &id, &plugin)?.is_empty() {
                plugins.push(plugin);
            }
        }
        if !plugins.is_empty() {
            plugins.sort();
            out.push((id, plugins));
        }
    }
    Ok(out)
}

/// A run id names one directory under `runs/`: no separators, no `..`.
fn check_run_id(id: &str) -> Result<()> {
    let plain = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "--run `{id}` is not a run id (a directory name under runs/, as a restore prints it)"
        )))
    }
}

/// Sortable and unique within the set: `20261125T101500Z-restore`.
fn new_run_id(set: &BackupSet, kind: Kind) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut id = format!("{stamp}-{}", kind.name());
    let mut n = 2;
    while set.run_dir(&id).exists() {
        id = format!("{stamp}-{}-{n}", kind.name());
        n += 1;
    }
    id
}
