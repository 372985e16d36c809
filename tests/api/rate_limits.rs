//! Rate limits: the counters in DynamoDB (the emulator, through the real SDK), what a
//! page past a person's limit does (suppressed / rate_limited, the escalation moves on
//! at once), and what happens when the counters cannot be reached.

use std::time::Duration;

use chrono::{TimeDelta, Timelike, Utc};
use herald::config::Config;
use herald::domain::Channel;
use herald::domain::rate_limit::RateLimits;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, deliveries, delivery, detail, unique_email, unique_phone};

/// A stack whose SMS limit is `limit` a day (windows are aligned to UTC midnight, so a
/// test a few seconds long cannot straddle one unless it runs at midnight: it waits).
async fn spawn_with_sms_limit(limit: &str) -> TestApp {
    let now = Utc::now();
    if now.hour() == 23 && now.minute() == 59 {
        tokio::time::sleep(Duration::from_secs(u64::from(61 - now.second()))).await;
    }
    let limits = RateLimits::default().with(Channel::Sms, limit.parse().expect("limits"));
    TestApp::spawn_with(Options {
        tune: Box::new(move |c: &mut Config| c.rate_limits.limits = limits),
        ..Options::default()
    })
    .await
}

/// The open system events the tenant sees.
async fn open_events(app: &TestApp) -> Vec<Value> {
    let got = app
        .api("GET", "/v1/system-events?unresolved=true", None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()["items"].as_array().expect("items").clone()
}

async fn page(app: &TestApp, body: Value) -> String {
    let created = app.post_escalation(&body).await;
    assert_eq!(created.status, 202, "{}", created.text);
    created.json()["id"].as_str().expect("id").to_owned()
}

fn sms_page(title: &str, priority: &str, who: &str, phone: &str) -> Value {
    json!({
        "title": title, "priority": priority,
        "recipients": [{ "id": who, "phone": phone }],
        "channels": { "primary": ["sms"] }
    })
}

#[tokio::test]
async fn pages_past_a_persons_limit_are_suppressed_rate_limited_and_never_reach_the_provider() {
    let app = spawn_with_sms_limit("3/24h").await;
    let (hana, ivan) = (unique_phone(), unique_phone());
    page(&app, sms_page("Disk 91%", "high", "hana", &hana)).await;
    page(&app, sms_page("Disk 95%", "high", "hana", &hana)).await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 2);
    assert_eq!(app.sms_to(&hana).await.len(), 2);

    // Room for one more today: the critical page takes it, the low one is held back,
    // and Ivan, in the same batch, is not touched by Hana's limit.
    let low = page(&app, sms_page("Disk 96%", "low", "hana", &hana)).await;
    let critical = page(&app, sms_page("Disk full", "critical", "hana", &hana)).await;
    page(&app, sms_page("Disk full", "critical", "ivan", &ivan)).await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 3);

    assert_eq!(app.sms_to(&hana).await.len(), 3, "her limit is 3 a day");
    assert_eq!(app.sms_to(&ivan).await.len(), 1);
    assert_eq!(
        deliveries(&detail(&app, &critical).await),
        [delivery("primary", "sms", "sent", None)]
    );
    assert_eq!(
        deliveries(&detail(&app, &low).await),
        [delivery(
            "primary",
            "sms",
            "suppressed",
            Some("rate_limited")
        )]
    );

    // The tenant's operators see it: one open event for the channel.
    let open = open_events(&app).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let e = &open[0];
    assert_eq!(
        (
            e["kind"].as_str(),
            e["severity"].as_str(),
            e["subject"].as_str(),
            e["tenant_scoped"].as_bool()
        ),
        (
            Some("sending_paused"),
            Some("warning"),
            Some("sms"),
            Some(true)
        )
    );
    assert_eq!(
        e["detail"],
        json!({ "reason": "rate_limited", "held_back": 1, "people": 1 })
    );

    // Once limited, always limited until the window ends, whatever the priority.
    let later = page(&app, sms_page("Disk still full", "critical", "hana", &hana)).await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    let open = open_events(&app).await;
    assert_eq!(open.len(), 1, "still one event: {open:?}");
    assert_eq!(open[0]["occurrences"], 2);
    assert_eq!(app.sms_to(&hana).await.len(), 3);
    assert_eq!(
        deliveries(&detail(&app, &later).await),
        [delivery(
            "primary",
            "sms",
            "suppressed",
            Some("rate_limited")
        )]
    );
}

#[tokio::test]
async fn a_rate_limited_tier_moves_the_escalation_on_at_once() {
    let app = spawn_with_sms_limit("1/24h").await;
    let (email, phone) = (unique_email("jo"), unique_phone());
    page(&app, sms_page("Replica lag", "high", "jo", &phone)).await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);

    let id = page(
        &app,
        json!({
            "title": "Primary down", "priority": "high",
            "recipients": [{ "id": "jo", "phone": phone, "email": email }],
            "channels": { "primary": ["sms"], "secondary": ["email"] }
        }),
    )
    .await;
    let t0 = Utc::now();
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.sms_to(&phone).await.len(), 1, "only the first page's");

    // The next sweep, a minute later (not after secondary_after's 5): her email.
    let run = app.escalate_at(t0 + TimeDelta::minutes(1)).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 1);
    assert_eq!(
        deliveries(&detail(&app, &id).await),
        [
            delivery("primary", "sms", "suppressed", Some("rate_limited")),
            delivery("secondary", "email", "sent", None),
        ]
    );
}

#[tokio::test]
async fn without_the_counters_critical_pages_go_out_and_the_rest_are_retried() {
    let table = format!("herald-no-such-table-{}", uuid::Uuid::new_v4().simple());
    let table_name = table.clone();
    let app = TestApp::spawn_with(Options {
        tune: Box::new(move |c: &mut Config| c.rate_limits.table = Some(table)),
        ..Options::default()
    })
    .await;
    let (kim, lee) = (unique_phone(), unique_phone());
    let critical = page(&app, sms_page("Checkout down", "critical", "kim", &kim)).await;
    let high = page(&app, sms_page("Checkout slow", "high", "lee", &lee)).await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 2);

    assert_eq!(app.sms_to(&kim).await.len(), 1, "critical fails open");
    assert!(app.sms_to(&lee).await.is_empty(), "the rest fail closed");
    assert_eq!(
        deliveries(&detail(&app, &critical).await),
        [delivery("primary", "sms", "sent", None)]
    );
    let waiting = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM notification_log \
             WHERE escalation_id = '{high}' AND status = 'failed' \
               AND next_attempt_at IS NOT NULL AND error LIKE '%RateLimitUnavailable%'"
        ))
        .await;
    assert_eq!(waiting, 1, "deferred with a retry, not given up");

    // Herald's own event: every page below critical is held while the counters are away.
    let open = open_events(&app).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        (
            open[0]["kind"].as_str(),
            open[0]["severity"].as_str(),
            open[0]["subject"].as_str(),
            open[0]["tenant_scoped"].as_bool(),
            open[0]["detail"]["reason"].as_str()
        ),
        (
            Some("sending_paused"),
            Some("critical"),
            Some("sms"),
            Some(false),
            Some("counters_unreachable")
        )
    );

    // The counters are back: the next batch that reaches them resolves it.
    herald::rate_limit::ensure_table(&crate::helpers::sdk_config().await, &table_name)
        .await
        .expect("table");
    page(
        &app,
        sms_page("Checkout slow", "high", "mo", &unique_phone()),
    )
    .await;
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert!(open_events(&app).await.is_empty());
}
