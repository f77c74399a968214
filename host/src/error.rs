//! The host's one error type. Variants map onto the contract's error (what a plugin
//! sees), onto exit codes (what a script sees), and keep their cause, so a message can
//! say what was being done, where, and why.

use std::path::PathBuf;

use contract::Hook;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A capability check refused a plugin's call.
    #[error("denied: {0}")]
    Denied(String),
    /// The API server's 403: the credentials the host runs with lack a permission.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("`{}` exited with {exit_code}: {}", argv.join(" "), stderr_tail.trim())]
    CommandFailed {
        argv: Vec<String>,
        exit_code: i32,
        stderr_tail: String,
    },
    /// A request that cannot be right: a bad selector, path, JSON or argument.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The file given as a plugin is not one this host can run.
    #[error("{path}: {message}")]
    BadPlugin { path: PathBuf, message: String },
    /// Plugins that cannot run together (an `after` cycle, two with one name).
    #[error("{dir}: {source}")]
    BadPluginSet {
        dir: PathBuf,
        #[source]
        source: contract::ManifestError,
    },
    /// The backup set fails verification.
    #[error("backup set {path}: {message}")]
    BadSet { path: PathBuf, message: String },
    /// Refused before changing anything (unsupported version, unfinished earlier run).
    #[error("{0}")]
    Refused(String),
    /// A plugin not signed by a key `--require-signed` names, or whose signature does
    /// not check: refused before anything runs.
    #[error("plugin {path}: {message}")]
    Unsigned { path: PathBuf, message: String },
    /// An OCI registry refused or failed a push or pull.
    #[error("{what}: {source}")]
    Registry {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A plugin trapped or its hook returned an error.
    #[error("plugin {plugin}, {hook}: {message}")]
    Plugin {
        plugin: String,
        hook: Hook,
        message: String,
    },
    /// The API server answered a call with an error, after the retries an idempotent
    /// call gets. The message is the server's answer in words.
    #[error("{call}: {}", api_words(source))]
    Api {
        call: String,
        #[source]
        source: kube::Error,
    },
    /// No connection to the cluster at all: kubeconfig, network, TLS, credentials.
    #[error("{what}: {source}")]
    Connect {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The object store (`--repo s3://`) refused or failed a request, after the retries
    /// object_store gives each one.
    #[error("{at}: {source}")]
    Storage {
        at: String,
        #[source]
        source: object_store::Error,
    },
    /// A data stream between a pod and the set broke.
    #[error("{0}")]
    Stream(String),
    /// wasmtime refused something that is not the plugin's fault.
    #[error("{what}: {source}")]
    Wasm {
        what: &'static str,
        #[source]
        source: wasmtime::Error,
    },
    /// A task of the host's own died.
    #[error("{what}: {source}")]
    Task {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// SIGINT or SIGTERM.
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn bad_plugin(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadPlugin {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn bad_set(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadSet {
            path: path.into(),
            message: message.into(),
        }
    }

    /// What the API server said about `call`, sorted into what a plugin can act on: a
    /// missing object, refused credentials, a request the server calls invalid.
    pub fn api(call: impl Into<String>, source: kube::Error) -> Self {
        let call = call.into();
        match &source {
            kube::Error::Api(status) if status.code == 404 => {
                Error::NotFound(format!("{call}: {}", status.message))
            }
            kube::Error::Api(status) if status.code == 401 => Error::Denied(format!(
                "{call}: the cluster refused your credentials (401): {}",
                status.message
            )),
            // The API server's message names the verb, resource and namespace it refused.
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden(format!(
                "{call}: {} (`host rbac` prints the Role these plugins need)",
                status.message
            )),
            kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
                Error::Invalid(format!("{call}: {}", status.message))
            }
            _ => Error::Api { call, source },
        }
    }

    pub fn wasm(what: &'static str, source: wasmtime::Error) -> Self {
        Error::Wasm { what, source }
    }

    pub fn task(what: &'static str, source: tokio::task::JoinError) -> Self {
        Error::Task { what, source }
    }
}

/// What the API server (or the way to it) said, in words a person reads: not kube's
/// debug dump of a `Status`.
pub fn api_words(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let code = http::StatusCode::from_u16(status.code)
                .map(|c| c.to_string())
                .unwrap_or_else(|_| status.code.to_string());
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", status.reason)
            };
            let message = if status.message.is_empty() {
                "no message".to_string()
            } else {
                status.message.clone()
            };
            format!("the API server answered {code}{reason}: {message}")
        }
        kube::Error::HyperError(e) => format!("the connection to the API server failed: {e}"),
        kube::Error::Service(e) => format!("the request to the API server failed: {e}"),
        kube::Error::SerdeError(e) => {
            format!("the API server's answer is not what was expected: {e}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_a_sentence() {
        let status = kube::core::Status::failure("etcdserver: leader changed", "InternalError")
            .with_code(500);
        let words = api_words(&kube::Error::Api(Box::new(status)));
        assert_eq!(
            words,
            "the API server answered 500 Internal Server Error (InternalError): etcdserver: leader changed"
        );
        assert!(!words.contains("Status {"));
    }
}
