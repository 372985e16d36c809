//! Answering by SMS reply: a page to a number carries that number's code for the
//! escalation ("Reply 1a to acknowledge, 1r to resolve"); the reply, published to the
//! inbound topic as End User Messaging publishes it and handed to the sms-reply function
//! through SQS, acknowledges or resolves once, through the magic link's path, and is
//! confirmed by SMS. Unknown and stale codes get help and change nothing; STOP and HELP
//! are the carrier's; a code only ever reaches a page its own number was sent.

use herald::domain::Channel;
use herald_local::stack::{self, LOCAL_SMS_NUMBER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::channels::escalation_on;
use crate::helpers::{Options, TestApp, magic_tokens, unique_phone};

/// A stack whose SMS pages carry reply codes, sent from the local two-way number.
async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        tune: Box::new(|config| {
            let sms = &mut config.channels.entry(Channel::Sms).or_default().provider;
            sms.insert("SMS_REPLY_CODES", "true".into());
            sms.insert("SMS_ORIGINATION_NUMBER", LOCAL_SMS_NUMBER.into());
            // These tests page one number more often than its SMS limit allows.
            config.rate_limits.limits = herald::domain::rate_limit::RateLimits::default()
                .with(Channel::Sms, herald::domain::rate_limit::Limits::default());
        }),
        ..Options::default()
    })
    .await
}

/// Pages `phone` by SMS with `key`'s tenant; the SMS is out. Returns the escalation id.
async fn page_as(app: &TestApp, key: &SecretString, phone: &str, title: &str) -> Uuid {
    let mut body = escalation_on(
        &["sms"],
        json!({ "id": "u-alice", "name": "Alice Martin", "phone": phone }),
    );
    body["title"] = json!(title);
    let bearer = format!("Bearer {}", key.expose_secret());
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
    assert!(app.dispatch_channel(Channel::Sms).await >= 1);
    created.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

async fn page(app: &TestApp, phone: &str, title: &str) -> Uuid {
    page_as(app, &app.api_key, phone, title).await
}

async fn escalation(app: &TestApp, id: Uuid) -> Value {
    app.api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json()
}

/// How many times the audit log says `id` was acknowledged / resolved.
async fn applied(app: &TestApp, id: Uuid, event: &str) -> i64 {
    app.scalar_i64(&format!(
        "SELECT count(*) FROM event_log WHERE escalation_id = '{id}' AND event_type = '{event}'"
    ))
    .await
}

#[tokio::test]
async fn a_reply_acknowledges_once_confirms_by_sms_and_tells_slack() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Primary database CPU above 95%").await;

    let sms = app.sms_to(&phone).await;
    assert_eq!(
        sms,
        vec![
            "[CRITICAL] Primary database CPU above 95% Reply 1a to acknowledge, 1r to resolve."
                .to_owned()
        ]
    );
    assert!(magic_tokens(&sms[0]).is_empty(), "no link: {}", sms[0]);

    let stats = app.text_herald(&phone, " 1A ").await;
    assert_eq!((stats.received, stats.deleted), (1, 1));
    let state = escalation(&app, id).await;
    assert_eq!(state["status"], "acknowledged");
    assert_eq!(state["acknowledged"]["by"], "Alice Martin");
    assert_eq!(
        app.sms_to(&phone).await[1],
        "Herald: acknowledged \"Primary database CPU above 95%\". Reply 1r to resolve."
    );
    // The answer was announced on the Slack queue (dispatch-slack rewrites the
    // escalation's Slack messages from it).
    assert_eq!(app.dispatch_channel(Channel::Slack).await, 1);

    // The same reply again (a new message): nothing changes, and Alice is told.
    app.text_herald(&phone, "1a").await;
    assert_eq!(
        app.sms_to(&phone).await[2],
        "Herald: \"Primary database CPU above 95%\" was already acknowledged by Alice Martin. Nothing changed."
    );
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM event_log WHERE escalation_id = '{id}' \
             AND event_type = 'escalation.acknowledged' AND actor_type = 'recipient'"
        ))
        .await,
        1,
        "recorded as Alice's"
    );
}

