//! Running the simulator's own commands in pods (seeding, fingerprints, damage) the same
//! way exec does, with stdin fed from a generator and stdout streamed to a consumer.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

use crate::cluster::{Cluster, PodHandle};
use crate::pod::process::exec_command;
use crate::{Result, SimError};

/// A running pod of a component's workload: its Deployment's (2.15) or, in 2.14, its
/// DeploymentConfig's (whatever its labels, `deployment=` or `deploymentConfig=`).
pub fn pod(cluster: &Cluster, deployment: &str) -> Result<PodHandle> {
    cluster.running_pod(deployment).ok_or_else(|| {
        SimError::Other(format!(
            "no running pod for {} {deployment}",
            cluster.options.release.workload().singular
        ))
    })
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Runs `args` with `input` as stdin, handing each stdout line to `on_line`. Fails with
/// the stderr tail on a non-zero exit.
pub async fn run_lines<R, F>(
    handle: &PodHandle,
    args: &[&str],
    input: Option<R>,
    mut on_line: F,
) -> Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    F: FnMut(&str),
{
    let mut cmd = exec_command(handle.init_pid, handle.template, &handle.env, &argv(args));
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| SimError::pod(&handle.name, format!("cannot exec: {e}")))?;
    let feeder = match (input, child.stdin.take()) {
        (Some(mut input), Some(mut stdin)) => Some(tokio::spawn(async move {
            let copied = tokio::io::copy(&mut input, &mut stdin).await;
            let _ = stdin.shutdown().await;
            copied
        })),
        _ => None,
    };
    let mut stderr = child.stderr.take().expect("piped");
    let stderr_task = tokio::spawn(async move {
        let mut tail = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut tail).await;
        let start = tail.len().saturating_sub(4096);
        String::from_utf8_lossy(&tail[start..]).into_owned()
    });
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    while let Some(line) = lines.next_line().await? {
        on_line(&line);
    }
    let status = child.wait().await?;
    if let Some(f) = feeder {
        let _ = f.await;
    }
    let tail = stderr_task.await.unwrap_or_default();
    if !status.success() {
        return Err(SimError::pod(
            &handle.name,
            format!("`{}` failed ({status}): {}", args.join(" "), tail.trim()),
        ));
    }
    Ok(())
}

/// Runs a command without stdin and returns its stdout.
pub async fn output(handle: &PodHandle, args: &[&str]) -> Result<String> {
    let mut out = String::new();
    run_lines(handle, args, None::<tokio::io::Empty>, |l| {
        out.push_str(l);
        out.push('\n');
    })
    .await?;
    Ok(out)
}

pub const MYSQL_CLIENT: &str =
    "export MYSQL_PWD=${MYSQL_ROOT_PASSWORD}; mariadb -hsystem-mysql -uroot";
