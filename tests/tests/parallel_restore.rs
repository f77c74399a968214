//! A restore with `--parallel`: the data loads run side by side while system-app is down,
//! in the order the plugins' `after` lists allow; zync's load and the restarts once
//! system-app is back (`restore-when = "resumed"`), out of the outage; and a load that
//! fails beside others stops the restore and everything is put back, as in a sequential
//! run. The overlap is read from the run's step log (the order of its lines), never from
//! wall-clock times.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Sim, assert_same, host_bin, plugins_dir, shared, tamper};
use serde_json::Value;

/// The loads that wait only for system-app's quiesce in the 3scale 2.15 set: the outage.
const LOADS: [&str; 3] = [
    "redis restore",
    "system-mysql restore",
    "system-storage restore",
];

/// The restores made once system-app is back, in this order.
const AFTER: [&str; 2] = ["zync-database restore", "restarts restore"];

/// One seeded cluster and one backup of it, shared by the tests, which take turns.
fn setup() -> (
    &'static Sim,
    &'static Path,
    std::sync::MutexGuard<'static, ()>,
) {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let sim = shared(Some("8MiB"));
    let (set, _) = backup(sim);
    sim.settle_system_app();
    (sim, set.path(), turn)
}

static TURN: Mutex<()> = Mutex::new(());

