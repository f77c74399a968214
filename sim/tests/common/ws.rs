//! A kube-style exec client over WebSocket (what kube-rs and the Python client do, minus
//! their libraries), to see exactly which frames reach the simulator and what comes back.
//! Include with `#[path = "common/ws.rs"] mod ws;`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Bytes, Error, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

pub struct Exec {
    socket: Socket,
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
}

/// What came back from the server until it closed or the wait ran out.
#[derive(Debug, Default)]
pub struct Received {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Channel 3: the final Status.
    pub status: Option<serde_json::Value>,
    /// The server sent a Close frame (or the connection ended).
    pub closed: bool,
}

/// Opens `GET {path_and_query}` on the simulator in `dir` with these subprotocols (one
/// header, comma-separated, as kube-rs and the Python client send them). `Err` carries the
/// HTTP status and body of a refused upgrade.
pub async fn open(
    dir: &Path,
    path_and_query: &str,
    protocols: &str,
) -> Result<Exec, (u16, String)> {
    let (_, token, _) = sim::endpoint(dir).expect("a simulator kubeconfig");
    open_as(dir, &token, path_and_query, protocols).await
}

/// `open` with another bearer token than the kubeconfig's (a ServiceAccount's).
pub async fn open_as(
    dir: &Path,
    token: &str,
    path_and_query: &str,
    protocols: &str,
) -> Result<Exec, (u16, String)> {
    let (server, _, ca) = sim::endpoint(dir).expect("a simulator kubeconfig");
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let address = server.trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let host = address.rsplit_once(':').unwrap().0.to_string();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host).unwrap(), tcp)
        .await
        .unwrap();
    let mut request = format!("wss://{address}{path_and_query}")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    if !protocols.is_empty() {
        headers.insert("sec-websocket-protocol", protocols.parse().unwrap());
    }
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((socket, response)) => Ok(Exec {
            socket,
            protocol: response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        }),
        Err(Error::Http(response)) => Err((
            response.status().as_u16(),
            String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("WebSocket handshake: {e}"),
    }
}

impl Exec {
    /// Stdin in a binary message: channel 0, then the bytes.
    pub async fn stdin(&mut self, data: &[u8]) {
        let mut frame = vec![0u8];
        frame.extend_from_slice(data);
        self.socket
            .send(Message::Binary(Bytes::from(frame)))
            .await
            .unwrap();
    }

    /// Stdin in a text message, as the Python client sends a `str`: "\0" then the text.
    pub async fn stdin_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(format!("\u{0}{text}")))
            .await
            .unwrap();
    }

    /// v5's CLOSE for stdin: [255, 0].
    pub async fn close_stdin(&mut self) {
        self.socket
            .send(Message::Binary(Bytes::from_static(&[255, 0])))
            .await
            .unwrap();
    }

    /// Reads until the server closes or `wait` passes, whichever is first.
    pub async fn receive(&mut self, wait: Duration) -> Received {
        let mut got = Received::default();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.socket.next()).await;
            match next {
                Err(_) => return got,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    got.closed = true;
                    return got;
                }
                Ok(Some(Ok(Message::Binary(data)))) => match data.first() {
                    Some(1) => got.stdout.extend_from_slice(&data[1..]),
                    Some(2) => got.stderr.extend_from_slice(&data[1..]),
                    Some(3) => got.status = serde_json::from_slice(&data[1..]).ok(),
                    _ => {}
                },
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Ends the connection with a Close frame, as a v4 client does when its input is done.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The exec path for a pod of the simulator's namespace, with each argument a `command`.
pub fn exec_path(pod: &str, container: Option<&str>, argv: &[&str], stdin: bool) -> String {
    let mut query: Vec<(String, String)> = argv
        .iter()
        .map(|a| ("command".to_string(), a.to_string()))
        .collect();
    if let Some(c) = container {
        query.push(("container".into(), c.into()));
    }
    query.push(("stdout".into(), "true".into()));
    query.push(("stderr".into(), "true".into()));
    if stdin {
        query.push(("stdin".into(), "true".into()));
    }
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect();
    format!(
        "/api/v1/namespaces/3scale/pods/{pod}/exec?{}",
        encoded.join("&")
    )
}
