//! `host restore` and `host resume`. A restore runs in the plugins' order: the quiesce
//! and restore hooks as `contract::order::quiesce_then_restore` orders them (a quiesce
//! after the restores of what its plugin comes after, every other restore after the
//! quiesces), then every resume hook. The set is
//! verified before the first change. When a step fails (or the run is interrupted), no
//! further step runs, and every plugin that still holds journal notes of something it
//! scaled down or changed gets its resume hook, in a fresh instance, to put it back.

use std::sync::Arc;
use std::time::Duration;

use super::Session;
use crate::backup_set::BackupSet;
use crate::backup_set::verify::{self, Verified};
use crate::cluster::PodPermit;
use crate::error::{Error, Result};
use contract::Hook;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    Ok,
    Failed(String),
    /// Not run because an earlier step failed.
    Skipped,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub plugin: String,
    pub hook: Hook,
    pub result: StepResult,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct RestoreReport {
    pub verified: Option<Verified>,
    pub steps: Vec<Step>,
    /// The first failed step, as "plugin hook: error".
    pub failure: Option<String>,
    /// Plugins whose journal still holds notes after the run: what could not be put back.
    pub not_put_back: Vec<(String, std::path::PathBuf)>,
    pub run_id: String,
    /// For `host resume`: what the cut-off run had done.
    pub resumed: Option<CutOff>,
}

/// Where an earlier run stopped, from its step log: what `host resume` tells, so that a
/// put-back is never taken for a finished restore.
#[derive(Debug, Clone, Default)]
pub struct CutOff {
    /// The run's step log exists (runs of earlier hosts kept none).
    pub recorded: bool,
    /// "plugin hook" of the steps that finished.
    pub done: Vec<String>,
    /// The step that started and never ended (the host was killed), or that failed.
    pub stopped_at: Option<String>,
    /// The steps of the restore's order that never started.
    pub not_run: Vec<String>,
    /// The set the run restored from, as its record names it.
    pub set: Option<std::path::PathBuf>,
}

impl CutOff {
    /// Every step of the run, data and resume, had finished: nothing is missing.
    pub fn complete(&self) -> bool {
        self.recorded && self.stopped_at.is_none() && self.not_run.is_empty()
    }
}

impl RestoreReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.not_put_back.is_empty()
    }

    /// The exit status a script reads: 0 a finished restore, 1 failed with everything
    /// put back, 4 not everything put back, 6 a resume that put back what a cut-off run
    /// changed while that run's restore is not complete.
    pub fn exit_code(&self) -> u8 {
        if !self.not_put_back.is_empty() {
            4
        } else if self.failure.is_some() {
            1
        } else if self.resumed.as_ref().is_some_and(|c| !c.complete()) {
            6
        } else {
            0
        }
    }
}

/// Resolves on SIGINT or SIGTERM with the signal's name. Installing it also means a
/// signal no longer kills the process outright, so the put-back always runs.
pub fn interrupt_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            Some(_) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => "SIGTERM",
            Some(_) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => "SIGINT",
        }
    }
}

/// A set made from another 3scale release is refused before verification: that is the
/// cause a user needs to hear, where verification would name its effects (plugins other
/// than the set's). The record is read unverified, which can only refuse earlier.
fn check_release(session: &Session) -> Result<()> {
    let Some(running) = &session.threescale_version else {
        return Ok(());
    };
    let Ok(Some(m)) = BackupSet::open(session.set.path()).and_then(|set| set.manifest()) else {
        // No readable record: verification says why, or checks a hand-made set by format.
        return Ok(());
    };
    if let Some(made) = &m.threescale_version
        && !super::version::same_release(made, running)
    {
        let message = format!(
            "the backup set {} was made from 3scale {made}, but namespace {} runs 3scale {running}",
            session.set.path().display(),
            session.namespace()
        );
        session.refuse_unless_forced(message)?;
    }
    Ok(())
}

/// Checks the whole set on a blocking thread (it reads every byte).
pub async fn verify_set(session: &Session) -> Result<Verified> {
    check_release(session)?;
    let path = session.set.path().to_path_buf();
    let plugins = session.plugin_files();
    let mut checks = session.settings.checks.clone();
    checks.namespace = Some(session.namespace().to_string());
    let keys = session.settings.keys.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let set = BackupSet::open(&path)?.with_keys(keys);
        verify::verify(&set, &plugins, &checks)
    })
    .await
    .map_err(|e| Error::task("verifying the set", e))?
    // Whatever stops verification (a planted symlink, an unreadable file) refuses the set.
    .map_err(|e| match e {
        Error::BadSet { .. } | Error::Refused(_) | Error::Invalid(_) => e,
        other => Error::bad_set(session.set.path(), other.to_string()),
    })?;
    Ok(verified)
}

