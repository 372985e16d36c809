//! `POST /slack/events`: Slack's Events API. Signed like an interaction (a forged,
//! stale or replayed request is 401 and changes nothing); it answers Slack's URL
//! check, and a token Slack revoked (`tokens_revoked`, `app_uninstalled`) is marked so
//! admins see it in `GET /v1/integrations` and nothing is sent with it any more.

use herald::domain::Channel;
use herald::domain::slack::sign;
use herald_local::stack::LOCAL_SLACK_SIGNING_SECRET;
use serde_json::{Value, json};

use crate::channels::{escalation_on, notification_of, row};
use crate::helpers::{TestApp, TestResponse};
use crate::slack::person;
use crate::slack_install::{callback, get, start_connection, start_install};

async fn event(app: &TestApp, body: &Value, timestamp: i64, secret: &str) -> TestResponse {
    let body = body.to_string();
    let signature = sign(secret.as_bytes(), timestamp, body.as_bytes());
    let timestamp = timestamp.to_string();
    app.request(
        "POST",
        "/slack/events",
        &[
            ("content-type", "application/json"),
            ("x-slack-request-timestamp", &timestamp),
            ("x-slack-signature", &signature),
        ],
        body.as_bytes(),
    )
    .await
}

async fn from_slack(app: &TestApp, body: &Value) -> TestResponse {
    event(
        app,
        body,
        chrono::Utc::now().timestamp(),
        LOCAL_SLACK_SIGNING_SECRET,
    )
    .await
}

fn callback_of(team: &str, event: Value) -> Value {
    json!({
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "A0HERALD01",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0TEST0001",
        "event_time": 1_790_000_000
    })
}

/// The tenant installed workspace `team`, and u-bo connected `U0BO00001`.
async fn installed_and_connected(app: &TestApp, team: &str) {
    let query = start_install(app).await;
    let code = format!("{team}-1");
    assert_eq!(callback(app, &code, &query["state"]).await.status, 200);
    let query = start_connection(app, "u-bo").await;
    let code = format!("{team}-user-U0BO00001-1");
    assert_eq!(callback(app, &code, &query["state"]).await.status, 200);
}

async fn listing(app: &TestApp) -> Value {
    get(app, "/v1/integrations").await.json()
}

#[tokio::test]
async fn slacks_url_check_is_answered_only_when_signed() {
    let app = TestApp::spawn().await;
    let check = json!({
        "token": "legacy-verification-token",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification"
    });
    let answer = from_slack(&app, &check).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json()["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let forged = event(
        &app,
        &check,
        chrono::Utc::now().timestamp(),
        "not the signing secret",
    )
    .await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    // An event Herald does not subscribe to is acknowledged and ignored.
    let other = from_slack(
        &app,
        &callback_of("T0ANY", json!({ "type": "app_mention", "user": "U0X" })),
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
}

#[tokio::test]
async fn a_revoked_user_token_is_shown_and_a_revoked_bot_token_stops_pages() {
    let app = TestApp::spawn().await;
    installed_and_connected(&app, "T0EVENTS").await;

    // A forged or stale revocation changes nothing.
    let revoked_user = callback_of(
        "T0EVENTS",
        json!({ "type": "tokens_revoked", "tokens": { "oauth": ["U0BO00001"] } }),
    );
    let now = chrono::Utc::now().timestamp();
    for (what, answer) in [
        (
            "forged",
            event(&app, &revoked_user, now, "not the signing secret").await,
        ),
        (
            "stale",
            event(&app, &revoked_user, now - 301, LOCAL_SLACK_SIGNING_SECRET).await,
        ),
    ] {
        assert_eq!(answer.status, 401, "{what}: {}", answer.text);
    }
    assert_eq!(
        listing(&app).await["slack_connections"][0]["status"],
        "connected"
    );

    // Slack says the person's token is revoked: admins see it; the installation stands.
    let answer = event(&app, &revoked_user, now, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let seen = listing(&app).await;
    let connection = &seen["slack_connections"][0];
    assert_eq!(connection["status"], "revoked", "{seen}");
    assert_eq!(connection["revoked_reason"], "tokens_revoked");
    assert_eq!(seen["slack"]["status"], "connected", "{seen}");
    // The same signed request again is a replay.
    let replayed = event(&app, &revoked_user, now, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(replayed.status, 401, "{}", replayed.text);

    // Another workspace's event names nobody of this tenant.
    let elsewhere = from_slack(
        &app,
        &callback_of(
            "T0ELSEWHERE",
            json!({ "type": "tokens_revoked", "tokens": { "bot": ["U0HERALDBOT"] } }),
        ),
    )
    .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text);
    assert_eq!(listing(&app).await["slack"]["status"], "connected");

    // The bot's token revoked: shown, and the next page is not sent with it.
    let answer = from_slack(
        &app,
        &callback_of(
            "T0EVENTS",
            json!({ "type": "tokens_revoked", "tokens": { "bot": ["U0HERALDBOT"] } }),
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(listing(&app).await["slack"]["status"], "revoked");
    // The operators' list says so, once.
    let events = app
        .api("GET", "/v1/system-events?unresolved=true", None)
        .await
        .json();
    let revoked: Vec<&serde_json::Value> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "credential_revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events}");
    assert_eq!(revoked[0]["severity"], "warning");
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await
        .json();
    app.dispatch_channel(Channel::Slack).await;
    let r = row(&app, notification_of(&created, Channel::Slack)).await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("suppressed"), Some("credential_revoked")),
        "{r}"
    );
    assert!(app.fakes.slack_posts().await.is_empty());
}

#[tokio::test]
async fn an_uninstalled_app_marks_every_token_of_the_workspace() {
    let app = TestApp::spawn().await;
    installed_and_connected(&app, "T0UNINST").await;
    let answer = from_slack(
        &app,
        &callback_of("T0UNINST", json!({ "type": "app_uninstalled" })),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let seen = listing(&app).await;
    assert_eq!(seen["slack"]["status"], "revoked", "{seen}");
    assert_eq!(seen["slack"]["revoked_reason"], "app_uninstalled");
    assert_eq!(seen["slack_connections"][0]["status"], "revoked");

    // Installing and connecting again clears the marks.
    installed_and_connected(&app, "T0UNINST").await;
    let seen = listing(&app).await;
    assert_eq!(seen["slack"]["status"], "connected", "{seen}");
    assert_eq!(seen["slack_connections"][0]["status"], "connected");
}
