//! The signed envelope: `{"record": {…}, "signature": {"alg": "ed25519", "key": K, "value": S}}`.
//!
//! The signed message is `yiqi-record-v1\n` followed by the RFC 8785 bytes of `record`. Checking an
//! envelope is one function, [`check_envelope`], used by the hub on ingest and by every node on
//! sync, so the two can never disagree on what is valid. Its steps run in the order the protocol
//! fixes for error codes: `not_ijson`, `bad_envelope`, `unknown_key`, `bad_signature`,
//! `schema_violation`.

use crate::canonical::{canonical_bytes, is_canonical_form};
use crate::ijson;
use crate::keys::{decode_b64, encode_b64};
use crate::rejection::{ErrorCode, Rejection};
use crate::validate::{Violation, validate_record};
use crate::verifier::{Pending, begin_with_key_bytes, decide};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The bytes that precede the canonical record in the signed message.
pub const SIGNING_PREFIX: &[u8] = b"yiqi-record-v1\n";

/// How a canonical envelope begins: `record` sorts before `signature`.
const ENVELOPE_HEAD: &[u8] = b"{\"record\":";

/// The only signature algorithm of protocol version 1.
pub const ALG: &str = "ed25519";

/// A signed record as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub record: Value,
    pub signature: SignatureBlock,
}

/// The `signature` member of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureBlock {
    pub alg: String,
    /// The signer's 32-byte public key, base64url without padding.
    pub key: String,
    /// The 64-byte signature, base64url without padding.
    pub value: String,
}

/// `{region}/{local_id}` and the version a record claims, as far as they could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRef {
    pub id: Option<String>,
    pub version: Option<u64>,
}

impl RecordRef {
    /// Reads the reference from a record, tolerating any shape.
    pub fn of(record: &Value) -> RecordRef {
        let text = |name| record.get(name).and_then(Value::as_str);
        RecordRef {
            id: text("region")
                .zip(text("local_id"))
                .map(|(r, l)| format!("{r}/{l}")),
            version: record.get("version").and_then(Value::as_u64),
        }
    }
}

/// An envelope that passed every check, with the derived bytes the hub and nodes store.
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    pub region: String,
    pub local_id: String,
    pub version: u64,
    pub deleted: bool,
    pub envelope: Envelope,
    /// The RFC 8785 bytes of the whole envelope, as stored and served.
    pub canonical: Vec<u8>,
    /// Where the canonical record ends in `canonical` (it starts after `{"record":`).
    record_end: usize,
}

impl VerifiedEnvelope {
    /// SHA-256 of the canonical record: equal hashes mean the same content. Computed on demand:
    /// the hub compares versions by it, a node catching up has no use for it.
    pub fn content_hash(&self) -> [u8; 32] {
        Sha256::digest(&self.canonical[ENVELOPE_HEAD.len()..self.record_end]).into()
    }

    /// The global id, `{region}/{local_id}`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.region, self.local_id)
    }
}

/// A rejected envelope: what it claimed to be, and why it was refused.
#[derive(Debug, Clone)]
pub struct RejectedEnvelope {
    pub reference: RecordRef,
    pub rejection: Rejection,
}

/// The message an Ed25519 signature covers for this record.
pub fn signed_message(record: &Value) -> Vec<u8> {
    let canonical = canonical_bytes(record);
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + canonical.len());
    message.extend_from_slice(SIGNING_PREFIX);
    message.extend_from_slice(&canonical);
    message
}

/// Signs a record. The caller validates first; signing does not judge content.
pub fn sign(record: Value, key: &SigningKey) -> Envelope {
    let signature = key.sign(&signed_message(&record));
    Envelope {
        record,
        signature: SignatureBlock {
            alg: ALG.into(),
            key: encode_b64(key.verifying_key().as_bytes()),
            value: encode_b64(&signature.to_bytes()),
        },
    }
}

