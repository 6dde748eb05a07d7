//! Witness cosignatures, c2sp.org/tlog-cosignature `cosignature/v1` (Ed25519, type 0x04).
//!
//! A log's own signature cannot stop it from showing one tree to some nodes and another tree to
//! others (a split view). Witnesses close that gap: each one checks that every checkpoint it
//! sees is consistent with the last one it cosigned, then cosigns it. A node that requires
//! cosignatures from witnesses it trusts knows the checkpoint is the one everybody else is shown.
//!
//! `signed_note` 0.2 knows only plain Ed25519 signatures (type 0x01), so the cosignature type is
//! written here, following the spec:
//! - key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)\[:4\];
//! - signed message = `cosignature/v1\ntime <decimal seconds>\n` followed by the checkpoint body;
//! - signature line = `— <name> base64(key ID ‖ 8-byte big-endian timestamp ‖ 64-byte signature)`.

use std::fmt;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::checkpoint::{Checkpoint, CheckpointError, check_key_name, key_label};
use crate::note::signer_of;

/// The signature type byte of `cosignature/v1` (c2sp.org/signed-note).
const COSIGNATURE_V1_TYPE: u8 = 0x04;
/// Timestamps are at most 2^63 − 1 (c2sp.org/tlog-cosignature).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;
const TIMESTAMP_LEN: usize = 8;

/// A witness's cosigning key: an Ed25519 key and the witness's name.
#[derive(Debug, Clone)]
pub struct Witness {
    name: String,
    key: SigningKey,
}

impl Witness {
    /// A witness called `name` (e.g. `witness.example.org/w1`).
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key: `name+hex(key ID)+base64(0x04 ‖ key)`.
    pub fn verifier_key(&self) -> String {
        self.verifier().to_string()
    }

    /// The public half, as a node would parse it from [`Witness::verifier_key`].
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier::new(&self.name, self.key.verifying_key())
    }

    /// Cosigns the checkpoint body (the note text before the blank line, with its final
    /// newline) as of `timestamp` (POSIX seconds), and returns the signature line without its
    /// newline. The body must be a valid checkpoint: a witness states something about a tree,
    /// never about arbitrary text.
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> Result<String, CheckpointError> {
        Checkpoint::parse(checkpoint_body)?;
        check_timestamp(timestamp)?;
        let signature = self.key.sign(&signed_message(checkpoint_body, timestamp));
        let mut bytes = self.verifier().key_id().to_be_bytes().to_vec();
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!("— {} {}", self.name, BASE64_STANDARD.encode(bytes)))
    }
}

/// A witness's public key, as the nodes are configured with it.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl WitnessVerifier {
    fn new(name: &str, key: VerifyingKey) -> Self {
        let id = signed_note::key_id(name, &typed_key(&key));
        Self {
            name: name.to_owned(),
            id,
            key,
        }
    }

    /// The witness `name` with the Ed25519 public key `key` (for example a region key used as
    /// the region's witness key), as [`Witness::verifier`] would give it.
    pub fn from_key(name: &str, key: VerifyingKey) -> Result<Self, CheckpointError> {
        check_key_name(name)?;
        Ok(Self::new(name, key))
    }

    /// Parses `name+hex(key ID)+base64(0x04 ‖ 32-byte Ed25519 key)`, checking the key ID.
    pub fn from_vkey(vkey: &str) -> Result<Self, CheckpointError> {
        let malformed = CheckpointError::MalformedVerifierKey;
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(malformed("not name+keyid+key"))?;
        let (id_hex, key_base64) = rest
            .split_once('+')
            .ok_or(malformed("not name+keyid+key"))?;
        check_key_name(name)?;
        let id = parse_key_id(id_hex).ok_or(malformed("key ID is not 8 lowercase hex digits"))?;
        let key = parse_cosigner_key(key_base64)?;
        let verifier = Self::new(name, key);
        if verifier.id != id {
            return Err(malformed("key ID does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }
}

impl fmt::Display for WitnessVerifier {
    /// The verifier key string, which [`WitnessVerifier::from_vkey`] parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = BASE64_STANDARD.encode(typed_key(&self.key));
        write!(f, "{}+{}", key_label(&self.name, self.id), key)
    }
}

impl fmt::Debug for WitnessVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WitnessVerifier")
            .field(&self.to_string())
            .finish()
    }
}

