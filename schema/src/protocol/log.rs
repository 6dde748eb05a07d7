//! The transparency log's wire types and witness naming (docs/protocol.md, "Trust and the log").
//!
//! Hashes travel as standard base64 with padding, as in the checkpoint itself.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize, Serializer};
use yiqi_tlog::{CheckpointError, Hash, WitnessVerifier};

/// Every region's witness is named `yiqi-witness/<region>`.
pub const WITNESS_PREFIX: &str = "yiqi-witness/";

/// The witness name of `region`, e.g. `yiqi-witness/CN-BJ`.
pub fn witness_name(region: &str) -> String {
    format!("{WITNESS_PREFIX}{region}")
}

/// The region a witness name belongs to, if it is a yiqi witness name.
pub fn witness_region(name: &str) -> Option<&str> {
    name.strip_prefix(WITNESS_PREFIX)
}

/// A region's witness: its region key used as a c2sp.org/tlog-cosignature (type 0x04) key named
/// [`witness_name`]; key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)\[:4\].
pub fn witness_verifier(
    region: &str,
    key: VerifyingKey,
) -> Result<WitnessVerifier, CheckpointError> {
    WitnessVerifier::from_key(&witness_name(region), key)
}

/// `GET /v1/log/proof/inclusion?index=I&size=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    #[serde(serialize_with = "hash_text")]
    pub leaf_hash: Hash,
    #[serde(serialize_with = "hash_texts")]
    pub hashes: Vec<Hash>,
}

/// `GET /v1/log/proof/consistency?from=M&size=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub from: u64,
    pub size: u64,
    #[serde(serialize_with = "hash_texts")]
    pub hashes: Vec<Hash>,
}

/// The body of `POST /v1/log/cosignatures`: a witness's cosignature line (without its newline)
/// on the checkpoint the hub signed at `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignatureSubmission {
    pub size: u64,
    pub cosignature: String,
}

/// The answer to `POST /v1/log/cosignatures`: how many distinct witnesses the hub now holds
/// cosignatures of for `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignatureReceipt {
    pub size: u64,
    pub witnesses: usize,
}

fn hash_text<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(hash)
}

fn hash_texts<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(hashes.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_travel_as_padded_standard_base64() {
        let proof = InclusionProof {
            index: 1,
            size: 3,
            leaf_hash: yiqi_tlog::leaf_hash(b"leaf-1"),
            hashes: vec![yiqi_tlog::leaf_hash(b"leaf-0")],
        };
        let json = serde_json::to_value(&proof).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "index": 1,
                "size": 3,
                "leaf_hash": "MUXECfJZt8U+MgNgkP92dRAlokmLqYI+9xjKxQtOYW8=",
                "hashes": ["MF31n5WQw8msY9KydDw4jjeSRJB4zr9/s9vmRxZDsrc="],
            })
        );
        assert_eq!(
            serde_json::from_value::<InclusionProof>(json).unwrap(),
            proof
        );
    }

    #[test]
    fn witness_names_carry_the_region() {
        assert_eq!(witness_name("CN-BJ"), "yiqi-witness/CN-BJ");
        assert_eq!(witness_region("yiqi-witness/CN-BJ"), Some("CN-BJ"));
        assert_eq!(witness_region("example.org/w1"), None);
        let key = crate::keys::generate().verifying_key();
        assert_eq!(
            witness_verifier("CN-BJ", key).unwrap().name(),
            "yiqi-witness/CN-BJ"
        );
    }
}
