//! The node's library error: what went wrong, classified by who can fix it.

use crate::cli_error::CliError;
use yiqi_store::StorageError;

/// A node operation's failure. The kinds map one-to-one onto the command line's exit statuses
/// (see [`CliError`]): invalid input 1, usage or environment 2, hub unreachable or refusing 3.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The input (a catalogue file, an id, a snapshot) cannot be used as given.
    #[error("{0}")]
    Invalid(String),
    /// The node folder, its configuration or the command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The hub could not be reached, or refused the node.
    #[error("{0}")]
    Hub(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<NodeError> for CliError {
    fn from(error: NodeError) -> CliError {
        match error {
            NodeError::Invalid(message) => CliError::Invalid(message),
            NodeError::Usage(message) => CliError::Usage(message),
            NodeError::Hub(message) => CliError::Hub(message),
            // A store that fails is an environment problem (disk full, folder damaged).
            NodeError::Storage(e) => CliError::Usage(e.to_string()),
        }
    }
}

/// A stored value that does not decode: the store was damaged or written by something else.
pub fn corrupt(what: &str) -> StorageError {
    StorageError(format!("corrupt {what} entry in the node store"))
}
