//! The order of a restore, from what each plugin says must come before it (`after`).
//! Plugins are grouped in waves: every plugin of a wave depends only on plugins of
//! earlier waves, so the plugins of one wave may run side by side. Within a wave (and so
//! in a sequential run) names decide, so the order is the same on every machine.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ManifestError;
use crate::hook::Hook;
use crate::manifest::{Manifest, RestoreWhen};

/// Whether an `after` that names a plugin not in the set is an error: in a full plugin
/// set it is a typo or a missing plugin; a run of one plugin has nothing to order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Refuse,
    Ignore,
}

/// Indices into `manifests`, wave by wave.
pub fn waves(manifests: &[&Manifest], missing: Missing) -> Result<Vec<Vec<usize>>, ManifestError> {
    let index: BTreeMap<&str, usize> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let mut needs: Vec<BTreeSet<usize>> = Vec::with_capacity(manifests.len());
    for m in manifests {
        let mut set = BTreeSet::new();
        for name in &m.after {
            match index.get(name.as_str()) {
                Some(&i) => {
                    set.insert(i);
                }
                None if missing == Missing::Ignore => {}
                None => {
                    return Err(ManifestError::Set(format!(
                        "plugin `{}` runs after `{name}`, which is not in the plugin set",
                        m.name
                    )));
                }
            }
        }
        needs.push(set);
    }
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    while done.len() < manifests.len() {
        let mut wave: Vec<usize> = (0..manifests.len())
            .filter(|i| !done.contains(i) && needs[*i].is_subset(&done))
            .collect();
        if wave.is_empty() {
            let mut stuck: Vec<&str> = (0..manifests.len())
                .filter(|i| !done.contains(i))
                .map(|i| manifests[i].name.as_str())
                .collect();
            stuck.sort();
            return Err(ManifestError::Set(format!(
                "the plugins' `after` lists form a cycle among {}",
                stuck.join(", ")
            )));
        }
        wave.sort_by_key(|i| manifests[*i].name.as_str());
        done.extend(wave.iter().copied());
        out.push(wave);
    }
    Ok(out)
}

/// One sequence: the waves one after another, once the `restore-when` rules hold.
pub fn sequence(manifests: &[&Manifest], missing: Missing) -> Result<Vec<usize>, ManifestError> {
    let seq: Vec<usize> = waves(manifests, missing)?.into_iter().flatten().collect();
    let in_order: Vec<&Manifest> = seq.iter().map(|&i| manifests[i]).collect();
    check_restore_when(&in_order)?;
    Ok(seq)
}

/// `after` orders every hook, and a `resumed` restore runs after the quiesced plugins are
/// back: so nothing that quiesces, and no restore made while they are held, may come
/// after a `resumed` one.
fn check_restore_when(in_order: &[&Manifest]) -> Result<(), ManifestError> {
    let ancestors = ancestors(in_order);
    for (i, m) in in_order.iter().enumerate() {
        let held = m.has_hook(Hook::Quiesce)
            || (m.has_hook(Hook::Restore) && m.restore_when == RestoreWhen::Quiesced);
        if !held {
            continue;
        }
        let Some(r) = ancestors[i]
            .iter()
            .map(|&a| in_order[a])
            .find(|a| a.has_hook(Hook::Restore) && a.restore_when == RestoreWhen::Resumed)
        else {
            continue;
        };
        let what = if m.has_hook(Hook::Quiesce) {
            "quiesces"
        } else {
            "restores while the quiesced plugins are held"
        };
        return Err(ManifestError::Set(format!(
            "plugin `{}` {what}, but comes after `{}`, whose restore waits until they are back \
             (restore-when = \"resumed\"){}",
            m.name,
            r.name,
            if m.has_hook(Hook::Quiesce) {
                ""
            } else {
                "; give it restore-when = \"resumed\" too"
            }
        )));
    }
    Ok(())
}

/// The stages of a restore, run one after another. A failure in `Held` or `Resumed`
/// starts no further step; the put-back then runs the resumes of whatever still notes a
/// change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The restores the quiescing plugins come after, the quiesces, and every restore
    /// made while they hold their workloads down (system-app at 0: the outage).
    Held,
    /// The resumes of the quiescing plugins (and of the plugins they come after), one
    /// after another: the outage ends here.
    Return,
    /// The restores declared `restore-when = "resumed"`.
    Resumed,
    /// Every other resume, one after another.
    Last,
}

