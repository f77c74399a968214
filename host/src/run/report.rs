//! What a run prints at the end: a table a person reads and a script can grep.

use std::fmt::Write;

use super::backup::BackupReport;
use super::restore::{CutOff, RestoreReport, StepResult};
use crate::progress::human;
use contract::Hook;

pub fn backup(r: &BackupReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<8} {:>6} {:>10} {:>8}",
        "COMPONENT", "RESULT", "FILES", "SIZE", "TIME"
    );
    for c in &r.components {
        let (result, files, size) = match &c.result {
            Ok((files, bytes)) => ("ok", files.to_string(), human(*bytes)),
            Err(_) => ("FAILED", "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:>6} {:>10} {:>7.1}s",
            c.plugin,
            result,
            files,
            size,
            c.duration.as_secs_f64()
        );
    }
    for c in &r.components {
        if let Err(e) = &c.result {
            let _ = writeln!(out, "error: {}: {e}", c.plugin);
        }
    }
    let failed = r.components.iter().filter(|c| c.result.is_err()).count();
    let refused = r.repository.as_ref().and_then(|i| i.refused.as_deref());
    if failed == 0 && refused.is_none() {
        let _ = writeln!(
            out,
            "backup complete: {} (run {})",
            r.set.display(),
            r.run_id
        );
    } else if failed == 0 {
        let _ = writeln!(
            out,
            "backup FAILED: {}. Run log: {}",
            refused.unwrap_or_default(),
            r.run_log().display()
        );
    } else {
        let _ = writeln!(
            out,
            "backup FAILED for {failed} component(s); manifest.json marks them failed and a restore will refuse them. Run log: {}",
            r.run_log().display()
        );
    }
    if let Some(i) = &r.repository {
        if i.good {
            let _ = writeln!(
                out,
                "set {} is in the repository {}{}",
                i.name,
                i.location,
                i.verified
                    .map(|(files, bytes)| format!(", verified: {files} files, {}", human(bytes)))
                    .unwrap_or_default()
            );
        } else {
            let _ = writeln!(
                out,
                "set {} was NOT put in place: it is kept as {} (marked failed; no restore takes it, `host prune` removes it once a newer set is good)",
                i.name,
                r.set.display()
            );
        }
        let _ = writeln!(
            out,
            "latest: {}",
            i.latest.as_deref().unwrap_or("none (no good set yet)")
        );
    }
    if let Some(key) = &r.sealed_by {
        let _ = writeln!(out, "sealed with {key} (manifest.json.sig)");
    }
    if let Some(why) = &r.not_sealed {
        let _ = writeln!(out, "NOT sealed: {why}");
    }
    out
}

pub fn restore(r: &RestoreReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:<20} {:<8} {:<8} {:>8}",
        "STEP", "PLUGIN", "HOOK", "RESULT", "TIME"
    );
    for (i, s) in r.steps.iter().enumerate() {
        let result = match &s.result {
            StepResult::Ok => "ok",
            StepResult::Failed(_) => "FAILED",
            StepResult::Skipped => "skipped",
        };
        let _ = writeln!(
            out,
            "{:<4} {:<20} {:<8} {:<8} {:>7.1}s",
            i + 1,
            s.plugin,
            s.hook.name(),
            result,
            s.duration.as_secs_f64()
        );
    }
    // The first failure is told below; any other (a step that ran beside it, a failed
    // put-back) is told here.
    for s in &r.steps {
        if let StepResult::Failed(m) = &s.result {
            let line = format!("{} {}: {m}", s.plugin, s.hook.name());
            if r.failure.as_ref() != Some(&line) {
                let _ = writeln!(out, "error: {line}");
            }
        }
    }
    if let (Some(cut), true) = (&r.resumed, r.not_put_back.is_empty()) {
        resumed(&mut out, r, cut);
        return out;
    }
    match (&r.failure, r.not_put_back.is_empty()) {
        (None, true) => {
            let _ = writeln!(out, "restore complete (run {})", r.run_id);
        }
        (Some(f), true) if failed_at_a_resume(r) => {
            // A workload not brought back as recorded: the data steps before it ended well.
            let _ = writeln!(out, "restore FAILED at {f}");
            let skipped = r
                .steps
                .iter()
                .filter(|s| s.result == StepResult::Skipped)
                .count();
            let _ = writeln!(
                out,
                "the data steps before it ended well{}; nothing is left noted to put back",
                if skipped > 0 {
                    ", the skipped ones did not run"
                } else {
                    ""
                }
            );
        }
        (Some(f), true) => {
            let _ = writeln!(out, "restore FAILED at {f}");
            let resumed: Vec<&str> = r
                .steps
                .iter()
                .skip_while(|s| !matches!(s.result, StepResult::Failed(_)))
                .filter(|s| s.hook == Hook::Resume && s.result == StepResult::Ok)
                .map(|s| s.plugin.as_str())
                .collect();
            if resumed.is_empty() {
                let _ = writeln!(
                    out,
                    "nothing was left to put back: no change recorded before the failure was still outstanding"
                );
            } else {
                let _ = writeln!(
                    out,
                    "put back by {}: every replica count and spec recorded before the run's changes is as it was",
                    resumed.join(", ")
                );
            }
        }
        (_, false) => {
            if let Some(f) = &r.failure {
                let _ = writeln!(out, "restore FAILED at {f}");
            }
            let _ = writeln!(
                out,
                "NOT everything was put back; what is still changed is noted in:"
            );
            for (plugin, path) in &r.not_put_back {
                let _ = writeln!(out, "  {plugin}: {}", path.display());
            }
            let _ = writeln!(
                out,
                "fix the cause, then run `host resume --run {}` with the same --plugins",
                r.run_id
            );
        }
    }
    out
}

