#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    herald_dispatch::main::<herald::channels::voice::EndUserMessagingVoice>().await
}
