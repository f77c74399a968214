//! One exec's command, whatever carries it (WebSocket v4/v5 or SPDY): the command runs in
//! the container with its stdin fed from the client and its stdout and stderr handed to
//! the transport in bounded chunks, so a slow client slows the command instead of filling
//! memory, and stdin waits for the command to read it.

use std::sync::Arc;

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::ExecRequest;
use crate::api::App;
use crate::pod::process::{exec_command, kill_group, resolves};

pub const CHUNK: usize = 32 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What the client sends, as the transport decodes it.
#[derive(Debug)]
pub enum Input {
    Stdin(Bytes),
    /// The client closed stdin alone (v5 CLOSE on channel 0, or a SPDY FIN on stdin).
    StdinEof,
    /// The connection ended.
    Gone,
}

/// Where the command's output goes.
pub trait Output {
    /// Hands one chunk to the client; an error means the client is gone.
    fn send(&mut self, stream: Stream, data: Bytes) -> impl Future<Output = Result<(), ()>> + Send;
}

pub enum Outcome {
    /// The command ended; the metav1.Status the kubelet reports for it.
    Exited(Value),
    /// A fault knob cut the stream: the transport ends without a status.
    Dropped,
    /// The client went away first.
    ClientGone,
}

/// Where the fault knobs cut a stream: after so many bytes of stdout or of stdin.
#[derive(Clone, Copy, Default)]
pub struct Drops {
    pub stdout: Option<u64>,
    pub stdin: Option<u64>,
}

enum Out {
    Chunk(Stream, Bytes),
    Drop,
}

/// Runs the command. `gone_kills`: whether the connection ending kills the command at
/// once; when false (WebSocket v4) it only closes the command's stdin, which was the only
/// way such a client had to signal the end of its input, and the command runs on until it
/// has output nobody can receive.
pub async fn run(
    app: &Arc<App>,
    req: ExecRequest,
    mut inputs: mpsc::Receiver<Input>,
    output: &mut impl Output,
    drops: Drops,
    gone_kills: bool,
) -> Outcome {
    let mut cmd = exec_command(req.target, req.handle.template, &req.handle.env, &req.argv);
    cmd.stdin(if req.stdin {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let program = req.argv.first().map(String::as_str).unwrap_or_default();
    let spawned = if app.cluster.faults.missing(program)
        || !resolves(req.target, req.handle.template, &req.handle.env, program)
    {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    } else {
        cmd.spawn()
    };
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return Outcome::Exited(not_started(program, &e)),
    };
    let group = child.id();
    if app.cluster.faults.take_kill_on_exec(&req.argv.join(" ")) {
        tracing::warn!(
            pod = req.handle.name,
            "fault: killing the pod as `{}` starts",
            req.argv.join(" ")
        );
        app.cluster.crash_pod(&req.handle.name);
    }

    let (out_tx, mut out_rx) = mpsc::channel::<Out>(4);
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let pumps = [
        tokio::spawn(pump(
            stdout,
            req.stdout.then_some(Stream::Stdout),
            out_tx.clone(),
            drops.stdout,
        )),
        tokio::spawn(pump(
            stderr,
            req.stderr.then_some(Stream::Stderr),
            out_tx.clone(),
            None,
        )),
    ];
    drop(out_tx);

    // Client → stdin, on its own task so a command that is not reading yet never stops
    // us from draining its output.
    let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<()>();
    let (cut_tx, mut cut_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stdin = child.stdin.take();
    let feeder = tokio::spawn(async move {
        let mut received = 0u64;
        let gone = loop {
            match inputs.recv().await {
                Some(Input::Stdin(data)) => {
                    received += data.len() as u64;
                    if drops.stdin.is_some_and(|limit| received > limit) {
                        let _ = cut_tx.send(());
                        // Keep stdin open: the command is killed, it must not see a clean
                        // end of its input first.
                        let never: std::convert::Infallible = std::future::pending().await;
                        match never {}
                    }
                    if let Some(pipe) = stdin.as_mut()
                        && pipe.write_all(&data).await.is_err()
                    {
                        // The command closed its stdin; later input has nowhere to go.
                        stdin = None;
                    }
                }
                Some(Input::StdinEof) => stdin = None,
                Some(Input::Gone) | None => break true,
            }
        };
        drop(stdin);
        if gone && gone_kills {
            let _ = gone_tx.send(());
        }
        std::future::pending::<()>().await;
    });

    let mut dropped = false;
    let mut client_gone = false;
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Chunk(stream, data)) => {
                    if output.send(stream, data).await.is_err() {
                        client_gone = true;
                        break;
                    }
                }
                Some(Out::Drop) => {
                    dropped = true;
                    break;
                }
                None => break,
            },
            _ = &mut gone_rx => {
                client_gone = true;
                break;
            }
            Ok(()) = &mut cut_rx => {
                dropped = true;
                break;
            }
        }
    }
    if dropped || client_gone {
        kill_group(group);
        let _ = child.wait().await;
        feeder.abort();
        for p in pumps {
            p.abort();
        }
        return if dropped {
            Outcome::Dropped
        } else {
            Outcome::ClientGone
        };
    }
    let status = tokio::select! {
        s = child.wait() => s,
        _ = &mut gone_rx => {
            kill_group(group);
            feeder.abort();
            return Outcome::ClientGone;
        }
    };
    feeder.abort();
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(9)
        }),
        Err(_) => 1,
    };
    Outcome::Exited(exit_status(code, &req.argv))
}

