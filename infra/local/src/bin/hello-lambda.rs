//! The baseline for cold-start figures: the smallest useful `lambda_runtime` binary, on
//! the same single-threaded tokio runtime every Herald function uses.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

// The runtime set-up of every Herald function: single-threaded.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
