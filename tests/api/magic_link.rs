use std::collections::HashMap;

use serde_json::json;

use crate::helpers::{TestApp, escalation_for, unique_email};

/// Ingests, dispatches, and returns the escalation id and the email's (ack, resolve) tokens.
async fn delivered(app: &TestApp, to: &str) -> (String, String, String) {
    let created = app.post_escalation(&escalation_for(to)).await.json();
    app.dispatch_all().await;
    let emails = app.emails_to(to).await;
    assert_eq!(emails.len(), 1);
    let links = emails[0].links();
    (
        created["id"].as_str().expect("id").to_owned(),
        links[0].clone(),
        links[1].clone(),
    )
}

#[tokio::test]
async fn get_shows_a_confirmation_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, ack, _) = delivered(&app, &unique_email("alice")).await;
    let events_before = app.scalar_i64("SELECT count(*) FROM event_log").await;

    for _ in 0..3 {
        let page = app.magic("GET", &ack).await;
        assert_eq!(page.status, 200);
        assert!(page.text.contains("<form method=\"post\">"));
        assert!(page.text.contains("Acknowledge this escalation?"));
        assert_eq!(page.headers["cache-control"], "no-store");
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );
    }

    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM magic_link_tokens WHERE used_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM event_log").await,
        events_before
    );
    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    assert_eq!(detail["status"], "triggered");
}

#[tokio::test]
async fn post_acknowledges_and_records_who_from_where() {
    let app = TestApp::spawn().await;
    let (id, ack, resolve) = delivered(&app, &unique_email("alice")).await;

    let page = app.magic("POST", &ack).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Acknowledged by Alice Martin"));
    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["acknowledged"]["by"], "Alice Martin");
    let client = app.pool.get().await.expect("conn");
    let row = client
        .query_one(
            "SELECT actor_type, actor_id, host(actor_ip) AS ip, actor_user_agent FROM event_log \
             WHERE event_type = 'escalation.acknowledged'",
            &[],
        )
        .await
        .expect("event");
    assert_eq!(row.get::<_, &str>("actor_type"), "recipient");
    assert_eq!(row.get::<_, &str>("actor_id"), "u-alice");
    assert_eq!(row.get::<_, &str>("ip"), "198.51.100.7");
    assert_eq!(row.get::<_, &str>("actor_user_agent"), "Mozilla/5.0 (test)");

    // Used link: 410 that says so and by whom the escalation was acknowledged.
    let again = app.magic("GET", &ack).await;
    assert_eq!(again.status, 410);
    assert!(again.text.contains("already used"));
    assert!(again.text.contains("acknowledged by Alice Martin"));

    // The resolve link still works after an acknowledgement.
    assert_eq!(app.magic("POST", &resolve).await.status, 200);
    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    assert_eq!(detail["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_posts_of_one_link_succeed_exactly_once() {
    let app = TestApp::spawn().await;
    let (_, ack, _) = delivered(&app, &unique_email("alice")).await;

    let pages = futures::future::join_all((0..50).map(|_| app.magic("POST", &ack))).await;

    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for p in &pages {
        *by_status.entry(p.status).or_default() += 1;
    }
    assert_eq!(by_status, HashMap::from([(200, 1), (410, 49)]));
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM event_log WHERE event_type = 'escalation.acknowledged'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn expired_link_is_410_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, ack, _) = delivered(&app, &unique_email("alice")).await;
    let client = app.pool.get().await.expect("conn");
    client
        .execute(
            "UPDATE magic_link_tokens SET expires_at = now() - interval '1 minute'",
            &[],
        )
        .await
        .expect("expire");

    let get = app.magic("GET", &ack).await;
    let post = app.magic("POST", &ack).await;

    assert_eq!((get.status, post.status), (410, 410));
    assert!(post.text.contains("expired"));
    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    assert_eq!(detail["status"], "triggered");
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_404() {
    let app = TestApp::spawn().await;
    let unknown = herald::magic_link::mint();
    let unknown = secrecy::ExposeSecret::expose_secret(&unknown.token).to_owned();
    for token in [unknown.as_str(), "short", "x"] {
        assert_eq!(app.magic("GET", token).await.status, 404);
        assert_eq!(app.magic("POST", token).await.status, 404);
    }
}

#[tokio::test]
async fn second_recipient_learns_who_acknowledged_first() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (unique_email("alice"), unique_email("bob"));
    let mut body = escalation_for(&alice);
    body["recipients"] = json!([
        { "id": "u-alice", "name": "Alice Martin", "email": alice },
        { "id": "u-bob", "name": "Bob Stone", "email": bob }
    ]);
    body["channels"] = json!({ "primary": ["email"] });
    app.post_escalation(&body).await;
    app.dispatch_all().await;
    let alice_ack = app.emails_to(&alice).await[0].links()[0].clone();
    let bob_ack = app.emails_to(&bob).await[0].links()[0].clone();

    assert_eq!(app.magic("POST", &alice_ack).await.status, 200);
    let page = app.magic("POST", &bob_ack).await;

    assert_eq!(page.status, 410);
    assert!(
        page.text.contains("acknowledged by Alice Martin"),
        "{}",
        page.text
    );
    // Bob's token was not consumed by the refused attempt.
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM magic_link_tokens WHERE used_at IS NOT NULL")
            .await,
        1
    );
}
