//! Quiet hours and urgency: inside a person's quiet hours a page that can wait is held
//! `queued` until they end (never dropped, nothing reaches the provider), a critical one
//! goes through, and a low-urgency escalation never texts or calls inside them.
//!
//! The dispatcher reads the real clock, so each test gives its person a window around
//! the current minute of every day, in UTC.

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use herald::domain::Channel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, deliveries, delivery, detail, unique_email, unique_phone};

/// A window from an hour ago to an hour from now, every day, and when it ends.
fn quiet_now() -> (Value, DateTime<Utc>) {
    let now = Utc::now();
    let clock = |t: DateTime<Utc>| format!("{:02}:{:02}", t.hour(), t.minute());
    let end = now + TimeDelta::hours(1);
    let window = json!([{
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": clock(now - TimeDelta::hours(1)),
        "end": clock(end),
    }]);
    let end = end
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("a minute");
    (window, end)
}

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_page_that_can_wait_is_held_until_quiet_hours_end_then_sent() {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("hana"), unique_phone());
    let (quiet, ends) = quiet_now();
    let created = app
        .post_escalation(&json!({
            "title": "Nightly export is late", "priority": "medium",
            "recipients": [{ "id": "hana", "email": email, "phone": phone,
                             "timezone": "UTC", "quiet_hours": quiet }],
            "channels": { "primary": ["email", "sms"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert!(app.emails_to(&email).await.is_empty(), "no email at night");
    assert!(app.sms_to(&phone).await.is_empty(), "no SMS at night");

    let shown = detail(&app, &id).await;
    assert_eq!(
        deliveries(&shown),
        [
            delivery("primary", "email", "queued", Some("quiet_hours")),
            delivery("primary", "sms", "queued", Some("quiet_hours")),
        ]
    );
    for d in shown["deliveries"].as_array().expect("deliveries") {
        assert_eq!(
            at(&d["next_attempt_at"]),
            ends,
            "held until the window ends"
        );
        assert_eq!(d["attempt_count"], 0, "a deferral is not an attempt");
    }
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM event_log WHERE event_type = 'notification.deferred' \
             AND detail->>'reason' = 'quiet_hours' AND detail ? 'until'"
        )
        .await,
        2
    );
    // A copy of the message meanwhile holds it again; the outbox sweep leaves it alone.
    assert_eq!(app.retry_once().await.requeued_outbox, 0);

    // The window is over (the row's time has come, and she is awake): the outbox sweep
    // hands it to the queue and it goes out.
    app.execute("UPDATE recipients SET quiet_hours = NULL")
        .await;
    app.execute(
        "UPDATE notification_log SET next_attempt_at = now() - interval '10 minutes' \
         WHERE deferred_reason IS NOT NULL",
    )
    .await;
    assert_eq!(app.retry_once().await.requeued_outbox, 2);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 1);
    assert_eq!(app.sms_to(&phone).await.len(), 1);
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [
            delivery("primary", "email", "sent", None),
            delivery("primary", "sms", "sent", None),
        ]
    );
}

#[tokio::test]
async fn a_critical_page_goes_through_but_low_urgency_never_texts_or_calls() {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("ines"), unique_phone());
    let (quiet, _) = quiet_now();
    let page = |urgency: &str, dedup: &str| {
        json!({
            "title": "Primary DB down", "priority": "critical", "urgency": urgency,
            "dedup_key": dedup,
            "recipients": [{ "id": "ines", "email": email, "phone": phone,
                             "timezone": "UTC", "quiet_hours": quiet }],
            "channels": { "primary": ["email", "sms"] }
        })
    };
    let high = app.post_escalation(&page("high", "a")).await;
    assert_eq!(high.status, 202, "{}", high.text);
    let low = app.post_escalation(&page("low", "b")).await;
    assert_eq!(low.status, 202, "{}", low.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 2);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 2);

    let high = detail(&app, high.json()["id"].as_str().expect("id")).await;
    assert_eq!(high["urgency"], "high");
    assert_eq!(
        deliveries(&high),
        [
            delivery("primary", "email", "sent", None),
            delivery("primary", "sms", "sent", None),
        ]
    );
    let low = detail(&app, low.json()["id"].as_str().expect("id")).await;
    assert_eq!(low["urgency"], "low");
    assert_eq!(
        deliveries(&low),
        [
            delivery("primary", "email", "sent", None),
            delivery("primary", "sms", "queued", Some("quiet_hours")),
        ]
    );
    assert_eq!(app.emails_to(&email).await.len(), 2);
    assert_eq!(
        app.sms_to(&phone).await.len(),
        1,
        "only the high-urgency SMS"
    );
}