/// Whether the run's first failed step is a resume: a workload not brought back, after
/// the data steps before it had ended well.
fn failed_at_a_resume(r: &RestoreReport) -> bool {
    r.steps
        .iter()
        .find(|s| matches!(s.result, StepResult::Failed(_)))
        .is_some_and(|s| s.hook == Hook::Resume)
}

/// After `host resume`: what was put back, and, unless the run had finished, that its
/// data were not restored and what to run next. Never "restore complete" for a run that
/// was cut off.
fn resumed(out: &mut String, r: &RestoreReport, cut: &CutOff) {
    let put_back: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.hook == Hook::Resume && s.result == StepResult::Ok)
        .map(|s| s.plugin.as_str())
        .collect();
    if put_back.is_empty() {
        let _ = writeln!(out, "nothing was left to put back by run {}", r.run_id);
    } else {
        let _ = writeln!(
            out,
            "put back by {}: what run {} had scaled down or changed (recorded specs, replica counts, configuration) is as it was before that run",
            put_back.join(", "),
            r.run_id
        );
    }
    if cut.complete() {
        let _ = writeln!(
            out,
            "run {} had finished every step: its restore is complete",
            r.run_id
        );
        return;
    }
    match (cut.stopped.as_slice(), cut.recorded) {
        ([step], _) => {
            let _ = writeln!(
                out,
                "the data were NOT restored: run {} stopped during `{step}`, so what that step loads may be partly loaded and the steps after it never ran",
                r.run_id
            );
        }
        ([_, _, ..], _) => {
            let steps: Vec<String> = cut.stopped.iter().map(|s| format!("`{s}`")).collect();
            let _ = writeln!(
                out,
                "the data were NOT restored: run {} stopped during {}, which ran side by side, so what those steps load may be partly loaded and the steps after them never ran",
                r.run_id,
                steps.join(" and ")
            );
        }
        ([], true) => {
            let _ = writeln!(
                out,
                "the data were NOT restored: run {} stopped before it finished",
                r.run_id
            );
        }
        ([], false) => {
            let _ = writeln!(
                out,
                "the data were NOT restored, as far as the host can tell: run {} kept no step log (a run of an earlier host), so take it that it stopped before its data steps",
                r.run_id
            );
        }
    }
    if !cut.done.is_empty() {
        let _ = writeln!(out, "  finished before it stopped: {}", cut.done.join(", "));
    }
    if !cut.not_run.is_empty() {
        let _ = writeln!(out, "  never ran in that run: {}", cut.not_run.join(", "));
    }
    let set = cut
        .set
        .as_ref()
        .map(|s| format!(" --backup-dir {}", s.display()))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "next: restore again with the same --plugins: `host restore{set}`"
    );
    let _ = writeln!(
        out,
        "resume finished; the restore of run {} is NOT complete (exit 6)",
        r.run_id
    );
}

