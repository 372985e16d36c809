//! The tenant's Slack installation: what Slack said about it in `slack_installations`,
//! its bot token sealed in `credentials` (see [`crate::secrets`]), read only by the
//! claim of the Slack dispatcher and by the rewrite of answered messages; and the
//! signatures of interactions already acted on.

use anyhow::Context;
use uuid::Uuid;

use super::Client;
use super::escalations::EscalationState;
use crate::secrets::Sealed;

/// The workspace is installed for another tenant (an interaction from it must find one
/// tenant).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Slack workspace {0} is already installed for another tenant")]
pub struct WorkspaceTaken(pub String);

/// The tenant has another workspace installed: it removes that one first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this tenant already has another Slack workspace installed: remove it first (DELETE /v1/integrations/slack)"
)]
pub struct OtherWorkspaceInstalled;

/// Stores (or replaces) the tenant's installation and its sealed bot token, in one
/// statement: a new token never sits beside an old workspace, or the reverse.
#[tracing::instrument(name = "store slack installation", skip_all)]
pub async fn install(
    client: &Client,
    tenant_id: Uuid,
    slack_team_id: &str,
    bot_user_id: Option<&str>,
    sealed_bot_token: &Sealed,
) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH installation AS (
                INSERT INTO slack_installations (tenant_id, slack_team_id, bot_user_id)
                VALUES ($1, $2, $3)
                -- A reinstall of the same workspace replaces its token; another workspace
                -- never silently takes its place (the tenant removes the first).
                ON CONFLICT (tenant_id) DO UPDATE SET
                    bot_user_id = EXCLUDED.bot_user_id, updated_at = now()
                    WHERE slack_installations.slack_team_id = EXCLUDED.slack_team_id
                RETURNING tenant_id
            )
            INSERT INTO credentials (tenant_id, kind, key_id, ciphertext, hint)
            SELECT tenant_id, 'slack_bot_token', $4, $5, $2 FROM installation
            ON CONFLICT (tenant_id, kind) WHERE recipient_id IS NULL AND team IS NULL DO UPDATE SET
                key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
                revoked_at = NULL, revoked_reason = NULL, updated_at = now()
            "#,
        )
        .await?;
    let stored = client
        .execute(
            &stmt,
            &[
                &tenant_id,
                &slack_team_id,
                &bot_user_id,
                &sealed_bot_token.key_id,
                &sealed_bot_token.bytes,
            ],
        )
        .await;
    match stored {
        Ok(0) => Err(OtherWorkspaceInstalled.into()),
        Ok(_) => Ok(()),
        // One workspace belongs to one tenant: an interaction from it must find one.
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("slack_installations_slack_team_id_key") =>
        {
            Err(WorkspaceTaken(slack_team_id.to_owned()).into())
        }
        Err(e) => Err(e).context("storing the Slack installation"),
    }
}

/// Remembers a Slack request by its signature: `false` when it was seen before (the
/// same signed request again is a replay, refused whatever it asks).
#[tracing::instrument(name = "remember slack request", skip_all)]
pub async fn remember_signature(client: &Client, signature: &[u8]) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO slack_request_signatures (signature) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .await?;
    let inserted = client
        .execute(&stmt, &[&signature])
        .await
        .context("remembering a Slack request")?;
    Ok(inserted == 1)
}

/// Who pressed a button, as Herald knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackActor {
    pub tenant_id: Uuid,
    /// `None`: nobody of the tenant has this Slack user id.
    pub recipient: Option<SlackRecipient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackRecipient {
    pub id: Uuid,
    pub external_id: String,
    pub name: Option<String>,
    /// They were paged for this escalation (on any channel): only they may answer it.
    pub paged: bool,
}

