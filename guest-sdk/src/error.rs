//! The contract's error type, with what a plugin needs to make and read one.

pub use crate::bindings::host::plugin::types::{CommandFailure, Error};

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The request or the data is not what it must be.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid(message.into())
    }
    /// Something went wrong that is not the caller's fault.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::Failed(message.into())
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::NotFound(message.into())
    }

    /// The same error, its message prefixed with what was being done.
    pub fn context(self, doing: &str) -> Error {
        let with = |m: String| format!("{doing}: {m}");
        match self {
            Error::Denied(m) => Error::Denied(with(m)),
            Error::NotFound(m) => Error::NotFound(with(m)),
            Error::Timeout(m) => Error::Timeout(with(m)),
            Error::Invalid(m) => Error::Invalid(with(m)),
            Error::Failed(m) => Error::Failed(with(m)),
            Error::CommandFailed(mut f) => {
                f.stderr_tail = with(f.stderr_tail);
                Error::CommandFailed(f)
            }
        }
    }

    /// One line for a person.
    pub fn message(&self) -> String {
        match self {
            Error::Denied(m) => format!("denied: {m}"),
            Error::NotFound(m) => format!("not found: {m}"),
            Error::Timeout(m) => format!("timed out: {m}"),
            Error::Invalid(m) => format!("invalid: {m}"),
            Error::Failed(m) => m.clone(),
            Error::CommandFailed(f) => format!(
                "`{}` exited with {}: {}",
                f.argv.join(" "),
                f.exit_code,
                f.stderr_tail.trim()
            ),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Invalid(format!("JSON: {e}"))
    }
}

/// `?` on an `Option` with a reason.
pub trait OrInvalid<T> {
    fn or_invalid(self, message: &str) -> Result<T>;
}

impl<T> OrInvalid<T> for Option<T> {
    fn or_invalid(self, message: &str) -> Result<T> {
        self.ok_or_else(|| Error::invalid(message))
    }
}

impl<T, E: std::fmt::Display> OrInvalid<T> for std::result::Result<T, E> {
    fn or_invalid(self, message: &str) -> Result<T> {
        self.map_err(|e| Error::invalid(format!("{message}: {e}")))
    }
}