/// Runs every check on one envelope's bytes, in protocol order. `key_is_active(region, key)`
/// answers whether the base64url `key` is an active key of `region` for whoever is checking.
/// [`check_envelope_with`] is the same check for a checker that also trusts a root key.
pub fn check_envelope(
    bytes: &[u8],
    key_is_active: impl FnOnce(&str, &str) -> bool,
) -> Result<VerifiedEnvelope, RejectedEnvelope> {
    check_envelope_with(bytes, by_region(key_is_active))
}

/// [`check_envelope`] where `may_sign(record, key)` sees the whole record, so it can apply
/// [`crate::protocol::keys::KeyBook::may_sign`] (the root may sign key records, nothing else).
pub fn check_envelope_with(
    bytes: &[u8],
    may_sign: impl FnOnce(&Value, &str) -> bool,
) -> Result<VerifiedEnvelope, RejectedEnvelope> {
    begin_check_with(bytes, may_sign).finish()
}

/// [`check_envelope_with`] short of deciding the signature, for [`finish_checks`].
pub fn begin_check_with(bytes: &[u8], may_sign: impl FnOnce(&Value, &str) -> bool) -> BegunCheck {
    begin_check(ijson::parse(bytes), Some(bytes), may_sign)
}

/// [`check_envelope`] for an envelope that is text already (a feed entry of a page read as
/// UTF-8) and has been parsed by [`ijson::parse_str`] (`parsed`): a node reads a few of its
/// fields before checking it, so it parses it once, and the strict parse does not check its
/// UTF-8 again. The check stops short of deciding the signature: [`finish_checks`] decides
/// those of many envelopes together, which costs a sixth less per signature
/// ([`crate::verifier::decide`]); [`BegunCheck::finish`] decides one.
pub fn begin_check_parsed(
    parsed: Result<Value, ijson::IJsonError>,
    text: &str,
    key_is_active: impl FnOnce(&str, &str) -> bool,
) -> BegunCheck {
    begin_check(parsed, Some(text.as_bytes()), by_region(key_is_active))
}

/// [`check_envelope`] for an envelope already parsed strictly (I-JSON).
pub fn check_value(
    value: Value,
    key_is_active: impl FnOnce(&str, &str) -> bool,
) -> Result<VerifiedEnvelope, RejectedEnvelope> {
    begin_check(Ok(value), None, by_region(key_is_active)).finish()
}

/// `may_sign(record, key)` from `key_is_active(region, key)`: the record's own region.
fn by_region(key_is_active: impl FnOnce(&str, &str) -> bool) -> impl FnOnce(&Value, &str) -> bool {
    |record, key| key_is_active(record["region"].as_str().unwrap_or_default(), key)
}

/// How many envelopes a checker begins before it decides their signatures together: the
/// encodings of their recomputed points then share one field inversion, a sixteenth of its cost
/// each, and no more parsed envelopes wait than fit in a core's cache.
pub const DECIDED_TOGETHER: usize = 16;

/// An envelope checked up to deciding its signature: refused already, or every check done and
/// its signature's recomputed point waiting to be compared with `R` (see
/// [`crate::verifier::Pending`]).
pub struct BegunCheck(Result<Begun, RejectedEnvelope>);

struct Begun {
    envelope: Envelope,
    region: String,
    canonical: Canonical,
    reference: RecordRef,
    signature: Pending,
    /// The schema's verdict: reported only if the signature holds (`bad_signature` comes
    /// first in the protocol's order).
    schema: Result<(), Vec<Violation>>,
}

impl BegunCheck {
    /// The check's outcome, its signature decided alone.
    pub fn finish(self) -> Result<VerifiedEnvelope, RejectedEnvelope> {
        finish_checks(vec![self])
            .pop()
            .expect("one outcome per check")
    }
}