/// The tenant that installed `slack_team_id` and its recipient with `slack_user_id`
/// (the one paged for `escalation_id`, if several share the id); `None` when no tenant
/// installed that workspace.
#[tracing::instrument(name = "find slack actor", skip_all)]
pub async fn actor(
    client: &Client,
    slack_team_id: &str,
    slack_user_id: &str,
    escalation_id: Uuid,
) -> anyhow::Result<Option<SlackActor>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT i.tenant_id, r.id AS recipient_id, r.external_id, r.name,
                   COALESCE(r.paged, false) AS paged
            FROM slack_installations i
            LEFT JOIN LATERAL (
                SELECT r.id, r.external_id, r.name,
                       EXISTS (SELECT 1 FROM notification_log n
                               WHERE n.escalation_id = $3 AND n.recipient_id = r.id) AS paged
                FROM recipients r
                LEFT JOIN slack_connections s ON s.recipient_id = r.id
                WHERE r.tenant_id = i.tenant_id AND r.slack_user_id = $2
                -- The person who connected this account, whoever else carries the id.
                ORDER BY (s.slack_user_id IS NOT DISTINCT FROM $2) DESC, 4 DESC, r.external_id
                LIMIT 1
            ) r ON true
            WHERE i.slack_team_id = $1
            "#,
        )
        .await?;
    let row = client
        .query_opt(&stmt, &[&slack_team_id, &slack_user_id, &escalation_id])
        .await
        .context("finding who pressed a Slack button")?;
    Ok(row.map(|row| SlackActor {
        tenant_id: row.get("tenant_id"),
        recipient: row
            .get::<_, Option<Uuid>>("recipient_id")
            .map(|id| SlackRecipient {
                id,
                external_id: row.get("external_id"),
                name: row.get("name"),
                paged: row.get("paged"),
            }),
    }))
}

/// An escalation as its Slack messages show it, and where those messages are.
#[derive(Debug, Clone)]
pub struct SlackThread {
    pub state: EscalationState,
    pub body: String,
    pub team: Option<String>,
    pub alert_count: i32,
    pub dashboard_url: Option<String>,
    pub triggered_at: chrono::DateTime<chrono::Utc>,
    /// Every Slack message Herald posted for it: `(channel, ts)`.
    pub messages: Vec<(String, String)>,
    /// The installation's sealed bot token, when the tenant still has one.
    pub bot_token: Option<Sealed>,
}

/// The escalation's Slack messages and what they show, with the bot token to rewrite
/// them, in one statement.
///
/// The escalation's messages are read through its step key (`escalation_id` first). The
/// `coalesce` keeps the planner off `notification_log_provider_message`: a plain `LIKE`
/// on the column proves that partial index's `IS NOT NULL`, and with statistics older
/// than the sends (the ids are written after the rows) it chose a filtered walk of the
/// whole index, 20 ms instead of 0.4 ms at 117,000 rows (bench: dispatch-slack's
/// rewrite).
#[tracing::instrument(name = "load slack messages", skip_all, fields(escalation_id = %escalation_id))]
pub async fn thread(client: &Client, escalation_id: Uuid) -> anyhow::Result<Option<SlackThread>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT e.id, e.tenant_id, e.title, e.priority, e.service, e.status,
                   e.acknowledged_at, e.acknowledged_by, e.resolved_at, e.resolved_by,
                   e.body, e.team, e.alert_count, e.dashboard_url, e.triggered_at,
                   c.key_id, c.ciphertext,
                   ARRAY(SELECT n.provider_message_id FROM notification_log n
                         WHERE n.escalation_id = e.id AND n.channel = 'slack'
                           AND coalesce(n.provider_message_id, '') LIKE '%/%'
                         ORDER BY n.sent_at) AS messages
            FROM escalations e
            LEFT JOIN credentials c ON c.tenant_id = e.tenant_id AND c.kind = 'slack_bot_token'
                 AND c.recipient_id IS NULL AND c.team IS NULL
            WHERE e.id = $1
            "#,
        )
        .await?;
    let Some(row) = client
        .query_opt(&stmt, &[&escalation_id])
        .await
        .context("loading the escalation's Slack messages")?
    else {
        return Ok(None);
    };
    let messages: Vec<String> = row.get("messages");
    Ok(Some(SlackThread {
        state: EscalationState::from_row(&row)?,
        body: row.get("body"),
        team: row.get("team"),
        alert_count: row.get("alert_count"),
        dashboard_url: row.get("dashboard_url"),
        triggered_at: row.get("triggered_at"),
        messages: messages
            .iter()
            .filter_map(|m| m.split_once('/'))
            .map(|(c, ts)| (c.to_owned(), ts.to_owned()))
            .collect(),
        bot_token: row.get::<_, Option<String>>("key_id").map(|key_id| Sealed {
            key_id,
            bytes: row.get("ciphertext"),
        }),
    }))
}

