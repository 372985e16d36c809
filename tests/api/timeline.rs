//! `GET /v1/escalations/{id}/timeline`: the escalation's audit log, oldest first, with
//! who did each thing, in pages; another tenant's escalation is a 404.

use herald::domain::Channel;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::helpers::{TestApp, escalation_for, unique_email};

fn types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("a type").to_owned())
        .collect()
}

#[tokio::test]
async fn the_timeline_tells_what_happened_in_order_and_who_did_it() {
    let app = TestApp::spawn().await;
    let email = unique_email("olga");
    let created = app.post_escalation(&escalation_for(&email)).await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let ack = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);

    let got = app
        .api("GET", &format!("/v1/escalations/{id}/timeline"), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let page = got.json();
    assert_eq!(page["escalation_id"], id.as_str());
    assert_eq!(
        types(&page),
        [
            "escalation.triggered",
            "escalation.level_fired",
            "notification.sent",
            "escalation.acknowledged"
        ]
    );
    let events = page["events"].as_array().expect("events");
    assert_eq!(events[0]["actor"]["type"], "api_key");
    assert_eq!(events[1]["actor"]["id"], "engine");
    assert_eq!(events[1]["detail"]["level"], 0);
    assert_eq!(events[2]["actor"]["type"], "system");
    assert_eq!(events[2]["actor"]["id"], "dispatch-email");
    assert!(events[2]["notification_id"].is_string());
    assert_eq!(events[3]["actor"]["type"], "api_key");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(page["next_after"].is_null());

    // In pages of one.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let got = app
            .api(
                "GET",
                &format!("/v1/escalations/{id}/timeline?limit=1&after={after}"),
                None,
            )
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        let page = got.json();
        seen.extend(types(&page));
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, types(&got.json()));

    // Bad values name their parameter; another tenant (or no such escalation) is a 404.
    let bad = app
        .api(
            "GET",
            &format!("/v1/escalations/{id}/timeline?limit=0"),
            None,
        )
        .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (400, "limit".into())
    );
    let (_, other) =
        herald_local::stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
            .await
            .expect("tenant");
    let auth = format!("Bearer {}", other.expose_secret());
    let theirs = app
        .request(
            "GET",
            &format!("/v1/escalations/{id}/timeline"),
            &[("authorization", auth.as_str())],
            b"",
        )
        .await;
    assert_eq!(theirs.status, 404);
    let unknown = app
        .api(
            "GET",
            &format!("/v1/escalations/{}/timeline", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}