/// The outcomes of begun checks, in order; their signatures are decided together.
pub fn finish_checks(begun: Vec<BegunCheck>) -> Vec<Result<VerifiedEnvelope, RejectedEnvelope>> {
    let pending: Vec<Pending> = begun
        .iter()
        .filter_map(|check| check.0.as_ref().ok())
        .map(|begun| begun.signature)
        .collect();
    let mut verdicts = decide(&pending).into_iter();
    begun
        .into_iter()
        .map(|check| {
            let begun = check.0?;
            let reject = |rejection| RejectedEnvelope {
                reference: begun.reference.clone(),
                rejection,
            };
            if !verdicts.next().expect("one verdict per signature") {
                return Err(reject(not_made_by_this_key()));
            }
            begun
                .schema
                .map_err(|violations| reject(Rejection::schema(violations)))?;
            Ok(finish(begun.envelope, begun.region, begun.canonical))
        })
        .collect()
}

fn begin_check(
    parsed: Result<Value, ijson::IJsonError>,
    source: Option<&[u8]>,
    may_sign: impl FnOnce(&Value, &str) -> bool,
) -> BegunCheck {
    let begun = match parsed {
        Ok(value) => begin_parsed(value, source, may_sign),
        Err(e) => Err(RejectedEnvelope {
            reference: RecordRef {
                id: None,
                version: None,
            },
            rejection: Rejection::new(ErrorCode::NotIjson, e.0),
        }),
    };
    BegunCheck(begun)
}

fn begin_parsed(
    value: Value,
    source: Option<&[u8]>,
    may_sign: impl FnOnce(&Value, &str) -> bool,
) -> Result<Begun, RejectedEnvelope> {
    let reference = value.get("record").map(RecordRef::of).unwrap_or(RecordRef {
        id: None,
        version: None,
    });
    let reject = |rejection| RejectedEnvelope {
        reference: reference.clone(),
        rejection,
    };
    let (envelope, key, signature) = parse_shape(value).map_err(reject)?;
    let region = envelope.record["region"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !may_sign(&envelope.record, &envelope.signature.key) {
        return Err(reject(unknown_key(&envelope, &region)));
    }
    let canonical = canonical_form(&envelope, source);
    let signature = begin_signature(canonical.record(), &key, &signature).map_err(reject)?;
    let schema = validate_record(&envelope.record);
    Ok(Begun {
        envelope,
        region,
        canonical,
        reference,
        signature,
        schema,
    })
}

/// The `unknown_key` refusal, saying which signers the record's kind allows.
pub fn unknown_key(envelope: &Envelope, region: &str) -> Rejection {
    let allowed = if crate::validate::is_key_record(&envelope.record) {
        format!("neither the root key nor an active key of region {region}")
    } else {
        format!("not an active key of region {region}")
    };
    Rejection::at(
        ErrorCode::UnknownKey,
        format!("key {} is {allowed}", envelope.signature.key),
        "/signature/key",
    )
}

fn finish(envelope: Envelope, region: String, canonical: Canonical) -> VerifiedEnvelope {
    let record = &envelope.record;
    VerifiedEnvelope {
        local_id: record["local_id"].as_str().unwrap_or_default().to_owned(),
        version: record["version"].as_u64().unwrap_or_default(),
        deleted: record.get("deleted").is_some(),
        record_end: canonical.record_end,
        region,
        canonical: canonical.envelope,
        envelope,
    }
}

/// An envelope's RFC 8785 bytes, and where its record ends in them.
struct Canonical {
    envelope: Vec<u8>,
    record_end: usize,
}

impl Canonical {
    /// The record's RFC 8785 bytes, which the signature covers.
    fn record(&self) -> &[u8] {
        &self.envelope[ENVELOPE_HEAD.len()..self.record_end]
    }
}

/// The RFC 8785 bytes of an envelope, built from its record's canonical bytes: `record` sorts
/// before `signature`, and the signature members are base64url, which needs no escaping.
fn canonical_envelope(canonical_record: &[u8], signature: &SignatureBlock) -> Canonical {
    let mut out = Vec::with_capacity(canonical_record.len() + 200);
    out.extend_from_slice(ENVELOPE_HEAD);
    out.extend_from_slice(canonical_record);
    out.extend_from_slice(b",\"signature\":{\"alg\":\"");
    out.extend_from_slice(signature.alg.as_bytes());
    out.extend_from_slice(b"\",\"key\":\"");
    out.extend_from_slice(signature.key.as_bytes());
    out.extend_from_slice(b"\",\"value\":\"");
    out.extend_from_slice(signature.value.as_bytes());
    out.extend_from_slice(b"\"}}");
    Canonical {
        envelope: out,
        record_end: ENVELOPE_HEAD.len() + canonical_record.len(),
    }
}

/// The envelope's canonical bytes, which its signature must cover.
///
/// Fast path: when the envelope arrived in canonical form (as the hub stores and serves it, and
/// as nodes publish it), the record's bytes inside it are its RFC 8785 form, which
/// [`is_canonical_form`] confirms without writing that form out, and the envelope as it came is
/// the canonical envelope. Anything else takes the slow path: canonicalise. Either way the
/// signature is checked over the canonical bytes, so a signature over any other writing of the
/// record is refused.
fn canonical_form(envelope: &Envelope, source: Option<&[u8]>) -> Canonical {
    let as_received = source
        .and_then(|bytes| Some((bytes, raw_record(bytes, &envelope.signature)?)))
        .filter(|(_, record)| is_canonical_form(record, &envelope.record));
    match as_received {
        Some((bytes, record)) => Canonical {
            envelope: bytes.to_vec(),
            record_end: ENVELOPE_HEAD.len() + record.len(),
        },
        None => canonical_envelope(&canonical_bytes(&envelope.record), &envelope.signature),
    }
}

/// The record's bytes, when `bytes` is laid out as a canonical envelope:
/// `{"record":` RECORD `,"signature":{"alg":"…","key":"…","value":"…"}}`.
fn raw_record<'a>(bytes: &'a [u8], signature: &SignatureBlock) -> Option<&'a [u8]> {
    let tail = format!(
        ",\"signature\":{{\"alg\":\"{}\",\"key\":\"{}\",\"value\":\"{}\"}}}}",
        signature.alg, signature.key, signature.value
    );
    let body = bytes
        .strip_prefix(ENVELOPE_HEAD)?
        .strip_suffix(tail.as_bytes())?;
    Some(body)
}