/// What the API shows of a tenant's Slack installation: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationInfo {
    pub slack_team_id: String,
    pub bot_user_id: Option<String>,
    /// The id of the key its bot token is sealed with.
    pub key_id: Option<String>,
    pub installed_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Slack refused the bot token as revoked (the app was uninstalled, the token
    /// rotated...): install again (that clears these).
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_reason: Option<String>,
}

#[tracing::instrument(name = "read slack installation", skip_all)]
pub async fn installation(
    client: &Client,
    tenant_id: Uuid,
) -> anyhow::Result<Option<InstallationInfo>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT i.slack_team_id, i.bot_user_id, c.key_id, i.installed_at, i.updated_at,
                   c.revoked_at, c.revoked_reason
            FROM slack_installations i
            LEFT JOIN credentials c ON c.tenant_id = i.tenant_id AND c.kind = 'slack_bot_token'
                 AND c.recipient_id IS NULL AND c.team IS NULL
            WHERE i.tenant_id = $1
            "#,
        )
        .await?;
    Ok(client
        .query_opt(&stmt, &[&tenant_id])
        .await?
        .map(|row| InstallationInfo {
            slack_team_id: row.get("slack_team_id"),
            bot_user_id: row.get("bot_user_id"),
            key_id: row.get("key_id"),
            installed_at: row.get("installed_at"),
            updated_at: row.get("updated_at"),
            revoked_at: row.get("revoked_at"),
            revoked_reason: row.get("revoked_reason"),
        }))
}

/// Removes the tenant's installation, its sealed bot token and the people's Slack
/// connections, in one statement; `false` when there was none. Slack rows are `suppressed` / `channel_not_connected`
/// from then on.
#[tracing::instrument(name = "remove slack installation", skip_all)]
pub async fn uninstall(client: &Client, tenant_id: Uuid) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH token AS (
                -- The bot token, and the people's tokens (their connections go with them).
                DELETE FROM credentials
                WHERE tenant_id = $1 AND kind IN ('slack_bot_token', 'slack_user_token')
            )
            DELETE FROM slack_installations WHERE tenant_id = $1
            "#,
        )
        .await?;
    Ok(client
        .execute(&stmt, &[&tenant_id])
        .await
        .context("removing the Slack installation")?
        == 1)
}

/// Why a person's Slack account could not be connected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectRefused {
    #[error(
        "Slack is not installed for this tenant, or that account is in another workspace: install Slack first (GET /v1/integrations/slack/install) and connect an account of that workspace"
    )]
    NotInstalled,
    #[error(
        "that Slack account is already connected to another recipient: disconnect it there first"
    )]
    TakenByAnother,
    /// The recipient is known in Slack as another user: only that user may connect.
    #[error(
        "this recipient's Slack id is {0}: sign in to Slack as that user (if that id is wrong: remove their Slack connection, or correct the id in an escalation, first)"
    )]
    NotTheirs(String),
}

/// A person's Slack account as Slack reported it when they connected.
#[derive(Debug, Clone)]
pub struct Connection<'a> {
    pub tenant_id: Uuid,
    pub recipient_id: Uuid,
    pub slack_team_id: &'a str,
    pub slack_user_id: &'a str,
    pub scopes: &'a str,
}

