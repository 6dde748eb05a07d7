//! Retrying a hub request: exponential backoff with full jitter, honouring `Retry-After`, within
//! a bounded total wait.

use rand::Rng;
use std::time::{Duration, Instant, SystemTime};

const BASE: Duration = Duration::from_millis(200);
const CAP: Duration = Duration::from_secs(10);

/// The retry state of one operation. The wait budget counts from the first failure of a run of
/// failures; a success resets it.
#[derive(Debug)]
pub struct Backoff {
    max_wait: Duration,
    failing_since: Option<Instant>,
    attempt: u32,
}

/// The budget ran out: how long the hub has been failing.
#[derive(Debug, Clone, Copy)]
pub struct GaveUp(pub Duration);

impl Backoff {
    pub fn new(max_wait: Duration) -> Backoff {
        Backoff {
            max_wait,
            failing_since: None,
            attempt: 0,
        }
    }

    pub fn succeeded(&mut self) {
        self.failing_since = None;
        self.attempt = 0;
    }

    /// Sleeps before the next attempt: a uniformly random delay up to `BASE·2^attempt` (capped),
    /// at least what the hub asked for in `Retry-After`, never past the budget.
    pub async fn wait(&mut self, retry_after: Option<Duration>) -> Result<(), GaveUp> {
        let since = *self.failing_since.get_or_insert_with(Instant::now);
        let elapsed = since.elapsed();
        let Some(left) = self.max_wait.checked_sub(elapsed).filter(|d| !d.is_zero()) else {
            return Err(GaveUp(elapsed));
        };
        let delay = self.next_delay(retry_after).min(left);
        self.attempt = self.attempt.saturating_add(1);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    fn next_delay(&self, retry_after: Option<Duration>) -> Duration {
        let ceiling = BASE.saturating_mul(1u32 << self.attempt.min(16)).min(CAP);
        let jittered = rand::thread_rng().gen_range(Duration::ZERO..=ceiling);
        retry_after.map_or(jittered, |asked| asked.max(jittered))
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (a proxy in front of the hub
/// may send one).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_delay(value, SystemTime::now())
}

/// The delay a `Retry-After` value asks for at `now`; a date in the past asks for none.
fn retry_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Human form of a duration: `1.5s`, `60s`.
pub fn seconds(duration: Duration) -> String {
    format!("{}s", (duration.as_secs_f64() * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_respect_retry_after() {
        let mut backoff = Backoff::new(Duration::from_secs(60));
        for attempt in 0..40 {
            backoff.attempt = attempt;
            let delay = backoff.next_delay(None);
            assert!(delay <= CAP && delay <= BASE * 2u32.saturating_pow(attempt.min(16)));
        }
        assert!(backoff.next_delay(Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Fri, 27 Nov 2026 12:00:00 GMT").unwrap();
        assert_eq!(retry_delay(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_delay("Fri, 27 Nov 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_delay("Fri, 27 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_delay("soon", now), None);
        assert_eq!(retry_delay("-3", now), None);
    }

    #[tokio::test]
    async fn gives_up_when_the_budget_is_spent() {
        let budget = Duration::from_millis(50);
        let mut backoff = Backoff::new(budget);
        let gave_up = loop {
            if let Err(gave_up) = backoff.wait(Some(Duration::from_millis(20))).await {
                break gave_up;
            }
        };
        assert!(gave_up.0 >= budget, "gave up after {:?}", gave_up.0);
        backoff.succeeded();
        assert!(backoff.failing_since.is_none());
    }
}
