//! A plugin from a vendor or a third party can do only what `host inspect` shows: the real
//! `host` binary running the hostile test plugin (tests/plugins/hostile) in wasmtime
//! against the simulator. Each case asserts what the user sees: the exit code, the named
//! refusal or limit, the cluster and the set unchanged, and the host alive with bounded
//! memory and disk.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::plugin_bytes::{patched, with_section};
use common::{Run, Sim, output_within, plugin, shared};
use serde_json::Value;

/// The hostile plugin's manifest as built (the byte-patching finds it in the file).
const HOSTILE_TOML: &str = include_str!("../plugins/hostile/plugin.toml");

fn sim() -> &'static Sim {
    shared(Some("8MiB"))
}

fn hostile() -> PathBuf {
    plugin("test", "hostile.wasm")
}

/// A set with the hostile plugin's attack in it.
fn attack(what: &str) -> tempfile::TempDir {
    let set = tempfile::tempdir().unwrap();
    std::fs::write(set.path().join("attack"), what).unwrap();
    set
}

/// What a run printed and returned, with its peak memory.
struct Measured {
    run: Run,
    peak_rss_mib: u64,
    took: Duration,
}

/// `host ARGS` against the shared cluster under `/usr/bin/time -v`, with its own cache
/// and cache key, so the peak RSS of the host process is known.
fn host_measured(sim: &Sim, args: &[&str], env: &[(&str, &Path)]) -> Measured {
    let state = sim.dir.join("host-state");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg(common::host_bin())
        .args(args)
        .env("KUBECONFIG", &sim.kubeconfig)
        .env("HOST_CACHE_DIR", sim.dir.join("host-cache"))
        .env("XDG_STATE_HOME", &state);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = output_within(cmd, &format!("host {args:?}"), None);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak_kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS from /usr/bin/time:\n{stderr}"));
    // time's own report is not the host's output.
    let host_stderr = stderr
        .split("\tCommand being timed:")
        .next()
        .unwrap_or_default()
        .to_string();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: host_stderr,
    };
    eprintln!(
        "host {args:?} -> {:?} in {:.1}s, peak RSS {} MiB\n{}",
        run.code,
        took.as_secs_f64(),
        peak_kib >> 10,
        run.all()
    );
    // The host ran to its own end: an exit code, not a signal (OOM killer, abort).
    assert!(run.code.is_some(), "the host died:\n{}", run.all());
    Measured {
        run,
        peak_rss_mib: peak_kib >> 10,
        took,
    }
}

/// The state directory of the restores of `set`: each attack has its own, as each had
/// its own set when restores kept their run state there, so that an attack running
/// alongside (one holding journal notes for a moment) is not an unfinished run of the
/// same namespace for the others.
fn state_for(set: &Path) -> PathBuf {
    sim().dir.join(format!(
        "state-{}",
        set.file_name().unwrap().to_string_lossy()
    ))
}

/// `host run restore` of `plugin` on `set`, with `flags`.
fn restore(sim: &Sim, plugin: &Path, set: &Path, flags: &[&str]) -> Measured {
    let mut args = vec![
        "run",
        "restore",
        "--plugin",
        plugin.to_str().unwrap(),
        "--backup-dir",
        set.to_str().unwrap(),
        // The attacks are sets made by hand: no manifest.json.
        "--hand-made",
    ];
    args.extend_from_slice(flags);
    let state = state_for(set);
    host_measured(sim, &args, &[("HOST_STATE_DIR", &state)])
}

/// The hostile plugin's restore of `what` fails (exit 1) saying `expect`, and the host
/// says the step failed.
fn refused(sim: &Sim, what: &str, flags: &[&str], expect: &str) -> (Measured, tempfile::TempDir) {
    let set = attack(what);
    let m = restore(sim, &hostile(), set.path(), flags);
    assert_eq!(
        m.run.code,
        Some(1),
        "`{what}` was not stopped:\n{}",
        m.run.all()
    );
    assert!(
        m.run.all().contains(expect),
        "`{what}`: expected `{expect}` in:\n{}",
        m.run.all()
    );
    assert!(
        m.run.all().contains("restore FAILED at hostile restore"),
        "{}",
        m.run.all()
    );
    (m, set)
}

