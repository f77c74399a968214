//! A backup repository (`--repo`) end to end, with the reports scripts read (`-o json`):
//! backups into it, its list and descriptions, a restore of `latest` from a read-only
//! copy, a failed backup that leaves the previous set in place, prune, `restore --plan`,
//! an unreachable cluster, and what `host resume` says after a restore killed during the
//! MySQL load.
//!
//! One seeded cluster and one repository with a good set, shared; the tests take turns.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Run, Sim, assert_same, host_bin, plugins_dir, shared};
use serde_json::Value;

struct Fixture {
    sim: &'static Sim,
    dir: tempfile::TempDir,
    /// The first good set's name.
    first: String,
}

impl Fixture {
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
}

fn setup() -> (&'static Fixture, std::sync::MutexGuard<'static, ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let fixture = FIXTURE.get_or_init(|| {
        let sim = shared(Some("8MiB"));
        let dir = tempfile::tempdir().unwrap();
        let run = backup(sim, &dir.path().join("repo"));
        assert_eq!(run.code, Some(0), "{}", run.all());
        let first = json(&run)["repository"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        Fixture { sim, dir, first }
    });
    (fixture, turn)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The document a `-o json` run printed on stdout (and nothing else).
fn json(run: &Run) -> Value {
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", run.all()));
    assert_eq!(doc["apiVersion"], "host.3scale.net/v1", "{doc:#}");
    doc
}

fn backup(sim: &Sim, repo: &Path) -> Run {
    backup_with(sim, repo, &[])
}

fn backup_with(sim: &Sim, repo: &Path, more: &[&str]) -> Run {
    let plugins = plugins_dir();
    let mut args = vec![
        "backup",
        "--plugins",
        s(&plugins),
        "--repo",
        s(repo),
        "-o",
        "json",
    ];
    args.extend_from_slice(more);
    sim.host(&args)
}

/// `host verify` of one set of the repository, which must pass.
fn verify_set(sim: &Sim, repo: &Path, name: &str) -> Run {
    sim.host_ok(&[
        "verify",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(repo),
        name,
    ])
}

fn list(sim: &Sim, repo: &Path) -> Value {
    let doc = json(&sim.host_ok(&["list", "--repo", s(repo), "-o", "json"]));
    assert_eq!(doc["kind"], "SetList");
    doc
}

fn names_in(list: &Value, result: &str) -> Vec<String> {
    list["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == result)
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Backup twice into a repository (the second sealed), list and describe the sets,
/// verify and restore `latest`: the data are back. The restore reads the repository through a read-only
/// bind mount (root ignores mode bits, a read-only mount it does not), so a restore
/// writes nothing into the set: its run state goes to the state directory.
#[test]
fn two_backups_list_describe_and_a_read_only_restore_of_latest() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    let before = sim.fingerprint();
    let key = f.dir.path().join("seal");
    if !key.exists() {
        sim.host_ok(&["key", "new", "--out", s(&key)]);
    }

    let run = backup_with(sim, &repo, &["--sign-key", s(&key)]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["kind"], "BackupReport");
    assert!(
        doc["sealedBy"].as_str().unwrap().starts_with("SHA256:"),
        "{doc:#}"
    );
    assert_eq!(doc["repository"]["verified"]["sealedBy"], doc["sealedBy"]);
    assert_eq!(doc["result"], "ok");
    assert_eq!(doc["exitCode"], 0);
    let components = doc["components"].as_array().unwrap();
    assert_eq!(components.len(), 7, "{doc:#}");
    assert!(components.iter().all(|c| c["result"] == "ok"), "{doc:#}");
    let second = doc["repository"]["name"].as_str().unwrap().to_string();
    assert_eq!(doc["repository"]["result"], "good");
    assert_eq!(doc["repository"]["latest"], second.as_str());
    assert!(doc["repository"]["verified"]["files"].as_u64().unwrap() > 10);
    assert_eq!(doc["set"], s(&repo.join(&second)));
    assert!(
        second > f.first,
        "names sort by time: {second} after {}",
        f.first
    );
    assert_eq!(
        std::fs::read_link(repo.join("latest")).unwrap(),
        Path::new(&second)
    );
    // Inside, the manual's layout, as with --backup-dir; private.
    for file in [
        "manifest.json",
        "system-mysql-backup.gz",
        "system-seed.json",
    ] {
        assert!(repo.join(&second).join(file).is_file(), "{file}");
    }
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&repo.join(&second)), 0o700);
    assert_eq!(mode(&repo.join(&second).join("manifest.json")), 0o600);

    let sets = list(sim, &repo);
    let good = names_in(&sets, "good");
    assert!(
        good.contains(&f.first) && good.contains(&second),
        "{sets:#}"
    );
    assert_eq!(sets["latest"], second.as_str());
    let text = sim.host_ok(&["list", "--repo", s(&repo)]);
    assert!(
        text.stdout.contains(&format!("{second} *")),
        "{}",
        text.stdout
    );
    let yaml = sim.host_ok(&["list", "--repo", s(&repo), "-o", "yaml"]);
    assert!(yaml.stdout.contains("kind: SetList"), "{}", yaml.stdout);

    let d = json(&sim.host_ok(&["describe", "--repo", s(&repo), "latest", "-o", "json"]));
    assert_eq!(d["kind"], "SetDescription");
    assert_eq!(d["name"], second.as_str());
    assert_eq!(d["result"], "good");
    assert_eq!(d["latest"], true);
    assert_eq!(d["namespace"], "3scale");
    assert!(
        d["threescaleVersion"].as_str().unwrap().starts_with("2.15"),
        "{d:#}"
    );
    assert_eq!(d["sealed"], true);
    assert_eq!(d["sealedByClaimed"], doc["sealedBy"]);
    assert!(d["durationSeconds"].as_f64().unwrap() > 0.0, "{d:#}");
    let details = d["componentDetails"].as_array().unwrap();
    assert_eq!(details.len(), 7, "{d:#}");
    let bytes: u64 = details.iter().map(|c| c["bytes"].as_u64().unwrap()).sum();
    assert_eq!(d["bytes"].as_u64().unwrap(), bytes);
    for c in details {
        assert_eq!(c["plugin"]["sha256"].as_str().unwrap().len(), 64, "{c}");
    }
    let text = sim.host_ok(&["describe", "--repo", s(&repo), &second]);
    assert!(text.stdout.contains("system-mysql"), "{}", text.stdout);
    assert!(
        text.stdout.contains(" MiB") || text.stdout.contains(" KiB"),
        "{}",
        text.stdout
    );

    let v = json(&sim.host_ok(&[
        "verify",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--trust-key",
        s(&f.dir.path().join("seal.pub")),
        "-o",
        "json",
    ]));
    assert_eq!(v["kind"], "VerifyReport");
    assert_eq!(v["result"], "ok");
    assert_eq!(v["sealedBy"], doc["sealedBy"]);
    assert_eq!(v["set"], s(&repo.join(&second)));

    let inspect = json(&sim.host_ok(&[
        "inspect",
        s(&plugins_dir().join("system-mysql.wasm")),
        "-o",
        "json",
    ]));
    assert_eq!(inspect["kind"], "PluginInspection");
    assert!(
        inspect["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("exec")),
        "{inspect:#}"
    );

    sim.sim(&["damage"]);
    sim.settle_system_app();
    let runs_before = std::fs::read_dir(repo.join(&second).join("runs"))
        .unwrap()
        .count();
    // The repository mounted read-only in a mount namespace of its own (gone with the
    // process); the script first proves it cannot write there.
    let ro = f.dir.path().join("read-only");
    std::fs::create_dir_all(&ro).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount --bind \"$1\" \"$2\" && mount -o remount,bind,ro \"$2\" && \
             if touch \"$2/$3/probe\" 2>/dev/null; then echo 'the mount is writable'; exit 99; fi; \
             shift 3; exec \"$@\"",
        )
        .arg("sh")
        .arg(&repo)
        .arg(&ro)
        .arg(&second)
        .arg(host_bin())
        .args([
            "restore",
            "--plugins",
            s(&plugins_dir()),
            "--repo",
            s(&ro),
            "-o",
            "json",
        ]);
    let run = sim.host_run(cmd, "host restore --repo (read-only)");
    assert_eq!(run.code, Some(0), "{}", run.all());
    let r = json(&run);
    assert_eq!(r["kind"], "RestoreReport");
    assert_eq!(r["result"], "complete");
    assert_eq!(r["set"], s(&ro.join(&second)));
    let steps = r["steps"].as_array().unwrap();
    assert!(steps.len() > 10, "{r:#}");
    assert!(steps.iter().all(|s| s["result"] == "ok"), "{r:#}");
    let run_state = PathBuf::from(r["runState"].as_str().unwrap());
    assert!(
        run_state.starts_with(sim.state_dir()),
        "{}",
        run_state.display()
    );
    assert!(run_state.join("audit.jsonl").is_file());
    assert!(run_state.join("steps.jsonl").is_file());
    assert_same(&before, &sim.fingerprint());
    // Only the backup's own audit log is in the set.
    assert_eq!(
        std::fs::read_dir(repo.join(&second).join("runs"))
            .unwrap()
            .count(),
        runs_before
    );
}

/// A backup into a repository copies system/ as rsync does: listed in the pod first,
/// only new and changed files fetched, the others copied from the previous good set. The
/// new set is whole: it verifies on its own and restores the storage as it was.
#[test]
fn a_second_backup_fetches_only_the_storage_files_that_changed() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    let app = sim.pod("system-app");
    // Three files changed (their size too), one deleted, one added.
    let script = "cd /opt/system/public/system && \
        find . -type f | sort | head -3 | while read -r f; do echo changed >> \"$f\"; done && \
        rm -f \"$(find . -type f | sort | tail -1)\" && \
        echo new > incremental-test-new.txt && find . -type f | wc -l";
    let files: usize = sim
        .ok(&["exec", &app, "--", "sh", "-c", script])
        .trim()
        .parse()
        .unwrap();
    assert!(files > 10, "{files} files in the seeded storage");
    let before = sim.fingerprint();

    let run = backup(sim, &repo);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let name = json(&run)["repository"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("incremental:") && l.contains("unchanged files"))
        .unwrap_or_else(|| panic!("no incremental line:\n{}", run.stderr));
    let count = |before_word: &str| -> usize {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == before_word).unwrap();
        words[at - 1].parse().unwrap()
    };
    // Three changed and one new are fetched; every other file is reused.
    assert_eq!(count("new"), 4, "{line}");
    assert_eq!(count("unchanged"), files - 4, "{line}");

    verify_set(sim, &repo, &name);
    sim.sim(&["damage"]);
    sim.settle_system_app();
    let run = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        &name,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_same(&before, &sim.fingerprint());
}

