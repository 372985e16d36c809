//! Stored, named, versioned escalation policies: the API, and escalations that name one
//! (`"policy": "platform-oncall"`) or name stored people in a policy of their own. An
//! escalation keeps the version it started with; an unknown policy or person is 400 and
//! writes nothing.

use chrono::{TimeDelta, Utc};
use herald::domain::Channel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique_email};

async fn person(app: &TestApp, id: &str) -> String {
    let email = unique_email(id);
    let put = app
        .api(
            "PUT",
            &format!("/v1/recipients/{id}"),
            Some(&json!({ "email": email })),
        )
        .await;
    assert_eq!(put.status, 201, "{}", put.text);
    email
}

fn oncall(first: &str, then: &str) -> Value {
    json!({
        "name": "platform-oncall",
        "description": "Platform team, nights included",
        "channels": { "primary": ["email"] },
        "levels": [
            { "after_minutes": 0, "recipients": [first] },
            { "after_minutes": 15, "recipients": [then] }
        ],
        "repeat": 1
    })
}

#[tokio::test]
async fn a_policy_is_created_versioned_read_listed_and_deleted() {
    let app = TestApp::spawn().await;
    person(&app, "alice").await;
    person(&app, "bob").await;
    let created = app
        .api("POST", "/v1/policies", Some(&oncall("alice", "bob")))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let created = created.json();
    assert_eq!(created["name"], "platform-oncall");
    assert_eq!(created["version"], 1);
    assert_eq!(created["levels"][1]["after_minutes"], 15);
    assert_eq!(
        created["levels"][1]["channels"]["primary"],
        json!(["email"])
    );
    assert_eq!(created["levels"][0]["secondary_after_minutes"], 5);

    // The name is taken for POST; PUT saves version 2.
    let again = app
        .api("POST", "/v1/policies", Some(&oncall("alice", "bob")))
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json()["error"]["field"], "name");
    let mut v2 = oncall("bob", "alice");
    v2.as_object_mut().map(|o| o.remove("name"));
    let put = app
        .api("PUT", "/v1/policies/platform-oncall", Some(&v2))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["version"], 2);

    let latest = app.api("GET", "/v1/policies/platform-oncall", None).await;
    assert_eq!(latest.json()["levels"][0]["recipients"], json!(["bob"]));
    let first = app
        .api("GET", "/v1/policies/platform-oncall?version=1", None)
        .await;
    assert_eq!(first.json()["levels"][0]["recipients"], json!(["alice"]));
    let listed = app.api("GET", "/v1/policies", None).await.json();
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    assert_eq!(listed["items"][0]["version"], 2);

    assert_eq!(
        app.api("DELETE", "/v1/policies/platform-oncall", None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.api("GET", "/v1/policies/platform-oncall", None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.api("DELETE", "/v1/policies/platform-oncall", None)
            .await
            .status,
        404
    );
    // Saved again after a delete: the version numbers go on.
    let revived = app
        .api("POST", "/v1/policies", Some(&oncall("alice", "bob")))
        .await;
    assert_eq!(revived.status, 201, "{}", revived.text);
    assert_eq!(revived.json()["version"], 3);
}

#[tokio::test]
async fn a_bad_policy_is_400_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    person(&app, "alice").await;
    let with = |patch: Value| {
        let mut p = oncall("alice", "alice");
        p["levels"] = json!([{ "after_minutes": 0, "recipients": ["alice"] }]);
        for (k, v) in patch.as_object().expect("object") {
            p[k] = v.clone();
        }
        p
    };
    for (body, field) in [
        (with(json!({ "name": "Platform On-call" })), "name"),
        (json!({ "levels": [{ "recipients": ["alice"] }] }), "name"),
        (
            with(json!({ "levels": [{ "after_minutes": 0, "recipients": ["nobody"] }] })),
            "levels[0].recipients[0]",
        ),
        (
            with(json!({ "levels": [{ "after_minutes": 5, "recipients": ["alice"] }] })),
            "levels[0].after_minutes",
        ),
        (with(json!({ "repeat": 10 })), "repeat"),
        (
            with(json!({ "channels": { "primary": ["fax"] } })),
            "channels.primary[0]",
        ),
        (with(json!({ "levels": [] })), "levels"),
        (with(json!({ "owner": "me" })), "owner"),
    ] {
        let got = app.api("POST", "/v1/policies", Some(&body)).await;
        assert_eq!(got.status, 400, "{body}: {}", got.text);
        assert_eq!(got.json()["error"]["field"], field, "{body}: {}", got.text);
    }
    let renamed = app
        .api(
            "PUT",
            "/v1/policies/platform-oncall",
            Some(&with(json!({ "name": "other" }))),
        )
        .await;
    assert_eq!(renamed.status, 400, "{}", renamed.text);
    assert_eq!(renamed.json()["error"]["field"], "name");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM policies").await, 0);
}

