//! The sample events in `events/` (what `cargo lambda invoke --data-file` sends) drive
//! the real handlers here, so the samples are proven.

use lambda_http::Body;
use lambda_runtime::{Context, LambdaEvent};

use crate::helpers::TestApp;

const DEMO_KEY: &str = "hk_demo_0123456789abcdef0123456789abcdef";

async fn with_demo_key(app: &TestApp) {
    let key = herald::api_key::hash(DEMO_KEY);
    let client = app.pool.get().await.expect("conn");
    herald::db::tenants::create_api_key(&client, app.tenant_id, &key, "hk_demo", "sample events")
        .await
        .expect("demo key");
}

async fn ingest(app: &TestApp, event: &str) -> (u16, String) {
    let req = lambda_http::request::from_str(event).expect("sample parses as API Gateway v2");
    let res = herald_ingest::function_handler(&app.ingest, req)
        .await
        .expect("answers");
    let text = match res.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    (res.status().as_u16(), text)
}

#[tokio::test]
async fn ingest_samples_answer_as_documented() {
    let app = TestApp::spawn().await;
    with_demo_key(&app).await;

    let (status, body) = ingest(
        &app,
        include_str!("../../events/ingest/create-escalation.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = ingest(
        &app,
        include_str!("../../events/ingest/create-escalation-invalid.json"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("recipients[0].email"));
    let (status, _) = ingest(&app, include_str!("../../events/ingest/unauthorized.json")).await;
    assert_eq!(status, 401);
    let (status, body) = ingest(&app, include_str!("../../events/ingest/get-openapi.json")).await;
    assert_eq!(status, 200);
    assert!(body.contains("3.1.0"), "{body}");
    // The sample id is not one of this tenant's escalations.
    for event in [
        include_str!("../../events/ingest/get-escalation.json"),
        include_str!("../../events/ingest/acknowledge-escalation.json"),
        include_str!("../../events/ingest/resolve-escalation.json"),
    ] {
        assert_eq!(ingest(&app, event).await.0, 404);
    }
}

#[tokio::test]
async fn magic_link_samples_answer_not_found_for_an_unknown_token() {
    let app = TestApp::spawn().await;
    for event in [
        include_str!("../../events/magic-link/get-link.json"),
        include_str!("../../events/magic-link/post-link.json"),
    ] {
        let req = lambda_http::request::from_str(event).expect("sample parses");
        let res = herald_magic_link::function_handler(&app.magic, req)
            .await
            .expect("answers");
        assert_eq!(res.status(), 404);
    }
}

#[tokio::test]
async fn dispatch_sample_acknowledges_the_malformed_record() {
    let app = TestApp::spawn().await;
    let event = serde_json::from_str(include_str!("../../events/dispatch-email/sqs-batch.json"))
        .expect("sample");
    let res = herald_dispatch::function_handler(
        app.dispatcher(herald::domain::Channel::Email),
        LambdaEvent::new(event, Context::default()),
    )
    .await
    .expect("answers");
    assert!(res.batch_item_failures.is_empty());
}

#[tokio::test]
async fn sms_reply_sample_handles_each_record_and_drops_the_malformed_one() {
    let app = TestApp::spawn().await;
    let event = serde_json::from_str(include_str!("../../events/sms-reply/sqs-batch.json"))
        .expect("sample");
    let res = herald_sms_reply::function_handler(
        &app.sms_replies,
        LambdaEvent::new(event, Context::default()),
    )
    .await
    .expect("answers");
    assert!(res.batch_item_failures.is_empty());
    // The code is not one this database handed out: help; STOP is the carrier's.
    let client = app.pool.get().await.expect("conn");
    let outcomes: Vec<String> = client
        .query(
            "SELECT outcome FROM sms_replies ORDER BY received_at, outcome",
            &[],
        )
        .await
        .expect("replies")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(outcomes, ["unknown_code", "carrier_keyword"]);
}
