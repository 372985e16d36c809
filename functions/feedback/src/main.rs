use herald::feedback::Feedback;
use herald_feedback::handler;
use lambda_runtime::{Error, run, service_fn};

// One batch at a time per instance: a single-threaded runtime starts faster and needs no
// worker threads (the hello-lambda baseline uses the same).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    herald::telemetry::init();
    herald::metrics::init("feedback");
    let config = herald::Config::from_env()?;
    let feedback = Feedback::new(&config).await?;
    run(service_fn(|event| {
        herald::metrics::flushed(handler(&feedback, event))
    }))
    .await
}