/// `host restore --plan`: the checks, then the steps in order with what each may do.
pub fn plan(p: &super::plan::Plan) -> String {
    use super::plan::Outcome;
    let mut out = String::new();
    let _ = writeln!(out, "restore plan: nothing is changed by printing it");
    let _ = writeln!(out, "  set:     {}", p.set.display());
    let _ = writeln!(out, "  plugins: {}", p.plugins.display());
    let _ = writeln!(out, "  3scale:  {}", p.version_source);
    let _ = writeln!(out, "\nchecks before the first change:");
    for c in &p.checks {
        let outcome = match c.outcome {
            Outcome::Pass => "pass",
            Outcome::Refuse => "REFUSE",
            Outcome::AtRunTime => "at run",
        };
        let _ = writeln!(out, "  {outcome:<7} {}: {}", c.name, c.detail);
    }
    let _ = writeln!(out, "\nsteps, in order:");
    let _ = writeln!(
        out,
        "  (each starts once the steps it waits for have ended; steps that wait for none of each other run side by side, up to --parallel at a time)"
    );
    let mut shown = std::collections::BTreeSet::new();
    for (i, s) in p.steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {} {}  ({})", i + 1, s.plugin, s.hook, s.file);
        if !s.waits_for.is_empty() {
            let waits: Vec<String> = s.waits_for.iter().map(|n| n.to_string()).collect();
            let _ = writeln!(out, "        waits for: {}", waits.join(", "));
        }
        if !s.reads.is_empty() {
            let _ = writeln!(out, "        reads: {}", s.reads.join(", "));
        }
        // A plugin's capabilities are the same for each of its hooks: told once.
        if shown.insert(s.plugin.clone()) {
            if !s.description.is_empty() {
                let _ = writeln!(out, "        {}", s.description);
            }
            for c in &s.capabilities {
                let _ = writeln!(out, "        may: {c}");
            }
        } else {
            let _ = writeln!(out, "        may: as above");
        }
    }
    let _ = writeln!(out, "\n{}", p.on_failure);
    let _ = writeln!(
        out,
        "{}",
        if p.refused() {
            "the restore would be REFUSED before its first change (see the checks above)"
        } else {
            "the restore would start (the at-run checks come first)"
        }
    );
    out.lines()
        .map(|l| crate::printable::printable(l).into_owned() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::restore::{CutOff, Step};
    use super::*;

    fn resumed(cut: CutOff) -> RestoreReport {
        RestoreReport {
            verified: None,
            steps: vec![Step {
                plugin: "system-app".into(),
                hook: Hook::Resume,
                result: StepResult::Ok,
                duration: std::time::Duration::from_secs(2),
            }],
            failure: None,
            not_put_back: Vec::new(),
            run_id: "r1".into(),
            resumed: Some(cut),
        }
    }

    #[test]
    fn a_resume_of_a_cut_off_run_never_reads_as_a_finished_restore() {
        let r = resumed(CutOff {
            recorded: true,
            done: vec!["secrets restore".into(), "system-app quiesce".into()],
            stopped: vec!["system-mysql restore".into()],
            not_run: vec!["system-storage restore".into()],
            set: Some("/backups/set".into()),
        });
        let text = restore(&r);
        assert_eq!(r.exit_code(), 6);
        assert!(!text.contains("restore complete"), "{text}");
        for words in [
            "put back by system-app",
            "the data were NOT restored",
            "stopped during `system-mysql restore`",
            "never ran in that run: system-storage restore",
            "`host restore --backup-dir /backups/set`",
        ] {
            assert!(text.contains(words), "{words}: {text}");
        }
        // A run of an older host kept no step log: assume the worst.
        let r = resumed(CutOff::default());
        assert_eq!(r.exit_code(), 6);
        assert!(restore(&r).contains("kept no step log"));
        // A run that had finished every step is complete.
        let r = resumed(CutOff {
            recorded: true,
            done: vec!["x restore".into()],
            ..CutOff::default()
        });
        assert_eq!(r.exit_code(), 0);
        assert!(restore(&r).contains("is complete"));
    }

    #[test]
    fn a_run_cut_with_loads_side_by_side_names_each_of_them() {
        let r = resumed(CutOff {
            recorded: true,
            done: vec!["system-app quiesce".into()],
            stopped: vec![
                "system-mysql restore".into(),
                "zync-database restore".into(),
            ],
            not_run: vec!["restarts restore".into()],
            set: None,
        });
        let text = restore(&r);
        assert_eq!(r.exit_code(), 6);
        assert!(
            text.contains("stopped during `system-mysql restore` and `zync-database restore`"),
            "{text}"
        );
        let doc = crate::report::schema::Restore::new(&r, "/set".into(), "/state".into());
        let doc = serde_json::to_value(&doc).unwrap();
        assert_eq!(doc["resumed"]["stoppedAt"], "system-mysql restore");
        assert_eq!(
            doc["resumed"]["stoppedIn"],
            serde_json::json!(["system-mysql restore", "zync-database restore"])
        );
    }

    #[test]
    fn a_step_that_failed_beside_the_first_failure_is_told_too() {
        let step = |plugin: &str, result| Step {
            plugin: plugin.into(),
            hook: Hook::Restore,
            result,
            duration: std::time::Duration::ZERO,
        };
        let r = RestoreReport {
            verified: None,
            steps: vec![
                step("system-mysql", StepResult::Failed("mysql said no".into())),
                step("zync-database", StepResult::Failed("psql said no".into())),
                step("restarts", StepResult::Skipped),
            ],
            failure: Some("zync-database restore: psql said no".into()),
            not_put_back: Vec::new(),
            run_id: "r1".into(),
            resumed: None,
        };
        let text = restore(&r);
        assert_eq!(r.exit_code(), 1);
        assert!(
            text.contains("restore FAILED at zync-database restore: psql said no"),
            "{text}"
        );
        assert!(
            text.contains("error: system-mysql restore: mysql said no"),
            "{text}"
        );
        assert!(!text.contains("error: zync-database"), "{text}");
    }
}
