//! Slack: a Block Kit message per page to the recipient's Slack user, posted with the
//! bot token of the tenant's installation (sealed at rest, never in a log line or the
//! `error` column); Slack's `ok: false` codes and HTTP statuses classified.

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use herald::domain::Channel;

use crate::channels::{NASTY_TITLE, escalation_on, notification_of, redeliver_twice, row, row_of};
use crate::helpers::{Options, TestApp, capture_logs};

pub const TOKEN: &str = "xoxb-17-herald-test-token-never-logged";

pub async fn install(app: &TestApp) {
    herald_local::stack::install_slack(
        &app.pool.get().await.expect("conn"),
        &app.config,
        app.tenant_id,
        "T0HERALD1",
        TOKEN,
    )
    .await
    .expect("installed");
}

pub fn person(id: &str, slack: &str) -> Value {
    json!({ "id": id, "name": "Sam", "slack_user_id": slack })
}

#[tokio::test]
async fn a_message_goes_to_the_recipient_once_with_the_installation_token() {
    let app = TestApp::spawn().await;
    install(&app).await;
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await
        .json();
    let id = notification_of(&created, Channel::Slack);
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);

    let posts = app.fakes.slack_posts().await;
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(post.body["channel"], "U0SAM0001");
    let blocks = post.body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"],
        format!("[CRITICAL] {NASTY_TITLE}")
    );
    let text = post.body["text"].as_str().expect("text");
    assert!(text.contains("&lt;primary&gt; &amp;"), "escaped: {text}");
    let buttons = blocks.last().expect("actions")["elements"]
        .as_array()
        .expect("buttons")
        .clone();
    assert_eq!(buttons[0]["text"]["text"], "Acknowledge");
    assert_eq!(buttons[1]["text"]["text"], "Resolve");
    // Interactive (the test stack has a signing secret): the click posts back to
    // /slack/actions, so no magic link was minted.
    assert!(buttons[0].get("url").is_none(), "{buttons:?}");
    assert_eq!(buttons[0]["value"], created["id"]);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM magic_link_tokens")
            .await,
        0
    );

    let r = row(&app, id).await;
    assert_eq!(r["status"], "sent", "{r}");
    assert!(
        r["provider_message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("D0HERALD01/1790000000.")),
        "channel/ts for chat.update: {r}"
    );

    redeliver_twice(&app, Channel::Slack, id).await;
    assert_eq!(app.fakes.slack_posts().await.len(), 1, "sent once");

    // The token is stored sealed only.
    let client = app.pool.get().await.expect("conn");
    let stored: Vec<u8> = client
        .query_one(
            "SELECT ciphertext FROM credentials WHERE kind = 'slack_bot_token' AND tenant_id = $1",
            &[&app.tenant_id],
        )
        .await
        .expect("credential")
        .get(0);
    assert!(
        !String::from_utf8_lossy(&stored).contains("xoxb"),
        "ciphertext only"
    );
}

#[tokio::test]
async fn without_interactivity_the_buttons_are_magic_links() {
    let app = TestApp::spawn_with(Options {
        tune: Box::new(|config| {
            config
                .channels
                .entry(Channel::Slack)
                .or_default()
                .provider
                .insert("SLACK_INTERACTIVE", "false".into());
        }),
        ..Options::default()
    })
    .await;
    install(&app).await;
    app.post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await;
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    let posts = app.fakes.slack_posts().await;
    let buttons = posts[0].body["blocks"]
        .as_array()
        .expect("blocks")
        .last()
        .expect("actions")["elements"]
        .clone();
    for b in [&buttons[0], &buttons[1]] {
        assert!(b["url"].as_str().is_some_and(|u| u.contains("/l/")), "{b}");
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM magic_link_tokens")
            .await,
        2
    );
}

#[tokio::test]
async fn without_an_installation_the_row_is_suppressed_as_not_connected() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-ann", "U0ANN0001")))
        .await
        .json();
    let id = notification_of(&created, Channel::Slack);
    app.dispatch_channel(Channel::Slack).await;
    let r = row(&app, id).await;
    assert_eq!(r["status"], "suppressed", "{r}");
    assert_eq!(r["reason"], "channel_not_connected", "{r}");
    assert!(app.fakes.slack_posts().await.is_empty());
}

