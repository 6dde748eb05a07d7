//! The wire protocol: every type that crosses HTTP between a node and the hub, in one place.
//!
//! The hub serialises these types and the node deserialises the same ones, so a field renamed on
//! one side cannot go unnoticed on the other. docs/protocol.md is the prose form of this module
//! for implementations in other languages.
//!
//! - [`labels`]: the record's enumerations with their Chinese and English labels.
//! - [`keys`]: key records, the key book by log position and the region list.
//! - [`log`]: the transparency log's proofs, cosignature submissions and witness naming.
//! - [`RecordId`], [`time`]: how records are named and how times are written.
//! - Publishing ([`PublishResponse`]), the feed ([`FeedPage`], [`FeedEntry`]), the region list
//!   ([`keys::RegionList`]), health ([`Health`]) and the error body ([`ErrorBody`], [`ApiErrorCode`]).

pub mod keys;
pub mod labels;
pub mod log;
pub mod time;

use crate::rejection::Rejection;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A record's global id: `{region}/{local_id}`, unique across the federation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    pub region: String,
    pub local_id: String,
}

impl RecordId {
    pub fn new(region: &str, local_id: &str) -> RecordId {
        RecordId {
            region: region.to_owned(),
            local_id: local_id.to_owned(),
        }
    }

    /// Splits `CN-GS/GS-0001` at the first `/` (a region code has none; a local id may not).
    pub fn parse(text: &str) -> Option<RecordId> {
        let (region, local_id) = text.split_once('/')?;
        (!region.is_empty() && !local_id.is_empty()).then(|| RecordId::new(region, local_id))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.local_id)
    }
}

/// What `POST /v1/records` takes: `{"records": [envelope, …]}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishRequest<'a> {
    #[serde(borrow)]
    pub records: Vec<&'a RawValue>,
}

/// What `POST /v1/records` answers: one result per element, in request order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublishResponse {
    pub results: Vec<PublishResult>,
}

/// One record's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublishResult {
    /// `{region}/{local_id}`, when the element was readable enough to name it.
    pub id: Option<String>,
    pub version: Option<u64>,
    pub status: PublishStatus,
    /// The log seq of the stored version (accepted: the new one; duplicate: the existing one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Its transparency-log leaf (seq − 1): the receipt a node keeps and `audit` proves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// The rejection, for `rejected`: `{"code", "pointer", "message", …}` (docs/protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<Rejection>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishStatus {
    /// Stored as a new version; it appears in the feed at `seq`.
    Accepted,
    /// This exact content is already stored (a re-send, or an older identical version).
    Duplicate,
    /// Refused, with a stable code in `error.code`.
    Rejected,
}

/// One page of `GET /v1/feed`. Entries stay raw: a node checks the envelope's exact bytes.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeedPage<'a> {
    #[serde(borrow)]
    pub entries: Vec<&'a RawValue>,
    /// The `after` of the next request.
    pub next: u64,
}

/// One accepted version as the feed (and `GET /v1/records/{region}/{local_id}`) serves it.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeedEntry<'a> {
    pub seq: u64,
    /// When the hub accepted it (RFC 3339, UTC): information only, never a basis for trust.
    #[serde(borrow)]
    pub received_at: Cow<'a, str>,
    /// The signed envelope in canonical (RFC 8785) form, byte for byte as verified.
    #[serde(borrow)]
    pub envelope: &'a RawValue,
}

/// The bytes of a feed entry as the hub stores and serves it (and as a serving node answers
/// `GET /v1/records/…`): `{"seq","leaf_index","received_at","envelope"}`, the envelope's bytes as
/// they are. A node's own record holds no feed position (`None`): its members are `null`.
pub fn feed_entry_bytes(position: Option<(u64, &str)>, envelope: &[u8]) -> Vec<u8> {
    let head = match position {
        Some((seq, received_at)) => format!(
            "{{\"seq\":{seq},\"leaf_index\":{},\"received_at\":{},\"envelope\":",
            seq.saturating_sub(1),
            serde_json::Value::from(received_at)
        ),
        None => "{\"seq\":null,\"leaf_index\":null,\"received_at\":null,\"envelope\":".to_owned(),
    };
    let mut out = Vec::with_capacity(head.len() + envelope.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(envelope);
    out.push(b'}');
    out
}

/// `GET /healthz` of the hub.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
    /// The highest seq in the log.
    pub last_seq: u64,
    /// The highest seq the search index and statistics reflect.
    pub indexed_seq: u64,
}

/// The body of every error answer: `{"error": {…}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ErrorDetail {
    #[schema(schema_with = error_code_schema)]
    pub code: String,
    pub message: String,
    /// Where the code is documented: `docs/protocol.md#{code with dashes}`.
    pub docs: String,
    /// The query parameter at fault, for `bad_parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// The OpenAPI schema of `ErrorDetail::code`: the codes of [`ApiErrorCode`]'s table.