pub async fn run(session: Arc<Session>) -> Result<RestoreReport> {
    let verified = verify_set(&session).await?;
    for w in &verified.warnings {
        session.progress().line(&format!("warning: {w}"));
    }
    session.progress().line(&format!(
        "backup set verified: {} files, {}{}",
        verified.files,
        crate::progress::human(verified.bytes),
        match &verified.sealed_by {
            Some(key) => format!(", sealed by {key}"),
            None => String::new(),
        }
    ));
    check_access(&session).await?;
    check_exec_protocol(&session).await?;
    let mut report = phases(&session).await?;
    report.verified = Some(verified);
    Ok(report)
}

/// Before the first change: every permission the plugins' grants may use, asked of the
/// API server. Without one, the restore would fail half-way with system-app down; it is
/// refused now, with the list, instead.
async fn check_access(session: &Session) -> Result<()> {
    let cluster = &session.ctx.cluster;
    let rules = crate::rbac::rules_for(session.plugins.iter().map(|p| &p.manifest));
    let note = |line: &str| {
        session.ctx.audit.note("host", "restore", line);
    };
    match crate::rbac::preflight::missing(cluster, &rules).await? {
        None => note("permissions not checked: the API server answers no SelfSubjectAccessReview"),
        Some(denied) if denied.is_empty() => note(&format!(
            "permissions checked: all {} rules of the plugins' grants allowed",
            rules.len()
        )),
        Some(denied) => {
            return Err(Error::Refused(format!(
                "your credentials lack permissions these plugins need in namespace {}, so nothing was changed: {}. `host rbac -n {} --plugins DIR` prints the Role that grants them",
                cluster.namespace(),
                denied.join("; "),
                cluster.namespace(),
            )));
        }
    }
    Ok(())
}

/// Before the first change: a restore streams data into the stdin of `mysql`, `psql` and
/// `tar`, and an API server that offers only `v4.channel.k8s.io` cannot close it, so
/// those commands would wait for more input forever. Asked once, with an exec of `true`
/// in a pod a plugin of this restore may run commands in. With no such pod yet (a new
/// namespace), the first load asks instead and fails before sending a byte.
async fn check_exec_protocol(session: &Session) -> Result<()> {
    let cluster = &session.ctx.cluster;
    for p in session
        .plugins
        .iter()
        .filter(|p| p.manifest.has_hook(Hook::Restore))
    {
        for grant in &p.manifest.capabilities.exec {
            let Some((pod, facts)) = cluster
                .running_pods(grant.selector())
                .await?
                .into_iter()
                .next()
            else {
                continue;
            };
            let container = grant.container().or(facts.kubectl_default());
            let permit = PodPermit::issue(&pod, container);
            let closes = cluster.stdin_closes(&permit).await?;
            session.ctx.audit.note(
                "host",
                "restore",
                &format!(
                    "exec protocol probed with `true` in pod {pod}: stdin {}",
                    if closes {
                        "can be closed (v5.channel.k8s.io)"
                    } else {
                        "cannot be closed (v4.channel.k8s.io)"
                    }
                ),
            );
            if !closes {
                return Err(Error::Refused(format!(
                    "the API server at {} offers exec only over v4.channel.k8s.io (Kubernetes before 1.30, OpenShift before 4.17): it cannot close a command's stdin, so loading a dump into mysql, psql or tar would never end. Nothing was changed. Restores need v5.channel.k8s.io; backups work on this server",
                    cluster.server()
                )));
            }
            return Ok(());
        }
    }
    Ok(())
}

/// `host resume`: only the put-back, for a run that was cut off (the host killed, the
/// machine lost) and left journal notes behind.
pub async fn resume(session: Arc<Session>) -> Result<RestoreReport> {
    // Read before the put-back, which logs its own steps.
    let cut_off = cut_off(&session)?;
    let mut report = RestoreReport::new(&session);
    report.resumed = Some(cut_off);
    put_back(&session, report, "resuming an earlier run").await
}

/// What the run being resumed did, step by step, against the order it would have run.
fn cut_off(session: &Session) -> Result<CutOff> {
    let manifests: Vec<&contract::Manifest> = session.plugins.iter().map(|p| &p.manifest).collect();
    let planned: Vec<String> = contract::order::quiesce_then_restore(&manifests)
        .into_iter()
        .map(|(i, hook)| format!("{} {hook}", manifests[i].name))
        .chain(
            manifests
                .iter()
                .filter(|m| m.has_hook(Hook::Resume))
                .map(|m| format!("{} {}", m.name, Hook::Resume)),
        )
        .collect();
    let mut out = CutOff {
        set: session.run.record()?.map(|r| r.set),
        ..CutOff::default()
    };
    let Some(events) = session.run.steps()? else {
        out.not_run = planned;
        return Ok(out);
    };
    out.recorded = true;
    let mut started = Vec::new();
    for e in &events {
        let step = format!("{} {}", e.plugin, e.hook);
        match e.event.as_str() {
            "started" => started.push(step),
            "ok" => out.done.push(step),
            _ if out.stopped_at.is_none() => out.stopped_at = Some(step),
            _ => {}
        }
    }
    if out.stopped_at.is_none() {
        out.stopped_at = started.into_iter().find(|s| !out.done.contains(s));
    }
    out.not_run = planned
        .into_iter()
        .filter(|s| !out.done.contains(s) && out.stopped_at.as_ref() != Some(s))
        .collect();
    Ok(out)
}

