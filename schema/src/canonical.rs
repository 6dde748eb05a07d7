//! RFC 8785 (JSON Canonicalization Scheme) bytes of a value.
//!
//! The signature covers these bytes, so every implementation must produce them identically;
//! `serde_json_canonicalizer` is checked against the official vectors in `tests/jcs.rs`.

use serde_json::Value;

/// The canonical (JCS) bytes of `value`.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail: it has string keys and finite numbers by construction.
    serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always canonicalises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_utf16_and_drops_whitespace() {
        let v = json!({"b": 1, "a": [true, null], "é": "x", "\u{10000}": 0, "\u{ffff}": 0});
        let s = String::from_utf8(canonical_bytes(&v)).unwrap();
        assert_eq!(
            s,
            "{\"a\":[true,null],\"b\":1,\"é\":\"x\",\"\u{10000}\":0,\"\u{ffff}\":0}"
        );
    }
}
