//! Times as the JSON views and sidecars write them: RFC 3339 in UTC, second precision.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix milliseconds as RFC 3339 UTC (`2026-11-21T16:00:00Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    rfc3339_utc(UNIX_EPOCH + Duration::from_millis(ms.max(0).unsigned_abs()))
}

/// Formats a time as RFC 3339 in UTC with second precision.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-11-21T16:00:00.250Z`): the
/// `ts` of an event stream, where several events share a second.
pub fn rfc3339_millis(ms: i64) -> String {
    let seconds = rfc3339_ms(ms);
    let base = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{base}.{:03}Z", ms.max(0) % 1000)
}

/// Seconds from now until an RFC 3339 time (negative when past); `None` when it does not parse.
pub fn seconds_until(rfc3339: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    Some((t - time::OffsetDateTime::now_utc()).whole_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_795_276_800_000), "2026-11-21T16:00:00Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(seconds_until("1970-01-01T00:00:00Z").map(i64::is_negative), Some(true));
        assert_eq!(seconds_until("soon"), None);
        assert_eq!(rfc3339_millis(1_795_276_800_250), "2026-11-21T16:00:00.250Z");
        assert_eq!(rfc3339_millis(1_795_276_800_007), "2026-11-21T16:00:00.007Z");
    }
}