/// One step of a restore, with the steps it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index into the plugins, as given to [`restore_plan`].
    pub plugin: usize,
    pub hook: Hook,
    pub stage: Stage,
    /// Indices of earlier steps of the same plan that must have ended first. Only the
    /// direct ones: a step already waited for through another is left out.
    pub waits_for: Vec<usize>,
}

/// Every step of a restore, from plugins already in [`sequence`] order, in the order a
/// restore takes them one at a time, each with what it waits for so that steps that do
/// not wait for each other can run side by side.
///
/// `after` orders every hook, so a plugin's quiesce runs after the restore of every
/// plugin it comes after (directly or not). With the 3scale sets this restores the
/// Secrets and ConfigMaps (and the APIManager) before system-app is scaled down: the
/// operator holds that scale-down until its system-app-pre Job completes, and the Job
/// reads the Secrets, so with lost or regenerated Secrets the manual's order (scale
/// down, then 9.5.1) waits for ever. Every other restore made while system-app is held
/// (a data load) waits for every quiesce; the quiescing plugins' resumes wait for all of
/// those; a `resumed` restore waits for those resumes; the other resumes come last. A
/// step also waits for its own plugin's earlier steps and for the steps of the plugins
/// it comes after in its stage. Nothing else orders them: every edge comes from an
/// `after` list or from the stages, so running the steps one at a time in list order (a
/// topological order of these edges) is the sequence.
pub fn restore_plan(in_order: &[&Manifest]) -> Vec<Step> {
    let ancestors = ancestors(in_order);
    let resumed = |m: &Manifest| m.restore_when == RestoreWhen::Resumed;
    let mut steps: Vec<(usize, Hook, Stage)> = Vec::new();
    let mut restored = BTreeSet::new();
    let quiescers: Vec<usize> = (0..in_order.len())
        .filter(|&q| in_order[q].has_hook(Hook::Quiesce))
        .collect();
    for &q in &quiescers {
        for (a, m) in in_order.iter().enumerate() {
            if ancestors[q].contains(&a) && m.has_hook(Hook::Restore) && restored.insert(a) {
                steps.push((a, Hook::Restore, Stage::Held));
            }
        }
        steps.push((q, Hook::Quiesce, Stage::Held));
    }
    for (a, m) in in_order.iter().enumerate() {
        if m.has_hook(Hook::Restore) && !resumed(m) && restored.insert(a) {
            steps.push((a, Hook::Restore, Stage::Held));
        }
    }
    let returns: BTreeSet<usize> = quiescers
        .iter()
        .flat_map(|&q| ancestors[q].iter().copied().chain([q]))
        .collect();
    let resumers = || (0..in_order.len()).filter(|&i| in_order[i].has_hook(Hook::Resume));
    for i in resumers().filter(|i| returns.contains(i)) {
        steps.push((i, Hook::Resume, Stage::Return));
    }
    for (a, m) in in_order.iter().enumerate() {
        if m.has_hook(Hook::Restore) && resumed(m) {
            steps.push((a, Hook::Restore, Stage::Resumed));
        }
    }
    for i in resumers().filter(|i| !returns.contains(i)) {
        steps.push((i, Hook::Resume, Stage::Last));
    }

    let quiesce_steps: Vec<usize> = (0..steps.len())
        .filter(|&s| steps[s].1 == Hook::Quiesce)
        .collect();
    let last_quiesce = quiesce_steps.last().copied();
    let mut direct: Vec<BTreeSet<usize>> = Vec::with_capacity(steps.len());
    for (j, &(pj, hj, sj)) in steps.iter().enumerate() {
        let mut needs: BTreeSet<usize> = match sj {
            // Within a stage of side-by-side steps: `after` and the plugin's own steps.
            Stage::Held | Stage::Resumed => (0..j)
                .filter(|&i| {
                    let (pi, _, si) = steps[i];
                    si == sj && (pi == pj || ancestors[pj].contains(&pi))
                })
                .collect(),
            // One after another.
            Stage::Return | Stage::Last => (0..j).filter(|&i| steps[i].2 == sj).collect(),
        };
        if sj == Stage::Held && hj == Hook::Restore && last_quiesce.is_some_and(|q| j > q) {
            needs.extend(quiesce_steps.iter().copied());
        }
        // Each later stage starts once every step of the ones before has ended.
        needs.extend((0..j).filter(|&i| steps[i].2 < sj));
        direct.push(needs);
    }
    // Everything each step waits for, directly or not (edges only point backwards).
    let mut closure: Vec<BTreeSet<usize>> = Vec::with_capacity(steps.len());
    for needs in &direct {
        let mut all = needs.clone();
        for &i in needs {
            all.extend(closure[i].iter().copied());
        }
        closure.push(all);
    }
    steps
        .iter()
        .zip(&direct)
        .map(|(&(plugin, hook, stage), needs)| Step {
            plugin,
            hook,
            stage,
            waits_for: needs
                .iter()
                .copied()
                .filter(|&i| !needs.iter().any(|&k| closure[k].contains(&i)))
                .collect(),
        })
        .collect()
}

