//! `host restore` and `host resume`. A restore runs in the plugins' order, stage by stage
//! as `contract::order::restore_plan` gives it: a quiesce after the restores of what its
//! plugin comes after, the restores made while it holds after the quiesces, side by side
//! where none waits for another, up to `--parallel` (see `schedule`); the quiescing
//! plugins' resumes; the restores declared `resumed`, side by side again; every other
//! resume hook, one after another. The set is verified before the first change. When a
//! step fails (or the run is interrupted), no further step starts, and every plugin that
//! still holds journal notes of something it scaled down or changed gets its resume hook,
//! in a fresh instance, to put it back.

use std::sync::Arc;
use std::time::Duration;

use super::Session;
use super::schedule::{self, Ran};
use crate::backup_set::BackupSet;
use crate::backup_set::verify::{self, Verified};
use crate::cluster::PodPermit;
use crate::error::{Error, Result};
use contract::Hook;
use contract::order::{Stage, Step as PlanStep};

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
    /// The steps that started and never ended (the host was killed), or that failed:
    /// several when steps ran side by side. Data steps only, if any stopped: a put-back
    /// cut off after them is not where the restore stopped.
    pub stopped: Vec<String>,
    /// The steps of the restore's order that never started.
    pub not_run: Vec<String>,
    /// The set the run restored from, as its record names it.
    pub set: Option<std::path::PathBuf>,
}

