//! The stand-alone record tools: `keygen`, `sign`, `verify`, `validate`, `key-record`.
//!
//! They work on files (or stdin as `-`) and need no node folder, so a platform can check its
//! records, or a third party can check a signed envelope, without running anything else.

use crate::error::NodeError;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use yiqi_schema::protocol::keys::{KeyStatus, key_record};
use yiqi_schema::{check_envelope, ijson, keys, sign, validate_record};

/// Reads a file, or stdin when the path is `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>, NodeError> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| NodeError::io("stdin", e))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| NodeError::io(path.display(), e))
}

fn parse_input(path: &Path) -> Result<Value, NodeError> {
    let bytes = read_input(path)?;
    ijson::parse(&bytes).map_err(|e| NodeError::Invalid(format!("{}: {e}", path.display())))
}

/// `keygen --out FILE`: writes a new secret key and returns the public key text.
pub fn keygen(out: &Path) -> Result<String, NodeError> {
    let key = keys::generate();
    keys::write_secret_key(out, &key).map_err(|e| NodeError::Usage(e.to_string()))?;
    Ok(keys::public_key_text(&key.verifying_key()))
}

/// `validate RECORD`: every violation as `pointer: message`.
pub fn validate(path: &Path) -> Result<(), NodeError> {
    validate_value(&parse_input(path)?)
}

fn validate_value(record: &Value) -> Result<(), NodeError> {
    validate_record(record).map_err(|violations| {
        NodeError::Invalid(
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}

/// `sign --key FILE RECORD`: the envelope, after the record validates.
pub fn sign_file(key_path: &Path, record_path: &Path) -> Result<Value, NodeError> {
    let key = keys::read_secret_key(key_path).map_err(|e| NodeError::Usage(e.to_string()))?;
    validate(record_path)?;
    let record = parse_input(record_path)?;
    Ok(serde_json::to_value(sign(record, &key)).expect("an envelope is JSON"))
}

/// What a key record does to a region key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// Adds `key` (version 1), naming the region `name` if given.
    Add { key: String, name: Option<String> },
    /// Revokes `key` (version 2).
    Revoke { key: String },
}

/// `key-record --signer FILE --region R (--add KEY [--name N] | --revoke KEY)`: the key record,
/// validated, signed by the secret key in `signer` (the root's, or an active key of `region`).
pub fn key_record_envelope(
    signer: &Path,
    region: &str,
    change: &KeyChange,
    updated_at: &str,
) -> Result<Value, NodeError> {
    let signer = keys::read_secret_key(signer).map_err(|e| NodeError::Usage(e.to_string()))?;
    let record = match change {
        KeyChange::Add { key, name } => {
            key_record(region, key, KeyStatus::Active, name.as_deref(), updated_at)
        }
        KeyChange::Revoke { key } => key_record(region, key, KeyStatus::Revoked, None, updated_at),
    };
    validate_value(&record)?;
    Ok(serde_json::to_value(sign(record, &signer)).expect("an envelope is JSON"))
}

/// How long `key-record --hub` waits for the hub's answer.
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Posts one envelope to `hub` (base URL) as a batch and returns the hub's result for it. No
/// answer, or an answer that is not a batch result, is a hub error (exit 3).
pub async fn post_envelope(hub: &str, envelope: &Value) -> Result<Value, NodeError> {
    let url = format!("{}/v1/records", hub.trim_end_matches('/'));
    let failed = |why: String| NodeError::Hub(format!("POST {url}: {why}"));
    let response = crate::node::http_client()
        .post(&url)
        .timeout(POST_TIMEOUT)
        .json(&serde_json::json!({ "records": [envelope] }))
        .send()
        .await
        .map_err(|e| failed(format!("no answer: {e}")))?;
    let status = response.status();
    let body = crate::hub::read_bounded(response, crate::hub::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| failed(format!("{status}: {e}")))?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("{status}: unreadable answer: {e}")))?;
    match body["results"].get(0) {
        Some(result) if status.is_success() => Ok(result.clone()),
        _ => Err(failed(format!("{status}: {body}"))),
    }
}

