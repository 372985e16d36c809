//! The one dispatch pipeline, generic over the channel's [`Adapter`]: claim a batch of
//! rows in ONE statement (storing the magic-link token hashes of exactly the actions the
//! adapter offers), send concurrently, record every result in ONE statement. Every
//! `dispatch-*` binary, the local runner and the tests run this same code; handlers only
//! turn an SQS event into notification ids and the outcome into a batch response.

use std::collections::HashMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use uuid::Uuid;

use crate::Config;
use crate::channels::{Adapter, Delivery, DeliveryError, FailureKind, Links};
use crate::db::Pool;
use crate::db::notifications::{
    self, AttemptOutcome, AttemptResult, BatchContext, Claimed, Counters, TokenToStore,
};
use crate::domain::backoff::RetryDecision;
use crate::domain::policy::reason;
use crate::domain::quiet_hours;
use crate::domain::rate_limit::Request;
use crate::domain::{Action, Channel, Priority, RetryPolicy};
use crate::magic_link::{self, MintedToken};
use crate::rate_limit::RateLimiter;
use crate::secrets::{Keyring, SecretError};
use crate::warm::Warm;
use secrecy::SecretString;

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows this batch owned (the others were sent, suppressed or taken already).
    pub claimed: usize,
    pub sent: usize,
    /// Failed; a retry is scheduled.
    pub transient: usize,
    /// Failed for good.
    pub permanent: usize,
    /// Not sent by rule (opted out at the carrier).
    pub suppressed: usize,
    /// Held back by rule until later (the person's quiet hours).
    pub deferred: usize,
}

/// A channel's dispatcher, whatever its adapter: what the local runner and the test app
/// hold one of per channel.
pub trait Dispatch: Send + Sync {
    fn channel(&self) -> Channel;

    /// Claims, sends and records the given notifications. An `Err` means the store could
    /// not be reached: nothing was sent for rows not claimed, and claimed rows come back
    /// through the retry sweep when their lease expires. The caller hands the messages
    /// back to SQS.
    fn dispatch<'a>(&'a self, ids: &'a [Uuid]) -> BoxFuture<'a, anyhow::Result<Summary>>;

    /// Follows up on answered escalations (see [`Adapter::answered`]): each id with what
    /// it did, an `Err` to hand that message back to SQS.
    fn answered<'a>(
        &'a self,
        escalation_ids: &'a [Uuid],
    ) -> BoxFuture<'a, Vec<(Uuid, anyhow::Result<usize>)>>;
}

/// What the pipeline needs, built once per cold start.
pub struct Dispatcher<A: Adapter> {
    pool: Pool,
    /// The provider adapter (its SDK client may still be warming up).
    adapter: Warm<A>,
    /// Where `/l/{token}` is served.
    public_base_url: String,
    token_ttl: Duration,
    lease: Duration,
    retry: RetryPolicy,
    /// The keys credentials are sealed with, for adapters that send with one.
    keyring: Option<Warm<Keyring>>,
    /// What this channel's messages offer, so what gets a token ([`Adapter::actions`]).
    actions: &'static [Action],
    /// Whether the claim hands out reply codes ([`Adapter::reply_codes`]).
    reply_codes: bool,
    /// The per-person rate-limit counters, when a table is configured.
    limiter: Option<Warm<RateLimiter>>,
}

/// A claimed row before its provider call: what it sends with, or its outcome already.
type Prepared = Result<Option<SecretString>, AttemptOutcome>;