type Shape = (Envelope, [u8; 32], [u8; 64]);

/// Checks the envelope's structure: exactly `record` and `signature`; `record` an object with a
/// string `region`; `signature` exactly `alg` = "ed25519", a 32-byte `key`, a 64-byte `value`.
fn parse_shape(value: Value) -> Result<Shape, Rejection> {
    let bad = |message: &str, pointer: &str| {
        Rejection::at(ErrorCode::BadEnvelope, message.to_owned(), pointer)
    };
    let Value::Object(mut top) = value else {
        return Err(bad("an envelope is a JSON object", ""));
    };
    only_members(&top, &["record", "signature"], "")?;
    let record = top
        .remove("record")
        .ok_or_else(|| bad("missing member", "/record"))?;
    let Value::Object(mut signature) = top
        .remove("signature")
        .ok_or_else(|| bad("missing member", "/signature"))?
    else {
        return Err(bad("signature must be an object", "/signature"));
    };
    if !record.is_object() {
        return Err(bad("record must be an object", "/record"));
    }
    if !record.get("region").is_some_and(Value::is_string) {
        return Err(bad("record.region must be a string", "/record/region"));
    }
    only_members(&signature, &["alg", "key", "value"], "/signature")?;
    let mut text = |name: &str| match signature.remove(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(bad("must be a string", &format!("/signature/{name}"))),
    };
    let (alg, key, value) = (text("alg")?, text("key")?, text("value")?);
    if alg != ALG {
        return Err(bad("alg must be \"ed25519\"", "/signature/alg"));
    }
    let key_bytes = fixed_bytes::<32>(&key).ok_or_else(|| {
        bad(
            "must be 32 bytes in base64url without padding",
            "/signature/key",
        )
    })?;
    let sig_bytes = fixed_bytes::<64>(&value).ok_or_else(|| {
        bad(
            "must be 64 bytes in base64url without padding",
            "/signature/value",
        )
    })?;
    let envelope = Envelope {
        record,
        signature: SignatureBlock { alg, key, value },
    };
    Ok((envelope, key_bytes, sig_bytes))
}

