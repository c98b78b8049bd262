//! The retry loop, written once for streamed and whole requests: exponential backoff with full
//! jitter, or the server's own `Retry-After` when it sends one.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use emmental_core::ModelError;
use rand::Rng;

/// One failed attempt: the error and the server's hint on when to try again.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ModelError,
    pub retry_after: Option<Duration>,
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff ceiling; doubled on every retry.
    pub base: Duration,
    /// No wait is longer than this, including one the server asked for.
    pub max: Duration,
}

impl RetryPolicy {
    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails in a way a retry
    /// cannot fix, or the retries are spent. The final error records how many attempts were made.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, ModelError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            let failure = match attempt(n).await {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            if !failure.error.is_retryable() || n > self.max_retries {
                return Err(with_attempts(failure.error, n));
            }
            let wait = self.delay(n, failure.retry_after);
            tracing::warn!(attempt = n, wait_ms = wait.as_millis() as u64, error = %failure.error, "retrying model request");
            tokio::time::sleep(wait).await;
        }
    }

    /// The wait after failed attempt `n` (1-based): the server's hint, capped at `max`, or a
    /// uniformly random time up to `min(max, base · 2^(n-1))` ("full jitter", which spreads out
    /// clients that failed together).
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(hint) = retry_after {
            return hint.min(self.max);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.max);
        if ceiling.is_zero() {
            return ceiling;
        }
        ceiling.mul_f64(rand::rng().random::<f64>())
    }
}

/// Records the attempt count in errors that carry one.
fn with_attempts(mut error: ModelError, n: u32) -> ModelError {
    match &mut error {
        ModelError::RateLimited { attempts, .. }
        | ModelError::Http { attempts, .. }
        | ModelError::Connection { attempts, .. } => *attempts = n,
        _ => {}
    }
    error
}

/// Reads the server's wait hint: `retry-after-ms` (milliseconds, sent by OpenAI), else
/// `Retry-After` as delay-seconds or an HTTP-date. A date in the past means "now".
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    parse_retry_after(get("retry-after")?, now)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_http_date(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses the three HTTP-date forms of RFC 9110 §5.6.7 to seconds since the Unix epoch:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`.
/// The weekday is not checked.
pub(crate) fn parse_http_date(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for token in s.split([' ', ',', '-']).filter(|t| !t.is_empty()) {
        let lower = token.to_ascii_lowercase();
        if let Some(m) = MONTHS.iter().position(|m| *m == lower) {
            month = Some(m as u64 + 1);
        } else if token.contains(':') {
            let mut parts = token.split(':').map(|p| p.parse::<u64>().ok());
            let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
            if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
                return None;
            }
            time = Some(h * 3600 + m * 60 + s);
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = token.parse().ok()?;
            match token.len() {
                1 | 2 if day.is_none() => day = Some(n),
                // RFC 850's two-digit years: RFC 9110 says to read far-future years as the past.
                2 => year = Some(if n >= 70 { 1900 + n } else { 2000 + n }),
                4 => year = Some(n),
                _ => return None,
            }
        }
    }
    let (day, month, year, time) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + time)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
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
    fn parses_all_three_http_date_forms() {
        let expected = 784_111_777; // 1994-11-06T08:49:37Z
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(expected)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(expected)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(expected));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        assert_eq!(parse_http_date("soon"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:00:00 GMT"), None);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("later", now), None);
    }

    #[test]
    fn retry_after_ms_header_takes_precedence() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "5".parse().unwrap());
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_secs(5))
        );
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(
            retry_after(&h, SystemTime::now()),
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn backoff_grows_with_full_jitter_and_respects_the_cap() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for _ in 0..200 {
            assert!(p.delay(1, None) <= Duration::from_millis(100));
            assert!(p.delay(3, None) <= Duration::from_millis(400));
            assert!(p.delay(40, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(10))),
            Duration::from_millis(10)
        );
        // Jitter actually varies.
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.delay(4, None)).collect();
        assert!(samples.len() > 1);
    }

    #[tokio::test]
    async fn retries_retryable_errors_and_counts_attempts() {
        let p = RetryPolicy {
            max_retries: 2,
            base: Duration::ZERO,
            max: Duration::ZERO,
        };
        let http = |status| ModelError::Http {
            status,
            url: "u".into(),
            attempts: 0,
            message: "m".into(),
        };
        let mut calls = 0;
        let err = p
            .run(|_| {
                calls += 1;
                async { Err::<(), _>(Failure::from(http(503))) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls, 3);
        assert!(matches!(err, ModelError::Http { attempts: 3, .. }), "{err}");

        let mut calls = 0;
        let err = p
            .run(|_| {
                calls += 1;
                async { Err::<(), _>(Failure::from(http(400))) }
            })
            .await
            .unwrap_err();
        assert_eq!(calls, 1);
        assert!(matches!(err, ModelError::Http { attempts: 1, .. }), "{err}");

        let ok = p
            .run(|n| async move {
                if n < 2 {
                    Err(Failure::from(http(500)))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(ok.unwrap(), 2);
    }
}