/// A pod that cannot list its tree (an image without `find`, as UBI-minimal ones are) has
/// it copied whole instead, and says why: the new set is as whole as an incremental one.
#[test]
fn a_pod_without_find_has_its_tree_copied_whole() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    let run = {
        let _no_find = sim.fault("exec-missing=find");
        backup(sim, &repo)
    };
    assert_eq!(run.code, Some(0), "{}", run.all());
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("copied whole"))
        .unwrap_or_else(|| panic!("no `copied whole` line:\n{}", run.stderr));
    assert!(
        line.contains("system copied whole (the pod did not list it:")
            && line.contains("\"find\": executable file not found"),
        "{line}"
    );
    assert!(
        !run.stderr.contains("new or changed fetched"),
        "{}",
        run.stderr
    );
    let name = json(&run)["repository"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let verified = verify_set(sim, &repo, &name);
    assert!(verified.stdout.contains("verified"), "{}", verified.all());
    let in_pod: usize = sim
        .ok(&[
            "exec",
            &sim.pod("system-app"),
            "--",
            "sh",
            "-c",
            "find /opt/system/public/system -type f | wc -l",
        ])
        .trim()
        .parse()
        .unwrap();
    let in_set = walk_files(&repo.join(&name).join("system"));
    assert_eq!(in_set, in_pod);
}

