//! A running simulator: the cluster, the API server on 127.0.0.1, and the kubeconfig
//! that points kubectl and kube-rs at it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::api::{self, App};
use crate::cluster::{Cluster, ClusterOptions, Dirs};
use crate::faults::FaultSettings;
use crate::protocols::ExecProtocols;
use crate::release::Release;
use crate::{Result, SimError};

pub const NAMESPACE: &str = "3scale";

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub dir: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
    pub faults: FaultSettings,
    /// The exec streaming protocols offered, and so the Kubernetes release played.
    pub exec_protocols: ExecProtocols,
    /// The operator's and controllers' timings, and `--empty`.
    pub options: ClusterOptions,
    /// The 3scale release asked for (`--threescale`); `None` keeps the data directory's,
    /// or 2.15 for a new one.
    pub threescale: Option<Release>,
    /// How long to wait for every pod to run before `start` gives up.
    pub ready_timeout: Duration,
}

impl SimConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SimConfig {
            dir: dir.into(),
            port: 0,
            faults: FaultSettings::default(),
            exec_protocols: ExecProtocols::default(),
            options: ClusterOptions::default(),
            threescale: None,
            ready_timeout: Duration::from_secs(240),
        }
    }
}

pub struct Simulator {
    pub cluster: Arc<Cluster>,
    pub addr: SocketAddr,
    pub kubeconfig: PathBuf,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Starts everything and returns once every pod is running.
    pub async fn start(mut config: SimConfig) -> Result<Simulator> {
        let dir = std::path::absolute(&config.dir).map_err(|e| SimError::io(&config.dir, e))?;
        std::fs::create_dir_all(&dir).map_err(|e| SimError::io(&dir, e))?;
        config.options.release = Release::for_dir(&dir, config.threescale)?;
        let token = token(&dir)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|e| {
                SimError::Other(format!("cannot listen on 127.0.0.1:{}: {e}", config.port))
            })?;
        let addr = listener.local_addr()?;
        let cluster = Cluster::start(
            Dirs::new(&dir),
            NAMESPACE,
            config.faults.clone(),
            config.options.clone(),
        )
        .await?;
        let app = Arc::new(App {
            cluster: cluster.clone(),
            token: token.clone(),
            tokens: api::Tokens::open(Some(dir.join("serviceaccount-tokens.json")))?,
            exec_protocols: config.exec_protocols,
        });
        let tls = crate::tls::load_or_create(&dir.join("tls"))?;
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            tokio_rustls::TlsAcceptor::from(tls.config.clone()),
            api::router(app),
            stop,
        ));
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(&kubeconfig, &format!("https://{addr}"), &token, &tls.ca_pem)?;
        let sim = Simulator {
            cluster,
            addr,
            kubeconfig,
            shutdown,
            server,
        };
        if let Err(e) = sim.cluster.wait_all_running(config.ready_timeout).await {
            sim.stop().await;
            return Err(e);
        }
        Ok(sim)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops every pod and the API server.
    pub async fn stop(self) {
        self.cluster.shutdown().await;
        let _ = self.shutdown.send(());
        // Watches and exec sessions may hold connections open; do not wait for them long.
        let _ = tokio::time::timeout(Duration::from_secs(3), self.server).await;
    }
}

/// The bearer token, kept in the data directory so a restart keeps kubeconfigs valid.
fn token(dir: &Path) -> Result<String> {
    let path = dir.join("token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let bytes: [u8; 24] = rand::random();
    let token = hex::encode(bytes);
    std::fs::write(&path, &token).map_err(|e| SimError::io(&path, e))?;
    Ok(token)
}

/// Accepts TLS connections and serves each with HTTP/1.1 upgrades (exec WebSockets).
async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
}

fn write_kubeconfig(path: &Path, server: &str, token: &str, ca_pem: &str) -> Result<()> {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n- name: sim-admin\n  user:\n    token: {token}\n\
         contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: sim-admin\n    namespace: {NAMESPACE}\n\
         current-context: sim\npreferences: {{}}\n"
    );
    std::fs::write(path, text).map_err(|e| SimError::io(path, e))
}

/// What a client of a running simulator needs: its URL, token and CA (PEM), read from its
/// data directory's kubeconfig.
pub fn endpoint(dir: &Path) -> Result<(String, String, String)> {
    let path = dir.join("kubeconfig");
    let text = std::fs::read_to_string(&path).map_err(|e| SimError::io(&path, e))?;
    let find = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let ca = find("certificate-authority-data:").and_then(|b| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(b).ok()
    });
    match (find("server:"), find("token:"), ca) {
        (Some(server), Some(token), Some(ca)) => {
            Ok((server, token, String::from_utf8_lossy(&ca).into_owned()))
        }
        _ => Err(SimError::Other(format!(
            "{} is not a simulator kubeconfig",
            path.display()
        ))),
    }
}
