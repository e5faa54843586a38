//! The crate's error type.

use std::path::PathBuf;

/// Errors of the load generator library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid option or combination of options.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A payload file or manifest could not be understood.
    #[error("bad payload: {0}")]
    Payload(String),
    /// The transport could not be set up (bad endpoint, header, ...).
    #[error("transport setup: {0}")]
    Transport(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