fn walk_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// A backup whose dump streams are cut: the new set is kept as NAME.failed, `latest` and
/// the earlier set are untouched, the earlier set still verifies and a restore plan of it
/// passes every check, and the failed set is never taken for a restore.
#[test]
fn a_failed_backup_leaves_the_previous_set_and_latest_alone() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    let latest = std::fs::read_link(repo.join("latest")).unwrap();
    let good_before = names_in(&list(sim, &repo), "good");

    let fault = sim.fault("exec-drop-after=256KiB");
    let run = backup(sim, &repo);
    drop(fault);
    assert_eq!(run.code, Some(1), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["result"], "failed");
    assert_eq!(doc["exitCode"], 1);
    assert_eq!(doc["repository"]["result"], "failed");
    let failed = doc["repository"]["name"].as_str().unwrap().to_string();
    assert!(
        doc["set"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{failed}.failed")),
        "{doc:#}"
    );
    assert!(
        doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["result"] == "failed"
                && c["error"].as_str().unwrap().contains("connection was cut")),
        "{doc:#}"
    );

    assert_eq!(std::fs::read_link(repo.join("latest")).unwrap(), latest);
    let sets = list(sim, &repo);
    assert_eq!(names_in(&sets, "good"), good_before);
    assert!(names_in(&sets, "failed").contains(&failed), "{sets:#}");
    assert!(!repo.join(".staging").join(&failed).exists());
    let text = sim.host_ok(&["list", "--repo", s(&repo)]);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with(&failed) && l.contains("FAILED")),
        "{}",
        text.stdout
    );

    sim.host_ok(&["verify", "--plugins", s(&plugins_dir()), "--repo", s(&repo)]);
    let plan = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--plan",
        "-o",
        "json",
    ]);
    assert_eq!(plan.code, Some(0), "{}", plan.all());
    assert_eq!(json(&plan)["set"], s(&repo.join(&latest)));

    let run = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        &failed,
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(run.stderr.contains("FAILED"), "{}", run.stderr);
}