impl RestoreReport {
    fn new(session: &Session) -> RestoreReport {
        RestoreReport {
            verified: None,
            steps: Vec::new(),
            failure: None,
            not_put_back: Vec::new(),
            run_id: session.run_id.clone(),
            resumed: None,
        }
    }
}

/// The quiesce and restore steps, in `quiesce_then_restore`'s order; then, on success,
/// every resume hook, or on failure the put-back.
async fn phases(session: &Arc<Session>) -> Result<RestoreReport> {
    let mut report = RestoreReport::new(session);
    let mut interrupted = Box::pin(interrupt_signal());
    let manifests: Vec<&contract::Manifest> = session.plugins.iter().map(|p| &p.manifest).collect();
    for (i, hook) in contract::order::quiesce_then_restore(&manifests) {
        let p = &session.plugins[i];
        let name = p.manifest.name.clone();
        if report.failure.is_some() {
            report.steps.push(Step {
                plugin: name,
                hook,
                result: StepResult::Skipped,
                duration: Duration::ZERO,
            });
            continue;
        }
        let started = std::time::Instant::now();
        session.run.log_step(&name, hook.name(), "started", None);
        let outcome = tokio::select! {
            r = session.call(p, hook, session.set.reader()?) => r.map(|_| ()),
            signal = &mut interrupted => Err(Error::Interrupted(signal)),
        };
        let result = match outcome {
            Ok(()) => StepResult::Ok,
            Err(e) => {
                let message = match e {
                    Error::Plugin { message, .. } => message,
                    other => other.to_string(),
                };
                report.failure = Some(format!("{name} {hook}: {message}"));
                StepResult::Failed(message)
            }
        };
        log_end(session, &name, hook, &result);
        report.steps.push(Step {
            plugin: name,
            hook,
            result,
            duration: started.elapsed(),
        });
    }
    if report.failure.is_some() {
        return put_back(session, report, "putting back what the run changed").await;
    }
    // Success: every resume hook, in order; a failing one does not stop the others.
    for p in session
        .plugins
        .iter()
        .filter(|p| p.manifest.has_hook(Hook::Resume))
    {
        let step = resume_step(session, p).await;
        report.steps.push(step);
    }
    finish(session, report)
}

async fn put_back(
    session: &Arc<Session>,
    mut report: RestoreReport,
    why: &str,
) -> Result<RestoreReport> {
    let pending: Vec<_> = session
        .plugins
        .iter()
        .filter(|p| p.manifest.has_hook(Hook::Resume) && session.has_notes(&p.manifest.name))
        .collect();
    if !pending.is_empty() {
        session.progress().line(&format!(
            "{why}: {}",
            pending
                .iter()
                .map(|p| p.manifest.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for p in pending {
        let step = resume_step(session, p).await;
        report.steps.push(step);
    }
    finish(session, report)
}

async fn resume_step(session: &Session, p: &crate::plugin::LoadedPlugin) -> Step {
    let started = std::time::Instant::now();
    let name = &p.manifest.name;
    session
        .run
        .log_step(name, Hook::Resume.name(), "started", None);
    let result = match session.set.reader() {
        Ok(store) => session.call(p, Hook::Resume, store).await,
        Err(e) => Err(e),
    };
    let result = match result {
        Ok(_) => StepResult::Ok,
        Err(Error::Plugin { message, .. }) => StepResult::Failed(message),
        Err(e) => StepResult::Failed(e.to_string()),
    };
    log_end(session, name, Hook::Resume, &result);
    Step {
        plugin: name.clone(),
        hook: Hook::Resume,
        result,
        duration: started.elapsed(),
    }
}

fn log_end(session: &Session, plugin: &str, hook: Hook, result: &StepResult) {
    match result {
        StepResult::Ok => session.run.log_step(plugin, hook.name(), "ok", None),
        StepResult::Failed(m) => session.run.log_step(plugin, hook.name(), "failed", Some(m)),
        StepResult::Skipped => {}
    }
}

fn finish(session: &Session, mut report: RestoreReport) -> Result<RestoreReport> {
    // A plugin without a resume hook cannot hold notes for long: its notes are still a
    // sign that something was left changed.
    for p in &session.plugins {
        if session.has_notes(&p.manifest.name) {
            report.not_put_back.push((
                p.manifest.name.clone(),
                session.journal_path(&p.manifest.name),
            ));
        }
    }
    Ok(report)
}