fn error_code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ApiErrorCode::TABLE.iter().map(|row| row.1)))
        .description(Some(
            "A request-level error code; its status and meaning are in docs/protocol.md#8-error-codes",
        ))
        .build()
}

/// The request-level error codes (per-record codes are [`crate::ErrorCode`]): code, HTTP status
/// and documentation anchor in one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiErrorCode {
    MalformedJson,
    TooLarge,
    NotFound,
    BadParameter,
    BadCosignature,
    Timeout,
    ShuttingDown,
    /// The statistics are being rebuilt after a restart (search answers meanwhile): answered
    /// with `Retry-After`.
    WarmingUp,
    /// Every connection slot is taken: the server answers this at accept and closes.
    Overloaded,
    Internal,
}

impl ApiErrorCode {
    /// `(code, name, HTTP status)`: the table docs/protocol.md mirrors.
    const TABLE: [(ApiErrorCode, &'static str, u16); 10] = [
        (ApiErrorCode::MalformedJson, "malformed_json", 400),
        (ApiErrorCode::TooLarge, "too_large", 413),
        (ApiErrorCode::NotFound, "not_found", 404),
        (ApiErrorCode::BadParameter, "bad_parameter", 400),
        (ApiErrorCode::BadCosignature, "bad_cosignature", 400),
        (ApiErrorCode::Timeout, "timeout", 408),
        (ApiErrorCode::ShuttingDown, "shutting_down", 503),
        (ApiErrorCode::WarmingUp, "warming_up", 503),
        (ApiErrorCode::Overloaded, "overloaded", 503),
        (ApiErrorCode::Internal, "internal", 500),
    ];

    fn row(self) -> (ApiErrorCode, &'static str, u16) {
        Self::TABLE
            .into_iter()
            .find(|row| row.0 == self)
            .unwrap_or((self, "internal", 500))
    }

    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    pub fn http_status(self) -> u16 {
        self.row().2
    }

    /// The error body for this code. The message and parameter are cut to
    /// [`crate::echo::MAX_ECHO_CHARS`] (they may quote the request), so an error answer stays
    /// under a few kilobytes whatever the request was.
    pub fn body(self, message: String, parameter: Option<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.as_str().to_owned(),
                message: crate::echo::cut(message),
                docs: docs_anchor(self.as_str()),
                parameter: parameter.map(crate::echo::cut),
            },
        }
    }
}

/// Where a code is documented.
pub fn docs_anchor(code: &str) -> String {
    format!("docs/protocol.md#{}", code.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_split_at_the_first_slash() {
        let id = RecordId::parse("CN-GS/GS-0001").unwrap();
        assert_eq!(
            (id.region.as_str(), id.local_id.as_str()),
            ("CN-GS", "GS-0001")
        );
        assert_eq!(id.to_string(), "CN-GS/GS-0001");
        assert_eq!(RecordId::parse("CN-GS"), None);
        assert_eq!(RecordId::parse("/x"), None);
    }

    #[test]
    fn feed_entries_keep_the_envelope_bytes() {
        let text = r#"{"seq":7,"received_at":"2026-01-01T00:00:00Z","envelope":{"b":1,"a":2}}"#;
        let entry: FeedEntry = serde_json::from_str(text).unwrap();
        assert_eq!((entry.seq, entry.envelope.get()), (7, r#"{"b":1,"a":2}"#));
    }

    #[test]
    fn feed_entry_bytes_parse_as_feed_entries() {
        let bytes = feed_entry_bytes(Some((3, "2026-01-01T00:00:00Z")), br#"{"a":1}"#);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"seq":3,"leaf_index":2,"received_at":"2026-01-01T00:00:00Z","envelope":{"a":1}}"#
        );
        let entry: FeedEntry = serde_json::from_slice(&bytes).unwrap();
        assert_eq!((entry.seq, entry.envelope.get()), (3, r#"{"a":1}"#));
        let own = feed_entry_bytes(None, b"{}");
        assert!(own.starts_with(br#"{"seq":null,"leaf_index":null"#));
    }

    #[test]
    fn publish_results_round_trip() {
        let text = r#"{"results":[{"id":"CN-BJ/a","version":2,"status":"duplicate","seq":9}]}"#;
        let response: PublishResponse = serde_json::from_str(text).unwrap();
        assert_eq!(response.results[0].status, PublishStatus::Duplicate);
        assert_eq!(serde_json::to_string(&response).unwrap(), text);
    }

    #[test]
    fn every_api_error_code_has_a_distinct_name_and_anchor() {
        let mut names: Vec<&str> = ApiErrorCode::TABLE.iter().map(|r| r.1).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ApiErrorCode::TABLE.len());
        let body = ApiErrorCode::BadParameter.body("q: too long".into(), Some("q".into()));
        assert_eq!(body.error.docs, "docs/protocol.md#bad-parameter");
        assert_eq!(ApiErrorCode::TooLarge.http_status(), 413);
    }
}
