//! A second real client: the official Kubernetes Python client (PyPI `kubernetes` 37.0.2,
//! installed by ./scripts/setup in /opt/sim-python) runs its everyday calls against the
//! simulator; sim/tests/python/checks.py reports each as ok or FAIL with the reason.

mod common;

use std::path::PathBuf;
use std::process::Command;

const CHECKS: &[&str] = &[
    "version",
    "list namespaces",
    "list pods",
    "read a pod",
    "list pods by label selector",
    "read a Deployment and its status",
    "patch a Deployment's replicas",
    "list and read ConfigMaps",
    "list and read Secrets",
    "read and patch the APIManager",
    "list Services and PersistentVolumeClaims",
    "exec with a str stdin",
    "exec in a named container of system-app",
    "exec without a container on system-app is a 400",
    "watch Deployments",
    "list ReplicaSets",
    "list Events",
];

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SIM_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from("/opt/sim-python/bin/python3");
    assert!(
        venv.exists(),
        "the Python client is not installed: run ./scripts/setup (it makes /opt/sim-python \
         with kubernetes==37.0.2), or point SIM_PYTHON at a python3 that has it"
    );
    venv
}

#[test]
fn the_official_python_client_does_its_everyday_calls() {
    let sim = common::shared(None);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/checks.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&sim.kubeconfig)
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let traces = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "checks.py failed:\n{report}\n{traces}"
    );
    let mut failures = Vec::new();
    for check in CHECKS {
        let line = report
            .lines()
            .find(|l| l.split('\t').nth(1) == Some(*check))
            .unwrap_or_else(|| panic!("no result for `{check}`:\n{report}\n{traces}"));
        if line.split('\t').next() != Some("ok") {
            failures.push(line.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "calls that failed:\n{}\n\nfull report:\n{report}\n{traces}",
        failures.join("\n")
    );
}
