//! Recipients as a resource: `PUT` (create or replace), `GET`, the list, and `DELETE`,
//! which erases the person: contact data, connections, opt-outs, inbox, links and
//! unsent deliveries (suppressed with a reason), while the delivery and audit logs keep
//! only their id.

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use herald::domain::Channel;

use crate::helpers::{TestApp, unique_email, unique_phone};

fn alice(email: &str) -> Value {
    json!({
        "name": "Alice Martin", "email": email, "phone": "+14155550101",
        "slack_user_id": "U024BE7LH", "timezone": "Europe/Paris",
        "quiet_hours": [{ "days": ["sat", "sun"], "start": "00:00", "end": "24:00" }]
    })
}

#[tokio::test]
async fn a_person_is_created_replaced_read_and_listed() {
    let app = TestApp::spawn().await;
    let email = unique_email("alice");
    let created = app
        .api("PUT", "/v1/recipients/u-alice", Some(&alice(&email)))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let shown = created.json();
    assert_eq!(shown["id"], "u-alice");
    assert_eq!(shown["email"], email.as_str());
    assert_eq!(shown["timezone"], "Europe/Paris");
    assert_eq!(shown["quiet_hours"][0]["days"], json!(["sat", "sun"]));
    assert_eq!(shown["quiet_hours"][0]["end"], "24:00");

    // PUT replaces the whole person: what is left out is cleared.
    let replaced = app
        .api(
            "PUT",
            "/v1/recipients/u-alice",
            Some(&json!({ "id": "u-alice", "email": email })),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let got = app.api("GET", "/v1/recipients/u-alice", None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let got = got.json();
    assert_eq!(got["email"], email.as_str());
    assert!(got["phone"].is_null() && got["name"].is_null() && got["timezone"].is_null());
    assert_eq!(got["quiet_hours"], json!([]));
    assert!(got["quiet_until"].is_null());

    // An escalation's recipients are the same people.
    let paged = app
        .post_escalation(&json!({
            "title": "Disk full", "priority": "high",
            "recipients": [{ "id": "u-bob", "email": unique_email("bob") },
                           { "id": "u-carol", "email": unique_email("carol") }]
        }))
        .await;
    assert_eq!(paged.status, 202, "{}", paged.text);
    let first = app.api("GET", "/v1/recipients?limit=2", None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(ids(&first), ["u-alice", "u-bob"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .api(
            "GET",
            &format!("/v1/recipients?limit=2&cursor={cursor}"),
            None,
        )
        .await
        .json();
    assert_eq!(ids(&second), ["u-carol"]);
    assert!(second["next_cursor"].is_null());

    // Another tenant sees none of them.
    let (_, other) =
        herald_local::stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
            .await
            .expect("tenant");
    let auth = format!("Bearer {}", other.expose_secret());
    let auth = [("authorization", auth.as_str())];
    assert_eq!(
        app.request("GET", "/v1/recipients/u-alice", &auth, b"")
            .await
            .status,
        404
    );
    assert_eq!(
        app.request("DELETE", "/v1/recipients/u-alice", &auth, b"")
            .await
            .status,
        404
    );
    let theirs = app.request("GET", "/v1/recipients", &auth, b"").await;
    assert_eq!(theirs.json()["items"], json!([]));
}

#[tokio::test]
async fn a_bad_person_is_400_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    for (path, body, field) in [
        (
            "/v1/recipients/u-a",
            json!({ "email": "not-an-email" }),
            "email",
        ),
        (
            "/v1/recipients/u-a",
            json!({ "phone": "0612345678" }),
            "phone",
        ),
        (
            "/v1/recipients/u-a",
            json!({ "timezone": "Mars/Base" }),
            "timezone",
        ),
        (
            "/v1/recipients/u-a",
            json!({ "quiet_hours": [{ "days": ["mon"], "start": "22:00", "end": "07:00" }] }),
            "timezone",
        ),
        (
            "/v1/recipients/u-a",
            json!({ "timezone": "UTC", "quiet_hours": [{ "days": ["mon"], "start": "22:00" }] }),
            "quiet_hours[0].end",
        ),
        ("/v1/recipients/u-a", json!({ "id": "u-b" }), "id"),
        (
            "/v1/recipients/u-a",
            json!({ "mail": "a@example.com" }),
            "mail",
        ),
        ("/v1/recipients/u-a", json!([]), ""),
        (
            &format!("/v1/recipients/{}", "x".repeat(129)),
            json!({}),
            "id",
        ),
    ] {
        let got = app.api("PUT", path, Some(&body)).await;
        assert_eq!(got.status, 400, "{body}: {}", got.text);
        assert_eq!(got.json()["error"]["field"], field, "{body}: {}", got.text);
    }
    assert_eq!(
        app.api("GET", "/v1/recipients?limit=0", None).await.status,
        400
    );
    assert_eq!(
        app.api("GET", "/v1/recipients?cursor=%%%", None)
            .await
            .status,
        400
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM recipients").await, 0);
}

#[tokio::test]
async fn a_slack_id_someone_connected_is_theirs_alone() {
    let app = TestApp::spawn().await;
    let put = app
        .api("PUT", "/v1/recipients/u-dana", Some(&json!({})))
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    // Dana connected her Slack account as U0DANA1234.
    app.execute(
        "WITH c AS (INSERT INTO credentials (tenant_id, kind, recipient_id, key_id, ciphertext) \
                    SELECT tenant_id, 'slack_user_token', id, 'k', decode(repeat('00', 40), 'hex') \
                    FROM recipients WHERE external_id = 'u-dana' RETURNING id, tenant_id, recipient_id) \
         INSERT INTO slack_connections (recipient_id, tenant_id, credential_id, slack_team_id, slack_user_id) \
         SELECT recipient_id, tenant_id, id, 'T0TEAM', 'U0DANA1234' FROM c",
    )
    .await;
    let taken = app
        .api(
            "PUT",
            "/v1/recipients/u-eve",
            Some(&json!({ "slack_user_id": "U0DANA1234" })),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    assert_eq!(taken.json()["error"]["field"], "slack_user_id");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM recipients WHERE external_id = 'u-eve'")
            .await,
        0
    );
    // Dana keeps the id Slack reported, whatever a PUT says.
    let mine = app
        .api(
            "PUT",
            "/v1/recipients/u-dana",
            Some(&json!({ "slack_user_id": "U0OTHER123" })),
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.json()["slack_user_id"], "U0DANA1234");
}

#[tokio::test]
async fn erasing_a_person_keeps_only_their_id() {
    let app = TestApp::spawn().await;
    let (email, phone) = (unique_email("alice"), unique_phone());
    let person = json!({ "id": "u-alice", "name": "Alice Martin", "email": email, "phone": phone });
    // First escalation: she acknowledges it from her email (her IP and browser are audited).
    let first = app
        .post_escalation(&json!({
            "title": "Orders DB CPU", "priority": "critical", "recipients": [person],
            "channels": { "primary": ["email", "in_app"] }
        }))
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let link = app.emails_to(&email).await[0].links()[0].clone();
    assert_eq!(app.magic("POST", &link).await.status, 200);
    // Second escalation: an SMS still queued, an opt-out and a Teams webhook of hers.
    let second = app
        .post_escalation(&json!({
            "title": "Checkout latency", "priority": "high", "recipients": [person],
            "channels": { "primary": ["sms", "in_app"] }
        }))
        .await;
    assert_eq!(second.status, 202, "{}", second.text);
    let second = second.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.api("PUT", "/v1/recipients/u-alice/opt-outs/voice", None)
            .await
            .status,
        200
    );
    let hook = app
        .api(
            "PUT",
            "/v1/recipients/u-alice/teams-webhook",
            Some(&json!({ "url": app.fakes.teams_webhook("alice") })),
        )
        .await;
    assert_eq!(hook.status, 200, "{}", hook.text);

    let erased = app.api("DELETE", "/v1/recipients/u-alice", None).await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    let erased = erased.json();
    assert_eq!(erased["id"], "u-alice");
    assert_eq!(erased["suppressed_deliveries"], 1, "{erased}");
    assert_eq!(erased["removed"]["opt_outs"], 1);
    assert_eq!(erased["removed"]["credentials"], 1);
    assert_eq!(erased["removed"]["inbox_entries"], 2);
    assert!(erased["removed"]["links"].as_i64().expect("links") >= 2);
    assert_eq!(erased["audit_events_scrubbed"], 1);

    // She is gone from the API; the queued SMS never goes out.
    assert_eq!(
        app.api("GET", "/v1/recipients/u-alice", None).await.status,
        404
    );
    assert_eq!(
        app.api("DELETE", "/v1/recipients/u-alice", None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.api("GET", "/v1/recipients", None).await.json()["items"],
        json!([])
    );
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert!(app.sms_to(&phone).await.is_empty());
    let shown = app
        .api("GET", &format!("/v1/escalations/{second}"), None)
        .await
        .json();
    let sms = shown["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["channel"] == "sms")
        .expect("the SMS row")
        .clone();
    assert_eq!(sms["status"], "suppressed");
    assert_eq!(sms["reason"], "recipient_erased");
    assert_eq!(sms["recipient_id"], "u-alice");

    // What is left says only "u-alice".
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM recipients WHERE external_id = 'u-alice' AND erased_at IS NOT NULL \
              AND name IS NULL AND email IS NULL AND phone IS NULL")
        .await,
        1
    );
    for table in [
        "opt_outs",
        "credentials",
        "notifications",
        "magic_link_tokens",
    ] {
        assert_eq!(
            app.scalar_i64(&format!("SELECT count(*) FROM {table}"))
                .await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM escalations WHERE acknowledged_by = 'u-alice'")
            .await,
        1
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM event_log WHERE event_type = 'escalation.acknowledged' \
              AND actor_id = 'u-alice' AND actor_ip IS NULL AND actor_user_agent IS NULL \
              AND detail->>'by' = 'u-alice'"
        )
        .await,
        1
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM event_log WHERE event_type = 'recipient.erased' \
              AND actor_type = 'api_key' AND detail->>'recipient' = 'u-alice'"
        )
        .await,
        1
    );
    let everything = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM (SELECT row_to_json(t)::text AS j FROM event_log t \
             UNION ALL SELECT row_to_json(e)::text FROM escalations e \
             UNION ALL SELECT row_to_json(n)::text FROM notification_log n \
             UNION ALL SELECT row_to_json(r)::text FROM recipients r) x \
             WHERE j LIKE '%{email}%' OR j LIKE '%{phone}%' OR j LIKE '%Alice Martin%'"
        ))
        .await;
    assert_eq!(everything, 0, "her name, email or phone is still stored");

    // The audit log is still append-only for anything but erasure.
    let client = app.pool.get().await.expect("conn");
    let refused = client
        .execute(
            "UPDATE event_log SET actor_ip = NULL WHERE actor_type = 'api_key'",
            &[],
        )
        .await
        .expect_err("an update that is not an erasure");
    assert_eq!(
        refused.as_db_error().expect("a database error").message(),
        "event_log is append-only"
    );

    // Paged again by the same id, she is made anew.
    let again = app
        .api(
            "PUT",
            "/v1/recipients/u-alice",
            Some(&json!({ "email": email })),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
}
