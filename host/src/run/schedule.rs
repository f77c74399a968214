//! Runs a restore's steps side by side where their order allows it: a step starts once
//! every step it waits for has finished well, at most `parallel` at a time, the
//! lowest-numbered ready step first. Every wait points to an earlier step, so one at a
//! time is the steps in list order, exactly as a sequential run.
//!
//! After a step fails, no further step starts, and the steps already running are let
//! finish rather than cut: each then ends where its own plugin stops, with its journal
//! notes as that plugin left them, instead of in the middle of a load that another
//! plugin's failure has nothing to do with. A signal cuts them all at once, as it cut the
//! one running step of a sequential run; what they changed is in their journals, which
//! are written before each change.

use std::collections::BTreeMap;
use std::future::Future;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// What became of one step.
#[derive(Debug, PartialEq, Eq)]
pub enum Ran<T> {
    /// It ran to its end, well or not (`T` says which).
    Finished(T),
    /// Cut by this signal while it ran.
    Interrupted(&'static str),
    /// Its task ended without a result (it panicked).
    Lost(String),
    /// Never started: a step failed, or a signal came, first.
    NotStarted,
}

/// Runs the steps; `waits_for[j]` lists the steps (all before `j`) that step `j` waits
/// for. `start(j)` is called when step `j` starts (so what it records happens in start
/// order) and gives the work, which runs on its own task; `failed` says whether a
/// finished step failed; `running` hears the steps running whenever one starts beside
/// others.
pub async fn run<T, Fut>(
    waits_for: &[Vec<usize>],
    parallel: usize,
    mut start: impl FnMut(usize) -> Fut,
    failed: impl Fn(&T) -> bool,
    mut running: impl FnMut(&[usize]),
    interrupt: impl Future<Output = &'static str>,
) -> Vec<Ran<T>>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let n = waits_for.len();
    let parallel = parallel.max(1);
    let mut out: Vec<Ran<T>> = (0..n).map(|_| Ran::NotStarted).collect();
    let mut started = vec![false; n];
    let mut ok = vec![false; n];
    let mut stopping = false;
    let mut in_flight = BTreeMap::new();
    let mut tasks = FuturesUnordered::new();
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        if !stopping {
            let before = in_flight.len();
            while in_flight.len() < parallel {
                let Some(j) = (0..n).find(|&j| !started[j] && waits_for[j].iter().all(|&i| ok[i]))
                else {
                    break;
                };
                started[j] = true;
                let task = tokio::spawn(start(j));
                in_flight.insert(j, task.abort_handle());
                tasks.push(async move { (j, task.await) });
            }
            if in_flight.len() > before && in_flight.len() > 1 {
                running(&in_flight.keys().copied().collect::<Vec<_>>());
            }
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            Some((j, result)) = tasks.next() => {
                in_flight.remove(&j);
                out[j] = match result {
                    Ok(t) => {
                        if failed(&t) {
                            stopping = true;
                        } else {
                            ok[j] = true;
                        }
                        Ran::Finished(t)
                    }
                    Err(e) => {
                        stopping = true;
                        Ran::Lost(e.to_string())
                    }
                };
            }
            signal = &mut interrupt => {
                for task in in_flight.values() {
                    task.abort();
                }
                // Each cut task is dropped before its join resolves: once this loop
                // ends, none of them acts on the cluster any more, and the put-back
                // cannot race them.
                while let Some((j, result)) = tasks.next().await {
                    out[j] = match result {
                        Ok(t) => Ran::Finished(t),
                        Err(e) if e.is_cancelled() => Ran::Interrupted(signal),
                        Err(e) => Ran::Lost(e.to_string()),
                    };
                }
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A step's work for the tests: it logs its start and end, sleeps, and fails if told.
    fn step(
        log: &Arc<Mutex<Vec<String>>>,
        j: usize,
        ms: u64,
        fail: bool,
    ) -> impl Future<Output = bool> + Send + 'static {
        let log = log.clone();
        log.lock().unwrap().push(format!("start {j}"));
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.lock().unwrap().push(format!("end {j}"));
            !fail
        }
    }

