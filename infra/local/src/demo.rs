//! `herald-local demo`: the main flow, live, against a running `herald-local serve`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::stack;

pub async fn run(config: &herald::Config, base_url: &str, moto_url: &str) -> anyhow::Result<()> {
    let http = herald::channels::https_client_builder()?
        .timeout(Duration::from_secs(60))
        .build()?;
    let pool = herald::db::connect_pool(&config.database).await?;
    let now = chrono::Utc::now();
    let stamp = now.format("%H%M%S").to_string();

    step("1. Create a tenant and an API key (herald-local tenant create)");
    let (tenant_id, key) = stack::create_tenant(&pool.get().await?, "Demo Corp").await?;
    println!(
        "   tenant {tenant_id}; API key {}… (shown once, stored as SHA-256)",
        &key.expose_secret()[..9]
    );

    step(
        "2. Alice's phone, a push endpoint in the emulator's SNS, her Teams webhook, the tenant's Slack",
    );
    let phone = demo_phone(now.timestamp());
    let sdk = herald::config::aws_sdk_config().await;
    let endpoint = push_endpoint(&herald::aws_sdk_sns::Client::new(&sdk), &stamp).await?;
    let fakes: Value = http
        .get(format!("{base_url}/_local/fakes"))
        .send()
        .await?
        .json()
        .await?;
    let hook = format!("alice-{stamp}");
    let webhook = format!(
        "{}{hook}",
        fakes["teams"].as_str().context("no Teams fake")?
    );
    println!("   phone {phone}; push endpoint {endpoint}");
    let registered = http
        .put(format!("{base_url}/v1/recipients/u-alice/teams-webhook"))
        .bearer_auth(key.expose_secret())
        .json(&json!({ "url": webhook }))
        .send()
        .await?;
    let status = registered.status();
    println!(
        "   PUT /v1/recipients/u-alice/teams-webhook -> {status} {} (sealed with AES-256-GCM; the URL is never shown again)",
        registered.text().await?
    );

    // "Add to Slack": the redirect to Slack's consent page, then Slack's redirect back
    // with a code (the local fake's oauth.v2.access trades it for a bot token).
    let install = http
        .get(format!("{base_url}/v1/integrations/slack/install"))
        .bearer_auth(key.expose_secret())
        .send()
        .await?;
    let status = install.status();
    let authorize: Value = install.json().await?;
    let authorize = url::Url::parse(
        authorize["authorize_url"]
            .as_str()
            .context("no authorize_url")?,
    )?;
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("no state")?;
    println!(
        "   GET /v1/integrations/slack/install -> {status}, Location {}://{}{}?client_id=…&scope=chat:write,im:write&state=<signed, 10 min>",
        authorize.scheme(),
        authorize.host_str().unwrap_or_default(),
        authorize.path()
    );
    let params = [
        ("code", format!("T0DEMO{stamp}-consented")),
        ("state", state),
    ];
    let shown = http
        .get(format!("{base_url}/v1/integrations/slack/callback"))
        .query(&params)
        .send()
        .await?;
    let status = shown.status();
    let page = shown.text().await?;
    if !status.is_success() {
        bail!("the Slack install's confirmation page: {status} {page}");
    }
    if !page.contains("Herald account:") {
        bail!("the confirmation page does not name the Herald account");
    }
    println!(
        "   Slack sends the admin back: GET /v1/integrations/slack/callback?code=…&state=… -> {status}, a page naming the Herald account with a Connect button (nothing stored yet)"
    );
    let callback = http
        .post(format!("{base_url}/v1/integrations/slack/callback"))
        .form(&params)
        .send()
        .await?;
    let status = callback.status();
    println!(
        "   the admin presses Connect: POST /v1/integrations/slack/callback -> {status} {}",
        callback.text().await?
    );
    if !status.is_success() {
        bail!("the Slack install failed");
    }
    let listing: Value = http
        .get(format!("{base_url}/v1/integrations"))
        .bearer_auth(key.expose_secret())
        .send()
        .await?
        .json()
        .await?;
    println!(
        "   GET /v1/integrations -> slack {} (the bot token is sealed, never shown), {} Teams webhook(s)",
        listing["slack"],
        listing["teams_webhooks"].as_array().map_or(0, Vec::len)
    );

    step("3. POST /v1/escalations: one escalation on every channel");
    let recipient = format!("alice+{stamp}@example.com");
    let escalation = json!({
        "dedup_key": format!("orders-db-cpu-{stamp}"),
        "title": "Primary database CPU above 95%",
        "body": "p99 latency 2.3 s; connections saturating on orders-db-1.",
        "priority": "critical",
        "service": "orders-db",
        "team": "platform",
        "alert_count": 3,
        "dashboard_url": "https://grafana.example.com/d/orders-db",
        "recipients": [{ "id": "u-alice", "name": "Alice Martin", "email": recipient,
                         "phone": phone, "push_endpoint_arn": endpoint, "slack_user_id": "U0ALICE001" }],
        "channels": { "primary": ["email", "sms", "push", "slack", "teams", "voice", "in_app"] }
    });
    println!("{}", indent(&serde_json::to_string_pretty(&escalation)?));
    let (status, created) = post_escalation(&http, base_url, &key, &escalation).await?;
    println!(
        "   -> {status}\n{}",
        indent(&serde_json::to_string_pretty(&created)?)
    );
    if status.as_u16() != 202 {
        bail!("ingest answered {status}");
    }
    let id = created["id"].as_str().context("no id")?.to_owned();

    step("4. The same dedup_key again -> 200, the same escalation, nothing sent twice");
    let (status, again) = post_escalation(&http, base_url, &key, &escalation).await?;
    println!("   -> {status} (id {})", again["id"]);

    step("5. What each channel delivered, read back from the emulator and the fake providers");
    let email = wait_for("email (SES)", || async {
        let data = moto_data(&http, moto_url).await?;
        Ok(data["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["destinations"].to_string().contains(&recipient))
            .cloned())
    })
    .await?;
    println!(
        "   email    Subject: {}",
        email["subject"].as_str().unwrap_or_default()
    );
    let html = email["body"].as_str().unwrap_or_default();
    println!("{}", indent(&indent(&mask_tokens(&html_to_text(html)))));
    let sms = wait_for("SMS (SNS)", || async {
        let data = moto_data(&http, moto_url).await?;
        Ok(data["sns"]["SMS"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["phone_number"] == phone.as_str())
            .and_then(|m| m["message"].as_str().map(str::to_owned)))
    })
    .await?;
    let (encoding, units) = herald::domain::sms::measure(&sms);
    println!(
        "   sms      {} ({} characters, {}, {} segment)",
        mask_tokens(&sms),
        units,
        encoding.as_str(),
        herald::domain::sms::segments(encoding, units)
    );
    let push = wait_for("push (SNS)", || async {
        let data = moto_data(&http, moto_url).await?;
        Ok(data["sns"]["PlatformEndpoint"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["arn"] == endpoint.as_str())
            .and_then(|e| {
                e["messages"]
                    .as_object()
                    .and_then(|m| m.values().next().cloned())
            }))
    })
    .await?;
    let push: Value = serde_json::from_str(push.as_str().unwrap_or("{}"))?;
    let gcm: Value = serde_json::from_str(push["GCM"].as_str().unwrap_or("{}"))?;
    println!(
        "   push     FCM: {}",
        mask_tokens(&gcm["fcmV1Message"]["message"].to_string())
    );
    let slack = wait_for("Slack (fake Web API)", || async {
        Ok(fake_received(&http, base_url, "slack")
            .await?
            .into_iter()
            .rev()
            .find(|p| {
                p["body"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Primary database CPU"))
            })
            .map(|p| p["body"].clone()))
    })
    .await?;
    let buttons: Vec<String> = slack["blocks"]
        .as_array()
        .and_then(|b| b.last())
        .and_then(|a| a["elements"].as_array())
        .into_iter()
        .flatten()
        .map(|b| {
            let target = match b["url"].as_str() {
                Some(url) => mask_tokens(url),
                None => "POST /slack/actions".to_owned(),
            };
            format!(
                "{} -> {target}",
                b["text"]["text"].as_str().unwrap_or_default()
            )
        })
        .collect();
    println!(
        "   slack    chat.postMessage to {}: \"{}\", {} blocks, buttons {}",
        slack["channel"].as_str().unwrap_or_default(),
        slack["text"].as_str().unwrap_or_default(),
        slack["blocks"].as_array().map_or(0, Vec::len),
        buttons.join(", ")
    );
    let card = wait_for("Teams (fake Workflows webhook)", || async {
        Ok(fake_received(&http, base_url, "teams")
            .await?
            .into_iter()
            .find(|p| p["path"] == format!("/teams/{hook}").as_str())
            .map(|p| p["body"].clone()))
    })
    .await?;
    let content = &card["attachments"][0]["content"];
    println!(
        "   teams    Adaptive Card {}: \"{}\", buttons {}",
        content["version"].as_str().unwrap_or_default(),
        content["body"][0]["text"].as_str().unwrap_or_default(),
        content["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!(
                "{} -> {}",
                a["title"].as_str().unwrap_or_default(),
                mask_tokens(a["url"].as_str().unwrap_or_default())
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let call = wait_for("voice (fake End User Messaging)", || async {
        Ok(fake_received(&http, base_url, "voice")
            .await?
            .into_iter()
            .find(|c| c["body"]["DestinationPhoneNumber"] == phone.as_str())
            .map(|c| c["body"].clone()))
    })
    .await?;
    println!(
        "   voice    SendVoiceMessage to {} as {}: {}",
        call["DestinationPhoneNumber"].as_str().unwrap_or_default(),
        call["VoiceId"].as_str().unwrap_or_default(),
        call["MessageBody"].as_str().unwrap_or_default()
    );
    let inbox: Value = http
        .get(format!("{base_url}/v1/recipients/u-alice/notifications"))
        .bearer_auth(key.expose_secret())
        .send()
        .await?
        .json()
        .await?;
    let item = &inbox["items"][0];
    println!(
        "   in_app   GET /v1/recipients/u-alice/notifications: \"{}\" (read: {})",
        item["title"].as_str().unwrap_or_default(),
        item["is_read"]
    );

    // The SMS carries reply codes (step 10); the email's link is the one to follow.
    let email_links = links_in(html, &config.public_base_url.clone().unwrap_or_default());
    let ack = email_links
        .first()
        .context("no Acknowledge link in the email")?;
    step(
        "6. GET the email's Acknowledge link (what a mail scanner does): a confirmation page, nothing changes",
    );
    let page = http.get(ack).send().await?;
    let status = page.status();
    println!("   -> {status}: {}", heading(&page.text().await?));
    let state: Value = get_escalation(&http, base_url, &key, &id).await?;
    println!("   escalation is still {}", state["status"]);

    step("7. POST the confirmation form: the token is consumed and the escalation acknowledged");
    let page = http
        .post(ack)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("confirm=1")
        .send()
        .await?;
    let status = page.status();
    println!("   -> {status}: {}", paragraph(&page.text().await?));
    let again = http.post(ack).body("confirm=1").send().await?;
    let status = again.status();
    println!(
        "   the same link again -> {status}: {}",
        heading(&again.text().await?)
    );

    let rewritten = wait_for("the Slack message rewritten (chat.update)", || async {
        Ok(fake_received(&http, base_url, "slack")
            .await?
            .into_iter()
            .find(|p| p["path"] == "/api/chat.update")
            .map(|p| p["body"].clone()))
    })
    .await?;
    println!(
        "   slack    chat.update {}: \"{}\"",
        rewritten["ts"].as_str().unwrap_or_default(),
        rewritten["text"].as_str().unwrap_or_default()
    );

    step("8. GET /v1/escalations/{id}: acknowledged, with its delivery log");
    let state = get_escalation(&http, base_url, &key, &id).await?;
    if let Some(deliveries) = state["deliveries"].as_array() {
        for d in deliveries {
            println!(
                "   {:<7} {:<10} attempt {} {}",
                d["channel"].as_str().unwrap_or_default(),
                d["status"].as_str().unwrap_or_default(),
                d["attempt_count"],
                d["provider_message_id"].as_str().unwrap_or("")
            );
        }
    }
    if state["status"] != "acknowledged" {
        bail!(
            "the escalation is {} instead of acknowledged",
            state["status"]
        );
    }

    step(
        "9. A second escalation, acknowledged from Slack: a button click signed as Slack signs it",
    );
    let second = json!({
        "dedup_key": format!("checkout-5xx-{stamp}"),
        "title": "Checkout 5xx rate above 2%",
        "priority": "high",
        "service": "checkout",
        "recipients": [{ "id": "u-alice", "name": "Alice Martin", "slack_user_id": "U0ALICE001" }],
        "channels": { "primary": ["slack"] }
    });
    let (status, created) = post_escalation(&http, base_url, &key, &second).await?;
    if status.as_u16() != 202 {
        bail!("ingest answered {status}");
    }
    let second_id = created["id"].as_str().context("no id")?.to_owned();
    let message = wait_for("the second Slack message", || async {
        let state = get_escalation(&http, base_url, &key, &second_id).await?;
        Ok(state["deliveries"][0]["provider_message_id"]
            .as_str()
            .and_then(|m| m.split_once('/'))
            .map(|(c, ts)| (c.to_owned(), ts.to_owned())))
    })
    .await?;
    println!(
        "   posted to Alice's Slack as message {}/{}",
        message.0, message.1
    );
    let click = herald::domain::slack::button_click_body(
        &format!("T0DEMO{stamp}"),
        "U0ALICE001",
        herald::domain::slack::ACKNOWLEDGE_ACTION_ID,
        second_id.parse()?,
        (&message.0, &message.1),
    );
    let secret = config
        .slack_signing_secret
        .as_ref()
        .context("HERALD_SLACK_SIGNING_SECRET is not set")?
        .read()
        .await?;
    let signed_at = chrono::Utc::now().timestamp();
    let signature =
        herald::domain::slack::sign(secret.expose_secret().as_bytes(), signed_at, &click);
    let send = |signature: String| {
        http.post(format!("{base_url}/slack/actions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", signed_at.to_string())
            .header("x-slack-signature", signature)
            .body(click.clone())
            .send()
    };
    let answer = send(signature.clone()).await?;
    let status = answer.status();
    println!(
        "   POST /slack/actions (Alice presses Acknowledge) -> {status} {}",
        answer.text().await?
    );
    let replay = send(signature).await?;
    println!(
        "   the same signed request again (a replay) -> {}",
        replay.status()
    );
    let forged = send("v0=".to_owned() + &"0".repeat(64)).await?;
    println!("   a forged signature -> {}", forged.status());
    let rewritten = wait_for("the second Slack message rewritten", || async {
        Ok(fake_received(&http, base_url, "slack")
            .await?
            .into_iter()
            .find(|p| p["path"] == "/api/chat.update" && p["body"]["ts"] == message.1.as_str())
            .map(|p| p["body"].clone()))
    })
    .await?;
    println!(
        "   slack    chat.update {}: \"{}\"",
        message.1,
        rewritten["text"].as_str().unwrap_or_default()
    );
    let state = get_escalation(&http, base_url, &key, &second_id).await?;
    println!(
        "   escalation {second_id} is {} by {}",
        state["status"], state["acknowledged"]["by"]
    );
    if state["status"] != "acknowledged" {
        bail!("the Slack click left the escalation {}", state["status"]);
    }

    step(
        "10. A third escalation, on SMS and Slack, acknowledged by replying to the SMS: the Slack message shows it too",
    );
    let third = json!({
        "dedup_key": format!("payments-latency-{stamp}"),
        "title": "Payments p99 latency above 2 s",
        "priority": "critical",
        "service": "payments",
        "recipients": [{ "id": "u-alice", "name": "Alice Martin", "phone": phone, "slack_user_id": "U0ALICE001" }],
        "channels": { "primary": ["sms", "slack"] }
    });
    let (status, created) = post_escalation(&http, base_url, &key, &third).await?;
    if status.as_u16() != 202 {
        bail!("ingest answered {status}");
    }
    let third_id = created["id"].as_str().context("no id")?.to_owned();
    let sms_to_alice = || async {
        let data = moto_data(&http, moto_url).await?;
        Ok::<Vec<String>, anyhow::Error>(
            data["sns"]["SMS"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["phone_number"] == phone.as_str())
                .filter_map(|m| m["message"].as_str().map(str::to_owned))
                .collect(),
        )
    };
    let page = wait_for("the third page's SMS", || async {
        Ok(sms_to_alice()
            .await?
            .into_iter()
            .find(|m| m.contains("Payments p99")))
    })
    .await?;
    println!("   sms      {page}");
    let code: String = page
        .split("Reply ")
        .nth(1)
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
        .context("no reply code in the SMS")?;
    let message = wait_for("the third Slack message", || async {
        let state = get_escalation(&http, base_url, &key, &third_id).await?;
        Ok(state["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["channel"] == "slack")
            .and_then(|d| d["provider_message_id"].as_str())
            .and_then(|m| m.split_once('/'))
            .map(|(_, ts)| ts.to_owned()))
    })
    .await?;
    println!("   slack    posted to Alice's Slack as message {message}");
    let sns = herald::aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("herald-sms-inbound")
        .send()
        .await?
        .topic_arn
        .context("no inbound topic")?;
    let reply = format!("{code}a");
    sns.publish()
        .topic_arn(&topic)
        .message(stack::inbound_sms_payload(&phone, &reply))
        .send()
        .await?;
    println!(
        "   Alice texts \"{reply}\" to {}: End User Messaging -> SNS herald-sms-inbound -> SQS -> sms-reply",
        stack::LOCAL_SMS_NUMBER
    );
    let confirmation = wait_for("the confirmation SMS", || async {
        Ok(sms_to_alice()
            .await?
            .into_iter()
            .find(|m| m.starts_with("Herald: acknowledged") && m.contains("Payments p99")))
    })
    .await?;
    println!("   sms      {confirmation}");
    let state = get_escalation(&http, base_url, &key, &third_id).await?;
    println!(
        "   escalation {third_id} is {} by {}",
        state["status"], state["acknowledged"]["by"]
    );
    if state["status"] != "acknowledged" {
        bail!("the SMS reply left the escalation {}", state["status"]);
    }
    let rewritten = wait_for("the third Slack message rewritten", || async {
        Ok(fake_received(&http, base_url, "slack")
            .await?
            .into_iter()
            .find(|p| p["path"] == "/api/chat.update" && p["body"]["ts"] == message.as_str())
            .map(|p| p["body"].clone()))
    })
    .await?;
    println!(
        "   slack    chat.update {message}: \"{}\"",
        rewritten["text"].as_str().unwrap_or_default()
    );

    step("11. The schedules, fired on demand as EventBridge fires them every minute / hour");
    for schedule in ["retry", "retention"] {
        let summary: Value = http
            .post(format!("{base_url}/_local/schedules/{schedule}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        println!("   {schedule:<9} -> {summary}");
    }
    println!(
        "   (nothing due: every channel delivered and the escalation is answered; nothing is old enough to delete)"
    );

    escalation_engine(&http, base_url, &key, &stamp).await?;

    println!(
        "\n\u{2713} demo complete: escalation {id} reached Alice on six channels and was acknowledged by {}",
        state["acknowledged"]["by"]
    );
    Ok(())
}

/// Step 12: people and a stored policy, and the engine escalating over time: the clock
/// is moved by running the engine as it would run minutes later (EventBridge would
/// simply call it then).
async fn escalation_engine(
    http: &reqwest::Client,
    base_url: &str,
    key: &secrecy::SecretString,
    stamp: &str,
) -> anyhow::Result<()> {
    step(
        "12. The escalation engine: stored people, a stored policy, levels over time, quiet hours",
    );
    let api = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base_url}{path}"))
            .bearer_auth(key.expose_secret())
    };
    // Alice's whole record as the directory knows it (PUT replaces the person: the
    // escalations above sent only some of her addresses each time).
    let alice = json!({ "name": "Alice Martin", "email": format!("alice+{stamp}@example.com"),
                        "timezone": "Europe/Paris" });
    let put = api(reqwest::Method::PUT, "/v1/recipients/u-alice")
        .json(&alice)
        .send()
        .await?;
    println!("   PUT /v1/recipients/u-alice -> {}", put.status());
    let bob = json!({ "name": "Bob Okafor", "email": format!("bob+{stamp}@example.com"),
                      "timezone": "Europe/Paris",
                      "quiet_hours": [{ "days": ["sat", "sun"], "start": "00:00", "end": "24:00" }] });
    let put = api(reqwest::Method::PUT, "/v1/recipients/u-bob")
        .json(&bob)
        .send()
        .await?;
    let status = put.status();
    let shown: Value = put.json().await?;
    println!(
        "   PUT /v1/recipients/u-bob -> {status}: quiet_hours {}, quiet_until {}",
        shown["quiet_hours"], shown["quiet_until"]
    );
    let policy = json!({
        "name": format!("platform-oncall-{stamp}"),
        "channels": { "primary": ["email"] },
        "levels": [{ "after_minutes": 0, "recipients": ["u-alice"] },
                   { "after_minutes": 15, "recipients": ["u-bob"] }],
        "ack_timeout_minutes": 30
    });
    let saved = api(reqwest::Method::POST, "/v1/policies")
        .json(&policy)
        .send()
        .await?;
    let status = saved.status();
    let saved: Value = saved.json().await?;
    println!(
        "   POST /v1/policies -> {status}: {} version {} (Alice at once, Bob after 15 min, acknowledgement timeout 30 min)",
        saved["name"], saved["version"]
    );
    if status.as_u16() != 201 {
        bail!("saving the policy answered {status}: {saved}");
    }
    let (status, created) = post_escalation(
        http,
        base_url,
        key,
        &json!({ "title": "Checkout error rate above 5%", "priority": "high",
                 "policy": saved["name"] }),
    )
    .await?;
    println!(
        "   POST /v1/escalations {{\"policy\": {}}} -> {status}",
        saved["name"]
    );
    let id = created["id"].as_str().context("no id")?.to_owned();
    let run: Value = http
        .post(format!("{base_url}/_local/schedules/escalate?minutes=16"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!(
        "   the engine at minute 16 -> levels fired {}, rows {}",
        run["levels_fired"], run["rows"]
    );
    let state = wait_for("Bob's page held by his quiet hours or sent", || async {
        let state = get_escalation(http, base_url, key, &id).await?;
        let settled = state["deliveries"].as_array().is_some_and(|d| {
            d.iter().all(|d| {
                d["status"] != "sending" && !(d["status"] == "queued" && d["reason"].is_null())
            })
        });
        Ok(settled.then_some(state))
    })
    .await?;
    for d in state["deliveries"].as_array().into_iter().flatten() {
        println!(
            "   round {} level {} {:<7} {:<8} {:<6} {:<10} {}",
            d["round"],
            d["level"],
            d["recipient_id"].as_str().unwrap_or_default(),
            d["tier"].as_str().unwrap_or_default(),
            d["channel"].as_str().unwrap_or_default(),
            d["status"].as_str().unwrap_or_default(),
            match (d["reason"].as_str(), d["status"].as_str()) {
                (Some(r), Some("queued")) => format!("({r}, until {})", d["next_attempt_at"]),
                (Some(r), _) => format!("({r})"),
                _ => String::new(),
            }
        );
    }
    let acked = api(
        reqwest::Method::POST,
        &format!("/v1/escalations/{id}/acknowledge"),
    )
    .send()
    .await?;
    println!("   POST .../acknowledge -> {}", acked.status());
    let state = get_escalation(http, base_url, key, &id).await?;
    println!(
        "   acknowledged; the policy's timeout puts it back to triggered at {} unless it is resolved",
        state["next_escalation_at"]
    );
    let run: Value = http
        .post(format!("{base_url}/_local/schedules/escalate?minutes=31"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let state = get_escalation(http, base_url, key, &id).await?;
    println!(
        "   the engine at minute 31 -> acknowledgements timed out {}, levels fired {}: status {}, round {}",
        run["ack_timeouts"], run["levels_fired"], state["status"], state["current_round"]
    );
    let resolved = api(
        reqwest::Method::POST,
        &format!("/v1/escalations/{id}/resolve"),
    )
    .send()
    .await?;
    println!(
        "   POST .../resolve -> {}: nothing more is sent",
        resolved.status()
    );
    Ok(())
}

/// A valid US number for this run (never ending in 99: the emulator says those opted out).
fn demo_phone(seed: i64) -> String {
    let exchange = 200 + seed.rem_euclid(800);
    let mut line = (seed / 800).rem_euclid(10_000);
    if line % 100 == 99 {
        line -= 1;
    }
    format!("+1415{exchange}{line:04}")
}

async fn push_endpoint(sns: &herald::aws_sdk_sns::Client, stamp: &str) -> anyhow::Result<String> {
    let app = sns
        .create_platform_application()
        .name(format!("herald-demo-{stamp}"))
        .platform("GCM")
        .attributes("PlatformCredential", "demo-server-key")
        .send()
        .await
        .context("creating the push application")?
        .platform_application_arn
        .context("no application ARN")?;
    sns.create_platform_endpoint()
        .platform_application_arn(app)
        .token(format!("alice-phone-{stamp}"))
        .send()
        .await
        .context("creating the push endpoint")?
        .endpoint_arn
        .context("no endpoint ARN")
}

async fn moto_data(http: &reqwest::Client, moto_url: &str) -> anyhow::Result<Value> {
    stack::moto_state(http, moto_url).await
}

/// Polls `probe` until it finds something (20 s at most).
async fn wait_for<T, F, Fut>(what: &str, probe: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!(
                "nothing arrived on {what} after 20 s: is `herald-local serve` polling its queue?"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn step(title: &str) {
    println!("\n\x1b[1m{title}\x1b[0m");
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn post_escalation(
    http: &reqwest::Client,
    base_url: &str,
    key: &secrecy::SecretString,
    body: &Value,
) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let res = http
        .post(format!("{base_url}/v1/escalations"))
        .bearer_auth(key.expose_secret())
        .json(body)
        .send()
        .await?;
    Ok((res.status(), res.json().await?))
}

async fn get_escalation(
    http: &reqwest::Client,
    base_url: &str,
    key: &secrecy::SecretString,
    id: &str,
) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{base_url}/v1/escalations/{id}"))
        .bearer_auth(key.expose_secret())
        .send()
        .await?
        .json()
        .await?)
}

/// `text` with every magic-link token replaced by `<token>`.
pub fn mask_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/l/") {
        out.push_str(&rest[..i + 3]);
        let after = &rest[i + 3..];
        let token_len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        if token_len == herald::magic_link::TOKEN_CHARS {
            out.push_str("<token>");
        } else {
            out.push_str(&after[..token_len]);
        }
        rest = &after[token_len..];
    }
    out.push_str(rest);
    out
}

/// The `/l/{token}` URLs in a message, in order, without repeats.
pub fn links_in(html: &str, base: &str) -> Vec<String> {
    let prefix = format!("{base}/l/");
    let mut links: Vec<String> = Vec::new();
    for (i, _) in html.match_indices(&prefix) {
        let token: String = html[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let link = format!("{prefix}{token}");
        if !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// A readable rendering of the email's HTML for the terminal (links shown inline).
fn html_to_text(html: &str) -> String {
    let body = html
        .split_once("<body")
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(html, |(_, rest)| rest);
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + end + 1];
        if let Some(href) = tag
            .split("href=\"")
            .nth(1)
            .and_then(|h| h.split('"').next())
        {
            out.push_str(&format!("[{href}] "));
        }
        if tag.starts_with("<tr")
            || tag.starts_with("<p")
            || tag.starts_with("<h1")
            || tag.starts_with("<pre")
        {
            out.push('\n');
        } else if tag == "</td>" {
            out.push(' ');
        }
        rest = &rest[start + end + 1..];
    }
    out.replace("&#38;", "&")
        .replace("&amp;", "&")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn between<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    html.split(open)
        .nth(1)
        .and_then(|s| s.split(close).next())
        .unwrap_or("")
        .trim()
}

fn heading(html: &str) -> String {
    between(html, "<h1>", "</h1>").to_owned()
}

fn paragraph(html: &str) -> String {
    let body = html.split("</h1>").nth(1).unwrap_or(html);
    let texts: Vec<&str> = body
        .split("<p>")
        .skip(1)
        .map(|p| p.split("</p>").next().unwrap_or(""))
        .collect();
    format!(
        "{} — {}",
        heading(html),
        texts.last().copied().unwrap_or_default()
    )
}

/// What the local fake `name` (`teams`, `voice`, `slack`) has received, oldest first.
async fn fake_received(
    http: &reqwest::Client,
    base_url: &str,
    name: &str,
) -> anyhow::Result<Vec<Value>> {
    let records: Value = http
        .get(format!("{base_url}/_local/fakes/{name}"))
        .send()
        .await?
        .json()
        .await?;
    Ok(records.as_array().cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_and_other_paths_kept() {
        let token = "a".repeat(herald::magic_link::TOKEN_CHARS);
        let text = format!("Ack: http://h/l/{token}\nDocs: http://h/l/short and /l/{token}.");
        assert_eq!(
            mask_tokens(&text),
            "Ack: http://h/l/<token>\nDocs: http://h/l/short and /l/<token>."
        );
    }
}
