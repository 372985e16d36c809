//! Herald's AWS SDK configuration (`herald::config::aws_sdk_config*`, the environment
//! only): an endpoint set in code wins over `AWS_ENDPOINT_URL` in the environment (the
//! tests run with it pointing at the emulator), as aws-config's own loader has it.

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn an_endpoint_set_in_code_wins_over_the_environments() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "the test command points AWS_ENDPOINT_URL at the emulator"
    );
    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
             <MessageId>from-the-fake</MessageId></PublishResult><ResponseMetadata>\
             <RequestId>r</RequestId></ResponseMetadata></PublishResponse>",
        ))
        .mount(&fake)
        .await;
    let sdk = herald::config::aws_sdk_config_at(&fake.uri()).await;
    let sns = herald::aws_sdk_sns::Client::new(&sdk);
    let out = sns
        .publish()
        .phone_number("+14155550100")
        .message("hello")
        .send()
        .await
        .expect("published to the fake");
    assert_eq!(out.message_id(), Some("from-the-fake"));
    assert_eq!(fake.received_requests().await.map(|r| r.len()), Some(1));
}
