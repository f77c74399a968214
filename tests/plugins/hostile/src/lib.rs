//! Each attack returns the host's answer as its own error (`?`), so the test sees what the
//! host said; an attack that gets through returns Ok, and the test fails on exit code 0.
//!
//! The exports are written out by hand instead of with `export_plugin!`, so that
//! `describe()` can attack too: it runs with nothing granted, and does so when the
//! embedded manifest's description (which a test byte-patches) is `describe-attack`.

use guest_sdk::__bindings::host::plugin::types::Error as WitError;
use guest_sdk::objects::PatchType;
use guest_sdk::prelude::*;

const MANIFEST: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.toml"));

#[unsafe(link_section = "host-plugin-manifest")]
#[used]
static EMBEDDED_MANIFEST: [u8; MANIFEST.len()] = {
    let mut out = [0u8; MANIFEST.len()];
    let mut i = 0;
    while i < MANIFEST.len() {
        out[i] = MANIFEST[i];
        i += 1;
    }
    out
};

const ZYNC_DB: &str = "deployment=zync-database";
/// The description that turns describe()'s attack on.
const DESCRIBE_ATTACK: &str = "description = \"describe-attack";
const SECRET: &str = "system-seed";

struct Hostile;

impl Plugin for Hostile {
    /// Fills the set: 256 MiB of zeros into an artifact (bounded, so a host without a
    /// quota fills a test's temporary directory, not the disk).
    fn backup() -> Result<()> {
        let pod = pods::find_pod(ZYNC_DB)?;
        let zeros = ["head", "-c", "268435456", "/dev/zero"];
        pods::exec_to_artifact(&pod, &zeros, "files/zero", Compression::None)?;
        Ok(())
    }

    fn restore() -> Result<()> {
        let attack = store::read_to_string("attack")?;
        let words: Vec<&str> = attack.split_whitespace().collect();
        let what = words.first().copied().unwrap_or("");
        let arg = words.get(1).copied().unwrap_or("");
        let number = |default: usize| arg.parse::<usize>().unwrap_or(default);
        match what {
            "nothing" => {}
            // Run a command in a pod outside the grant, by name.
            "exec-outside" => {
                pods::exec(arg, &["sh", "-c", "echo pwned > /tmp/pwned"], None)?;
            }
            // Run a command in the granted pod: `exec-cmd bash -c id`.
            "exec-cmd" => {
                let pod = pods::find_pod(ZYNC_DB)?;
                pods::exec(&pod, &words[1..], None)?;
            }
            // Look for a pod outside the grant.
            "find-outside" => {
                pods::find_pod(arg)?;
            }
            "read-secret" => {
                objects::get("v1", "Secret", arg)?;
            }
            // `get API-VERSION KIND NAME`: names and kinds that bend the URL.
            "get" => {
                let (api, kind, name) = (arg, words[2], words[3]);
                objects::get(api, kind, name)?;
            }
            // Read through a path that leaves the backup set.
            "open" => {
                store::read_bytes(arg)?;
            }
            "create" => {
                store::write(arg, b"pwned")?;
            }
            // Send a tree artifact (a symlink planted in the set) into the pod.
            "copy-tree" => {
                let pod = pods::find_pod(ZYNC_DB)?;
                pods::copy_to_pod("files", &pod, "/tmp/stolen")?;
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "membomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "logflood" => {
                for i in 0u64.. {
                    info!("flood line {i} {}", "x".repeat(200));
                }
            }
            // `flood-big MIB`: denied calls with huge arguments, 1 GiB of them in all
            // (bounded, so a host that lets it through is not flooded for ever).
            "flood-big" => {
                let mib = number(64).max(1);
                let big = "a".repeat(mib << 20);
                for i in 0..(1024 / mib) {
                    if i % 2 == 0 {
                        let _ = store::exists(&big);
                    } else {
                        let _ = objects::get("v1", "ConfigMap", &big);
                    }
                }
            }
            // Many cheap denied calls (bounded likewise).
            "flood-many" => {
                for _ in 0..2_000_000 {
                    let _ = store::exists("not-declared");
                }
            }
            // Hold artifacts open: each is an open file of the host's.
            "open-many" => {
                let mut held = Vec::new();
                for _ in 0..number(100_000) {
                    held.push(store::open("attack")?);
                }
            }
            // Notes far past what a journal holds (each save rewrites it whole); the
            // notes that were taken are dropped again, so no put-back is left pending.
            "journal-flood" => {
                let note = "x".repeat(400 << 10);
                let mut outcome = Ok(());
                let mut kept = 0;
                for i in 0..64 {
                    outcome = journal::record(&format!("note-{i}"), &note);
                    if outcome.is_err() {
                        break;
                    }
                    kept += 1;
                }
                for i in 0..kept {
                    journal::forget(&format!("note-{i}"))?;
                }
                outcome?;
            }
            // Wait for ever for something that will not happen.
            "wait-forever" => {
                objects::wait_for("v1", "ConfigMap", "redis-config", "delete", u32::MAX)?;
            }
            // The patch grant (one label of one Secret) used to read the Secret.
            "patch-empty" => leak(patch(PatchType::Json, json!([]))?)?,
            "patch-test" => leak(patch(
                PatchType::Json,
                json!([{"op": "test", "path": "/metadata/labels/hostile", "value": "x"}]),
            )?)?,
            "patch-copy" => leak(patch(
                PatchType::Json,
                json!([{"op": "copy", "from": "/data", "path": "/metadata/labels/hostile"}]),
            )?)?,
            "patch-label" => {
                let patched = patch(
                    PatchType::Merge,
                    json!({"metadata": {"labels": {"hostile": "yes"}}}),
                );
                // Leave the Secret as it was, whatever came back.
                patch(
                    PatchType::Merge,
                    json!({"metadata": {"labels": {"hostile": null}}}),
                )?;
                leak(patched?)?;
            }
            // `big-patch MIB`: a body far past the API server's limit, to be parsed.
            "big-patch" => {
                let mib = number(64).max(1);
                let mut body = String::with_capacity((mib << 20) + 4);
                body.push('[');
                while body.len() + 2 < mib << 20 {
                    body.push_str("0,");
                }
                body.push_str("0]");
                guest_sdk::__bindings::host::plugin::objects::patch(
                    &guest_sdk::__bindings::host::plugin::types::ResourceRef {
                        api_version: "v1".into(),
                        kind: "Secret".into(),
                        name: SECRET.into(),
                    },
                    PatchType::Json,
                    &body,
                )?;
            }
            other => return Err(Error::invalid(format!("unknown attack `{other}`"))),
        }
        Ok(())
    }
}