/// (who, Slack user, HTTP status, `ok: false` code, retryable, stored error code)
type Case = (
    &'static str,
    &'static str,
    u16,
    Option<&'static str>,
    bool,
    &'static str,
);

#[tokio::test]
async fn slack_refusals_are_classified_and_retry_after_is_honoured() {
    let (_guard, logs) = capture_logs();
    let app = TestApp::spawn().await;
    install(&app).await;
    let cases: [Case; 7] = [
        ("throttled", "U0THROTTLE", 429, None, true, "HTTP429"),
        ("down", "U0DOWN0001", 503, None, true, "HTTP503"),
        (
            "busy",
            "U0BUSY0001",
            200,
            Some("service_unavailable"),
            true,
            "service_unavailable",
        ),
        (
            "revoked",
            "U0REVOKED1",
            200,
            Some("token_revoked"),
            false,
            "token_revoked",
        ),
        (
            "missing",
            "U0MISSING1",
            200,
            Some("channel_not_found"),
            false,
            "channel_not_found",
        ),
        (
            "long",
            "U0LONG0001",
            200,
            Some("msg_too_long"),
            false,
            "msg_too_long",
        ),
        (
            "limited",
            "U0LIMITED1",
            200,
            Some("ratelimited"),
            true,
            "ratelimited",
        ),
    ];
    for (_, user, status, code, _, _) in cases {
        let mut answer = ResponseTemplate::new(status);
        if status == 429 {
            answer = answer.insert_header("retry-after", "120");
        }
        if let Some(code) = code {
            answer = answer.set_body_json(json!({ "ok": false, "error": code }));
        }
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .and(body_partial_json(json!({ "channel": user })))
            .respond_with(answer)
            .mount(&app.fakes.slack)
            .await;
    }
    let recipients: Vec<Value> = cases
        .iter()
        .map(|(who, user, ..)| person(&format!("u-{who}"), user))
        .collect();
    let mut body = escalation_on(&["slack"], recipients[0].clone());
    body["recipients"] = json!(recipients);
    let created = app.post_escalation(&body).await.json();
    app.dispatch_channel(Channel::Slack).await;

    for (who, _, _, _, retryable, code) in cases {
        let r = row_of(&app, &created, &format!("u-{who}")).await;
        assert_eq!(r.get::<_, String>("status"), "failed", "{who}");
        assert_eq!(
            r.get::<_, Option<bool>>("retryable"),
            Some(retryable),
            "{who}"
        );
        let error: String = r.get("error");
        assert!(error.starts_with(code), "{who}: {error}");
        assert!(!error.contains("xoxb"), "{who}: {error}");
        let wait: Option<f64> = r.get("wait");
        assert_eq!(
            wait.is_some(),
            retryable,
            "{who}: a retry only when retryable"
        );
        if who == "throttled" {
            assert!(
                wait.is_some_and(|w| w > 110.0),
                "Retry-After: 120 is a floor, got {wait:?}"
            );
        }
    }
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        logs.contains("delivery failed"),
        "the failures were logged: {logs}"
    );
    assert!(!logs.contains(TOKEN), "the bot token is in a log line");
    assert!(!logs.contains("xoxb-"), "a token is in a log line");
}

#[tokio::test]
async fn a_workspace_belongs_to_one_tenant() {
    let app = TestApp::spawn().await;
    install(&app).await;
    let client = app.pool.get().await.expect("conn");
    let (other, _) = herald_local::stack::create_tenant(&client, "Other")
        .await
        .expect("tenant");
    let refused =
        herald_local::stack::install_slack(&client, &app.config, other, "T0HERALD1", TOKEN)
            .await
            .expect_err("the same workspace for a second tenant");
    assert_eq!(
        refused.to_string(),
        "Slack workspace T0HERALD1 is already installed for another tenant"
    );
    // Reinstalling for its own tenant replaces the token.
    install(&app).await;
}
