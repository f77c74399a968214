//! The simulator's own certificate authority and serving certificate. kubectl (client-go)
//! sends a kubeconfig's bearer token only over TLS, so an API server that checks tokens
//! has to speak HTTPS; the CA goes into the kubeconfig as `certificate-authority-data`.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Result, SimError};

pub struct Tls {
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

/// Loads the CA and certificate from `dir`, making them the first time, so a restart
/// keeps existing kubeconfigs valid.
pub fn load_or_create(dir: &Path) -> Result<Tls> {
    std::fs::create_dir_all(dir).map_err(|e| SimError::io(dir, e))?;
    let (ca, cert, key) = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    if !(ca.exists() && cert.exists() && key.exists()) {
        create(&ca, &cert, &key)?;
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| SimError::io(p, e));
    let ca_pem = String::from_utf8_lossy(&read(&ca)?).into_owned();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&cert)?)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| SimError::Other(format!("{}: {e}", cert.display())))?;
    let private = PrivateKeyDer::from_pem_slice(&read(&key)?)
        .map_err(|e| SimError::Other(format!("{}: {e}", key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SimError::Other(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(|e| SimError::Other(format!("TLS certificate: {e}")))?;
    // WebSocket upgrades (exec) need HTTP/1.1; clients offering h2 fall back to it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem,
        config: Arc::new(config),
    })
}

fn create(ca_path: &Path, cert_path: &Path, key_path: &Path) -> Result<()> {
    let err =
        |e: rcgen::Error| SimError::Other(format!("making the simulator's certificates: {e}"));
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "sim-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(err)?;
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "kubernetes".to_string()])
            .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "sim-apiserver");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let write = |p: &Path, text: String| std::fs::write(p, text).map_err(|e| SimError::io(p, e));
    write(ca_path, ca_cert.pem())?;
    write(cert_path, cert.pem())?;
    write(key_path, key.serialize_pem())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| SimError::io(key_path, e))
}
