//! "Add to Slack": the install redirect carries a signed, expiring `state`; the callback
//! trades the code at `oauth.v2.access` (the local fake) and keeps the bot token sealed;
//! a forged or expired state is refused before Slack is asked anything. The connections
//! list shows no secret, and removing the installation stops Slack pages.

use std::collections::HashMap;

use herald::domain::Channel;
use herald::domain::oauth::{Provider, derive_key, sign_state};
use herald_local::stack::{LOCAL_SLACK_CLIENT_ID, LOCAL_SLACK_CLIENT_SECRET};

use crate::channels::{escalation_on, notification_of, row};
use crate::helpers::{TestApp, TestResponse, capture_logs};
use crate::slack::person;

pub async fn get(app: &TestApp, path: &str) -> TestResponse {
    let bearer = app.bearer();
    app.request("GET", path, &[("authorization", bearer.as_str())], b"")
        .await
}

/// The install redirect's query, as Slack receives it.
pub async fn start_install(app: &TestApp) -> HashMap<String, String> {
    let answer = get(app, "/v1/integrations/slack/install").await;
    assert_eq!(answer.status, 302, "{}", answer.text);
    let location = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned();
    assert_eq!(answer.json()["authorize_url"], location.as_str());
    let url = url::Url::parse(&location).expect("a URL");
    assert_eq!(
        (url.host_str(), url.path()),
        (Some("slack.com"), "/oauth/v2/authorize")
    );
    url.query_pairs().into_owned().collect()
}

pub async fn callback(app: &TestApp, code: &str, state: &str) -> TestResponse {
    confirm(app, "slack", code, state, |_| ()).await
}

/// `provider`'s redirect back (a GET that only shows whose account it connects), then
/// the page's button (the POST that finishes); `page` sees the page.
pub async fn confirm(
    app: &TestApp,
    provider: &str,
    code: &str,
    state: &str,
    page: impl FnOnce(&str),
) -> TestResponse {
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("state", state)
        .finish();
    let path = format!("/v1/integrations/{provider}/callback");
    let shown = app
        .request("GET", &format!("{path}?{form}"), &[], b"")
        .await;
    if shown.status != 200 {
        return shown;
    }
    assert!(
        shown.text.contains("Herald account: <strong>Acme</strong>"),
        "{}",
        shown.text
    );
    page(&shown.text);
    app.request(
        "POST",
        &path,
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn an_install_stores_the_workspace_with_its_token_sealed() {
    let (_guard, logs) = capture_logs();
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    assert_eq!(query["client_id"], LOCAL_SLACK_CLIENT_ID);
    assert_eq!(query["scope"], "chat:write,im:write");
    assert_eq!(
        query["redirect_uri"],
        format!(
            "{}/v1/integrations/slack/callback",
            crate::helpers::PUBLIC_BASE_URL
        )
    );
    let done = callback(&app, "T0NEWSPACE-1234", &query["state"]).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["slack_team_id"], "T0NEWSPACE");

    // Slack was asked with the app's credentials and the same redirect URI.
    let exchanges = app.fakes.slack_oauth_exchanges().await;
    assert_eq!(exchanges.len(), 1);

    // Stored sealed; the token is nowhere in the listing or the logs.
    let token = "xoxb-fake-T0NEWSPACE-1234";
    let client = app.pool.get().await.expect("conn");
    let stored: Vec<u8> = client
        .query_one(
            "SELECT ciphertext FROM credentials WHERE kind = 'slack_bot_token' AND tenant_id = $1",
            &[&app.tenant_id],
        )
        .await
        .expect("the sealed token")
        .get(0);
    assert!(!String::from_utf8_lossy(&stored).contains("xoxb"));
    let listing = get(&app, "/v1/integrations").await;
    assert_eq!(listing.status, 200, "{}", listing.text);
    let slack = &listing.json()["slack"];
    assert_eq!(slack["slack_team_id"], "T0NEWSPACE", "{}", listing.text);
    assert_eq!(slack["bot_user_id"], "U0HERALDBOT");
    assert!(!listing.text.contains("xoxb"), "{}", listing.text);
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(!logs.contains(token), "the bot token is in a log line");
    assert!(
        !logs.contains(LOCAL_SLACK_CLIENT_SECRET),
        "the client secret is in a log line"
    );

    // The installation works: a page reaches Slack with the new token.
    app.post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await;
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    let post = app.fakes.slack_posts().await;
    assert_eq!(
        post[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

#[tokio::test]
async fn a_forged_or_expired_state_is_refused_before_slack_is_asked() {
    let app = TestApp::spawn().await;
    let key = derive_key(Provider::Slack, LOCAL_SLACK_CLIENT_SECRET.as_bytes());
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            "forged (another key)",
            sign_state(b"not the app's secret", app.tenant_id, now + 600, [1; 16]),
        ),
        ("expired", sign_state(&key, app.tenant_id, now - 1, [2; 16])),
        ("garbage", "not-a-state".to_owned()),
    ];
    for (what, state) in cases {
        let refused = callback(&app, "T0FORGED-1", &state).await;
        assert_eq!(refused.status, 400, "{what}: {}", refused.text);
        assert_eq!(refused.json()["error"]["field"], "state", "{what}");
    }
    assert!(app.fakes.slack_oauth_exchanges().await.is_empty());
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_installations")
            .await,
        0
    );
    // Well signed with the app's key, but never issued: refused too (a state is
    // stored when issued), and Slack is still not asked.
    let never_issued = sign_state(&key, app.tenant_id, now + 600, [3; 16]);
    let refused = callback(&app, "T0SIGNED-1", &never_issued).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(app.fakes.slack_oauth_exchanges().await.is_empty());
    // One Herald issued installs.
    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0SIGNED-1", &query["state"]).await.status,
        200
    );
}

