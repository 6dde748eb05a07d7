//! Validation of a record (instrument, service, tombstone or region key) against the embedded JSON
//! Schema and the rules JSON Schema cannot express: the size of `ext`; for key records that
//! `local_id` equals `key`, that the key is an Ed25519 curve point, and that a key is never
//! deleted (it is revoked); for service records that the service ends no earlier than it starts
//! and lasted at least its hours.
//!
//! Every violation carries the JSON Pointer of the offending field, so a platform operator can
//! find it in their own export. Messages are bounded in length: a 10 MB string must not come back
//! inside its own error message.

use crate::canonical::canonical_bytes;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

/// The record schema (JSON Schema 2020-12), exactly as shipped in `schema/instrument.schema.json`.
pub const SCHEMA_JSON: &str = include_str!("../instrument.schema.json");

/// Largest canonical size of the `ext` object, in bytes.
pub const MAX_EXT_BYTES: usize = 4096;

/// One reason a record is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON Pointer (RFC 6901) of the offending field; empty for the whole record.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(record)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA_JSON).expect("embedded schema is JSON");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("embedded schema compiles")
    })
}

/// The schema as a parsed value (for serving it, e.g. at `GET /v1/schema`).
pub fn schema_value() -> Value {
    serde_json::from_str(SCHEMA_JSON).expect("embedded schema is JSON")
}

/// Checks a record; `Ok` or every violation found, in document order.
pub fn validate_record(record: &Value) -> Result<(), Vec<Violation>> {
    let extra = rule_violations(record);
    if extra.is_empty() && validator().is_valid(record) {
        return Ok(());
    }
    let deleted_key = is_key_record(record) && record.get("deleted").is_some();
    let mut violations: Vec<Violation> = validator()
        .iter_errors(record)
        .flat_map(|e| violations_of(&e))
        // A deleted key has its own, clearer violation below.
        .filter(|v| !(deleted_key && v.pointer == "/deleted"))
        .collect();
    violations.extend(extra);
    violations.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    violations.dedup();
    Err(violations)
}

/// Whether a record claims to be a region key record (`"kind": "key"`).
pub fn is_key_record(record: &Value) -> bool {
    record.get("kind").and_then(Value::as_str) == Some("key")
}

/// The violations of the rules the JSON Schema cannot express.
fn rule_violations(record: &Value) -> Vec<Violation> {
    let mut violations: Vec<Violation> = ext_violation(record).into_iter().collect();
    if is_key_record(record) {
        violations.extend(key_record_violations(record));
    }
    if is_service_record(record) {
        violations.extend(service_violations(record));
    }
    violations
}

/// Whether a record claims to be a service record (`"kind": "service"`).
pub fn is_service_record(record: &Value) -> bool {
    record.get("kind").and_then(Value::as_str) == Some("service")
}

/// A service's own rules: its span is not negative, its hours fit in the span, and hours have
/// at most two decimals (so the statistics add them exactly, in hundredths).
fn service_violations(record: &Value) -> Vec<Violation> {
    let mut violations = Vec::new();
    let time = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .and_then(crate::protocol::time::parse_rfc3339)
    };
    let hours = record.get("hours").and_then(Value::as_f64);
    if let (Some(started), Some(ended)) = (time("started_at"), time("ended_at")) {
        let span_hours = (ended - started).as_seconds_f64() / 3600.0;
        if span_hours < 0.0 {
            violations.push(Violation {
                pointer: "/ended_at".into(),
                message: "a service cannot end before it started (started_at)".into(),
            });
        } else if let Some(hours) = hours.filter(|h| *h > span_hours + 1e-9) {
            violations.push(Violation {
                pointer: "/hours".into(),
                message: format!(
                    "{hours} hours do not fit between started_at and ended_at ({span_hours:.2} hours)"
                ),
            });
        }
    }
    if let Some(hours) = hours.filter(|h| centi_hours(*h).is_none()) {
        violations.push(Violation {
            pointer: "/hours".into(),
            message: format!("{hours}: hours have at most two decimals"),
        });
    }
    violations
}

