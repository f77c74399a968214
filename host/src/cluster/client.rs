//! Connecting like kubectl does: `--kubeconfig`, else KUBECONFIG, else ~/.kube/config,
//! else the in-cluster service account; `--context`; `-n`, else the context's namespace,
//! else `default`. The host acts with these credentials and no others.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

pub async fn connect(options: &ClusterOptions) -> Result<(Client, String, String)> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: None,
        user: None,
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                Error::Kube(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .map_err(|e| Error::Kube(format!("kubeconfig {}: {e}", path.display())))?
        }
        None => match Kubeconfig::read() {
            Ok(file) => Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .map_err(|e| Error::Kube(format!("kubeconfig: {e}")))?,
            Err(file_error) => {
                if options.context.is_some() {
                    return Err(Error::Kube(format!(
                        "--context needs a kubeconfig: {file_error}"
                    )));
                }
                Config::incluster().map_err(|e| {
                    Error::Kube(format!("no kubeconfig ({file_error}) and not running in a cluster ({e}); use --kubeconfig"))
                })?
            }
        },
    };
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .map_err(|e| Error::Kube(format!("cannot build a client for {server}: {e}")))?;
    // Fail early, with the address, rather than at the first plugin call.
    client
        .apiserver_version()
        .await
        .map_err(|e| Error::Kube(format!("cannot reach the API server at {server}: {e}")))?;
    Ok((client, namespace, server))
}