/// Stores (or replaces) a person's Slack connection and their sealed user token, and
/// makes the connected user the recipient's Slack id, in one statement. The account must
/// be in the workspace the tenant installed.
#[tracing::instrument(name = "store slack connection", skip_all)]
pub async fn connect(
    client: &Client,
    connection: &Connection<'_>,
    sealed_user_token: &Sealed,
) -> anyhow::Result<()> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH installed AS (
                -- Held until commit: an uninstall meanwhile waits, then removes this too.
                SELECT tenant_id FROM slack_installations
                WHERE tenant_id = $1 AND slack_team_id = $3
                  -- A recipient who already has a Slack id connects that account only
                  -- (a forwarded link cannot give their pages to someone else).
                  AND NOT EXISTS (SELECT 1 FROM recipients r
                                  WHERE r.id = $2 AND r.slack_user_id IS NOT NULL
                                    AND r.slack_user_id <> $4)
                FOR KEY SHARE
            ), token AS (
                INSERT INTO credentials (tenant_id, kind, recipient_id, key_id, ciphertext, hint)
                SELECT tenant_id, 'slack_user_token', $2, $6, $7, $4 FROM installed
                ON CONFLICT (recipient_id, kind) WHERE recipient_id IS NOT NULL DO UPDATE SET
                    key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
                    revoked_at = NULL, revoked_reason = NULL, updated_at = now()
                RETURNING id
            ), connection AS (
                INSERT INTO slack_connections
                    (recipient_id, tenant_id, credential_id, slack_team_id, slack_user_id, scopes)
                SELECT $2, $1, id, $3, $4, $5 FROM token
                ON CONFLICT (recipient_id) DO UPDATE SET
                    credential_id = EXCLUDED.credential_id, slack_team_id = EXCLUDED.slack_team_id,
                    slack_user_id = EXCLUDED.slack_user_id, scopes = EXCLUDED.scopes,
                    connected_at = now()
                RETURNING recipient_id
            ), others AS (
                -- Nobody else carries the id from an old payload.
                UPDATE recipients SET slack_user_id = NULL, updated_at = now()
                WHERE tenant_id = $1 AND slack_user_id = $4 AND id <> $2
                  AND EXISTS (SELECT 1 FROM connection)
            )
            UPDATE recipients SET slack_user_id = $4, updated_at = now()
            WHERE id IN (SELECT recipient_id FROM connection)
            "#,
        )
        .await?;
    let stored = client
        .execute(
            &stmt,
            &[
                &connection.tenant_id,
                &connection.recipient_id,
                &connection.slack_team_id,
                &connection.slack_user_id,
                &connection.scopes,
                &sealed_user_token.key_id,
                &sealed_user_token.bytes,
            ],
        )
        .await;
    match stored {
        Ok(0) => Err(refusal(client, connection).await?.into()),
        Ok(_) => Ok(()),
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("slack_connections_tenant_id_slack_user_id_key") =>
        {
            Err(ConnectRefused::TakenByAnother.into())
        }
        Err(e) => Err(e).context("storing the Slack connection"),
    }
}

/// Why [`connect`] stored nothing.
async fn refusal(client: &Client, connection: &Connection<'_>) -> anyhow::Result<ConnectRefused> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT EXISTS (SELECT 1 FROM slack_installations WHERE tenant_id = $1 AND slack_team_id = $3),
                   (SELECT slack_user_id FROM recipients WHERE id = $2)
            "#,
        )
        .await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &connection.tenant_id,
                &connection.recipient_id,
                &connection.slack_team_id,
            ],
        )
        .await
        .context("reading why a Slack connection was refused")?;
    let installed: bool = row.get(0);
    let current: Option<String> = row.get(1);
    Ok(match current {
        Some(id) if installed && id != connection.slack_user_id => ConnectRefused::NotTheirs(id),
        _ => ConnectRefused::NotInstalled,
    })
}

/// A connection as the API lists it: no secret.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The caller's id for the recipient.
    pub recipient_id: String,
    pub slack_team_id: String,
    pub slack_user_id: String,
    pub scopes: String,
    pub key_id: String,
    pub connected_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_reason: Option<String>,
}

#[tracing::instrument(name = "list slack connections", skip_all)]
pub async fn connections(client: &Client, tenant_id: Uuid) -> anyhow::Result<Vec<ConnectionInfo>> {
    let stmt = client
        .prepare_cached(
            r#"
            SELECT r.external_id, s.slack_team_id, s.slack_user_id, s.scopes, s.connected_at,
                   c.key_id, c.revoked_at, c.revoked_reason
            FROM slack_connections s
            JOIN recipients r ON r.id = s.recipient_id
            JOIN credentials c ON c.id = s.credential_id
            WHERE s.tenant_id = $1
            ORDER BY r.external_id
            "#,
        )
        .await?;
    Ok(client
        .query(&stmt, &[&tenant_id])
        .await
        .context("listing Slack connections")?
        .into_iter()
        .map(|row| ConnectionInfo {
            recipient_id: row.get("external_id"),
            slack_team_id: row.get("slack_team_id"),
            slack_user_id: row.get("slack_user_id"),
            scopes: row.get("scopes"),
            key_id: row.get("key_id"),
            connected_at: row.get("connected_at"),
            revoked_at: row.get("revoked_at"),
            revoked_reason: row.get("revoked_reason"),
        })
        .collect())
}

