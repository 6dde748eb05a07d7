//! Ed25519 keys: the public key as it travels (base64url, no padding) and the secret key as it
//! rests on disk (PKCS#8 PEM, the form `openssl genpkey -algorithm ed25519` also writes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{Signature, SigningKey, Verifier, VerifyingKey};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;

pub use ed25519_dalek::SigningKey as SecretKey;

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not base64url without padding")]
    NotBase64(String),
    #[error("a public key is 32 bytes, this one is {0}")]
    WrongLength(usize),
    #[error("not a valid Ed25519 public key")]
    InvalidPoint,
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a PKCS#8 Ed25519 private key in PEM form")]
    NotPem { path: String },
}

/// The canonical encodings of the eight points of small order.
pub(crate) static SMALL_ORDER_POINTS: LazyLock<[[u8; 32]; 8]> =
    LazyLock::new(|| EIGHT_TORSION.map(|point| point.compress().to_bytes()));

/// `verify_strict`'s verdict, at the cost of the plain `verify` (a seventh less on this machine).
///
/// `verify_strict` is `verify` plus two refusals: a key of small order, and a signature whose
/// `R` decompresses to a point of small order. It decompresses `R` for the second (a square
/// root per signature), but it only needs it when `verify` accepts, and `verify` accepts only
/// if `R`'s bytes are the canonical encoding of the point it recomputes. So a point of small
/// order can only get that far as one of the eight canonical encodings above, and comparing
/// bytes gives the same verdict without the square root. Every Wycheproof case and a signature
/// built on the identity as `R` (which `verify` accepts and `verify_strict` refuses) check the
/// equivalence in the tests.
pub fn verify_strict_verdict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    !key.is_weak()
        && !SMALL_ORDER_POINTS.contains(signature.r_bytes())
        && key.verify(message, signature).is_ok()
}

/// Decodes base64url without padding, rejecting padding and non-canonical trailing bits so that
/// one byte string has exactly one encoding.
pub fn decode_b64(text: &str) -> Result<Vec<u8>, KeyError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| KeyError::NotBase64(abbreviate(text)))
}

/// Encodes bytes as base64url without padding.
pub fn encode_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn abbreviate(text: &str) -> String {
    let short: String = text.chars().take(60).collect();
    format!("{short:?}")
}

/// Parses a public key from its base64url form, checking that it is a valid curve point.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let bytes = decode_b64(text)?;
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::WrongLength(bytes.len()))?;
    VerifyingKey::from_bytes(&array).map_err(|_| KeyError::InvalidPoint)
}

/// The base64url form of a public key.
pub fn public_key_text(key: &VerifyingKey) -> String {
    encode_b64(key.as_bytes())
}

/// A fresh secret key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// Writes a secret key as PKCS#8 PEM with mode 0600; refuses to overwrite an existing file.
pub fn write_secret_key(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key always encodes as PKCS#8");
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a secret key written by [`write_secret_key`] (or by openssl).
pub fn read_secret_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::NotPem {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_round_trips_with_mode_0600_and_no_overwrite() {
        let dir = tempfile_dir();
        let path = dir.join("key.pem");
        let key = generate();
        write_secret_key(&path, &key).unwrap();
        assert_eq!(read_secret_key(&path).unwrap().to_bytes(), key.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_secret_key(&path, &generate()).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("yiqi-keys-{}", encode_b64(&rand_bytes())));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn rand_bytes() -> [u8; 9] {
        let mut b = [0u8; 9];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        b
    }

    mod strict_verdict {
        use super::super::*;
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::{EdwardsPoint, Scalar};
        use ed25519_dalek::Signer;
        use sha2::{Digest, Sha512};

        fn random_scalar() -> Scalar {
            let mut wide = [0u8; 64];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut wide);
            Scalar::from_bytes_mod_order_wide(&wide)
        }

        /// Ed25519's challenge `k = H(R ‖ A ‖ M)`.
        fn challenge(r: &[u8; 32], key: &EdwardsPoint, message: &[u8]) -> Scalar {
            let digest = Sha512::new()
                .chain_update(r)
                .chain_update(key.compress().as_bytes())
                .chain_update(message);
            Scalar::from_bytes_mod_order_wide(&digest.finalize().into())
        }

        /// Both verdicts, and that `verify` alone would have said `plain`.
        fn verdicts(key: &EdwardsPoint, message: &[u8], r: [u8; 32], s: Scalar) -> (bool, bool) {
            let key = VerifyingKey::from_bytes(key.compress().as_bytes()).unwrap();
            let signature = Signature::from_components(r, s.to_bytes());
            let strict = key.verify_strict(message, &signature).is_ok();
            assert!(key.verify(message, &signature).is_ok(), "verify accepts it");
            let mut prepared = crate::verifier::PreparedKey::with_table(key);
            assert_eq!(
                prepared.verify_strict_verdict(message, &signature),
                strict,
                "the table's verdict"
            );
            (strict, verify_strict_verdict(&key, message, &signature))
        }

        #[test]
        fn ordinary_signatures_verify_and_others_do_not() {
            let key = generate();
            let signature = key.sign(b"yiqi");
            let public = key.verifying_key();
            assert!(verify_strict_verdict(&public, b"yiqi", &signature));
            assert!(!verify_strict_verdict(&public, b"yiqj", &signature));
            assert!(!verify_strict_verdict(
                &generate().verifying_key(),
                b"yiqi",
                &signature
            ));
        }

        /// `R` = the identity and `s = k·a`: `verify` accepts, `verify_strict` refuses.
        #[test]
        fn the_identity_as_r_is_refused_as_verify_strict_refuses_it() {
            let secret = random_scalar();
            let key = B * secret;
            let identity = EdwardsPoint::default().compress().to_bytes();
            let s = challenge(&identity, &key, b"yiqi") * secret;
            assert_eq!(verdicts(&key, b"yiqi", identity, s), (false, false));
        }

        /// A key of order 2 and `R` = `s·B` plus the right torsion point: `verify` accepts,
        /// `verify_strict` refuses the key.
        #[test]
        fn a_small_order_key_is_refused_as_verify_strict_refuses_it() {
            let key = EIGHT_TORSION[4];
            for attempt in 0u32.. {
                let message = attempt.to_be_bytes();
                let s = random_scalar();
                let guess = if attempt % 2 == 0 {
                    EdwardsPoint::default()
                } else {
                    key
                };
                let r = (B * s + guess).compress().to_bytes();
                if -(key * challenge(&r, &key, &message)) == guess {
                    assert_eq!(verdicts(&key, &message, r, s), (false, false));
                    return;
                }
                assert!(attempt < 64, "no signature found");
            }
        }
    }

    #[test]
    fn public_key_text_is_strict() {
        let key = generate().verifying_key();
        let text = public_key_text(&key);
        assert_eq!(text.len(), 43);
        assert_eq!(parse_public_key(&text).unwrap(), key);
        assert!(parse_public_key(&format!("{text}=")).is_err());
        assert!(parse_public_key(&text[..42]).is_err());
        assert!(matches!(
            parse_public_key(&encode_b64(&[1; 16])),
            Err(KeyError::WrongLength(16))
        ));
    }
}
