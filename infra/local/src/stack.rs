use anyhow::Context as _;
use aws_sdk_sqs::types::QueueAttributeName;
use herald::db;
use secrecy::SecretString;
use uuid::Uuid;

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// Creates (or finds) `name` and `name-dlq`, with the redrive policy the template sets.
pub async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> anyhow::Result<QueuePair> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("creating the DLQ")?
        .queue_url
        .context("no DLQ url")?;
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .context("creating the queue")?
        .queue_url
        .context("no queue url")?;
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueuePair { url, arn, dlq_url })
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("queue has no ARN")
}

/// Verifies the sender in SES (the emulator, like SES, refuses unverified senders).
pub async fn ensure_sender_identity(
    ses: &herald::aws_sdk_sesv2::Client,
    from: &str,
) -> anyhow::Result<()> {
    match ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("creating the SES identity")),
    }
}

/// A new tenant and its first API key. The key is returned once and stored only hashed.
pub async fn create_tenant(
    client: &db::Client,
    name: &str,
) -> anyhow::Result<(Uuid, SecretString)> {
    let tenant_id = db::tenants::create_tenant(client, name).await?;
    let key = herald::api_key::mint();
    db::tenants::create_api_key(client, tenant_id, &key.hash, &key.display_prefix, "default")
        .await?;
    Ok((tenant_id, key.key))
}