impl<A: Adapter> Dispatcher<A> {
    /// The one way to build a dispatcher, on Lambda as in tests: configuration errors fail
    /// now; the adapter is built from `sdk` on first use, overlapping the first batch's
    /// claim (Lambda passes [`crate::config::aws_sdk_config_warming`], tests a ready one).
    pub async fn new(config: &Config, sdk: Warm<aws_config::SdkConfig>) -> anyhow::Result<Self> {
        let settings = A::settings(config)?;
        let actions = A::actions(&settings);
        let reply_codes = A::reply_codes(&settings);
        let public_base_url = config.require_public_base_url()?.to_owned();
        let limiter = config.rate_limits.table.clone().map(|table| {
            let (limits, sdk) = (config.rate_limits.limits.clone(), sdk.clone());
            Warm::lazy(move || {
                let (table, limits, sdk) = (table.clone(), limits.clone(), sdk.clone());
                async move { Ok(RateLimiter::new(&sdk.get().await?, table, limits)) }
            })
        });
        if limiter.is_none() {
            tracing::warn!(
                "HERALD_RATE_LIMIT_TABLE is not set: pages on this channel are not rate-limited"
            );
        }
        let adapter = Warm::lazy(move || {
            let (settings, sdk) = (settings.clone(), sdk.clone());
            async move {
                let sdk = sdk.get().await?;
                A::build(settings, &sdk)
            }
        });
        let keyring = if A::CREDENTIAL {
            Some(Keyring::warming(config.require_secret_keys()?))
        } else {
            None
        };
        Ok(Self {
            pool: crate::db::connect_pool(&config.database).await?,
            adapter,
            public_base_url,
            token_ttl: config.magic_link_ttl,
            lease: config.sending_lease,
            retry: config.retry.for_channel(A::CHANNEL),
            keyring,
            actions,
            reply_codes,
            limiter,
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    #[tracing::instrument(name = "dispatch", skip_all, fields(channel = %A::CHANNEL, requested = ids.len()))]
    pub async fn run(&self, ids: &[Uuid]) -> anyhow::Result<Summary> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();

        // Fresh tokens for the actions this channel's message offers; only those of
        // claimed rows get stored.
        let minted: HashMap<Uuid, Vec<MintedToken>> = ids
            .iter()
            .map(|id| {
                (
                    *id,
                    self.actions.iter().map(|_| magic_link::mint()).collect(),
                )
            })
            .collect();
        let to_store: Vec<TokenToStore<'_>> = minted
            .iter()
            .flat_map(|(id, tokens)| {
                self.actions
                    .iter()
                    .zip(tokens)
                    .map(|(action, token)| TokenToStore {
                        notification_id: *id,
                        hash: &token.hash,
                        action: *action,
                    })
            })
            .collect();

        // The connection goes back to the pool before any provider call: sends can take
        // seconds, and recording takes a fresh connection in case this one died meanwhile.
        let claim = async {
            let client = self.pool.get().await?;
            notifications::claim(
                &client,
                A::CHANNEL,
                &ids,
                &to_store,
                self.token_ttl,
                self.lease,
                self.reply_codes,
            )
            .await
        };
        let keyring = async {
            match &self.keyring {
                Some(k) => k.get().await.map(Some),
                None => Ok(None),
            }
        };
        let limiter = async {
            match &self.limiter {
                Some(l) => l.get().await.map(Some),
                None => Ok(None),
            }
        };
        let (claimed, adapter, keyring, limiter) =
            tokio::join!(claim, self.adapter.get(), keyring, limiter);
        let claimed = claimed?;
        // What SQS handed over and what was still this batch's to send (the rest: sent or
        // answered meanwhile, or claimed by another batch: a duplicate message).
        metrics::counter!("Messages", "Channel" => A::CHANNEL.as_str()).increment(ids.len() as u64);
        metrics::counter!("Claimed", "Channel" => A::CHANNEL.as_str())
            .increment(claimed.len() as u64);
        if claimed.is_empty() {
            return Ok(Summary::default());
        }
        let claimed_at = std::time::Instant::now();

        // Should the adapter or the keyring fail to build (the next batch builds them
        // again), nothing was sent: the claimed rows are handed back at once, their
        // attempt uncounted, and the messages go back to SQS.
        let (adapter, keyring) = match (adapter, keyring) {
            (Ok(adapter), Ok(keyring)) => (adapter, keyring),
            (Err(e), _) | (_, Err(e)) => {
                let held: Vec<(Uuid, i32)> =
                    claimed.iter().map(|n| (n.id, n.attempt_count)).collect();
                if let Err(release) =
                    async { notifications::release(&self.pool.get().await?, &held).await }.await
                {
                    tracing::warn!(error.message = %crate::telemetry::describe(release.as_ref()), "could not hand the rows back; their lease will");
                }
                return Err(e.context("setting up the provider client"));
            }
        };
        let now = Utc::now();
        let mut prepared: Vec<Prepared> = claimed
            .iter()
            .map(|n| self.prepare(keyring.as_ref(), n, now))
            .collect();
        let counters = self.limit(limiter, &claimed, &mut prepared).await;
        let results: Vec<AttemptResult> = futures::future::join_all(
            claimed
                .iter()
                .zip(prepared)
                .map(|(n, p)| self.send_one(&adapter, n, p, &minted[&n.id], claimed_at)),
        )
        .await;

        let mut summary = Summary {
            claimed: claimed.len(),
            ..Summary::default()
        };
        let channel = A::CHANNEL.as_str();
        for r in &results {
            match &r.outcome {
                AttemptOutcome::Sent { .. } => summary.sent += 1,
                AttemptOutcome::Suppressed { reason } => {
                    summary.suppressed += 1;
                    metrics::counter!("Suppressed", "Channel" => channel, "Reason" => *reason)
                        .increment(1);
                }
                AttemptOutcome::Deferred { .. } => summary.deferred += 1,
                AttemptOutcome::Failed {
                    next_attempt_at: Some(_),
                    ..
                } => summary.transient += 1,
                AttemptOutcome::Failed { .. } => summary.permanent += 1,
            }
        }
        metrics::counter!("Sent", "Channel" => channel).increment(summary.sent as u64);
        metrics::counter!("Deferred", "Channel" => channel).increment(summary.deferred as u64);

        // The messages are out: recording must not give up at the first hiccup (a pooled
        // connection the database dropped is only found dead when used; each try takes
        // another or a fresh one). Giving up means the rows wait out their lease and are
        // sent again, so it tries for a few seconds (well inside the function's timeout).
        let recorded = (|| async { notifications::record_batch(&self.pool.get().await?, Some(BatchContext { channel: A::CHANNEL, counters }), &results).await })
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(1))
                    .with_max_times(8)
                    .with_jitter(),
            )
            .notify(|e, after| {
                tracing::warn!(error.message = %crate::telemetry::describe(e.as_ref()), ?after, "recording failed; retrying")
            })
            .await?;
        // Someone answered while these were on their way: the answer's own follow-up may
        // have run before they were recorded, so follow up here too (Slack rewrites).
        for escalation_id in recorded.answered_meanwhile {
            if let Err(e) = adapter
                .answered(&self.pool, keyring.as_ref(), escalation_id)
                .await
            {
                tracing::warn!(%escalation_id, error.message = %crate::telemetry::describe(e.as_ref()), "could not follow up an answer given during the send");
            }
        }
        Ok(summary)
    }

