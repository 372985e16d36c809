//! The tenant's Slack installation: what Slack said about it in `slack_installations`,
//! its bot token sealed in `credentials` (see [`crate::secrets`]), read only by the
//! claim of the Slack dispatcher.

use anyhow::Context;
use uuid::Uuid;

use super::Client;
use crate::secrets::Sealed;

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
                ON CONFLICT (tenant_id) DO UPDATE SET
                    slack_team_id = EXCLUDED.slack_team_id, bot_user_id = EXCLUDED.bot_user_id,
                    updated_at = now()
                RETURNING tenant_id
            )
            INSERT INTO credentials (tenant_id, kind, key_id, ciphertext, hint)
            SELECT tenant_id, 'slack_bot_token', $4, $5, $2 FROM installation
            ON CONFLICT (tenant_id, kind) WHERE recipient_id IS NULL AND team IS NULL DO UPDATE SET
                key_id = EXCLUDED.key_id, ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint,
                updated_at = now()
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
        Ok(_) => Ok(()),
        // One workspace belongs to one tenant: an interaction from it must find one.
        Err(e)
            if e.as_db_error().and_then(|d| d.constraint())
                == Some("slack_installations_slack_team_id_key") =>
        {
            anyhow::bail!("Slack workspace {slack_team_id} is already installed for another tenant")
        }
        Err(e) => Err(e).context("storing the Slack installation"),
    }
}
