//! `retry` (EventBridge schedule, every minute): takes back expired `sending` leases,
//! re-enqueues due failures and the outbox's forgotten `queued` rows, and finalises rows
//! out of attempts. Overlapping runs are safe: every step skips rows another run holds.

use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use herald::Config;
use herald::db::Pool;
use herald::domain::Budget;
use herald::queue::Queues;
use herald::scheduled::{RetrySettings, RetrySummary};
use herald::warm::Warm;
use lambda_runtime::{Error, LambdaEvent};

/// Stop this long before the Lambda deadline: time to log and return the summary.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub pool: Pool,
    /// One queue per enabled channel (its SQS client may still be warming up).
    pub queues: Warm<Queues>,
    pub settings: RetrySettings,
}

impl Deps {
    /// The one way to build it, on Lambda as in tests: the SQS client is built from
    /// `sdk` on first use (Lambda passes [`herald::config::aws_sdk_config_warming`]).
    pub async fn new(
        config: &Config,
        sdk: Warm<herald::aws_config::SdkConfig>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            queues: Queues::warming(config, sdk),
            settings: RetrySettings::from_config(config),
        })
    }

    /// One run within `budget` (the local runner and tests call this directly).
    pub async fn run(&self, budget: Budget) -> anyhow::Result<RetrySummary> {
        let queues = self.queues.get().await?;
        herald::scheduled::retry_sweep(&self.pool, &queues, &self.settings, budget).await
    }
}

/// The timeout in `infra/template.yaml`, for a context without a usable deadline.
pub const TIMEOUT: Duration = Duration::from_secs(55);

/// The budget of an invocation: until [`DEADLINE_MARGIN`] before its deadline, or
/// [`TIMEOUT`] from now when the context's deadline is not a real one.
pub fn budget_of(context: &lambda_runtime::Context) -> Budget {
    herald::scheduled::invocation_budget(context.deadline, TIMEOUT, DEADLINE_MARGIN)
}

#[tracing::instrument(name = "retry run", skip_all, fields(scheduled_at = ?event.payload.time))]
pub async fn function_handler(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<RetrySummary, Error> {
    deps.run(budget_of(&event.context)).await.map_err(|e| {
        tracing::error!(error.message = %herald::telemetry::describe(e.as_ref()), "retry sweep failed; the next run continues");
        // The runtime's error payload is visible to whoever reads invocation results:
        // the same redacted description as the log line, never PostgreSQL's DETAIL.
        Error::from(herald::telemetry::describe(e.as_ref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    #[test]
    fn sample_event_parses() {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(include_str!("../../../events/retry/scheduled.json"))
                .expect("sample");
        assert_eq!(event.detail_type, "Scheduled Event");
    }

    #[test]
    fn budget_ends_before_the_deadline() {
        let mut context = lambda_runtime::Context::default();
        let now_ms = u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms");
        context.deadline = now_ms + 55_000;
        let remaining = budget_of(&context).remaining(Instant::now());
        assert!(remaining <= Duration::from_secs(50) && remaining > Duration::from_secs(48));
    }

    #[test]
    fn a_deadline_in_the_past_falls_back_to_the_timeout() {
        let mut context = lambda_runtime::Context::default();
        context.deadline = 600_000; // what `cargo lambda watch` sends
        let remaining = budget_of(&context).remaining(Instant::now());
        assert!(remaining <= TIMEOUT - DEADLINE_MARGIN);
        assert!(remaining > TIMEOUT - DEADLINE_MARGIN - Duration::from_secs(2));
    }
}