    #[tracing::instrument(name = "deliver", skip_all, fields(notification_id = %n.id, attempt = n.attempt_count))]
    async fn send_one(
        &self,
        adapter: &A,
        n: &Claimed,
        prepared: Prepared,
        tokens: &[MintedToken],
        claimed_at: std::time::Instant,
    ) -> AttemptResult {
        let links = Links::new(
            self.actions
                .iter()
                .zip(tokens)
                .map(|(action, t)| (*action, magic_link::url(&self.public_base_url, &t.token)))
                .collect(),
        );
        let mut revoked_credential = None;
        let outcome = match prepared {
            Err(outcome) => outcome,
            Ok(credential) => {
                let delivery = Delivery {
                    notification: n,
                    links: &links,
                    credential: credential.as_ref(),
                };
                match adapter.deliver(&delivery).await {
                    Ok(receipt) => {
                        metrics::histogram!("ClaimToSendMs", "Channel" => A::CHANNEL.as_str())
                            .record(claimed_at.elapsed().as_secs_f64() * 1000.0);
                        AttemptOutcome::Sent {
                            provider_message_id: receipt.provider_message_id,
                        }
                    }
                    Err(e) => {
                        if e.kind == FailureKind::CredentialRevoked
                            && let Some(c) = &n.credential
                        {
                            tracing::warn!(credential_id = %c.id, error.code = %e.code, "the provider refused the credential as revoked; marked for the tenant's admins");
                            revoked_credential = Some((c.id, c.updated_at));
                        }
                        self.failed(n, e)
                    }
                }
            }
        };
        AttemptResult {
            id: n.id,
            attempt: n.attempt_count,
            outcome,
            revoked_credential,
        }
    }

