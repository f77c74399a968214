//! An API server older than Kubernetes 1.30 (OpenShift before 4.17) offers exec only over
//! `v4.channel.k8s.io`, which cannot close a command's stdin: a dump streamed into
//! `mysql` or `psql` would never end. A backup (nothing streams in) works; a restore is
//! refused before it changes anything, naming the server and the reason. Nothing hangs.

mod common;

use common::{Sim, plugin, plugins_dir};

#[test]
fn a_v4_only_server_backs_up_and_refuses_to_restore_before_any_change() {
    let sim = Sim::start_with(&["--exec-protocols", "v4"]);
    sim.sim(&["seed", "--size", "2MiB"]);
    let set = tempfile::tempdir().unwrap();
    let dir = set.path().to_str().unwrap();
    let plugins = plugins_dir();
    let run = sim.host_ok(&[
        "backup",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        dir,
    ]);
    assert!(run.stdout.contains("backup complete"), "{}", run.stdout);

    let spec = sim.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"].clone();
    let app =
        sim.json(&["get", "deployment", "system-app", "-o", "json"])["metadata"]["generation"]
            .clone();
    let run = sim.host(&[
        "restore",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        dir,
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr
            .contains("offers exec only over v4.channel.k8s.io")
            && run.stderr.contains("https://127.0.0.1:")
            && run.stderr.contains("Nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("quiesce: started"), "{}", run.stdout);
    assert_eq!(
        sim.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"],
        spec
    );
    assert_eq!(
        sim.json(&["get", "deployment", "system-app", "-o", "json"])["metadata"]["generation"],
        app,
        "system-app was changed"
    );

    // One plugin on its own is refused the same way before its first change.
    let zync = plugin("3scale-2.15", "zync.wasm");
    let run = sim.run_plugin("restore", &zync, set.path());
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert_eq!(
        sim.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"],
        spec
    );
}
