// One event at a time per instance: a single-threaded runtime starts faster and
// needs no worker threads (the hello-lambda baseline uses the same).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_dispatch::main::<herald::channels::slack::SlackChat>().await
}
