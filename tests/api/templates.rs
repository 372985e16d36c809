//! Tenants' message templates: saved through the API (checked: fields per channel,
//! unknown variables, the SMS segment budget), used by the dispatchers on the next page,
//! removed to go back to Herald's default message.

use herald::domain::Channel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, escalation_for, unique_email, unique_phone};

async fn put(app: &TestApp, channel: &str, body: &Value) -> (u16, Value) {
    let got = app
        .api("PUT", &format!("/v1/templates/{channel}"), Some(body))
        .await;
    (got.status, got.json())
}

#[tokio::test]
async fn a_template_is_checked_when_saved_and_listed_with_the_variables() {
    let app = TestApp::spawn().await;
    let (status, bad) = put(
        &app,
        "sms",
        &json!({ "text": "{{ title }} {{ ack_link }}" }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["field"], "text");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown variable `ack_link`")),
        "{bad}"
    );
    let (status, bad) = put(
        &app,
        "sms",
        &json!({ "text": "{{ title }} {{ body }} {{ body }} {{ acknowledge_url }} {{ resolve_url }}" }),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("text"))
    );
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("segments")),
        "{bad}"
    );
    let (status, bad) = put(&app, "slack", &json!({ "text": "{{ title }}" })).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("channel"))
    );
    let (status, bad) = put(
        &app,
        "email",
        &json!({ "text": "{{ title }}", "colour": "red" }),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("colour"))
    );
    let (status, bad) = put(&app, "email", &json!({ "text": "{{ title }}" })).await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("subject"))
    );
    assert_eq!(
        app.api("GET", "/v1/templates/sms", None).await.status,
        404,
        "nothing was stored"
    );

    let sms = json!({ "text": "[{{ priority }}] {{ title }} ack: {{ acknowledge_url }}" });
    let (status, saved) = put(&app, "sms", &sms).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        (saved["channel"].as_str(), saved["text"].clone()),
        (Some("sms"), sms["text"].clone())
    );
    assert!(
        saved["updated_by"]
            .as_str()
            .is_some_and(|b| b.starts_with("API key"))
    );
    let got = app.api("GET", "/v1/templates/sms", None).await;
    assert_eq!(got.json()["text"], sms["text"]);
    let list = app.api("GET", "/v1/templates", None).await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(
        list["variables"]
            .as_array()
            .is_some_and(|v| v.iter().any(|v| v["name"] == "acknowledge_url")),
        "{list}"
    );

    assert_eq!(
        app.api("DELETE", "/v1/templates/sms", None).await.status,
        204
    );
    assert_eq!(
        app.api("DELETE", "/v1/templates/sms", None).await.status,
        404
    );
}

#[tokio::test]
async fn the_next_page_goes_out_in_the_tenants_words_and_a_removed_template_brings_the_default_back()
 {
    let app = TestApp::spawn().await;
    let (status, saved) = put(
        &app,
        "email",
        &json!({
            "subject": "{{ priority }} page{% if service %} for {{ service }}{% endif %}: {{ title }}",
            "text": "Hi {{ recipient_name or 'there' }},\n{{ title }}\nAcknowledge: {{ acknowledge_url }}"
        }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (status, saved) = put(
        &app,
        "sms",
        &json!({ "text": "ACME {{ priority }}: {{ title }} {{ acknowledge_url }}" }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");

    let (email, phone) = (unique_email("tia"), unique_phone());
    let mut page = escalation_for(&email);
    page["recipients"][0]["phone"] = json!(phone);
    page["channels"] = json!({ "primary": ["email", "sms"] });
    assert_eq!(app.post_escalation(&page).await.status, 202);
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);

    let sent = app.emails_to(&email).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].subject,
        "CRITICAL page for orders-db: Primary database CPU above 95%"
    );
    assert!(
        sent[0]
            .body
            .starts_with("Hi Alice Martin,\nPrimary database CPU above 95%\nAcknowledge: http"),
        "{}",
        sent[0].body
    );
    let texts = app.sms_to(&phone).await;
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].starts_with("ACME CRITICAL: Primary database CPU above 95% http"),
        "{}",
        texts[0]
    );

    // Removed: the next page is Herald's own again.
    assert_eq!(
        app.api("DELETE", "/v1/templates/sms", None).await.status,
        204
    );
    let mut again = escalation_for(&unique_email("tia"));
    again["recipients"][0]["phone"] = json!(phone);
    again["channels"] = json!({ "primary": ["sms"] });
    assert_eq!(app.post_escalation(&again).await.status, 202);
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    let texts = app.sms_to(&phone).await;
    assert_eq!(texts.len(), 2);
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[CRITICAL] Primary database")),
        "{texts:?}"
    );
}
