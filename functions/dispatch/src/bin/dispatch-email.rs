use herald::channels::email::SesEmail;
use herald::domain::Channel;
use herald::warm::Warm;
use herald_dispatch::{Deps, function_handler};
use lambda_runtime::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    herald::telemetry::init();
    let config = herald::Config::from_env()?;
    let from = config.require_ses_from()?.to_owned();
    let configuration_set = config.ses_configuration_set.clone();
    let email = Warm::lazy(async move {
        let sdk = herald::config::aws_sdk_config().await;
        Ok(SesEmail::from_sdk(&sdk, from, configuration_set))
    });
    let deps = Deps::warming(&config, Channel::Email, email).await?;
    run(service_fn(|event| function_handler(&deps, event))).await
}
