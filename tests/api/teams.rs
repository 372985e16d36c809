//! Teams: a card per page to the recipient's (or their team's) Workflows webhook, the
//! webhook URL sealed at rest and never in a log line, an answer, or the `error` column.

use herald::channels::teams::TeamsWebhook;
use herald::dispatch::{Dispatch, Dispatcher};
use herald::domain::Channel;
use herald::warm::Warm;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::channels::{NASTY_TITLE, escalation_on, notification_of, redeliver_twice, row, row_of};
use crate::helpers::{TestApp, capture_logs, magic_tokens, sdk_config};

async fn register(app: &TestApp, owner: &str, url: &str) -> crate::helpers::TestResponse {
    app.api(
        "PUT",
        &format!("/v1/{owner}/teams-webhook"),
        Some(&json!({ "url": url })),
    )
    .await
}

fn unique(name: &str) -> String {
    format!("{name}-{}", Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_card_goes_to_the_recipients_webhook_once_with_link_buttons() {
    let app = TestApp::spawn().await;
    let hook = unique("tom");
    let registered = register(&app, "recipients/u-tom", &app.fakes.teams_webhook(&hook)).await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    let shown = registered.json();
    assert_eq!(shown["recipient_id"], "u-tom");
    assert_eq!(shown["host"], "127.0.0.1");
    assert!(
        !registered.text.contains(&hook),
        "the URL is write-only: {}",
        registered.text
    );

    let created = app
        .post_escalation(&escalation_on(
            &["teams"],
            json!({ "id": "u-tom", "name": "Tom" }),
        ))
        .await
        .json();
    let id = notification_of(&created, Channel::Teams);
    assert_eq!(app.dispatch_channel(Channel::Teams).await, 1);

    let posts = app.fakes.teams_posts(&hook).await;
    assert_eq!(posts.len(), 1);
    let card = &posts[0].body["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let content = &card["content"];
    assert_eq!(content["version"], "1.4");
    assert_eq!(
        content["body"][0]["text"],
        format!("[CRITICAL] {NASTY_TITLE}")
    );
    let actions = content["actions"].as_array().expect("actions");
    assert_eq!(actions[0]["title"], "Acknowledge");
    assert_eq!(actions[1]["title"], "Resolve");
    assert!(actions.iter().all(|a| a["type"] == "Action.OpenUrl"));
    assert!(posts[0].body.to_string().len() < 28 * 1024);
    let r = row(&app, id).await;
    assert_eq!(r["status"], "sent", "{r}");
    assert_eq!(
        r["provider_message_id"],
        Value::Null,
        "Workflows gives no id"
    );

    redeliver_twice(&app, Channel::Teams, id).await;
    assert_eq!(app.fakes.teams_posts(&hook).await.len(), 1, "sent once");

    let ack = magic_tokens(actions[0]["url"].as_str().expect("url"));
    assert_eq!(app.magic("POST", &ack[0]).await.status, 200);
}

#[tokio::test]
async fn a_teams_webhook_carries_one_card_for_everyone_in_it_without_their_own() {
    let app = TestApp::spawn().await;
    let team = unique("platform");
    assert_eq!(
        register(
            &app,
            &format!("teams/{team}"),
            &app.fakes.teams_webhook(&team)
        )
        .await
        .status,
        200
    );
    let own = unique("dee");
    register(&app, "recipients/u-dee", &app.fakes.teams_webhook(&own)).await;
    let mut body = escalation_on(&["teams"], json!({ "id": "u-ann", "name": "Ann" }));
    body["team"] = json!(team);
    body["recipients"] = json!([
        { "id": "u-ann", "name": "Ann" },
        { "id": "u-bob", "name": "Bob" },
        { "id": "u-cat", "name": "Cat" },
        { "id": "u-dee", "name": "Dee" },
    ]);
    let created = app.post_escalation(&body).await.json();
    app.dispatch_channel(Channel::Teams).await;

    let posts = app.fakes.teams_posts(&team).await;
    assert_eq!(
        posts.len(),
        1,
        "one card in the team channel, not one per person"
    );
    assert!(
        posts[0]
            .body
            .to_string()
            .contains(&format!("the {team} team")),
        "the card says it is for the team"
    );
    assert_eq!(
        app.fakes.teams_posts(&own).await.len(),
        1,
        "Dee has her own"
    );
    let mut statuses = Vec::new();
    for n in created["notifications"].as_array().expect("rows") {
        let r = row(&app, n["id"].as_str().expect("id").parse().expect("uuid")).await;
        statuses.push((
            r["status"].as_str().unwrap_or_default().to_owned(),
            r["reason"].clone(),
        ));
    }
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        statuses,
        vec![
            ("sent".to_owned(), Value::Null),
            ("sent".to_owned(), Value::Null),
            ("suppressed".to_owned(), json!("sent_to_team_channel")),
            ("suppressed".to_owned(), json!("sent_to_team_channel")),
        ]
    );
}

#[tokio::test]
async fn provider_answers_are_classified_and_retry_after_is_honoured() {
    let app = TestApp::spawn().await;
    let cases: [(&str, u16, bool, &str); 4] = [
        ("throttled", 429, true, "HTTP429"),
        ("broken", 503, true, "HTTP503"),
        ("bad", 400, false, "HTTP400"),
        ("gone", 404, false, "HTTP404"),
    ];
    let mut recipients = Vec::new();
    for (name, status, _, _) in cases {
        let hook = unique(name);
        let mut answer = ResponseTemplate::new(status);
        if status == 429 {
            answer = answer.insert_header("retry-after", "120");
        }
        Mock::given(method("POST"))
            .and(path(format!("/teams/{hook}")))
            .respond_with(answer)
            .mount(&app.fakes.teams)
            .await;
        let who = format!("u-{name}");
        register(
            &app,
            &format!("recipients/{who}"),
            &app.fakes.teams_webhook(&hook),
        )
        .await;
        recipients.push(json!({ "id": who }));
    }
    let mut body = escalation_on(&["teams"], recipients[0].clone());
    body["recipients"] = json!(recipients);
    let created = app.post_escalation(&body).await.json();
    app.dispatch_channel(Channel::Teams).await;

    for (name, _, retryable, code) in cases {
        let r = row_of(&app, &created, &format!("u-{name}")).await;
        assert_eq!(r.get::<_, String>("status"), "failed", "{name}");
        assert_eq!(
            r.get::<_, Option<bool>>("retryable"),
            Some(retryable),
            "{name}"
        );
        let error: String = r.get("error");
        assert!(error.starts_with(code), "{name}: {error}");
        let wait: Option<f64> = r.get("wait");
        assert_eq!(
            wait.is_some(),
            retryable,
            "{name}: a retry only when retryable"
        );
        if name == "throttled" {
            assert!(
                wait.is_some_and(|w| w > 110.0),
                "Retry-After: 120 is a floor, got {wait:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_recipient_without_any_webhook_is_suppressed_for_want_of_an_address() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_on(&["teams"], json!({ "id": "u-nobody" })))
        .await
        .json();
    let id = notification_of(&created, Channel::Teams);
    app.dispatch_channel(Channel::Teams).await;
    let r = row(&app, id).await;
    assert_eq!(r["status"], "suppressed", "{r}");
    assert_eq!(r["reason"], "no_address_for_channel", "{r}");
}

#[tokio::test]
async fn only_workflows_hosts_are_accepted_and_removing_a_webhook_works() {
    let app = TestApp::spawn().await;
    for bad in [
        "https://169.254.169.254/latest",
        "ftp://127.0.0.1/x",
        "not a url",
    ] {
        let r = register(&app, "recipients/u-x", bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], "url");
    }
    let r = app
        .api(
            "PUT",
            "/v1/recipients/u-x/teams-webhook",
            Some(&json!({ "uri": "x" })),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (400, Some("unknown_field"))
    );
    assert_eq!(
        register(&app, "recipients/u-x", &app.fakes.teams_webhook("x"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.api("DELETE", "/v1/recipients/u-x/teams-webhook", None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.api("DELETE", "/v1/recipients/u-x/teams-webhook", None)
            .await
            .status,
        404
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM credentials").await, 0);
}

#[tokio::test]
async fn webhook_urls_are_sealed_at_rest_and_never_reach_logs_or_errors() {
    let (_guard, logs) = capture_logs();
    let app = TestApp::spawn().await;
    let secret = format!("sig{}", Uuid::new_v4().simple());
    // One webhook that works, one whose host refuses connections (the HTTP client's
    // error names the URL it called), one that answers 500.
    let working = format!("{}?sig={secret}", app.fakes.teams_webhook(&unique("w")));
    let refused = format!("http://127.0.0.1:9/teams/x?sig={secret}");
    let failing_hook = unique("f");
    Mock::given(method("POST"))
        .and(path(format!("/teams/{failing_hook}")))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("echo {secret}")))
        .mount(&app.fakes.teams)
        .await;
    let failing = format!("{}?sig={secret}", app.fakes.teams_webhook(&failing_hook));
    let mut answers = String::new();
    for (who, url) in [("u-w", &working), ("u-r", &refused), ("u-f", &failing)] {
        answers.push_str(&register(&app, &format!("recipients/{who}"), url).await.text);
    }
    let mut body = escalation_on(&["teams"], json!({ "id": "u-w" }));
    body["recipients"] = json!([{ "id": "u-w" }, { "id": "u-r" }, { "id": "u-f" }]);
    let created = app.post_escalation(&body).await.json();
    app.dispatch_channel(Channel::Teams).await;
    let detail = app
        .api(
            "GET",
            &format!("/v1/escalations/{}", created["id"].as_str().expect("id")),
            None,
        )
        .await;
    answers.push_str(&detail.text);

    let detail_json = detail.json();
    let statuses: Vec<&str> = detail_json["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        1,
        "{statuses:?}"
    );
    assert!(
        !answers.contains(&secret),
        "an API answer shows the URL: {answers}"
    );
    let client = app.pool.get().await.expect("conn");
    let in_db: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM credentials WHERE position(convert_to($1, 'UTF8') in ciphertext) > 0)
                  + (SELECT count(*) FROM notification_log WHERE position($1 in coalesce(error, '')) > 0)
                  + (SELECT count(*) FROM event_log WHERE position($1 in detail::text) > 0)",
            &[&secret],
        )
        .await
        .expect("grep the database")
        .get(0);
    assert_eq!(in_db, 0, "the secret is stored only sealed");
    let key_ids: i64 = app
        .scalar_i64(
            "SELECT count(*) FROM credentials WHERE key_id = 'local-1' AND length(ciphertext) > 40",
        )
        .await;
    assert_eq!(key_ids, 3);
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(logs.contains("delivery failed"), "the failures were logged");
    let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(&secret)).collect();
    assert!(
        leaks.is_empty(),
        "log lines carry the webhook URL: {leaks:#?}"
    );
}

#[tokio::test]
async fn after_a_key_rotation_old_webhooks_still_open_and_new_ones_use_the_new_key() {
    let mut app = TestApp::spawn().await;
    let old_hook = unique("old");
    register(
        &app,
        "recipients/u-old",
        &app.fakes.teams_webhook(&old_hook),
    )
    .await;

    // The keys rotate: k2 is current, the old key still listed.
    let new_key = base64_key(9);
    let rotated_keys = format!("k2={new_key},{}", herald_local::stack::LOCAL_SECRET_KEYS);
    let mut config = app.config.clone();
    config.secret_keys = Some(herald::config::SecretSource::Inline(
        rotated_keys.clone().into(),
    ));
    let rotated = Dispatcher::<TeamsWebhook>::new(&config, Warm::ready(sdk_config().await))
        .await
        .expect("dispatcher");
    let created = app
        .post_escalation(&escalation_on(&["teams"], json!({ "id": "u-old" })))
        .await
        .json();
    let id = notification_of(&created, Channel::Teams);
    let summary = rotated.dispatch(&[id]).await.expect("dispatch");
    assert_eq!(
        summary.sent, 1,
        "sealed with the old key, opened after the rotation"
    );
    assert_eq!(app.fakes.teams_posts(&old_hook).await.len(), 1);

    let mut recipients = app.recipients.clone();
    recipients.keyring = Some(Warm::ready(
        herald::secrets::Keyring::parse(&rotated_keys.into()).expect("keys"),
    ));
    let before = std::mem::replace(&mut app.recipients, recipients);
    let shown = register(&app, "recipients/u-new", &app.fakes.teams_webhook("new"))
        .await
        .json();
    app.recipients = before;
    assert_eq!(shown["key_id"], "k2", "new writes use the current key");
}

fn base64_key(byte: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[tokio::test]
async fn a_provider_set_up_that_fails_hands_the_rows_back_with_their_attempt_uncounted() {
    let app = TestApp::spawn().await;
    let hook = unique("kim");
    register(&app, "recipients/u-kim", &app.fakes.teams_webhook(&hook)).await;
    let created = app
        .post_escalation(&escalation_on(&["teams"], json!({ "id": "u-kim" })))
        .await
        .json();
    let id = notification_of(&created, Channel::Teams);

    // The keys cannot be read (no secrets extension here): nothing may be sent, nothing
    // counted, and the row must not sit in `sending` until its lease runs out.
    let mut config = app.config.clone();
    config.secret_keys = Some(herald::config::SecretSource::SecretArn(
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:herald-keys-AbCdEf".into(),
    ));
    let broken = Dispatcher::<TeamsWebhook>::new(&config, Warm::ready(sdk_config().await))
        .await
        .expect("dispatcher");
    assert!(
        broken.dispatch(&[id]).await.is_err(),
        "SQS gets the message back"
    );
    let r = row(&app, id).await;
    assert_eq!(
        (r["status"].as_str(), r["attempt_count"].as_i64()),
        (Some("queued"), Some(0)),
        "{r}"
    );
    assert!(app.fakes.teams_posts(&hook).await.is_empty());

    let summary = app
        .dispatcher(Channel::Teams)
        .dispatch(&[id])
        .await
        .expect("dispatch");
    assert_eq!(summary.sent, 1);
    assert_eq!(row(&app, id).await["attempt_count"], 1);
}
