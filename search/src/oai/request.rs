//! The six verbs and their argument rules (OAI-PMH 2.0 §3.1, §4): which arguments are
//! required, which optional, `resumptionToken` exclusive; every violation is one of the
//! protocol's error codes.

use super::datestamp::{Bound, parse_bound};

/// An OAI-PMH error condition (§3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadArgument,
    BadResumptionToken,
    BadVerb,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoRecordsMatch,
    NoMetadataFormats,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadArgument => "badArgument",
            ErrorCode::BadResumptionToken => "badResumptionToken",
            ErrorCode::BadVerb => "badVerb",
            ErrorCode::CannotDisseminateFormat => "cannotDisseminateFormat",
            ErrorCode::IdDoesNotExist => "idDoesNotExist",
            ErrorCode::NoRecordsMatch => "noRecordsMatch",
            ErrorCode::NoMetadataFormats => "noMetadataFormats",
        }
    }

    /// Whether the response's `request` element may echo the arguments: not when the verb or
    /// the arguments themselves were wrong (§3.2).
    pub fn echoes_arguments(self) -> bool {
        !matches!(self, ErrorCode::BadVerb | ErrorCode::BadArgument)
    }
}

/// An error answer: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OaiError {
    pub code: ErrorCode,
    pub message: String,
}

impl OaiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> OaiError {
        OaiError {
            code,
            message: message.into(),
        }
    }
}

/// What a list request selects: a format, an optional datestamp range and set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub metadata_prefix: String,
    pub from: Option<Bound>,
    pub until: Option<Bound>,
    pub set: Option<String>,
}

/// A list request: a fresh selection or the continuation a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStart {
    Fresh(Selection),
    Resume(String),
}

/// A checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Identify,
    ListMetadataFormats {
        identifier: Option<String>,
    },
    ListSets {
        resumption_token: Option<String>,
    },
    GetRecord {
        identifier: String,
        metadata_prefix: String,
    },
    ListIdentifiers(ListStart),
    ListRecords(ListStart),
}

