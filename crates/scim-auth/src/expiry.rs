//! How operators write times: an expiry as `30d`, `90d`, `1y` or a date, and a grace period
//! as `7d`, `12h` or `0`.

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

/// `<n>d` (days), `<n>y` (years of 365 days) or `YYYY-MM-DD`: a date means the token works
/// through that whole day (UTC) and expires at the midnight that ends it.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = text.trim();
    let format = format_description!("[year]-[month]-[day]");
    let expires = if let Ok(date) = Date::parse(text, &format) {
        let next = date
            .next_day()
            .ok_or_else(|| format!("'{text}' is past the last date this program can represent"))?;
        next.with_time(Time::MIDNIGHT).assume_utc()
    } else {
        let span = match text.strip_suffix('y') {
            Some(years) => count(years, text)?.checked_mul(365).map(Duration::days),
            None => match text.strip_suffix('d') {
                Some(days) => Some(Duration::days(count(days, text)?)),
                None => {
                    return Err(format!(
                        "'{text}' is not an expiry: use 30d, 90d, 1y or YYYY-MM-DD"
                    ))
                }
            },
        };
        span.and_then(|s| now.checked_add(s))
            .ok_or_else(|| format!("'{text}' is too far in the future"))?
    };
    if expires <= now {
        return Err(format!("'{text}' is not in the future"));
    }
    Ok(expires)
}

/// `<n>d`, `<n>h` or `0`: how long a rotated token keeps working.
pub fn parse_grace(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let (number, unit) = match (text.strip_suffix('d'), text.strip_suffix('h')) {
        (Some(n), _) => (n, Duration::DAY),
        (_, Some(n)) => (n, Duration::HOUR),
        _ => return Err(format!("'{text}' is not a grace period: use 7d, 12h or 0")),
    };
    i32::try_from(count(number, text)?)
        .ok()
        .and_then(|n| unit.checked_mul(n))
        .ok_or_else(|| format!("'{text}' is too long a grace period"))
}

/// A positive whole number, as written before a unit.
fn count(digits: &str, whole: &str) -> Result<i64, String> {
    match digits.parse::<i64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!("'{whole}' needs a positive whole number before its unit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    #[test]
    fn expiries() {
        let ok = [
            ("30d", NOW + Duration::days(30)),
            ("90d", NOW + Duration::days(90)),
            (" 1y ", NOW + Duration::days(365)),
            ("2y", NOW + Duration::days(730)),
            ("2025-06-01", datetime!(2025-06-02 00:00 UTC)),
            ("2026-12-31", datetime!(2027-01-01 00:00 UTC)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_expiry(text, NOW), Ok(want), "{text}");
        }
        for bad in [
            "",
            "30",
            "d",
            "0d",
            "-5d",
            "+5d",
            "1.5y",
            "30m",
            "2025-05-31",
            "2025-13-01",
            "never",
        ] {
            assert!(parse_expiry(bad, NOW).is_err(), "{bad}");
        }
        assert!(parse_expiry("99999999999999d", NOW).is_err());
    }

    #[test]
    fn grace_periods() {
        let ok = [
            ("7d", Duration::days(7)),
            ("12h", Duration::hours(12)),
            ("0", Duration::ZERO),
        ];
        for (text, want) in ok {
            assert_eq!(parse_grace(text), Ok(want), "{text}");
        }
        for bad in ["", "7", "0d", "-1d", "1w", "99999999999d"] {
            assert!(parse_grace(bad).is_err(), "{bad}");
        }
    }
}
