//! `host restore --plan`: what a restore would do, from the plugins' manifests and the
//! set alone, changing nothing. The only thing read from the cluster is the 3scale version
//! on the APIManager (and the API server's address, by connecting), which chooses the
//! plugin set and is one of the checks; no plugin runs, no exec, no patch, and no run
//! state is written. The steps are in the order a restore takes them one at a time
//! (`contract::order::restore_plan`), each with the steps
//! it waits for (those that wait for none of each other run side by side) and what its
//! plugin may do in `host inspect`'s words; the checks are the ones that refuse a restore
//! before its first change, each with what it would say.

use std::path::{Path, PathBuf};

use super::version;
use crate::backup_set::BackupSet;
use crate::backup_set::verify::{self, Checks, PluginFile};
use crate::capabilities::Grant;
use crate::cluster::{Cluster, ClusterOptions, Timeouts};
use crate::error::Result;
use crate::plugin::sets::{self, Layout};
use crate::state::StateDir;
use contract::Hook;
use contract::order::{self, Missing};

pub struct PlanInput<'a> {
    pub plugins: &'a Path,
    pub set: &'a crate::backup_set::SetLocation,
    pub cluster: &'a ClusterOptions,
    pub checks: Checks,
    pub force: bool,
    pub state: &'a StateDir,
    pub keys: crate::backup_set::encryption::Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    /// The restore would stop here, before its first change.
    Refuse,
    /// Checked only when the restore runs (it needs a pod).
    AtRunTime,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanStep {
    pub plugin: String,
    pub hook: String,
    pub file: String,
    pub description: String,
    /// The artifacts of the set the step reads.
    pub reads: Vec<String>,
    /// What the plugin may do, as `host inspect` says it.
    pub capabilities: Vec<String>,
    /// The steps (numbered from 1) this one waits for; steps that do not wait for each
    /// other run side by side, up to `--parallel`.
    pub waits_for: Vec<usize>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub set: PathBuf,
    pub plugins: PathBuf,
    pub namespace: Option<String>,
    pub threescale_version: Option<String>,
    /// Where the version was read.
    pub version_source: String,
    pub checks: Vec<Check>,
    pub steps: Vec<PlanStep>,
    /// If a step fails: which plugins' resume hooks would put back what it changed.
    pub on_failure: String,
}

impl Plan {
    pub fn refused(&self) -> bool {
        self.checks.iter().any(|c| c.outcome == Outcome::Refuse)
    }
}

pub async fn plan(input: PlanInput<'_>) -> Result<Plan> {
    let mut checks = Vec::new();
    let set = BackupSet::at(input.set, false)?.with_keys(input.keys.clone());
    let made = set.manifest_head().ok().flatten();
    let made_from = made.as_ref().and_then(|m| m.threescale_version.clone());
    // The cluster: its address and the APIManager's version annotation, nothing else.
    let (namespace, running, scope) =
        match Cluster::connect(input.cluster, Timeouts::default()).await {
            Ok(cluster) => {
                let running = version::read(&cluster).await?;
                let ns = cluster.namespace().to_string();
                let scope = (cluster.server().to_string(), ns.clone());
                (Some(ns), running, Some(scope))
            }
            Err(e) => {
                checks.push(Check {
                    name: "cluster".into(),
                    outcome: Outcome::Refuse,
                    detail: format!("could not reach the cluster: {e}"),
                });
                (None, None, None)
            }
        };
    let new_namespace = running.is_none() && scope.is_some() && made_from.is_some();
    let (version, version_source) = match (&running, &made_from) {
        (Some(v), _) => (
            Some(v.clone()),
            format!(
                "namespace {} runs 3scale {v} (its APIManager's {}, read from the cluster)",
                namespace.as_deref().unwrap_or("?"),
                version::ANNOTATION
            ),
        ),
        (None, Some(v)) if new_namespace => (
            Some(v.clone()),
            format!(
                "namespace {} has no APIManager yet (a restore into a new namespace, manual 9.5.1); the set was made from 3scale {v}",
                namespace.as_deref().unwrap_or("?")
            ),
        ),
        (None, Some(v)) => (
            Some(v.clone()),
            format!("the set was made from 3scale {v} (the cluster was not read)"),
        ),
        (None, None) => (None, "no 3scale version known".to_string()),
    };
    let dir = match sets::survey(input.plugins)? {
        Layout::One => input.plugins.to_path_buf(),
        Layout::Several(several) => several.choose(version.as_deref(), &version_source)?.dir,
    };
    let plugins = crate::plugin::examine_dir(&dir, Missing::Refuse)?;
    version_check(
        &plugins,
        &version,
        &made_from,
        &running,
        input.force,
        &mut checks,
    );
    let mut set_checks = input.checks.clone();
    set_checks.namespace = namespace.clone();
    checks.push(match verify::verify(&set, &plugins, &set_checks) {
        Ok(v) => Check {
            name: "set".into(),
            outcome: Outcome::Pass,
            detail: format!(
                "the set verifies: {} files, {}{}{}",
                v.files,
                crate::progress::human(v.bytes),
                if v.hand_made {
                    " checked by format (--hand-made)".to_string()
                } else {
                    " against manifest.json".to_string()
                },
                v.sealed_by
                    .map(|k| format!(", sealed by {k}"))
                    .unwrap_or_default()
            ),
        },
        Err(e) => Check {
            name: "set".into(),
            outcome: Outcome::Refuse,
            detail: e.to_string(),
        },
    });
    checks.push(unfinished_check(input.state, &set, scope.as_ref())?);
    checks.push(exec_check(&plugins));
    let steps = steps(&plugins);
    let resumers: Vec<&str> = plugins
        .iter()
        .filter(|p| p.manifest.has_hook(Hook::Resume))
        .map(|p| p.manifest.name.as_str())
        .collect();
    Ok(Plan {
        set: input.set.shown(),
        plugins: dir,
        namespace,
        threescale_version: version,
        version_source,
        checks,
        steps,
        on_failure: format!(
            "if a step fails, no further step starts and the steps running beside it finish; if the run is interrupted, the running steps are stopped; then each of {} whose journal notes a change gets its resume hook to put it back",
            resumers.join(", ")
        ),
    })
}

