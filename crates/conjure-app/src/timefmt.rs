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

/// Days since 1970-01-01 of a proleptic Gregorian date, or `None` for a date that does not exist.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > days_in[(month - 1) as usize] {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A point in time as a person types it, in unix milliseconds: a UTC date (`2026-11-01`, from
/// its midnight), an RFC 3339 UTC time (`2026-11-01T09:30:00Z`), or a span back from `now_ms`
/// (`7d`, `12h`, `30m`).
pub fn parse_since(text: &str, now_ms: i64) -> Option<i64> {
    let text = text.trim();
    for (suffix, unit) in [("d", 86_400_000_i64), ("h", 3_600_000), ("m", 60_000)] {
        if let Some(n) = text.strip_suffix(suffix)
            && let Ok(n) = n.parse::<u32>()
        {
            return Some(now_ms - i64::from(n) * unit);
        }
    }
    let (date, time) = match text.split_once('T') {
        Some((day, rest)) => (day, Some(rest.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if date.len() != 10 {
        return None;
    }
    let mut ms = days_from_civil(year, month, day)? * 86_400_000;
    if let Some(time) = time {
        let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let [h, mi, s] = hms[..] else { return None };
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&s) {
            return None;
        }
        ms += ((h * 60 + mi) * 60 + s) * 1000;
    }
    Some(ms)
}

#[cfg(test)]
mod since_tests {
    use super::*;

    #[test]
    fn dates_times_and_spans() {
        assert_eq!(parse_since("1970-01-02", 0), Some(86_400_000));
        assert_eq!(rfc3339_ms(parse_since("2026-11-01", 0).unwrap()), "2026-11-01T00:00:00Z");
        assert_eq!(
            rfc3339_ms(parse_since("2024-02-29T09:30:05Z", 0).unwrap()),
            "2024-02-29T09:30:05Z"
        );
        assert_eq!(parse_since("7d", 10 * 86_400_000), Some(3 * 86_400_000));
        assert_eq!(parse_since("2h", 3 * 3_600_000), Some(3_600_000));
        for bad in
            ["", "yesterday", "2026-13-01", "2025-02-29", "2026-1-1", "2026-11-01T25:00:00Z", "-3d"]
        {
            assert_eq!(parse_since(bad, 0), None, "{bad}");
        }
    }
}