#[tokio::test]
async fn the_redirect_back_only_shows_whose_account_it_connects() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    let url: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", "T0PEEK-1")
        .append_pair("state", &query["state"])
        .finish();
    // The GET (the browser, or a link scanner fetching the URL) uses and stores nothing.
    for _ in 0..2 {
        let shown = app
            .request(
                "GET",
                &format!("/v1/integrations/slack/callback?{url}"),
                &[],
                b"",
            )
            .await;
        assert_eq!(shown.status, 200, "{}", shown.text);
        assert!(shown.text.contains("Herald account: <strong>Acme</strong>"));
        assert!(shown.text.contains(r#"<form method="post">"#));
        assert!(
            shown
                .headers
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("default-src 'none'")),
            "{:?}",
            shown.headers
        );
    }
    assert!(app.fakes.slack_oauth_exchanges().await.is_empty());
    assert_eq!(app.scalar_i64("SELECT count(*) FROM oauth_states").await, 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_installations")
            .await,
        0
    );
    // The button finishes it, once.
    assert_eq!(
        callback(&app, "T0PEEK-1", &query["state"]).await.status,
        200
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM oauth_states").await, 0);
}

#[tokio::test]
async fn a_state_works_once_even_when_two_callbacks_race() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    let state = query["state"].clone();
    let (a, b) = tokio::join!(
        callback(&app, "T0ONCE-1", &state),
        callback(&app, "T0ONCE-2", &state)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{} / {}", a.text, b.text);
    let refused = if a.status == 400 { a } else { b };
    assert_eq!(refused.json()["error"]["field"], "state");
    assert!(refused.text.contains("already used"), "{}", refused.text);
    // Later, with a fresh code: still refused, and Slack was asked once in all.
    let again = callback(&app, "T0ONCE-3", &state).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(app.fakes.slack_oauth_exchanges().await.len(), 1);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM oauth_states").await, 0);
}

/// The consent page's query for `recipient` connecting their own Slack account.
pub async fn start_connection(app: &TestApp, recipient: &str) -> HashMap<String, String> {
    let answer = get(
        app,
        &format!("/v1/recipients/{recipient}/connections/slack"),
    )
    .await;
    assert_eq!(answer.status, 302, "{}", answer.text);
    let location = answer.json()["authorize_url"]
        .as_str()
        .expect("a URL")
        .to_owned();
    url::Url::parse(&location)
        .expect("a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

async fn delete(app: &TestApp, path: &str) -> TestResponse {
    let bearer = app.bearer();
    app.request("DELETE", path, &[("authorization", bearer.as_str())], b"")
        .await
}

#[tokio::test]
async fn a_person_connects_their_slack_account_and_pages_reach_that_account() {
    let (_guard, logs) = capture_logs();
    let app = TestApp::spawn().await;
    // Not before the tenant installed Slack.
    let early = get(&app, "/v1/recipients/u-bo/connections/slack").await;
    assert_eq!(early.status, 409, "{}", early.text);
    assert!(early.text.contains("install Slack first"), "{}", early.text);

    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0TEAM-1", &query["state"]).await.status,
        200
    );
    let query = start_connection(&app, "u-bo").await;
    assert_eq!(query["user_scope"], "users:read");
    assert!(!query.contains_key("scope"), "{query:?}");
    let done = confirm(
        &app,
        "slack",
        "T0TEAM-user-U0BO00001-1",
        &query["state"],
        |page| {
            assert!(
                page.contains("Herald recipient: <strong>u-bo</strong>"),
                "{page}"
            );
        },
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["slack_user_id"], "U0BO00001");

    // Sealed, listed without the token, not logged.
    let token = "xoxp-fake-T0TEAM-user-U0BO00001-1";
    let stored: Vec<u8> = app
        .pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT ciphertext FROM credentials WHERE kind = 'slack_user_token'",
            &[],
        )
        .await
        .expect("the sealed token")
        .get(0);
    assert!(!String::from_utf8_lossy(&stored).contains("xoxp"));
    let listing = get(&app, "/v1/integrations").await;
    let connections = listing.json()["slack_connections"].clone();
    assert_eq!(connections[0]["recipient_id"], "u-bo", "{}", listing.text);
    assert_eq!(connections[0]["slack_user_id"], "U0BO00001");
    assert_eq!(connections[0]["status"], "connected");
    assert!(!listing.text.contains("xoxp"), "{}", listing.text);
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(!logs.contains(token), "the user token is in a log line");

    // The connected account is who Bo is in Slack: an escalation's payload naming
    // another Slack id does not redirect Bo's pages.
    app.post_escalation(&escalation_on(&["slack"], person("u-bo", "U0SOMEONE")))
        .await;
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    assert_eq!(
        app.fakes.slack_posts().await[0].body["channel"],
        "U0BO00001"
    );

    // One Slack account is one recipient; an account of another workspace is refused.
    let query = start_connection(&app, "u-cy").await;
    let taken = callback(&app, "T0TEAM-user-U0BO00001-2", &query["state"]).await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    let query = start_connection(&app, "u-cy").await;
    let elsewhere = callback(&app, "T0OTHER-user-U0CY00001-1", &query["state"]).await;
    assert_eq!(elsewhere.status, 409, "{}", elsewhere.text);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_connections")
            .await,
        1
    );

    // Removed once (204), then nothing to remove (404); the token goes with it.
    for expected in [204, 404] {
        let answer = delete(&app, "/v1/recipients/u-bo/connections/slack").await;
        assert_eq!(answer.status, expected, "{}", answer.text);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM credentials WHERE kind = 'slack_user_token'")
            .await,
        0
    );
    assert_eq!(
        get(&app, "/v1/integrations").await.json()["slack_connections"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn a_connected_account_is_one_persons_and_a_forwarded_link_cannot_take_it() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0MINE-1", &query["state"]).await.status,
        200
    );
    // Eve is known in Slack (an escalation said so) before she connects: the link sent
    // to her, opened by someone else signed in to Slack, connects nobody.
    app.post_escalation(&escalation_on(&["email"], person("u-eve", "U0EVE0001")))
        .await;
    let query = start_connection(&app, "u-eve").await;
    let forwarded = callback(&app, "T0MINE-user-U0MALLORY-1", &query["state"]).await;
    assert_eq!(forwarded.status, 409, "{}", forwarded.text);
    assert!(forwarded.text.contains("U0EVE0001"), "{}", forwarded.text);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_connections")
            .await,
        0
    );
    let query = start_connection(&app, "u-eve").await;
    let hers = callback(&app, "T0MINE-user-U0EVE0001-1", &query["state"]).await;
    assert_eq!(hers.status, 200, "{}", hers.text);

    // A payload giving her id to another recipient gives them nothing: no Slack id, so
    // no Slack page to her DM, and her clicks stay hers.
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-aaa", "U0EVE0001")))
        .await
        .json();
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM recipients WHERE external_id = 'u-aaa' AND slack_user_id IS NULL"
        )
        .await,
        1
    );
    app.dispatch_channel(Channel::Slack).await;
    assert_ne!(
        row(&app, notification_of(&created, Channel::Slack)).await["status"],
        "sent"
    );
    assert!(app.fakes.slack_posts().await.is_empty());
}

