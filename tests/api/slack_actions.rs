//! `POST /slack/actions`: a button click signed as Slack signs it acknowledges or
//! resolves through the magic link's path, once; forged, stale and replayed requests
//! are 401 and change nothing. However it was answered (button, link, API), the answer
//! is announced on the Slack queue and the Slack dispatcher rewrites every Slack message
//! of the escalation to say who answered.

use serde_json::json;
use uuid::Uuid;

use herald::domain::Channel;
use herald::domain::slack::{ACKNOWLEDGE_ACTION_ID, RESOLVE_ACTION_ID, button_click_body, sign};
use herald_local::stack::LOCAL_SLACK_SIGNING_SECRET;

use crate::channels::escalation_on;
use crate::helpers::{TestApp, TestResponse, unique_email};
use crate::slack::{install, person};

const TEAM: &str = "T0HERALD1";

/// Two people paged on Slack (and Sam by email too, at the address returned); the
/// Slack messages are out.
async fn paged(app: &TestApp) -> (Uuid, String) {
    install(app).await;
    let email = unique_email("sam");
    let mut body = escalation_on(&["slack", "email"], person("u-sam", "U0SAM0001"));
    body["recipients"] = json!([
        { "id": "u-sam", "name": "Sam Rivera", "slack_user_id": "U0SAM0001", "email": email },
        { "id": "u-ann", "name": "Ann Lee", "slack_user_id": "U0ANN0001" }
    ]);
    let created = app.post_escalation(&body).await.json();
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 2);
    let id = created["id"].as_str().expect("id").parse().expect("uuid");
    (id, email)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn press(user: &str, action_id: &str, escalation_id: Uuid) -> Vec<u8> {
    button_click_body(
        TEAM,
        user,
        action_id,
        escalation_id,
        ("D0HERALD01", "1790000000.000001"),
    )
}

/// Posts `body` as Slack would, signed with `secret` at `timestamp`.
pub async fn post(app: &TestApp, body: &[u8], timestamp: i64, secret: &str) -> TestResponse {
    let signature = sign(secret.as_bytes(), timestamp, body);
    let timestamp = timestamp.to_string();
    app.request(
        "POST",
        "/slack/actions",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-slack-request-timestamp", &timestamp),
            ("x-slack-signature", &signature),
            ("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)"),
        ],
        body,
    )
    .await
}

async fn click(app: &TestApp, body: &[u8]) -> TestResponse {
    post(app, body, now(), LOCAL_SLACK_SIGNING_SECRET).await
}

async fn status_of(app: &TestApp, id: Uuid) -> (String, Option<String>) {
    let row = app
        .pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT status, acknowledged_by FROM escalations WHERE id = $1",
            &[&id],
        )
        .await
        .expect("escalation");
    (row.get(0), row.get(1))
}