/// Removes a person's Slack connection and their token, in one statement; the recipient
/// keeps no Slack id (an escalation naming one sets it again). `false` when there was
/// none.
#[tracing::instrument(name = "remove slack connection", skip_all)]
pub async fn disconnect(
    client: &Client,
    tenant_id: Uuid,
    external_id: &str,
) -> anyhow::Result<bool> {
    let stmt = client
        .prepare_cached(
            r#"
            WITH gone AS (
                DELETE FROM credentials c
                USING slack_connections s, recipients r
                WHERE c.id = s.credential_id AND s.recipient_id = r.id
                  AND r.tenant_id = $1 AND r.external_id = $2
                RETURNING s.recipient_id, s.slack_user_id
            ), cleared AS (
                UPDATE recipients r SET slack_user_id = NULL, updated_at = now()
                FROM gone
                WHERE r.id = gone.recipient_id AND r.slack_user_id = gone.slack_user_id
                RETURNING 1
            )
            SELECT count(*) FROM gone
            "#,
        )
        .await?;
    let gone: i64 = client
        .query_one(&stmt, &[&tenant_id, &external_id])
        .await
        .context("removing the Slack connection")?
        .get(0);
    Ok(gone > 0)
}

/// Marks what Slack revoked in workspace `slack_team_id` (its Events API): the dispatcher
/// stops sending with a revoked bot token, and admins see both kinds in
/// `GET /v1/integrations`, until installed or connected again. How many credentials were
/// marked; a workspace no tenant installed marks nothing.
#[tracing::instrument(name = "mark revoked slack tokens", skip_all)]
pub async fn mark_revoked(
    client: &Client,
    slack_team_id: &str,
    revoked: &Revoked<'_>,
    reason: &str,
) -> anyhow::Result<u64> {
    let (users, bot, everyone): (&[String], bool, bool) = match revoked {
        Revoked::Tokens { users, bot } => (users, *bot, false),
        Revoked::Everything => (&[], true, true),
    };
    let stmt = client.prepare_cached(&MARK_REVOKED).await?;
    let marked: i64 = client
        .query_one(&stmt, &[&slack_team_id, &users, &bot, &reason, &everyone])
        .await
        .context("marking revoked Slack tokens")?
        .get(0);
    Ok(u64::try_from(marked).unwrap_or_default())
}

/// [`mark_revoked`]'s statement: the marking, and the operators' system event when the
/// bot's token went (nothing reaches Slack for the tenant until the app is installed
/// again).
static MARK_REVOKED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    [
        r#"
        WITH revoked AS (
            UPDATE credentials c SET revoked_at = now(), revoked_reason = left($4, 200), updated_at = now()
            FROM slack_installations i
            WHERE i.slack_team_id = $1 AND c.tenant_id = i.tenant_id AND c.revoked_at IS NULL
              AND ((c.kind = 'slack_bot_token' AND $3)
                   OR (c.kind = 'slack_user_token' AND ($5 OR c.id IN (
                           SELECT s.credential_id FROM slack_connections s
                           WHERE s.tenant_id = i.tenant_id AND s.slack_team_id = $1
                             AND s.slack_user_id = ANY($2)))))
            RETURNING c.id, c.tenant_id, c.kind
        ), raised AS (
            INSERT INTO admin_system_events AS a (tenant_id, kind, severity, subject, title, detail)
            SELECT tenant_id, 'credential_revoked', 'warning', id::text,
                   'Slack revoked Herald''s bot token: install the app again',
                   jsonb_build_object('credential_id', id, 'kind', kind, 'reason', left($4, 200))
            FROM revoked WHERE kind = 'slack_bot_token'
            "#,
        super::system_events::RAISE,
        r#"
        )
        SELECT count(*) FROM revoked
        "#,
    ]
    .concat()
});

/// Which of a workspace's tokens Slack revoked.
#[derive(Debug, Clone, Copy)]
pub enum Revoked<'a> {
    /// These people's user tokens, and the bot's if `bot`.
    Tokens { users: &'a [String], bot: bool },
    /// The app was uninstalled: the bot's and every person's.
    Everything,
}