#[tokio::test]
async fn a_reply_resolves_once() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Disk full on orders-db").await;

    app.text_herald(&phone, "1r").await;
    let state = escalation(&app, id).await;
    assert_eq!(state["status"], "resolved");
    assert_eq!(state["resolved"]["by"], "Alice Martin");
    assert_eq!(
        app.sms_to(&phone).await[1],
        "Herald: resolved \"Disk full on orders-db\"."
    );

    app.text_herald(&phone, "resolve 1").await;
    app.text_herald(&phone, "1a").await;
    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 4, "{sms:?}");
    for answer in &sms[2..] {
        assert_eq!(
            answer,
            "Herald: \"Disk full on orders-db\" was already resolved by Alice Martin. Nothing changed."
        );
    }
    assert_eq!(applied(&app, id, "escalation.resolved").await, 1);
}

#[tokio::test]
async fn a_redelivered_reply_acts_and_answers_once() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Queue depth above 10k").await;

    // SQS delivers at least once: the same inbound message three times.
    let payload = stack::inbound_sms_payload(&phone, "1a");
    for _ in 0..3 {
        app.publish_inbound(&payload).await;
    }
    let mut handled = 0;
    while handled < 3 {
        let stats = app.poll_replies().await;
        assert_eq!(stats.returned, 0);
        handled += stats.received;
    }
    assert_eq!(escalation(&app, id).await["status"], "acknowledged");
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
    assert_eq!(app.sms_to(&phone).await.len(), 2, "the page and one answer");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM sms_replies WHERE answered_at IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn an_unknown_code_or_an_unreadable_reply_gets_help_at_most_every_ten_minutes() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Checkout 5xx above 2%").await;

    app.text_herald(&phone, "7a").await;
    let sms = app.sms_to(&phone).await;
    assert_eq!(
        sms[1],
        "Herald: no open page to this number has code 7. Reply with the code in the page and a to acknowledge or r to resolve, e.g. 4a or 4r."
    );
    // An auto-responder answering the help must not start a loop.
    for body in ["ok thanks", "7a", "a", "1 a 2"] {
        app.text_herald(&phone, body).await;
    }
    assert_eq!(
        app.sms_to(&phone).await.len(),
        2,
        "help once in ten minutes"
    );
    assert_eq!(escalation(&app, id).await["status"], "triggered");

    // Ten minutes later, an unreadable reply gets help again.
    app.execute("UPDATE sms_replies SET received_at = now() - interval '11 minutes'")
        .await;
    app.text_herald(&phone, "ok").await;
    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 3);
    assert!(
        sms[2].starts_with("Herald: Reply with the code"),
        "{}",
        sms[2]
    );
    assert_eq!(escalation(&app, id).await["status"], "triggered");
}

#[tokio::test]
async fn a_stale_code_gets_help_and_never_acts() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Certificate expires in 3 days").await;
    app.api("POST", &format!("/v1/escalations/{id}/resolve"), None)
        .await;
    // An hour after the resolution, retention drops the code.
    app.execute(&format!(
        "UPDATE escalations SET resolved_at = now() - interval '61 minutes' WHERE id = '{id}'"
    ))
    .await;
    let summary = app.retention_once().await;
    assert_eq!(summary.deleted["sms_reply_codes"], 1, "{summary:?}");

    app.text_herald(&phone, "1a").await;
    let sms = app.sms_to(&phone).await;
    assert!(
        sms[1].starts_with("Herald: no open page to this number has code 1."),
        "{sms:?}"
    );
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 0);
}

#[tokio::test]
async fn stop_and_help_are_the_carriers_and_never_act() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Replica lag above 30 s").await;
    for body in ["STOP", "stop 1a", "HELP", "Help 1r", "UNSUBSCRIBE", "start"] {
        let stats = app.text_herald(&phone, body).await;
        assert_eq!(stats.deleted, 1, "{body}");
    }
    assert_eq!(escalation(&app, id).await["status"], "triggered");
    assert_eq!(
        app.sms_to(&phone).await.len(),
        1,
        "Herald answers none of them"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM sms_replies WHERE outcome = 'carrier_keyword'")
            .await,
        6
    );
}

