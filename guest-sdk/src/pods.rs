//! Commands and files in pods, as far as the plugin's `exec` grant reaches. The host
//! picks the container: the grant's, else the pod's default, as kubectl does.

use crate::__bindings::host::plugin::pods as wit;
use crate::{CommandFailure, Compression, Error, Result};

pub use wit::ExecOutput;

fn owned(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| s.to_string()).collect()
}

/// The first Running pod matching a label selector such as `deployment=system-mysql`.
pub fn find_pod(selector: &str) -> Result<String> {
    Ok(wit::find_pod(selector)?)
}

/// Runs a command whose output is small; a non-zero exit is in `exit_code`.
pub fn exec(pod: &str, argv: &[&str], stdin: Option<&[u8]>) -> Result<ExecOutput> {
    Ok(wit::exec(pod, &owned(argv), stdin)?)
}

/// Runs a command and returns its stdout; a non-zero exit is an error with the stderr tail.
pub fn exec_ok(pod: &str, argv: &[&str]) -> Result<String> {
    let out = exec(pod, argv, None)?;
    if out.exit_code != 0 {
        return Err(Error::command_failed(CommandFailure {
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
    Ok(wit::exec_to_artifact(
        pod,
        &owned(argv),
        artifact,
        compression,
    )?)
}

/// Streams an artifact into a command's stdin. A non-zero exit is an error.
pub fn artifact_to_exec(
    artifact: &str,
    pod: &str,
    argv: &[&str],
    decompression: Compression,
) -> Result<ExecOutput> {
    Ok(wit::artifact_to_exec(
        artifact,
        pod,
        &owned(argv),
        decompression,
    )?)
}

/// `kubectl cp POD:PATH` into an artifact (a file, or a directory's contents).
pub fn copy_from_pod(pod: &str, path: &str, artifact: &str) -> Result<u64> {
    Ok(wit::copy_from_pod(pod, path, artifact)?)
}

/// An artifact into a pod: a file at exactly `path`, a directory's contents under `path`.
pub fn copy_to_pod(artifact: &str, pod: &str, path: &str) -> Result<u64> {
    Ok(wit::copy_to_pod(artifact, pod, path)?)
}
