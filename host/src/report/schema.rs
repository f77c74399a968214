//! The fields of each report kind (docs/reports.md says what each means). Built from the
//! host's own reports, so the text a person reads and the document a script reads come
//! from one outcome.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::backup_set::manifest::{PluginRecord, SetManifest};
use crate::repository::{SetEntry, SetState};
use crate::run::backup::BackupReport;
use crate::run::restore::{RestoreReport, StepResult};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub message: String,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    pub files: usize,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_by: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hand_made: bool,
    /// An encrypted set whose every file was decrypted and found whole (`--identity`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub decrypted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// `ok` or `failed`.
    pub result: &'static str,
    pub run_id: String,
    /// Where the set is now (a failed set in a repository: `NAME.failed`).
    pub set: PathBuf,
    pub started_at: String,
    pub duration_seconds: f64,
    pub components: Vec<BackupComponent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_sealed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<InRepository>,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupComponent {
    pub name: String,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InRepository {
    pub location: String,
    pub name: String,
    /// `good` (put in place) or `failed` (kept as NAME.failed).
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<Checked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
}

impl Backup {
    pub fn new(r: &BackupReport, exit_code: u8) -> Backup {
        Backup {
            result: if r.ok() && r.repository.as_ref().is_none_or(|i| i.good) {
                "ok"
            } else {
                "failed"
            },
            run_id: r.run_id.clone(),
            set: r.set.clone(),
            started_at: r.started.clone(),
            duration_seconds: r.duration.as_secs_f64(),
            components: r
                .components
                .iter()
                .map(|c| BackupComponent {
                    name: c.plugin.clone(),
                    result: if c.result.is_ok() { "ok" } else { "failed" },
                    files: c.result.as_ref().ok().map(|(f, _)| *f),
                    bytes: c.result.as_ref().ok().map(|(_, b)| *b),
                    duration_seconds: c.duration.as_secs_f64(),
                    error: c.result.as_ref().err().cloned(),
                })
                .collect(),
            sealed_by: r.sealed_by.clone(),
            not_sealed: r.not_sealed.clone(),
            repository: r.repository.as_ref().map(|i| InRepository {
                location: i.location.clone(),
                name: i.name.clone(),
                result: if i.good { "good" } else { "failed" },
                verified: i.verified.map(|(files, bytes)| Checked {
                    files,
                    bytes,
                    sealed_by: r.sealed_by.clone(),
                    hand_made: false,
                    decrypted: false,
                    warnings: Vec::new(),
                }),
                refused: i.refused.clone(),
                latest: i.latest.clone(),
            }),
            exit_code,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restore {
    /// `complete`; `failed` (everything put back); `not-put-back` (see notPutBack, then
    /// `host resume`); `put-back` (a resume put back what a cut-off run changed, and that
    /// run's restore is not complete).
    pub result: &'static str,
    pub run_id: String,
    /// The run's audit log, journals and step log.
    pub run_state: PathBuf,
    pub set: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<Checked>,
    pub steps: Vec<RestoreStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_put_back: Vec<NotPutBack>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<Resumed>,
    pub exit_code: u8,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStep {
    pub index: usize,
    pub plugin: String,
    pub hook: String,
    /// `ok`, `failed` or `skipped`.
    pub result: &'static str,
    pub duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotPutBack {
    pub plugin: String,
    pub journal: PathBuf,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resumed {
    /// The cut-off run kept a step log (hosts since run state left the set).
    pub recorded: bool,
    pub done: Vec<String>,
    /// The first of `stopped_in`, for scripts written when steps ran one at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Every step the run stopped in (several ran side by side).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped_in: Vec<String>,
    pub not_run: Vec<String>,
    /// The data steps all finished: a restore is complete once nothing is left to put
    /// back.
    pub complete: bool,
}

impl Restore {
    pub fn new(r: &RestoreReport, set: PathBuf, run_state: PathBuf) -> Restore {
        let exit_code = r.exit_code();
        Restore {
            result: match exit_code {
                0 => "complete",
                1 => "failed",
                4 => "not-put-back",
                _ => "put-back",
            },
            run_id: r.run_id.clone(),
            run_state,
            set,
            verified: r.verified.as_ref().map(|v| Checked {
                files: v.files,
                bytes: v.bytes,
                sealed_by: v.sealed_by.clone(),
                hand_made: v.hand_made,
                decrypted: v.encrypted,
                warnings: v.warnings.clone(),
            }),
            steps: r
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| RestoreStep {
                    index: i + 1,
                    plugin: s.plugin.clone(),
                    hook: s.hook.name().to_string(),
                    result: match s.result {
                        StepResult::Ok => "ok",
                        StepResult::Failed(_) => "failed",
                        StepResult::Skipped => "skipped",
                    },
                    duration_seconds: s.duration.as_secs_f64(),
                    error: match &s.result {
                        StepResult::Failed(m) => Some(m.clone()),
                        _ => None,
                    },
                })
                .collect(),
            failure: r.failure.clone(),
            not_put_back: r
                .not_put_back
                .iter()
                .map(|(plugin, journal)| NotPutBack {
                    plugin: plugin.clone(),
                    journal: journal.clone(),
                })
                .collect(),
            resumed: r.resumed.as_ref().map(|c| Resumed {
                recorded: c.recorded,
                done: c.done.clone(),
                stopped_at: c.stopped.first().cloned(),
                stopped_in: c.stopped.clone(),
                not_run: c.not_run.clone(),
                complete: c.complete(),
            }),
            exit_code,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verify {
    pub result: &'static str,
    pub set: PathBuf,
    #[serde(flatten)]
    pub checked: Checked,
    /// Which plugin set was used, when --plugins held several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_set: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub file: PathBuf,
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub threescale: Vec<String>,
    pub after: Vec<String>,
    pub hooks: Vec<String>,
    /// What the plugin may do, in the words `host inspect` prints.
    pub capabilities: Vec<String>,
    /// The manifest as the plugin declares it.
    pub manifest: contract::Manifest,
    /// Its signature (`NAME.wasm.sig`): none, unusable, by whom, and whether it checks
    /// against `--key`.
    pub signature: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSummary {
    pub name: String,
    /// `good`, `failed`, `incomplete` or `running`.
    pub result: SetState,
    pub latest: bool,
    pub path: PathBuf,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threescale_version: Option<String>,
    pub components: Vec<String>,
    pub bytes: u64,
    pub sealed: bool,
    /// The set's files are age files: how, and to how many keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::backup_set::encryption::Encryption>,
}

impl SetSummary {
    pub fn new(e: &SetEntry) -> SetSummary {
        let m = e.manifest.as_ref();
        SetSummary {
            name: e.name.clone(),
            result: e.state,
            latest: e.latest,
            path: e.location.shown(),
            started_at: e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            finished_at: m.map(|m| m.finished.clone()),
            duration_seconds: m.and_then(duration),
            namespace: m.map(|m| m.namespace.clone()),
            threescale_version: m.and_then(|m| m.threescale_version.clone()),
            components: m
                .map(|m| m.components.keys().cloned().collect())
                .unwrap_or_default(),
            bytes: e.bytes,
            sealed: e.sealed,
            encryption: m.and_then(|m| m.encryption.clone()),
        }
    }
}

/// Seconds from a manifest's `started` to its `finished`.
pub fn duration(m: &SetManifest) -> Option<f64> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let (a, b) = (parse(&m.started)?, parse(&m.finished)?);
    Some((b - a).num_milliseconds().max(0) as f64 / 1000.0)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetList {
    pub repository: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    pub sets: Vec<SetSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetDescription {
    #[serde(flatten)]
    pub summary: SetSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The key the seal names, unchecked (`verify --trust-key` checks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_by_claimed: Option<String>,
    pub component_details: Vec<SetComponent>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
    pub plugins: Vec<PluginRecord>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetComponent {
    pub name: String,
    pub plugin: PluginRecord,
    pub files: usize,
    pub bytes: u64,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

impl SetDescription {
    pub fn new(e: &SetEntry, sealed_by_claimed: Option<String>) -> SetDescription {
        let m = e.manifest.as_ref();
        let component_details = m
            .map(|m| {
                m.components
                    .iter()
                    .map(|(name, c)| SetComponent {
                        name: name.clone(),
                        plugin: c.plugin.clone(),
                        files: c.artifacts.len(),
                        bytes: c.artifacts.iter().map(|a| a.size).sum(),
                        started_at: c.started.clone(),
                        finished_at: c.finished.clone(),
                        duration_seconds: {
                            let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
                            parse(&c.started)
                                .zip(parse(&c.finished))
                                .map(|(a, b)| (b - a).num_milliseconds().max(0) as f64 / 1000.0)
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        SetDescription {
            summary: SetSummary::new(e),
            tool: m.map(|m| format!("{} {}", m.tool.name, m.tool.version)),
            sealed_by_claimed,
            component_details,
            failed: m.map(|m| m.failed.clone()).unwrap_or_default(),
            plugins: m
                .map(|m| m.plugins.values().cloned().collect())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prune {
    pub repository: String,
    pub dry_run: bool,
    pub sets: Vec<PruneDecision>,
    /// Bytes of the sets deleted (or that would be, with --dry-run).
    pub freed_bytes: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneDecision {
    pub name: String,
    pub result: SetState,
    /// `keep` or `delete`.
    pub action: &'static str,
    pub reason: String,
    pub bytes: u64,
}
