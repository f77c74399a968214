//! Disaster recovery into a new namespace, the manual's 9.5.1: a cluster with only the
//! 3scale operator installed. The restore puts the Secrets and ConfigMaps back first,
//! then creates the APIManager from the set, waits for the operator to deploy 3scale,
//! and loads the data; the restored install holds what the old one did.

mod common;

use common::{Sim, plugins_dir};

#[test]
fn a_set_restores_into_a_namespace_with_only_the_operator() {
    let old = Sim::start();
    old.sim(&["seed", "--size", "4MiB"]);
    let before = old.fingerprint();
    let spec = old.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"].clone();
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let set = tempfile::tempdir().unwrap();
    let dir = set.path().to_str().unwrap();
    old.host_ok(&["backup", "--plugins", plugins, "--backup-dir", dir]);
    drop(old);

    // On a fresh install the operator's system-app-pre Job can start before MySQL answers;
    // it then fails and is retried with the Job controller's doubling back-off, as on a
    // real cluster. A 1 s base keeps those retries within the test's time.
    let new = Sim::start_with(&["--empty", "--job-backoff-seconds", "1"]);
    let none = new.kubectl(&["get", "apimanager", "3scale"]);
    assert!(
        !none.status.success(),
        "the new namespace already has 3scale"
    );

    let run = new.host_ok(&["restore", "--plugins", plugins, "--backup-dir", dir]);
    assert!(run.stdout.contains("restore complete"), "{}", run.stdout);
    assert!(
        run.all()
            .contains("restoring into a new namespace (manual 9.5.1)"),
        "{}",
        run.all()
    );
    // 9.5.1's order: Secrets and ConfigMaps before the APIManager exists.
    let all = run.all();
    let order: Vec<&str> = all
        .lines()
        .filter(|l| l.ends_with("restore: started") || l.ends_with("quiesce: started"))
        .collect();
    let at = |p: &str| {
        order
            .iter()
            .position(|l| l.starts_with(p))
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("secrets") < at("apimanager") && at("configmaps") < at("apimanager"),
        "{order:?}"
    );
    // The new install's system-app is scaled down (9.5) once the APIManager exists, and
    // before the data load.
    assert!(
        at("apimanager") < at("system-app quiesce")
            && at("system-app quiesce") < at("system-mysql"),
        "{order:?}"
    );

    let after = new.fingerprint();
    for (component, fp) in before["components"].as_object().unwrap() {
        assert_eq!(&after["components"][component], fp, "{component} differs");
    }
    assert_eq!(
        new.json(&["get", "apimanager", "3scale", "-o", "json"])["spec"],
        spec,
        "the APIManager is not the one backed up"
    );
    for deployment in ["system-app", "zync", "zync-que", "system-sidekiq"] {
        new.pod(deployment);
    }
}

#[test]
fn a_set_made_by_hand_does_not_restore_into_an_empty_namespace() {
    let new = Sim::start_with(&["--empty"]);
    let set = tempfile::tempdir().unwrap();
    std::fs::write(
        set.path().join("system-seed.json"),
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"system-seed"},"data":{}}"#,
    )
    .unwrap();
    let plugins = plugins_dir();
    let run = new.host(&[
        "restore",
        "--plugins",
        plugins.to_str().unwrap(),
        "--backup-dir",
        set.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(
        run.stderr.contains("cannot tell which 3scale version"),
        "{}",
        run.stderr
    );
    let secret = new.kubectl(&["get", "secret", "system-seed"]);
    assert!(
        !secret.status.success(),
        "a Secret was applied before the refusal"
    );
}
