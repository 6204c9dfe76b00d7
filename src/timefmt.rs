//! Times as people type them and read them: parsing a `--since` value (a date, an RFC 3339
//! instant, or an age such as `7d`) and the RFC 3339 timestamps Codex and nexus write, and
//! showing an instant in the local time zone on a terminal. The stores always hold UTC; only
//! what a person reads on a terminal is local.

use anyhow::{Result, bail};

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)`, or None when it is not that.
pub fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            millis += i64::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let m = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + min - offset_min) * 60_000 + sec * 1000 + millis)
}

/// Parses a `--since` value into epoch milliseconds: `YYYY-MM-DD` (midnight UTC), an RFC 3339
/// instant, or an age (`90m`, `36h`, `7d`, `2w`) counted back from `now_ms`.
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64> {
    let v = value.trim();
    if let Some(ms) = rfc3339_ms(v) {
        return Ok(ms);
    }
    let b = v.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        let parts: Vec<Option<i64>> = [&v[0..4], &v[5..7], &v[8..10]].iter().map(|p| p.parse().ok()).collect();
        if let [Some(y), Some(m), Some(d)] = parts[..]
            && (1..=12).contains(&m)
            && (1..=31).contains(&d)
        {
            return Ok(days_from_civil(y, m, d) * 86_400_000);
        }
    }
    if let Some(unit) = v.chars().last()
        && let Ok(n) = v[..v.len() - unit.len_utf8()].parse::<i64>()
    {
        let minutes = match unit {
            'm' => Some(1),
            'h' => Some(60),
            'd' => Some(24 * 60),
            'w' => Some(7 * 24 * 60),
            _ => None,
        };
        if let Some(minutes) = minutes {
            return Ok(now_ms - n * minutes * 60_000);
        }
    }
    bail!("'{value}' is not a date: use YYYY-MM-DD, an RFC 3339 time (2026-01-10T12:00:00Z) or an age (7d, 36h, 2w)")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `2026-01-10 13:05` in the local time zone (from the C library's zone database), for a
/// terminal; the input unchanged when it is not an RFC 3339 time.
pub fn local_minutes(ts: &str) -> String {
    let Some(ms) = rfc3339_ms(ts) else { return ts.to_owned() };
    let secs = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; a zeroed tm is a valid initial value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return utc_minutes(ts);
    }
    format!("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min)
}

/// `2026-01-10 12:05` in UTC (what snapshot tests and pipes see).
pub fn utc_minutes(ts: &str) -> String {
    let Some(ms) = rfc3339_ms(ts) else { return ts.to_owned() };
    let s = crate::fsutil::format_unix(ms.div_euclid(1000), 0, false);
    format!("{} {}", &s[..10], &s[11..16])
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codex_timestamps() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2026-03-04T10:00:00.120Z"), Some(1_772_618_400_120));
        assert_eq!(rfc3339_ms("2026-03-04T11:00:00.120+01:00"), Some(1_772_618_400_120));
        assert_eq!(rfc3339_ms("2026-03-04T10:00:02.1204567Z"), Some(1_772_618_402_120));
        assert_eq!(rfc3339_ms("yesterday"), None);
        assert_eq!(rfc3339_ms("2026-03-04T10:00:00"), None);
        assert_eq!(rfc3339_ms("2026-13-04T10:00:00Z"), None);
    }

    #[test]
    fn parses_instants_dates_and_ages() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2026-03-04T10:00:00.120Z"), Some(1_772_618_400_120));
        assert_eq!(rfc3339_ms("2026-03-04T11:00:00+01:00"), Some(1_772_618_400_000));
        assert_eq!(parse_since("2026-03-04", 0).ok(), Some(1_772_582_400_000));
        assert_eq!(parse_since("7d", 7 * 86_400_000).ok(), Some(0));
        assert_eq!(parse_since("2h", 2 * 3_600_000).ok(), Some(0));
        assert!(parse_since("yesterday", 0).is_err());
        assert!(parse_since("2026-13-01", 0).is_err());
    }

    #[test]
    fn utc_minutes_cuts_to_the_minute() {
        assert_eq!(utc_minutes("2026-01-10T12:05:59.999Z"), "2026-01-10 12:05");
        assert_eq!(utc_minutes("not a time"), "not a time");
    }
}
