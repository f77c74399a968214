//! Least privilege, proven: a backup and a restore succeed under a ServiceAccount that has
//! only the Role `host rbac` prints for the plugins, and without one of its rules they
//! stop, naming the permission, before the restore changes anything.

mod common;

use std::path::{Path, PathBuf};

use common::{Sim, assert_same, plugins_dir};
use serde_json::Value;

/// The sim's kubeconfig with the admin's token swapped for `token`.
fn kubeconfig_with(sim: &Sim, token: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let swapped: Vec<String> = text
        .lines()
        .map(|l| match l.find("token: ") {
            Some(at) => format!("{}token: {token}", &l[..at]),
            None => l.to_string(),
        })
        .collect();
    assert!(
        swapped.iter().any(|l| l.ends_with(token)),
        "no token line in {text}"
    );
    let path = dir.join("kubeconfig-host");
    std::fs::write(&path, swapped.join("\n")).unwrap();
    path
}

fn apply(sim: &Sim, yaml: &str) {
    let out = sim.kubectl_stdin(&["apply", "-f", "-"], yaml.as_bytes());
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Role without the rule that grants `verb` on `resource` (and those names).
fn role_without(role: &Value, resource: &str, verb: &str) -> Value {
    let mut role = role.clone();
    let rules = role["rules"].as_array_mut().unwrap();
    let before = rules.len();
    rules.retain(|r| {
        !(r["resources"][0] == resource && r["verbs"].as_array().unwrap().iter().any(|v| v == verb))
    });
    assert!(rules.len() < before, "no rule for {verb} {resource}");
    role
}

#[test]
fn backup_and_restore_run_with_only_the_generated_role_and_a_missing_rule_is_named() {
    let sim = Sim::start();
    sim.sim(&["seed", "--size", "4MiB"]);
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();

    let printed = sim
        .host_ok(&["rbac", "--plugins", plugins, "-n", "3scale"])
        .stdout;
    apply(&sim, &printed);
    let token = sim.ok(&["create", "token", "host", "-n", "3scale"]);
    let kubeconfig = kubeconfig_with(&sim, token.trim(), work.path());
    let as_host = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
        all.extend_from_slice(args);
        sim.host(&all)
    };
    // The token is not the admin's: what no plugin asks for is refused.
    let denied = sim.kubectl(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "get",
        "services",
    ]);
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains(
            "User \"system:serviceaccount:3scale:host\" cannot list resource \"services\""
        ),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );

    let before = sim.fingerprint();
    let set = work.path().join("set");
    // The nightly job's monitoring: the result as Prometheus metrics.
    let metrics = work.path().join("host.prom");
    let run = as_host(&[
        "backup",
        "--plugins",
        plugins,
        "--backup-dir",
        set.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    let labels = "{kind=\"backup\",namespace=\"3scale\"}";
    let value = |name: &str| -> Option<String> {
        std::fs::read_to_string(&metrics)
            .unwrap()
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name}{labels} "))
                    .map(str::to_string)
            })
    };
    assert_eq!(value("host_last_run_success").as_deref(), Some("1"));
    let good_at = value("host_last_success_timestamp_seconds").unwrap();

    sim.sim(&["damage"]);
    sim.settle_system_app();
    let run = as_host(&[
        "restore",
        "--plugins",
        plugins,
        "--backup-dir",
        set.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_same(&before, &sim.fingerprint());

    // One rule fewer: system-app and the rest cannot be scaled. The restore asks first,
    // and is refused with the permission named, before it changes anything.
    let list: Value = serde_json::from_str(
        &sim.host_ok(&["rbac", "--plugins", plugins, "-n", "3scale", "-o", "json"])
            .stdout,
    )
    .unwrap();
    let docs = list["items"].as_array().unwrap();
    let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
    apply(
        &sim,
        &serde_json::to_string(&role_without(role, "deployments", "patch")).unwrap(),
    );
    let replicas = sim.ok(&[
        "get",
        "deployment",
        "system-app",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    let run = as_host(&[
        "restore",
        "--plugins",
        plugins,
        "--backup-dir",
        set.to_str().unwrap(),
    ]);
    assert_eq!(
        run.code,
        Some(3),
        "refused before changing anything: {}",
        run.all()
    );
    assert!(
        run.stderr
            .contains("get,patch deployments.apps: backend-redis, backend-worker, system-app,"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("host rbac"), "{}", run.stderr);
    assert_eq!(
        sim.ok(&[
            "get",
            "deployment",
            "system-app",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        replicas,
        "nothing was scaled"
    );

    // Without exec, a backup cannot run a dump: it fails, in the API server's words (a
    // WebSocket exec is a GET, refused as `get` first).
    apply(
        &sim,
        &serde_json::to_string(&role_without(role, "pods/exec", "create")).unwrap(),
    );
    let other = work.path().join("other");
    let run = as_host(&[
        "backup",
        "--plugins",
        plugins,
        "--backup-dir",
        other.to_str().unwrap(),
        "--metrics-file",
        metrics.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{}", run.all());
    // The failure shows, and the last good backup's time stays for the alert.
    assert_eq!(value("host_last_run_success").as_deref(), Some("0"));
    assert_eq!(value("host_last_run_exit_code").as_deref(), Some("1"));
    assert_eq!(value("host_last_success_timestamp_seconds"), Some(good_at));
    assert!(
        run.all().contains(
            "User \"system:serviceaccount:3scale:host\" cannot get resource \"pods/exec\""
        ),
        "{}",
        run.all()
    );
}