    fn never() -> impl Future<Output = &'static str> {
        std::future::pending()
    }

    /// The 3scale shape: 0 secrets, 1 quiesce, 2-5 four loads, 6 after 2, 7 after all.
    fn shape() -> Vec<Vec<usize>> {
        vec![
            vec![],
            vec![0],
            vec![1],
            vec![1],
            vec![1],
            vec![1],
            vec![2],
            vec![3, 4, 5, 6],
        ]
    }

    const TIMES: [u64; 8] = [10, 10, 30, 200, 60, 60, 30, 10];

    #[tokio::test(start_paused = true)]
    async fn one_at_a_time_is_the_list_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let ran = run(
            &shape(),
            1,
            |j| step(&log, j, TIMES[j], false),
            |ok| !ok,
            |now| panic!("nothing runs beside another: {now:?}"),
            never(),
        )
        .await;
        assert!(ran.iter().all(|r| *r == Ran::Finished(true)));
        let expected: Vec<String> = (0..8)
            .flat_map(|j| [format!("start {j}"), format!("end {j}")])
            .collect();
        assert_eq!(*log.lock().unwrap(), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn independent_steps_overlap_within_the_bound() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ran = run(
            &shape(),
            3,
            |j| step(&log, j, TIMES[j], false),
            |ok| !ok,
            |now| seen.lock().unwrap().push(now.to_vec()),
            never(),
        )
        .await;
        assert!(ran.iter().all(|r| *r == Ran::Finished(true)));
        let log = log.lock().unwrap().clone();
        let at = |e: &str| log.iter().position(|l| l == e).unwrap();
        // Three loads at once, the fourth when one ends; 6 once 2 has ended and a slot is
        // free, while the long load 3 still runs; 7 last.
        assert_eq!(seen.lock().unwrap()[0], vec![2, 3, 4]);
        assert!(at("start 5") > at("end 2") && at("start 5") < at("end 3"));
        assert!(at("start 6") > at("end 2") && at("start 6") < at("end 3"));
        assert!(at("start 7") > at("end 3"));
        for (j, waits) in shape().iter().enumerate() {
            for i in waits {
                assert!(
                    at(&format!("end {i}")) < at(&format!("start {j}")),
                    "{j} after {i}"
                );
            }
        }
        let mut running = 0;
        for l in &log {
            running += if l.starts_with("start") { 1 } else { -1 };
            assert!(running <= 3, "{log:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_nothing_starts_and_the_running_steps_finish() {
        let log = Arc::new(Mutex::new(Vec::new()));
        // Load 4 fails quickly while loads 2 and 3 run.
        let ran = run(
            &shape(),
            3,
            |j| step(&log, j, if j == 4 { 5 } else { TIMES[j] }, j == 4),
            |ok| !ok,
            |_| {},
            never(),
        )
        .await;
        assert_eq!(ran[4], Ran::Finished(false));
        // 2 and 3 were running: they finished, well.
        assert_eq!(ran[2], Ran::Finished(true));
        assert_eq!(ran[3], Ran::Finished(true));
        // 5 waited for a free slot, 6 for 2, 7 for everything: none started.
        for j in [5, 6, 7] {
            assert_eq!(ran[j], Ran::NotStarted, "{j}");
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log.last().map(String::as_str), Some("end 3"), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_cuts_every_running_step_and_starts_no_more() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let signal = async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            "SIGTERM"
        };
        let ran = run(
            &shape(),
            4,
            |j| step(&log, j, TIMES[j], false),
            |ok| !ok,
            |_| {},
            signal,
        )
        .await;
        assert_eq!(ran[0], Ran::Finished(true));
        assert_eq!(ran[1], Ran::Finished(true));
        for j in [2, 3, 4, 5] {
            assert_eq!(ran[j], Ran::Interrupted("SIGTERM"), "{j}");
        }
        assert_eq!(ran[6], Ran::NotStarted);
        assert_eq!(ran[7], Ran::NotStarted);
        // Cut means dropped: no cut step got to its end.
        let log = log.lock().unwrap().clone();
        assert!(!log.iter().any(|l| l == "end 2" || l == "end 3"), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_step_is_lost_and_stops_the_rest() {
        let ran = run(
            &[vec![], vec![], vec![0, 1]],
            2,
            |j| async move {
                assert!(j != 0, "step 0 breaks");
                tokio::time::sleep(Duration::from_millis(5)).await;
                true
            },
            |ok| !ok,
            |_| {},
            never(),
        )
        .await;
        assert!(matches!(ran[0], Ran::Lost(_)), "{ran:?}");
        assert_eq!(ran[1], Ran::Finished(true));
        assert_eq!(ran[2], Ran::NotStarted);
    }
}
