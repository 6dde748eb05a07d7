//! How the protocol writes times: RFC 3339 in UTC with a `Z`, at millisecond precision.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, as the protocol writes timestamps.
pub fn now_rfc3339() -> String {
    format_rfc3339(OffsetDateTime::now_utc())
}

/// `at` in the protocol's form (UTC, milliseconds, `Z`).
pub fn format_rfc3339(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let millis = utc.replace_nanosecond(u32::from(utc.millisecond()) * 1_000_000);
    millis
        .unwrap_or(utc)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Parses an RFC 3339 time (any offset).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_milliseconds_with_z() {
        let at = parse_rfc3339("2026-12-01T08:30:00.123456+08:00").unwrap();
        assert_eq!(format_rfc3339(at), "2026-12-01T00:30:00.123Z");
        assert!(now_rfc3339().ends_with('Z'));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