impl std::str::FromStr for WitnessVerifier {
    type Err = CheckpointError;

    fn from_str(vkey: &str) -> Result<Self, CheckpointError> {
        Self::from_vkey(vkey)
    }
}

/// Verifies a cosignature line (without its newline) by `witness` on the checkpoint body (the
/// note text before the blank line, or [`Checkpoint::to_body`] of an opened checkpoint, which
/// is the same text), and returns the cosignature's timestamp. Lines by other keys are refused with
/// [`CheckpointError::WrongSigner`], so a node can try each line against each witness it knows.
pub fn verify_cosignature(
    line: &str,
    checkpoint_body: &str,
    witness: &WitnessVerifier,
) -> Result<u64, CheckpointError> {
    let parsed = signer_of(line)?;
    if parsed.name() != witness.name || parsed.id() != witness.id {
        return Err(CheckpointError::WrongSigner {
            found: key_label(parsed.name(), parsed.id()),
            expected: key_label(&witness.name, witness.id),
        });
    }
    let (timestamp, signature) = split_timestamped(parsed.signature())?;
    check_timestamp(timestamp)?;
    witness
        .key
        .verify(&signed_message(checkpoint_body, timestamp), &signature)
        .map_err(|_| CheckpointError::BadSignature(key_label(&witness.name, witness.id)))?;
    Ok(timestamp)
}

/// The message a `cosignature/v1` signature covers.
fn signed_message(checkpoint_body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_body}").into_bytes()
}

/// `timestamped_signature`: 8-byte big-endian timestamp, then the 64-byte signature.
fn split_timestamped(bytes: &[u8]) -> Result<(u64, Signature), CheckpointError> {
    let malformed = CheckpointError::MalformedSignature("not a timestamped Ed25519 signature");
    let (timestamp, signature) = bytes
        .split_at_checked(TIMESTAMP_LEN)
        .ok_or(malformed.clone())?;
    let timestamp = u64::from_be_bytes(timestamp.try_into().map_err(|_| malformed.clone())?);
    let signature = Signature::from_slice(signature).map_err(|_| malformed)?;
    Ok((timestamp, signature))
}

fn check_timestamp(timestamp: u64) -> Result<(), CheckpointError> {
    if timestamp > MAX_TIMESTAMP {
        return Err(CheckpointError::TimestampTooLarge(timestamp));
    }
    Ok(())
}

/// The type byte followed by the key, as hashed into the key ID and encoded in the vkey.
fn typed_key(key: &VerifyingKey) -> Vec<u8> {
    let mut typed = vec![COSIGNATURE_V1_TYPE];
    typed.extend_from_slice(key.as_bytes());
    typed
}

/// c2sp.org/signed-note writes key IDs as fixed-length lowercase hex.
fn parse_key_id(hex: &str) -> Option<u32> {
    let lowercase_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() != 8 || !hex.bytes().all(lowercase_hex) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

fn parse_cosigner_key(key_base64: &str) -> Result<VerifyingKey, CheckpointError> {
    let malformed = CheckpointError::MalformedVerifierKey;
    let typed = BASE64_STANDARD
        .decode(key_base64)
        .map_err(|_| malformed("key is not base64"))?;
    let (kind, key) = typed.split_first().ok_or(malformed("empty key"))?;
    if *kind != COSIGNATURE_V1_TYPE {
        return Err(malformed("not a cosignature/v1 (0x04) key"));
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| malformed("key is not 32 bytes"))?;
    VerifyingKey::from_bytes(&key).map_err(|_| malformed("key is not an Ed25519 point"))
}
