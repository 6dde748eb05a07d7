//! Compressing stored envelopes with zstd and a dictionary trained on catalogue records.
//!
//! A log entry is a small JSON document (about 1.9 KB) whose bulk is field names and recurring
//! values (classification codes, cities, `"signature":{"alg":"Ed25519"`…). Compressing each
//! entry on its own finds little of that (1.9 → 1.4 KB); with a dictionary that already holds
//! the recurring text an entry shrinks to about a quarter (figures in `docs/performance.md`).
//! Entries stay separately readable: the feed and the proofs read single entries.
//!
//! The dictionary is part of the stored format: a value compressed with it can only be read
//! with the same bytes, so [`DICTIONARY_V1`] never changes. A better dictionary would be a second
//! constant with its own tag in the callers' layouts, old values keeping theirs.
//! `yiqi-bench log-dictionary` trains one (how it was made is in `docs/performance.md`).

use crate::StorageError;
use std::cell::RefCell;
use std::sync::LazyLock;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// The dictionary values are compressed with (32 KB, trained on generated catalogues).
pub const DICTIONARY_V1: &[u8] = include_bytes!("entry-dictionary-v1.zdict");
/// zstd's level. On entries this small, with the dictionary, level 2 compresses as well as 3
/// (502 against 498 bytes for a 1,646-byte entry) in about half the time (3.5 against 6.1 µs);
/// higher levels gain nothing more. Any level reads back with the same dictionary.
pub const LEVEL: i32 = 2;
/// A stored value claiming more than this is damaged: the hub refuses far smaller records.
const MAX_DECOMPRESSED: usize = 64 << 20;
const LENGTH_BYTES: usize = 4;

static ENCODER: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICTIONARY_V1, LEVEL));
static DECODER: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICTIONARY_V1));

thread_local! {
    // A context per thread: zstd's contexts are not shareable, and making one per value would
    // cost more than compressing it.
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `bytes` compressed with [`DICTIONARY_V1`]: their length (u32, big-endian), then one zstd
/// frame.
pub fn compress(bytes: &[u8]) -> Result<Vec<u8>, StorageError> {
    let length = u32::try_from(bytes.len())
        .ok()
        .filter(|&n| n as usize <= MAX_DECOMPRESSED)
        .ok_or_else(|| StorageError::Corrupt(format!("a value of {} bytes", bytes.len())))?;
    let frame = COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some(compressor) => compressor,
            None => slot.insert(Compressor::with_prepared_dictionary(&ENCODER)?),
        };
        compressor.compress(bytes)
    });
    let frame = frame.map_err(|e| io_error("compressing a value", e))?;
    let mut out = Vec::with_capacity(LENGTH_BYTES + frame.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&frame);
    Ok(out)
}

/// The bytes [`compress`] was given. A damaged value is a [`StorageError::Corrupt`] naming
/// `what`.
pub fn decompress(stored: &[u8], what: &str) -> Result<Vec<u8>, StorageError> {
    let corrupt = || StorageError::Corrupt(format!("{what} (compressed value)"));
    let (length, frame) = stored.split_at_checked(LENGTH_BYTES).ok_or_else(corrupt)?;
    let length = u32::from_be_bytes(length.try_into().map_err(|_| corrupt())?) as usize;
    if length > MAX_DECOMPRESSED {
        return Err(corrupt());
    }
    let bytes = DECOMPRESSOR.with_borrow_mut(|slot| {
        let decompressor = match slot {
            Some(decompressor) => decompressor,
            None => slot.insert(Decompressor::with_prepared_dictionary(&DECODER)?),
        };
        decompressor.decompress(frame, length)
    });
    match bytes {
        Ok(bytes) if bytes.len() == length => Ok(bytes),
        _ => Err(corrupt()),
    }
}

fn io_error(what: &str, source: std::io::Error) -> StorageError {
    StorageError::Io {
        what: what.into(),
        source: std::sync::Arc::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_shrink() {
        let entry = br#"{"seq":7,"leaf_index":6,"received_at":"2026-12-02T08:00:00.000Z","envelope":{"record":{"kind":"instrument","region":"CN-GS","local_id":"GS-0001","category":"010101","institution":{"name":"\xe5\x85\xb0\xe5\xb7\x9e\xe5\xa4\xa7\xe5\xad\xa6"}},"signature":{"alg":"Ed25519"}}}"#;
        let stored = compress(entry).unwrap();
        assert!(
            stored.len() < entry.len(),
            "{} ≥ {}",
            stored.len(),
            entry.len()
        );
        assert_eq!(decompress(&stored, "log entry 7").unwrap(), entry);
        assert_eq!(decompress(&compress(b"").unwrap(), "empty").unwrap(), b"");
    }

    #[test]
    fn a_damaged_value_is_corrupt_not_a_panic() {
        let mut stored = compress(b"{\"record\":{\"kind\":\"instrument\"}}").unwrap();
        for damaged in [
            &stored[..2],
            &stored[..stored.len() - 1],
            &[0xff, 0xff, 0xff, 0xff, 0][..],
        ] {
            let error = decompress(damaged, "log entry 9").unwrap_err();
            assert!(error.to_string().contains("log entry 9"), "{error}");
        }
        stored[0] ^= 1; // a wrong length
        assert!(decompress(&stored, "log entry 9").is_err());
    }
}
