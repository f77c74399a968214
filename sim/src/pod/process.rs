//! A pod's processes: started in fresh mount, network, UTS and PID namespaces with
//! `unshare`, entered for exec with `nsenter`, stopped with the container's stop signal
//! and, after the grace period, SIGKILL to its PID 1 (which takes the whole PID namespace
//! with it, so nothing is left behind).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::templates::Template;
use crate::{Result, SimError};

/// A started pod: running, or already over (with PID 1's exit code).
pub enum Launch {
    Running(PodProcess),
    Exited(Option<i32>),
}

pub struct PodProcess {
    unshare: Child,
    /// PID 1 of the pod, as the machine numbers it.
    pub init_pid: i32,
}

impl PodProcess {
    /// Starts `script` as PID 1 of a new pod; its output goes to `log`.
    pub async fn launch(pod: &str, script: &Path, log: &Path) -> Result<PodProcess> {
        Self::launch_in_network(pod, script, log, None).await
    }

    /// The same, in the network namespace of the process `net_of` when given: pods have a
    /// loopback each, so a pod that talks to another's server over the cluster network
    /// joins that server's network instead.
    pub async fn launch_in_network(
        pod: &str,
        script: &Path,
        log: &Path,
        net_of: Option<i32>,
    ) -> Result<PodProcess> {
        match Self::start(pod, script, log, net_of).await? {
            Launch::Running(p) => Ok(p),
            Launch::Exited(status) => Err(SimError::pod(
                pod,
                format!(
                    "pod init exited at once ({status:?}); see {}",
                    log.display()
                ),
            )),
        }
    }

    /// `launch_in_network` for a pod whose command may be over before its PID 1 is seen
    /// (a Job's or a hook's that fails at once): that is an exit, with its code.
    pub async fn start(
        pod: &str,
        script: &Path,
        log: &Path,
        net_of: Option<i32>,
    ) -> Result<Launch> {
        let out = std::fs::File::create(log).map_err(|e| SimError::io(log, e))?;
        let err = out.try_clone()?;
        let mut unshare = match net_of {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/proc/{pid}/ns/net"))
                    .args(["--", "unshare"]);
                c
            }
            None => {
                let mut c = Command::new("unshare");
                c.arg("--net");
                c
            }
        };
        unshare
            .args([
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                // If the simulator dies without stopping its pods, unshare gets SIGKILL
                // (PDEATHSIG below) and passes it on to PID 1, which ends the whole pod.
                "--kill-child=SIGKILL",
                "--",
                "/bin/bash",
            ])
            .arg(script)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            unshare.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut unshare = unshare
            .spawn()
            .map_err(|e| SimError::pod(pod, format!("cannot run unshare: {e}")))?;
        let outer = unshare.id().expect("just spawned") as i32;
        let children = PathBuf::from(format!("/proc/{outer}/task/{outer}/children"));
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&children)
                && let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok())
            {
                return Ok(Launch::Running(PodProcess {
                    unshare,
                    init_pid: pid,
                }));
            }
            if let Ok(Some(status)) = unshare.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                return Ok(Launch::Exited(
                    status.code().or_else(|| status.signal().map(|s| 128 + s)),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(SimError::pod(pod, "pod init did not start"))
    }

    /// Whether PID 1 is still there.
    pub fn running(&mut self) -> bool {
        matches!(self.unshare.try_wait(), Ok(None))
    }

    /// Waits for the pod to end by itself.
    pub async fn wait(&mut self) {
        let _ = self.unshare.wait().await;
    }

    /// Waits for the pod to end by itself; its PID 1's exit code (128 + signal if killed).
    pub async fn wait_status(&mut self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.unshare.wait().await.ok()?;
        status.code().or_else(|| status.signal().map(|s| 128 + s))
    }

    /// Asks PID 1 to stop (it forwards the container's stop signal to the server), and
    /// kills the PID namespace if it is still there after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if !self.running() {
            return;
        }
        let _ = kill(Pid::from_raw(self.init_pid), Signal::SIGTERM);
        if tokio::time::timeout(grace, self.unshare.wait())
            .await
            .is_err()
        {
            self.kill().await;
        }
    }

    /// SIGKILL to PID 1: the kernel then kills everything in the pod.
    pub async fn kill(&mut self) {
        let _ = kill(Pid::from_raw(self.init_pid), Signal::SIGKILL);
        let _ = self.unshare.wait().await;
    }
}

