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

/// Each client built from Herald's configuration reaches the emulator through
/// `AWS_ENDPOINT_URL`: DynamoDB's rate-limit transaction, as dispatch makes it.
#[tokio::test]
async fn the_environment_only_configuration_reaches_dynamodb() {
    use herald::domain::rate_limit::{RateLimits, Request};
    use herald::domain::{Channel, Priority};
    let sdk = herald::config::aws_sdk_config().await;
    let table = format!("sdk-config-{}", uuid::Uuid::new_v4().simple());
    herald::rate_limit::ensure_table(&sdk, &table)
        .await
        .expect("the table");
    let limiter = herald::rate_limit::RateLimiter::new(&sdk, table, RateLimits::default());
    let allowed = limiter
        .take(
            chrono::Utc::now(),
            &[Request {
                recipient: uuid::Uuid::new_v4(),
                channel: Channel::Sms,
                priority: Priority::High,
            }],
        )
        .await
        .expect("the counters answered");
    assert_eq!(allowed, [true]);
}