fn steps(plugins: &[PluginFile]) -> Vec<PlanStep> {
    let manifests: Vec<&contract::Manifest> = plugins.iter().map(|p| &p.manifest).collect();
    order::restore_plan(&manifests)
        .into_iter()
        .map(|s| {
            let p = &plugins[s.plugin];
            PlanStep {
                plugin: p.manifest.name.clone(),
                hook: s.hook.name().to_string(),
                file: p.file.clone(),
                description: p.manifest.description.clone(),
                reads: if s.hook == Hook::Restore {
                    p.manifest
                        .artifacts
                        .iter()
                        .map(|a| a.path.clone())
                        .collect()
                } else {
                    Vec::new()
                },
                capabilities: Grant::describe(&p.manifest),
                waits_for: s.waits_for.into_iter().map(|j| j + 1).collect(),
            }
        })
        .collect()
}

fn version_check(
    plugins: &[PluginFile],
    version: &Option<String>,
    made_from: &Option<String>,
    running: &Option<String>,
    force: bool,
    checks: &mut Vec<Check>,
) {
    let forced = |detail: String| Check {
        name: "3scale version".into(),
        outcome: if force {
            Outcome::Pass
        } else {
            Outcome::Refuse
        },
        detail: if force {
            format!("{detail} (--force goes on)")
        } else {
            format!("{detail}; --force runs it anyway")
        },
    };
    let Some(v) = version else {
        checks.push(forced(
            "cannot tell which 3scale version the namespace runs".into(),
        ));
        return;
    };
    if let Some(p) = plugins
        .iter()
        .find(|p| !version::supports(&p.manifest.threescale, v))
    {
        checks.push(forced(format!(
            "plugin {} is for 3scale {}, not {v}",
            p.manifest.name,
            p.manifest.threescale.join(", ")
        )));
        return;
    }
    if let (Some(made), Some(running)) = (made_from, running)
        && !version::same_release(made, running)
    {
        checks.push(forced(format!(
            "the set was made from 3scale {made}, the namespace runs {running}"
        )));
        return;
    }
    checks.push(Check {
        name: "3scale version".into(),
        outcome: Outcome::Pass,
        detail: format!("the plugins are for 3scale {v}"),
    });
}

fn unfinished_check(
    state: &StateDir,
    set: &BackupSet,
    scope: Option<&(String, String)>,
) -> Result<Check> {
    let name = "unfinished runs".to_string();
    let key = match state.journal_key() {
        Ok(k) => k,
        Err(e) => {
            return Ok(Check {
                name,
                outcome: Outcome::Refuse,
                detail: e.to_string(),
            });
        }
    };
    let found = crate::state::runs::unfinished(
        &state.runs(),
        false,
        &key,
        scope.map(|(s, n)| (s.as_str(), n.as_str())),
    )
    .and_then(|mut u| {
        if let Some(dir) = set.local_dir() {
            u.extend(crate::state::runs::unfinished(
                &dir.join(crate::backup_set::RUNS),
                true,
                &key,
                None,
            )?);
        }
        Ok(u)
    });
    Ok(match found {
        Ok(u) if u.is_empty() => Check {
            name,
            outcome: Outcome::Pass,
            detail: "no earlier run left something to put back".into(),
        },
        Ok(u) => Check {
            name,
            outcome: Outcome::Refuse,
            detail: format!(
                "run {} did not finish putting back what it changed ({}); `host resume --run {}` first",
                u[0].run.id(),
                u[0].plugins.join(", "),
                u[0].run.id()
            ),
        },
        Err(e) => Check {
            name,
            outcome: Outcome::Refuse,
            detail: e.to_string(),
        },
    })
}

fn exec_check(plugins: &[PluginFile]) -> Check {
    let grant = plugins
        .iter()
        .filter(|p| p.manifest.has_hook(Hook::Restore))
        .find_map(|p| {
            p.manifest
                .capabilities
                .exec
                .first()
                .map(|g| (p.manifest.name.clone(), g.selector().to_string()))
        });
    Check {
        name: "exec protocol".into(),
        outcome: Outcome::AtRunTime,
        detail: match grant {
            Some((plugin, selector)) => format!(
                "an exec of `true` in a pod matching {selector} ({plugin}'s grant) checks that the API server can close a command's stdin (v5.channel.k8s.io); a server that cannot is refused"
            ),
            None => "no plugin restores through exec: not needed".into(),
        },
    }
}