async fn events(app: &TestApp, id: Uuid, kind: &str) -> i64 {
    app.pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT count(*) FROM event_log WHERE escalation_id = $1 AND event_type = $2",
            &[&id, &kind],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn a_signed_click_acknowledges_and_every_slack_message_says_who() {
    let app = TestApp::spawn().await;
    let (id, _) = paged(&app).await;

    let answer = click(&app, &press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, id)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["outcome"], "applied", "{}", answer.text);
    assert_eq!(
        status_of(&app, id).await,
        ("acknowledged".into(), Some("Sam Rivera".into()))
    );
    let actor = app
        .pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT actor_type, actor_id, actor_user_agent FROM event_log \
             WHERE escalation_id = $1 AND event_type = 'escalation.acknowledged'",
            &[&id],
        )
        .await
        .expect("event");
    assert_eq!(actor.get::<_, String>(0), "recipient");
    assert_eq!(actor.get::<_, String>(1), "u-sam");
    assert_eq!(actor.get::<_, Option<String>>(2).as_deref(), Some("Slack"));
    // Sam's email was not sent yet: it never will be now.
    let email: String = app
        .pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT n.suppressed_reason FROM notification_log n JOIN recipients r ON r.id = n.recipient_id \
             WHERE n.escalation_id = $1 AND n.channel = 'email' AND r.external_id = 'u-sam'",
            &[&id],
        )
        .await
        .expect("email row")
        .get(0);
    assert_eq!(email, "escalation_acknowledged");

    // The answer is announced on the Slack queue; the Slack dispatcher rewrites both
    // messages (Sam's and Ann's) to say who acknowledged; Resolve stays.
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    let posted: Vec<String> = app
        .fakes
        .slack_posts()
        .await
        .iter()
        .map(|p| p.body["channel"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(posted.len(), 2);
    let updates = app.fakes.slack_updates().await;
    assert_eq!(updates.len(), 2, "every message is rewritten");
    let mut stamps: Vec<&str> = updates
        .iter()
        .map(|u| u.body["ts"].as_str().expect("ts"))
        .collect();
    stamps.sort_unstable();
    stamps.dedup();
    assert_eq!(stamps.len(), 2, "two different messages: {stamps:?}");
    for u in &updates {
        assert_eq!(
            u.header("authorization"),
            Some(format!("Bearer {}", crate::slack::TOKEN).as_str())
        );
        let text = u.body["text"].as_str().expect("text");
        assert!(text.starts_with("✅ Acknowledged by Sam Rivera"), "{text}");
        let buttons = u.body["blocks"]
            .as_array()
            .expect("blocks")
            .last()
            .expect("actions")["elements"]
            .clone();
        assert_eq!(buttons[0]["action_id"], RESOLVE_ACTION_ID, "{buttons}");
        assert!(!u.body.to_string().contains(ACKNOWLEDGE_ACTION_ID));
    }

    // Ann resolves from her message: recorded as hers, messages rewritten again.
    let answer = click(&app, &press("U0ANN0001", RESOLVE_ACTION_ID, id)).await;
    assert_eq!(answer.json()["outcome"], "applied", "{}", answer.text);
    assert_eq!(status_of(&app, id).await.0, "resolved");
    app.dispatch_channel(Channel::Slack).await;
    let updates = app.fakes.slack_updates().await;
    assert_eq!(updates.len(), 4);
    let last = updates.last().expect("update").body.to_string();
    assert!(last.contains("Resolved by Ann Lee"), "{last}");
    assert!(
        !last.contains(RESOLVE_ACTION_ID),
        "nothing left to press: {last}"
    );
}

#[tokio::test]
async fn forged_stale_and_replayed_requests_are_401_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = paged(&app).await;
    let body = press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, id);

    let forged = post(&app, &body, now(), "not-the-signing-secret").await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    let stale = post(&app, &body, now() - 301, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(stale.status, 401, "{}", stale.text);
    let future = post(&app, &body, now() + 301, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(future.status, 401, "{}", future.text);
    let unsigned = app
        .request(
            "POST",
            "/slack/actions",
            &[("content-type", "application/x-www-form-urlencoded")],
            &body,
        )
        .await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.text);
    // Signed, then one byte changed.
    let timestamp = now();
    let signature = sign(LOCAL_SLACK_SIGNING_SECRET.as_bytes(), timestamp, &body);
    let mut tampered = String::from_utf8(body.clone()).expect("utf-8");
    tampered = tampered.replace("U0SAM0001", "U0ANN0001");
    let tampered = app
        .request(
            "POST",
            "/slack/actions",
            &[
                ("x-slack-request-timestamp", &timestamp.to_string()),
                ("x-slack-signature", &signature),
            ],
            tampered.as_bytes(),
        )
        .await;
    assert_eq!(tampered.status, 401, "{}", tampered.text);
    assert_eq!(status_of(&app, id).await, ("triggered".into(), None));
    assert!(app.fakes.slack_updates().await.is_empty());

    // The genuine request acts once; the same request again is a replay.
    let timestamp = now();
    let genuine = post(&app, &body, timestamp, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(genuine.json()["outcome"], "applied", "{}", genuine.text);
    let events_before = app.scalar_i64("SELECT count(*) FROM event_log").await;
    let updates_before = app.fakes.slack_updates().await.len();
    let replayed = post(&app, &body, timestamp, LOCAL_SLACK_SIGNING_SECRET).await;
    assert_eq!(replayed.status, 401, "{}", replayed.text);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM event_log").await,
        events_before
    );
    // One answer, one rewrite of the two messages: the replay announced nothing.
    assert_eq!(updates_before, 0);
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    assert_eq!(app.fakes.slack_updates().await.len(), 2);
}

#[tokio::test]
async fn twenty_concurrent_clicks_acknowledge_exactly_once() {
    let app = TestApp::spawn().await;
    let (id, _) = paged(&app).await;
    let body = press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, id);
    // Twenty distinct requests (Slack signs each click with its own timestamp).
    let t = now();
    let answers = futures::future::join_all(
        (0..20).map(|i| post(&app, &body, t - i, LOCAL_SLACK_SIGNING_SECRET)),
    )
    .await;
    let outcomes: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.text);
            a.json()["outcome"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "already_done").count(),
        19,
        "{outcomes:?}"
    );
    assert_eq!(events(&app, id, "escalation.acknowledged").await, 1);
    // Only the winner announces: one rewrite of the two messages, not twenty.
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    assert_eq!(app.fakes.slack_updates().await.len(), 2);
}

#[tokio::test]
async fn only_people_paged_for_it_can_answer_from_slack() {
    let app = TestApp::spawn().await;
    let (id, _) = paged(&app).await;
    // A colleague Herald knows, but who was not paged for this escalation.
    app.post_escalation(&escalation_on(&["slack"], person("u-kim", "U0KIM0001")))
        .await;

    let cases = [
        (TEAM, "U0KIM0001", "you were not paged for this escalation"),
        (
            TEAM,
            "U0NOBODY01",
            "Herald does not know your Slack account",
        ),
        (
            "T0ELSEWHERE",
            "U0SAM0001",
            "this Slack workspace is not connected",
        ),
    ];
    for (team, user, why) in cases {
        let body = button_click_body(team, user, ACKNOWLEDGE_ACTION_ID, id, ("D0", "1.1"));
        let answer = click(&app, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json()["outcome"], "refused", "{user}");
        assert!(
            answer.json()["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(why)),
            "{user}: {}",
            answer.text
        );
    }
    // Another tenant's escalation id, pressed from this workspace: nothing happens.
    let other = Uuid::new_v4();
    let answer = click(&app, &press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, other)).await;
    assert_eq!(answer.json()["outcome"], "refused", "{}", answer.text);

    assert_eq!(status_of(&app, id).await, ("triggered".into(), None));
    assert_eq!(events(&app, id, "escalation.acknowledged").await, 0);
    // The Dashboard button, or any other interaction, is answered and ignored.
    let body = press("U0SAM0001", "herald_dashboard", id);
    assert_eq!(click(&app, &body).await.json()["outcome"], "ignored");
}

