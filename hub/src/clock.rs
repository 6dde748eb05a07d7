//! Wall-clock timestamps as the protocol writes them: RFC 3339, UTC, millisecond precision, `Z`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, as `2026-11-27T13:00:00.123Z`.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let millis = now.replace_nanosecond(now.millisecond() as u32 * 1_000_000);
    millis
        .unwrap_or(now)
        .format(&Rfc3339)
        .expect("UTC times always format as RFC 3339")
}
