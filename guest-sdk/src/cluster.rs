//! The cluster, as far as the plugin's capabilities reach, in the host's target namespace.

use serde_json::Value;

use crate::bindings::host::plugin::cluster as wit;
use crate::{CommandFailure, Compression, Error, Result};

pub use wit::{ExecOutput, PatchType, ResourceRef};

fn owned(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| s.to_string()).collect()
}

/// The first Running pod matching a label selector such as `deployment=system-mysql`.
pub fn find_pod(selector: &str) -> Result<String> {
    wit::find_pod(selector)
}

/// Runs a command whose output is small; a non-zero exit is in `exit_code`.
pub fn exec(pod: &str, argv: &[&str], stdin: Option<&[u8]>) -> Result<ExecOutput> {
    wit::exec(pod, &owned(argv), stdin)
}

/// Runs a command and returns its stdout; a non-zero exit is an error with the stderr tail.
pub fn exec_ok(pod: &str, argv: &[&str]) -> Result<String> {
    let out = exec(pod, argv, None)?;
    if out.exit_code != 0 {
        return Err(Error::CommandFailed(CommandFailure {
            argv: owned(argv),
            exit_code: out.exit_code,
            stderr_tail: String::from_utf8_lossy(&out.stderr).into_owned(),
        }));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Streams a command's stdout into an artifact (the artifact exists only if everything
/// arrived and the command exited 0). Returns the artifact's size.
pub fn exec_to_artifact(
    pod: &str,
    argv: &[&str],
    artifact: &str,
    compression: Compression,
) -> Result<u64> {
    wit::exec_to_artifact(pod, &owned(argv), artifact, compression)
}

/// Streams an artifact into a command's stdin. A non-zero exit is an error.
pub fn artifact_to_exec(
    artifact: &str,
    pod: &str,
    argv: &[&str],
    decompression: Compression,
) -> Result<ExecOutput> {
    wit::artifact_to_exec(artifact, pod, &owned(argv), decompression)
}

/// `kubectl cp POD:PATH` into an artifact (a file, or a directory's contents).
pub fn copy_from_pod(pod: &str, path: &str, artifact: &str) -> Result<u64> {
    wit::copy_from_pod(pod, path, artifact)
}

/// An artifact into a pod: a file at exactly `path`, a directory's contents under `path`.
pub fn copy_to_pod(artifact: &str, pod: &str, path: &str) -> Result<u64> {
    wit::copy_to_pod(artifact, pod, path)
}

pub fn resource(api_version: &str, kind: &str, name: &str) -> ResourceRef {
    ResourceRef {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

pub fn get(api_version: &str, kind: &str, name: &str) -> Result<Value> {
    let text = wit::get(&resource(api_version, kind, name))?;
    Ok(serde_json::from_str(&text)?)
}

/// The items of a list.
pub fn list(api_version: &str, kind: &str, label_selector: &str) -> Result<Vec<Value>> {
    let text = wit::list(api_version, kind, label_selector)?;
    let list: Value = serde_json::from_str(&text)?;
    Ok(list["items"].as_array().cloned().unwrap_or_default())
}

/// Creates or replaces an object (server-managed metadata is dropped by the host).
pub fn apply(object: &Value) -> Result<Value> {
    Ok(serde_json::from_str(&wit::apply(&object.to_string())?)?)
}

pub fn patch(
    api_version: &str,
    kind: &str,
    name: &str,
    patch_type: PatchType,
    body: &Value,
) -> Result<Value> {
    let text = wit::patch(
        &resource(api_version, kind, name),
        patch_type,
        &body.to_string(),
    )?;
    Ok(serde_json::from_str(&text)?)
}

/// `oc patch KIND/NAME --type merge -p BODY`.
pub fn merge_patch(api_version: &str, kind: &str, name: &str, body: &Value) -> Result<Value> {
    patch(api_version, kind, name, PatchType::Merge, body)
}

/// `oc patch KIND/NAME --type json -p BODY`.
pub fn json_patch(api_version: &str, kind: &str, name: &str, body: &Value) -> Result<Value> {
    patch(api_version, kind, name, PatchType::Json, body)
}

pub fn rollout_restart(deployment: &str) -> Result<()> {
    wit::rollout_restart(deployment)
}

pub fn rollout_status(deployment: &str, timeout_seconds: u32) -> Result<()> {
    wit::rollout_status(deployment, timeout_seconds)
}

/// `oc rollout restart` followed by `oc rollout status`.
pub fn restart_and_wait(deployment: &str, timeout_seconds: u32) -> Result<()> {
    rollout_restart(deployment)?;
    rollout_status(deployment, timeout_seconds)
}
