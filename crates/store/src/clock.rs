//! Timestamps as fixed-width RFC 3339 UTC text (`2026-03-21T09:15:02.123456Z`).
//!
//! Fixed width makes text order equal time order, so `ORDER BY created_at` needs no date type
//! and reads the same in SQLite and PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The last timestamp handed out, in microseconds since the epoch.
static LAST_MICROS: AtomicU64 = AtomicU64::new(0);

/// Now, as RFC 3339 UTC with microseconds, strictly increasing within this process.
///
/// Strictly increasing so that two runs created in the same microsecond (or across a backwards
/// clock step) still list in the order they were created.
pub fn now_rfc3339() -> String {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let mut last = LAST_MICROS.load(Ordering::Relaxed);
    let micros = loop {
        let next = wall.max(last.saturating_add(1));
        match LAST_MICROS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(seen) => last = seen,
        }
    };
    format_micros(micros)
}

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn format_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to dates on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 (a leap day in a century year) 12:34:56.789 UTC.
        assert_eq!(
            format_micros(951_827_696_789_000),
            "2000-02-29T12:34:56.789000Z"
        );
        // 2024-12-31T23:59:59.999999Z, the last microsecond of a leap year.
        assert_eq!(
            format_micros(1_735_689_599_999_999),
            "2024-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn timestamps_strictly_increase_and_sort_as_text() {
        let stamps: Vec<String> = (0..1000).map(|_| now_rfc3339()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert!(stamps.iter().all(|s| s.len() == 27 && s.ends_with('Z')));
    }
}
