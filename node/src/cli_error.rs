//! The command-line error type and the exit status each kind maps to.

use std::fmt::Display;
use std::process::ExitCode;

/// A command's failure. Exit statuses: 1 for invalid input (a record, an envelope, a file that
/// does not parse), 2 for usage and environment problems (missing files, existing keys), 3 when
/// the hub cannot be reached or refuses the node.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Hub(String),
}

impl CliError {
    pub fn io(what: impl Display, error: std::io::Error) -> CliError {
        CliError::Usage(format!("{what}: {error}"))
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Invalid(_) => ExitCode::from(1),
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Hub(_) => ExitCode::from(3),
        }
    }
}
