//! The stand-alone record tools: `keygen`, `sign`, `verify`, `validate`.
//!
//! They work on files (or stdin as `-`) and need no node folder, so a platform can check its
//! records, or a third party can check a signed envelope, without running anything else.

use crate::error::NodeError;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
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
    let record = parse_input(path)?;
    validate_record(&record).map_err(|violations| {
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