/// The Status the kubelet writes when the command ends (kubernetes/kubernetes
/// pkg/kubelet/cri/streaming/remotecommand/exec.go, `ServeExec`).
fn exit_status(code: i32, argv: &[String]) -> Value {
    if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", argv.join(" ")),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        })
    }
}

/// The status of a command the runtime could not start. The kubelet sends any error
/// that is not an exit code as an internal error ("error executing command in container:
/// %v", `apierrors.NewInternalError`; pkg/kubelet/cri/streaming/remotecommand/exec.go,
/// ServeExec), and containerd words a missing program as runc does ("failed to exec in
/// container: failed to start exec ...: OCI runtime exec failed: exec failed: unable to
/// start container process: exec: \"ps\": executable file not found in $PATH: unknown",
/// as kubectl prints it in kubernetes issue 40820 and its successors).
fn not_started(program: &str, e: &std::io::Error) -> serde_json::Value {
    // Go's exec.LookPath, which runc calls: a name with a slash is stat'ed as given.
    let cause = if e.kind() == std::io::ErrorKind::NotFound && program.contains('/') {
        format!("exec: \"{program}\": stat {program}: no such file or directory")
    } else if e.kind() == std::io::ErrorKind::NotFound {
        format!("exec: \"{program}\": executable file not found in $PATH")
    } else {
        format!("exec: \"{program}\": {e}")
    };
    let message = format!(
        "error executing command in container: failed to exec in container: OCI runtime exec failed: exec failed: unable to start container process: {cause}: unknown"
    );
    json!({
        "metadata": {}, "status": "Failure", "reason": "InternalError", "code": 500,
        "message": format!("Internal error occurred: {message}"),
        "details": {"causes": [{"message": message}]}
    })
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    mut from: R,
    stream: Option<Stream>,
    to: mpsc::Sender<Out>,
    drop_after: Option<u64>,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Output nobody asked for is read and discarded so the command never blocks on it.
        let Some(stream) = stream else { continue };
        if let Some(limit) = drop_after
            && sent + n as u64 > limit
        {
            let _ = to.send(Out::Drop).await;
            return;
        }
        sent += n as u64;
        if to
            .send(Out::Chunk(stream, Bytes::copy_from_slice(&buf[..n])))
            .await
            .is_err()
        {
            return;
        }
    }
}
