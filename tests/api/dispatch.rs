use std::time::Duration;

use herald::channels::email::SesEmail;
use herald::dispatch::Dispatcher;
use herald::domain::Channel;
use herald::queue::Envelope;
use herald::warm::Warm;
use serde_json::json;

use crate::helpers::{
    TestApp, config_for, email_notification, escalation_for, sdk_config, unique_email,
};

#[tokio::test]
async fn queued_email_is_sent_once_with_both_links_and_recorded() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let id = created["id"].as_str().expect("id");

    assert_eq!(app.dispatch_all().await, 1);

    let emails = app.emails_to(&to).await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(
        email.subject,
        "[CRITICAL] Primary database CPU above 95% — orders-db"
    );
    for needle in [
        "orders-db",
        "platform",
        "https://grafana.example.com/d/orders-db",
        "Acknowledge",
        "Resolve",
    ] {
        assert!(email.body.contains(needle), "email shows {needle}");
    }
    assert_eq!(email.links().len(), 2, "an Acknowledge and a Resolve link");

    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    let row = detail["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|d| d["channel"] == "email")
        .cloned()
        .expect("row");
    assert_eq!(row["status"], "sent");
    assert_eq!(row["attempt_count"], 1);
    assert!(
        row["provider_message_id"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(row["sent_at"].is_string());
    // Only hashes are stored: the links' tokens are nowhere in the database.
    for token in email.links() {
        let found = app
            .scalar_i64(&format!(
                "SELECT count(*) FROM magic_link_tokens WHERE token_hash = decode('{}', 'hex')",
                hex(&herald::magic_link::hash(&token))
            ))
            .await;
        assert_eq!(found, 1);
    }
    let plaintext = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM magic_link_tokens t WHERE position('{}' in t::text) > 0",
            email.links()[0]
        ))
        .await;
    assert_eq!(plaintext, 0);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn redelivered_message_sends_no_second_email() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let notification_id = email_notification(&created);
    app.dispatch_all().await;

    // SQS is at-least-once: the same envelope arrives again, twice.
    let body = serde_json::to_string(&Envelope {
        notification_id,
        trace_id: None,
    })
    .expect("json");
    for _ in 0..2 {
        app.sqs
            .send_message()
            .queue_url(&app.queue.url)
            .message_body(&body)
            .send()
            .await
            .expect("send");
    }
    assert_eq!(app.dispatch_all().await, 2);

    assert_eq!(app.emails_to(&to).await.len(), 1);
    assert_eq!(
        app.queue_depth().await,
        0,
        "redelivered messages are acknowledged, not retried"
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT attempt_count::bigint FROM notification_log WHERE channel = 'email'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn malformed_body_is_acknowledged_and_does_not_poison_the_batch() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    app.sqs
        .send_message()
        .queue_url(&app.queue.url)
        .message_body("not json")
        .send()
        .await
        .expect("send");
    app.post_escalation(&escalation_for(&to)).await;

    let handled = app.dispatch_all().await;

    assert_eq!(handled, 2);
    assert_eq!(app.emails_to(&to).await.len(), 1);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn database_outage_returns_the_batch_to_sqs_and_nothing_is_lost() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    app.post_escalation(&escalation_for(&to)).await;

    // The same dispatcher, but its database is unreachable.
    let sdk = sdk_config().await;
    let config = config_for("postgres://postgres@127.0.0.1:1/nowhere", &app.queues);
    let broken = Dispatcher::<SesEmail>::new(&config, Warm::ready(sdk))
        .await
        .expect("pool builds lazily");
    let stats = app
        .poller
        .poll_once(|event| herald_dispatch::function_handler(&broken, event))
        .await
        .expect("poll");
    assert_eq!(
        (stats.received, stats.returned),
        (1, 1),
        "reported in batchItemFailures"
    );
    assert_eq!(app.emails_to(&to).await.len(), 0);

    // After the visibility timeout the message is back, and a healthy dispatcher sends it.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert_eq!(app.dispatch_all().await, 1);
    assert_eq!(app.emails_to(&to).await.len(), 1);
}

#[tokio::test]
async fn acknowledged_escalation_is_never_sent() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let id = created["id"].as_str().expect("id");
    app.api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await;

    app.dispatch_all().await;

    assert_eq!(app.emails_to(&to).await.len(), 0);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM magic_link_tokens")
            .await,
        0
    );
}

