use std::time::Duration;

/// When to try a failed delivery again: exponential backoff with full jitter
/// (the delay is uniform in `[0, min(cap, base * 2^(attempt-1))]`), so a provider outage
/// does not turn into synchronized retry waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// Six attempts; the delay ceilings are 1, 2, 4, 8 and 15 minutes, so the worst case
    /// spans half an hour and the average about fifteen minutes.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(60),
            cap: Duration::from_secs(15 * 60),
            max_attempts: 6,
        }
    }
}

/// What to do after attempt number `attempts_made` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAfter(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// Upper bound of the delay after `attempts_made` attempts (1-based).
    pub fn ceiling(&self, attempts_made: u32) -> Duration {
        let exponent = attempts_made.saturating_sub(1).min(20);
        self.base.saturating_mul(1 << exponent).min(self.cap)
    }

    /// `jitter` is a sample from `[0, 1)`; callers pass `rand::random::<f64>()`.
    /// A provider's Retry-After is honoured as a lower bound.
    pub fn decide(
        &self,
        attempts_made: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> RetryDecision {
        if attempts_made >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let jitter = jitter.clamp(0.0, 1.0);
        let delay = self.ceiling(attempts_made).mul_f64(jitter);
        let delay = retry_after.map_or(delay, |floor| delay.max(floor.min(self.cap)));
        RetryDecision::RetryAfter(delay.max(Duration::from_secs(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ceiling_doubles_until_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_secs(60));
        assert_eq!(p.ceiling(2), Duration::from_secs(120));
        assert_eq!(p.ceiling(3), Duration::from_secs(240));
        assert_eq!(p.ceiling(6), Duration::from_secs(15 * 60));
        assert_eq!(p.ceiling(60), Duration::from_secs(15 * 60));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let p = RetryPolicy::default();
        assert_eq!(p.decide(6, 0.5, None), RetryDecision::GiveUp);
        assert!(matches!(
            p.decide(5, 0.5, None),
            RetryDecision::RetryAfter(_)
        ));
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let p = RetryPolicy::default();
        let d = p.decide(1, 0.0, Some(Duration::from_secs(90)));
        assert_eq!(d, RetryDecision::RetryAfter(Duration::from_secs(90)));
    }

    #[test]
    fn worst_case_schedule_spans_about_half_an_hour() {
        let p = RetryPolicy::default();
        let total: Duration = (1..p.max_attempts).map(|a| p.ceiling(a)).sum();
        assert!(total >= Duration::from_secs(20 * 60) && total <= Duration::from_secs(40 * 60));
    }

    proptest! {
        #[test]
        fn delay_is_within_full_jitter_bounds(attempt in 1u32..6, jitter in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            match p.decide(attempt, jitter, None) {
                RetryDecision::RetryAfter(d) => {
                    prop_assert!(d <= p.ceiling(attempt));
                    prop_assert!(d >= Duration::from_secs(1));
                }
                RetryDecision::GiveUp => prop_assert!(false, "gave up too early"),
            }
        }
    }
}
