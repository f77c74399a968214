//! The order of a restore, from what each plugin says must come before it (`after`).
//! Plugins are grouped in waves: every plugin of a wave depends only on plugins of
//! earlier waves, so the plugins of one wave may run side by side. Within a wave (and so
//! in a sequential run) names decide, so the order is the same on every machine.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ManifestError;
use crate::hook::Hook;
use crate::manifest::Manifest;

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

/// One sequence: the waves one after another.
pub fn sequence(manifests: &[&Manifest], missing: Missing) -> Result<Vec<usize>, ManifestError> {
    Ok(waves(manifests, missing)?.into_iter().flatten().collect())
}

/// The quiesce and restore steps of a restore, from plugins already in [`sequence`]
/// order: `after` orders every hook, so a plugin's quiesce runs after the restore of
/// every plugin it comes after (directly or not), and every other restore runs after
/// all quiesces. With the 3scale sets this restores the Secrets and ConfigMaps (and
/// the APIManager) before system-app is scaled down: the operator holds that scale-down
/// until its system-app-pre Job completes, and the Job reads the Secrets, so with lost
/// or regenerated Secrets the manual's order (scale down, then 9.5.1) waits for ever.
pub fn quiesce_then_restore(in_order: &[&Manifest]) -> Vec<(usize, Hook)> {
    let ancestors = ancestors(in_order);
    let mut steps = Vec::new();
    let mut restored = BTreeSet::new();
    for (q, m) in in_order.iter().enumerate() {
        if !m.has_hook(Hook::Quiesce) {
            continue;
        }
        let before = &ancestors[q];
        for (a, m) in in_order.iter().enumerate() {
            if before.contains(&a) && m.has_hook(Hook::Restore) && restored.insert(a) {
                steps.push((a, Hook::Restore));
            }
        }
        steps.push((q, Hook::Quiesce));
    }
    for (a, m) in in_order.iter().enumerate() {
        if m.has_hook(Hook::Restore) && restored.insert(a) {
            steps.push((a, Hook::Restore));
        }
    }
    steps
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

/// One quiesce or restore step of a restore, with the steps it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index into the plugins, as in [`quiesce_then_restore`].
    pub plugin: usize,
    pub hook: Hook,
    /// Indices of earlier steps of the same list that must have finished first. Only
    /// the direct ones: a step already waited for through another is left out.
    pub waits_for: Vec<usize>,
}

/// [`quiesce_then_restore`]'s steps, each with what it waits for, so that steps that do
/// not wait for each other can run side by side. A step waits for the steps of the
/// plugins its plugin comes after (directly or not) and for its own plugin's earlier
/// step; a restore that [`quiesce_then_restore`] puts after every quiesce (a data load,
/// made while system-app is down) waits for every quiesce. Nothing else orders them:
/// every edge comes from an `after` list or from the quiesce rule, so running the steps
/// one at a time in list order (a topological order of these edges) is the sequence.
pub fn restore_steps(in_order: &[&Manifest]) -> Vec<Step> {
    let steps = quiesce_then_restore(in_order);
    let ancestors = ancestors(in_order);
    // The restores before the last quiesce are those some quiesce comes after; the rest
    // are the loads made once everything is quiesced.
    let last_quiesce = steps.iter().rposition(|(_, h)| *h == Hook::Quiesce);
    let quiesces: Vec<usize> = (0..steps.len())
        .filter(|s| steps[*s].1 == Hook::Quiesce)
        .collect();
    let mut direct: Vec<BTreeSet<usize>> = Vec::with_capacity(steps.len());
    for (j, &(pj, hj)) in steps.iter().enumerate() {
        let mut needs: BTreeSet<usize> = (0..j)
            .filter(|&i| {
                let pi = steps[i].0;
                pi == pj || ancestors[pj].contains(&pi)
            })
            .collect();
        if hj == Hook::Restore && last_quiesce.is_some_and(|q| j > q) {
            needs.extend(quiesces.iter().copied());
        }
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
        .map(|(&(plugin, hook), needs)| Step {
            plugin,
            hook,
            waits_for: needs
                .iter()
                .copied()
                .filter(|&i| !needs.iter().any(|&k| closure[k].contains(&i)))
                .collect(),
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
        let refs: Vec<&Manifest> = ms.iter().collect();
        let steps: Vec<String> = quiesce_then_restore(&refs)
            .into_iter()
            .map(|(i, h)| format!("{} {h}", ms[i].name))
            .collect();
        assert_eq!(
            steps,
            [
                "configmaps restore",
                "secrets restore",
                "apimanager restore",
                "system-app quiesce",
                "system-mysql restore",
                "restarts restore",
            ]
        );
    }

    /// A 3scale set's `after` lists, with its hooks: 2.15's as it was while each redis
    /// had a plugin of its own, the second after the first (2.14's still are).
    fn threescale() -> Vec<Manifest> {
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
        let refs: Vec<&Manifest> = ms.iter().collect();
        let seq = sequence(&refs, Missing::Refuse).unwrap();
        seq.into_iter().map(|i| ms[i].clone()).collect()
    }

    fn waits(ms: &[Manifest]) -> Vec<String> {
        let refs: Vec<&Manifest> = ms.iter().collect();
        let steps = restore_steps(&refs);
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
            ]
        );
    }

    #[test]
    fn the_steps_are_the_sequence_and_every_wait_points_back() {
        let ms = threescale();
        let refs: Vec<&Manifest> = ms.iter().collect();
        let steps = restore_steps(&refs);
        let plain: Vec<(usize, Hook)> = steps.iter().map(|s| (s.plugin, s.hook)).collect();
        assert_eq!(plain, quiesce_then_restore(&refs));
        for (j, s) in steps.iter().enumerate() {
            assert!(s.waits_for.iter().all(|&i| i < j), "{s:?} at {j}");
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
