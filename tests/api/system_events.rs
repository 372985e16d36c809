//! The operators' system events: an escalation nobody answered, a provider failing (one
//! open event however many batches fail, resolved by Herald when a batch goes through),
//! listed per tenant with Herald's own, filtered, and resolved by the tenant.

use chrono::{TimeDelta, Utc};
use herald::db::notifications::{self, AttemptOutcome, AttemptResult, BatchContext};
use herald::domain::Channel;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique_email};

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let got = app
        .api("GET", &format!("/v1/system-events{query}"), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn an_escalation_nobody_answered_is_an_event_the_tenant_resolves() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&json!({
            "title": "Payments API down", "priority": "critical",
            "recipients": [{ "id": "tom", "email": unique_email("tom") }],
            "channels": { "primary": ["email"] },
            "policy": { "levels": [{ "after_minutes": 0, "recipients": ["tom"] }] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let run = app.escalate_at(Utc::now() + TimeDelta::hours(2)).await;
    assert_eq!(run.exhausted, 1, "{run:?}");

    let open = events(&app, "?unresolved=true").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let e = &open[0];
    assert_eq!(
        (
            e["kind"].as_str(),
            e["severity"].as_str(),
            e["subject"].as_str()
        ),
        (
            Some("escalation_exhausted"),
            Some("critical"),
            Some(id.as_str())
        )
    );
    assert_eq!(e["title"], "Nobody answered: Payments API down");
    assert_eq!(e["detail"]["escalation_id"], id.as_str());
    assert_eq!(events(&app, "?severity=warning").await.len(), 0);
    let bad = app
        .api("GET", "/v1/system-events?severity=loud", None)
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, json!("severity"))
    );

    // Another tenant neither sees nor resolves it.
    let (_, other) =
        herald_local::stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
            .await
            .expect("tenant");
    let auth = format!("Bearer {}", other.expose_secret());
    let path = format!(
        "/v1/system-events/{}/resolve",
        e["id"].as_str().expect("id")
    );
    let theirs = app
        .request(
            "GET",
            "/v1/system-events",
            &[("authorization", auth.as_str())],
            b"",
        )
        .await;
    assert_eq!(theirs.json()["items"], json!([]));
    assert_eq!(
        app.request("POST", &path, &[("authorization", auth.as_str())], b"")
            .await
            .status,
        404
    );

    let resolved = app.api("POST", &path, None).await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert!(
        resolved.json()["resolved_by"]
            .as_str()
            .is_some_and(|b| b.starts_with("API key"))
    );
    assert_eq!(app.api("POST", &path, None).await.status, 404);
    assert!(events(&app, "?unresolved=true").await.is_empty());
    assert_eq!(events(&app, "").await.len(), 1);
}

/// Claims and records `n` email rows of fresh escalations with `outcome`.
async fn batch(app: &TestApp, n: usize, outcome: &AttemptOutcome) {
    let mut ids = Vec::new();
    for _ in 0..n {
        let created = app
            .post_escalation(&crate::helpers::escalation_for(&unique_email("uma")))
            .await;
        ids.push(crate::helpers::email_notification(&created.json()));
    }
    let client = app.pool.get().await.expect("conn");
    let claimed = notifications::claim(
        &client,
        Channel::Email,
        &ids,
        &[],
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(120),
        false,
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), n);
    let results: Vec<AttemptResult> = claimed
        .iter()
        .map(|c| AttemptResult {
            id: c.id,
            attempt: c.attempt_count,
            outcome: outcome.clone(),
            revoked_credential: None,
        })
        .collect();
    notifications::record_batch(&client, Some(BatchContext::of(Channel::Email)), &results)
        .await
        .expect("record");
}

#[tokio::test]
async fn a_failing_provider_is_one_open_event_until_a_batch_goes_through() {
    let app = TestApp::spawn().await;
    let throttled = AttemptOutcome::Failed {
        error: "TooManyRequestsException: slow down".into(),
        retryable: true,
        next_attempt_at: Some(Utc::now() + TimeDelta::minutes(1)),
    };
    batch(&app, 5, &throttled).await;
    batch(&app, 6, &throttled).await;
    let open = events(&app, "?unresolved=true").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let e = &open[0];
    assert_eq!(
        (
            e["kind"].as_str(),
            e["subject"].as_str(),
            e["occurrences"].as_i64()
        ),
        (Some("provider_failing"), Some("email"), Some(2))
    );
    assert_eq!(e["tenant_scoped"], false);
    assert_eq!(e["detail"]["error"], "TooManyRequestsException");
    assert_eq!(e["detail"]["failed"], 6);
    assert_eq!(events(&app, "?tenant_scoped=false").await.len(), 1);
    assert!(events(&app, "?tenant_scoped=true").await.is_empty());
    let bad = app
        .api("GET", "/v1/system-events?tenant_scoped=maybe", None)
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, json!("tenant_scoped"))
    );
    // Herald's own event: a tenant cannot resolve it.
    let path = format!(
        "/v1/system-events/{}/resolve",
        e["id"].as_str().expect("id")
    );
    assert_eq!(app.api("POST", &path, None).await.status, 404);

    // Too few attempts say nothing; a clean batch of five resolves it.
    batch(
        &app,
        2,
        &AttemptOutcome::Sent {
            provider_message_id: Some("m".into()),
        },
    )
    .await;
    assert_eq!(events(&app, "?unresolved=true").await.len(), 1);
    batch(
        &app,
        5,
        &AttemptOutcome::Sent {
            provider_message_id: Some("m".into()),
        },
    )
    .await;
    assert!(events(&app, "?unresolved=true").await.is_empty());
    let all = events(&app, "").await;
    assert_eq!(all[0]["resolved_by"], "herald");
}

#[tokio::test]
async fn messages_in_a_dead_letter_queue_are_one_open_event_until_it_is_empty() {
    let app = TestApp::spawn().await;
    assert_eq!(app.retry_once().await.dead_letter_channels, 0);
    assert!(events(&app, "").await.is_empty());

    // A message a dispatcher kept failing on, moved there by SQS's redrive policy.
    let dlq = &app.queues[&Channel::Sms].dlq_url;
    for _ in 0..2 {
        app.sqs
            .send_message()
            .queue_url(dlq)
            .message_body(json!({ "notification_id": uuid::Uuid::new_v4() }).to_string())
            .send()
            .await
            .expect("send to the DLQ");
    }
    for _ in 0..2 {
        assert_eq!(app.retry_once().await.dead_letter_channels, 1);
    }
    let open = events(&app, "?unresolved=true").await;
    assert_eq!(
        open.len(),
        1,
        "one event however many runs see it: {open:?}"
    );
    let e = &open[0];
    assert_eq!(
        (
            e["kind"].as_str(),
            e["severity"].as_str(),
            e["subject"].as_str(),
            e["tenant_scoped"].as_bool(),
            e["occurrences"].as_i64()
        ),
        (
            Some("dlq_messages"),
            Some("warning"),
            Some("sms"),
            Some(false),
            Some(2)
        )
    );
    assert_eq!(e["detail"], json!({ "messages": 2 }));

    // The operator redrives or purges it: the next run resolves the event.
    app.sqs
        .purge_queue()
        .queue_url(dlq)
        .send()
        .await
        .expect("purge");
    assert_eq!(app.retry_once().await.dead_letter_channels, 0);
    assert!(events(&app, "?unresolved=true").await.is_empty());
    assert_eq!(events(&app, "").await[0]["resolved_by"], "herald");
}