/// Prune keeps the newest good set whatever it is told (`--keep 0`, `--keep-within 0s`),
/// deletes older, failed and killed sets, says what it deletes, and `--dry-run` deletes
/// nothing. On a copy of the repository, with sets older than the fixture's added.
#[test]
fn prune_never_deletes_the_last_good_set() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let status = Command::new("cp")
        .arg("-a")
        .arg(f.repo())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    let copy = |name: &str| {
        let status = Command::new("cp")
            .arg("-a")
            .arg(f.repo().join(&f.first))
            .arg(repo.join(name))
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy("20000101T000000Z-backup-000001");
    copy("20000102T000000Z-backup-000002.failed");
    std::fs::create_dir_all(repo.join(".staging")).unwrap();
    copy(".staging/20000103T000000Z-backup-000003");
    // A set made read-only is still the user's to prune.
    Command::new("chmod")
        .args(["-R", "a-w"])
        .arg(repo.join("20000101T000000Z-backup-000001"))
        .status()
        .unwrap();
    let latest = std::fs::read_link(repo.join("latest")).unwrap();
    let latest = latest.to_str().unwrap();
    let sets = list(sim, &repo);
    let count = sets["sets"].as_array().unwrap().len();
    assert!(
        names_in(&sets, "incomplete").contains(&"20000103T000000Z-backup-000003".to_string()),
        "{sets:#}"
    );

    let dry = json(&sim.host_ok(&[
        "prune",
        "--repo",
        s(&repo),
        "--keep",
        "0",
        "--dry-run",
        "-o",
        "json",
    ]));
    assert_eq!(dry["kind"], "PruneReport");
    assert_eq!(dry["dryRun"], true);
    let deleting: Vec<&str> = dry["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "delete")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for old in [
        "20000101T000000Z-backup-000001",
        "20000102T000000Z-backup-000002",
        "20000103T000000Z-backup-000003",
    ] {
        assert!(deleting.contains(&old), "{old}: {dry:#}");
    }
    assert!(!deleting.contains(&latest), "{dry:#}");
    // Kept besides latest: only failed sets newer than it (another test's), kept to
    // read why they failed.
    for kept in dry["sets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "keep")
    {
        let name = kept["name"].as_str().unwrap();
        assert!(
            name == latest || (kept["result"] != "good" && name > latest),
            "{name} kept: {dry:#}"
        );
    }
    assert!(dry["freedBytes"].as_u64().unwrap() > 0);
    assert_eq!(list(sim, &repo)["sets"].as_array().unwrap().len(), count);

    let run = sim.host_ok(&["prune", "--repo", s(&repo), "--keep-within", "0s"]);
    assert!(run.stdout.contains("deleted"), "{}", run.stdout);
    assert!(
        run.stdout.contains("20000102T000000Z-backup-000002"),
        "{}",
        run.stdout
    );
    let run = sim.host_ok(&["prune", "--repo", s(&repo), "--keep", "0"]);
    assert!(run.stdout.contains("the last good set"), "{}", run.stdout);
    let sets = list(sim, &repo);
    assert_eq!(names_in(&sets, "good"), [latest], "{sets:#}");
    assert_eq!(sets["latest"], latest);
    assert!(!repo.join("20000101T000000Z-backup-000001").exists());
    sim.host_ok(&["verify", "--plugins", s(&plugins_dir()), "--repo", s(&repo)]);
}

/// `restore --plan` lists every step in the restore's order with what it may do and
/// reads, and the checks; it changes nothing in the cluster and writes no run state. A
/// tampered set shows as a refusing check, with exit 3.
#[test]
fn the_plan_lists_the_steps_in_order_and_changes_nothing() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    sim.settle_system_app();
    let state = |sim: &Sim| {
        let get = |args: &[&str]| {
            let mut all = vec!["get"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["-o", "json"]);
            sim.json(&all)
        };
        (
            get(&["apimanager", "3scale"])["spec"].clone(),
            get(&["deployment", "system-app"])["metadata"]["generation"].clone(),
            get(&["configmap", "redis-config"])["data"].clone(),
            sim.fingerprint(),
        )
    };
    let runs = || {
        std::fs::read_dir(sim.state_dir().join("runs"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = state(sim);
    let runs_before = runs();

    let run = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--plan",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let plan = json(&run);
    assert_eq!(plan["kind"], "RestorePlan");
    assert!(
        plan["threescaleVersion"]
            .as_str()
            .unwrap()
            .starts_with("2.15"),
        "{plan:#}"
    );
    let checks = plan["checks"].as_array().unwrap();
    let outcome = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {plan:#}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("set"), "pass");
    assert_eq!(outcome("3scale version"), "pass");
    assert_eq!(outcome("unfinished runs"), "pass");
    assert_eq!(outcome("exec protocol"), "at-run-time");
    let steps: Vec<String> = plan["steps"]
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
    let at = |step: &str| {
        steps
            .iter()
            .position(|s| s == step)
            .unwrap_or_else(|| panic!("no `{step}` in {steps:?}"))
    };
    assert!(
        at("secrets restore") < at("system-app quiesce"),
        "{steps:?}"
    );
    assert!(
        at("system-app quiesce") < at("system-mysql restore"),
        "{steps:?}"
    );
    assert!(
        at("system-mysql restore") < at("system-storage restore"),
        "{steps:?}"
    );
    // system-app comes back once the loads made while it is down have ended, before
    // zync's load; the other resumes come after every restore.
    assert!(
        at("system-storage restore") < at("system-app resume")
            && at("system-app resume") < at("zync-database restore"),
        "{steps:?}"
    );
    let last_restore = steps.iter().rposition(|s| !s.ends_with(" resume")).unwrap();
    let resumes_after = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.ends_with(" resume") && *s != "system-app resume")
        .all(|(i, _)| i > last_restore);
    assert!(resumes_after, "{steps:?}");
    let mysql = &plan["steps"][at("system-mysql restore")];
    assert_eq!(
        mysql["reads"],
        serde_json::json!(["system-mysql-backup.gz"])
    );
    assert!(
        !mysql["capabilities"].as_array().unwrap().is_empty(),
        "{mysql}"
    );

    let text = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--plan",
    ]);
    assert_eq!(text.code, Some(0), "{}", text.all());
    assert!(text.stdout.contains("steps, in order:"), "{}", text.stdout);
    assert!(text.stdout.contains("may: "), "{}", text.stdout);

    // A flipped byte: the plan says the restore would be refused, and why.
    let latest = std::fs::read_link(repo.join("latest")).unwrap();
    let copy = common::tamper::copy_set(&repo.join(latest));
    let rdb = copy.path().join("backend-redis-dump.rdb");
    let mut bytes = std::fs::read(&rdb).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&rdb, bytes).unwrap();
    let run = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(copy.path()),
        "--plan",
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(run.stdout.contains("REFUSE"), "{}", run.stdout);
    assert!(run.stdout.contains("corrupt or tampered"), "{}", run.stdout);

    assert_eq!(state(sim), before, "the plan changed the cluster");
    assert_eq!(runs(), runs_before, "the plan wrote run state");
}

