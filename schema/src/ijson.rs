//! Strict parsing of I-JSON (RFC 7493) into a [`serde_json::Value`].
//!
//! `serde_json` already rejects invalid UTF-8, lone surrogates and numbers that overflow a double,
//! but it silently keeps the last of duplicate member names. A record whose meaning depends on
//! which duplicate a parser keeps could verify on one implementation and mean something else on
//! another, so duplicates are an error here. Integers beyond ±(2^53−1) are rejected too: I-JSON
//! says they cannot be exchanged exactly, and RFC 8785 would print them rounded.
//!
//! Depth is bounded ([`MAX_DEPTH`]) by this parser itself, so hostile nesting is a clean error
//! long before the stack is at risk.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Deepest nesting of arrays and objects accepted in one document.
pub const MAX_DEPTH: usize = 32;

/// The largest integer that I-JSON guarantees to exchange exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a document is not I-JSON.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct IJsonError(pub String);

/// Parses `bytes` as one I-JSON document.
pub fn parse(bytes: &[u8]) -> Result<Value, IJsonError> {
    parse_from(serde_json::Deserializer::from_slice(bytes))
}

/// Parses a string as one I-JSON document. A `str` is UTF-8 already, so its strings are not
/// checked for it again (a tenth of the parse for Chinese text).
pub fn parse_str(text: &str) -> Result<Value, IJsonError> {
    parse_from(serde_json::Deserializer::from_str(text))
}

fn parse_from<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<Value, IJsonError> {
    let value = StrictSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| IJsonError(e.to_string()))?;
    de.end().map_err(|e| IJsonError(e.to_string()))?;
    Ok(value)
}

#[derive(Clone, Copy)]
struct StrictSeed {
    depth: usize,
}

impl StrictSeed {
    fn nested<E: de::Error>(self) -> Result<StrictSeed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(StrictSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn safe_integer<E: de::Error>(magnitude: u128) -> Result<(), E> {
    if magnitude > u128::from(MAX_SAFE_INTEGER) {
        return Err(E::custom(format_args!(
            "integer {magnitude} is outside ±(2^53−1), the range I-JSON exchanges exactly"
        )));
    }
    Ok(())
}

impl<'de> Visitor<'de> for StrictSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an I-JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        safe_integer(u128::from(v.unsigned_abs()))?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        safe_integer(u128::from(v))?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json hands over integer literals too long for 64 bits as rounded floats; an
        // integral value this large cannot have been meant exactly.
        if v.fract() == 0.0 && v.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(E::custom(format_args!(
                "number {v} is an integer outside ±(2^53−1), the range I-JSON exchanges exactly"
            )));
        }
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            // `insert` hands back the earlier value when the name was already there.
            if let Some(_earlier) = members.insert(key, value) {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json() {
        let v = parse(br#"{"a":[1,2.5,"x",null,true],"b":{"c":-3}}"#).unwrap();
        assert_eq!(v["b"]["c"], -3);
    }

    #[test]
    fn rejects_duplicate_member_names_at_any_depth() {
        assert!(
            parse(br#"{"a":1,"a":2}"#)
                .unwrap_err()
                .0
                .contains("duplicate")
        );
        assert!(parse(br#"{"x":{"a":1,"b":2,"a":1}}"#).is_err());
        assert!(parse(br#"[{"k":1},{"k":1}]"#).is_ok());
    }

    #[test]
    fn rejects_invalid_utf8_and_lone_surrogates() {
        assert!(parse(b"{\"a\":\"\xff\"}").is_err());
        assert!(parse(br#"{"a":"\ud800"}"#).is_err());
        assert!(parse(br#"{"a":"\udc00x"}"#).is_err());
        assert_eq!(parse(br#""\ud83d\ude00""#).unwrap(), "😀");
    }

    #[test]
    fn rejects_unsafe_integers_and_overflowing_numbers() {
        assert!(parse(b"9007199254740991").is_ok());
        assert!(parse(b"-9007199254740991").is_ok());
        assert!(parse(b"9007199254740992").is_err());
        assert!(parse(b"-9007199254740992").is_err());
        assert!(parse(b"123456789012345678901234567890").is_err());
        assert!(parse(b"1e400").is_err());
        assert!(parse(b"1.5e3").is_ok());
        assert!(parse(b"1e300").is_err());
        assert!(parse(b"0.000001").is_ok());
    }

    #[test]
    fn bounds_nesting_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).unwrap_err().0.contains("nesting"));
        let objects = "{\"a\":".repeat(100_000);
        assert!(parse(objects.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn rejects_trailing_data_and_truncation() {
        assert!(parse(br#"{"a":1} x"#).is_err());
        assert!(parse(br#"{"a":1"#).is_err());
        assert!(parse(b"").is_err());
    }
}
