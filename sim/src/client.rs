//! The few HTTP calls the `sim` subcommands make to a running `sim serve` (URL, token and
//! CA from its kubeconfig). HTTP/1.1 over TLS on loopback; one request per connection.

use std::path::Path;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Result, SimError};

pub async fn call(dir: &Path, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let (server, token, ca_pem) = crate::endpoint(dir)?;
    let authority = server
        .strip_prefix("https://")
        .ok_or_else(|| SimError::Other(format!("unexpected server URL {server}")))?
        .trim_end_matches('/')
        .to_string();
    let tcp = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| {
            SimError::Other(format!(
                "cannot reach the simulator at {server} (is `sim serve --dir {}` running?): {e}",
                dir.display()
            ))
        })?;
    let mut stream = tls_connector(&ca_pem)?
        .connect(
            rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
            tcp,
        )
        .await
        .map_err(|e| SimError::Other(format!("TLS to the simulator at {server}: {e}")))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // Servers often close without TLS close_notify; what arrived is the whole answer.
    if let Err(e) = stream.read_to_end(&mut raw).await
        && e.kind() != std::io::ErrorKind::UnexpectedEof
    {
        return Err(e.into());
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| SimError::Other("malformed response from the simulator".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut payload = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let value: Value = serde_json::from_slice(&payload)
        .unwrap_or(Value::String(String::from_utf8_lossy(&payload).into()));
    if code != 200 {
        let message = value["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| value.to_string());
        return Err(SimError::Other(format!(
            "the simulator answered {code}: {message}"
        )));
    }
    Ok(value)
}

fn tls_connector(ca_pem: &str) -> Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| SimError::Other(format!("the kubeconfig's CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| SimError::Other(format!("the kubeconfig's CA: {e}")))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SimError::Other(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
    out
}
