//! The host's one error type. Variants map onto the contract's error (what a plugin
//! sees), onto exit codes (what a script sees), and carry enough to say what and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A capability check refused a plugin's call.
    #[error("denied: {0}")]
    Denied(String),
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
    /// The backup set fails verification.
    #[error("backup set {path}: {message}")]
    BadSet { path: PathBuf, message: String },
    /// Refused before changing anything (unsupported version, unfinished earlier run).
    #[error("{0}")]
    Refused(String),
    /// A plugin trapped or its hook returned an error.
    #[error("plugin {plugin}, {hook}: {message}")]
    Plugin {
        plugin: String,
        hook: String,
        message: String,
    },
    #[error("cluster: {0}")]
    Kube(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Stream(String),
    #[error("{0}")]
    Runtime(String),
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
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        match &e {
            kube::Error::Api(status) if status.code == 404 => {
                Error::NotFound(status.message.clone())
            }
            kube::Error::Api(status) if status.code == 401 || status.code == 403 => {
                Error::Denied(format!(
                    "the cluster refused your credentials ({}): {}",
                    status.code, status.message
                ))
            }
            kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
                Error::Invalid(status.message.clone())
            }
            _ => Error::Kube(e.to_string()),
        }
    }
}
