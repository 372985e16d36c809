//! The EventBridge schedules on one machine: `retry` every minute and `retention` every
//! hour, fed the same scheduled event and deadline as on Lambda; either can also be
//! fired on demand (tests, the demo, `herald-local retry`).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use herald::scheduled::{EngineSummary, RetentionSummary, RetrySummary};
use lambda_runtime::{Context, LambdaEvent};

/// The functions' timeouts in `infra/template.yaml`.
pub const RETRY_TIMEOUT: Duration = herald_retry::TIMEOUT;
pub const RETENTION_TIMEOUT: Duration = herald_retention::TIMEOUT;

pub struct Schedules {
    pub retry: herald_retry::Deps,
    pub retention: herald_retention::Deps,
}

/// A scheduled event like EventBridge Scheduler's, with a context whose deadline is one
/// function timeout from now.
pub fn scheduled_event(function: &str, timeout: Duration) -> LambdaEvent<EventBridgeEvent> {
    let now = chrono::Utc::now();
    let mut event = EventBridgeEvent::<serde_json::Value>::default();
    event.version = Some("0".into());
    event.id = Some(uuid::Uuid::new_v4().to_string());
    event.detail_type = "Scheduled Event".into();
    event.source = "aws.scheduler".into();
    event.account = Some("000000000000".into());
    event.time = Some(now);
    event.region = Some("us-east-1".into());
    event.resources = Some(vec![format!(
        "arn:aws:scheduler:us-east-1:000000000000:schedule/default/herald-{function}"
    )]);
    // What EventBridge Scheduler sends when a schedule has no input.
    event.detail = serde_json::Value::String("{}".into());
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.deadline = u64::try_from(now.timestamp_millis()).unwrap_or(0)
        + u64::try_from(timeout.as_millis()).unwrap_or(0);
    context.invoked_function_arn =
        format!("arn:aws:lambda:us-east-1:000000000000:function:herald-{function}");
    LambdaEvent::new(event, context)
}

impl Schedules {
    pub async fn new(
        config: &herald::Config,
        sdk: &herald::aws_config::SdkConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            retry: herald_retry::Deps::new(config, herald::warm::Warm::ready(sdk.clone())).await?,
            retention: herald_retention::Deps::from_config(config).await?,
        })
    }

    /// One `retry` invocation, through its Lambda handler.
    pub async fn fire_retry(&self) -> anyhow::Result<RetrySummary> {
        herald_retry::function_handler(&self.retry, scheduled_event("retry", RETRY_TIMEOUT))
            .await
            .map_err(|e| anyhow::anyhow!("retry failed: {e}"))
    }

    /// One run of the escalation engine (the engine part of `retry`) as if the clock read
    /// `minutes` later: the local stack's way to show a policy's later levels and
    /// timeouts without waiting for them (`POST /_local/schedules/escalate?minutes=16`).
    pub async fn fire_engine_ahead(&self, minutes: i64) -> anyhow::Result<EngineSummary> {
        let queues = self.retry.queues.get().await?;
        let at = chrono::Utc::now() + chrono::TimeDelta::minutes(minutes);
        herald::scheduled::escalate(
            &self.retry.pool,
            &queues,
            &self.retry.settings.channels,
            self.retry.settings.batch_size,
            herald::domain::Budget::for_duration(std::time::Instant::now(), RETRY_TIMEOUT),
            || at,
        )
        .await
    }

    /// One `retention` invocation, through its Lambda handler.
    pub async fn fire_retention(&self) -> anyhow::Result<RetentionSummary> {
        herald_retention::function_handler(
            &self.retention,
            scheduled_event("retention", RETENTION_TIMEOUT),
        )
        .await
        .map_err(|e| anyhow::anyhow!("retention failed: {e}"))
    }

    /// Fires each schedule on its period, forever (the first ticks come one period after
    /// start, as with a new EventBridge schedule).
    pub async fn run_forever(self: Arc<Self>, retry_every: Duration, retention_every: Duration) {
        tokio::join!(
            every("retry", retry_every, || self.fire_retry()),
            every("retention", retention_every, || self.fire_retention()),
        );
    }
}

/// Calls `fire` every `period` and prints its summary.
async fn every<F, Fut, T>(name: &str, period: Duration, fire: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
    T: serde::Serialize,
{
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        match fire().await {
            Ok(summary) => println!(
                "schedule  {name}: {}",
                serde_json::to_string(&summary).unwrap_or_default()
            ),
            Err(e) => eprintln!("schedule  {e:#}"),
        }
    }
}