#[tokio::test]
async fn an_answer_by_magic_link_rewrites_the_slack_messages_too() {
    let app = TestApp::spawn().await;
    let (id, address) = paged(&app).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let email = app.emails_to(&address).await;
    let links = email[0].links();
    let done = app.magic("POST", &links[0]).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(status_of(&app, id).await.0, "acknowledged");
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    let updates = app.fakes.slack_updates().await;
    assert_eq!(updates.len(), 2, "both Slack messages");
    for u in &updates {
        let text = u.body["text"].as_str().expect("text");
        assert!(text.starts_with("✅ Acknowledged by Sam Rivera"), "{text}");
    }
}

#[tokio::test]
async fn an_answer_through_the_api_rewrites_the_slack_messages_too() {
    let app = TestApp::spawn().await;
    let (id, _) = paged(&app).await;
    let answer = app
        .api("POST", &format!("/v1/escalations/{id}/resolve"), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);
    let updates = app.fakes.slack_updates().await;
    assert_eq!(updates.len(), 2, "both Slack messages");
    for u in &updates {
        let text = u.body["text"].as_str().expect("text");
        assert!(text.starts_with("☑️ Resolved by API key"), "{text}");
        assert!(
            !u.body.to_string().contains(RESOLVE_ACTION_ID),
            "nothing left to press"
        );
    }
}

#[tokio::test]
async fn without_a_signing_secret_the_route_is_not_there() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        tune: Box::new(|config| config.slack_signing_secret = None),
        ..crate::helpers::Options::default()
    })
    .await;
    let (id, _) = paged(&app).await;
    let answer = click(&app, &press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, id)).await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(status_of(&app, id).await.0, "triggered");
}

#[tokio::test]
async fn another_tenants_escalation_is_never_answered_from_this_workspace() {
    let app = TestApp::spawn().await;
    let (own, _) = paged(&app).await;
    // Tenant B has its own workspace and pages someone with the same Slack user id.
    let client = app.pool.get().await.expect("conn");
    let (other, other_key) = herald_local::stack::create_tenant(&client, "Other")
        .await
        .expect("tenant");
    herald_local::stack::install_slack(&client, &app.config, other, "T0OTHER01", "xoxb-other")
        .await
        .expect("installed");
    let body = escalation_on(&["slack"], person("u-sam", "U0SAM0001"));
    let bearer = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&other_key)
    );
    let created = app
        .request(
            "POST",
            "/v1/escalations",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let theirs: Uuid = created.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    // Sam presses, from tenant A's workspace, with tenant B's escalation id.
    let answer = click(&app, &press("U0SAM0001", ACKNOWLEDGE_ACTION_ID, theirs)).await;
    assert_eq!(answer.json()["outcome"], "refused", "{}", answer.text);
    assert_eq!(status_of(&app, theirs).await, ("triggered".into(), None));
    assert_eq!(status_of(&app, own).await, ("triggered".into(), None));
}

#[tokio::test]
async fn a_message_posted_while_someone_answers_is_rewritten_by_its_own_dispatcher() {
    let app = TestApp::spawn().await;
    install(&app).await;
    // Slack takes its time with this post; the escalation is answered meanwhile.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/api/chat.postMessage"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(700))
                .set_body_json(
                    json!({ "ok": true, "channel": "D0SLOW0001", "ts": "1790000000.900001" }),
                ),
        )
        .with_priority(1)
        .mount(&app.fakes.slack)
        .await;
    let created = app
        .post_escalation(&escalation_on(&["slack"], person("u-sam", "U0SAM0001")))
        .await
        .json();
    let id: Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    let notification = crate::channels::notification_of(&created, Channel::Slack);
    let dispatcher = app.dispatcher(Channel::Slack);
    let ids = [notification];
    let (sent, answered) = tokio::join!(dispatcher.dispatch(&ids), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
            .await
    });
    assert_eq!(sent.expect("dispatch").sent, 1);
    assert_eq!(answered.status, 200, "{}", answered.text);
    // Without draining the queue: the dispatcher saw the answer when it recorded.
    let updates = app.fakes.slack_updates().await;
    assert_eq!(updates.len(), 1, "the late message is rewritten");
    assert_eq!(updates[0].body["ts"], "1790000000.900001");
    assert!(
        updates[0].body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("✅ Acknowledged by API key")),
        "{}",
        updates[0].body
    );
}
