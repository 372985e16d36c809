use herald::channels::email::SesEmail;
use herald_dispatch::{Deps, function_handler};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    herald::telemetry::init();
    let config = herald::Config::from_env()?;
    let sdk = herald::config::aws_sdk_config().await;
    let email = SesEmail::from_sdk(&sdk,
        config.require_ses_from()?,
        config.ses_configuration_set.clone(),
    );
    let deps = Deps::from_config(&config, email).await?;
    run(service_fn(|event| function_handler(&deps, event))).await
}