#[tokio::test]
async fn removing_the_installation_removes_the_peoples_connections() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0GONE-1", &query["state"]).await.status,
        200
    );
    let query = start_connection(&app, "u-di").await;
    assert_eq!(
        callback(&app, "T0GONE-user-U0DI00001-1", &query["state"])
            .await
            .status,
        200
    );
    assert_eq!(delete(&app, "/v1/integrations/slack").await.status, 204);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_connections")
            .await,
        0
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM credentials WHERE kind LIKE 'slack%'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_refused_code_or_denied_consent_is_a_clear_400() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    let refused = callback(&app, "bad-used-code", &query["state"]).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid_code")),
        "{}",
        refused.text
    );
    let denied = app
        .request(
            "GET",
            &format!(
                "/v1/integrations/slack/callback?error=access_denied&state={}",
                query["state"]
            ),
            &[],
            b"",
        )
        .await;
    assert_eq!(denied.status, 400, "{}", denied.text);
    let missing = app
        .request("GET", "/v1/integrations/slack/callback", &[], b"")
        .await;
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert_eq!(missing.json()["error"]["field"], "code");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM slack_installations")
            .await,
        0
    );
}

#[tokio::test]
async fn connections_are_listed_without_secrets_and_slack_can_be_removed() {
    let app = TestApp::spawn().await;
    let empty = get(&app, "/v1/integrations").await;
    assert_eq!(
        empty.json()["slack"],
        serde_json::Value::Null,
        "{}",
        empty.text
    );
    assert_eq!(empty.json()["teams_webhooks"], serde_json::json!([]));

    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0REMOVE-1", &query["state"]).await.status,
        200
    );
    let webhook = app.fakes.teams_webhook("list-me");
    let bearer = app.bearer();
    let put = app
        .request(
            "PUT",
            "/v1/recipients/u-ann/teams-webhook",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/json"),
            ],
            serde_json::json!({ "url": webhook }).to_string().as_bytes(),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let listing = get(&app, "/v1/integrations").await;
    let hooks = listing.json()["teams_webhooks"].clone();
    assert_eq!(hooks[0]["recipient_id"], "u-ann", "{}", listing.text);
    assert_eq!(hooks[0]["host"], "127.0.0.1");
    assert!(
        !listing.text.contains("list-me"),
        "the URL is write-only: {}",
        listing.text
    );

    // Another tenant sees none of it.
    let client = app.pool.get().await.expect("conn");
    let (_, other_key) = herald_local::stack::create_tenant(&client, "Other")
        .await
        .expect("tenant");
    let other = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&other_key)
    );
    let theirs = app
        .request(
            "GET",
            "/v1/integrations",
            &[("authorization", other.as_str())],
            b"",
        )
        .await;
    assert_eq!(
        theirs.json()["slack"],
        serde_json::Value::Null,
        "{}",
        theirs.text
    );
    assert_eq!(theirs.json()["teams_webhooks"], serde_json::json!([]));

    // Removed once (204); there is nothing left the second time (404).
    for expected in [204, 404] {
        let answer = app
            .request(
                "DELETE",
                "/v1/integrations/slack",
                &[("authorization", bearer.as_str())],
                b"",
            )
            .await;
        assert_eq!(answer.status, expected, "{}", answer.text);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM credentials WHERE kind = 'slack_bot_token'")
            .await,
        0
    );
    // Slack pages stop: no installation is "not connected".
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await
        .json();
    let id = notification_of(&created, Channel::Slack);
    app.dispatch_channel(Channel::Slack).await;
    assert_eq!(row(&app, id).await["reason"], "channel_not_connected");
}

