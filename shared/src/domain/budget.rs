//! Time budgets for scheduled work: a run stops while it still has time to report, and
//! the next run continues where it stopped.

use std::time::{Duration, Instant};

/// The time a scheduled run may spend: until `margin` before the Lambda deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    stop_at: Instant,
}

impl Budget {
    /// From the invocation's deadline (milliseconds since the Unix epoch, as the Lambda
    /// Runtime API gives it) and the current wall clock in the same unit. The margin is
    /// at most a quarter of the time left, so a short timeout still gets work done.
    pub fn from_deadline(
        deadline_epoch_ms: u64,
        now_epoch_ms: u64,
        now: Instant,
        margin: Duration,
    ) -> Self {
        let remaining = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_epoch_ms));
        Self {
            stop_at: now + remaining.saturating_sub(margin.min(remaining / 4)),
        }
    }

    /// An invocation's budget: as [`Budget::from_deadline`], except that a deadline
    /// already past at start is not a real one (emulators send a duration there) and
    /// `timeout` from now is used instead.
    pub fn for_invocation(
        deadline_epoch_ms: u64,
        now_epoch_ms: u64,
        now: Instant,
        timeout: Duration,
        margin: Duration,
    ) -> Self {
        let deadline = if deadline_epoch_ms > now_epoch_ms {
            deadline_epoch_ms
        } else {
            now_epoch_ms.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
        };
        Self::from_deadline(deadline, now_epoch_ms, now, margin)
    }

    /// A budget of `duration` from `now` (tests, the local runner's "on demand" runs).
    pub fn for_duration(now: Instant, duration: Duration) -> Self {
        Self {
            stop_at: now + duration,
        }
    }

    /// Whether work may start at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        now < self.stop_at
    }

    pub fn remaining(&self, now: Instant) -> Duration {
        self.stop_at.saturating_duration_since(now)
    }
}

/// A batch size that keeps each statement near a target duration: it grows while
/// statements are fast and shrinks as soon as one is slow, so no single statement holds
/// its locks for long however large or cold the table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveBatch {
    size: u32,
    min: u32,
    max: u32,
    target: Duration,
}

impl AdaptiveBatch {
    pub fn new(initial: u32, min: u32, max: u32, target: Duration) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        Self {
            size: initial.clamp(min, max),
            min,
            max,
            target,
        }
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Adjusts after a statement that took `took` for a batch of the current size.
    pub fn observe(&mut self, took: Duration) {
        let next = if took > self.target {
            // Scale down in proportion (at least halving), so one slow statement is
            // followed by a fast one.
            let ratio = self.target.as_secs_f64() / took.as_secs_f64().max(1e-6);
            (f64::from(self.size) * ratio.min(0.5)) as u32
        } else if took < self.target / 2 {
            self.size.saturating_mul(2)
        } else {
            self.size
        };
        self.size = next.clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn budget_stops_margin_before_the_deadline() {
        let now = Instant::now();
        let b = Budget::from_deadline(10_000, 1_000, now, Duration::from_secs(2));
        assert_eq!(b.remaining(now), Duration::from_secs(7));
        assert!(b.allows(now + Duration::from_millis(6_999)));
        assert!(!b.allows(now + Duration::from_secs(7)));
    }

    #[test]
    fn a_short_timeout_keeps_three_quarters_of_its_time() {
        let now = Instant::now();
        let b = Budget::from_deadline(4_000, 0, now, Duration::from_secs(5));
        assert_eq!(b.remaining(now), Duration::from_secs(3));
    }

    #[test]
    fn an_invocation_deadline_already_past_means_the_timeout() {
        let now = Instant::now();
        let b = Budget::for_invocation(
            600_000,
            1_800_000_000_000,
            now,
            Duration::from_secs(55),
            Duration::from_secs(5),
        );
        assert_eq!(b.remaining(now), Duration::from_secs(50));
        let real = Budget::for_invocation(
            10_000,
            1_000,
            now,
            Duration::from_secs(55),
            Duration::from_secs(2),
        );
        assert_eq!(real.remaining(now), Duration::from_secs(7));
    }

    #[test]
    fn a_past_deadline_allows_nothing() {
        let now = Instant::now();
        let b = Budget::from_deadline(1_000, 5_000, now, Duration::from_secs(1));
        assert!(!b.allows(now));
        assert_eq!(b.remaining(now), Duration::ZERO);
    }

    #[test]
    fn batch_grows_while_fast_and_shrinks_when_slow() {
        let mut b = AdaptiveBatch::new(1_000, 100, 10_000, Duration::from_millis(100));
        b.observe(Duration::from_millis(10));
        assert_eq!(b.size(), 2_000);
        b.observe(Duration::from_millis(70));
        assert_eq!(b.size(), 2_000, "near the target: unchanged");
        b.observe(Duration::from_millis(400));
        assert_eq!(b.size(), 500, "four times too slow: a quarter");
        b.observe(Duration::from_millis(120));
        assert_eq!(b.size(), 250, "a little too slow: at least halved");
        for _ in 0..20 {
            b.observe(Duration::from_millis(1));
        }
        assert_eq!(b.size(), 10_000, "capped");
    }

    proptest! {
        #[test]
        fn batch_stays_within_bounds(tooks in proptest::collection::vec(0u64..5_000, 1..50)) {
            let mut b = AdaptiveBatch::new(500, 50, 5_000, Duration::from_millis(100));
            for ms in tooks {
                b.observe(Duration::from_millis(ms));
                prop_assert!((50..=5_000).contains(&b.size()));
            }
        }
    }
}
