//! Reading rate-limit headers: durations (`6m0s`), RFC 3339 times and retry-after.
//!
//! Every time these functions return is in milliseconds; absolute times are
//! milliseconds since the Unix epoch.

use convoy_core::RateLimitHints;
use reqwest::header::HeaderMap;

/// The longest wait a provider's headers may impose: one hour. A longer retry-after or
/// reset (or one too large to add to the clock) is read as this long, and the provider
/// is asked again when it passes, rather than holding every job for ever.
pub const MAX_WAIT_MS: u64 = 3_600_000;

/// Parses a Go-style duration as OpenAI sends it in `x-ratelimit-reset-*`: a sequence
/// of numbers with units `h`, `m`, `s`, `ms`, `us` (or `µs`) and `ns`, such as `6m0s`,
/// `1.5s` or `12ms`. Fractions of a millisecond round up, so a wait is never shortened.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ns_per_unit = match &rest[..unit_len] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ns += value * ns_per_unit;
    }
    Some((total_ns / 1e6).ceil() as u64)
}

/// Parses an RFC 3339 time such as `2026-01-01T12:00:30Z` or
/// `2026-01-01T13:00:30.250+01:00` into milliseconds since the Unix epoch.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }

    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first_three = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = first_three.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = &rest[1..];
            if offset.len() != 5 || offset.as_bytes()[2] != b':' {
                return None;
            }
            let hours: i64 = offset[..2].parse().ok()?;
            let minutes: i64 = offset[3..].parse().ok()?;
            sign * (hours * 60 + minutes)
        }
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1_000 + millis).ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses a `retry-after` value given in seconds (`2`, `0.5`) into milliseconds.
///
/// The HTTP-date form is not read: providers send seconds, and a date would need the
/// sender's clock to agree with ours.
pub fn parse_retry_after_ms(text: &str) -> Option<u64> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1_000.0).ceil() as u64)
}

/// `hints` with every wait at most [`MAX_WAIT_MS`] from `now`.
pub(crate) fn capped(mut hints: RateLimitHints, now: u64) -> RateLimitHints {
    let latest = now.saturating_add(MAX_WAIT_MS);
    let mut capped = false;
    if let Some(wait) = hints.retry_after_ms.filter(|wait| *wait > MAX_WAIT_MS) {
        capped = true;
        hints.retry_after_ms = Some(MAX_WAIT_MS.min(wait));
    }
    for limit in [
        &mut hints.requests,
        &mut hints.input_tokens,
        &mut hints.output_tokens,
    ]
    .into_iter()
    .flatten()
    {
        if limit.reset_at_ms > latest {
            capped = true;
            limit.reset_at_ms = latest;
        }
    }
    if capped {
        tracing::warn!("the provider asked to wait more than an hour; waiting an hour");
    }
    hints
}

/// The header `name` as trimmed text, if present and readable.
pub(crate) fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// The header `name` as a whole number.
pub(crate) fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    text(headers, name)?.parse().ok()
}

/// The wait the headers ask for: `retry-after-ms` when present, else `retry-after`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    text(headers, "retry-after-ms")
        .and_then(|ms| ms.parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| ms.ceil() as u64)
        .or_else(|| text(headers, "retry-after").and_then(parse_retry_after_ms))
}

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC, such as
/// `2026-01-01T00:00:01.250Z`.
pub fn format_rfc3339_ms(ms: u64) -> String {
    let seconds = (ms / 1_000) as i64;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3_600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        ms % 1_000
    )
}

/// Formats a duration the way OpenAI's reset headers do: `12ms`, `1.5s`, `6m0s`.
pub fn format_duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let minutes = ms / 60_000;
    let seconds = (ms % 60_000) as f64 / 1_000.0;
    let seconds = format!("{seconds:.3}");
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

/// The date of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_become_milliseconds() {
        assert_eq!(parse_duration_ms("6m0s"), Some(360_000));
        assert_eq!(parse_duration_ms("12ms"), Some(12));
        assert_eq!(parse_duration_ms("1s"), Some(1_000));
        assert_eq!(parse_duration_ms("1.5s"), Some(1_500));
        assert_eq!(parse_duration_ms("1h2m3s"), Some(3_723_000));
        assert_eq!(parse_duration_ms("250us"), Some(1));
        assert_eq!(parse_duration_ms("0s"), Some(0));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "s", "6", "6x", "m6", "1..2s"] {
            assert_eq!(parse_duration_ms(text), None, "{text}");
        }
    }

    #[test]
    fn rfc3339_times_become_epoch_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T00:00:01Z"),
            Some(1_767_225_601_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T00:00:01.25Z"),
            Some(1_767_225_601_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-01-01T01:00:01+01:00"),
            Some(1_767_225_601_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T12:00:00Z"),
            Some(1_709_208_000_000)
        );
    }

    #[test]
    fn malformed_rfc3339_times_are_refused() {
        for text in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "soon",
        ] {
            assert_eq!(parse_rfc3339_ms(text), None, "{text}");
        }
    }

    #[test]
    fn formatting_and_parsing_agree() {
        for ms in [0, 1_767_225_601_250, 1_709_208_000_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
        for ms in [0, 12, 999, 1_000, 1_500, 59_999, 360_000, 3_723_000] {
            assert_eq!(parse_duration_ms(&format_duration_ms(ms)), Some(ms));
        }
    }

    #[test]
    fn retry_after_accepts_whole_and_fractional_seconds() {
        assert_eq!(parse_retry_after_ms("2"), Some(2_000));
        assert_eq!(parse_retry_after_ms(" 0.5 "), Some(500));
        assert_eq!(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after_ms("-1"), None);
    }
}
