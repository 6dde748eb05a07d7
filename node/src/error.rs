//! The node's error: what went wrong, classified by who can fix it, and the exit status of the
//! command line for each kind.

use std::fmt::Display;
use std::process::ExitCode;
use yiqi_store::StorageError;

/// A node operation's failure. Exit statuses: 1 invalid input (a record, an envelope, a file that
/// does not parse), 2 usage or environment (bad arguments, missing or existing files, a folder in
/// use, a failing store), 3 the hub unreachable or refusing the node, 4 the hub broke its log's
/// promise (an alarm, with evidence kept), 5 nothing proven wrong but the checkpoint lacks its
/// witness quorum (`audit` only).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The input (a catalogue file, an id, a snapshot) cannot be used as given.
    #[error("{0}")]
    Invalid(String),
    /// The node folder, its configuration or the command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// Another process (`yiqi-node run`) holds the node folder.
    #[error("{0}")]
    InUse(String),
    /// The hub could not be reached, or refused the node.
    #[error("{0}")]
    Hub(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The hub broke its log's promise: a proven inconsistency, kept as evidence. Sync refuses
    /// to continue until the operator clears the alarm.
    #[error("{0}")]
    Alarm(String),
    /// Nothing was proven wrong, but the hub's checkpoint lacks its witness quorum.
    #[error("{0}")]
    NotFinal(String),
}

impl NodeError {
    /// An I/O failure on `what` (a path, stdin): an environment problem.
    pub fn io(what: impl Display, error: std::io::Error) -> NodeError {
        NodeError::Usage(format!("{what}: {error}"))
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit_status())
    }

    /// The command line's exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            NodeError::Invalid(_) => 1,
            // A store that fails is an environment problem (disk full, folder damaged).
            NodeError::Usage(_) | NodeError::InUse(_) | NodeError::Storage(_) => 2,
            NodeError::Hub(_) => 3,
            NodeError::Alarm(_) => 4,
            NodeError::NotFinal(_) => 5,
        }
    }

    /// The error another process reported with exit status `status` (see [`crate::control`]).
    pub fn from_exit_status(status: u8, message: String) -> NodeError {
        match status {
            1 => NodeError::Invalid(message),
            3 => NodeError::Hub(message),
            4 => NodeError::Alarm(message),
            5 => NodeError::NotFinal(message),
            _ => NodeError::Usage(message),
        }
    }
}

impl From<yiqi_search::SearchError> for NodeError {
    /// The search index's folder or files failed: an environment problem, like a failing store.
    fn from(e: yiqi_search::SearchError) -> NodeError {
        NodeError::Usage(e.to_string())
    }
}

/// A stored value that does not decode: the store was damaged or written by something else.
pub fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(format!("{what} entry in the node store"))
}