    /// Counts the rows about to go out against their person's limits on this channel, in
    /// one round trip to the counters (two when someone is at a limit): a row past a
    /// limit is `suppressed` / `rate_limited`, which the engine takes as this channel
    /// having given up, so the escalation moves on at once instead of waiting.
    ///
    /// When the counters cannot be reached, a critical page goes out unchecked (a page
    /// lost to an outage of a safety net is worse than one page too many), and any other
    /// is retried later as a transient failure. Returns how the counters answered (for
    /// the `sending_paused` system events).
    async fn limit(
        &self,
        limiter: anyhow::Result<Option<RateLimiter>>,
        claimed: &[Claimed],
        prepared: &mut [Prepared],
    ) -> Counters {
        let going: Vec<usize> = (0..claimed.len())
            .filter(|&i| prepared[i].is_ok())
            .collect();
        if going.is_empty() {
            return Counters::NotAsked;
        }
        let taken = match limiter {
            Ok(None) => return Counters::NotAsked,
            Ok(Some(limiter)) => {
                let requests: Vec<Request> = going
                    .iter()
                    .map(|&i| Request {
                        recipient: claimed[i].recipient_id,
                        channel: A::CHANNEL,
                        priority: claimed[i].priority,
                    })
                    .collect();
                limiter
                    .take(Utc::now(), &requests)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(crate::telemetry::describe(e.as_ref())),
        };
        match taken {
            Ok(allowed) => {
                let mut limited = 0;
                for (&i, ok) in going.iter().zip(allowed) {
                    if !ok {
                        limited += 1;
                        prepared[i] = Err(AttemptOutcome::Suppressed {
                            reason: reason::RATE_LIMITED,
                        });
                    }
                }
                if limited > 0 {
                    tracing::info!(limited, "rows past their person's rate limit; suppressed");
                }
                Counters::Answered
            }
            Err(why) => {
                tracing::warn!(error.message = %why, "rate-limit counters unavailable: critical pages go out unchecked, the rest are retried");
                for &i in &going {
                    if claimed[i].priority != Priority::Critical {
                        prepared[i] = Err(self.failed(
                            &claimed[i],
                            DeliveryError::transient("RateLimitUnavailable", why.clone()),
                        ));
                    }
                }
                Counters::Unreachable
            }
        }
    }

    /// What a row needs before its provider call: no opt-out, an address not on the
    /// tenant's suppression list, a moment
    /// outside the person's quiet hours (unless it may wake them), and the opened
    /// credential for an adapter that sends with one. Without them the row's outcome is
    /// decided here: opted out, no address (any more), no webhook, or a team channel another row of the
    /// escalation already carries the page to, are `suppressed` with their reason; quiet
    /// hours defer it to their end.
    fn prepare(&self, keyring: Option<&Keyring>, n: &Claimed, now: DateTime<Utc>) -> Prepared {
        let suppressed = |reason| Err(AttemptOutcome::Suppressed { reason });
        if n.opted_out {
            return suppressed(reason::OPTED_OUT);
        }
        if n.address.is_none() {
            return suppressed(reason::NO_ADDRESS);
        }
        if n.address_suppressed {
            return suppressed(reason::ADDRESS_SUPPRESSED);
        }
        if let Some(until) = quiet_hours::defer_until(
            n.quiet_hours.as_ref(),
            n.priority,
            n.urgency,
            A::CHANNEL,
            now,
        ) {
            return Err(AttemptOutcome::Deferred {
                until,
                reason: reason::QUIET_HOURS,
            });
        }
        if !A::CREDENTIAL {
            return Ok(None);
        }
        let Some(credential) = &n.credential else {
            return suppressed(A::MISSING_CREDENTIAL);
        };
        // Before the team-channel rule: a revoked team webhook carries nobody's page.
        if credential.revoked {
            return suppressed(reason::CREDENTIAL_REVOKED);
        }
        if n.credential_shared {
            return suppressed(reason::SENT_TO_TEAM_CHANNEL);
        }
        let Some(keyring) = keyring else {
            return Err(self.failed(
                n,
                DeliveryError::transient(
                    "NoKeys",
                    "the dispatcher has no keys to open credentials",
                ),
            ));
        };
        keyring
            .open(&credential.sealed, &credential.owner)
            .map(Some)
            .map_err(|e| {
                let e = match e {
                    // A key dropped from the configuration too early: retried (and
                    // alarmed on once out of attempts), never silently given up.
                    SecretError::UnknownKey(_) => {
                        DeliveryError::transient("UnknownKey", e.to_string())
                    }
                    SecretError::Corrupt => DeliveryError::new(
                        FailureKind::CredentialRevoked,
                        "CredentialUnreadable",
                        e.to_string(),
                    ),
                };
                self.failed(n, e)
            })
    }

    /// The one place a provider's "no" becomes the row's next state.
    fn failed(&self, n: &Claimed, e: DeliveryError) -> AttemptOutcome {
        if e.kind == FailureKind::OptedOut {
            tracing::info!(error.code = %e.code, "recipient opted out at the provider; suppressed");
            return AttemptOutcome::Suppressed {
                reason: reason::OPTED_OUT_AT_CARRIER,
            };
        }
        let attempts = u32::try_from(n.attempt_count).unwrap_or(u32::MAX);
        let next_attempt_at = if e.retryable() {
            match self
                .retry
                .decide(attempts, rand::random::<f64>(), e.retry_after)
            {
                RetryDecision::RetryAfter(delay) => chrono::Duration::from_std(delay)
                    .ok()
                    .map(|d| Utc::now() + d),
                RetryDecision::GiveUp => None,
            }
        } else {
            None
        };
        // By the provider's code (never its message): a bounded set per provider.
        metrics::counter!(
            "Failed",
            "Channel" => A::CHANNEL.as_str(),
            "Code" => e.code.chars().take(64).collect::<String>()
        )
        .increment(1);
        tracing::warn!(
            error.code = %e.code,
            error.message = %e.message,
            error.kind = ?e.kind,
            retryable = e.retryable(),
            final_failure = next_attempt_at.is_none(),
            // A transient failure on the last attempt: the RetriesExhausted alarm counts these.
            retries_exhausted = e.retryable() && next_attempt_at.is_none(),
            "delivery failed"
        );
        AttemptOutcome::Failed {
            error: e.to_string(),
            retryable: e.retryable(),
            next_attempt_at,
        }
    }
}

impl<A: Adapter> Dispatch for Dispatcher<A> {
    fn channel(&self) -> Channel {
        A::CHANNEL
    }