/// The audit logs of the runs on `set`: a backup's in the set, a restore's in its state
/// directory.
fn audit_files(set: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(set.join("runs"))
        .map(|e| e.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(state_for(set).join("runs")) {
        runs.extend(entries.map(|e| e.unwrap().path()));
    }
    runs.into_iter().map(|r| r.join("audit.jsonl")).collect()
}

fn audit_lines(set: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    for file in audit_files(set) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    lines
}

fn audit_size(set: &Path) -> u64 {
    audit_files(set)
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Every file's bytes under `dir`.
fn disk_use(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            disk_use(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn secret(sim: &Sim, name: &str) -> Value {
    sim.json(&["get", "secret", name, "-o", "json"])
}

/// H2: denied calls with 8 and 64 MiB arguments, in a loop, and many small denied
/// calls: the audit log stays small, the plugin is stopped naming the budget it ran
/// through, and the host's memory stays bounded.
#[test]
fn a_flood_of_denied_calls_is_stopped_and_the_audit_log_stays_small() {
    let sim = sim();
    for mib in ["64", "8"] {
        let (m, set) = refused(
            sim,
            &format!("flood-big {mib}"),
            &["--plugin-memory", "256"],
            "handed the host more than 256 MiB of arguments in one hook",
        );
        let size = audit_size(set.path());
        assert!(size < 1 << 20, "audit.jsonl holds {size} bytes");
        let lines = audit_lines(set.path());
        assert!(
            lines
                .iter()
                .any(|l| l["reason"].as_str().is_some_and(|r| r.contains("[cut: "))),
            "a cut field says so"
        );
        // The plugin's own memory (up to its 256 MiB), a few copies of one argument in
        // flight in the host, the host's own 30 MiB: nothing that grows with the loop.
        assert!(m.peak_rss_mib < 600, "peak RSS {} MiB", m.peak_rss_mib);
    }
    let (m, set) = refused(
        sim,
        "flood-many",
        &[],
        "flooded the audit log (more than 16 MiB of audit lines in one hook)",
    );
    let size = audit_size(set.path());
    assert!(size < 17 << 20, "audit.jsonl holds {size} bytes");
    assert!(m.peak_rss_mib < 100, "peak RSS {} MiB", m.peak_rss_mib);
}

/// M1: an exec grant that lists its commands runs nothing else; `host inspect` says what
/// an exec grant is, and what a list with a shell in it is worth.
#[test]
fn an_exec_grant_runs_only_the_commands_it_lists() {
    let sim = sim();
    let zync = sim.pod("zync-database");
    refused(sim, "exec-cmd bash -c id", &[], "denied: exec in pod `");
    let (m, _) = refused(
        sim,
        "exec-cmd /bin/cat /etc/hostname",
        &[],
        "`/bin/cat` is not among the commands the exec grant for deployment=zync-database allows (sleep, cat, head, tar)",
    );
    assert!(
        m.run.all().contains(&zync),
        "names the pod: {}",
        m.run.all()
    );

    let inspect = sim.host_ok(&["inspect", hostile().to_str().unwrap()]);
    assert!(
        inspect.stdout.contains(
            "only these commands: sleep, cat, head, tar (each runs with all the container has: its environment and secrets, its service-account token, its network)"
        ),
        "{}",
        inspect.stdout
    );
    let shipped = sim.host_ok(&[
        "inspect",
        plugin("3scale-2.15", "zync.wasm").to_str().unwrap(),
    ]);
    assert!(
        shipped.stdout.contains(
            "only these commands: bash (bash runs any command, so this is full control of the container: its environment and secrets, its service-account token, its network)"
        ),
        "{}",
        shipped.stdout
    );
}

/// M2: names that would bend the URL (a subresource, the service proxy, another kind
/// behind a proxy, a query) and kinds spelled otherwise than the API server does are
/// invalid before any request; a kind the group-version does not serve is refused by
/// discovery, not guessed into another resource.
#[test]
fn names_and_kinds_are_the_api_servers_own() {
    let sim = sim();
    for (what, expect) in [
        (
            "get v1 ConfigMap redis-config/status",
            "is not a Kubernetes object name",
        ),
        (
            "get v1 ConfigMap svc:80/proxy/metrics",
            "is not a Kubernetes object name",
        ),
        (
            "get v1 ConfigMap ../secrets/system-seed",
            "is not a Kubernetes object name",
        ),
        ("get v1 ConfigMap a?b", "is not a Kubernetes object name"),
        ("get v1 configmap redis-config", "kinds are case-sensitive"),
        (
            "get /v1 ConfigMap redis-config",
            "`/v1` is not an API version",
        ),
    ] {
        let (m, set) = refused(sim, what, &[], expect);
        assert!(m.run.all().contains("invalid: "), "{}", m.run.all());
        let lines = audit_lines(set.path());
        assert!(
            lines
                .iter()
                .any(|l| l["call"] == "get" && l["outcome"] == "error"),
            "the refusal is audited: {lines:?}"
        );
    }
    // A grant for `PodMetrics` in v1: kube would guess its plural as `pods` and read
    // Pods (their specs, their environment) under a name no reviewer reads as Pods.
    let dir = tempfile::tempdir().unwrap();
    let metrics = patched(
        &hostile(),
        HOSTILE_TOML,
        &[(
            r#"kind = "ConfigMap", names = ["redis-config"] }]"#,
            r#"kind = "PodMetrics" }]"#,
        )],
        &dir.path().join("hostile.wasm"),
    );
    let inspect = sim.host_ok(&["inspect", metrics.to_str().unwrap()]);
    assert!(
        inspect.stdout.contains("read PodMetrics (v1): any name"),
        "{}",
        inspect.stdout
    );
    let pod = sim.pod("zync-database");
    let set = attack(&format!("get v1 PodMetrics {pod}"));
    let m = restore(sim, &metrics, set.path(), &[]);
    assert_eq!(m.run.code, Some(1), "the pod was read:\n{}", m.run.all());
    assert!(
        m.run
            .all()
            .contains("invalid: the API server has no kind `PodMetrics` in v1"),
        "{}",
        m.run.all()
    );
}

/// M3: a patch grant (one label of one Secret) is not a read of the Secret: an empty,
/// test-only or copying patch is refused, an allowed patch returns only the object's
/// name, and the audit log never holds the Secret's values.
#[test]
fn a_patch_grant_does_not_read_the_object() {
    let sim = sim();
    let before = secret(sim, "system-seed");
    refused(sim, "patch-empty", &[], "changes nothing");
    refused(sim, "patch-test", &[], "changes nothing");
    refused(
        sim,
        "patch-copy",
        &[],
        "reads /data, outside the granted paths /metadata/labels/hostile",
    );
    let (_, set) = refused(
        sim,
        "patch-label",
        &[],
        "the patched Secret came back without its data",
    );
    let after = secret(sim, "system-seed");
    assert_eq!(after["data"], before["data"]);
    assert!(after["metadata"]["labels"]["hostile"].is_null(), "{after}");
    let audit = audit_lines(set.path())
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(audit.contains("\"call\":\"patch\""), "{audit}");
    let mut checked = 0;
    for (key, value) in before["data"].as_object().unwrap() {
        let value = value.as_str().unwrap();
        // Short values (an empty one, `bWFzdGVy`) could match anything.
        if value.len() >= 12 {
            assert!(!audit.contains(value), "{key}'s value is in the audit log");
            checked += 1;
        }
    }
    assert!(checked > 0, "no value long enough to look for: {before}");
}

/// M4: describe() runs with nothing granted: its host calls are denied (and audited as
/// describe's), and the run goes on as if it had made none.
#[test]
fn describe_runs_with_nothing_granted() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let plugin = patched(
        &hostile(),
        HOSTILE_TOML,
        &[("attacks the host (tests only)", "describe-attack")],
        &dir.path().join("hostile.wasm"),
    );
    let set = attack("nothing");
    let m = restore(sim, &plugin, set.path(), &[]);
    assert_eq!(m.run.code, Some(0), "{}", m.run.all());
    let lines = audit_lines(set.path());
    let describe: Vec<&Value> = lines.iter().filter(|l| l["hook"] == "describe").collect();
    assert_eq!(describe.len(), 5, "{lines:?}");
    assert!(
        describe.iter().all(|l| l["decision"] == "denied"),
        "{describe:?}"
    );
    assert!(
        !set.path().join("files").exists(),
        "describe() wrote into the set"
    );
}

/// M5: two plugins whose artifacts nest (one's file inside the other's directory) are
/// refused together at load, before the cluster or the set is touched.
#[test]
fn plugins_whose_artifacts_nest_are_refused_at_load() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hostile(), dir.path().join("hostile.wasm")).unwrap();
    patched(
        &hostile(),
        HOSTILE_TOML,
        &[
            (r#"name = "hostile""#, r#"name = "hostilf""#),
            (r#"path = "attack""#, r#"path ="files/a""#),
            (r#"path = "files""#, r#"path = "filez""#),
        ],
        &dir.path().join("other.wasm"),
    );
    let set = attack("nothing");
    for command in ["restore", "backup"] {
        let run = sim.host(&[
            command,
            "--plugins",
            dir.path().to_str().unwrap(),
            "--backup-dir",
            set.path().to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(2), "{}", run.all());
        assert!(
            run.stderr.contains(
                "`hostile` declares the artifact `files` and `hostilf` declares `files/a`: one lies inside the other"
            ),
            "{}",
            run.all()
        );
    }
    assert!(!set.path().join("runs").exists(), "the set was touched");
}

/// L5: a component with two manifest sections could show one manifest and be granted
/// from another: refused, by inspect and by a run.
#[test]
fn a_component_with_two_manifests_is_refused() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let wider = HOSTILE_TOML.replace(
        r#"names = ["redis-config"]"#,
        r#"names = ["redis-config", "system-environment"]"#,
    );
    let two = with_section(
        &hostile(),
        "host-plugin-manifest",
        wider.as_bytes(),
        &dir.path().join("hostile.wasm"),
    );
    let run = sim.host(&["inspect", two.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(
        run.stderr
            .contains("has more than one `host-plugin-manifest` section"),
        "{}",
        run.all()
    );
    let set = attack("nothing");
    let run = sim.run_plugin("restore", &two, set.path());
    assert_eq!(run.code, Some(2), "{}", run.all());
}

/// M8: what a plugin says reaches the terminal as text: escape sequences in its manifest
/// (`host inspect`) and in its errors (a run) are shown escaped, never sent raw.
#[test]
fn escape_sequences_from_a_plugin_never_reach_the_terminal() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // \e[2J clears the screen, \e]0;...\a retitles the terminal.
    let loud = patched(
        &hostile(),
        HOSTILE_TOML,
        &[(
            "attacks the host (tests only)",
            r"\u001b[2J\u001b]0;x\u0007",
        )],
        &dir.path().join("loud.wasm"),
    );
    let run = sim.host_ok(&["inspect", loud.to_str().unwrap()]);
    assert!(!run.all().contains('\u{1b}'), "{:?}", run.all());
    assert!(
        run.stdout.contains(r"\u{1b}[2J\u{1b}]0;x\u{7}"),
        "{}",
        run.stdout
    );
    // An artifact path is refused outright, and the refusal quotes it escaped.
    let path = patched(
        &hostile(),
        HOSTILE_TOML,
        &[(
            "path = \"attack\"\nformat = \"raw\"",
            "path=\"\\u001b[2J\"\nformat=\"raw\"",
        )],
        &dir.path().join("path.wasm"),
    );
    let run = sim.host(&["inspect", path.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(!run.all().contains('\u{1b}'), "{:?}", run.all());
    assert!(
        run.stderr.contains("control characters are not allowed"),
        "{}",
        run.stderr
    );
    // A plugin's error quoting what it was given.
    let (m, _) = refused(sim, "get v1 ConfigMap \u{1b}[2Jx", &[], "invalid: ");
    assert!(!m.run.all().contains('\u{1b}'), "{:?}", m.run.all());
    assert!(m.run.all().contains(r"\u{1b}[2Jx"), "{}", m.run.all());
}

/// L2: a denied exec says the same about a pod outside the grant and a pod that does not
/// exist, and shows neither's labels.
#[test]
fn a_denied_exec_reveals_nothing_about_the_pod() {
    let sim = sim();
    let mysql = sim.pod("system-mysql");
    let (outside, _) = refused(
        sim,
        &format!("exec-outside {mysql}"),
        &[],
        "denied: exec in pod",
    );
    let (missing, _) = refused(sim, "exec-outside no-such-pod", &[], "denied: exec in pod");
    let said = |m: &Measured, pod: &str| {
        m.run
            .all()
            .lines()
            .find(|l| l.starts_with("error: hostile:") || l.contains("FAILED:"))
            .unwrap_or_default()
            .replace(pod, "POD")
    };
    assert_eq!(said(&outside, &mysql), said(&missing, "no-such-pod"));
    assert!(
        !outside.run.all().contains("deployment=system-mysql"),
        "{}",
        outside.run.all()
    );
    assert!(!outside.run.all().contains("app="), "{}", outside.run.all());
    let check = sim.kubectl(&["exec", &mysql, "--", "test", "-e", "/tmp/pwned"]);
    assert!(!check.status.success(), "the denied command ran in {mysql}");
}

/// M7 and L1: what a plugin makes the host hold or wait for is bounded, and each bound
/// names itself and the flag that raises it.
#[test]
fn host_side_resources_are_bounded() {
    let sim = sim();
    // Disk: a backup streaming zeros into an artifact stops at the set's size limit.
    let set = tempfile::tempdir().unwrap();
    let m = host_measured(
        sim,
        &[
            "run",
            "backup",
            "--plugin",
            hostile().to_str().unwrap(),
            "--backup-dir",
            set.path().to_str().unwrap(),
            "--max-set-size",
            "8MiB",
        ],
        &[],
    );
    assert_eq!(m.run.code, Some(1), "{}", m.run.all());
    assert!(
        m.run.all().contains(
            "the backup set reached this run's size limit of 8.0 MiB (--max-set-size raises it)"
        ),
        "{}",
        m.run.all()
    );
    let used = disk_use(set.path());
    assert!(used < 9 << 20, "the set holds {used} bytes");

    // A request body far past the API server's limit is refused before it is parsed.
    let (m, _) = refused(
        sim,
        "big-patch 64",
        &["--plugin-memory", "256"],
        "the API server takes at most 3 MiB",
    );
    // The plugin's own memory (up to its 256 MiB) and the body's one copy in the host;
    // parsed, its 32 million numbers would take over a GiB.
    assert!(
        m.peak_rss_mib < 256 + 128,
        "peak RSS {} MiB",
        m.peak_rss_mib
    );
    // Open files, journal notes.
    refused(
        sim,
        "open-many",
        &[],
        "more than 64 artifacts open at once in one hook",
    );
    refused(
        sim,
        "journal-flood",
        &[],
        "journal notes would pass 1024 KiB",
    );

    // Time: a wait for ever ends at the hook's wall-clock bound, a silent command at the
    // idle timeout.
    let (m, _) = refused(
        sim,
        "wait-forever",
        &["--hook-timeout", "3"],
        "ran longer than its wall-clock limit of 3s (--hook-timeout) and was stopped",
    );
    assert!(m.took < Duration::from_secs(30), "took {:?}", m.took);
    let (m, _) = refused(
        sim,
        "exec-cmd sleep infinity",
        &["--idle-timeout", "2"],
        "`sleep infinity` in pod",
    );
    assert!(
        m.run
            .all()
            .contains("printed nothing for 2s (--idle-timeout) and was stopped"),
        "{}",
        m.run.all()
    );
    assert!(m.took < Duration::from_secs(30), "took {:?}", m.took);
}

/// M6: compiled code is loaded only from a cache nobody else could have written, and only
/// if this user's host wrote it: a group-writable directory, a forged entry (another
/// plugin's code with a plain sha256 beside it) and a directory of another user are
/// compiled again, and the run says so.
#[test]
fn the_compiled_cache_trusts_only_what_this_user_wrote() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let state = dir.path().join("state");
    let cached = |plugin: &Path, expect: &str| -> Run {
        let set = attack("nothing");
        let m = host_measured(
            sim,
            &[
                "run",
                "restore",
                "--plugin",
                plugin.to_str().unwrap(),
                "--backup-dir",
                set.path().to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
                "--hand-made",
            ],
            &[("XDG_STATE_HOME", state.as_path())],
        );
        assert_eq!(m.run.code, Some(0), "{}", m.run.all());
        assert!(
            m.run.all().contains(expect),
            "`{expect}` in:\n{}",
            m.run.all()
        );
        m.run
    };
    let plugin = hostile();
    cached(&plugin, "compiled, now cached");
    cached(&plugin, "all from the compiled cache");

    // Group-writable: anyone in the group could have planted an entry.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    let run = cached(&plugin, "compiled, now cached");
    assert!(
        run.stderr.contains("is open to other users"),
        "{}",
        run.stderr
    );
    cached(&plugin, "all from the compiled cache");

    // A forged entry: another plugin's compiled code under this plugin's name, with the
    // sha256 of its bytes beside it, as anyone could compute.
    let other = patched(
        &plugin,
        HOSTILE_TOML,
        &[("attacks the host (tests only)", "another plugin")],
        &dir.path().join("other.wasm"),
    );
    cached(&other, "compiled, now cached");
    let ours = sha256(&plugin);
    let theirs = sha256(&other);
    let entries: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let find = |prefix: &str, cwasm: bool| -> Vec<PathBuf> {
        entries
            .iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && name.ends_with(".cwasm") == cwasm
            })
            .cloned()
            .collect()
    };
    let planted = std::fs::read(&find(&theirs, true)[0]).unwrap();
    std::fs::write(&find(&ours, true)[0], &planted).unwrap();
    let plain = sha256_bytes(&planted);
    for sidecar in find(&ours, false) {
        std::fs::write(sidecar, &plain).unwrap();
    }
    let run = cached(&plugin, "compiled, now cached");
    assert!(
        run.stderr.contains("was not written by this user's host"),
        "{}",
        run.stderr
    );
    cached(&plugin, "all from the compiled cache");

    // Another user's directory: not read, not written.
    std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
    let run = cached(&plugin, "compiled, now cached");
    assert!(
        run.stderr.contains("belongs to uid 65534"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("not writing the compiled-plugin cache"),
        "{}",
        run.stderr
    );
}

fn sha256(path: &Path) -> String {
    sha256_bytes(&std::fs::read(path).unwrap())
}

fn sha256_bytes(bytes: &[u8]) -> String {
    let out = output_within(Command::new("sha256sum"), "sha256sum", Some(bytes));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// M7: an instance's memory is counted across all its core instances, memories and
/// tables: eight tables of a million elements each (each well within the limit alone)
/// stop the plugin as it is instantiated, naming the limit and its flag.
#[test]
fn memory_is_counted_across_instances_and_tables() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let manifest =
        "name = \"tables\"\nversion = \"0.1.0\"\nthreescale = [\"2.15\"]\nhooks = [\"restore\"]\n";
    let data: String = manifest.bytes().map(|b| format!("\\{b:02x}")).collect();
    let tables = "(core instance (instantiate $tables))\n".repeat(8);
    let hook = |name: &str| {
        format!(
            "(func (export \"{name}\") (result (result (error $error))) (canon lift (core func $m \"hook\") (memory (core memory $m \"memory\"))))\n"
        )
    };
    let wat = format!(
        r#"(component
  (type $cf (record (field "argv" (list string)) (field "exit-code" s32) (field "stderr-tail" string)))
  (export $command-failure "command-failure" (type $cf))
  (type $e (variant (case "denied" string) (case "not-found" string) (case "timeout" string)
    (case "command-failed" $command-failure) (case "invalid" string) (case "failed" string)))
  (export $error "error" (type $e))
  (core module $tables (table 1000000 funcref))
  {tables}
  (core module $main
    (memory (export "memory") 1)
    (data (i32.const 64) "{data}")
    (func (export "describe") (result i32)
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const {len}))
      (i32.const 0))
    (func (export "hook") (result i32)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.const 16)))
  (core instance $m (instantiate $main))
  (func (export "describe") (result string) (canon lift (core func $m "describe") (memory (core memory $m "memory"))))
  {backup}{quiesce}{restore}{resume})"#,
        len = manifest.len(),
        backup = hook("backup"),
        quiesce = hook("quiesce"),
        restore = hook("restore"),
        resume = hook("resume"),
    );
    let bare = dir.path().join("bare.wasm");
    std::fs::write(&bare, wat::parse_str(&wat).unwrap()).unwrap();
    let plugin = with_section(
        &bare,
        "host-plugin-manifest",
        manifest.as_bytes(),
        &dir.path().join("tables.wasm"),
    );
    let set = tempfile::tempdir().unwrap();
    let m = restore(sim, &plugin, set.path(), &["--plugin-memory", "64"]);
    assert_eq!(m.run.code, Some(1), "{}", m.run.all());
    assert!(
        m.run
            .all()
            .contains("plugin tables, describe: exceeded its memory limit of 64 MiB (--plugin-memory) and was stopped"),
        "{}",
        m.run.all()
    );
    assert!(m.peak_rss_mib < 200, "peak RSS {} MiB", m.peak_rss_mib);
}
