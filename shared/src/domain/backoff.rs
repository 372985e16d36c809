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

/// The retry policy of every channel: one default, and per-channel max attempts where
/// configured (a voice call is costlier to repeat than an email). The dispatcher and the
/// retry sweep read the same value, so they agree on when a row is out of attempts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryPolicies {
    pub default: RetryPolicy,
    pub max_attempts: Vec<(super::Channel, u32)>,
}

impl RetryPolicies {
    pub fn for_channel(&self, channel: super::Channel) -> RetryPolicy {
        let max_attempts = self
            .max_attempts
            .iter()
            .find(|(c, _)| *c == channel)
            .map_or(self.default.max_attempts, |(_, max)| *max);
        RetryPolicy {
            max_attempts,
            ..self.default
        }
    }

    /// Max attempts of every channel, as parallel lists for a set-based statement.
    pub fn max_attempts_by_channel(&self) -> (Vec<&'static str>, Vec<i32>) {
        super::Channel::ALL
            .into_iter()
            .map(|c| {
                let max = self.for_channel(c).max_attempts;
                (c.as_str(), i32::try_from(max).unwrap_or(i32::MAX))
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_max_attempts_override_the_default() {
        use crate::domain::Channel;
        let p = RetryPolicies {
            default: RetryPolicy::default(),
            max_attempts: vec![(Channel::Voice, 2)],
        };
        assert_eq!(p.for_channel(Channel::Voice).max_attempts, 2);
        assert_eq!(p.for_channel(Channel::Email).max_attempts, 6);
        let (channels, max) = p.max_attempts_by_channel();
        assert_eq!(channels.len(), Channel::ALL.len());
        let voice = channels.iter().position(|c| *c == "voice").expect("voice");
        assert_eq!(max[voice], 2);
    }
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
