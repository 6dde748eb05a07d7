//! RFC 8785 (JSON Canonicalization Scheme) bytes of a value.
//!
//! The signature covers these bytes, so every implementation must produce them identically;
//! `serde_json_canonicalizer` is checked against the official vectors in `tests/jcs.rs`.

use serde_json::{Map, Value};
use std::io;

/// The canonical (JCS) bytes of `value`.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail: it has string keys and finite numbers by construction.
    serde_json_canonicalizer::to_vec(value).expect("a serde_json::Value always canonicalises")
}

/// Whether `bytes` are exactly [`canonical_bytes`] of `value`, found by walking `value` along
/// `bytes` rather than writing them out (a signed record that arrived canonical is verified over
/// its bytes as they came, and writing out the canonical form costs more than the rest of the
/// check). The pieces are `serde_json_canonicalizer`'s: numbers in ECMAScript form (`ryu-js`,
/// integers too, as doubles), strings escaped as serde_json escapes them (the library's
/// formatter differs only for `/`, which serde_json never escapes), members in UTF-16 order.
pub fn is_canonical_form(bytes: &[u8], value: &Value) -> bool {
    let mut rest = Unmatched(bytes);
    rest.value(value) && rest.0.is_empty()
}

/// The bytes not matched yet.
struct Unmatched<'a>(&'a [u8]);

impl Unmatched<'_> {
    fn value(&mut self, value: &Value) -> bool {
        match value {
            Value::Null => self.literal(b"null"),
            Value::Bool(true) => self.literal(b"true"),
            Value::Bool(false) => self.literal(b"false"),
            Value::Number(number) => number
                .as_f64()
                .is_some_and(|f| self.literal(ryu_js::Buffer::new().format_finite(f).as_bytes())),
            Value::String(text) => self.string(text),
            Value::Array(items) => {
                self.literal(b"[")
                    && items
                        .iter()
                        .enumerate()
                        .all(|(i, item)| (i == 0 || self.literal(b",")) && self.value(item))
                    && self.literal(b"]")
            }
            Value::Object(members) => {
                self.literal(b"{")
                    && in_utf16_order(members)
                        .enumerate()
                        .all(|(i, (name, member))| {
                            (i == 0 || self.literal(b","))
                                && self.string(name)
                                && self.literal(b":")
                                && self.value(member)
                        })
                    && self.literal(b"}")
            }
        }
    }

    fn literal(&mut self, expected: &[u8]) -> bool {
        match self.0.strip_prefix(expected) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    /// Text without a character to escape is written as it is (nearly all text), and its bytes
    /// are compared at once; any other text goes through serde_json's escaping.
    fn string(&mut self, text: &str) -> bool {
        if needs_escaping(text) {
            return serde_json::to_writer(&mut *self, text).is_ok();
        }
        self.literal(b"\"") && self.literal(text.as_bytes()) && self.literal(b"\"")
    }
}

/// Whether JSON writes `text` otherwise than as it is: it holds a quote, a backslash or a
/// control character. (No early exit, so the loop is vectorised.)
fn needs_escaping(text: &str) -> bool {
    text.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// serde_json writes a string into it piece by piece; a piece that is not next is an error.
impl io::Write for Unmatched<'_> {
    fn write(&mut self, piece: &[u8]) -> io::Result<usize> {
        match self.literal(piece) {
            true => Ok(piece.len()),
            false => Err(io::ErrorKind::InvalidData.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An object's members in RFC 8785 order: by the UTF-16 code units of their names. A `Map`
/// iterates in code point order (a test below holds it to that), which differs only where a
/// character beyond U+FFFF meets one from U+E000 to U+FFFF; names without either (UTF-8 lead
/// bytes from 0xEE) need no sorting.
fn in_utf16_order(members: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    let may_differ = members
        .keys()
        .any(|name| name.bytes().fold(false, |found, b| found | (b >= 0xEE)));
    let mut resorted = Vec::new();
    if may_differ {
        resorted.extend(members.iter());
        resorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    }
    let as_they_are = (!may_differ).then(|| members.iter());
    as_they_are.into_iter().flatten().chain(resorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// JSON values with the cases canonical form turns on: escapes and control characters,
    /// names beyond U+FFFF beside ones from U+E000, floats, integers, nesting.
    fn any_value() -> impl Strategy<Value = Value> {
        let text = "[a-c\\\"/\u{0}-\u{1f}\u{7f}é\u{e000}\u{ffff}\u{10000}\u{2028}中]{0,4}";
        let number = prop_oneof![
            any::<i32>().prop_map(|n| json!(n)),
            (-1e22..1e22f64).prop_map(|f| json!(f)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number,
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(text, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_bytes_are_in_canonical_form(value in any_value()) {
            prop_assert!(is_canonical_form(&canonical_bytes(&value), &value));
        }

        /// Other writings of the same value (serde_json's, pretty, one byte changed, cut short)
        /// are in canonical form only if they are the canonical bytes.
        #[test]
        fn only_the_canonical_bytes_are_in_canonical_form(
            value in any_value(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let canonical = canonical_bytes(&value);
            let mut changed = canonical.clone();
            let i = at.index(changed.len());
            changed[i] = byte;
            let others = [
                serde_json::to_vec(&value).unwrap(),
                serde_json::to_vec_pretty(&value).unwrap(),
                changed,
                canonical[..i].to_vec(),
                [canonical.as_slice(), b" "].concat(),
            ];
            for other in others {
                prop_assert_eq!(is_canonical_form(&other, &value), other == canonical);
            }
        }
    }

    /// [`in_utf16_order`] relies on it (serde_json's `preserve_order` would break it).
    #[test]
    fn a_map_iterates_in_code_point_order() {
        let map = json!({"b": 0, "\u{10000}": 0, "a": 0, "\u{ffff}": 0});
        let names: Vec<&String> = map.as_object().unwrap().keys().collect();
        assert_eq!(names, ["a", "b", "\u{ffff}", "\u{10000}"]);
    }

    #[test]
    fn names_sort_by_utf16_and_numbers_print_as_ecmascript_does() {
        let v = json!({"\u{ffff}": 1e21, "\u{10000}": 0.000001, "a": [1.0, -0.0, 1e-7, "/\u{7f}"]});
        let canonical = "{\"a\":[1,0,1e-7,\"/\u{7f}\"],\"\u{10000}\":0.000001,\"\u{ffff}\":1e+21}";
        assert_eq!(String::from_utf8(canonical_bytes(&v)).unwrap(), canonical);
        assert!(is_canonical_form(canonical.as_bytes(), &v));
        for other in [
            "{\"a\":[1,0,1e-7,\"/\u{7f}\"],\"\u{ffff}\":1e+21,\"\u{10000}\":0.000001}",
            "{\"a\":[1.0,0,1e-7,\"/\u{7f}\"],\"\u{10000}\":0.000001,\"\u{ffff}\":1e+21}",
            "{\"a\":[1,0,1e-7,\"\\/\u{7f}\"],\"\u{10000}\":0.000001,\"\u{ffff}\":1e+21}",
        ] {
            assert!(!is_canonical_form(other.as_bytes(), &v), "{other}");
        }
    }

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
