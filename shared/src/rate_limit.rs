//! The rate-limit counters in DynamoDB: one item per person, channel and window, added to
//! by a batch's rows in ONE `TransactWriteItems` whose every update is conditional
//! (`ADD n :k` only while `n <= max - k`). What to write and what it means is decided in
//! [`crate::domain::rate_limit`]; this module only talks to the table.
//!
//! A transaction is all or nothing, so a batch in which someone reached a limit is
//! cancelled as a whole; the cancellation names each refused counter with what it holds
//! (`ReturnValuesOnConditionCheckFailure`), the plan shrinks those people's share, and
//! the transaction is written again without them: one round trip while nobody is at a
//! limit, two when someone is (more only if other batches keep racing for the same
//! counters, bounded by [`ATTEMPTS`]). DynamoDB's PartiQL `BatchExecuteStatement` would
//! take each update on its own in one trip, but the emulator the tests run against has
//! no PartiQL writes (moto 5.2 answers 500), and the tests must talk to the real API.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use crate::domain::rate_limit::{Increment, Limits, Plan, RateLimits, Request};

/// Transactions tried per batch before the counters count as unavailable.
pub const ATTEMPTS: usize = 3;

/// Rows counted per transaction: with at most [`Limits::MAX_WINDOWS`] windows each,
/// within DynamoDB's 100 items per transaction. (A dispatch batch has 10.)
const ROWS_PER_TRANSACTION: usize = 100 / Limits::MAX_WINDOWS;

/// The counter attributes: the key, the count, and the TTL attribute.
const KEY: &str = "pk";
const COUNT: &str = "n";
const EXPIRES_AT: &str = "expires_at";

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The table could not be reached or refused the request for another reason than a
    /// limit (throttled, timed out, no permission, no such table).
    #[error("the rate-limit counters could not be updated: {0}")]
    Unavailable(String),
    /// Other batches kept winning the race for the same counters.
    #[error("the rate-limit counters kept changing under {ATTEMPTS} transactions in a row")]
    Contended,
}

/// What one transaction did.
enum Written {
    Committed,
    /// Cancelled: these counters' conditions failed; each holds the count given.
    Refused(Vec<(String, u32)>),
    /// Cancelled by another transaction on the same counters.
    Conflicted,
}

#[derive(Clone)]
pub struct RateLimiter {
    client: aws_sdk_dynamodb::Client,
    table: String,
    limits: RateLimits,
}

impl RateLimiter {
    /// A client that gives up quickly: a page waits on this call, and an unreachable
    /// table has its own answer (see [`crate::dispatch`]).
    pub fn new(sdk: &aws_config::SdkConfig, table: String, limits: RateLimits) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_millis(800))
            .operation_timeout(Duration::from_secs(2))
            .build();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_dynamodb::Client::from_conf(config),
            table,
            limits,
        }
    }

    /// Counts the rows about to go out against their limits; per request, in order,
    /// whether it may go out. No call at all when none of the rows' channels has limits.
    #[tracing::instrument(name = "rate limits", skip_all, fields(requests = requests.len(), transactions))]
    pub async fn take(
        &self,
        now: DateTime<Utc>,
        requests: &[Request],
    ) -> Result<Vec<bool>, RateLimitError> {
        let mut allowed = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(ROWS_PER_TRANSACTION) {
            allowed.extend(self.take_some(now, chunk).await?);
        }
        Ok(allowed)
    }

    async fn take_some(
        &self,
        now: DateTime<Utc>,
        requests: &[Request],
    ) -> Result<Vec<bool>, RateLimitError> {
        let mut plan = Plan::new(&self.limits, now, requests);
        for attempt in 1..=ATTEMPTS {
            tracing::Span::current().record("transactions", attempt);
            let increments = plan.increments();
            if increments.is_empty() {
                return Ok(plan.allowed());
            }
            match self.write(&increments).await? {
                Written::Committed => return Ok(plan.allowed()),
                // Another batch wrote the same counter at the same moment.
                Written::Conflicted => {}
                Written::Refused(refused) => {
                    for (key, count) in refused {
                        plan.refused(&key, count);
                    }
                }
            }
            tracing::debug!(
                attempt,
                "rate-limit transaction cancelled; writing what is left"
            );
        }
        Err(RateLimitError::Contended)
    }

    /// Writes `increments` in one transaction.
    async fn write(&self, increments: &[Increment]) -> Result<Written, RateLimitError> {
        let items = increments
            .iter()
            .map(|inc| self.update(inc))
            .collect::<Result<Vec<_>, _>>()?;
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let e = match sent {
            Ok(_) => return Ok(Written::Committed),
            Err(e) => e,
        };
        let SdkError::ServiceError(service) = &e else {
            return Err(RateLimitError::Unavailable(describe(&e)));
        };
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
            return Err(RateLimitError::Unavailable(describe(&e)));
        };
        let (mut refused, mut conflicted) = (Vec::new(), false);
        for (inc, reason) in increments.iter().zip(cancelled.cancellation_reasons()) {
            match reason.code() {
                None | Some("None") => {}
                Some("ConditionalCheckFailed") => {
                    let count = reason
                        .item()
                        .and_then(|item| item.get(COUNT))
                        .and_then(|n| n.as_n().ok())
                        .and_then(|n| n.parse::<u32>().ok());
                    // Without the value read back, it counts as full until the next
                    // try reads it.
                    refused.push((inc.key.clone(), count.unwrap_or(inc.cap + 1)));
                }
                Some("TransactionConflict") => conflicted = true,
                Some(other) => {
                    return Err(RateLimitError::Unavailable(format!(
                        "the transaction was cancelled: {other}"
                    )));
                }
            }
        }
        Ok(match (refused.is_empty(), conflicted) {
            (false, _) => Written::Refused(refused),
            (true, true) => Written::Conflicted,
            (true, false) => {
                return Err(RateLimitError::Unavailable(
                    "the transaction was cancelled without a reason".to_owned(),
                ));
            }
        })
    }

    fn update(&self, inc: &Increment) -> Result<TransactWriteItem, RateLimitError> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(inc.key.clone()))
            .update_expression("ADD #n :add SET #exp = if_not_exists(#exp, :exp)")
            .condition_expression("attribute_not_exists(#n) OR #n <= :cap")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":add", AttributeValue::N(inc.add.to_string()))
            .expression_attribute_values(":cap", AttributeValue::N(inc.cap.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(inc.expires_at.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| RateLimitError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// The error's code and message, never the request (which names no secret, but the
/// counters' keys carry recipient ids, which logs do not need).
fn describe<E: std::error::Error + 'static, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(s) => crate::channels::redact(&s.err().to_string()),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "could not connect".to_owned(),
        other => crate::channels::redact(&other.to_string()),
    }
}

/// Creates the counters' table when it is missing (the local stack and the tests; on AWS
/// the template does), with the TTL attribute turned on.
pub async fn ensure_table(sdk: &aws_config::SdkConfig, table: &str) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!("creating {table}: {}", describe(&e))),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(EXPIRES_AT)
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("turning on {table}'s TTL: {}", describe(&e)))?;
    Ok(())
}
