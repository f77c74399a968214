//! Servers a test binary starts once and shares (the simulator, moto, the registry).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// Spawns `cmd` so that it dies with the test process, and only then.
///
/// PDEATHSIG fires when the parent *thread* ends, not the process, and a test's own
/// thread ends with its test: a server started from it would get SIGTERM under the
/// tests that still share it. So the spawn happens on a thread that parks forever.
pub fn spawn_for_process(mut cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        let ok = spawned.is_ok();
        tx.send(spawned).unwrap();
        if ok {
            loop {
                std::thread::park();
            }
        }
    });
    rx.recv().unwrap()
}
