//! Which sets `host prune` deletes. Good sets are kept by `--keep N` (the N newest) and
//! `--keep-within D` (those started within D), either rule keeping a set; the newest good
//! set, and the one `latest` names, are never deleted whatever the rules say, so a
//! repository that had a restorable set still has one. A failed or incomplete set is
//! deleted once a newer good set exists (it cannot be restored; it was kept to read why
//! its backup failed); a running backup's set is never touched.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{SetEntry, SetState};

#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub keep_last: Option<usize>,
    pub keep_within: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub name: String,
    pub delete: bool,
    pub why: String,
}

/// One decision per set, in the order given (oldest first).
pub fn decide(sets: &[SetEntry], policy: Policy, now: DateTime<Utc>) -> Vec<Decision> {
    let newest_good = sets.iter().rposition(|s| s.state == SetState::Good);
    let mut good_seen = 0;
    let mut rank = vec![usize::MAX; sets.len()];
    for (i, s) in sets.iter().enumerate().rev() {
        if s.state == SetState::Good {
            rank[i] = good_seen;
            good_seen += 1;
        }
    }
    sets.iter()
        .enumerate()
        .map(|(i, s)| {
            let (delete, why) = match s.state {
                SetState::Running => (false, "a backup is writing it".to_string()),
                SetState::Failed | SetState::Incomplete => match newest_good {
                    Some(g) if g > i => (
                        true,
                        format!(
                            "{}; a newer good set exists",
                            if s.state == SetState::Failed {
                                "its backup failed"
                            } else {
                                "its backup never finished"
                            }
                        ),
                    ),
                    _ => (
                        false,
                        "no newer good set: kept to read why its backup failed".to_string(),
                    ),
                },
                SetState::Good => {
                    let age = (now - s.time).to_std().unwrap_or(Duration::ZERO);
                    if Some(i) == newest_good || s.latest {
                        (false, "the last good set: never pruned".to_string())
                    } else if policy.keep_last.is_some_and(|n| rank[i] < n) {
                        (
                            false,
                            format!(
                                "one of the {} newest good sets",
                                policy.keep_last.unwrap_or(0)
                            ),
                        )
                    } else if let Some(within) = policy.keep_within.filter(|w| age <= *w) {
                        (
                            false,
                            format!("started within {}", crate::units::duration(within)),
                        )
                    } else {
                        (
                            true,
                            "older than what --keep/--keep-within keep".to_string(),
                        )
                    }
                }
            };
            Decision {
                name: s.name.clone(),
                delete,
                why,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(day: u32, state: SetState) -> SetEntry {
        let time = chrono::NaiveDate::from_ymd_opt(2026, 1, day)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        SetEntry {
            name: format!("202601{day:02}T000000Z-backup-000000"),
            state,
            location: crate::backup_set::SetLocation::Dir("/nowhere".into()),
            latest: false,
            time,
            manifest: None,
            bytes: 0,
            sealed: false,
        }
    }

    fn deleted(sets: &[SetEntry], policy: Policy, now_day: u32) -> Vec<u32> {
        let now = set(now_day, SetState::Good).time;
        decide(sets, policy, now)
            .iter()
            .zip(sets)
            .filter(|(d, _)| d.delete)
            .map(|(_, s)| s.name[6..8].parse().unwrap())
            .collect()
    }

    #[test]
    fn the_last_good_set_is_never_pruned() {
        use SetState::*;
        let sets = vec![
            set(1, Good),
            set(2, Failed),
            set(3, Good),
            set(4, Good),
            set(5, Failed),
            set(6, Running),
        ];
        let keep = |n| Policy {
            keep_last: Some(n),
            keep_within: None,
        };
        assert_eq!(deleted(&sets, keep(0), 10), [1, 2, 3]);
        assert_eq!(deleted(&sets, keep(2), 10), [1, 2]);
        let within = |d: u64| Policy {
            keep_last: None,
            keep_within: Some(Duration::from_secs(d * 86400)),
        };
        assert_eq!(deleted(&sets, within(0), 10), [1, 2, 3]);
        assert_eq!(deleted(&sets, within(7), 10), [1, 2]);
        assert_eq!(deleted(&sets, within(9), 10), [2]);
        // Either rule keeps a set.
        let both = Policy {
            keep_last: Some(1),
            keep_within: Some(Duration::from_secs(7 * 86400)),
        };
        assert_eq!(deleted(&sets, both, 10), [1, 2]);
        // With no good set at all, nothing is deleted.
        assert!(deleted(&[set(1, Failed), set(2, Incomplete)], keep(0), 10).is_empty());
    }

    #[test]
    fn the_set_latest_names_is_kept_too() {
        let mut sets = vec![set(1, SetState::Good), set(2, SetState::Good)];
        sets[0].latest = true;
        let policy = Policy {
            keep_last: Some(0),
            keep_within: None,
        };
        assert!(deleted(&sets, policy, 10).is_empty());
    }
}
