//! The simulator's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Io2(#[from] std::io::Error),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("pod {pod}: {message}")]
    Pod { pod: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl SimError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SimError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn pod(pod: impl Into<String>, message: impl Into<String>) -> Self {
        SimError::Pod {
            pod: pod.into(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, SimError>;