/// The shared set, and the cluster's fingerprint when it was made: what a full restore
/// must bring back, whatever the tests before left (a cut restore leaves a half-written
/// storage tree).
fn backup(sim: &Sim) -> &'static (tempfile::TempDir, Value) {
    static SET: OnceLock<(tempfile::TempDir, Value)> = OnceLock::new();
    SET.get_or_init(|| {
        let set = tempfile::tempdir().unwrap();
        let fingerprint = sim.fingerprint();
        sim.host_ok(&[
            "backup",
            "--plugins",
            s(&plugins_dir()),
            "--backup-dir",
            s(set.path()),
        ]);
        (set, fingerprint)
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn restore(sim: &Sim, set: &Path, more: &[&str]) -> common::Run {
    let plugins = plugins_dir();
    let mut args = vec!["restore", "--plugins", s(&plugins), "--backup-dir", s(set)];
    args.extend_from_slice(more);
    sim.host(&args)
}

/// The step log of the newest run on `set`, as (step, event) in the order written.
fn step_log(sim: &Sim, set: &Path) -> Vec<(String, String)> {
    let run: PathBuf = sim.runs_of(set).pop().expect("the restore has a run");
    std::fs::read_to_string(run.join("steps.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            (
                format!(
                    "{} {}",
                    e["plugin"].as_str().unwrap(),
                    e["hook"].as_str().unwrap()
                ),
                e["event"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Where in the log `step` has `event` (`ended`: ok or failed).
fn at(log: &[(String, String)], step: &str, event: &str) -> Option<usize> {
    log.iter().position(|(s, e)| {
        s == step && (e == event || (event == "ended" && (e == "ok" || e == "failed")))
    })
}

fn must(log: &[(String, String)], step: &str, event: &str) -> usize {
    at(log, step, event).unwrap_or_else(|| panic!("no `{step}` {event} in {log:#?}"))
}

/// A copy of `set` whose COMPONENT-backup.gz ends with a statement both MySQL and psql
/// refuse, re-hashed so that the set verifies: the load fails at its end.
fn with_a_broken_dump(set: &Path, component: &str) -> tempfile::TempDir {
    let copy = tamper::copy_set(set);
    let file = format!("{component}-backup.gz");
    tamper::edit_gzip(&copy.path().join(&file), |sql| {
        format!("{sql}\nCREATE TABLE broken (;\n")
    });
    tamper::rehash(copy.path(), component, &file);
    copy
}

fn replicas(sim: &Sim, deployment: &str) -> Value {
    sim.json(&["get", "deployment", deployment, "-o", "json"])["spec"]["replicas"].clone()
}

fn journals_empty(sim: &Sim, set: &Path) {
    for run in sim.runs_of(set) {
        let Ok(journals) = std::fs::read_dir(run.join("journal")) else {
            continue;
        };
        for journal in journals {
            let journal: Value =
                serde_json::from_slice(&std::fs::read(journal.unwrap().path()).unwrap()).unwrap();
            assert_eq!(journal["notes"], serde_json::json!({}), "{journal}");
        }
    }
}

/// Damaged, then restored with four at a time: every component is back; the three loads
/// ran together once system-app was down (each started before any of them ended), and
/// system-app came back as soon as they had ended, with a pod of its scale-up and no
/// second restart; zync's load, then the restarts, ran once it was back.
#[test]
fn the_data_loads_run_side_by_side_while_system_app_is_down() {
    let (sim, set, _turn) = setup();
    let before = backup(sim).1.clone();
    let spec = sim.apimanager_spec();
    sim.sim(&["damage"]);
    let pod_before = sim.pod("system-app");
    let restarted = || {
        sim.json(&["get", "deployment", "system-app", "-o", "json"])["spec"]["template"]["metadata"]
            ["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .clone()
    };
    let restarted_before = restarted();

    let run = restore(sim, set, &["--parallel", "4"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    assert_same(&before, &sim.fingerprint());
    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!(replicas(sim, "system-app"), 1);
    // system-app runs a pod started by the restore's scale-up from none, which is the
    // manual's "latest version"; it was not restarted a second time (9.5.7's restart).
    assert_ne!(sim.pod("system-app"), pod_before);
    assert_eq!(restarted(), restarted_before, "system-app was restarted");
    assert!(
        run.stderr
            .contains("no rollout restart deployment/system-app: every system-app pod started after the restore"),
        "{}",
        run.stderr
    );

    let log = step_log(sim, set);
    let quiesced = must(&log, "system-app quiesce", "ok");
    let first_end = LOADS.iter().map(|l| must(&log, l, "ended")).min().unwrap();
    for load in LOADS {
        let started = must(&log, load, "started");
        assert!(
            started > quiesced,
            "{load} started before system-app was down: {log:#?}"
        );
        assert!(
            started < first_end,
            "{load} did not run beside the other loads: {log:#?}"
        );
        assert!(
            must(&log, load, "ok") < must(&log, "system-app resume", "started"),
            "{load} ended after system-app came back: {log:#?}"
        );
    }
    // The portals were back (system-app's resume waits for its ready pod) before zync's
    // load began, and the restarts came after it.
    let back = must(&log, "system-app resume", "ok");
    assert!(must(&log, AFTER[0], "started") > back, "{log:#?}");
    assert!(
        must(&log, AFTER[1], "started") > must(&log, AFTER[0], "ok"),
        "{log:#?}"
    );
    // Progress names the steps running together.
    assert!(
        run.stderr
            .contains(&format!("running: {}", LOADS.join(", "))),
        "{}",
        run.stderr
    );
}

/// `--parallel 1` is the sequential restore: no step starts before the one before it
/// has ended, in the order `--plan` prints.
#[test]
fn parallel_1_runs_one_step_at_a_time_in_the_plans_order() {
    let (sim, set, _turn) = setup();
    let plan = restore(sim, set, &["--plan", "-o", "json"]);
    assert_eq!(plan.code, Some(0), "{}", plan.all());
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let planned: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["plugin"].as_str().unwrap(),
                s["hook"].as_str().unwrap()
            )
        })
        .collect();
    // The plan says which steps wait for which: the loads wait for the quiesce only,
    // zync's load for system-app's return only.
    let number = |step: &str| planned.iter().position(|s| s == step).unwrap() + 1;
    let waits = |step: &str| plan["steps"][number(step) - 1]["waitsFor"].clone();
    for load in LOADS {
        assert_eq!(
            waits(load),
            serde_json::json!([number("system-app quiesce")]),
            "{load}"
        );
    }
    assert_eq!(
        waits(AFTER[0]),
        serde_json::json!([number("system-app resume")])
    );

    let run = restore(sim, set, &["--parallel", "1"]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(!run.stderr.contains("running: "), "{}", run.stderr);
    let log = step_log(sim, set);
    let mut expected = Vec::new();
    for step in &planned {
        expected.push((step.clone(), "started".to_string()));
        expected.push((step.clone(), "ok".to_string()));
    }
    assert_eq!(log, expected);
}

/// MySQL's dump ends with a statement MySQL refuses: the system-mysql load fails while the
/// other loads run beside it. No further step starts, the ones running end on their own,
/// and everything is put back: system-app's spec and replicas, redis-config; zync never
/// scaled down; exit 1, the report naming system-mysql.
#[test]
fn a_load_that_fails_beside_others_stops_the_restore_and_everything_is_put_back() {
    let (sim, original, _turn) = setup();
    let set = with_a_broken_dump(original, "system-mysql");

    let spec = sim.apimanager_spec();
    let conf = sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"].clone();
    let zync = (replicas(sim, "zync"), replicas(sim, "zync-que"));
    let run = restore(sim, set.path(), &["--parallel", "4", "-o", "json"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["result"], "failed", "{report:#}");
    assert!(
        report["failure"]
            .as_str()
            .unwrap()
            .starts_with("system-mysql restore: "),
        "{report:#}"
    );

    // Put back: what system-app had changed (redis ended its own window before the
    // failure, or put redis-config back as it failed); zync was never touched.
    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!((replicas(sim, "zync"), replicas(sim, "zync-que")), zync);
    assert_eq!(replicas(sim, "system-app"), 1);
    sim.pod("system-app");
    assert_eq!(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"],
        conf
    );
    journals_empty(sim, set.path());

    // The failure came while other loads ran (they had all started), and each of them
    // ended on its own; whatever had not started never did: zync's load and the
    // restarts, which come once system-app is back.
    let log = step_log(sim, set.path());
    let failed = must(&log, "system-mysql restore", "failed");
    let first_end = LOADS.iter().map(|l| must(&log, l, "ended")).min().unwrap();
    for load in LOADS {
        // Side by side: every load started before any of them ended.
        assert!(must(&log, load, "started") < first_end, "{load}: {log:#?}");
        assert!(must(&log, load, "started") < failed, "{load}: {log:#?}");
        must(&log, load, "ended");
    }
    let steps = report["steps"].as_array().unwrap();
    let result = |step: &str| {
        steps
            .iter()
            .find(|s| {
                format!(
                    "{} {}",
                    s["plugin"].as_str().unwrap(),
                    s["hook"].as_str().unwrap()
                ) == step
            })
            .unwrap_or_else(|| panic!("no {step} in {report:#}"))["result"]
            .clone()
    };
    for step in AFTER {
        assert_eq!(result(step), "skipped", "{report:#}");
        assert_eq!(at(&log, step, "started"), None, "{log:#?}");
    }
    for s in steps.iter().filter(|s| s["hook"] != "resume") {
        let step = format!(
            "{} {}",
            s["plugin"].as_str().unwrap(),
            s["hook"].as_str().unwrap()
        );
        match s["result"].as_str().unwrap() {
            "skipped" => assert_eq!(at(&log, &step, "started"), None, "{step}"),
            _ => {
                must(&log, &step, "ended");
            }
        }
    }
    // The put-back ran after every step had ended.
    let last_end = log
        .iter()
        .rposition(|(s, e)| !s.ends_with(" resume") && e != "started")
        .unwrap();
    assert!(
        must(&log, "system-app resume", "started") > last_end,
        "{log:#?}"
    );
    must(&log, "system-app resume", "ok");
}

/// zync's dump is one MySQL would take but psql refuses: zync's load, made once
/// system-app is back, fails. The outage's loads are in and system-app is up; zync and
/// zync-que are scaled back as recorded, the restarts never run, and the run fails
/// (exit 1) naming zync-database, never "restore complete".
#[test]
fn a_load_after_the_outage_that_fails_leaves_system_app_up_and_zync_put_back() {
    let (sim, original, _turn) = setup();
    let set = with_a_broken_dump(original, "zync-database");
    let spec = sim.apimanager_spec();
    let zync = (replicas(sim, "zync"), replicas(sim, "zync-que"));

    let run = restore(sim, set.path(), &["--parallel", "4"]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stdout
            .contains("restore FAILED at zync-database restore: "),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("restore complete"), "{}", run.stdout);
    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!((replicas(sim, "zync"), replicas(sim, "zync-que")), zync);
    assert_eq!(replicas(sim, "system-app"), 1);
    sim.pod("system-app");
    journals_empty(sim, set.path());

    let log = step_log(sim, set.path());
    let back = must(&log, "system-app resume", "ok");
    for load in LOADS {
        assert!(must(&log, load, "ok") < back, "{load}: {log:#?}");
    }
    assert!(
        must(&log, "zync-database restore", "failed") > back,
        "{log:#?}"
    );
    assert_eq!(at(&log, "restarts restore", "started"), None, "{log:#?}");
    assert!(
        must(&log, "zync-database resume", "ok") > must(&log, "zync-database restore", "failed"),
        "{log:#?}"
    );
}

/// SIGTERM while the loads run side by side: every running load is stopped at once, and
/// what each had noted in its journal before it was cut (the redis-config, system-app's
/// recorded spec) is put back: nothing is left scaled down, and the report says the run
/// was interrupted (exit 1).
#[test]
fn a_signal_stops_every_running_load_and_their_notes_drive_the_put_back() {
    let (sim, set, _turn) = setup();
    let spec = sim.apimanager_spec();
    let conf = sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"].clone();
    let zync = (replicas(sim, "zync"), replicas(sim, "zync-que"));

    let mut cmd = Command::new(host_bin());
    cmd.args([
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(set),
        "--parallel",
        "4",
        "-o",
        "json",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    sim.host_env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        eprintln!("restore: {line}");
        if line.starts_with("running: ") {
            break;
        }
    }
    let rest =
        std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>().join("\n"));
    // Cut once redis has noted redis-config in its journal (before it edits it), so
    // there is something a cut step must have left noted.
    let journal = sim.runs_of(set).pop().unwrap().join("journal/redis.json");
    let started = Instant::now();
    loop {
        let notes = std::fs::read(&journal)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|j| j["notes"].as_object().is_some_and(|n| !n.is_empty()));
        if notes == Some(true) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "redis never noted anything in {}",
            journal.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let status = child.wait().unwrap();
    let stderr = rest.join().unwrap();
    eprintln!("{stderr}\n{stdout}");
    assert_eq!(status.code(), Some(1), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        report["failure"]
            .as_str()
            .unwrap()
            .contains("interrupted by SIGTERM"),
        "{report:#}"
    );
    let cut: Vec<String> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["error"]
                .as_str()
                .is_some_and(|e| e.contains("interrupted by SIGTERM"))
        })
        .map(|s| {
            format!(
                "{} {}",
                s["plugin"].as_str().unwrap(),
                s["hook"].as_str().unwrap()
            )
        })
        .collect();
    assert!(cut.contains(&"redis restore".to_string()), "{report:#}");

    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!((replicas(sim, "zync"), replicas(sim, "zync-que")), zync);
    assert_eq!(replicas(sim, "system-app"), 1);
    assert_eq!(
        sim.json(&["get", "configmap", "redis-config", "-o", "json"])["data"],
        conf
    );
    journals_empty(sim, set);
    // Every step cut is logged as ended (failed), so `host resume` would not take it for
    // one still running.
    let log = step_log(sim, set);
    for step in &cut {
        assert_eq!(
            log.iter()
                .filter(|(s, e)| s == step && e == "failed")
                .count(),
            1,
            "{step}: {log:#?}"
        );
    }
}
