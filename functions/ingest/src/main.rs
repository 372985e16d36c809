use herald_ingest::{Deps, function_handler};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    herald::telemetry::init();
    let config = herald::Config::from_env()?;
    let deps = Deps::new(&config, herald::config::aws_sdk_config_warming()).await?;
    run(service_fn(|req| function_handler(&deps, req))).await
}
