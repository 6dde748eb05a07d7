//! Ed25519 keys: the public key as it travels (base64url, no padding) and the secret key as it
//! rests on disk (PKCS#8 PEM, the form `openssl genpkey -algorithm ed25519` also writes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

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
