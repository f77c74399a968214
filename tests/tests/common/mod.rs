//! What the end-to-end tests stand on: a `sim serve` process, the real kubectl pointed at
//! it, and the `host` binary run as a user runs it.
#![allow(dead_code)]

pub mod lifetime;
pub mod manual;
pub mod plugin_bytes;
pub mod s3;
pub mod tamper;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub struct Sim {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    cache: PathBuf,
    child: Mutex<Option<Child>>,
    _temp: Option<tempfile::TempDir>,
}

/// The workspace's target/<profile> directory, where `cargo build -p host -p sim` put the
/// binaries (this test executable lives in its deps/).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` from the workspace root (./scripts/test), which builds it",
        path.display()
    );
    path
}

pub fn sim_bin() -> PathBuf {
    bin("sim")
}

pub fn host_bin() -> PathBuf {
    bin("host")
}

/// Plugins built by ./scripts/build-plugins.
pub fn plugin(set: &str, file: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/plugins")
        .join(set)
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/build-plugins (./scripts/test does)",
        path.display()
    );
    path
}

pub fn plugins_dir() -> PathBuf {
    plugin_set("2.15")
}

/// The plugin set for a 3scale release, e.g. target/plugins/3scale-2.14.
pub fn plugin_set(release: &str) -> PathBuf {
    plugin_sets().join(format!("3scale-{release}"))
}

/// target/plugins: every set, one per release (and the test plugins'), for the host to
/// choose from.
pub fn plugin_sets() -> PathBuf {
    // Without the trailing slash, as the host prints the sets it finds in it.
    plugin("", "").components().collect()
}

/// Every component's fingerprint in `after` is the one in `before`.
pub fn assert_same(before: &serde_json::Value, after: &serde_json::Value) {
    for (component, fp) in before["components"].as_object().unwrap() {
        assert_eq!(
            &after["components"][component], fp,
            "{component} differs after the restore"
        );
    }
}