#[tokio::test]
async fn codes_are_per_number_so_another_tenants_code_never_acts() {
    let app = spawn().await;
    let client = app.pool.get().await.expect("conn");
    let (_, other_key) = stack::create_tenant(&client, "Other")
        .await
        .expect("tenant");
    let (mine, theirs) = (unique_phone(), unique_phone());
    let own = page(&app, &mine, "Ours: API latency").await;
    let other = page_as(&app, &other_key, &theirs, "Theirs: batch job late").await;
    // Both numbers got code 1, each for its own tenant's page.
    assert!(app.sms_to(&mine).await[0].contains("Reply 1a"));
    assert!(app.sms_to(&theirs).await[0].contains("Reply 1a"));

    // The other tenant's person answers their code: only their page changes.
    app.text_herald(&theirs, "1a").await;
    assert_eq!(escalation(&app, own).await["status"], "triggered");
    let answer = app
        .api("GET", &format!("/v1/escalations/{other}"), None)
        .await;
    assert_eq!(answer.status, 404, "not this tenant's escalation");
    assert_eq!(applied(&app, other, "escalation.acknowledged").await, 1);

    // One number paged by both tenants holds two codes, one per page.
    let shared = unique_phone();
    let first = page(&app, &shared, "Ours: shared on-call phone").await;
    let second = page_as(&app, &other_key, &shared, "Theirs: shared on-call phone").await;
    let sms = app.sms_to(&shared).await;
    assert!(sms[0].contains("Reply 1a"), "{sms:?}");
    assert!(sms[1].contains("Reply 2a"), "{sms:?}");
    app.text_herald(&shared, "2a").await;
    assert_eq!(applied(&app, second, "escalation.acknowledged").await, 1);
    assert_eq!(escalation(&app, first).await["status"], "triggered");
    // And a code that number never got acts on nothing.
    app.text_herald(&shared, "3a").await;
    assert_eq!(escalation(&app, first).await["status"], "triggered");
}

#[tokio::test]
async fn a_page_sent_again_keeps_its_code_and_a_code_is_reused_only_once_its_page_is_resolved() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Payments degraded").await;
    // The page's delivery fails and is retried: the same code again.
    app.execute(&format!(
        "UPDATE notification_log SET status = 'failed', next_attempt_at = now() WHERE escalation_id = '{id}'"
    ))
    .await;
    assert_eq!(app.retry_once().await.requeued_failed, 1);
    app.dispatch_channel(Channel::Sms).await;
    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert!(sms[1].contains("Reply 1a"), "{}", sms[1]);

    // 97 pages later (the counter says so) the next page gets 99; the one after would
    // get 1 again, but code 1 still stands for the open "Payments degraded": that page
    // goes out with its acknowledge link instead, and 1a still answers the old page.
    app.execute(&format!(
        "UPDATE sms_reply_counters SET issued = 98 WHERE phone = '{phone}'"
    ))
    .await;
    let ninety_nine = page(&app, &phone, "Page ninety-nine").await;
    let no_code = page(&app, &phone, "Page one hundred").await;
    let sms = app.sms_to(&phone).await;
    assert!(sms[2].contains("Reply 99a"), "{}", sms[2]);
    assert!(
        sms[3].starts_with("[CRITICAL] Page one hundred Ack: ") && magic_tokens(&sms[3]).len() == 1,
        "{}",
        sms[3]
    );
    app.text_herald(&phone, "1a").await;
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
    assert_eq!(escalation(&app, no_code).await["status"], "triggered");
    assert_eq!(escalation(&app, ninety_nine).await["status"], "triggered");

    // Once "Payments degraded" is resolved, its code may stand for a new page.
    app.text_herald(&phone, "1r").await;
    app.execute(&format!(
        "UPDATE sms_reply_counters SET issued = 99 WHERE phone = '{phone}'"
    ))
    .await;
    let reused = page(&app, &phone, "Page one hundred and one").await;
    let sms = app.sms_to(&phone).await;
    assert!(
        sms.last().is_some_and(|t| t.contains("Reply 1a")),
        "{sms:?}"
    );
    app.text_herald(&phone, "1a").await;
    assert_eq!(applied(&app, reused, "escalation.acknowledged").await, 1);
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
}

