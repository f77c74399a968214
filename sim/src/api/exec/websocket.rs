//! Exec over WebSocket: the channel.k8s.io framing of kubectl 1.30+ and kube-rs. Each
//! message's first byte is its channel (0 stdin, 1 stdout, 2 stderr, 3 the final Status);
//! v5 adds CLOSE (255) so a client can end stdin alone. Stdin arrives in binary or text
//! messages alike: the API server reads both into bytes (k8s.io/apimachinery
//! pkg/util/httpstream/wsstream/conn.go, `Conn.handle`, `websocket.Message.Receive` into a
//! []byte), and the official Python client sends text when given a `str`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::ExecRequest;
use super::session::{self, Drops, Input, Outcome, Output, Stream};
use crate::api::App;

pub const V5: &str = "v5.channel.k8s.io";

const STDIN: u8 = 0;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

struct Sink(SplitSink<WebSocket, Message>);

impl Output for Sink {
    async fn send(&mut self, stream: Stream, data: Bytes) -> Result<(), ()> {
        let channel = match stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        };
        self.0
            .send(channel_frame(channel, &data))
            .await
            .map_err(|_| ())
    }
}

pub async fn serve(app: Arc<App>, socket: WebSocket, req: ExecRequest, v5: bool, drops: Drops) {
    let (sink, mut source) = socket.split();
    let mut sink = Sink(sink);
    let (tx, rx) = mpsc::channel::<Input>(4);
    let reader = tokio::spawn(async move {
        while let Some(message) = source.next().await {
            let data: Bytes = match message {
                Ok(Message::Binary(data)) => data,
                Ok(Message::Text(text)) => Bytes::copy_from_slice(text.as_str().as_bytes()),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let input = match data.first() {
                Some(&STDIN) => Input::Stdin(data.slice(1..)),
                // Only v5 can close a stream alone; under v4 the frame names no channel
                // and the server skips it (wsstream `Conn.handle`), so stdin stays open
                // until the connection ends.
                Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => Input::StdinEof,
                _ => continue,
            };
            if tx.send(input).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Input::Gone).await;
    });
    // Under v5 the end of the connection ends the exec; under v4 it was the client's only
    // way to end stdin, and the command runs on with its stdin closed.
    match session::run(&app, req, rx, &mut sink, drops, v5).await {
        Outcome::Exited(status) => {
            let _ = sink
                .0
                .send(channel_frame(STATUS, status.to_string().as_bytes()))
                .await;
            let _ = sink
                .0
                .send(Message::Close(Some(CloseFrame {
                    code: 1000,
                    reason: "".into(),
                })))
                .await;
            let _ = sink.0.flush().await;
            // Give the client a moment to answer the Close before the socket goes.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), reader).await;
        }
        // Dropping both halves without a Close frame is the abrupt end a fault asks for.
        Outcome::Dropped | Outcome::ClientGone => reader.abort(),
    }
}

fn channel_frame(channel: u8, data: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    Message::Binary(Bytes::from(frame))
}
