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

fn connect_error(what: String, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Connect {
        what,
        source: Box::new(e),
    }
}

/// The namespace a command would use, without connecting: `-n`, else the kubeconfig
/// context's (as kubectl), else none.
pub fn configured_namespace(options: &ClusterOptions) -> Option<String> {
    if let Some(ns) = &options.namespace {
        return Some(ns.clone());
    }
    let file = match &options.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).ok()?,
        None => Kubeconfig::read().ok()?,
    };
    let context = options
        .context
        .clone()
        .or_else(|| file.current_context.clone())?;
    file.contexts
        .iter()
        .find(|c| c.name == context)?
        .context
        .as_ref()?
        .namespace
        .clone()
}

pub async fn connect(options: &ClusterOptions) -> Result<(Client, String, String)> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: None,
        user: None,
    };
    let mut config = match &options.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                connect_error(format!("cannot read kubeconfig {}", path.display()), e)
            })?;
            Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .map_err(|e| connect_error(format!("kubeconfig {}", path.display()), e))?
        }
        None => match Kubeconfig::read() {
            Ok(file) => Config::from_custom_kubeconfig(file, &kube_options)
                .await
                .map_err(|e| connect_error("kubeconfig".into(), e))?,
            Err(file_error) => {
                if options.context.is_some() {
                    return Err(connect_error(
                        "--context needs a kubeconfig".into(),
                        file_error,
                    ));
                }
                Config::incluster().map_err(|e| {
                    connect_error(
                        format!("no kubeconfig ({file_error}) and not running in a cluster; use --kubeconfig"),
                        e,
                    )
                })?
            }
        },
    };
    // Our own retries (cluster::retry) know which calls are idempotent and also cover 500s;
    // kube's layer would retry a POST on 503 as well, and count separately.
    config.default_retry = false;
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .map_err(|e| connect_error(format!("cannot build a client for {server}"), e))?;
    // Fail early, with the address, rather than at the first plugin call.
    super::retry::idempotent(|| client.apiserver_version())
        .await
        .map_err(|e| Error::Connect {
            what: format!("cannot reach the API server at {server}"),
            source: Box::new(std::io::Error::other(crate::error::api_words(&e))),
        })?;
    Ok((client, namespace, server))
}