fn only_members(object: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), Rejection> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(Rejection::at(
            ErrorCode::BadEnvelope,
            format!("unexpected member {extra:?}"),
            &format!("{at}/{}", extra.replace('~', "~0").replace('/', "~1")),
        )),
        None => Ok(()),
    }
}

fn fixed_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode_b64(text).ok()?.try_into().ok()
}

/// Strict Ed25519 verification (`verify_strict`'s verdict, see [`crate::verifier`]) begun:
/// rejects small-order keys and non-canonical signatures, so every implementation that follows
/// the protocol reaches the same verdict. What is left is decided by [`finish_checks`].
fn begin_signature(
    canonical_record: &[u8],
    key: &[u8; 32],
    signature: &[u8; 64],
) -> Result<Pending, Rejection> {
    let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + canonical_record.len());
    message.extend_from_slice(SIGNING_PREFIX);
    message.extend_from_slice(canonical_record);
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    match begin_with_key_bytes(key, &message, &signature) {
        Ok(Pending::Decided(false)) => Err(not_made_by_this_key()),
        Ok(pending) => Ok(pending),
        Err(_) => Err(bad_signature("key is not a curve point")),
    }
}

fn not_made_by_this_key() -> Rejection {
    bad_signature("not made by this key over this record")
}