/// A command run inside a pod, as `kubectl exec` runs it in a container: the container's
/// user, environment and home, and the namespaces of `target` (the pod's PID 1, or the
/// process of one container of a multi-container pod, whose mount namespace is its own).
/// It gets its own process group so the whole command (a `bash -c` pipeline) can be killed
/// when the client goes away.
pub fn exec_command(
    target: i32,
    template: &Template,
    env: &[(String, String)],
    argv: &[String],
) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg("--target")
        .arg(target.to_string())
        .args(["--mount", "--uts", "--net", "--pid", "--"]);
    if let Some(user) = template.user {
        cmd.arg("setpriv")
            .arg(format!("--reuid={user}"))
            .arg(format!("--regid={user}"))
            .args(["--init-groups", "--"]);
    }
    cmd.args(["env", "-i", "-C", template.home]);
    for (k, v) in env {
        cmd.arg(format!("{k}={v}"));
    }
    cmd.args(argv);
    cmd.process_group(0).kill_on_drop(true);
    cmd
}

/// Whether the runtime would find `program` to start in the container: a path as given
/// (relative ones from the working directory, the container's home here), else the first
/// regular, executable file of that name on the container's `PATH`. runc resolves argv[0]
/// so before it execs (`exec.LookPath(l.config.Args[0])` in libcontainer/
/// setns_init_linux.go, linuxSetnsInit.Init), and an exec whose program is missing never
/// starts. Looked up through `/proc/TARGET/root`, the
/// container's view of the filesystem with its own mounts.
pub fn resolves(target: i32, template: &Template, env: &[(String, String)], program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let root = std::path::PathBuf::from(format!("/proc/{target}/root"));
    let inside = |p: &str| root.join(p.trim_start_matches('/'));
    let executable = |p: std::path::PathBuf| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() {
        return false;
    }
    if program.starts_with('/') {
        return executable(inside(program));
    }
    if program.contains('/') {
        return executable(inside(template.home).join(program));
    }
    env.iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        // What `env` (and the runtimes' images) fall back to without one.
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .split(':')
        .filter(|dir| !dir.is_empty())
        .any(|dir| executable(inside(dir).join(program)))
}

/// The machine's PID of each container process of a multi-container pod: the children of
/// the pod's PID 1 that run the container's script (see `scripts::container_script`).
pub fn container_pids(init_pid: i32, scripts: &[(&str, String)]) -> Vec<(String, i32)> {
    let children = std::fs::read_to_string(format!("/proc/{init_pid}/task/{init_pid}/children"))
        .unwrap_or_default();
    let mut found = Vec::new();
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        // Until unshare has exec'd bash, the child still shows the pod script's command line.
        if !cmdline.starts_with("/bin/bash\0") {
            continue;
        }
        if let Some((name, _)) = scripts.iter().find(|(_, script)| {
            cmdline
                .split('\0')
                .nth(1)
                .is_some_and(|arg| arg.ends_with(&format!("/{script}")))
        }) {
            found.push((name.to_string(), pid));
        }
    }
    found
}

/// Kills an exec'd command and everything it started.
pub fn kill_group(leader: Option<u32>) {
    if let Some(pid) = leader {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
}

/// The newest PostgreSQL installed from Debian's packages.
pub fn postgres_bin() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| SimError::io("/usr/lib/postgresql", e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        SimError::Other("PostgreSQL is not installed (apt-get install postgresql)".into())
    })
}
