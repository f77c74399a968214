//! A plugin author's start: `host plugin new` writes a crate that cargo builds for
//! wasm32-wasip2 as it is, that `host inspect` accepts, and whose backup and restore
//! hooks run against the simulator.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Sim, host_bin, output_within, shared};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn host(args: &[&str]) -> String {
    let mut cmd = Command::new(host_bin());
    cmd.args(args);
    let out = output_within(cmd, &format!("host {args:?}"), None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "host {args:?} failed:\n{text}");
    text
}

#[test]
fn a_new_plugin_builds_inspects_and_backs_up_against_the_simulator() {
    let sim: &Sim = shared(None);
    // Inside the workspace's tree (target/tmp), where the crate finds guest-sdk and
    // contract by walking up, yet outside its members: a workspace of its own.
    let parent = tempfile::Builder::new()
        .prefix("plugin-new-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let dir = parent.path().join("apim-copy");
    let made = host(&["plugin", "new", "apim-copy", "--dir", dir.to_str().unwrap()]);
    assert!(
        made.contains("cargo build --release --target wasm32-wasip2"),
        "{made}"
    );
    for file in [
        "Cargo.toml",
        "plugin.toml",
        "build.rs",
        "src/lib.rs",
        "README.md",
    ] {
        assert!(dir.join(file).is_file(), "{file} was not written");
    }
    let again = Command::new(host_bin())
        .args(["plugin", "new", "apim-copy", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "a second `new` overwrites nothing"
    );

    // The workspace's lock pins the same dependency versions the shipped plugins build
    // with, so the build needs no registry; its target directory persists across runs.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = workspace().join("target/plugin-new");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args([
            "build",
            "--quiet",
            "--offline",
            "--release",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target);
    let out = output_within(cargo, "cargo build of the new plugin", None);
    assert!(
        out.status.success(),
        "the new plugin does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target.join("wasm32-wasip2/release/apim_copy.wasm");

    let inspect = host(&["inspect", wasm.to_str().unwrap()]);
    assert!(inspect.contains("apim-copy 0.1.0"), "{inspect}");
    assert!(inspect.contains("3scale versions: 2.15"), "{inspect}");
    assert!(inspect.contains("APIManager"), "{inspect}");

    let set = parent.path().join("set");
    let backup = sim.host_ok(&[
        "run",
        "backup",
        "--plugin",
        wasm.to_str().unwrap(),
        "--backup-dir",
        set.to_str().unwrap(),
    ]);
    assert!(
        backup.all().contains("1 APIManager(s) -> apim-copy.json"),
        "{}",
        backup.all()
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(set.join("apim-copy.json")).unwrap()).unwrap();
    assert_eq!(saved[0]["kind"], "APIManager", "{saved}");
    assert_eq!(
        saved[0]["metadata"]["name"],
        sim.json(&["get", "apimanager", "-o", "json"])["items"][0]["metadata"]["name"]
    );
    let restore = sim.host_ok(&[
        "run",
        "restore",
        "--plugin",
        wasm.to_str().unwrap(),
        "--backup-dir",
        set.to_str().unwrap(),
    ]);
    assert!(
        restore.all().contains("nothing to put back"),
        "{}",
        restore.all()
    );
}
