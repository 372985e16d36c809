//! Delivery figures per channel over a recent window (`GET /v1/stats/deliveries`), in
//! one statement over `notification_log_tenant_recent` (an index-only scan).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Client, parse_col};
use crate::domain::Channel;

/// Percentiles of a duration, in milliseconds; `None` when no row had both ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Latency {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One channel's figures for the rows queued in the window.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ChannelStats {
    pub channel: Channel,
    /// Rows queued in the window, whatever became of them.
    pub total: i64,
    /// Not settled yet: queued, being sent, or failed with a retry to come.
    pub pending: i64,
    /// The provider took it (`sent` or `delivered`, or failed after by receipt).
    pub sent: i64,
    /// Confirmed by a receipt.
    pub delivered: i64,
    /// Failed for good, before or after the send.
    pub failed: i64,
    /// A receipt said it never arrived (a bounce, an unanswered call...).
    pub bounced: i64,
    pub suppressed: i64,
    pub queued_to_sent: Latency,
    pub sent_to_delivered: Latency,
    /// delivered / sent; `None` before anything was sent.
    pub delivery_rate: Option<f64>,
    /// bounced / sent.
    pub bounce_rate: Option<f64>,
}

const STATS: &str = r#"
    SELECT channel,
           count(*) AS total,
           count(*) FILTER (WHERE status IN ('queued', 'sending')
                               OR (status = 'failed' AND next_attempt_at IS NOT NULL)) AS pending,
           count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent,
           count(*) FILTER (WHERE status = 'delivered') AS delivered,
           count(*) FILTER (WHERE status = 'failed' AND next_attempt_at IS NULL) AS failed,
           count(*) FILTER (WHERE receipt IN ('failed', 'bounced')) AS bounced,
           count(*) FILTER (WHERE status = 'suppressed') AS suppressed,
           percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM sent_at - queued_at) * 1000)
               FILTER (WHERE sent_at IS NOT NULL) AS send_ms,
           percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (
               ORDER BY extract(epoch FROM delivered_at - sent_at) * 1000)
               FILTER (WHERE delivered_at IS NOT NULL AND sent_at IS NOT NULL) AS deliver_ms
    FROM notification_log
    WHERE tenant_id = $1 AND queued_at >= $2 AND queued_at < $3
    GROUP BY channel
    ORDER BY channel
"#;

/// The tenant's figures per channel for the rows queued in `[from, to)`.
pub async fn deliveries(
    client: &Client,
    tenant_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<ChannelStats>> {
    let stmt = client.prepare_cached(STATS).await?;
    let rows = client.query(&stmt, &[&tenant_id, &from, &to]).await?;
    rows.iter()
        .map(|r| {
            let latency = |col: &str| {
                let p: Option<Vec<Option<f64>>> = r.get(col);
                let p = p.unwrap_or_default();
                Latency {
                    p50_ms: p.first().copied().flatten(),
                    p99_ms: p.get(1).copied().flatten(),
                }
            };
            let (sent, delivered, bounced): (i64, i64, i64) =
                (r.get("sent"), r.get("delivered"), r.get("bounced"));
            let rate = |n: i64| (sent > 0).then(|| n as f64 / sent as f64);
            Ok(ChannelStats {
                channel: parse_col(r, "channel")?,
                total: r.get("total"),
                pending: r.get("pending"),
                sent,
                delivered,
                failed: r.get("failed"),
                bounced,
                suppressed: r.get("suppressed"),
                queued_to_sent: latency("send_ms"),
                sent_to_delivered: latency("deliver_ms"),
                delivery_rate: rate(delivered),
                bounce_rate: rate(bounced),
            })
        })
        .collect()
}