/// Hours in hundredths, when `hours` is a non-negative number with at most two decimals.
pub fn centi_hours(hours: f64) -> Option<u64> {
    let centi = (hours * 100.0).round();
    ((hours * 100.0 - centi).abs() < 1e-6 && (0.0..=1e15).contains(&centi)).then_some(centi as u64)
}

/// A key record's own rules: `local_id` is the key itself (so a key has one record, and its
/// versions are that key's history), the key is a usable Ed25519 public key, and a key is revoked
/// with `"status": "revoked"`, never deleted (a tombstone would erase when it stopped being valid).
fn key_record_violations(record: &Value) -> Vec<Violation> {
    let mut violations = Vec::new();
    let key = record.get("key").and_then(Value::as_str);
    if let Some(key) = key {
        if let Err(e) = crate::keys::parse_public_key(key) {
            violations.push(Violation {
                pointer: "/key".into(),
                message: format!("not an Ed25519 public key: {e}"),
            });
        }
        if record.get("local_id").and_then(Value::as_str) != Some(key) {
            violations.push(Violation {
                pointer: "/local_id".into(),
                message: "a key record's local_id must equal its key".into(),
            });
        }
    }
    if record.get("deleted").is_some() {
        violations.push(Violation {
            pointer: "/deleted".into(),
            message: "a key is revoked (\"status\": \"revoked\"), never deleted".into(),
        });
    }
    violations.into_iter().map(Violation::bounded).collect()
}

fn ext_violation(record: &Value) -> Option<Violation> {
    let ext = record.get("ext")?;
    let size = canonical_bytes(ext).len();
    (size > MAX_EXT_BYTES).then(|| Violation {
        pointer: "/ext".into(),
        message: format!("ext is {size} bytes in canonical form; at most {MAX_EXT_BYTES} allowed"),
    })
}

fn child_pointer(parent: &str, name: &str) -> String {
    let escaped = name.replace('~', "~0").replace('/', "~1");
    format!("{parent}/{escaped}")
}

fn violations_of(error: &ValidationError<'_>) -> Vec<Violation> {
    let at = error.instance_path().as_str().to_owned();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation {
                pointer: child_pointer(&at, name),
                message: "unknown field (platform-specific fields belong in \"ext\")".into(),
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Violation {
                pointer: child_pointer(&at, name),
                message: "required field is missing".into(),
            }]
        }
        ValidationErrorKind::Enum { options } if at == "/category" => vec![
            Violation {
                message: format!(
                    "{} is not a code of the national instrument classification",
                    error.instance()
                ),
                pointer: at,
            }
            .bounded(),
        ],
        ValidationErrorKind::Enum { options } if enum_len(options) > 12 => vec![
            Violation {
                message: format!(
                    "{} is not one of the {} allowed values",
                    error.instance(),
                    enum_len(options)
                ),
                pointer: at,
            }
            .bounded(),
        ],
        _ => vec![
            Violation {
                message: error.to_string(),
                pointer: at,
            }
            .bounded(),
        ],
    }
}

fn enum_len(options: &Value) -> usize {
    options.as_array().map_or(0, Vec::len)
}

