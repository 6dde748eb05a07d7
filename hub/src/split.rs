//! Splitting a batch body `{"records": [e1, e2, …]}` into the raw bytes of each element.
//!
//! The protocol says one bad record never fails the others: a duplicate member name, invalid
//! UTF-8 or absurd nesting inside one element must reject that element alone. So the body is not
//! parsed as a whole; this scanner only finds element boundaries (tracking strings, escapes and
//! bracket depth, iteratively, so 100,000 levels of nesting cost nothing but a counter), and each
//! element is then parsed strictly on its own.

/// Why a body is not a batch at all (the whole request fails with `malformed_json`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{message} at byte {offset}")]
pub struct SplitError {
    pub message: &'static str,
    pub offset: usize,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn fail<T>(&self, message: &'static str) -> Result<T, SplitError> {
        Err(SplitError {
            message,
            offset: self.at,
        })
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    fn expect(&mut self, token: &[u8], message: &'static str) -> Result<(), SplitError> {
        self.skip_ws();
        if self.bytes[self.at..].starts_with(token) {
            self.at += token.len();
            Ok(())
        } else {
            self.fail(message)
        }
    }

    /// Moves past a string whose opening quote is at `self.at`.
    fn skip_string(&mut self) -> Result<(), SplitError> {
        self.at += 1;
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => self.at += 1,
                _ => {}
            }
        }
        self.fail("unterminated string")
    }

    /// The bytes of one element: a balanced object/array, a string, or a bare scalar.
    fn element(&mut self) -> Result<&'a [u8], SplitError> {
        self.skip_ws();
        let start = self.at;
        match self.bytes.get(self.at) {
            Some(b'{' | b'[') => self.skip_nested()?,
            Some(b'"') => self.skip_string()?,
            Some(_) => self.skip_scalar(),
            None => return self.fail("unexpected end of body"),
        }
        Ok(&self.bytes[start..self.at])
    }

    fn skip_nested(&mut self) -> Result<(), SplitError> {
        let mut depth = 0usize;
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b'"' => {
                    self.skip_string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        self.fail("unbalanced brackets")
    }

    fn skip_scalar(&mut self) {
        while let Some(&b) = self.bytes.get(self.at) {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.at += 1;
        }
    }
}

/// Splits `{"records": [...]}` into its elements' bytes. `records` must be the only member.
pub fn split_batch(body: &[u8]) -> Result<Vec<&[u8]>, SplitError> {
    let mut s = Scanner { bytes: body, at: 0 };
    s.expect(b"{", "expected {\"records\": [...]}")?;
    s.expect(b"\"records\"", "expected the member \"records\"")?;
    s.expect(b":", "expected ':'")?;
    s.expect(b"[", "\"records\" must be an array")?;
    let mut elements = Vec::new();
    if s.peek() == Some(b']') {
        s.at += 1;
    } else {
        loop {
            elements.push(s.element()?);
            match s.peek() {
                Some(b',') => s.at += 1,
                Some(b']') => {
                    s.at += 1;
                    break;
                }
                _ => return s.fail("expected ',' or ']' after a record"),
            }
        }
    }
    s.expect(b"}", "expected '}' (\"records\" must be the only member)")?;
    if s.peek().is_some() {
        return s.fail("trailing data after the batch");
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_elements_without_judging_them() {
        let body = br#" { "records" : [ {"a":"x]}\"y"} , [1,2], "s", 12 , {"a":1,"a":2}, {"b":"\xff"} ] } "#;
        let parts = split_batch(body).unwrap();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0], br#"{"a":"x]}\"y"}"#);
        assert_eq!(parts[1], b"[1,2]");
        assert_eq!(parts[3], b"12");
        assert_eq!(parts[4], br#"{"a":1,"a":2}"#);
        assert_eq!(split_batch(br#"{"records":[]}"#).unwrap().len(), 0);
    }

    #[test]
    fn deep_nesting_is_one_element() {
        let deep = format!(
            "{{\"records\":[{}{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(split_batch(deep.as_bytes()).unwrap()[0].len(), 200_000);
    }

    #[test]
    fn rejects_what_is_not_a_batch() {
        for body in [
            &b""[..],
            b"[]",
            b"{\"records\":[{}",
            b"{\"records\":[{\"a\":\"}]}",
            b"{\"records\":[1 2]}",
            b"{\"records\":[],\"x\":1}",
            b"{\"recs\":[]}",
            b"{\"records\":[]} junk",
            b"{\"records\":[{]}",
        ] {
            assert!(
                split_batch(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = split_batch(&bytes);
            let mut wrapped = b"{\"records\":[".to_vec();
            wrapped.extend_from_slice(&bytes);
            wrapped.extend_from_slice(b"]}");
            if let Ok(parts) = split_batch(&wrapped) {
                for part in parts {
                    let _ = yiqi_schema::check_envelope(part, |_, _| true);
                }
            }
        }
    }
}
