use herald_magic_link::{Deps, function_handler};
use lambda_http::{Error, run, service_fn};

// One event at a time per instance: a single-threaded runtime starts faster and
// needs no worker threads (the hello-lambda baseline uses the same).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    herald::telemetry::init();
    herald::metrics::init("magic-link");
    let config = herald::Config::from_env()?;
    let deps = Deps::new(&config, herald::config::aws_sdk_config_warming()).await?;
    run(service_fn(|req| {
        herald::metrics::flushed(function_handler(&deps, req))
    }))
    .await
}