/// `verify ENVELOPE [--key PUBKEY]`: signature and schema; with `--key`, also the signer.
pub fn verify(path: &Path, expected_key: Option<&str>) -> Result<String, NodeError> {
    let bytes = read_input(path)?;
    let checked = check_envelope(&bytes, |_, key| expected_key.is_none_or(|k| k == key)).map_err(
        |rejected| {
            let r = rejected.rejection;
            let mut lines = vec![format!("{}: {}", r.code, r.message)];
            lines.extend(r.violations.iter().map(ToString::to_string));
            if r.violations.is_empty()
                && let Some(pointer) = r.pointer
            {
                lines[0] = format!("{}: {pointer}: {}", r.code, r.message);
            }
            NodeError::Invalid(lines.join("\n"))
        },
    )?;
    Ok(format!(
        "ok {} version {} signed by {}",
        checked.id(),
        checked.version,
        checked.envelope.signature.key
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yiqi_schema::testing::sample_record;

    #[test]
    fn keygen_sign_verify_round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let public = keygen(&key).unwrap();
        let record = dir.path().join("r.json");
        std::fs::write(&record, serde_json::to_vec(&sample_record()).unwrap()).unwrap();
        let envelope = sign_file(&key, &record).unwrap();
        assert_eq!(envelope["signature"]["key"], public.as_str());
        let signed = dir.path().join("e.json");
        std::fs::write(&signed, serde_json::to_vec_pretty(&envelope).unwrap()).unwrap();
        assert!(
            verify(&signed, None)
                .unwrap()
                .starts_with("ok CN-GS/GS-0001")
        );
        assert!(verify(&signed, Some(&public)).is_ok());
        assert!(verify(&signed, Some("someone-else")).is_err());
        let mut tampered = envelope;
        tampered["record"]["original_value_cny"] = 1.into();
        std::fs::write(&signed, serde_json::to_vec(&tampered).unwrap()).unwrap();
        let err = verify(&signed, None).unwrap_err().to_string();
        assert!(err.starts_with("bad_signature"), "{err}");
        assert!(keygen(&key).is_err(), "keygen must not overwrite");
    }

    #[test]
    fn key_records_are_signed_valid_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let signer = dir.path().join("root.pem");
        let root = keygen(&signer).unwrap();
        let region_key = keys::public_key_text(&keys::generate().verifying_key());
        let add = KeyChange::Add {
            key: region_key.clone(),
            name: Some("北京市".into()),
        };
        let envelope = key_record_envelope(&signer, "CN-BJ", &add, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(envelope["record"]["version"], 1);
        assert_eq!(envelope["record"]["local_id"], region_key.as_str());
        let path = dir.path().join("add.json");
        std::fs::write(&path, serde_json::to_vec(&envelope).unwrap()).unwrap();
        let verdict = verify(&path, Some(&root)).unwrap();
        assert_eq!(
            verdict,
            format!("ok CN-BJ/{region_key} version 1 signed by {root}")
        );
        let revoke = KeyChange::Revoke { key: region_key };
        let envelope =
            key_record_envelope(&signer, "CN-BJ", &revoke, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(
            (
                envelope["record"]["version"].as_u64(),
                envelope["record"]["status"].as_str()
            ),
            (Some(2), Some("revoked"))
        );
        let bad = KeyChange::Revoke { key: "AAAA".into() };
        let err = key_record_envelope(&signer, "CN-XX", &bad, "2026-01-01T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/region") && err.contains("/key"), "{err}");
    }

    #[test]
    fn validate_lists_every_violation() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = sample_record();
        r["category"] = "000000".into();
        r["name_eng"] = "x".into();
        let path = dir.path().join("r.json");
        std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
        let text = validate(&path).unwrap_err().to_string();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("/category: ") && text.contains("/name_eng: "));
    }
}
