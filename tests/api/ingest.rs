use serde_json::{Value, json};

use crate::helpers::{TestApp, escalation_for, unique_email};

#[tokio::test]
async fn valid_escalation_is_accepted_with_its_notifications() {
    let app = TestApp::spawn().await;
    let mut body = escalation_for(&unique_email("alice"));
    body["recipients"][0]["slack_user_id"] = json!("U024BE7LH");

    let res = app.post_escalation(&body).await;

    assert_eq!(res.status, 202, "{}", res.text);
    let v = res.json();
    assert_eq!(v["status"], "triggered");
    let notes = v["notifications"].as_array().expect("notifications");
    // Default primary tier: email, slack, push.
    assert_eq!(notes.len(), 3);
    let by_channel = |c: &str| {
        notes
            .iter()
            .find(|n| n["channel"] == c)
            .expect("channel row")
            .clone()
    };
    assert_eq!(by_channel("email")["status"], "queued");
    assert_eq!(by_channel("slack")["status"], "queued");
    assert_eq!(by_channel("push")["status"], "suppressed");
    assert_eq!(by_channel("email")["recipient_id"], "u-alice");
    let location = res
        .headers
        .get("location")
        .expect("location")
        .to_str()
        .expect("ascii");
    assert_eq!(
        location,
        format!("/v1/escalations/{}", v["id"].as_str().expect("id"))
    );
    // Exactly the queued email was enqueued, carrying only ids.
    assert_eq!(app.queue_depth().await, 1);
}

#[tokio::test]
async fn same_dedup_key_returns_the_same_escalation_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let body = escalation_for(&unique_email("alice"));
    let first = app.post_escalation(&body).await;
    assert_eq!(first.status, 202);
    let counts = app.row_counts().await;

    let second = app.post_escalation(&body).await;

    assert_eq!(second.status, 200);
    assert_eq!(second.json(), first.json());
    assert_eq!(app.row_counts().await, counts);
    assert_eq!(app.queue_depth().await, 1, "nothing new was enqueued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_duplicates_create_one_escalation() {
    let app = TestApp::spawn().await;
    let body = escalation_for(&unique_email("alice"));

    let responses = futures::future::join_all((0..20).map(|_| app.post_escalation(&body))).await;

    let created = responses.iter().filter(|r| r.status == 202).count();
    let deduped = responses.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        (created, deduped),
        (1, 19),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let bodies: Vec<Value> = responses.iter().map(|r| r.json()).collect();
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "all twenty answers are the same escalation"
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM escalations").await, 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_log")
            .await,
        3
    );
    assert_eq!(app.queue_depth().await, 1);
}

#[tokio::test]
async fn resolved_escalation_releases_its_dedup_key() {
    let app = TestApp::spawn().await;
    let body = escalation_for(&unique_email("alice"));
    let first = app.post_escalation(&body).await.json();
    let id = first["id"].as_str().expect("id");
    assert_eq!(
        app.api("POST", &format!("/v1/escalations/{id}/resolve"), None)
            .await
            .status,
        200
    );

    let again = app.post_escalation(&body).await;

    assert_eq!(again.status, 202, "the same alert firing again pages again");
    assert_ne!(again.json()["id"], first["id"]);
}

