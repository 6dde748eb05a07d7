//! Stateless resumption tokens: everything a list needs to go on (the verb, the selection,
//! the host's position after the last item sent, the cursor and the list size) is in the
//! token itself, so a harvest survives a restart and the server keeps nothing per harvester.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::datestamp::{Bound, Granularity};
use super::request::{ErrorCode, OaiError, Selection};

/// The continuation of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// The token layout's version.
    pub v: u8,
    pub verb: String,
    pub prefix: String,
    pub from: Option<String>,
    pub until: Option<String>,
    pub set: Option<String>,
    /// The host's opaque position of the last item sent.
    pub after: String,
    /// How many items earlier pages held.
    pub cursor: u64,
    /// The list's size when it started.
    pub size: u64,
}

const LAYOUT: u8 = 1;

impl Token {
    pub fn new(verb: &str, selection: &Selection, after: String, cursor: u64, size: u64) -> Token {
        Token {
            v: LAYOUT,
            verb: verb.to_owned(),
            prefix: selection.metadata_prefix.clone(),
            from: selection.from.as_ref().map(|b| b.datestamp.clone()),
            until: selection.until.as_ref().map(|b| b.datestamp.clone()),
            set: selection.set.clone(),
            after,
            cursor,
            size,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a token given with `verb`; anything else (another verb's, altered, truncated) is
    /// `badResumptionToken`.
    pub fn decode(text: &str, verb: &str) -> Result<Token, OaiError> {
        let bad = || {
            OaiError::new(
                ErrorCode::BadResumptionToken,
                "the resumption token is not one this repository issued for this verb: start \
                 the list again without it",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let token: Token = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if token.v != LAYOUT || token.verb != verb {
            return Err(bad());
        }
        Ok(token)
    }

    /// The selection the list was started with (`from` and `until` as the datestamps they
    /// stood for).
    pub fn selection(&self) -> Selection {
        let bound = |datestamp: &Option<String>| {
            datestamp.clone().map(|datestamp| Bound {
                datestamp,
                granularity: Granularity::Seconds,
            })
        };
        Selection {
            metadata_prefix: self.prefix.clone(),
            from: bound(&self.from),
            until: bound(&self.until),
            set: self.set.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oai::datestamp::parse_bound;

    #[test]
    fn a_token_carries_its_list_and_only_for_its_verb() {
        let selection = Selection {
            metadata_prefix: "oai_dc".into(),
            from: Some(parse_bound("2026-01-01", false).unwrap()),
            until: None,
            set: Some("region:CN-BJ".into()),
        };
        let token = Token::new("ListRecords", &selection, "42".into(), 250, 1000);
        let text = token.encode();
        assert_eq!(Token::decode(&text, "ListRecords").unwrap(), token);
        let resumed = token.selection();
        assert_eq!(resumed.set, selection.set);
        assert_eq!(resumed.from.unwrap().datestamp, "2026-01-01T00:00:00Z");
        for (bad, verb) in [
            (text.as_str(), "ListIdentifiers"),
            ("not base64!", "ListRecords"),
            (&text[..text.len() - 3], "ListRecords"),
        ] {
            assert_eq!(
                Token::decode(bad, verb).unwrap_err().code,
                ErrorCode::BadResumptionToken
            );
        }
    }
}
