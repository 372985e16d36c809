//! The JSON the API answers with.

use chrono::{DateTime, Utc};
use herald::db::escalations::{
    DeliveryRow, EscalationDetail, EscalationState, EscalationSummary, NotificationSummary, Stamp,
    TimelineEvent,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use herald::domain::{Channel, EscalationStatus, NotificationStatus, Priority, Tier, Urgency};

#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct EscalationCreated {
    pub id: Uuid,
    #[schema(value_type = EscalationStatus)]
    pub status: &'static str,
    pub notifications: Vec<NotificationView>,
}

#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub recipient_id: String,
    #[schema(value_type = Channel)]
    pub channel: &'static str,
    #[schema(value_type = NotificationStatus)]
    pub status: &'static str,
    /// Why it was not queued (`no_address`, `opted_out`, `channel_not_enabled`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&EscalationSummary> for EscalationCreated {
    fn from(s: &EscalationSummary) -> Self {
        Self {
            id: s.id,
            status: s.status.as_str(),
            notifications: s.notifications.iter().map(NotificationView::from).collect(),
        }
    }
}

impl From<&NotificationSummary> for NotificationView {
    fn from(n: &NotificationSummary) -> Self {
        Self {
            id: n.id,
            recipient_id: n.recipient_id.clone(),
            channel: n.channel.as_str(),
            status: n.status.as_str(),
            reason: n.suppressed_reason.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StampView {
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<&Stamp> for StampView {
    fn from(s: &Stamp) -> Self {
        Self {
            by: s.by.clone(),
            at: s.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationView {
    pub id: Uuid,
    pub dedup_key: Option<String>,
    pub title: String,
    #[schema(value_type = Priority)]
    pub priority: &'static str,
    /// `low` never rings a phone inside someone's quiet hours.
    #[schema(value_type = Urgency)]
    pub urgency: &'static str,
    pub service: Option<String>,
    pub team: Option<String>,
    pub alert_count: i32,
    pub dashboard_url: Option<String>,
    #[schema(value_type = EscalationStatus)]
    pub status: &'static str,
    pub triggered_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub acknowledged: Option<StampView>,
    pub resolved: Option<StampView>,
    /// The policy the escalation runs under, as it was when it started.
    pub policy: Option<herald::domain::EscalationPolicy>,
    /// The stored policy it started under (`{"name", "version"}`), null for its own.
    pub stored_policy: Option<StoredPolicyRef>,
    /// Where it stands: the last level of the current round that fired, and the round.
    pub current_level: i32,
    pub current_round: i32,
    /// When the engine's next step is due (none once answered or exhausted).
    pub next_escalation_at: Option<DateTime<Utc>>,
    /// The last round ended and nobody answered: nothing more is sent.
    pub exhausted_at: Option<DateTime<Utc>>,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoredPolicyRef {
    pub name: String,
    pub version: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub recipient_id: String,
    #[schema(value_type = Channel)]
    pub channel: &'static str,
    pub level: i32,
    pub round: i32,
    #[schema(value_type = Tier)]
    pub tier: &'static str,
    #[schema(value_type = NotificationStatus)]
    pub status: &'static str,
    /// Why it was suppressed, or why a `queued` row waits (`quiet_hours`: until
    /// `next_attempt_at`).
    pub reason: Option<String>,
    pub attempt_count: i32,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    pub retryable: Option<bool>,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<&EscalationDetail> for EscalationView {
    fn from(e: &EscalationDetail) -> Self {
        Self {
            id: e.id,
            dedup_key: e.dedup_key.clone(),
            title: e.title.clone(),
            priority: e.priority.as_str(),
            urgency: e.urgency.as_str(),
            service: e.service.clone(),
            team: e.team.clone(),
            alert_count: e.alert_count,
            dashboard_url: e.dashboard_url.clone(),
            status: e.status.as_str(),
            triggered_at: e.triggered_at,
            created_at: e.created_at,
            acknowledged: e.acknowledged.as_ref().map(StampView::from),
            resolved: e.resolved.as_ref().map(StampView::from),
            policy: e.policy.clone(),
            stored_policy: e
                .stored_policy
                .as_ref()
                .map(|(name, version)| StoredPolicyRef {
                    name: name.clone(),
                    version: *version,
                }),
            current_level: e.current_level,
            current_round: e.current_round,
            next_escalation_at: e.next_escalation_at,
            exhausted_at: e.exhausted_at,
            deliveries: e.deliveries.iter().map(DeliveryView::from).collect(),
        }
    }
}

impl From<&DeliveryRow> for DeliveryView {
    fn from(d: &DeliveryRow) -> Self {
        Self {
            id: d.id,
            recipient_id: d.recipient_id.clone(),
            channel: d.channel.as_str(),
            level: d.level,
            round: d.round,
            tier: d.tier.as_str(),
            status: d.status.as_str(),
            reason: d
                .suppressed_reason
                .clone()
                .or_else(|| d.deferred_reason.clone()),
            attempt_count: d.attempt_count,
            provider_message_id: d.provider_message_id.clone(),
            error: d.error.clone(),
            retryable: d.retryable,
            queued_at: d.queued_at,
            sent_at: d.sent_at,
            delivered_at: d.delivered_at,
            last_attempt_at: d.last_attempt_at,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

/// The answer to `POST /v1/escalations/{id}/acknowledge|resolve`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    pub id: Uuid,
    #[schema(value_type = EscalationStatus)]
    pub status: &'static str,
    /// False when the escalation was already in (or past) that state.
    pub changed: bool,
    pub acknowledged: Option<StampView>,
    pub resolved: Option<StampView>,
}

impl TransitionView {
    pub fn new(s: &EscalationState, changed: bool) -> Self {
        Self {
            id: s.id,
            status: s.status.as_str(),
            changed,
            acknowledged: s.acknowledged.as_ref().map(StampView::from),
            resolved: s.resolved.as_ref().map(StampView::from),
        }
    }
}

/// `GET /v1/escalations/{id}/timeline`: a page of its audit log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineView {
    pub escalation_id: Uuid,
    pub events: Vec<TimelineEvent>,
    /// Pass as `?after=` for the next page; `null` on the last.
    pub next_after: Option<i64>,
}