#[tokio::test]
async fn invalid_requests_are_rejected_naming_the_field_and_write_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("alice");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "recipients[0].email",
            Box::new(|v| v["recipients"][0]["email"] = json!("not-an-email")),
        ),
        (
            "recipients[0].phone",
            Box::new(|v| v["recipients"][0]["phone"] = json!("0612345678")),
        ),
        (
            "channels.primary[0]",
            Box::new(|v| v["channels"] = json!({"primary": ["carrier-pigeon"]})),
        ),
        ("recipients", Box::new(|v| v["recipients"] = json!([]))),
        ("title", Box::new(|v| v["title"] = json!("t".repeat(256)))),
        (
            "body",
            Box::new(|v| v["body"] = json!("b".repeat(64 * 1024 + 1))),
        ),
        ("priority", Box::new(|v| v["priority"] = json!("urgent"))),
        (
            "triggered_at",
            Box::new(|v| v["triggered_at"] = json!("yesterday")),
        ),
        ("alert_count", Box::new(|v| v["alert_count"] = json!(-1))),
        ("dedupe_key", Box::new(|v| v["dedupe_key"] = json!("typo"))),
        ("body", Box::new(|v| v["body"] = json!("nul \u{0} byte"))),
        ("dedup_key", Box::new(|v| v["dedup_key"] = json!("   "))),
        (
            "recipients[0].timezone",
            Box::new(|v| v["recipients"][0]["timezone"] = json!("Mars/Olympus")),
        ),
        (
            "recipients[0].push_endpoint_arn",
            Box::new(|v| {
                v["recipients"][0]["push_endpoint_arn"] = json!("arn:aws:sns:us-east-1:1:topic")
            }),
        ),
        (
            "recipients[0].slack_user_id",
            Box::new(|v| v["recipients"][0]["slack_user_id"] = json!("@alice")),
        ),
        // serde would fill a struct from an array, field by position.
        (
            "",
            Box::new(|v| {
                *v = json!(["t", "b", null, "low", null, null, null, null, null, null, [{"id": "u1"}]])
            }),
        ),
        (
            "recipients[0]",
            Box::new(|v| v["recipients"] = json!([["u-alice", "Alice", "a@example.com"]])),
        ),
        ("channels", Box::new(|v| v["channels"] = json!([["email"]]))),
    ];
    let before = app.row_counts().await;
    for (field, mutate) in cases {
        let mut body = escalation_for(&email);
        mutate(&mut body);
        let res = app.post_escalation(&body).await;
        assert_eq!(res.status, 400, "{field}: {}", res.text);
        let error = &res.json()["error"];
        assert_eq!(error["field"], field, "{}", res.text);
        assert!(error["code"].is_string() && error["message"].is_string());
        if body.is_array() || body["recipients"][0].is_array() || body["channels"].is_array() {
            assert_eq!(error["code"], "invalid_type", "{}", res.text);
        }
    }
    assert_eq!(app.row_counts().await, before);
    assert_eq!(app.queue_depth().await, 0);
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401_and_write_nothing() {
    let app = TestApp::spawn().await;
    let body = escalation_for(&unique_email("alice")).to_string();
    let before = app.row_counts().await;
    for auth in [
        None,
        Some("Bearer hk_not_a_real_key"),
        Some("Basic dXNlcjpwYXNz"),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        let res = app
            .request("POST", "/v1/escalations", &headers, body.as_bytes())
            .await;
        assert_eq!(res.status, 401, "{auth:?}");
        assert_eq!(res.json()["error"]["code"], "unauthorized");
    }
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn non_json_and_oversized_bodies_are_415_and_413() {
    let app = TestApp::spawn().await;
    let auth = app.bearer();
    let before = app.row_counts().await;

    let body = escalation_for(&unique_email("alice")).to_string();
    let res = app
        .request(
            "POST",
            "/v1/escalations",
            &[("authorization", &auth), ("content-type", "text/plain")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(res.status, 415);

    let huge = format!(r#"{{"title":"{}"}}"#, "x".repeat(300 * 1024));
    let res = app
        .request(
            "POST",
            "/v1/escalations",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            huge.as_bytes(),
        )
        .await;
    assert_eq!(res.status, 413);

    let res = app
        .request(
            "POST",
            "/v1/escalations",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            b"{not json",
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"]["code"], "invalid_json");

    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn get_shows_status_and_delivery_log() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("alice")))
        .await
        .json();
    let id = created["id"].as_str().expect("id");

    let res = app.api("GET", &format!("/v1/escalations/{id}"), None).await;

    assert_eq!(res.status, 200);
    let v = res.json();
    assert_eq!(v["status"], "triggered");
    assert_eq!(v["title"], "Primary database CPU above 95%");
    assert_eq!(v["acknowledged"], Value::Null);
    let deliveries = v["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 3);
    for d in deliveries {
        for key in [
            "channel",
            "status",
            "attempt_count",
            "provider_message_id",
            "error",
            "queued_at",
            "sent_at",
        ] {
            assert!(d.get(key).is_some(), "delivery has {key}");
        }
    }
}

#[tokio::test]
async fn another_tenants_escalation_is_404() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("alice")))
        .await
        .json();
    let id = created["id"].as_str().expect("id");
    let client = app.pool.get().await.expect("conn");
    let (_, other_key) = herald_local::stack::create_tenant(&client, "Other")
        .await
        .expect("tenant");
    let auth = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&other_key)
    );

    for (method, path) in [
        ("GET", format!("/v1/escalations/{id}")),
        ("POST", format!("/v1/escalations/{id}/acknowledge")),
        ("POST", format!("/v1/escalations/{id}/resolve")),
    ] {
        let res = app
            .request(method, &path, &[("authorization", &auth)], b"")
            .await;
        assert_eq!(res.status, 404, "{method} {path}");
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM escalations WHERE status = 'triggered'")
            .await,
        1
    );
}

#[tokio::test]
async fn api_acknowledge_then_resolve_records_the_actor() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("alice")))
        .await
        .json();
    let id = created["id"].as_str().expect("id");

    let ack = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await
        .json();
    assert_eq!(ack["status"], "acknowledged");
    assert_eq!(ack["changed"], true);
    assert!(
        ack["acknowledged"]["by"]
            .as_str()
            .expect("by")
            .starts_with("API key hk_")
    );

    let again = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await
        .json();
    assert_eq!(again["changed"], false);

    let resolved = app
        .api("POST", &format!("/v1/escalations/{id}/resolve"), None)
        .await
        .json();
    assert_eq!(resolved["status"], "resolved");

    let events = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM event_log WHERE escalation_id = '{id}' AND actor_type = 'api_key' \
             AND event_type IN ('escalation.triggered', 'escalation.acknowledged', 'escalation.resolved')"
        ))
        .await;
    assert_eq!(events, 3);
    // The queued email was suppressed by the acknowledgement: nobody is paged after an answer.
    let detail = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    let email = detail["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|d| d["channel"] == "email")
        .cloned();
    assert_eq!(email.expect("email")["reason"], "escalation_acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingests_sharing_recipients_in_any_order_all_succeed() {
    let app = TestApp::spawn().await;
    let people: Vec<Value> = (0..5)
        .map(|i| json!({ "id": format!("u-{i}"), "email": unique_email(&format!("p{i}")) }))
        .collect();
    let bodies: Vec<Value> = (0..16)
        .map(|n| {
            let mut recipients = people.clone();
            if n % 2 == 1 {
                recipients.reverse();
            }
            let mut body = escalation_for(&unique_email("x"));
            body["recipients"] = Value::Array(recipients);
            body
        })
        .collect();

    let responses = futures::future::join_all(bodies.iter().map(|b| app.post_escalation(b))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|s| *s == 202),
        "no deadlock, no 5xx: {statuses:?}"
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM recipients").await, 5);
}
