//! What a run prints at the end: a table a person reads and a script can grep.

use std::fmt::Write;

use super::backup::BackupReport;
use super::restore::{RestoreReport, StepResult};
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
    if failed == 0 {
        let _ = writeln!(
            out,
            "backup complete: {} (run {})",
            r.set.display(),
            r.run_id
        );
    } else {
        let _ = writeln!(
            out,
            "backup FAILED for {failed} component(s); manifest.json marks them failed and a restore will refuse them. Run log: {}",
            r.set.join("runs").join(&r.run_id).display()
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
    // The first failure is told below; a failed put-back is told here.
    for s in r.steps.iter().filter(|s| s.hook == Hook::Resume) {
        if let StepResult::Failed(m) = &s.result {
            let _ = writeln!(out, "error: {} {}: {m}", s.plugin, s.hook.name());
        }
    }
    match (&r.failure, r.not_put_back.is_empty()) {
        (None, true) => {
            let _ = writeln!(out, "restore complete (run {})", r.run_id);
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
                    "nothing to put back: no step before the failure had recorded a change"
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
                "fix the cause, then run `host resume --run {}` with the same --plugins and --backup-dir",
                r.run_id
            );
        }
    }
    out
}