impl Violation {
    /// The violation with its message and pointer cut to [`crate::echo::MAX_ECHO_CHARS`]: both
    /// can quote the client's member names and values.
    pub fn bounded(self) -> Self {
        Violation {
            pointer: crate::echo::cut(self.pointer),
            message: crate::echo::cut(self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_record;
    use serde_json::json;

    fn pointers(record: &Value) -> Vec<String> {
        validate_record(record)
            .unwrap_err()
            .into_iter()
            .map(|v| v.pointer)
            .collect()
    }

    #[test]
    fn sample_record_is_valid() {
        validate_record(&sample_record()).unwrap();
    }

    #[test]
    fn tombstone_is_exactly_five_fields_and_deleted() {
        let t = json!({"kind":"instrument","region":"CN-GS","local_id":"a","version":2,
                       "updated_at":"2026-01-01T00:00:00Z","deleted":true});
        validate_record(&t).unwrap();
        let mut extra = t.clone();
        extra["name"] = json!("x");
        assert_eq!(pointers(&extra), ["/name"]);
        let mut not_true = t;
        not_true["deleted"] = json!(false);
        assert_eq!(pointers(&not_true), ["/deleted"]);
    }

    fn key_record(key: &str) -> Value {
        json!({"kind":"key","region":"CN-BJ","local_id":key,"version":1,
               "updated_at":"2026-01-01T00:00:00Z","key":key,"status":"active","name":"北京市"})
    }

    fn some_key() -> String {
        crate::keys::public_key_text(&crate::keys::generate().verifying_key())
    }

    #[test]
    fn key_records_add_and_revoke() {
        let key = some_key();
        validate_record(&key_record(&key)).unwrap();
        let mut revoke = key_record(&key);
        revoke["version"] = json!(2);
        revoke["status"] = json!("revoked");
        revoke.as_object_mut().unwrap().remove("name");
        validate_record(&revoke).unwrap();
        let mut unknown_status = key_record(&key);
        unknown_status["status"] = json!("suspended");
        assert_eq!(pointers(&unknown_status), ["/status"]);
    }

    #[test]
    fn a_key_records_local_id_is_its_key() {
        let mut r = key_record(&some_key());
        r["local_id"] = json!(some_key());
        assert_eq!(pointers(&r), ["/local_id"]);
        r["local_id"] = json!("BJ-0001");
        assert_eq!(pointers(&r), ["/local_id", "/local_id"]);
    }

    #[test]
    fn a_key_record_needs_a_valid_ed25519_key() {
        // 32 bytes in canonical base64url, but not a point of the curve (about half of all
        // 32-byte strings are not).
        let not_a_point = (2u8..)
            .map(|n| crate::keys::encode_b64(&[n; 32]))
            .find(|k| crate::keys::parse_public_key(k).is_err())
            .unwrap();
        assert_eq!(pointers(&key_record(&not_a_point)), ["/key"]);
        // Too short: the schema's pattern and the key rule both say so, at /key and /local_id.
        let short = crate::keys::encode_b64(&[7; 16]);
        assert_eq!(pointers(&key_record(&short)), ["/key", "/key", "/local_id"]);
    }

    #[test]
    fn a_key_is_revoked_never_deleted() {
        let mut r = key_record(&some_key());
        r["deleted"] = json!(true);
        let violations = validate_record(&r).unwrap_err();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].pointer, "/deleted");
        assert!(violations[0].message.contains("revoked"));
    }

    #[test]
    fn reports_every_violation_with_its_pointer() {
        let mut r = sample_record();
        r["categroy"] = json!("010101");
        r["category"] = json!("999999");
        r["region"] = json!("CN-XX");
        r["contact"]["email"] = json!("not an email");
        r["location"].as_object_mut().unwrap().remove("city");
        r["updated_at"] = json!("2026-01-01T08:00:00+08:00");
        r["specs"] = json!("x".repeat(501));
        r["version"] = json!(0);
        assert_eq!(
            pointers(&r),
            [
                "/category",
                "/categroy",
                "/contact/email",
                "/location/city",
                "/region",
                "/specs",
                "/updated_at",
                "/version"
            ]
        );
    }

    fn service() -> Value {
        json!({"kind":"service","region":"CN-BJ","local_id":"S-1","version":1,
               "updated_at":"2026-01-01T00:00:00Z","instrument":"BJ-0001",
               "started_at":"2025-03-04T09:00:00+08:00","ended_at":"2025-03-04T17:00:00+08:00",
               "hours":8,"modes":["commissioned"],"client":"external","purpose":"research",
               "amount_cny":2400,
               "client_institution":{"name":"天津大学","code":"12120000401359321Q",
                                     "region":"CN-TJ","type":"university"},
               "voucher":{"program":"首都科技创新券","id":"V-1","amount_cny":1200},
               "rating":"very_satisfied","content":"TEM 成像","project":"催化剂表征",
               "funding":["nsfc"],"subjects":["材料科学"],"on_site":true})
    }

    #[test]
    fn a_service_record_is_valid_and_strict() {
        validate_record(&service()).unwrap();
        let mut personal = service();
        personal["applicant"] = json!("张三");
        personal["client_institution"]["phone"] = json!("13800000000");
        assert_eq!(
            pointers(&personal),
            ["/applicant", "/client_institution/phone"]
        );
        let mut missing = service();
        missing.as_object_mut().unwrap().remove("client");
        missing["modes"] = json!(["borrowed"]);
        assert_eq!(pointers(&missing), ["/client", "/modes/0"]);
    }

    #[test]
    fn a_service_ends_after_it_starts_and_its_hours_fit() {
        let mut backwards = service();
        backwards["ended_at"] = json!("2025-03-04T08:00:00+08:00");
        assert_eq!(pointers(&backwards), ["/ended_at"]);
        let mut too_long = service();
        too_long["hours"] = json!(8.5);
        assert_eq!(pointers(&too_long), ["/hours"]);
        // The same instant in another offset: 01:00Z is 09:00+08:00, so 8 hours still fit.
        let mut offsets = service();
        offsets["started_at"] = json!("2025-03-04T01:00:00Z");
        validate_record(&offsets).unwrap();
        let mut fine = service();
        fine["hours"] = json!(7.25);
        validate_record(&fine).unwrap();
        fine["hours"] = json!(7.255);
        assert_eq!(pointers(&fine), ["/hours"]);
        fine["started_at"] = json!("2025-03-04 09:00");
        assert_eq!(pointers(&fine), ["/hours", "/started_at", "/started_at"]);
    }

    #[test]
    fn a_service_tombstone_is_a_tombstone() {
        let t = json!({"kind":"service","region":"CN-BJ","local_id":"S-1","version":2,
                       "updated_at":"2026-01-01T00:00:00Z","deleted":true});
        validate_record(&t).unwrap();
    }

    #[test]
    fn messages_stay_short_for_huge_values() {
        let mut r = sample_record();
        r["name"] = json!("仪".repeat(100_000));
        let v = validate_record(&r).unwrap_err();
        assert_eq!(v[0].pointer, "/name");
        assert!(v[0].message.chars().count() <= crate::echo::MAX_ECHO_CHARS + 1);
    }

    #[test]
    fn category_codes_match_the_shipped_classification() {
        let schema = schema_value();
        let codes: Vec<&str> = schema["$defs"]["category"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let classes: Vec<&str> = crate::classification::all()
            .iter()
            .map(|c| c.code)
            .collect();
        assert_eq!(codes, classes);
        assert_eq!(codes.len(), 739);
    }

    #[test]
    fn ext_is_bounded_in_canonical_bytes() {
        let mut r = sample_record();
        r["ext"] = json!({"note": "x".repeat(4000)});
        validate_record(&r).unwrap();
        r["ext"] = json!({"note": "x".repeat(4100)});
        assert_eq!(pointers(&r), ["/ext"]);
    }

    #[test]
    fn formats_are_asserted() {
        let mut r = sample_record();
        r["commissioned_on"] = json!("2020-13-45");
        r["sharing"]["booking_url"] = json!("not a url");
        // booking_url breaks both its format and its https? pattern: two violations, one field.
        assert_eq!(
            pointers(&r),
            [
                "/commissioned_on",
                "/sharing/booking_url",
                "/sharing/booking_url"
            ]
        );
    }
}