/// For each plugin, every plugin it comes after, directly or not (`after` names
/// outside the list are ignored).
fn ancestors(in_order: &[&Manifest]) -> Vec<BTreeSet<usize>> {
    let index: BTreeMap<&str, usize> = in_order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    (0..in_order.len())
        .map(|start| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start];
            while let Some(i) = todo.pop() {
                for name in &in_order[i].after {
                    if let Some(&j) = index.get(name.as_str())
                        && seen.insert(j)
                    {
                        todo.push(j);
                    }
                }
            }
            seen
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, after: &[&str]) -> Manifest {
        let after: Vec<String> = after.iter().map(|a| format!("\"{a}\"")).collect();
        Manifest::parse(&format!(
            "name = \"{name}\"\nversion = \"1\"\nthreescale = [\"2.15\"]\nafter = [{}]\nhooks = [\"restore\"]\n",
            after.join(", ")
        ))
        .unwrap()
    }

    fn names(ms: &[Manifest], missing: Missing) -> Result<Vec<Vec<String>>, ManifestError> {
        let refs: Vec<&Manifest> = ms.iter().collect();
        Ok(waves(&refs, missing)?
            .into_iter()
            .map(|w| w.into_iter().map(|i| ms[i].name.clone()).collect())
            .collect())
    }

    #[test]
    fn waves_follow_after() {
        let ms = [
            m("restarts", &["backend-redis", "system-redis", "system-app"]),
            m("system-redis", &["backend-redis"]),
            m("backend-redis", &["apimanager"]),
            m("system-mysql", &["apimanager"]),
            m("apimanager", &["secrets", "configmaps"]),
            m("secrets", &[]),
            m("configmaps", &[]),
            m("system-app", &["apimanager"]),
        ];
        assert_eq!(
            names(&ms, Missing::Refuse).unwrap(),
            vec![
                vec!["configmaps", "secrets"],
                vec!["apimanager"],
                vec!["backend-redis", "system-app", "system-mysql"],
                vec!["system-redis"],
                vec!["restarts"],
            ]
        );
    }

    fn with_hooks(name: &str, after: &[&str], hooks: &str) -> Manifest {
        let after: Vec<String> = after.iter().map(|a| format!("\"{a}\"")).collect();
        Manifest::parse(&format!(
            "name = \"{name}\"\nversion = \"1\"\nthreescale = [\"2.15\"]\nafter = [{}]\nhooks = [{hooks}]\n",
            after.join(", ")
        ))
        .unwrap()
    }

    fn plain(ms: &[Manifest]) -> Vec<String> {
        let refs: Vec<&Manifest> = ms.iter().collect();
        restore_plan(&refs)
            .into_iter()
            .map(|s| format!("{} {}", ms[s.plugin].name, s.hook))
            .collect()
    }

    #[test]
    fn a_quiesce_comes_after_the_restores_of_what_its_plugin_comes_after() {
        let ms = [
            with_hooks("configmaps", &[], "\"restore\""),
            with_hooks("secrets", &[], "\"restore\""),
            with_hooks("apimanager", &["secrets", "configmaps"], "\"restore\""),
            with_hooks("system-app", &["apimanager"], "\"quiesce\", \"resume\""),
            with_hooks("system-mysql", &["apimanager"], "\"restore\""),
            with_hooks("restarts", &["system-app", "system-mysql"], "\"restore\""),
        ];
        assert_eq!(
            plain(&ms),
            [
                "configmaps restore",
                "secrets restore",
                "apimanager restore",
                "system-app quiesce",
                "system-mysql restore",
                "restarts restore",
                "system-app resume",
            ]
        );
    }

    /// A 3scale set's `after` lists, with its hooks: 2.15's as it was while each redis
    /// had a plugin of its own, the second after the first (2.14's still are).
    fn threescale() -> Vec<Manifest> {
        threescale_with(|_| "")
    }

    /// The same, with a line added to each manifest by name.
    fn threescale_with(more: impl Fn(&str) -> &'static str) -> Vec<Manifest> {
        let data = [
            "system-app",
            "system-mysql",
            "system-storage",
            "zync-database",
            "backend-redis",
            "system-redis",
        ];
        let ms = vec![
            with_hooks("secrets", &[], "\"restore\""),
            with_hooks("configmaps", &[], "\"restore\""),
            with_hooks("apimanager", &["secrets", "configmaps"], "\"restore\""),
            with_hooks("system-app", &["apimanager"], "\"quiesce\", \"resume\""),
            with_hooks("system-mysql", &["apimanager"], "\"restore\""),
            with_hooks("system-storage", &["apimanager"], "\"restore\""),
            with_hooks("zync-database", &["apimanager"], "\"restore\", \"resume\""),
            with_hooks("backend-redis", &["apimanager"], "\"restore\", \"resume\""),
            with_hooks(
                "system-redis",
                &["backend-redis"],
                "\"restore\", \"resume\"",
            ),
            with_hooks("restarts", &data, "\"restore\", \"resume\""),
        ];
        let ms: Vec<Manifest> = ms
            .into_iter()
            .map(|m| {
                let line = more(&m.name);
                if line.is_empty() {
                    return m;
                }
                // Before the manifest's tables, where a top-level key belongs.
                Manifest::parse(&format!("{line}{}", toml::to_string(&m).unwrap())).unwrap()
            })
            .collect();
        let refs: Vec<&Manifest> = ms.iter().collect();
        let seq = sequence(&refs, Missing::Refuse).unwrap();
        seq.into_iter().map(|i| ms[i].clone()).collect()
    }

    fn waits(ms: &[Manifest]) -> Vec<String> {
        let refs: Vec<&Manifest> = ms.iter().collect();
        let steps = restore_plan(&refs);
        let name = |s: &Step| format!("{} {}", ms[s.plugin].name, s.hook);
        steps
            .iter()
            .map(|s| {
                let w: Vec<String> = s.waits_for.iter().map(|&i| name(&steps[i])).collect();
                format!("{} <- [{}]", name(s), w.join(", "))
            })
            .collect()
    }

    #[test]
    fn the_data_loads_wait_only_for_the_quiesce_and_what_they_come_after() {
        assert_eq!(
            waits(&threescale()),
            [
                "configmaps restore <- []",
                "secrets restore <- []",
                "apimanager restore <- [configmaps restore, secrets restore]",
                "system-app quiesce <- [apimanager restore]",
                // Side by side, once system-app is down:
                "backend-redis restore <- [system-app quiesce]",
                "system-mysql restore <- [system-app quiesce]",
                "system-storage restore <- [system-app quiesce]",
                "zync-database restore <- [system-app quiesce]",
                // redis-config is shared: system-redis comes after backend-redis.
                "system-redis restore <- [backend-redis restore]",
                "restarts restore <- [system-mysql restore, system-storage restore, zync-database restore, system-redis restore]",
                // The quiesced plugin back once every step made while it was held has
                // ended; then the other resumes, one after another.
                "system-app resume <- [restarts restore]",
                "backend-redis resume <- [system-app resume]",
                "zync-database resume <- [backend-redis resume]",
                "system-redis resume <- [zync-database resume]",
                "restarts resume <- [system-redis resume]",
            ]
        );
    }

    /// zync's load holds zync down itself: declared `resumed`, it runs once system-app is
    /// back, and so does what comes after it (the restarts, whose resume resyncs zync).
    #[test]
    fn a_resumed_restore_runs_once_the_quiesced_plugin_is_back() {
        let ms = threescale_with(|name| match name {
            "zync-database" | "restarts" => "restore-when = \"resumed\"\n",
            _ => "",
        });
        assert_eq!(
            waits(&ms),
            [
                "configmaps restore <- []",
                "secrets restore <- []",
                "apimanager restore <- [configmaps restore, secrets restore]",
                "system-app quiesce <- [apimanager restore]",
                "backend-redis restore <- [system-app quiesce]",
                "system-mysql restore <- [system-app quiesce]",
                "system-storage restore <- [system-app quiesce]",
                "system-redis restore <- [backend-redis restore]",
                // The outage ends here, once the loads made while it lasts have ended.
                "system-app resume <- [system-mysql restore, system-storage restore, system-redis restore]",
                "zync-database restore <- [system-app resume]",
                "restarts restore <- [zync-database restore]",
                "backend-redis resume <- [restarts restore]",
                "zync-database resume <- [backend-redis resume]",
                "system-redis resume <- [zync-database resume]",
                "restarts resume <- [system-redis resume]",
            ]
        );
    }

    #[test]
    fn what_a_resumed_restore_comes_before_must_not_be_held() {
        let refuse = |ms: Vec<Manifest>| {
            let refs: Vec<&Manifest> = ms.iter().collect();
            sequence(&refs, Missing::Refuse).unwrap_err().to_string()
        };
        let resumed = |name: &str| {
            Manifest::parse(&format!(
                "name = \"{name}\"\nversion = \"1\"\nthreescale = [\"2.15\"]\nhooks = [\"restore\"]\nrestore-when = \"resumed\"\n"
            ))
            .unwrap()
        };
        // A load made while system-app is held, after one made once it is back.
        let e = refuse(vec![
            with_hooks("q", &[], "\"quiesce\", \"resume\""),
            resumed("zync"),
            with_hooks("restarts", &["zync"], "\"restore\""),
        ]);
        assert!(
            e.contains("plugin `restarts` restores while the quiesced plugins are held, but comes after `zync`")
                && e.contains("give it restore-when = \"resumed\" too"),
            "{e}"
        );
        // A quiesce after a restore that waits for the quiesce's own resume.
        let e = refuse(vec![
            resumed("zync"),
            with_hooks("q", &["zync"], "\"quiesce\", \"resume\""),
        ]);
        assert!(
            e.contains("plugin `q` quiesces, but comes after `zync`"),
            "{e}"
        );
        // A plugin that quiesces restores while it holds.
        let e = Manifest::parse(
            "name = \"q\"\nversion = \"1\"\nthreescale = [\"2.15\"]\nhooks = [\"quiesce\", \"restore\"]\nrestore-when = \"resumed\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("would restore after its own resume"), "{e}");
    }

    #[test]
    fn the_steps_are_the_sequence_and_every_wait_points_back() {
        let ms = threescale();
        let refs: Vec<&Manifest> = ms.iter().collect();
        let steps = restore_plan(&refs);
        for (j, s) in steps.iter().enumerate() {
            assert!(s.waits_for.iter().all(|&i| i < j), "{s:?} at {j}");
            // The stages follow each other.
            assert!(
                steps[..j].iter().all(|e| e.stage <= s.stage),
                "{s:?} at {j}"
            );
        }
    }

    #[test]
    fn without_a_quiesce_only_after_orders_the_restores() {
        let ms = [m("a", &[]), m("b", &[]), m("c", &["a"])];
        assert_eq!(
            waits(&ms),
            [
                "a restore <- []",
                "b restore <- []",
                "c restore <- [a restore]"
            ]
        );
    }

    #[test]
    fn a_plugin_with_both_hooks_restores_after_its_quiesce() {
        let ms = [
            with_hooks("a", &[], "\"restore\""),
            with_hooks("q", &["a"], "\"quiesce\", \"restore\""),
            with_hooks("b", &[], "\"restore\""),
        ];
        assert_eq!(
            waits(&ms),
            [
                "a restore <- []",
                "q quiesce <- [a restore]",
                "q restore <- [q quiesce]",
                "b restore <- [q quiesce]",
            ]
        );
    }

    #[test]
    fn cycles_and_missing_plugins_are_refused() {
        let cycle = [m("a", &["b"]), m("b", &["a"]), m("c", &[])];
        let e = names(&cycle, Missing::Refuse).unwrap_err().to_string();
        assert!(e.contains("cycle among a, b"), "{e}");
        let lonely = [m("zync-database", &["apimanager"])];
        let e = names(&lonely, Missing::Refuse).unwrap_err().to_string();
        assert!(
            e.contains("`apimanager`, which is not in the plugin set"),
            "{e}"
        );
        assert_eq!(
            names(&lonely, Missing::Ignore).unwrap(),
            vec![vec!["zync-database"]]
        );
    }
}