#[tokio::test]
async fn two_copies_of_one_reply_handled_at_once_act_and_answer_once() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Search cluster red").await;
    let sms =
        herald::sms_reply::InboundSms::from_sqs_body(&stack::inbound_sms_payload(&phone, "1a"))
            .expect("payload");
    let now = Some(chrono::Utc::now());
    let (a, b) = tokio::join!(
        app.sms_replies.handle(&sms, now),
        app.sms_replies.handle(&sms, now)
    );
    let (a, b) = (a.expect("handled"), b.expect("handled"));
    assert_eq!(
        [a.outcome.is_some(), b.outcome.is_some()]
            .iter()
            .filter(|x| **x)
            .count(),
        1,
        "one of them acted: {a:?} {b:?}"
    );
    assert_eq!(u8::from(a.answered) + u8::from(b.answered), 1);
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert!(sms[1].starts_with("Herald: acknowledged"), "{}", sms[1]);
}

#[tokio::test]
async fn a_reply_that_arrives_hours_late_never_acts() {
    let app = spawn().await;
    let phone = unique_phone();
    let id = page(&app, &phone, "Backups failing").await;
    let sms =
        herald::sms_reply::InboundSms::from_sqs_body(&stack::inbound_sms_payload(&phone, "1a"))
            .expect("payload");
    // Redriven from the DLQ three days after SQS got it.
    let sent_at = chrono::Utc::now() - chrono::TimeDelta::days(3);
    let handled = app
        .sms_replies
        .handle(&sms, Some(sent_at))
        .await
        .expect("handled");
    assert_eq!(
        handled.outcome,
        Some(herald::db::sms::ReplyOutcome::TooLate)
    );
    assert_eq!(escalation(&app, id).await["status"], "triggered");
    let sms = app.sms_to(&phone).await;
    assert!(
        sms[1].starts_with("Herald: your reply reached Herald too late"),
        "{sms:?}"
    );
}

#[tokio::test]
async fn two_people_sharing_a_phone_get_one_code_for_the_page() {
    let app = spawn().await;
    let phone = unique_phone();
    let mut body = escalation_on(
        &["sms"],
        json!({ "id": "u-alice", "name": "Alice Martin", "phone": phone }),
    );
    body["recipients"] = json!([
        { "id": "u-alice", "name": "Alice Martin", "phone": phone },
        { "id": "u-night", "name": "Night desk", "phone": phone }
    ]);
    let created = app.post_escalation(&body).await.json();
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 2);
    let sms = app.sms_to(&phone).await;
    assert_eq!(sms.len(), 2);
    assert!(sms.iter().all(|t| t.contains("Reply 1a")), "{sms:?}");
    app.text_herald(&phone, "1a").await;
    let id: Uuid = created["id"].as_str().expect("id").parse().expect("uuid");
    assert_eq!(applied(&app, id, "escalation.acknowledged").await, 1);
}

#[tokio::test]
async fn two_batches_paging_one_number_at_once_never_share_a_code() {
    let app = spawn().await;
    let phone = unique_phone();
    let mut ids = Vec::new();
    for i in 0..6 {
        let mut body = escalation_on(
            &["sms"],
            json!({ "id": "u-alice", "name": "Alice Martin", "phone": phone }),
        );
        body["title"] = json!(format!("Incident {i}"));
        let created = app.post_escalation(&body).await.json();
        ids.push(crate::channels::notification_of(&created, Channel::Sms));
    }
    // Three claims at once, two rows each.
    let dispatcher = app.dispatcher(Channel::Sms);
    let summaries =
        futures::future::join_all(ids.chunks(2).map(|pair| dispatcher.dispatch(pair))).await;
    for s in summaries {
        assert_eq!(s.expect("dispatch").sent, 2);
    }
    let mut codes: Vec<String> = app
        .sms_to(&phone)
        .await
        .iter()
        .map(|t| {
            t.split("Reply ")
                .nth(1)
                .and_then(|r| r.split('a').next())
                .expect("a code")
                .to_owned()
        })
        .collect();
    codes.sort();
    assert_eq!(codes, ["1", "2", "3", "4", "5", "6"]);
}

#[tokio::test]
async fn a_malformed_inbound_message_is_dropped_not_retried() {
    let app = spawn().await;
    for body in [
        "not json",
        r#"{"originationNumber":"HERALD","messageBody":"1a","inboundMessageId":"x"}"#,
    ] {
        app.publish_inbound(body).await;
        let stats = app.poll_replies().await;
        assert_eq!((stats.received, stats.deleted, stats.returned), (1, 1, 0));
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM sms_replies").await, 0);
}
