//! A real API server answers some requests with 500 during an etcd leader election or an
//! upgrade. With a fifth of all requests failing, a full backup and a full restore still
//! succeed (idempotent calls are retried with backoff), and when the server keeps failing
//! the message names the call and the server's answer in words.

mod common;

use common::{Sim, plugins_dir};

#[test]
fn a_backup_and_a_restore_succeed_while_a_fifth_of_the_requests_fail() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "4MiB"]);
    let before = sim.fingerprint();
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path().to_str().unwrap();

    let fault = sim.fault("error-rate=0.2");
    sim.sim(&["fault", "error-code=500"]);
    let run = sim.host_ok(&["backup", "--plugins", plugins, "--backup-dir", dir]);
    assert!(run.stdout.contains("backup complete"), "{}", run.stdout);
    drop(fault);

    sim.sim(&["damage"]);
    let _fault = sim.fault("error-rate=0.2");
    sim.sim(&["fault", "error-code=500"]);
    let run = sim.host_ok(&["restore", "--plugins", plugins, "--backup-dir", dir]);
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    drop(_fault);

    let after = sim.fingerprint();
    for (component, fp) in before["components"].as_object().unwrap() {
        assert_eq!(&after["components"][component], fp, "{component} differs");
    }

    // A server that answers nothing but 500: the run ends with the server's answer in
    // words, naming what was being done, not a debug dump of a Status.
    let _down = sim.fault("error-rate=1.0");
    sim.sim(&["fault", "error-code=500"]);
    let run = sim.host(&["backup", "--plugins", plugins, "--backup-dir", dir]);
    assert_ne!(run.code, Some(0), "{}", run.all());
    let message = run.stderr.trim();
    assert!(
        message.contains("cannot reach the API server at https://127.0.0.1:")
            && message
                .contains("the API server answered 500 Internal Server Error (InternalError)"),
        "{message}"
    );
    assert!(!message.contains("Status {"), "{message}");
}