impl CutOff {
    /// Every step of the run, data and resume, had finished: nothing is missing.
    pub fn complete(&self) -> bool {
        self.recorded && self.stopped.is_empty() && self.not_run.is_empty()
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
    let Ok(Some(made)) = session.set.threescale_version() else {
        // No readable record: verification says why, or checks a hand-made set by format.
        return Ok(());
    };
    if !super::version::same_release(&made, running) {
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
    let location = session.set.location();
    let plugins = session.plugin_files();
    let mut checks = session.settings.checks.clone();
    checks.namespace = Some(session.namespace().to_string());
    let keys = session.settings.keys.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let set = BackupSet::at(&location, false)?.with_keys(keys);
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
    let planned: Vec<String> = contract::order::restore_plan(&manifests)
        .into_iter()
        .map(|s| format!("{} {}", manifests[s.plugin].name, s.hook))
        .collect();
    let mut out = CutOff {
        set: session.run.record()?.map(|r| r.set),
        ..CutOff::default()
    };
    let Some(events) = session.run.steps()? else {
        out.not_run = planned;
        return Ok(out);
    };
    out.read_log(planned, &events);
    Ok(out)
}

impl CutOff {
    /// What the step log says: each step's last word, in the order the steps first
    /// appear. `ok` is done; `started` (never ended: the host was killed) or `failed` is
    /// where the run stopped, which may be several steps that ran side by side. A
    /// put-back's resumes are not where the restore stopped if a data step did.
    fn read_log(&mut self, planned: Vec<String>, events: &[crate::state::runs::StepEvent]) {
        self.recorded = true;
        let mut last: Vec<(String, bool, &str)> = Vec::new();
        for e in events {
            let step = format!("{} {}", e.plugin, e.hook);
            match last.iter_mut().find(|(s, _, _)| *s == step) {
                Some(seen) => seen.2 = e.event.as_str(),
                None => last.push((step, e.hook == Hook::Resume.name(), e.event.as_str())),
            }
        }
        let data_stopped = last.iter().any(|(_, resume, ev)| !resume && *ev != "ok");
        for (step, resume, event) in last {
            if event == "ok" {
                self.done.push(step);
            } else if !(resume && data_stopped) {
                self.stopped.push(step);
            }
        }
        self.not_run = planned
            .into_iter()
            .filter(|s| !self.done.contains(s) && !self.stopped.contains(s))
            .collect();
    }
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

/// The plan's stages, one after another (`contract::order::restore_plan`): the steps
/// made while the quiescing plugins hold their workloads down, side by side where the
/// plan lets them (at most `--parallel` at once; one at a time is the plan's order);
/// their resumes, one after another, which end the outage; the restores declared
/// `resumed`, side by side again; the other resumes. A failed or interrupted step starts
/// nothing further and goes to the put-back.
async fn phases(session: &Arc<Session>) -> Result<RestoreReport> {
    let mut report = RestoreReport::new(session);
    let manifests: Vec<&contract::Manifest> = session.plugins.iter().map(|p| &p.manifest).collect();
    let plan = contract::order::restore_plan(&manifests);
    // One listener for the whole run: a signal during a resume, which is let finish, is
    // still heard by the next stage, which then starts nothing.
    let mut interrupt = std::pin::pin!(interrupt_signal());
    for stage in [Stage::Held, Stage::Return, Stage::Resumed, Stage::Last] {
        let steps: Vec<&PlanStep> = plan.iter().filter(|s| s.stage == stage).collect();
        let failure = match stage {
            Stage::Held | Stage::Resumed => {
                side_by_side(session, &plan, stage, interrupt.as_mut(), &mut report).await
            }
            Stage::Return | Stage::Last => {
                for step in &steps {
                    let p = &session.plugins[step.plugin];
                    report.steps.push(resume_step(session, p).await);
                }
                // The first resume that failed is the run's failure: the restore is not
                // complete. A workload not put back also stops the run before the next
                // stage's loads; after the last stage nothing is left to stop.
                let ran = &report.steps[report.steps.len() - steps.len()..];
                let failed = ran.iter().find_map(|s| match &s.result {
                    StepResult::Failed(m) => Some(format!("{} {}: {m}", s.plugin, s.hook)),
                    _ => None,
                });
                if stage == Stage::Last {
                    report.failure = failed;
                    None
                } else {
                    failed
                }
            }
        };
        if let Some(failure) = failure {
            report.failure = Some(failure);
            // The restores of later stages never started.
            for step in plan
                .iter()
                .filter(|s| s.stage > stage && s.hook != Hook::Resume)
            {
                report.steps.push(Step {
                    plugin: session.plugins[step.plugin].manifest.name.clone(),
                    hook: step.hook,
                    result: StepResult::Skipped,
                    duration: Duration::ZERO,
                });
            }
            return put_back(session, report, "putting back what the run changed").await;
        }
    }
    finish(session, report)
}

/// One stage's quiesce and restore steps, side by side where their waits allow; each
/// result goes into the report. Returns the run's failure, if a step failed (the first
/// to end failed) or was cut.
async fn side_by_side(
    session: &Arc<Session>,
    plan: &[PlanStep],
    stage: Stage,
    interrupt: std::pin::Pin<&mut impl std::future::Future<Output = &'static str>>,
    report: &mut RestoreReport,
) -> Option<String> {
    let steps: Vec<&PlanStep> = plan.iter().filter(|s| s.stage == stage).collect();
    // The plan's indices, as indices into this stage's steps; the waits on earlier
    // stages are met.
    let mut local = Vec::with_capacity(plan.len());
    let mut next = 0;
    for s in plan {
        local.push((s.stage == stage).then(|| {
            next += 1;
            next - 1
        }));
    }
    let waits: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| s.waits_for.iter().filter_map(|&i| local[i]).collect())
        .collect();
    let label = |j: usize| {
        format!(
            "{} {}",
            session.plugins[steps[j].plugin].manifest.name, steps[j].hook
        )
    };
    let mut started = vec![std::time::Instant::now(); steps.len()];
    let ran = schedule::run(
        &waits,
        session.settings.parallel,
        |j| {
            started[j] = std::time::Instant::now();
            let (i, hook) = (steps[j].plugin, steps[j].hook);
            // Logged here, in start order: `host resume` reads where a run was from it.
            session.run.log_step(
                &session.plugins[i].manifest.name,
                hook.name(),
                "started",
                None,
            );
            let session = session.clone();
            async move { data_step(&session, i, hook).await }
        },
        |done: &Done| done.result != StepResult::Ok,
        |now| {
            let names: Vec<String> = now.iter().map(|&j| label(j)).collect();
            session
                .progress()
                .line(&format!("running: {}", names.join(", ")));
        },
        interrupt,
    )
    .await;
    // The first failure is the one that ended first; a signal's cut comes after any.
    let mut first: Option<(std::time::Instant, String)> = None;
    let mut cut: Option<String> = None;
    for (j, ran) in ran.into_iter().enumerate() {
        let (i, hook) = (steps[j].plugin, steps[j].hook);
        let name = session.plugins[i].manifest.name.clone();
        let (result, duration) = match ran {
            // It logged its own end.
            Ran::Finished(done) => {
                if let StepResult::Failed(m) = &done.result
                    && first.as_ref().is_none_or(|(at, _)| done.ended < *at)
                {
                    first = Some((done.ended, format!("{name} {hook}: {m}")));
                }
                (done.result, done.duration)
            }
            // Dropped (or panicked) before it could log its end, which follows its last
            // await: logged here.
            Ran::Interrupted(signal) => {
                let message = Error::Interrupted(signal).to_string();
                (
                    cut_short(session, &name, hook, message, &mut cut),
                    started[j].elapsed(),
                )
            }
            Ran::Lost(why) => {
                let message = format!("the step's task ended without a result: {why}");
                (
                    cut_short(session, &name, hook, message, &mut cut),
                    started[j].elapsed(),
                )
            }
            Ran::NotStarted => (StepResult::Skipped, Duration::ZERO),
        };
        report.steps.push(Step {
            plugin: name,
            hook,
            result,
            duration,
        });
    }
    first.map(|(_, f)| f).or(cut)
}

/// A step that did not run to its end: its end logged, and the first such one kept as the
/// run's failure unless a step failed by itself.
fn cut_short(
    session: &Session,
    name: &str,
    hook: Hook,
    message: String,
    cut: &mut Option<String>,
) -> StepResult {
    cut.get_or_insert_with(|| format!("{name} {hook}: {message}"));
    let result = StepResult::Failed(message);
    log_end(session, name, hook, &result);
    result
}

/// How a quiesce or restore step that ran to its end went.
struct Done {
    result: StepResult,
    duration: Duration,
    /// When it ended: of several failed steps, the first to fail is the run's failure.
    ended: std::time::Instant,
}

/// One quiesce or restore step, on its own task; its end is logged as it ends.
async fn data_step(session: &Session, i: usize, hook: Hook) -> Done {
    let p = &session.plugins[i];
    let started = std::time::Instant::now();
    let outcome = match session.set.reader() {
        Ok(store) => session.call(p, hook, store).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let result = match outcome {
        Ok(()) => StepResult::Ok,
        Err(Error::Plugin { message, .. }) => StepResult::Failed(message),
        Err(other) => StepResult::Failed(other.to_string()),
    };
    log_end(session, &p.manifest.name, hook, &result);
    Done {
        result,
        duration: started.elapsed(),
        ended: std::time::Instant::now(),
    }
}

async fn put_back(
    session: &Arc<Session>,
    mut report: RestoreReport,
    why: &str,
) -> Result<RestoreReport> {
    // A resume that already ran in this run and failed is not run again: its failure
    // (a time limit of minutes, perhaps) is reported, and its notes are kept for
    // `host resume` once the cause is fixed.
    let ran = |name: &str| {
        report
            .steps
            .iter()
            .any(|s| s.plugin == name && s.hook == Hook::Resume)
    };
    let pending: Vec<_> = session
        .plugins
        .iter()
        .filter(|p| {
            let name = &p.manifest.name;
            p.manifest.has_hook(Hook::Resume) && session.has_notes(name) && !ran(name)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::runs::StepEvent;

    fn log(lines: &[(&str, &str)]) -> Vec<StepEvent> {
        lines
            .iter()
            .map(|(step, event)| {
                let (plugin, hook) = step.split_once(' ').unwrap();
                StepEvent {
                    plugin: plugin.into(),
                    hook: hook.into(),
                    event: (*event).into(),
                    at: String::new(),
                    message: None,
                }
            })
            .collect()
    }

    fn read(lines: &[(&str, &str)]) -> CutOff {
        let planned = [
            "system-app quiesce",
            "system-mysql restore",
            "zync-database restore",
            "restarts restore",
            "system-app resume",
            "zync-database resume",
        ];
        let mut cut = CutOff::default();
        cut.read_log(planned.map(String::from).to_vec(), &log(lines));
        cut
    }

    #[test]
    fn a_run_killed_with_two_loads_running_stopped_in_both() {
        let cut = read(&[
            ("system-app quiesce", "started"),
            ("system-app quiesce", "ok"),
            ("system-mysql restore", "started"),
            ("zync-database restore", "started"),
        ]);
        assert_eq!(cut.done, ["system-app quiesce"]);
        assert_eq!(
            cut.stopped,
            ["system-mysql restore", "zync-database restore"]
        );
        assert_eq!(
            cut.not_run,
            [
                "restarts restore",
                "system-app resume",
                "zync-database resume"
            ]
        );
        assert!(!cut.complete());
    }

    #[test]
    fn a_load_that_finished_beside_a_failed_one_is_done_and_the_put_back_is_not_a_stop() {
        let cut = read(&[
            ("system-app quiesce", "started"),
            ("system-app quiesce", "ok"),
            ("system-mysql restore", "started"),
            ("zync-database restore", "started"),
            ("zync-database restore", "failed"),
            ("system-mysql restore", "ok"),
            ("zync-database resume", "started"),
            ("zync-database resume", "ok"),
            // Killed in the put-back.
            ("system-app resume", "started"),
        ]);
        assert_eq!(
            cut.done,
            [
                "system-app quiesce",
                "system-mysql restore",
                "zync-database resume"
            ]
        );
        assert_eq!(cut.stopped, ["zync-database restore"]);
        assert_eq!(cut.not_run, ["restarts restore", "system-app resume"]);
    }

    #[test]
    fn a_run_killed_in_its_resumes_stopped_there_and_a_finished_one_is_complete() {
        let data = [
            ("system-app quiesce", "ok"),
            ("system-mysql restore", "ok"),
            ("zync-database restore", "ok"),
            ("restarts restore", "ok"),
            ("system-app resume", "ok"),
        ];
        let mut lines = data.to_vec();
        lines.push(("zync-database resume", "started"));
        let cut = read(&lines);
        assert_eq!(cut.stopped, ["zync-database resume"]);
        assert!(cut.not_run.is_empty());
        let mut lines = data.to_vec();
        lines.push(("zync-database resume", "ok"));
        assert!(read(&lines).complete());
    }
}