    fn dispatch<'a>(&'a self, ids: &'a [Uuid]) -> BoxFuture<'a, anyhow::Result<Summary>> {
        Box::pin(self.run(ids))
    }

    fn answered<'a>(
        &'a self,
        escalation_ids: &'a [Uuid],
    ) -> BoxFuture<'a, Vec<(Uuid, anyhow::Result<usize>)>> {
        Box::pin(async move {
            let ready = async {
                let adapter = self.adapter.get().await?;
                let keyring = match &self.keyring {
                    Some(k) => Some(k.get().await?),
                    None => None,
                };
                anyhow::Ok((adapter, keyring))
            }
            .await;
            let (adapter, keyring) = match ready {
                Ok(ready) => ready,
                Err(e) => {
                    let why = crate::telemetry::describe(e.as_ref());
                    return escalation_ids
                        .iter()
                        .map(|id| {
                            (
                                *id,
                                Err(anyhow::anyhow!("setting up the provider client: {why}")),
                            )
                        })
                        .collect();
                }
            };
            let (adapter, keyring) = (&adapter, keyring.as_ref());
            futures::future::join_all(
                escalation_ids.iter().map(|id| async move {
                    (*id, adapter.answered(&self.pool, keyring, *id).await)
                }),
            )
            .await
        })
    }
}

/// The dispatcher of `channel`, whatever its adapter: the one list of adapters, for the
/// local runner and the tests, which hold every channel's. (Each Lambda binary names its
/// own adapter instead, so it links only that provider's SDK.) `None` for a channel
/// Herald has no dispatcher for.
pub async fn for_channel(
    channel: Channel,
    config: &Config,
    sdk: Warm<aws_config::SdkConfig>,
) -> anyhow::Result<Option<std::sync::Arc<dyn Dispatch>>> {
    use crate::channels::email::SesEmail;
    use crate::channels::{
        push::SnsPush, slack::SlackChat, sms::SnsSms, teams::TeamsWebhook,
        voice::EndUserMessagingVoice,
    };
    use std::sync::Arc;
    Ok(match channel {
        Channel::Email => Some(Arc::new(Dispatcher::<SesEmail>::new(config, sdk).await?)),
        Channel::Sms => Some(Arc::new(Dispatcher::<SnsSms>::new(config, sdk).await?)),
        Channel::Push => Some(Arc::new(Dispatcher::<SnsPush>::new(config, sdk).await?)),
        Channel::Teams => Some(Arc::new(
            Dispatcher::<TeamsWebhook>::new(config, sdk).await?,
        )),
        Channel::Voice => Some(Arc::new(
            Dispatcher::<EndUserMessagingVoice>::new(config, sdk).await?,
        )),
        Channel::Slack => Some(Arc::new(Dispatcher::<SlackChat>::new(config, sdk).await?)),
        Channel::InApp => None,
    })
}