fn patch(kind: PatchType, body: Value) -> Result<Value> {
    objects::patch("v1", "Secret", SECRET, kind, &body)
}

/// Ok (the attack got through) if the patched Secret came back with its data.
fn leak(patched: Value) -> Result<()> {
    if patched.get("data").is_some() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the patched Secret came back without its data: {patched}"
        )))
    }
}

/// Host calls from describe(), which runs with nothing granted; if any of them got
/// through, describe() returns something else than the manifest and the host refuses the
/// plugin, so the test sees it.
fn describe_attack() -> bool {
    let pod = pods::find_pod(ZYNC_DB);
    let exec = pods::exec("zync-database", &["cat", "/etc/hostname"], None);
    let read = objects::get("v1", "ConfigMap", "redis-config");
    let exists = store::exists("attack");
    let write = store::write("files/pwned", b"pwned");
    pod.is_ok() || exec.is_ok() || read.is_ok() || exists.is_ok() || write.is_ok()
}

struct Exports;

impl guest_sdk::__bindings::Guest for Exports {
    fn describe() -> String {
        let manifest = String::from_utf8_lossy(&EMBEDDED_MANIFEST).into_owned();
        if manifest.contains(DESCRIBE_ATTACK) && describe_attack() {
            return "pwned".into();
        }
        manifest
    }
    fn backup() -> core::result::Result<(), WitError> {
        guest_sdk::__private::hook(Hostile::backup())
    }
    fn quiesce() -> core::result::Result<(), WitError> {
        guest_sdk::__private::hook(Hostile::quiesce())
    }
    fn restore() -> core::result::Result<(), WitError> {
        guest_sdk::__private::hook(Hostile::restore())
    }
    fn resume() -> core::result::Result<(), WitError> {
        guest_sdk::__private::hook(Hostile::resume())
    }
}

guest_sdk::__bindings::__export_world!(Exports with_types_in guest_sdk::__bindings);
