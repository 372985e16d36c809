//! `dispatch-*`: SQS-triggered dispatchers, one binary per channel, one generic handler
//! over [`herald::dispatch`] (claim in ONE statement, send concurrently, record in ONE
//! statement). Infrastructure failures (database unreachable) are reported in
//! `batchItemFailures` so SQS redelivers; provider failures are recorded on the row
//! (transient ones with their next attempt) and the message is acknowledged.

pub mod event_handler;

use herald::channels::Adapter;
use herald::dispatch::Dispatcher;
use lambda_runtime::{Error, run, service_fn};

pub use event_handler::function_handler;

/// A dispatcher binary's whole `main`: the same wiring the tests and the local runner
/// use, with the adapter `A` built on first use.
pub async fn main<A: Adapter>() -> Result<(), Error> {
    herald::telemetry::init();
    herald::metrics::init(&format!("dispatch-{}", A::CHANNEL.as_str()));
    let config = herald::Config::from_env()?;
    let dispatcher =
        Dispatcher::<A>::new(&config, herald::config::aws_sdk_config_warming()).await?;
    run(service_fn(|event| {
        herald::metrics::flushed(function_handler(&dispatcher, event))
    }))
    .await
}
