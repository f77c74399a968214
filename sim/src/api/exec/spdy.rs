//! Exec over SPDY/3.1, the streaming transport every Kubernetes release speaks and the only
//! one kubectl before 1.30 uses (and 1.30+ falls back to when the WebSocket upgrade fails).
//! The client opens one stream per channel, named by a `streamtype` header (error, stdin,
//! stdout, stderr, resize); the server accepts each, runs the command once all the
//! expected ones are there, writes the final Status on the error stream and closes the
//! connection (kubernetes/kubernetes pkg/kubelet/cri/streaming/remotecommand/httpstream.go,
//! `createHTTPStreamStreams`, and exec.go, `ServeExec`). A client ends stdin by finishing
//! its stdin stream (a FIN), in every protocol version.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

use super::ExecRequest;
use super::session::{self, Drops, Input, Outcome, Output, Stream};
use super::spdy_frames::{FLAG_FIN, Frame, FrameReader, FrameWriter};
use crate::api::App;

/// How long the kubelet waits for the client's streams (its streamCreationTimeout).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

enum Write {
    Reply(u32),
    Data(u32, Bytes, bool),
    Ping(u32),
    Finish(u32, oneshot::Sender<()>),
}

#[derive(Default)]
struct Streams {
    error: Option<u32>,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

struct Sink {
    writes: mpsc::Sender<Write>,
    stdout: Option<u32>,
    stderr: Option<u32>,
}

impl Output for Sink {
    async fn send(&mut self, stream: Stream, data: Bytes) -> Result<(), ()> {
        let id = match stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        let Some(id) = id else { return Ok(()) };
        self.writes
            .send(Write::Data(id, data, false))
            .await
            .map_err(|_| ())
    }
}

pub async fn serve(
    app: Arc<App>,
    io: TokioIo<hyper::upgrade::Upgraded>,
    req: ExecRequest,
    tty: bool,
    drops: Drops,
) {
    let (read, write) = tokio::io::split(io);
    let mut reader = FrameReader::new(read);
    let (writes, mut queue) = mpsc::channel::<Write>(4);
    let writer = tokio::spawn(async move {
        let mut w = FrameWriter::new(write);
        while let Some(op) = queue.recv().await {
            let done = match op {
                Write::Reply(id) => w.syn_reply(id).await,
                Write::Data(id, data, fin) => w.data(id, &data, fin).await,
                Write::Ping(id) => w.ping(id).await,
                Write::Finish(last, ack) => {
                    let _ = w.go_away(last).await;
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    let _ = ack.send(());
                    return;
                }
            };
            if done.is_err() || w.flush().await.is_err() {
                return;
            }
        }
    });

    // The streams the request's flags call for, as the kubelet counts them.
    let expected = 1
        + usize::from(req.stdin)
        + usize::from(req.stdout)
        + usize::from(req.stderr)
        + usize::from(tty);
    let mut streams = Streams::default();
    let mut last = 0u32;
    let opened = tokio::time::timeout(STREAM_CREATION_TIMEOUT, async {
        let mut seen = 0;
        while seen < expected {
            match reader.next().await {
                Ok(Some(Frame::SynStream {
                    stream_id, headers, ..
                })) => {
                    last = stream_id;
                    let kind = headers
                        .iter()
                        .find(|(k, _)| k == "streamtype")
                        .map(|(_, v)| v.as_str());
                    let slot = match kind {
                        Some("error") => &mut streams.error,
                        Some("stdin") => &mut streams.stdin,
                        Some("stdout") => &mut streams.stdout,
                        Some("stderr") => &mut streams.stderr,
                        Some("resize") => &mut streams.resize,
                        _ => return false,
                    };
                    *slot = Some(stream_id);
                    seen += 1;
                    if writes.send(Write::Reply(stream_id)).await.is_err() {
                        return false;
                    }
                }
                Ok(Some(Frame::Ping { id })) => {
                    let _ = writes.send(Write::Ping(id)).await;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return false,
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    let Some(error_stream) = streams.error.filter(|_| opened) else {
        tracing::debug!(
            pod = req.handle.name,
            "SPDY exec: the client's streams did not all arrive"
        );
        writer.abort();
        return;
    };

    let (tx, rx) = mpsc::channel::<Input>(4);
    let stdin_stream = streams.stdin;
    let pinger = writes.clone();
    let input = tokio::spawn(async move {
        loop {
            let frame = match reader.next().await {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => break,
            };
            let input = match frame {
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } if Some(stream_id) == stdin_stream => {
                    if !data.is_empty() && tx.send(Input::Stdin(data)).await.is_err() {
                        return;
                    }
                    if flags & FLAG_FIN == 0 {
                        continue;
                    }
                    Input::StdinEof
                }
                Frame::RstStream { stream_id } if Some(stream_id) == stdin_stream => {
                    Input::StdinEof
                }
                Frame::Ping { id } => {
                    let _ = pinger.send(Write::Ping(id)).await;
                    continue;
                }
                Frame::GoAway => break,
                _ => continue,
            };
            if tx.send(input).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Input::Gone).await;
    });

    let mut sink = Sink {
        writes: writes.clone(),
        stdout: streams.stdout,
        stderr: streams.stderr,
    };
    match session::run(&app, req, rx, &mut sink, drops, true).await {
        Outcome::Exited(status) => {
            let _ = writes
                .send(Write::Data(
                    error_stream,
                    Bytes::from(status.to_string()),
                    true,
                ))
                .await;
            for id in [streams.stdout, streams.stderr].into_iter().flatten() {
                let _ = writes.send(Write::Data(id, Bytes::new(), true)).await;
            }
            let (ack, acked) = oneshot::channel();
            let _ = writes.send(Write::Finish(last, ack)).await;
            let _ = acked.await;
            // Let the client read to the end and hang up.
            let _ = tokio::time::timeout(Duration::from_secs(2), input).await;
        }
        // The connection goes without a status.
        Outcome::Dropped | Outcome::ClientGone => {
            input.abort();
            writer.abort();
        }
    }
}