fn bad_signature(why: &str) -> Rejection {
    Rejection::at(
        ErrorCode::BadSignature,
        format!("signature does not verify: {why}"),
        "/signature/value",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use crate::testing::sample_record;
    use serde_json::json;

    fn code_of(bytes: &[u8]) -> ErrorCode {
        check_envelope(bytes, |_, _| true)
            .unwrap_err()
            .rejection
            .code
    }

    fn signed_bytes() -> (Vec<u8>, SigningKey) {
        let key = generate();
        let envelope = sign(sample_record(), &key);
        (serde_json::to_vec(&envelope).unwrap(), key)
    }

    #[test]
    fn a_signed_record_verifies_and_its_canonical_form_is_jcs() {
        let (bytes, _) = signed_bytes();
        let checked = check_envelope(&bytes, |_, _| true).unwrap();
        assert_eq!(checked.id(), "CN-GS/GS-0001");
        assert_eq!(checked.version, 3);
        let reparsed: Value = serde_json::from_slice(&checked.canonical).unwrap();
        assert_eq!(canonical_bytes(&reparsed), checked.canonical);
        assert!(check_envelope(&checked.canonical, |_, _| true).is_ok());
    }

    /// A signature over other bytes than the record's RFC 8785 form is not a signature of the
    /// record, even when the envelope carries exactly those bytes.
    #[test]
    fn a_signature_over_non_canonical_bytes_is_refused() {
        let key = generate();
        let canonical = canonical_bytes(&sample_record());
        let text = String::from_utf8(canonical).unwrap();
        let variants = [
            text.replacen("{", "{ ", 1),
            text.replacen("\"version\":3}", "\"version\":3.0}", 1),
            text.replacen("\"CN-GS\"", "\"CN\\u002dGS\"", 1),
        ];
        for record in variants {
            let mut message = SIGNING_PREFIX.to_vec();
            message.extend_from_slice(record.as_bytes());
            let signature = SignatureBlock {
                alg: ALG.into(),
                key: encode_b64(key.verifying_key().as_bytes()),
                value: encode_b64(&key.sign(&message).to_bytes()),
            };
            let bytes = canonical_envelope(record.as_bytes(), &signature).envelope;
            let code = check_envelope(&bytes, |_, _| true).map_err(|r| r.rejection.code);
            assert_eq!(code.err(), Some(ErrorCode::BadSignature), "{record}");
        }
    }

    #[test]
    fn codes_follow_the_protocol_order() {
        let (bytes, key) = signed_bytes();
        let mut v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            code_of(b"{\"record\":{},\"record\":{}}"),
            ErrorCode::NotIjson
        );
        assert_eq!(code_of(b"[1]"), ErrorCode::BadEnvelope);
        let mut extra = v.clone();
        extra["note"] = json!(1);
        assert_eq!(
            code_of(&serde_json::to_vec(&extra).unwrap()),
            ErrorCode::BadEnvelope
        );
        let rejected = check_envelope(&bytes, |region, _| region == "CN-BJ").unwrap_err();
        assert_eq!(rejected.rejection.code, ErrorCode::UnknownKey);
        assert_eq!(rejected.reference.id.as_deref(), Some("CN-GS/GS-0001"));
        v["record"]["name"] = json!("改过的名字");
        assert_eq!(
            code_of(&serde_json::to_vec(&v).unwrap()),
            ErrorCode::BadSignature
        );
        let mut invalid = sample_record();
        invalid["category"] = json!("123456");
        let signed = serde_json::to_vec(&sign(invalid, &key)).unwrap();
        let rejected = check_envelope(&signed, |_, _| true).unwrap_err().rejection;
        assert_eq!(rejected.code, ErrorCode::SchemaViolation);
        assert_eq!(rejected.pointer.as_deref(), Some("/record/category"));
    }

    /// Checks finished together give each envelope its own verdict, in protocol order, before
    /// and after the key has its table: a bad signature comes before the schema's verdict.
    #[test]
    fn checks_finished_together_keep_each_envelope_s_verdict() {
        let key = generate();
        let mut invalid = sample_record();
        invalid["category"] = json!("123456");
        let tampered = |mut envelope: Envelope| {
            envelope.record["name"] = json!("改过的名字");
            envelope
        };
        let (mut elements, mut expected) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let (envelope, code) = match i % 4 {
                0 => (sign(sample_record(), &key), None),
                1 => (
                    tampered(sign(sample_record(), &key)),
                    Some(ErrorCode::BadSignature),
                ),
                2 => (
                    sign(invalid.clone(), &key),
                    Some(ErrorCode::SchemaViolation),
                ),
                _ => (
                    tampered(sign(invalid.clone(), &key)),
                    Some(ErrorCode::BadSignature),
                ),
            };
            elements.push(serde_json::to_vec(&envelope).unwrap());
            expected.push(code);
        }
        for together in [1, DECIDED_TOGETHER, elements.len()] {
            let codes: Vec<Option<ErrorCode>> = elements
                .chunks(together)
                .flat_map(|chunk| {
                    let begun = chunk.iter().map(|e| begin_check_with(e, |_, _| true));
                    finish_checks(begun.collect())
                })
                .map(|checked| checked.err().map(|rejected| rejected.rejection.code))
                .collect();
            assert_eq!(codes, expected, "{together} at a time");
        }
    }

    #[test]
    fn signature_fields_are_checked_strictly() {
        let (bytes, _) = signed_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        for (field, bad) in [
            ("alg", json!("EdDSA")),
            ("key", json!("AAAA")),
            (
                "value",
                json!(format!("{}=", v["signature"]["value"].as_str().unwrap())),
            ),
            ("value", json!(42)),
        ] {
            let mut broken = v.clone();
            broken["signature"][field] = bad;
            let r = check_envelope(&serde_json::to_vec(&broken).unwrap(), |_, _| true)
                .unwrap_err()
                .rejection;
            assert_eq!(r.code, ErrorCode::BadEnvelope, "{field}");
            assert_eq!(r.pointer.unwrap(), format!("/signature/{field}"));
        }
    }
}