impl Verb {
    /// Checks the arguments of a request (each name at most once, none unknown, the verb's
    /// rules) and says what it asks for.
    pub fn parse(pairs: &[(String, String)]) -> Result<Verb, OaiError> {
        let verbs: Vec<&str> = values(pairs, "verb");
        let verb = match verbs.as_slice() {
            [] => {
                return Err(OaiError::new(
                    ErrorCode::BadVerb,
                    "the verb argument is missing",
                ));
            }
            [one] => *one,
            _ => {
                return Err(OaiError::new(
                    ErrorCode::BadVerb,
                    "the verb argument is repeated",
                ));
            }
        };
        let args = Arguments::of(pairs)?;
        match verb {
            "Identify" => {
                args.allow(&[])?;
                Ok(Verb::Identify)
            }
            "ListMetadataFormats" => {
                args.allow(&["identifier"])?;
                Ok(Verb::ListMetadataFormats {
                    identifier: args.get("identifier"),
                })
            }
            "ListSets" => {
                args.allow(&["resumptionToken"])?;
                Ok(Verb::ListSets {
                    resumption_token: args.get("resumptionToken"),
                })
            }
            "GetRecord" => {
                args.allow(&["identifier", "metadataPrefix"])?;
                Ok(Verb::GetRecord {
                    identifier: args.required("identifier")?,
                    metadata_prefix: args.required("metadataPrefix")?,
                })
            }
            "ListIdentifiers" => Ok(Verb::ListIdentifiers(args.list_start()?)),
            "ListRecords" => Ok(Verb::ListRecords(args.list_start()?)),
            other => Err(OaiError::new(
                ErrorCode::BadVerb,
                format!("{other:?} is not an OAI-PMH verb"),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Verb::Identify => "Identify",
            Verb::ListMetadataFormats { .. } => "ListMetadataFormats",
            Verb::ListSets { .. } => "ListSets",
            Verb::GetRecord { .. } => "GetRecord",
            Verb::ListIdentifiers(_) => "ListIdentifiers",
            Verb::ListRecords(_) => "ListRecords",
        }
    }
}

fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The arguments other than `verb`, each given once.
struct Arguments<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Arguments<'a> {
    fn of(pairs: &'a [(String, String)]) -> Result<Arguments<'a>, OaiError> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (name, value) in pairs.iter().filter(|(k, _)| k != "verb") {
            if seen.iter().any(|(n, _)| n == name) {
                return Err(OaiError::new(
                    ErrorCode::BadArgument,
                    format!("the argument {name} is repeated"),
                ));
            }
            seen.push((name, value));
        }
        Ok(Arguments { pairs: seen })
    }

    /// Refuses any argument not in `allowed`.
    fn allow(&self, allowed: &[&str]) -> Result<(), OaiError> {
        match self.pairs.iter().find(|(n, _)| !allowed.contains(n)) {
            Some((name, _)) => Err(OaiError::new(
                ErrorCode::BadArgument,
                format!("the argument {name} is not allowed with this verb"),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }

    fn required(&self, name: &str) -> Result<String, OaiError> {
        self.get(name).ok_or_else(|| {
            OaiError::new(
                ErrorCode::BadArgument,
                format!("the argument {name} is required with this verb"),
            )
        })
    }

    /// ListIdentifiers and ListRecords: `resumptionToken` alone, or `metadataPrefix` with
    /// optional `from`, `until` and `set`.
    fn list_start(&self) -> Result<ListStart, OaiError> {
        if let Some(token) = self.get("resumptionToken") {
            if self.pairs.len() > 1 {
                return Err(OaiError::new(
                    ErrorCode::BadArgument,
                    "resumptionToken is an exclusive argument: send it alone with the verb",
                ));
            }
            return Ok(ListStart::Resume(token));
        }
        self.allow(&["metadataPrefix", "from", "until", "set"])?;
        let from = self
            .get("from")
            .map(|f| parse_bound(&f, false))
            .transpose()?;
        let until = self
            .get("until")
            .map(|u| parse_bound(&u, true))
            .transpose()?;
        if let (Some(from), Some(until)) = (&from, &until) {
            if from.granularity != until.granularity {
                return Err(OaiError::new(
                    ErrorCode::BadArgument,
                    "from and until must have the same granularity",
                ));
            }
            if from.datestamp > until.datestamp {
                return Err(OaiError::new(
                    ErrorCode::BadArgument,
                    "from is later than until",
                ));
            }
        }
        Ok(ListStart::Fresh(Selection {
            metadata_prefix: self.required("metadataPrefix")?,
            from,
            until,
            set: self.get("set"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Verb, OaiError> {
        Verb::parse(&crate::params::pairs(Some(query)))
    }

    fn code(query: &str) -> ErrorCode {
        parse(query).unwrap_err().code
    }

    #[test]
    fn each_verb_takes_its_arguments() {
        assert_eq!(parse("verb=Identify").unwrap(), Verb::Identify);
        assert_eq!(
            parse("verb=GetRecord&identifier=oai:x:CN-BJ/1&metadataPrefix=oai_dc").unwrap(),
            Verb::GetRecord {
                identifier: "oai:x:CN-BJ/1".into(),
                metadata_prefix: "oai_dc".into()
            }
        );
        assert_eq!(
            parse("verb=ListRecords&resumptionToken=abc").unwrap(),
            Verb::ListRecords(ListStart::Resume("abc".into()))
        );
        let Verb::ListIdentifiers(ListStart::Fresh(selection)) =
            parse("verb=ListIdentifiers&metadataPrefix=yiqi&from=2026-01-01&until=2026-01-02&set=region:CN-BJ")
                .unwrap()
        else {
            panic!("not a fresh list");
        };
        assert_eq!(selection.from.unwrap().datestamp, "2026-01-01T00:00:00Z");
        assert_eq!(selection.until.unwrap().datestamp, "2026-01-02T23:59:59Z");
        assert_eq!(selection.set.as_deref(), Some("region:CN-BJ"));
    }

    #[test]
    fn every_argument_rule_has_its_error() {
        assert_eq!(code(""), ErrorCode::BadVerb);
        assert_eq!(code("verb=Frobnicate"), ErrorCode::BadVerb);
        assert_eq!(code("verb=Identify&verb=Identify"), ErrorCode::BadVerb);
        assert_eq!(code("verb=Identify&set=a"), ErrorCode::BadArgument);
        assert_eq!(code("verb=GetRecord&identifier=x"), ErrorCode::BadArgument);
        assert_eq!(code("verb=ListRecords"), ErrorCode::BadArgument);
        assert_eq!(
            code("verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=yiqi"),
            ErrorCode::BadArgument
        );
        assert_eq!(
            code("verb=ListRecords&resumptionToken=a&metadataPrefix=oai_dc"),
            ErrorCode::BadArgument
        );
        assert_eq!(
            code("verb=ListRecords&metadataPrefix=oai_dc&from=yesterday"),
            ErrorCode::BadArgument
        );
        assert_eq!(
            code(
                "verb=ListRecords&metadataPrefix=oai_dc&from=2026-01-01&until=2026-01-02T00:00:00Z"
            ),
            ErrorCode::BadArgument
        );
        assert_eq!(
            code("verb=ListRecords&metadataPrefix=oai_dc&from=2026-01-02&until=2026-01-01"),
            ErrorCode::BadArgument
        );
        assert_eq!(code("verb=ListSets&set=x"), ErrorCode::BadArgument);
    }
}
