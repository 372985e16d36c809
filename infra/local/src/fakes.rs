//! Small fake providers for the channels the emulator does not have, on loopback ports:
//! a Teams Workflows webhook endpoint, End User Messaging voice (awsJson1_0) and the
//! Slack Web API. The local stack and the tests use the same ones; all record what they
//! received.

use std::net::SocketAddr;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The X-Amz-Target of the one voice operation Herald calls.
pub const SEND_VOICE_MESSAGE: &str = "PinpointSMSVoiceV2.SendVoiceMessage";

/// A request a fake received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct FakeProviders {
    /// Answers any `POST /teams/{name}` with 202, as Workflows does. Tests mount more
    /// specific answers (429, 5xx...) on it; those win over this default.
    pub teams: MockServer,
    /// Answers `SendVoiceMessage` with a message id.
    pub voice: MockServer,
    /// Answers `POST /api/chat.postMessage` with `ok: true`, a DM channel and a `ts`,
    /// `POST /api/chat.update` with `ok: true`, and `POST /api/oauth.v2.access` (see
    /// [`oauth_answer`]).
    pub slack: MockServer,
}

impl FakeProviders {
    /// On ports the system picks.
    pub async fn start() -> Self {
        Self::on(None, None, None).await
    }

    /// On the given loopback ports (the local stack's fixed ones), or any.
    pub async fn on(
        teams_port: Option<u16>,
        voice_port: Option<u16>,
        slack_port: Option<u16>,
    ) -> Self {
        let server = |port: Option<u16>| async move {
            match port {
                Some(port) => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], port));
                    let listener = std::net::TcpListener::bind(addr)
                        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
                    MockServer::builder().listener(listener).start().await
                }
                None => MockServer::start().await,
            }
        };
        let teams = server(teams_port).await;
        Mock::given(method("POST"))
            .and(path_regex("^/teams/[^/]+$"))
            .respond_with(ResponseTemplate::new(202))
            .with_priority(10)
            .mount(&teams)
            .await;
        Mock::given(method("POST"))
            .and(path_regex("^/login/[^/]+/oauth2/v2.0/token$"))
            .respond_with(|req: &Request| {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&req.body)
                        .into_owned()
                        .collect();
                let (status, body) = microsoft_token_answer(&form);
                ResponseTemplate::new(status).set_body_json(body)
            })
            .with_priority(10)
            .mount(&teams)
            .await;
        let voice = server(voice_port).await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-amz-target", SEND_VOICE_MESSAGE))
            .respond_with(|_: &Request| {
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/x-amz-json-1.0")
                    .set_body_json(json!({ "MessageId": uuid::Uuid::new_v4().to_string() }))
            })
            .with_priority(10)
            .mount(&voice)
            .await;
        let slack = server(slack_port).await;
        let posted = std::sync::atomic::AtomicU64::new(1);
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .respond_with(move |_: &Request| {
                let n = posted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ResponseTemplate::new(200).set_body_json(json!({
                    "ok": true, "channel": "D0HERALD01", "ts": format!("1790000000.{n:06}")
                }))
            })
            .with_priority(10)
            .mount(&slack)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/oauth.v2.access"))
            .respond_with(|req: &Request| {
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&req.body)
                        .into_owned()
                        .collect();
                ResponseTemplate::new(200).set_body_json(oauth_answer(&form))
            })
            .with_priority(10)
            .mount(&slack)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.update"))
            .respond_with(|req: &Request| {
                let asked: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                ResponseTemplate::new(200).set_body_json(json!({
                    "ok": true, "channel": asked["channel"], "ts": asked["ts"]
                }))
            })
            .with_priority(10)
            .mount(&slack)
            .await;
        Self {
            teams,
            voice,
            slack,
        }
    }

    /// The Slack fake's Web API base, for `HERALD_SLACK_API_BASE_URL`.
    pub fn slack_api_base(&self) -> String {
        format!("{}/api", self.slack.uri())
    }

    /// Every `chat.postMessage` call, oldest first.
    pub async fn slack_posts(&self) -> Vec<Received> {
        received(&self.slack)
            .await
            .into_iter()
            .filter(|r| r.path == "/api/chat.postMessage")
            .collect()
    }

    /// Every Slack Web API call (`chat.postMessage`, `chat.update`), oldest first.
    pub async fn slack_calls(&self) -> Vec<Received> {
        received(&self.slack).await
    }

    /// Every `chat.update` call, oldest first.
    pub async fn slack_updates(&self) -> Vec<Received> {
        received(&self.slack)
            .await
            .into_iter()
            .filter(|r| r.path == "/api/chat.update")
            .collect()
    }

    /// A webhook URL on the Teams fake; `name` tells recipients apart.
    pub fn teams_webhook(&self, name: &str) -> String {
        format!("{}/teams/{name}", self.teams.uri())
    }

    /// The voice fake's endpoint, for `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2`.
    pub fn voice_endpoint(&self) -> String {
        self.voice.uri()
    }

    /// Every card posted to the webhook `name`, oldest first.
    pub async fn teams_posts(&self, name: &str) -> Vec<Received> {
        let wanted = format!("/teams/{name}");
        received(&self.teams)
            .await
            .into_iter()
            .filter(|r| r.path == wanted)
            .collect()
    }

    /// Every `SendVoiceMessage` call, oldest first.
    pub async fn voice_calls(&self) -> Vec<Received> {
        received(&self.voice)
            .await
            .into_iter()
            .filter(|r| r.header("x-amz-target") == Some(SEND_VOICE_MESSAGE))
            .collect()
    }
}

