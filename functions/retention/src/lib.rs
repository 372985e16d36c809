//! `retention` (EventBridge schedule, hourly): deletes what is past its time, in bounded
//! batches, and stops before the deadline; the next run continues. It touches only the
//! database.

use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use herald::Config;
use herald::config::RetentionConfig;
use herald::db::Pool;
use herald::domain::Budget;
use herald::scheduled::RetentionSummary;
use lambda_runtime::{Error, LambdaEvent};

/// Stop this long before the Lambda deadline: time to log and return the summary.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// What the handler needs, built once per cold start.
pub struct Deps {
    pub pool: Pool,
    pub retention: RetentionConfig,
}

impl Deps {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            pool: herald::db::connect_pool(&config.database).await?,
            retention: config.retention.clone(),
        })
    }

    /// One run within `budget` (the local runner and tests call this directly).
    pub async fn run(&self, budget: Budget) -> anyhow::Result<RetentionSummary> {
        herald::scheduled::retention(&self.pool, &self.retention, budget).await
    }
}

/// The timeout in `infra/template.yaml`, for a context without a usable deadline.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// The budget of an invocation: until [`DEADLINE_MARGIN`] before its deadline, or
/// [`TIMEOUT`] from now when the context's deadline is not a real one.
pub fn budget_of(context: &lambda_runtime::Context) -> Budget {
    herald::scheduled::invocation_budget(context.deadline, TIMEOUT, DEADLINE_MARGIN)
}

#[tracing::instrument(name = "retention run", skip_all, fields(scheduled_at = ?event.payload.time))]
pub async fn function_handler(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<RetentionSummary, Error> {
    deps.run(budget_of(&event.context)).await.map_err(|e| {
        tracing::error!(error.message = %herald::telemetry::describe(e.as_ref()), "retention failed; the next run continues");
        // The runtime's error payload is visible to whoever reads invocation results:
        // the same redacted description as the log line, never PostgreSQL's DETAIL.
        Error::from(herald::telemetry::describe(e.as_ref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_event_parses() {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(include_str!("../../../events/retention/scheduled.json"))
                .expect("sample");
        assert_eq!(event.detail_type, "Scheduled Event");
    }
}
