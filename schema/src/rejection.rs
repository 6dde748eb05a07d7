//! Why a record was refused: a stable code, a message, and the JSON Pointer of the field.
//!
//! The codes are part of the protocol (docs/protocol.md, "Error codes"); clients match on them,
//! so a code is never renamed or reused.

use crate::echo;
use crate::validate::Violation;

/// Most violations one `schema_violation` lists: a record with a million bad members must not
/// draw a million-line answer.
pub const MAX_VIOLATIONS: usize = 20;
use serde::{Deserialize, Serialize};

/// The record-level error codes, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotIjson,
    BadEnvelope,
    UnknownKey,
    BadSignature,
    SchemaViolation,
    StaleVersion,
    VersionConflict,
    /// A key record names the root key, or a key that already belongs to another region.
    KeyInUse,
}

impl ErrorCode {
    /// Every code, in check order.
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::NotIjson,
        ErrorCode::BadEnvelope,
        ErrorCode::UnknownKey,
        ErrorCode::BadSignature,
        ErrorCode::SchemaViolation,
        ErrorCode::StaleVersion,
        ErrorCode::VersionConflict,
        ErrorCode::KeyInUse,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotIjson => "not_ijson",
            ErrorCode::BadEnvelope => "bad_envelope",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::SchemaViolation => "schema_violation",
            ErrorCode::StaleVersion => "stale_version",
            ErrorCode::VersionConflict => "version_conflict",
            ErrorCode::KeyInUse => "key_in_use",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refusal, as reported in a per-record result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// JSON Pointer into the envelope (`/record/...` for record fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Every schema violation, when the code is `schema_violation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

impl Rejection {
    /// Its message is cut to [`echo::MAX_ECHO_CHARS`]: messages quote client input.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: echo::cut(message.into()),
            pointer: None,
            violations: Vec::new(),
        }
    }

    pub fn at(code: ErrorCode, message: impl Into<String>, pointer: &str) -> Rejection {
        Rejection {
            pointer: Some(echo::cut(pointer.to_owned())),
            ..Rejection::new(code, message)
        }
    }

    /// A `schema_violation` listing the violations (at most [`MAX_VIOLATIONS`]; the message says
    /// how many more), with pointers made envelope-relative.
    pub fn schema(violations: Vec<Violation>) -> Rejection {
        let total = violations.len();
        let violations: Vec<Violation> = violations
            .into_iter()
            .take(MAX_VIOLATIONS)
            .map(|v| {
                Violation {
                    pointer: format!("/record{}", v.pointer),
                    message: v.message,
                }
                .bounded()
            })
            .collect();
        let more = match total {
            0 | 1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        Rejection {
            code: ErrorCode::SchemaViolation,
            message: violations.first().map_or_else(
                || "record does not match the schema".to_owned(),
                |first| format!("{}{more}", first.message),
            ),
            pointer: violations.first().map(|first| first.pointer.clone()),
            violations,
        }
    }
}
