//! The SDK's error: the contract's error behind a type of the SDK's own, so a change of
//! the WIT is not a change of every plugin's code.

use crate::__bindings::host::plugin::types as wit;

pub type Result<T> = core::result::Result<T, Error>;

/// What went wrong, as the host (or the plugin itself) classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The plugin's capabilities do not cover the call; nothing was done.
    Denied,
    /// The pod, object or artifact does not exist.
    NotFound,
    /// A time limit passed.
    Timeout,
    /// A command in a pod exited non-zero; see [`Error::command_failure`].
    CommandFailed,
    /// A malformed request or data.
    Invalid,
    /// Anything else: the API server, the network, the disk.
    Failed,
}

/// A command that exited non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub argv: Vec<String>,
    pub exit_code: i32,
    /// The last few KiB of the command's stderr.
    pub stderr_tail: String,
}

#[derive(Debug, Clone)]
pub struct Error(wit::Error);

impl Error {
    /// The request or the data is not what it must be.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error(wit::Error::Invalid(message.into()))
    }
    /// Something went wrong that is not the caller's fault.
    pub fn failed(message: impl Into<String>) -> Error {
        Error(wit::Error::Failed(message.into()))
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error(wit::Error::NotFound(message.into()))
    }
    pub fn timeout(message: impl Into<String>) -> Error {
        Error(wit::Error::Timeout(message.into()))
    }
    pub fn command_failed(failure: CommandFailure) -> Error {
        Error(wit::Error::CommandFailed(wit::CommandFailure {
            argv: failure.argv,
            exit_code: failure.exit_code,
            stderr_tail: failure.stderr_tail,
        }))
    }

    pub fn kind(&self) -> ErrorKind {
        match &self.0 {
            wit::Error::Denied(_) => ErrorKind::Denied,
            wit::Error::NotFound(_) => ErrorKind::NotFound,
            wit::Error::Timeout(_) => ErrorKind::Timeout,
            wit::Error::CommandFailed(_) => ErrorKind::CommandFailed,
            wit::Error::Invalid(_) => ErrorKind::Invalid,
            wit::Error::Failed(_) => ErrorKind::Failed,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    pub fn command_failure(&self) -> Option<CommandFailure> {
        match &self.0 {
            wit::Error::CommandFailed(f) => Some(CommandFailure {
                argv: f.argv.clone(),
                exit_code: f.exit_code,
                stderr_tail: f.stderr_tail.clone(),
            }),
            _ => None,
        }
    }

    /// The same error, its message prefixed with what was being done.
    pub fn context(self, doing: &str) -> Error {
        let with = |m: String| format!("{doing}: {m}");
        Error(match self.0 {
            wit::Error::Denied(m) => wit::Error::Denied(with(m)),
            wit::Error::NotFound(m) => wit::Error::NotFound(with(m)),
            wit::Error::Timeout(m) => wit::Error::Timeout(with(m)),
            wit::Error::Invalid(m) => wit::Error::Invalid(with(m)),
            wit::Error::Failed(m) => wit::Error::Failed(with(m)),
            wit::Error::CommandFailed(mut f) => {
                f.stderr_tail = with(f.stderr_tail);
                wit::Error::CommandFailed(f)
            }
        })
    }

    /// One line for a person.
    pub fn message(&self) -> String {
        match &self.0 {
            wit::Error::Denied(m) => format!("denied: {m}"),
            wit::Error::NotFound(m) => format!("not found: {m}"),
            wit::Error::Timeout(m) => format!("timed out: {m}"),
            wit::Error::Invalid(m) => format!("invalid: {m}"),
            wit::Error::Failed(m) => m.clone(),
            wit::Error::CommandFailed(f) => format!(
                "`{}` exited with {}: {}",
                f.argv.join(" "),
                f.exit_code,
                f.stderr_tail.trim()
            ),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        Error(e)
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        e.0
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid(format!("JSON: {e}"))
    }
}

/// `?` on an `Option` or a foreign `Result` with a reason.
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
