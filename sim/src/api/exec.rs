//! `pods/exec` over WebSocket, channel.k8s.io v4 and v5, as kubectl 1.32 and kube-rs use
//! it. Bytes stream both ways with bounded buffers: stdout is read in chunks and each
//! chunk waits for the socket to take it, so a slow client slows the command instead of
//! filling memory; stdin frames wait for the command to read them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::App;
use super::query::Query;
use crate::cluster::PodHandle;
use crate::pod::process::{exec_command, kill_group};
use crate::resources::PODS;
use crate::status::ApiError;

const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";
const CHUNK: usize = 32 * 1024;

pub async fn handle(
    app: Arc<App>,
    namespace: String,
    pod: String,
    query: Query,
    upgrade: Option<WebSocketUpgrade>,
) -> Response {
    match prepare(&app, &namespace, &pod, &query) {
        Err(e) => e.into_response(),
        Ok(request) => {
            let Some(upgrade) = upgrade else {
                return ApiError::bad_request(
                    "Upgrade request required: the simulator speaks exec over WebSocket (v4/v5.channel.k8s.io) only",
                )
                .into_response();
            };
            let upgrade = upgrade
                .protocols([V5, V4])
                .max_message_size(16 << 20)
                .write_buffer_size(CHUNK)
                .max_write_buffer_size(4 * CHUNK + 1024);
            let Some(protocol) = upgrade
                .selected_protocol()
                .and_then(|p| p.to_str().ok())
                .map(String::from)
            else {
                return ApiError::bad_request(format!(
                    "exec needs the {V5} or {V4} WebSocket subprotocol"
                ))
                .into_response();
            };
            let faults = app.cluster.faults.get();
            let drops = Drops {
                stdout: faults.exec_drop_after,
                stdin: faults.exec_drop_stdin_after,
            };
            upgrade.on_upgrade(move |socket| async move {
                run(app, socket, request, protocol == V5, drops).await;
            })
        }
    }
}

struct ExecRequest {
    handle: PodHandle,
    /// The process whose namespaces are the container's.
    target: i32,
    argv: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

fn prepare(app: &App, namespace: &str, pod: &str, q: &Query) -> Result<ExecRequest, ApiError> {
    let object = app
        .cluster
        .store
        .get(&PODS, namespace, pod)
        .ok_or_else(|| ApiError::not_found("pods", pod))?;
    let container = validate_container(&object, q.get("container"))?;
    let argv = q.all("command");
    if argv.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let not_running = || {
        ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        ))
    };
    let handle = app.cluster.pod_handle(pod).ok_or_else(not_running)?;
    let target = handle.container_pid(&container).ok_or_else(not_running)?;
    Ok(ExecRequest {
        handle,
        target,
        argv,
        stdin: q.flag("stdin"),
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
    })
}

/// The container an exec or attach goes to, as the API server picks it before it
/// contacts the kubelet (kubernetes/kubernetes pkg/registry/core/pod/strategy.go,
/// `validateContainer`, called by `streamLocation`): without a name, a pod's only container;
/// with several, a 400 listing init containers then containers; a name the pod does not
/// have (init containers count), a 400 too.
pub(super) fn validate_container(pod: &Value, container: Option<&str>) -> Result<String, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let names = |key: &str| -> Vec<String> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    };
    let containers = names("containers");
    let mut all = names("initContainers");
    all.extend(containers.iter().cloned());
    all.extend(names("ephemeralContainers"));
    match container.filter(|c| !c.is_empty()) {
        Some(name) if all.iter().any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        ))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            // Go's %s of a []string: "[a b c]".
            _ => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                all.join(" ")
            ))),
        },
    }
}

enum Out {
    Frame(Message),
    /// The fault knob fired: end the connection without a status.
    Drop,
}

/// Where the fault knobs cut a stream: after so many bytes of stdout or of stdin.
#[derive(Clone, Copy)]
struct Drops {
    stdout: Option<u64>,
    stdin: Option<u64>,
}

async fn run(app: Arc<App>, socket: WebSocket, req: ExecRequest, v5: bool, drops: Drops) {
    let (mut sink, mut source) = socket.split();
    let mut cmd = exec_command(req.target, req.handle.template, &req.handle.env, &req.argv);
    cmd.stdin(if req.stdin {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let status = failure_status(&format!("failed to exec in pod: {e}"));
            let _ = sink
                .send(channel_frame(3, status.to_string().as_bytes()))
                .await;
            let _ = sink.send(close_normal()).await;
            return;
        }
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
            if req.stdout { Some(1) } else { None },
            out_tx.clone(),
            drops.stdout,
        )),
        tokio::spawn(pump(
            stderr,
            if req.stderr { Some(2) } else { None },
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
    let reader = tokio::spawn(async move {
        let mut gone_tx = Some(gone_tx);
        let mut received = 0u64;
        while let Some(frame) = source.next().await {
            match frame {
                Ok(Message::Binary(data)) if !data.is_empty() => match data[0] {
                    0 => {
                        received += data.len() as u64 - 1;
                        if drops.stdin.is_some_and(|limit| received > limit) {
                            let _ = cut_tx.send(());
                            // Keep stdin open: the command is killed, it must not see
                            // a clean end of its input first.
                            let never: std::convert::Infallible = std::future::pending().await;
                            match never {}
                        }
                        if let Some(pipe) = stdin.as_mut()
                            && pipe.write_all(&data[1..]).await.is_err()
                        {
                            // The command closed its stdin; later input has nowhere to go.
                            stdin = None;
                        }
                    }
                    255 if data.get(1) == Some(&0) => stdin = None,
                    _ => {}
                },
                Ok(Message::Close(_)) if !v5 => {
                    // v4 has no way to close stdin alone: its clients close the socket.
                    stdin = None;
                    break;
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        drop(stdin);
        if v5 && let Some(tx) = gone_tx.take() {
            let _ = tx.send(());
        }
        std::future::pending::<()>().await;
    });

    let mut dropped = false;
    let mut client_gone = false;
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(Out::Frame(m)) => {
                    if sink.send(m).await.is_err() {
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
        reader.abort();
        for p in pumps {
            p.abort();
        }
        // Dropping both halves without a Close frame is the abrupt end the fault asks for.
        return;
    }
    let status = tokio::select! {
        s = child.wait() => s,
        _ = &mut gone_rx => {
            kill_group(group);
            reader.abort();
            return;
        }
    };
    let code = match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + s.signal().unwrap_or(9)
        }),
        Err(_) => 1,
    };
    let status_json = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", req.argv.join(" ")),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}
        })
    };
    let _ = sink
        .send(channel_frame(3, status_json.to_string().as_bytes()))
        .await;
    let _ = sink.send(close_normal()).await;
    let _ = sink.flush().await;
    // Give the client a moment to answer the Close before the socket goes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    mut from: R,
    channel: Option<u8>,
    to: mpsc::Sender<Out>,
    drop_after: Option<u64>,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Output nobody asked for is read and discarded so the command never blocks on it.
        let Some(channel) = channel else { continue };
        if let Some(limit) = drop_after
            && sent + n as u64 > limit
        {
            let _ = to.send(Out::Drop).await;
            return;
        }
        sent += n as u64;
        buf[0] = channel;
        if to
            .send(Out::Frame(Message::Binary(Bytes::copy_from_slice(
                &buf[..=n],
            ))))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn channel_frame(channel: u8, data: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    Message::Binary(Bytes::from(frame))
}

fn close_normal() -> Message {
    Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

fn failure_status(message: &str) -> serde_json::Value {
    json!({"metadata": {}, "status": "Failure", "message": message})
}
