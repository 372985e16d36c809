//! A person connects their Microsoft Teams identity (seed 001's `teams_connections`):
//! the OAuth 2.0 authorization-code flow of Microsoft's identity platform with OpenID
//! Connect. The redirect carries a signed, single-use `state` (as Slack's install does);
//! the callback trades the code at the token endpoint, reads who signed in from the ID
//! token (their directory and object id: who acted, as Teams will name them), and keeps
//! the refresh token sealed. A connection whose token lapses is shown `expired`.

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::db::Pool;
use crate::domain::oauth::{self, IdClaims, Provider, StateError};
use crate::secrets::{Keyring, Owner};
use crate::warm::Warm;

/// What Herald asks Microsoft for: who the person is (`openid profile`), their basic
/// profile (`User.Read`), and a refresh token (`offline_access`) so the connection
/// outlives the hour an access token lasts.
pub const SCOPES: &str = "openid profile offline_access User.Read";
/// How long a refresh token lasts unused (Microsoft's default inactivity lifetime).
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// What connecting can fail with (each maps to one HTTP status, in one place).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "Teams connections are not configured (set HERALD_TEAMS_CLIENT_ID and HERALD_TEAMS_CLIENT_SECRET)"
    )]
    NotConfigured,
    /// Forged, altered, expired or used: 400, nothing stored.
    #[error("this sign-in link is not valid: {0}")]
    State(#[from] StateError),
    /// The person said no, or Microsoft refused the code: 400.
    #[error("Microsoft did not grant the sign-in: {0}")]
    Denied(String),
    /// Microsoft answered, but not with what it documents: 502.
    #[error("Microsoft's answer to the code exchange is unusable: {0}")]
    BadAnswer(&'static str),
    /// The identity is another recipient's: 409.
    #[error("{0}")]
    Conflict(String),
    /// Microsoft could not be reached or failed: 502, try again.
    #[error("Microsoft could not be reached: {0}")]
    Upstream(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::oauth::Refused> for ConnectError {
    fn from(e: crate::oauth::Refused) -> Self {
        match e {
            crate::oauth::Refused::State(e) => Self::State(e),
            crate::oauth::Refused::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// A finished connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub recipient_id: Uuid,
    pub claims: IdClaims,
}

#[derive(serde::Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// The Entra ID app people sign in with.
#[derive(Clone)]
pub struct TeamsConnector {
    client_id: String,
    client_secret: Warm<SecretString>,
    authorize_url: String,
    token_url: String,
    redirect_uri: String,
    http: reqwest::Client,
    keyring: Warm<Keyring>,
}

impl TeamsConnector {
    /// `None` without `HERALD_TEAMS_CLIENT_ID`: Teams connections are not offered.
    pub fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        let Some(app) = &config.teams_oauth else {
            return Ok(None);
        };
        let source = app.client_secret.clone();
        Ok(Some(Self {
            client_id: app.client_id.clone(),
            client_secret: Warm::lazy(move || {
                let source = source.clone();
                async move { source.read().await }
            }),
            authorize_url: format!("{}/oauth2/v2.0/authorize", app.authority_url),
            token_url: format!("{}/oauth2/v2.0/token", app.authority_url),
            redirect_uri: format!(
                "{}/v1/integrations/teams/callback",
                config.require_public_base_url()?
            ),
            http: crate::channels::https_client()?,
            keyring: Keyring::warming(config.require_secret_keys()?),
        }))
    }

    async fn state_key(&self) -> anyhow::Result<Vec<u8>> {
        let secret = self.client_secret.get().await?;
        Ok(oauth::derive_key(
            Provider::Teams,
            secret.expose_secret().as_bytes(),
        ))
    }

    /// Microsoft's sign-in page for `recipient_id` of `tenant_id`, valid once for ten
    /// minutes from `now`.
    pub async fn authorize_url(
        &self,
        client: &crate::db::Client,
        tenant_id: Uuid,
        recipient_id: Uuid,
        now: i64,
    ) -> anyhow::Result<String> {
        let state = crate::oauth::issue(
            client,
            Provider::Teams,
            &self.state_key().await?,
            tenant_id,
            Some(recipient_id),
            now,
        )
        .await?;
        let mut url = url::Url::parse(&self.authorize_url)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", SCOPES)
            .append_pair("state", &state);
        Ok(url.into())
    }

    /// What the callback's confirmation page names, for a state that is ours,
    /// unexpired and unused; nothing is used or sent to Microsoft.
    pub async fn preview(
        &self,
        pool: &Pool,
        state: &str,
        now: i64,
    ) -> Result<crate::db::oauth::PendingView, ConnectError> {
        let key = self.state_key().await?;
        Ok(crate::oauth::preview(pool, Provider::Teams, &key, state, now).await?)
    }

    /// The callback: the state first (nothing is sent to Microsoft for a forged,
    /// expired or used one), then the code exchange; the token is sealed before it is
    /// stored and is never logged or shown.
    #[tracing::instrument(name = "complete teams connection", skip_all)]
    pub async fn complete(
        &self,
        pool: &Pool,
        code: &str,
        state: &str,
        now: i64,
    ) -> Result<Connected, ConnectError> {
        let key = self.state_key().await?;
        let (tenant_id, pending) =
            crate::oauth::take(pool, Provider::Teams, &key, state, now).await?;
        let recipient_id = pending
            .recipient_id
            .ok_or(ConnectError::State(StateError::Used))?;
        let secret = self.client_secret.get().await?;
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", secret.expose_secret()),
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("scope", SCOPES),
            ])
            .send()
            .await
            .map_err(|e| ConnectError::Upstream(crate::channels::classify_transport(e).message))?;
        let status = response.status();
        let answer: Option<TokenAnswer> = response.json().await.ok();
        // Microsoft refuses a bad or used code with 400 and an OAuth `error` code.
        if status.is_client_error() {
            let code = answer
                .and_then(|a| a.error)
                .unwrap_or_else(|| format!("HTTP {status}"));
            return Err(ConnectError::Denied(crate::channels::redact(&code)));
        }
        if !status.is_success() {
            return Err(ConnectError::Upstream(format!(
                "Microsoft answered HTTP {status}"
            )));
        }
        let answer = answer.ok_or(ConnectError::BadAnswer("not the JSON Microsoft documents"))?;
        let claims = answer
            .id_token
            .as_deref()
            .ok_or(ConnectError::BadAnswer("no ID token"))
            .and_then(|t| {
                oauth::id_token_claims(t, &self.client_id, now).map_err(ConnectError::BadAnswer)
            })?;
        // The refresh token when offline_access was granted, else the access token.
        let (token, lifetime) = match (answer.refresh_token, answer.access_token) {
            (Some(refresh), _) if !refresh.is_empty() => (refresh, REFRESH_TOKEN_LIFETIME_SECS),
            (_, Some(access)) if !access.is_empty() => {
                (access, answer.expires_in.unwrap_or(3600).clamp(0, 86_400))
            }
            _ => return Err(ConnectError::BadAnswer("no token")),
        };
        let expires_at = chrono::DateTime::from_timestamp(now + lifetime, 0)
            .ok_or(ConnectError::BadAnswer("an expiry out of range"))?;
        let keyring = self.keyring.get().await?;
        let sealed = keyring.seal(
            &SecretString::from(token),
            &Owner::teams_user_token(tenant_id, recipient_id),
        );
        let scopes = answer.scope.unwrap_or_default();
        crate::db::teams::connect_person(
            &pool
                .get()
                .await
                .map_err(|e| ConnectError::Unexpected(e.into()))?,
            &crate::db::teams::PersonConnection {
                tenant_id,
                recipient_id,
                claims: &claims,
                scopes: scopes.get(..500).unwrap_or(&scopes),
                expires_at,
            },
            &sealed,
        )
        .await
        .map_err(|e| match e.downcast::<crate::db::teams::IdentityTaken>() {
            Ok(taken) => ConnectError::Conflict(taken.to_string()),
            Err(e) => ConnectError::Unexpected(e),
        })?;
        tracing::info!(aad_object_id = %claims.object_id, "Teams identity connected");
        Ok(Connected {
            recipient_id,
            claims,
        })
    }
}
