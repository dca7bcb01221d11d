//! `--since WHEN`, said the same way by every command that takes it.

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::protocol::sanitize::line;

/// `90s`, `30m`, `12h`, `7d` back from `now`; a date (`2026-01-31`, midnight UTC); or an RFC
/// 3339 time.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n <= 100_000).with_context(|| {
        format!(
            "--since {:?}: give a duration (90s, 30m, 12h, 7d), a date (2026-01-31) or an RFC 3339 time",
            line(text)
        )
    })?;
    let secs = match unit {
        "" => bail!(
            "--since {:?}: say which unit (90s, 30m, 12h, 7d)",
            line(text)
        ),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        other => bail!(
            "--since {:?}: unknown unit {:?} (s, m, h, d or w)",
            line(text),
            line(other)
        ),
    };
    Ok(now - chrono::Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn since_takes_durations_dates_and_times() {
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0).single().unwrap();
        let at = |s| parse_since(s, now).unwrap();
        assert_eq!(at("90s"), now - chrono::Duration::seconds(90));
        assert_eq!(at("2d"), now - chrono::Duration::days(2));
        assert_eq!(at("12h"), now - chrono::Duration::hours(12));
        assert_eq!(
            at("2026-03-01"),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().unwrap()
        );
        assert_eq!(
            at("2026-03-01T10:00:00+02:00"),
            Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).single().unwrap()
        );
        for bad in ["", "12", "soon", "3y", "99999999999d", "\u{1b}[2J"] {
            assert!(parse_since(bad, now).is_err(), "{bad:?}");
        }
    }
}