/// What a `host` run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Sim {
    /// Starts `sim serve` on a fresh directory.
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    /// Starts `sim serve` on a fresh directory with more flags (`--empty`,
    /// `--exec-protocols v4`, ...).
    pub fn start_with(flags: &[&str]) -> Sim {
        let temp = tempfile::Builder::new()
            .prefix("sim-test-")
            .tempdir()
            .unwrap();
        let mut sim = Sim::start_in(temp.path(), flags);
        sim._temp = Some(temp);
        sim
    }

    /// Starts `sim serve --dir DIR FLAGS`. The child gets SIGTERM if the thread that
    /// started it ends, so a test binary that panics never leaves a cluster running.
    pub fn start_in(dir: &Path, flags: &[&str]) -> Sim {
        let mut cmd = Command::new(sim_bin());
        cmd.args(["serve", "--dir"])
            .arg(dir)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child: Child = lifetime::spawn_for_process(cmd).expect("sim serve starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = dir.join("serve.log");
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(log).unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(f, "{line}");
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(
            ready.starts_with("ready kubeconfig="),
            "sim serve did not get ready: {ready:?}; log: {}",
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        let cache = dir.join("kubectl-cache");
        Sim {
            dir: dir.to_path_buf(),
            kubeconfig: dir.join("kubeconfig"),
            cache,
            child: Mutex::new(Some(child)),
            _temp: None,
        }
    }

    /// Stops it with SIGTERM and returns its exit status code.
    pub fn stop(&self) -> Option<i32> {
        let mut child = self.child.lock().unwrap().take()?;
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("sim serve did not stop within 60s of SIGTERM");
    }

    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache)
            .stdin(Stdio::null());
        cmd
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        output_within(self.kubectl_cmd(args), &format!("kubectl {args:?}"), None)
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn kubectl_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        output_within(
            self.kubectl_cmd(args),
            &format!("kubectl {args:?}"),
            Some(input),
        )
    }

    pub fn pod(&self, deployment: &str) -> String {
        self.pod_with(&format!("deployment={deployment}"))
    }

    /// A running pod matching a label selector (`deploymentConfig=system-mysql` in 2.14).
    pub fn pod_with(&self, selector: &str) -> String {
        let json: serde_json::Value =
            serde_json::from_str(&self.ok(&["get", "pods", "-l", selector, "-o", "json"])).unwrap();
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running"
            })
            .unwrap_or_else(|| panic!("no running pod for {selector}: {json}"))["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `redis-cli CONFIG GET KEY` in the running pod matching `selector`.
    pub fn redis_config(&self, selector: &str, key: &str) -> String {
        let pod = self.pod_with(selector);
        let out = self.ok(&["exec", &pod, "--", "redis-cli", "CONFIG", "GET", key]);
        out.lines().nth(1).unwrap_or("").trim().to_string()
    }

    /// How often `rake zync:resync:domains` ran (9.5.8.2).
    pub fn resyncs(&self) -> usize {
        self.sim(&["events"])
            .lines()
            .filter(|l| l.contains("rake zync:resync:domains"))
            .count()
    }

    pub fn apimanager_spec(&self) -> serde_json::Value {
        self.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"].clone()
    }

    pub fn sim(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(sim_bin());
        cmd.args(args).arg("--dir").arg(&self.dir);
        let out = output_within(cmd, &format!("sim {args:?}"), None);
        assert!(
            out.status.success(),
            "sim {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Waits until the operator is done with system-app (rolled out, its system-app-pre
    /// Job complete), so that a restore does not start in the middle of its reconcile.
    ///
    /// After `sim damage` the Job may not be able to complete before a restore: its pod
    /// waits for a ConfigMap the damage deleted, which the operator recreates only when
    /// something makes it reconcile (it watches neither Jobs nor those ConfigMaps,
    /// apimanager_controller.go:365-385), or it fails against a database whose password
    /// the damage changed, and is retried after a back-off. Neither is the middle of a
    /// reconcile, and a restore brings Secrets and ConfigMaps back first and waits for the
    /// Job itself: settled is "no pod of the Job is running or about to run".
    pub fn settle_system_app(&self) {
        self.ok(&[
            "rollout",
            "status",
            "deployment/system-app",
            "--timeout=300s",
        ]);
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let job = self.kubectl(&["get", "job", "system-app-pre", "-o", "json"]);
            if !job.status.success() {
                return;
            }
            let job: serde_json::Value = serde_json::from_slice(&job.stdout).unwrap();
            let complete = job["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Complete" && c["status"] == "True");
            if complete {
                return;
            }
            let pods = self.json(&["get", "pods", "-l", "job-name=system-app-pre", "-o", "json"]);
            let busy = pods["items"].as_array().into_iter().flatten().any(|p| {
                let waiting = &p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"];
                p["status"]["phase"] == "Running"
                    || (p["status"]["phase"] == "Pending"
                        && waiting != "CreateContainerConfigError")
            });
            if !busy {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job system-app-pre did not complete within 300s: {job}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs `host ARGS` against this cluster (its kubeconfig, a test-owned cache).
    pub fn host(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(host_bin());
        cmd.args(args);
        self.host_run(cmd, &format!("host {args:?}"))
    }

    /// Runs `cmd` (the host binary, maybe through a wrapper such as `sh -c 'umask 002;
    /// exec "$@"'`) with this cluster's environment.
    pub fn host_run(&self, mut cmd: Command, what: &str) -> Run {
        self.host_env(&mut cmd);
        let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            output_within(cmd, what, None)
        })) {
            Ok(out) => out,
            Err(hung) => {
                // What the cluster did meanwhile says why the host waited.
                let message = hung.downcast_ref::<String>().cloned().unwrap_or_default();
                let events = self.sim(&["events"]);
                let lines: Vec<&str> = events.lines().collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                panic!("{message}\nthe last sim events:\n{tail}");
            }
        };
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!("{what} -> {:?}\n{}", run.code, run.all());
        run
    }

    /// The environment a `host` run of this cluster gets: its kubeconfig, a test-owned
    /// cache, and the state directory (journal key, restores' run state) kept per test
    /// cluster rather than in the user's home.
    pub fn host_env(&self, cmd: &mut Command) {
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HOST_CACHE_DIR", self.dir.join("host-cache"))
            .env("XDG_STATE_HOME", self.dir.join("host-state"));
    }

    /// `host` that must exit 0.
    pub fn host_ok(&self, args: &[&str]) -> Run {
        let run = self.host(args);
        assert_eq!(run.code, Some(0), "host {args:?} failed:\n{}", run.all());
        run
    }

    /// `host run HOOK --plugin PLUGIN --backup-dir SET`.
    pub fn run_plugin(&self, hook: &str, plugin: &Path, set: &Path) -> Run {
        self.host(&[
            "run",
            hook,
            "--plugin",
            plugin.to_str().unwrap(),
            "--backup-dir",
            set.to_str().unwrap(),
        ])
    }

    /// Sets a fault (`sim fault NAME=VALUE`) until the returned guard is dropped.
    pub fn fault(&self, knob: &str) -> Fault<'_> {
        self.sim(&["fault", knob]);
        Fault(self)
    }

    /// A bash script run in `dir` with kubectl pointed at this cluster (the manual's
    /// commands are shell pipelines). Must succeed; returns stdout.
    pub fn shell(&self, dir: &Path, script: &str) -> String {
        let mut cmd = Command::new("bash");
        cmd.arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", &self.cache);
        let out = output_within(cmd, "a shell script", None);
        assert!(
            out.status.success(),
            "script failed ({}):\n{script}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    pub fn fingerprint(&self) -> serde_json::Value {
        serde_json::from_str(&self.sim(&["fingerprint", "--json"])).unwrap()
    }

    /// The fingerprint once the operator is done acting on a change (after `sim damage`
    /// it recreates some Secrets a reconcile later, when the pods that need them fail):
    /// two fingerprints several operator delays apart that agree. A test that checks a
    /// refused run changed nothing compares against this, not against a cluster still
    /// in the operator's hands.
    pub fn quiet_fingerprint(&self) -> serde_json::Value {
        let mut last = self.fingerprint();
        for _ in 0..60 {
            std::thread::sleep(Duration::from_secs(3));
            let now = self.fingerprint();
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the cluster was still changing after 3 minutes: {last}");
    }

    /// The host's state directory in the tests (`$XDG_STATE_HOME/host`): the journal
    /// key, and the run state of restores under runs/.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("host-state/host")
    }

    /// The run directories in the state directory of restores (and resumes) of `set`,
    /// as their run.json names it, oldest first.
    pub fn runs_of(&self, set: &Path) -> Vec<PathBuf> {
        let want = std::fs::canonicalize(set).unwrap_or_else(|_| set.to_path_buf());
        let Ok(entries) = std::fs::read_dir(self.state_dir().join("runs")) else {
            return Vec::new();
        };
        let mut runs: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|run| {
                std::fs::read(run.join("run.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|r| r["set"].as_str().map(PathBuf::from))
                    .is_some_and(|s| std::fs::canonicalize(&s).unwrap_or(s) == want)
            })
            .collect();
        runs.sort();
        runs
    }

    /// Every audit line of every run on `set`: a backup's, kept in the set's runs/, and
    /// a restore's, kept in the state directory.
    pub fn audit(&self, set: &Path) -> Vec<serde_json::Value> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(set.join("runs"))
            .map(|e| e.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        dirs.extend(self.runs_of(set));
        let mut lines = Vec::new();
        for run in dirs {
            let text = std::fs::read_to_string(run.join("audit.jsonl")).unwrap_or_default();
            lines.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
            );
        }
        lines
    }
}

/// Longest any one command of a test may take. A hang is a failure with the output so
/// far, not a test run that never ends.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Runs `cmd` with `input` as its stdin (closed when `None`), killing its whole process
/// group if it outlives [`COMMAND_LIMIT`].
pub fn output_within(mut cmd: Command, what: &str, input: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let group = child.id() as i32;
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let hung = finished.recv_timeout(COMMAND_LIMIT).is_err();
        if hung {
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        hung
    });
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        // A command may exit without reading all of it; its status tells.
        let _ = pipe.write_all(input);
    }
    let status = child.wait().unwrap();
    let _ = done.send(());
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    if watchdog.join().unwrap() {
        panic!(
            "{what} hung: killed after {}s\n{}{}",
            COMMAND_LIMIT.as_secs(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = pipe.read_to_end(&mut kept);
        kept
    })
}

/// A fault set in the simulator for as long as this lives (reset when dropped, even when
/// the test fails, so a shared simulator is clean for the next test).
pub struct Fault<'a>(&'a Sim);

impl Drop for Fault<'_> {
    fn drop(&mut self) {
        self.0.sim(&["fault", "--reset"]);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

static SHARED: OnceLock<Sim> = OnceLock::new();

/// One simulator shared by the tests of a file, seeded once, stopped and removed when the
/// test binary exits.
pub fn shared(seed_size: Option<&str>) -> &'static Sim {
    shared_with(seed_size, &[])
}

/// [`shared`], started with more `serve` flags (`--threescale 2.14`, ...).
pub fn shared_with(seed_size: Option<&str>, flags: &[&str]) -> &'static Sim {
    SHARED.get_or_init(|| {
        let sim = Sim::start_with(flags);
        if let Some(size) = seed_size {
            sim.sim(&["seed", "--size", size]);
        }
        extern "C" fn stop_shared() {
            if let Some(sim) = SHARED.get() {
                sim.stop();
                let _ = std::fs::remove_dir_all(&sim.dir);
            }
        }
        unsafe {
            libc::atexit(stop_shared);
        }
        sim
    })
}
