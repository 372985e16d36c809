//! `herald-local demo`: the main flow, live, against a running `herald-local serve`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::stack;

pub async fn run(config: &herald::Config, base_url: &str, moto_url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let pool = herald::db::connect_pool(&config.database).await?;
    let stamp = chrono::Utc::now().format("%H%M%S").to_string();

    step("1. Create a tenant and an API key (herald-local tenant create)");
    let (tenant_id, key) = stack::create_tenant(&pool.get().await?, "Demo Corp").await?;
    println!(
        "   tenant {tenant_id}; API key {}… (shown once, stored as SHA-256)",
        &key.expose_secret()[..9]
    );

    step("2. POST /v1/escalations");
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
                         "phone": "+14155550101", "slack_user_id": "U024BE7LH" }]
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

    step("3. The same dedup_key again -> 200, the same escalation, nothing sent twice");
    let (status, again) = post_escalation(&http, base_url, &key, &escalation).await?;
    println!("   -> {status} (id {})", again["id"]);

    step("4. dispatch-email sends through SES; the email as the emulator received it");
    let email = wait_for_email(&http, moto_url, &recipient).await?;
    println!(
        "   From:    {}",
        email["source"].as_str().unwrap_or_default()
    );
    println!("   To:      {recipient}");
    println!(
        "   Subject: {}",
        email["subject"].as_str().unwrap_or_default()
    );
    let html = email["body"].as_str().unwrap_or_default();
    // The links are live one-time tokens: shown as `/l/<token>`, as `serve` logs them.
    println!("{}", indent(&mask_tokens(&html_to_text(html))));
    let links = links_in(html, &config.public_base_url.clone().unwrap_or_default());
    let ack = links.first().context("no Acknowledge link in the email")?;

    step(
        "5. GET the Acknowledge link (what a mail scanner does): a confirmation page, nothing changes",
    );
    let page = http.get(ack).send().await?;
    let status = page.status();
    println!("   -> {status}: {}", heading(&page.text().await?));
    let state: Value = get_escalation(&http, base_url, &key, &id).await?;
    println!("   escalation is still {}", state["status"]);

    step("6. POST the confirmation form: the token is consumed and the escalation acknowledged");
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

    step("7. GET /v1/escalations/{id}: acknowledged, with its delivery log");
    let state = get_escalation(&http, base_url, &key, &id).await?;
    println!("{}", indent(&serde_json::to_string_pretty(&state)?));
    if state["status"] != "acknowledged" {
        bail!(
            "the escalation is {} instead of acknowledged",
            state["status"]
        );
    }

    step("8. The schedules, fired on demand as EventBridge fires them every minute / hour");
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
        "   (nothing due: the email was sent and the escalation answered; nothing is old enough to delete)"
    );

    println!(
        "\n\u{2713} demo complete: escalation {id} acknowledged by {}",
        state["acknowledged"]["by"]
    );
    Ok(())
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

async fn wait_for_email(http: &reqwest::Client, moto_url: &str, to: &str) -> anyhow::Result<Value> {
    let started = Instant::now();
    loop {
        let data: Value = http
            .get(format!("{moto_url}/moto-api/data.json"))
            .send()
            .await?
            .json()
            .await?;
        if let Some(m) = data["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["destinations"].to_string().contains(to))
        {
            println!(
                "   (arrived {} ms after the POST)",
                started.elapsed().as_millis()
            );
            return Ok(m.clone());
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("no email for {to} after 20 s: is `herald-local serve` polling the queue?");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `/l/{token}` URLs in a message, in order, without repeats.
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