/// The directory every person of the fake Microsoft sign-in belongs to.
pub const FAKE_ENTRA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The fake Microsoft token endpoint (authorization code grant): a code
/// `person-{object id}` signs that person in (an ID token for the asking app, a refresh
/// token `0.fake-refresh-{code}`); `noffline-{object id}` the same without
/// offline_access (an access token only, for an hour); a code starting `bad` is refused
/// as Microsoft refuses a used one.
pub fn microsoft_token_answer(form: &std::collections::HashMap<String, String>) -> (u16, Value) {
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    if code.starts_with("bad")
        || form.get("client_secret").is_none()
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return (
            400,
            json!({
                "error": "invalid_grant",
                "error_description": "AADSTS54005: OAuth2 Authorization code was already redeemed."
            }),
        );
    }
    let (kind, oid) = code.split_once('-').unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "aud": form.get("client_id"),
        "iss": format!("https://login.microsoftonline.com/{FAKE_ENTRA_TENANT}/v2.0"),
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": FAKE_ENTRA_TENANT, "oid": oid,
        "name": "Fake Person", "preferred_username": "person@fake.example"
    });
    let part = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let id_token = format!(
        "{}.{}.ZmFrZS1zaWduYXR1cmU",
        part(&json!({ "alg": "RS256", "typ": "JWT", "kid": "fake" })),
        part(&claims)
    );
    let mut answer = json!({
        "token_type": "Bearer",
        "scope": "openid profile email https://graph.microsoft.com/User.Read",
        "expires_in": 3600,
        "access_token": format!("eyJ0.fake-access-{code}"),
        "id_token": id_token,
    });
    if kind != "noffline" {
        answer["refresh_token"] = json!(format!("0.fake-refresh-{code}"));
        answer["scope"] =
            json!("openid profile email offline_access https://graph.microsoft.com/User.Read");
    }
    (200, answer)
}

/// The fake `oauth.v2.access`: a code `T0WORKSPACE-anything` installs workspace
/// `T0WORKSPACE` with the bot token `xoxb-fake-{code}`; a code `T0WORKSPACE-user-U0ID…`
/// is a person of that workspace, `U0ID`, connecting their account (a user token
/// `xoxp-fake-{code}`, no bot token); a code starting `bad` is refused as Slack refuses a
/// used or unknown one.
pub fn oauth_answer(form: &std::collections::HashMap<String, String>) -> Value {
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    if code.starts_with("bad") || form.get("client_secret").is_none() {
        return json!({ "ok": false, "error": "invalid_code" });
    }
    let mut parts = code.split('-');
    let team = parts.next().unwrap_or_default();
    if parts.next() == Some("user") {
        let user = parts.next().unwrap_or_default();
        return json!({
            "ok": true,
            "app_id": "A0HERALD01",
            "authed_user": {
                "id": user,
                "scope": "users:read",
                "access_token": format!("xoxp-fake-{code}"),
                "token_type": "user"
            },
            "team": { "id": team, "name": "Fake Workspace" },
            "enterprise": null,
            "is_enterprise_install": false
        });
    }
    json!({
        "ok": true,
        "app_id": "A0HERALD01",
        "authed_user": { "id": "U0ADMIN001" },
        "scope": "chat:write,im:write",
        "token_type": "bot",
        "access_token": format!("xoxb-fake-{code}"),
        "bot_user_id": "U0HERALDBOT",
        "team": { "id": team, "name": "Fake Workspace" },
        "enterprise": null,
        "is_enterprise_install": false
    })
}

impl FakeProviders {
    /// The fake Microsoft authority, for `HERALD_TEAMS_AUTHORITY_URL`.
    pub fn teams_authority(&self) -> String {
        format!("{}/login/organizations", self.teams.uri())
    }

    /// Every call to the fake Microsoft token endpoint, oldest first.
    pub async fn microsoft_token_calls(&self) -> Vec<Received> {
        received(&self.teams)
            .await
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .collect()
    }

    /// Every `oauth.v2.access` call, oldest first.
    pub async fn slack_oauth_exchanges(&self) -> Vec<Received> {
        received(&self.slack)
            .await
            .into_iter()
            .filter(|r| r.path == "/api/oauth.v2.access")
            .collect()
    }
}

async fn received(server: &MockServer) -> Vec<Received> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| Received {
            path: r.url.path().to_owned(),
            headers: r
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_owned(), v.to_owned()))
                })
                .collect(),
            body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        })
        .collect()
}
