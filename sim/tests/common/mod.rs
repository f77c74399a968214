//! A `sim serve` process for tests, and the real kubectl pointed at it.
#![allow(dead_code)]

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

pub fn sim_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sim")
}

impl Sim {
    /// Starts `sim serve` on a fresh directory.
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    /// Starts `sim serve` on a fresh directory with more `serve` arguments
    /// (`--exec-protocols v4`, `--empty`, `--operator-delay 0`, ...).
    pub fn start_with(args: &[&str]) -> Sim {
        let temp = tempfile::Builder::new()
            .prefix("sim-test-")
            .tempdir()
            .unwrap();
        let mut sim = Sim::start_in_with(temp.path(), args);
        sim._temp = Some(temp);
        sim
    }

    /// Starts `sim serve --dir DIR`. The child gets SIGTERM if the thread that started it
    /// ends, so a test binary that panics never leaves a cluster running.
    pub fn start_in(dir: &Path) -> Sim {
        Sim::start_in_with(dir, &[])
    }

    pub fn start_in_with(dir: &Path, args: &[&str]) -> Sim {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let dir_owned = dir.to_path_buf();
        std::thread::spawn(move || {
            let mut cmd = Command::new(sim_bin());
            cmd.args(["serve", "--dir"])
                .arg(&dir_owned)
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            let child = cmd.spawn().expect("sim serve starts");
            tx.send(child).unwrap();
            // Keep this thread (the child's parent for PDEATHSIG) alive with the process.
            loop {
                std::thread::park();
            }
        });
        let mut child: Child = rx.recv().unwrap();
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
        self.kubectl_cmd(args).output().expect("kubectl runs")
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
        let mut child = self
            .kubectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn pod(&self, deployment: &str) -> String {
        let json: serde_json::Value = serde_json::from_str(&self.ok(&[
            "get",
            "pods",
            "-l",
            &format!("deployment={deployment}"),
            "-o",
            "json",
        ]))
        .unwrap();
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running")
            .unwrap_or_else(|| panic!("no running pod for {deployment}: {json}"))["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn sim(&self, args: &[&str]) -> String {
        let out = Command::new(sim_bin())
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sim {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Polls `check` until it returns Some, for at most `secs` seconds.
    pub fn wait_for<T>(&self, secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check() {
                return v;
            }
            if std::time::Instant::now() >= deadline {
                // The last events say what was stuck; CI keeps only part of a long message.
                let events = self.sim(&["events"]);
                let lines: Vec<&str> = events.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                panic!("waited {secs}s for {what}; the last sim events:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kubectl get KIND NAME -o json`.
    pub fn json(&self, kind: &str, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["get", kind, name, "-o", "json"])).unwrap()
    }

    pub fn fingerprint(&self) -> serde_json::Value {
        serde_json::from_str(&self.sim(&["fingerprint", "--json"])).unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops a simulator kept in `cell` and removes its directory when the test binary exits.
pub fn stop_at_exit(cell: &'static OnceLock<Sim>) {
    static CELLS: Mutex<Vec<&'static OnceLock<Sim>>> = Mutex::new(Vec::new());
    extern "C" fn stop_all() {
        for cell in CELLS.lock().unwrap().iter() {
            if let Some(sim) = cell.get() {
                sim.stop();
                let _ = std::fs::remove_dir_all(&sim.dir);
            }
        }
    }
    let mut cells = CELLS.lock().unwrap();
    if cells.is_empty() {
        unsafe {
            libc::atexit(stop_all);
        }
    }
    cells.push(cell);
}

static SHARED: OnceLock<Sim> = OnceLock::new();

/// One simulator shared by the tests of a file, seeded once, stopped and removed when the
/// test binary exits.
pub fn shared(seed_size: Option<&str>) -> &'static Sim {
    shared_with(seed_size, &[])
}

/// The same with `serve` arguments (the first caller's count).
pub fn shared_with(seed_size: Option<&str>, args: &[&str]) -> &'static Sim {
    SHARED.get_or_init(|| {
        let sim = Sim::start_with(args);
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