/// A kubeconfig whose server port is closed: exit 5, apart from a failed run's 1, with
/// the error as a document for `-o json`, and no set left in the repository.
#[test]
fn an_unreachable_cluster_exits_5_and_leaves_no_set() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let repo = f.repo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let server = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap()
        .to_string();
    let closed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        closed.path(),
        config.replace(&server, &format!("https://127.0.0.1:{port}")),
    )
    .unwrap();
    let entries = || std::fs::read_dir(&repo).unwrap().count();
    let before = entries();
    let run = sim.host(&[
        "backup",
        "--plugins",
        s(&plugins_dir()),
        "--repo",
        s(&repo),
        "--kubeconfig",
        s(closed.path()),
        "-o",
        "json",
    ]);
    assert_eq!(run.code, Some(5), "{}", run.all());
    let doc = json(&run);
    assert_eq!(doc["kind"], "Error");
    assert_eq!(doc["exitCode"], 5);
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the API server"),
        "{doc:#}"
    );
    assert_eq!(
        entries(),
        before,
        "the backup left something in the repository"
    );
}

/// A restore killed (SIGKILL) during the system-mysql step: `host resume` puts
/// system-app back and says that the data were not restored, where the run stopped and
/// what to run next, with exit 6, never "restore complete". Restoring again then works.
#[test]
fn resume_after_a_restore_killed_in_the_mysql_load_says_the_data_were_not_restored() {
    let (f, _turn) = setup();
    let sim = f.sim;
    let set = f.repo().join(&f.first);
    sim.settle_system_app();
    let spec = sim.apimanager_spec();

    let mut cmd = Command::new(host_bin());
    // One step at a time: killed in the MySQL load, that load is the one step the run
    // stopped in (parallel_restore.rs cuts loads running side by side).
    cmd.args([
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(&set),
        "--parallel",
        "1",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    sim.host_env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut run_id = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        eprintln!("restore: {line}");
        if let Some(rest) = line.strip_prefix("run ") {
            run_id = rest.split(':').next().map(str::to_string);
        }
        if line.contains("system-mysql restore: started") {
            break;
        }
    }
    let run_id = run_id.expect("the restore names its run");
    // Killed once the load is in MySQL (a connection to `system` other than this one),
    // or, if that is not seen in time, still inside the step.
    let mysql = sim.pod("system-mysql");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let out = sim.kubectl(&[
            "exec",
            &mysql,
            "--",
            "bash",
            "-c",
            "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mysql -uroot -N -e \"SELECT COUNT(*) FROM information_schema.processlist WHERE db='system' AND id<>CONNECTION_ID()\"",
        ]);
        if String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
            > 0
        {
            break;
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();
    assert_eq!(
        sim.json(&["get", "deployment", "system-app", "-o", "json"])["spec"]["replicas"],
        0,
        "system-app should be down while the run is cut off"
    );

    let run = sim.host(&["resume", "--plugins", s(&plugins_dir()), "--run", &run_id]);
    assert_eq!(run.code, Some(6), "{}", run.all());
    for words in [
        "put back by system-app",
        "the data were NOT restored",
        "stopped during `system-mysql restore`",
        "never ran in that run: ",
        "system-storage restore",
        &format!(
            "next: restore again with the same --plugins: `host restore --backup-dir {}`",
            set.display()
        ),
        "is NOT complete",
    ] {
        assert!(
            run.stdout.contains(words),
            "expected `{words}` in:\n{}",
            run.stdout
        );
    }
    assert!(!run.all().contains("restore complete"), "{}", run.all());
    assert_eq!(sim.apimanager_spec(), spec);
    assert_eq!(
        sim.json(&["get", "deployment", "system-app", "-o", "json"])["spec"]["replicas"],
        1
    );
    sim.pod("system-app");

    // Asked again, as a script would: nothing left to put back, the same account.
    let again = sim.host(&[
        "resume",
        "--plugins",
        s(&plugins_dir()),
        "--run",
        &run_id,
        "-o",
        "json",
    ]);
    assert_eq!(again.code, Some(6), "{}", again.all());
    let doc = json(&again);
    assert_eq!(doc["result"], "put-back");
    assert_eq!(doc["resumed"]["stoppedAt"], "system-mysql restore");
    assert_eq!(doc["resumed"]["complete"], false);
    assert!(
        doc["resumed"]["notRun"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "system-storage restore"),
        "{doc:#}"
    );

    sim.settle_system_app();
    let run = sim.host(&[
        "restore",
        "--plugins",
        s(&plugins_dir()),
        "--backup-dir",
        s(&set),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
}
