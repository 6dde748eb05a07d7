//! Datestamps at the granularity the repository declares (`YYYY-MM-DDThh:mm:ssZ`, UTC): the
//! time the hub accepted a record's current version, cut to the second. Written this way they
//! order as strings, so `from`/`until` compare as text.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::request::{ErrorCode, OaiError};

/// The two granularities a harvester may use in `from` and `until` (§3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Seconds,
}

/// A `from` or `until` argument as the inclusive datestamp it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub datestamp: String,
    pub granularity: Granularity,
}

/// Reads `from` (`is_until` false: a day starts at 00:00:00) or `until` (a day ends at
/// 23:59:59), both inclusive.
pub fn parse_bound(text: &str, is_until: bool) -> Result<Bound, OaiError> {
    let bad = || {
        OaiError::new(
            ErrorCode::BadArgument,
            format!("{text:?} is not a datestamp: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"),
        )
    };
    if text.len() == 10 {
        let day =
            Date::parse(text, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
        let time = if is_until { "23:59:59" } else { "00:00:00" };
        return Ok(Bound {
            datestamp: format!("{day}T{time}Z"),
            granularity: Granularity::Day,
        });
    }
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let at = PrimitiveDateTime::parse(text, format).map_err(|_| bad())?;
    Ok(Bound {
        datestamp: at.format(format).map_err(|_| bad())?,
        granularity: Granularity::Seconds,
    })
}

/// The datestamp of an RFC 3339 time (as the hub writes `received_at`).
pub fn of_rfc3339(text: &str) -> Option<String> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(seconds)
}

/// Now, as a datestamp (the response date).
pub fn now() -> String {
    seconds(OffsetDateTime::now_utc())
}

fn seconds(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc.format(format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_times_become_utc_seconds() {
        assert_eq!(
            of_rfc3339("2026-06-01T10:20:30.999Z").as_deref(),
            Some("2026-06-01T10:20:30Z")
        );
        assert_eq!(
            of_rfc3339("2026-06-01T08:00:00+08:00").as_deref(),
            Some("2026-06-01T00:00:00Z")
        );
        assert_eq!(of_rfc3339("soon"), None);
    }

    #[test]
    fn bounds_are_inclusive_at_either_granularity() {
        let from = parse_bound("2026-02-28", false).unwrap();
        assert_eq!(from.datestamp, "2026-02-28T00:00:00Z");
        assert_eq!(from.granularity, Granularity::Day);
        assert_eq!(
            parse_bound("2026-02-28", true).unwrap().datestamp,
            "2026-02-28T23:59:59Z"
        );
        let exact = parse_bound("2026-02-28T01:02:03Z", true).unwrap();
        assert_eq!(exact.datestamp, "2026-02-28T01:02:03Z");
        assert_eq!(exact.granularity, Granularity::Seconds);
        for bad in [
            "2026-02-30",
            "2026-02-28T01:02:03",
            "2026-02-28T01:02:03.5Z",
            "",
        ] {
            assert!(parse_bound(bad, false).is_err(), "{bad}");
        }
    }
}