#[tokio::test]
async fn unverified_sender_is_a_permanent_failure_recorded_on_the_row() {
    let app = TestApp::spawn().await;
    let to = unique_email("alice");
    app.post_escalation(&escalation_for(&to)).await;
    let sdk = sdk_config().await;
    let mut config = config_for(&app.db_url, &app.queues);
    config
        .channels
        .entry(Channel::Email)
        .or_default()
        .provider
        .insert("SES_FROM", "nobody@unverified.example.org".into());
    let unverified = Dispatcher::<SesEmail>::new(&config, Warm::ready(sdk))
        .await
        .expect("deps");

    let stats = app
        .poller
        .poll_once(|event| herald_dispatch::function_handler(&unverified, event))
        .await
        .expect("poll");

    assert_eq!(
        stats.deleted, 1,
        "a provider failure is recorded, not redelivered"
    );
    let client = app.pool.get().await.expect("conn");
    let row = client
        .query_one("SELECT status, error, retryable, next_attempt_at IS NULL AS final FROM notification_log WHERE channel = 'email'", &[])
        .await
        .expect("row");
    assert_eq!(row.get::<_, &str>("status"), "failed");
    assert!(row.get::<_, &str>("error").starts_with("MessageRejected"));
    assert_eq!(row.get::<_, Option<bool>>("retryable"), Some(false));
    assert!(row.get::<_, bool>("final"));
    let _ = json!(null);
}

#[tokio::test]
async fn a_stale_result_never_overwrites_a_later_attempt() {
    use herald::db::notifications::{self, AttemptOutcome, AttemptResult};

    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("alice")))
        .await
        .json();
    let id = email_notification(&created);
    let client = app.pool.get().await.expect("conn");
    let claimed = notifications::claim(
        &client,
        herald::domain::Channel::Email,
        &[id],
        &[],
        Duration::from_secs(60),
        Duration::from_secs(60),
        false,
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    // The lease expired and a second attempt took the row over.
    client
        .execute(
            "UPDATE notification_log SET attempt_count = attempt_count + 1 WHERE id = $1",
            &[&id],
        )
        .await
        .expect("reclaim");

    let stale = AttemptResult {
        id,
        attempt: claimed[0].attempt_count,
        outcome: AttemptOutcome::Sent {
            provider_message_id: Some("stale".into()),
        },
        revoked_credential: None,
    };
    let written = notifications::record(&client, &[stale])
        .await
        .expect("record");

    assert_eq!(written.written, 0);
    let row = client
        .query_one(
            "SELECT status, provider_message_id FROM notification_log WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, &str>("status"), "sending");
    assert_eq!(row.get::<_, Option<&str>>("provider_message_id"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledging_while_a_batch_is_claimed_neither_deadlocks_nor_fails() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let mut body = escalation_for(&unique_email("a"));
        body["recipients"] = json!(
            (0..6)
                .map(|i| json!({ "id": format!("r{round}-{i}"), "email": unique_email("r") }))
                .collect::<Vec<_>>()
        );
        body["channels"] = json!({ "primary": ["email"] });
        let id = app.post_escalation(&body).await.json()["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let path = format!("/v1/escalations/{id}/acknowledge");
        let (ack, _) = tokio::join!(app.api("POST", &path, None), app.dispatch_all());

        assert_eq!(ack.status, 200, "{}", ack.text);
    }
    // Every row ended sent (claimed before the acknowledgement) or suppressed (after).
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM notification_log WHERE status NOT IN ('sent', 'suppressed')"
        )
        .await,
        0
    );
}