#[tokio::test]
async fn acknowledging_suppresses_a_held_page_and_quiet_hours_stay_unless_replaced() {
    let app = TestApp::spawn().await;
    let email = unique_email("jon");
    let (quiet, _) = quiet_now();
    let created = app
        .post_escalation(&json!({
            "title": "Cache hit rate low", "priority": "low",
            "recipients": [{ "id": "jon", "email": email, "timezone": "UTC", "quiet_hours": quiet }],
            "channels": { "primary": ["email"] }
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let ack = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [delivery(
            "primary",
            "email",
            "suppressed",
            Some("escalation_acknowledged")
        )]
    );

    // A later page that does not mention quiet hours keeps them; `[]` clears them.
    let again = app
        .post_escalation(&json!({
            "title": "Cache hit rate low again", "priority": "low",
            "recipients": [{ "id": "jon", "email": email }],
            "channels": { "primary": ["email"] }
        }))
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert!(app.emails_to(&email).await.is_empty());
    let cleared = app
        .post_escalation(&json!({
            "title": "Cache hit rate low, third time", "priority": "low",
            "recipients": [{ "id": "jon", "email": email, "quiet_hours": [] }],
            "channels": { "primary": ["email"] }
        }))
        .await;
    assert_eq!(cleared.status, 202, "{}", cleared.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    // Not held: sent (or, on a machine loaded enough for the emulator to time out, failed
    // with a retry to come; either way not waiting for quiet hours).
    let third = detail(&app, cleared.json()["id"].as_str().expect("id")).await;
    let row = &third["deliveries"][0];
    assert!(row["reason"].is_null(), "{row}");
    match row["status"].as_str() {
        Some("sent") => assert_eq!(app.emails_to(&email).await.len(), 1),
        Some("failed") => assert_eq!(row["retryable"], true, "{row}"),
        _ => panic!("not sent: {row}"),
    }
}

#[tokio::test]
async fn bad_quiet_hours_or_urgency_are_400_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let window = json!([{ "days": ["mon"], "start": "22:00", "end": "07:00" }]);
    for (patch, field) in [
        (json!({ "quiet_hours": window }), "recipients[0].timezone"),
        (
            json!({ "timezone": "UTC", "quiet_hours": [{ "days": ["mon"], "start": "25:00", "end": "07:00" }] }),
            "recipients[0].quiet_hours[0].start",
        ),
        (
            json!({ "timezone": "UTC", "quiet_hours": [{ "days": ["someday"], "start": "22:00", "end": "07:00" }] }),
            "recipients[0].quiet_hours[0].days[0]",
        ),
        (
            json!({ "timezone": "UTC", "quiet_hours": [{ "days": ["mon"], "start": "22:00", "end": "07:00", "x": 1 }] }),
            "recipients[0].quiet_hours[0].x",
        ),
        (
            json!({ "timezone": "UTC", "quiet_hours": [["mon", "22:00", "07:00"]] }),
            "recipients[0].quiet_hours[0]",
        ),
    ] {
        let mut recipient = json!({ "id": "kim", "email": "kim@example.com" });
        for (k, v) in patch.as_object().expect("object") {
            recipient[k] = v.clone();
        }
        let got = app
            .post_escalation(&json!({
                "title": "t", "priority": "high", "recipients": [recipient]
            }))
            .await;
        assert_eq!(got.status, 400, "{patch}: {}", got.text);
        assert_eq!(got.json()["error"]["field"], field, "{patch}: {}", got.text);
    }
    let got = app
        .post_escalation(&json!({
            "title": "t", "priority": "high", "urgency": "whenever",
            "recipients": [{ "id": "kim", "email": "kim@example.com" }]
        }))
        .await;
    assert_eq!(got.status, 400, "{}", got.text);
    assert_eq!(got.json()["error"]["field"], "urgency");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM escalations").await, 0);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM recipients").await, 0);
}