#[tokio::test]
async fn install_needs_an_api_key_and_the_callback_does_not() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .request("GET", "/v1/integrations/slack/install", &[], b"")
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    let listing = app.request("GET", "/v1/integrations", &[], b"").await;
    assert_eq!(listing.status, 401);
}

#[tokio::test]
async fn a_revoked_token_is_shown_to_admins_and_not_sent_with_until_reinstalled() {
    let app = TestApp::spawn().await;
    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0REVOKE-1", &query["state"]).await.status,
        200
    );
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/api/chat.postMessage"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "ok": false, "error": "token_revoked" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.fakes.slack)
        .await;
    let page = || escalation_on(&["slack"], person("u-sam", "U0SAM0001"));
    let first = app.post_escalation(&page()).await.json();
    app.dispatch_channel(Channel::Slack).await;
    assert_eq!(
        row(&app, notification_of(&first, Channel::Slack)).await["status"],
        "failed"
    );

    // Admin-visible, not a silent failure: in the integrations and the system events.
    let events = get(&app, "/v1/system-events").await.json();
    assert_eq!(events["items"][0]["kind"], "credential_revoked", "{events}");
    assert_eq!(events["items"][0]["tenant_scoped"], true, "{events}");
    let listing = get(&app, "/v1/integrations").await.json();
    assert_eq!(listing["slack"]["status"], "revoked", "{listing}");
    assert!(
        listing["slack"]["revoked_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("token_revoked")),
        "{listing}"
    );
    // The next page is not sent with a token Slack refused.
    let posts_before = app.fakes.slack_posts().await.len();
    let second = app.post_escalation(&page()).await.json();
    app.dispatch_channel(Channel::Slack).await;
    let r = row(&app, notification_of(&second, Channel::Slack)).await;
    assert_eq!(
        (r["status"].as_str(), r["reason"].as_str()),
        (Some("suppressed"), Some("credential_revoked")),
        "{r}"
    );
    assert_eq!(app.fakes.slack_posts().await.len(), posts_before);

    // Another workspace never silently replaces the installed one.
    let query = start_install(&app).await;
    let other = callback(&app, "T0ELSEWHERE-1", &query["state"]).await;
    assert_eq!(other.status, 409, "{}", other.text);
    assert!(other.text.contains("remove it first"), "{}", other.text);
    assert_eq!(
        get(&app, "/v1/integrations").await.json()["slack"]["slack_team_id"],
        "T0REVOKE"
    );

    // Installing again clears it, and pages flow.
    let query = start_install(&app).await;
    assert_eq!(
        callback(&app, "T0REVOKE-2", &query["state"]).await.status,
        200
    );
    assert_eq!(
        get(&app, "/v1/integrations").await.json()["slack"]["status"],
        "connected"
    );
    let third = app.post_escalation(&page()).await.json();
    app.dispatch_channel(Channel::Slack).await;
    assert_eq!(
        row(&app, notification_of(&third, Channel::Slack)).await["status"],
        "sent"
    );
}
