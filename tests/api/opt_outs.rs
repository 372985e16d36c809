//! Opt-outs: the API, and what a page does with them. An opted-out delivery is
//! suppressed (`opted_out`) whatever the priority, nothing reaches the provider, and the
//! escalation moves on to the person's other channels at once.

use chrono::{TimeDelta, Utc};
use herald::domain::Channel;
use serde_json::json;

use crate::helpers::{TestApp, deliveries, delivery, detail, unique_email, unique_phone};

#[tokio::test]
async fn opt_outs_are_stored_listed_replaced_and_removed() {
    let app = TestApp::spawn().await;
    // Before the person's first page: the recipient is made.
    let put = app
        .api(
            "PUT",
            "/v1/recipients/alice/opt-outs/sms",
            Some(&json!({ "reason": "  travelling  " })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["channel"], "sms");
    assert_eq!(put.json()["reason"], "travelling");
    assert_eq!(put.json()["active"], true);
    assert!(put.json()["expires_at"].is_null());

    // No body: until removed, no reason. A second PUT of the same channel replaces it.
    let until = (Utc::now() + TimeDelta::days(2)).to_rfc3339();
    assert_eq!(
        app.request(
            "PUT",
            "/v1/recipients/alice/opt-outs/all",
            &[("authorization", &app.bearer())],
            b"",
        )
        .await
        .status,
        200
    );
    let replaced = app
        .api(
            "PUT",
            "/v1/recipients/alice/opt-outs/all",
            Some(&json!({ "expires_at": until })),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert!(replaced.json()["reason"].is_null());

    let listed = app.api("GET", "/v1/recipients/alice/opt-outs", None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let listed = listed.json();
    assert_eq!(listed["recipient_id"], "alice");
    let channels: Vec<&str> = listed["opt_outs"]
        .as_array()
        .expect("opt_outs")
        .iter()
        .map(|o| o["channel"].as_str().expect("channel"))
        .collect();
    assert_eq!(channels, ["all", "sms"]);
    assert!(listed["opt_outs"][0]["expires_at"].is_string());

    assert_eq!(
        app.api("DELETE", "/v1/recipients/alice/opt-outs/sms", None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.api("DELETE", "/v1/recipients/alice/opt-outs/sms", None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.api("GET", "/v1/recipients/nobody/opt-outs", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_bad_opt_out_is_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let past = (Utc::now() - TimeDelta::minutes(1)).to_rfc3339();
    for (path, body, field) in [
        ("/v1/recipients/a/opt-outs/fax", json!({}), "channel"),
        ("/v1/recipients/a/opt-outs/in_app", json!({}), "channel"),
        (
            "/v1/recipients/a/opt-outs/sms",
            json!({ "expires_at": past }),
            "expires_at",
        ),
        (
            "/v1/recipients/a/opt-outs/sms",
            json!({ "expires_at": "tomorrow" }),
            "expires_at",
        ),
        (
            "/v1/recipients/a/opt-outs/sms",
            json!({ "reason": "x".repeat(501) }),
            "reason",
        ),
        (
            "/v1/recipients/a/opt-outs/sms",
            json!({ "until": past }),
            "until",
        ),
        ("/v1/recipients/a/opt-outs/sms", json!(["sms"]), ""),
    ] {
        let got = app.api("PUT", path, Some(&body)).await;
        assert_eq!(got.status, 400, "{path} {body}: {}", got.text);
        assert_eq!(
            got.json()["error"]["field"],
            field,
            "{path} {body}: {}",
            got.text
        );
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM opt_outs").await,
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn an_opted_out_channel_is_suppressed_even_for_critical_and_the_others_go_out() {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("carol"), unique_phone());
    let put = app
        .api("PUT", "/v1/recipients/carol/opt-outs/email", None)
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let created = app
        .post_escalation(&json!({
            "title": "Checkout down", "priority": "critical",
            "recipients": [{ "id": "carol", "email": email, "phone": phone }],
            "channels": { "primary": ["email", "sms"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);

    assert!(app.emails_to(&email).await.is_empty(), "no email went out");
    assert_eq!(app.sms_to(&phone).await.len(), 1);
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [
            delivery("primary", "email", "suppressed", Some("opted_out")),
            delivery("primary", "sms", "sent", None),
        ]
    );
}

#[tokio::test]
async fn an_opt_out_that_ran_out_pages_again() {
    let app = TestApp::spawn().await;
    let email = unique_email("dan");
    let put = app
        .api(
            "PUT",
            "/v1/recipients/dan/opt-outs/all",
            Some(&json!({ "expires_at": (Utc::now() + TimeDelta::hours(1)).to_rfc3339() })),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    // An hour later (the row aged by hand: the API refuses a time in the past).
    app.execute("UPDATE opt_outs SET expires_at = now() - interval '1 second'")
        .await;
    let listed = app.api("GET", "/v1/recipients/dan/opt-outs", None).await;
    assert_eq!(listed.json()["opt_outs"][0]["active"], false);

    let created = app
        .post_escalation(&json!({
            "title": "Disk full", "priority": "high",
            "recipients": [{ "id": "dan", "email": email }],
            "channels": { "primary": ["email"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 1);
}

#[tokio::test]
async fn opting_out_of_the_primary_moves_the_page_to_the_next_tier_at_once() {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("erin"), unique_phone());
    let created = app
        .post_escalation(&json!({
            "title": "Payments API 5xx", "priority": "high",
            "recipients": [{ "id": "erin", "email": email, "phone": phone }],
            "channels": { "primary": ["email"], "secondary": ["sms"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let t0 = Utc::now();
    // She opts out of email after the page was queued, before it was sent.
    let put = app
        .api("PUT", "/v1/recipients/erin/opt-outs/email", None)
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert!(app.emails_to(&email).await.is_empty());

    // The next sweep, a minute later (not after secondary_after's 5): her SMS.
    let run = app.escalate_at(t0 + TimeDelta::minutes(1)).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.sms_to(&phone).await.len(), 1);
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [
            delivery("primary", "email", "suppressed", Some("opted_out")),
            delivery("secondary", "sms", "sent", None),
        ]
    );
}

#[tokio::test]
async fn another_tenants_opt_out_changes_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("frank");
    // Another tenant's recipient "frank" opted out of email.
    app.execute(
        "WITH t AS (INSERT INTO tenants (name) VALUES ('other') RETURNING id), \
              r AS (INSERT INTO recipients (tenant_id, external_id) SELECT id, 'frank' FROM t RETURNING id, tenant_id) \
         INSERT INTO opt_outs (recipient_id, tenant_id, channel) SELECT id, tenant_id, 'email' FROM r",
    )
    .await;
    assert_eq!(
        app.api("GET", "/v1/recipients/frank/opt-outs", None)
            .await
            .status,
        404
    );
    let created = app
        .post_escalation(&json!({
            "title": "Queue backlog", "priority": "medium",
            "recipients": [{ "id": "frank", "email": email }],
            "channels": { "primary": ["email"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 1);
}

#[tokio::test]
async fn a_tier_the_engine_starts_on_an_opted_out_channel_is_suppressed_and_the_next_starts_with_it()
 {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("gina"), unique_phone());
    let created = app
        .post_escalation(&json!({
            "title": "Primary DB failover", "priority": "critical",
            "recipients": [{ "id": "gina", "email": email, "phone": phone }],
            "channels": { "primary": ["email"], "secondary": ["sms"], "fallback": ["voice"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let t0 = Utc::now();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    // No answer; meanwhile she opted out of SMS.
    let put = app
        .api("PUT", "/v1/recipients/gina/opt-outs/sms", None)
        .await;
    assert_eq!(put.status, 200, "{}", put.text);

    // At secondary_after: the SMS tier is written suppressed, and as it gave up at once
    // the fallback (voice) starts in the same sweep, not a sweep later.
    let run = app.escalate_at(t0 + TimeDelta::minutes(6)).await;
    assert_eq!(run.tiers_started, 2, "{run:?}");
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [
            delivery("primary", "email", "sent", None),
            delivery("secondary", "sms", "suppressed", Some("opted_out")),
            delivery("fallback", "voice", "queued", None),
        ]
    );
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 0);
    assert!(app.sms_to(&phone).await.is_empty());
}