#[tokio::test]
async fn an_escalation_runs_the_version_it_started_with() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let saved = app
        .api("POST", "/v1/policies", Some(&oncall("alice", "bob")))
        .await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    // No `recipients`: the policy names who is paged.
    let created = app
        .post_escalation(&json!({
            "title": "Checkout 5xx", "priority": "high", "policy": "platform-oncall"
        }))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let t0 = Utc::now();

    // The policy changes (bob first, then nobody else) while the page is under way.
    let mut v2 = oncall("bob", "alice");
    v2["levels"] = json!([{ "after_minutes": 0, "recipients": ["bob"] }]);
    let put = app
        .api("PUT", "/v1/policies/platform-oncall", Some(&v2))
        .await;
    assert_eq!(put.status, 200, "{}", put.text);

    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&alice).await.len(), 1);
    assert!(app.emails_to(&bob).await.is_empty());
    // Version 1's second level still fires at minute 15.
    let run = app.escalate_at(t0 + TimeDelta::minutes(16)).await;
    assert_eq!(run.levels_fired, 1, "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&bob).await.len(), 1);

    let shown = app
        .api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json();
    assert_eq!(
        shown["stored_policy"],
        json!({ "name": "platform-oncall", "version": 1 })
    );
    assert_eq!(shown["policy"]["levels"][0]["recipients"], json!(["alice"]));
    assert_eq!(shown["policy"]["repeat"], 1);

    // A new escalation gets version 2.
    let next = app
        .post_escalation(&json!({
            "title": "Checkout 5xx again", "priority": "high", "policy": "platform-oncall"
        }))
        .await;
    assert_eq!(next.status, 202, "{}", next.text);
    let next = app
        .api(
            "GET",
            &format!(
                "/v1/escalations/{}",
                next.json()["id"].as_str().expect("id")
            ),
            None,
        )
        .await
        .json();
    assert_eq!(next["stored_policy"]["version"], 2);
    assert_eq!(next["deliveries"][0]["recipient_id"], "bob");
}

#[tokio::test]
async fn an_unknown_policy_or_person_is_400_and_writes_nothing() {
    let app = TestApp::spawn().await;
    person(&app, "alice").await;
    let before = app.row_counts().await;
    for (body, field, code) in [
        (
            json!({ "title": "t", "priority": "high", "policy": "nope" }),
            "policy",
            "unknown_policy",
        ),
        (
            json!({ "title": "t", "priority": "high",
                    "policy": { "levels": [{ "after_minutes": 0, "recipients": ["alice", "ghost"] }] } }),
            "policy.levels[0].recipients[1]",
            "unknown_recipient",
        ),
        (
            json!({ "title": "t", "priority": "high" }),
            "recipients",
            "required",
        ),
    ] {
        let got = app.post_escalation(&body).await;
        assert_eq!(got.status, 400, "{body}: {}", got.text);
        assert_eq!(got.json()["error"]["field"], field, "{body}: {}", got.text);
        assert_eq!(got.json()["error"]["code"], code, "{body}: {}", got.text);
    }
    assert_eq!(app.row_counts().await, before);

    // A stored person named in a policy of the escalation's own is paged as stored.
    let stored = app
        .post_escalation(&json!({
            "title": "t", "priority": "high",
            "channels": { "primary": ["email"] },
            "policy": { "levels": [{ "after_minutes": 0, "recipients": ["alice"] }] }
        }))
        .await;
    assert_eq!(stored.status, 202, "{}", stored.text);
    assert_eq!(stored.json()["notifications"][0]["recipient_id"], "alice");
    assert_eq!(stored.json()["notifications"][0]["status"], "queued");

    // Someone in the request but not in the stored policy would never be paged.
    let mut only_alice = oncall("alice", "alice");
    only_alice["levels"] = json!([{ "after_minutes": 0, "recipients": ["alice"] }]);
    let saved = app.api("POST", "/v1/policies", Some(&only_alice)).await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    let before = app.row_counts().await;
    let got = app
        .post_escalation(&json!({
            "title": "t", "priority": "high", "policy": "platform-oncall",
            "recipients": [{ "id": "carol", "email": unique_email("carol") }]
        }))
        .await;
    assert_eq!(got.status, 400, "{}", got.text);
    assert_eq!(got.json()["error"]["field"], "recipients[0].id");
    assert_eq!(got.json()["error"]["code"], "not_in_policy");
    assert_eq!(app.row_counts().await, before);
}
