//! The ingest request, parsed into a [`NewEscalation`] that can only hold valid data.

use std::collections::{BTreeMap, HashSet};

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::policy::{
    Contacts, DEFAULT_FALLBACK_AFTER_MINUTES, DEFAULT_SECONDARY_AFTER_MINUTES, EscalationPolicy,
    Level, Reachable,
};
use super::quiet_hours::{self, QuietHours, Urgency, WindowSpec};
use super::{
    Channel, ChannelPolicy, EmailAddress, PhoneE164, Priority, PushEndpointArn, SlackUserId,
};

pub const MAX_TITLE_CHARS: usize = 255;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_RECIPIENTS: usize = 100;
const MAX_SHORT_TEXT: usize = 128;
const MAX_DEDUP_KEY: usize = 255;
const MAX_URL: usize = 2048;

/// A client error tied to one field of the request, by its JSON path
/// (`recipients[0].email`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A value that must be a JSON object. serde's derived `Deserialize` also fills a struct
/// from an array, field by position, so `["t","b",null,"low"]` would pass as an
/// escalation: this wrapper accepts only a map and answers `invalid_type` otherwise.
#[derive(Debug, Default)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMaps<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(OnlyMaps(PhantomData))
            .map(Object)
    }
}

/// The JSON body of `POST /v1/escalations`, as sent. Every field is optional here so that
/// a missing field is reported by name, with the others, by [`NewEscalation::try_from`].
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "dedup_key": "db-primary-down",
    "title": "Primary database is down",
    "body": "Connections refused since 03:02 UTC.",
    "priority": "critical",
    "service": "billing-db",
    "recipients": [{"id": "u-alice", "name": "Alice Martin", "email": "alice@example.com", "phone": "+14155550100"}],
    "channels": {"primary": ["email", "push"], "secondary": ["sms"], "fallback": ["voice"]}
}))]
pub struct IngestRequest {
    pub dedup_key: Option<String>,
    #[schema(required = true)]
    pub title: Option<String>,
    pub body: Option<String>,
    #[schema(required = true, value_type = Option<super::Priority>)]
    pub priority: Option<String>,
    pub service: Option<String>,
    pub team: Option<String>,
    pub alert_count: Option<i64>,
    pub dashboard_url: Option<String>,
    #[schema(format = DateTime)]
    pub triggered_at: Option<String>,
    #[schema(format = DateTime)]
    pub inbox_expires_at: Option<String>,
    /// Who is paged (required unless `policy` names them).
    #[schema(value_type = Option<Vec<RecipientRequest>>)]
    pub recipients: Option<Vec<Object<RecipientRequest>>>,
    #[schema(value_type = Option<ChannelsRequest>)]
    pub channels: Option<Object<ChannelsRequest>>,
    pub policy: Option<PolicyField>,
    #[schema(value_type = Option<Urgency>)]
    pub urgency: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "id": "u-alice",
    "name": "Alice Martin",
    "email": "alice@example.com",
    "phone": "+14155550100",
    "timezone": "Europe/Paris",
    "quiet_hours": [{"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]
}))]
pub struct RecipientRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub slack_user_id: Option<String>,
    pub push_endpoint_arn: Option<String>,
    pub timezone: Option<String>,
    #[schema(value_type = Option<Vec<WindowSpec>>)]
    pub quiet_hours: Option<Vec<Object<WindowSpec>>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsRequest {
    #[schema(value_type = Option<Vec<Channel>>)]
    pub primary: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<Channel>>)]
    pub secondary: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<Channel>>)]
    pub fallback: Option<Vec<String>>,
}

/// An inline escalation policy: levels of people over time, repeated while nobody
/// answers.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(required = true, value_type = Option<Vec<LevelRequest>>)]
    pub levels: Option<Vec<Object<LevelRequest>>>,
    pub repeat: Option<i64>,
    pub ack_timeout_minutes: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelRequest {
    pub after_minutes: Option<i64>,
    pub recipients: Option<Vec<String>>,
    /// The level's channel tiers; the escalation's `channels` when absent.
    #[schema(value_type = Option<ChannelsRequest>)]
    pub channels: Option<Object<ChannelsRequest>>,
    pub secondary_after_minutes: Option<i64>,
    pub fallback_after_minutes: Option<i64>,
}

impl IngestRequest {
    /// Parses the raw body; a type error or an unknown field names its JSON path.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FieldError> {
        parse_json(bytes)
    }
}

/// Parses a JSON request body that must be an object into `T`: a syntax error is
/// `invalid_json`, an unknown field `unknown_field` and a wrong type `invalid_type`, each
/// naming its JSON path. Every API body goes through here.
pub fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de)
        .map(|Object(req)| req)
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            if let Some(name) = unknown_field_name(&message) {
                // The path already ends with the unknown key.
                let field = if path == "." { name.to_owned() } else { path };
                return FieldError::new("unknown_field", field, format!("unknown field `{name}`"));
            }
            if inner.is_syntax() || inner.is_eof() {
                return FieldError::new(
                    "invalid_json",
                    "",
                    format!("request body is not valid JSON: {message}"),
                );
            }
            let field = if path == "." { String::new() } else { path };
            FieldError::new("invalid_type", field, message)
        })
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// A validated escalation, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEscalation {
    pub dedup_key: Option<String>,
    pub title: String,
    pub body: String,
    pub priority: Priority,
    pub service: Option<String>,
    pub team: Option<String>,
    pub alert_count: i32,
    pub dashboard_url: Option<String>,
    pub triggered_at: Option<DateTime<Utc>>,
    /// When the in-app inbox entries stop being shown (retention then deletes them).
    pub inbox_expires_at: Option<DateTime<Utc>>,
    pub recipients: Vec<NewRecipient>,
    /// The default channel tiers (every level without its own).
    pub channels: ChannelPolicy,
    /// Who is paged when: the request's policy, everyone at once on `channels`, or a
    /// stored policy (resolved by ingest, see [`resolve`]).
    pub policy: PolicySource,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRecipient {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneE164>,
    pub slack_user_id: Option<SlackUserId>,
    pub push_endpoint_arn: Option<PushEndpointArn>,
    /// An IANA zone name (`Europe/Paris`).
    pub timezone: Option<String>,
    /// Their quiet hours, checked and written out again; `None` keeps what is stored,
    /// an empty list clears it.
    pub quiet_hours: Option<Vec<WindowSpec>>,
}

impl Reachable for NewRecipient {
    fn has_address(&self, channel: Channel) -> bool {
        Contacts {
            email: self.email.is_some(),
            phone: self.phone.is_some(),
            push: self.push_endpoint_arn.is_some(),
            slack: self.slack_user_id.is_some(),
        }
        .has_address(channel)
    }
}

impl TryFrom<IngestRequest> for NewEscalation {
    type Error = Vec<FieldError>;

    fn try_from(req: IngestRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        fn keep<T>(errors: &mut Vec<FieldError>, r: Result<T, FieldError>) -> Option<T> {
            r.map_err(|e| errors.push(e)).ok()
        }
        macro_rules! check {
            ($e:expr) => {
                keep(&mut errors, $e)
            };
        }

        let dedup_key = check!(dedup_key(req.dedup_key)).flatten();
        let title = check!(required(req.title, "title").and_then(title));
        let body = check!(body(req.body.unwrap_or_default()));
        let priority = check!(required(req.priority, "priority").and_then(|p| {
            p.parse::<Priority>()
                .map_err(|e| FieldError::new("invalid", "priority", e.to_string()))
        }));
        let service = check!(optional_text(req.service, "service", MAX_SHORT_TEXT)).flatten();
        let team = check!(optional_text(req.team, "team", MAX_SHORT_TEXT)).flatten();
        let alert_count = check!(alert_count(req.alert_count));
        let dashboard_url = check!(req.dashboard_url.map(dashboard_url).transpose())
            .flatten()
            .flatten();
        let triggered_at = check!(
            req.triggered_at
                .map(|t| timestamp(t, "triggered_at"))
                .transpose()
        )
        .flatten();
        let inbox_expires_at = check!(
            req.inbox_expires_at
                .map(|t| timestamp(t, "inbox_expires_at"))
                .transpose()
        )
        .flatten();
        let urgency = check!(
            req.urgency
                .map(|u| u
                    .parse::<Urgency>()
                    .map_err(|why| FieldError::new("invalid", "urgency", why)))
                .transpose()
        )
        .flatten()
        .unwrap_or_default();
        let recipients = check!(recipients(req.recipients, req.policy.is_some()));
        let channels = check!(channels(req.channels, "channels"));
        let policy = match (&recipients, &channels) {
            (Some(recipients), Some(channels)) => {
                check!(policy(req.policy, recipients, channels))
            }
            _ => None,
        };

        match (
            title,
            body,
            priority,
            alert_count,
            recipients,
            channels,
            policy,
        ) {
            (
                Some(title),
                Some(body),
                Some(priority),
                Some(alert_count),
                Some(recipients),
                Some(channels),
                Some(policy),
            ) if errors.is_empty() => Ok(NewEscalation {
                dedup_key,
                title,
                body,
                priority,
                service,
                team,
                alert_count,
                dashboard_url,
                triggered_at,
                inbox_expires_at,
                recipients,
                channels,
                policy,
                urgency,
            }),
            _ => Err(errors),
        }
    }
}

fn required(value: Option<String>, field: &str) -> Result<String, FieldError> {
    value.ok_or_else(|| FieldError::new("required", field, format!("`{field}` is required")))
}

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            "too_long",
            field,
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    if has_control_chars(value) {
        return Err(FieldError::new(
            "invalid",
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A blank key would silently turn deduplication off: it is refused, not ignored.
fn dedup_key(value: Option<String>) -> Result<Option<String>, FieldError> {
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
        return Err(FieldError::new(
            "empty",
            "dedup_key",
            "`dedup_key` must not be blank; leave it out to turn deduplication off",
        ));
    }
    optional_text(value, "dedup_key", MAX_DEDUP_KEY)
}

fn title(value: String) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(
            "required",
            "title",
            "`title` must not be empty",
        ));
    }
    if value.chars().count() > MAX_TITLE_CHARS {
        return Err(FieldError::new(
            "too_long",
            "title",
            format!("`title` is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    if has_control_chars(value) {
        return Err(FieldError::new(
            "invalid",
            "title",
            "`title` must be one line without control characters",
        ));
    }
    Ok(value.to_owned())
}

fn body(value: String) -> Result<String, FieldError> {
    if value.len() > MAX_BODY_BYTES {
        return Err(FieldError::new(
            "too_long",
            "body",
            format!("`body` is larger than {} KiB", MAX_BODY_BYTES / 1024),
        ));
    }
    // Line breaks and tabs are text; NUL and other control characters are not (and
    // PostgreSQL refuses NUL in text).
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            "invalid",
            "body",
            "`body` must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(value)
}

fn alert_count(value: Option<i64>) -> Result<i32, FieldError> {
    match value {
        None => Ok(1),
        Some(n) => i32::try_from(n).ok().filter(|n| *n >= 0).ok_or_else(|| {
            FieldError::new(
                "invalid",
                "alert_count",
                "`alert_count` must be between 0 and 2147483647",
            )
        }),
    }
}

fn dashboard_url(value: String) -> Result<Option<String>, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let invalid =
        |why: &str| FieldError::new("invalid", "dashboard_url", format!("`dashboard_url` {why}"));
    if value.len() > MAX_URL {
        return Err(invalid("is longer than 2048 characters"));
    }
    let url = url::Url::parse(value).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid("must be an http or https URL"));
    }
    Ok(Some(url.to_string()))
}

fn timestamp(value: String, field: &str) -> Result<DateTime<Utc>, FieldError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            FieldError::new(
                "invalid",
                field,
                format!("`{field}` must be an RFC 3339 timestamp: {e}"),
            )
        })
}

/// The request's people. With a `policy` they may be left out: the policy names them
/// (stored recipients), and those listed only update their contact data.
fn recipients(
    value: Option<Vec<Object<RecipientRequest>>>,
    with_policy: bool,
) -> Result<Vec<NewRecipient>, FieldError> {
    let list = match value {
        Some(list) => list,
        None if with_policy => Vec::new(),
        None => {
            return Err(FieldError::new(
                "required",
                "recipients",
                "`recipients` is required unless a `policy` names who is paged",
            ));
        }
    };
    if list.is_empty() && !with_policy {
        return Err(FieldError::new(
            "empty",
            "recipients",
            "`recipients` must name at least one person",
        ));
    }
    if list.len() > MAX_RECIPIENTS {
        return Err(FieldError::new(
            "too_long",
            "recipients",
            format!("at most {MAX_RECIPIENTS} recipients per escalation"),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (i, Object(mut r)) in list.into_iter().enumerate() {
        let at = |field: &str| format!("recipients[{i}].{field}");
        let external_id = recipient_id(r.id.take(), &at("id"))?;
        if !seen.insert(external_id.clone()) {
            return Err(FieldError::new(
                "duplicate",
                at("id"),
                format!("recipient `{external_id}` is listed twice"),
            ));
        }
        out.push(recipient(external_id, r, &at)?);
    }
    Ok(out)
}

/// A recipient id (the caller's own): 1 to 128 characters of one line.
pub fn recipient_id(value: Option<String>, field: &str) -> Result<String, FieldError> {
    optional_text(value, field, MAX_SHORT_TEXT)?
        .ok_or_else(|| FieldError::new("required", field, "every recipient needs an `id`"))
}

/// One person as the API takes them, in an escalation's `recipients` or in
/// `PUT /v1/recipients/{id}`: every field checked, errors named by `at(field)`.
pub fn recipient(
    external_id: String,
    r: RecipientRequest,
    at: &dyn Fn(&str) -> String,
) -> Result<NewRecipient, FieldError> {
    let name = optional_text(r.name, &at("name"), 200)?;
    let email = optional_text(r.email, &at("email"), 254)?
        .map(|e| {
            EmailAddress::parse(&e).map_err(|why| FieldError::new("invalid", at("email"), why))
        })
        .transpose()?;
    let phone = optional_text(r.phone, &at("phone"), 32)?
        .map(|p| PhoneE164::parse(&p).map_err(|why| FieldError::new("invalid", at("phone"), why)))
        .transpose()?;
    let slack_user_id = optional_text(r.slack_user_id, &at("slack_user_id"), 32)?
        .map(|id| {
            SlackUserId::parse(&id)
                .map_err(|why| FieldError::new("invalid", at("slack_user_id"), why))
        })
        .transpose()?;
    let push_endpoint_arn = optional_text(
        r.push_endpoint_arn,
        &at("push_endpoint_arn"),
        PushEndpointArn::MAX_LEN,
    )?
    .map(|arn| {
        PushEndpointArn::parse(&arn)
            .map_err(|why| FieldError::new("invalid", at("push_endpoint_arn"), why))
    })
    .transpose()?;
    // Kept as the time zone database spells it, whatever case it came in.
    let timezone = optional_text(r.timezone, &at("timezone"), 64)?
        .map(|name| {
            quiet_hours::zone_name(&name)
                .map(str::to_owned)
                .ok_or_else(|| {
                    FieldError::new(
                        "invalid",
                        at("timezone"),
                        "must be an IANA time zone name like Europe/Paris",
                    )
                })
        })
        .transpose()?;
    let quiet_hours = r
        .quiet_hours
        .map(|windows| {
            let windows: Vec<WindowSpec> = windows.into_iter().map(|Object(w)| w).collect();
            QuietHours::parse(timezone.as_deref(), &windows, &at("quiet_hours"))
                .map(|q| q.map(|q| q.specs()).unwrap_or_default())
        })
        .transpose()?;
    Ok(NewRecipient {
        external_id,
        name,
        email,
        phone,
        slack_user_id,
        push_endpoint_arn,
        timezone,
        quiet_hours,
    })
}

fn channels(value: Option<Object<ChannelsRequest>>, at: &str) -> Result<ChannelPolicy, FieldError> {
    let Some(Object(req)) = value else {
        return Ok(ChannelPolicy::default());
    };
    let mut seen = HashSet::new();
    let mut tier = |list: Option<Vec<String>>, name: &str| -> Result<Vec<Channel>, FieldError> {
        let mut out = Vec::new();
        for (i, raw) in list.unwrap_or_default().into_iter().enumerate() {
            let field = format!("{at}.{name}[{i}]");
            let channel: Channel = raw.parse().map_err(|e: super::channel::UnknownChannel| {
                FieldError::new("invalid", field.clone(), e.to_string())
            })?;
            if !seen.insert(channel) {
                return Err(FieldError::new(
                    "duplicate",
                    field,
                    format!("channel `{channel}` is listed twice"),
                ));
            }
            out.push(channel);
        }
        Ok(out)
    };
    let policy = ChannelPolicy {
        primary: tier(req.primary, "primary")?,
        secondary: tier(req.secondary, "secondary")?,
        fallback: tier(req.fallback, "fallback")?,
    };
    if policy.primary.is_empty() {
        return Err(FieldError::new(
            "empty",
            format!("{at}.primary"),
            format!("`{at}.primary` must name at least one channel"),
        ));
    }
    Ok(policy)
}

/// A whole number of minutes in `0..=max` (`default` when absent).
fn minutes_field(
    value: Option<i64>,
    field: &str,
    default: u32,
    max: u32,
) -> Result<u32, FieldError> {
    let Some(n) = value else { return Ok(default) };
    u32::try_from(n).ok().filter(|n| *n <= max).ok_or_else(|| {
        FieldError::new(
            "out_of_range",
            field,
            format!("`{field}` must be between 0 and {max} minutes"),
        )
    })
}

/// Joins a field path under `at` (`policy` for an escalation's inline policy, nothing
/// for a stored one's body).
fn under(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

/// A policy's levels and repeat, checked field by field under `at`, each level's
/// channels defaulting to `default_channels`. Who the levels name is the caller's to
/// check: returned as (field, id), in order.
fn levels(
    req: PolicyRequest,
    at: &str,
    default_channels: &ChannelPolicy,
) -> Result<(EscalationPolicy, Vec<(String, String)>), FieldError> {
    let repeat_field = under(at, "repeat");
    let repeat = match req.repeat {
        None => 0,
        Some(n) => u8::try_from(n)
            .ok()
            .filter(|n| *n <= EscalationPolicy::MAX_REPEAT)
            .ok_or_else(|| {
                FieldError::new(
                    "out_of_range",
                    repeat_field.clone(),
                    format!(
                        "`{repeat_field}` must be between 0 and {}",
                        EscalationPolicy::MAX_REPEAT
                    ),
                )
            })?,
    };
    let levels_field = under(at, "levels");
    let list = req.levels.ok_or_else(|| {
        FieldError::new(
            "required",
            levels_field.clone(),
            format!("`{levels_field}` is required"),
        )
    })?;
    if list.is_empty() || list.len() > EscalationPolicy::MAX_LEVELS {
        return Err(FieldError::new(
            "invalid",
            levels_field.clone(),
            format!(
                "`{levels_field}` must have 1 to {} levels",
                EscalationPolicy::MAX_LEVELS
            ),
        ));
    }
    let mut named = Vec::new();
    let mut levels = Vec::with_capacity(list.len());
    for (i, Object(l)) in list.into_iter().enumerate() {
        let at = |field: &str| format!("{levels_field}[{i}].{field}");
        let after_minutes = minutes_field(
            l.after_minutes,
            &at("after_minutes"),
            0,
            EscalationPolicy::MAX_AFTER_MINUTES,
        )?;
        let previous = levels.last().map(|l: &Level| l.after_minutes);
        if previous.is_none() && after_minutes != 0 {
            return Err(FieldError::new(
                "invalid",
                at("after_minutes"),
                "the first level fires when the escalation is triggered: its `after_minutes` must be 0",
            ));
        }
        if previous.is_some_and(|p| after_minutes <= p) {
            return Err(FieldError::new(
                "invalid",
                at("after_minutes"),
                "levels fire in order: each `after_minutes` must be greater than the level before's",
            ));
        }
        let people = l.recipients.unwrap_or_default();
        if people.is_empty() {
            return Err(FieldError::new(
                "empty",
                at("recipients"),
                "every level must name at least one recipient",
            ));
        }
        let mut in_level = HashSet::new();
        for (j, id) in people.iter().enumerate() {
            let field = format!("{levels_field}[{i}].recipients[{j}]");
            let id = recipient_id(Some(id.clone()), &field)?;
            if !in_level.insert(id.clone()) {
                return Err(FieldError::new(
                    "duplicate",
                    field,
                    format!("`{id}` is listed twice in this level"),
                ));
            }
            named.push((field, id));
        }
        let channels = match l.channels {
            None => default_channels.clone(),
            some => channels(some, &at("channels"))?,
        };
        let secondary_after_minutes = minutes_field(
            l.secondary_after_minutes,
            &at("secondary_after_minutes"),
            DEFAULT_SECONDARY_AFTER_MINUTES,
            EscalationPolicy::MAX_TIER_MINUTES,
        )?;
        if secondary_after_minutes == 0 {
            return Err(FieldError::new(
                "out_of_range",
                at("secondary_after_minutes"),
                "`secondary_after_minutes` must be at least 1: a person gets time to answer",
            ));
        }
        let fallback_after_minutes = minutes_field(
            l.fallback_after_minutes,
            &at("fallback_after_minutes"),
            // The default gap between secondary and fallback, whatever secondary's delay.
            secondary_after_minutes
                + (DEFAULT_FALLBACK_AFTER_MINUTES - DEFAULT_SECONDARY_AFTER_MINUTES),
            EscalationPolicy::MAX_TIER_MINUTES,
        )?;
        if fallback_after_minutes <= secondary_after_minutes {
            return Err(FieldError::new(
                "invalid",
                at("fallback_after_minutes"),
                "`fallback_after_minutes` counts from the level firing, like `secondary_after_minutes`, and must be greater than it",
            ));
        }
        levels.push(Level {
            after_minutes,
            recipients: people,
            channels,
            secondary_after_minutes,
            fallback_after_minutes,
        });
    }
    let ack_timeout_minutes = req
        .ack_timeout_minutes
        .map(|m| {
            let field = under(at, "ack_timeout_minutes");
            u32::try_from(m)
                .ok()
                .filter(|m| (1..=EscalationPolicy::MAX_ACK_TIMEOUT_MINUTES).contains(m))
                .ok_or_else(|| {
                    FieldError::new(
                        "out_of_range",
                        field.clone(),
                        format!(
                            "`{field}` must be between 1 and {} minutes",
                            EscalationPolicy::MAX_ACK_TIMEOUT_MINUTES
                        ),
                    )
                })
        })
        .transpose()?;
    Ok((
        EscalationPolicy {
            levels,
            repeat,
            ack_timeout_minutes,
        },
        named,
    ))
}

/// Who an escalation is paged under, as the request says it.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySource {
    /// Everyone in `recipients` at once, or the request's own levels. `stored_people`:
    /// the (field, id) of people the levels name who are not in `recipients` — stored
    /// recipients, looked up before planning.
    Given {
        policy: EscalationPolicy,
        stored_people: Vec<(String, String)>,
    },
    /// A stored policy by name: its live version is looked up before planning.
    Stored(String),
}

/// The request's policy, checked against its recipients: every level names people of
/// `recipients` or stored ones (looked up later), and everyone in `recipients` is in
/// some level (a person listed but never paged is a mistake, not a default). Without a
/// policy: everyone at once. A name: the stored policy (checked when resolved).
fn policy(
    value: Option<PolicyField>,
    recipients: &[NewRecipient],
    default_channels: &ChannelPolicy,
) -> Result<PolicySource, FieldError> {
    let req = match value {
        None if recipients.is_empty() => {
            return Err(FieldError::new(
                "required",
                "recipients",
                "`recipients` is required unless a `policy` names who is paged",
            ));
        }
        None => {
            return Ok(PolicySource::Given {
                policy: EscalationPolicy::everyone(
                    recipients.iter().map(|r| r.external_id.clone()).collect(),
                    default_channels.clone(),
                ),
                stored_people: Vec::new(),
            });
        }
        Some(PolicyField::Name(name)) => {
            return Ok(PolicySource::Stored(policy_name(name, "policy")?));
        }
        Some(PolicyField::Inline(req)) => req,
    };
    let (policy, named) = levels(req, "policy", default_channels)?;
    let given: HashSet<&str> = recipients.iter().map(|r| r.external_id.as_str()).collect();
    not_in_policy(recipients, &policy)?;
    let stored_people = named
        .into_iter()
        .filter(|(_, id)| !given.contains(id.as_str()))
        .collect();
    Ok(PolicySource::Given {
        policy,
        stored_people,
    })
}

/// Everyone in `recipients` must be in some level of `policy`.
fn not_in_policy(recipients: &[NewRecipient], policy: &EscalationPolicy) -> Result<(), FieldError> {
    let paged: HashSet<&str> = policy
        .levels
        .iter()
        .flat_map(|l| l.recipients.iter().map(String::as_str))
        .collect();
    match recipients
        .iter()
        .enumerate()
        .find(|(_, r)| !paged.contains(r.external_id.as_str()))
    {
        Some((i, r)) => Err(FieldError::new(
            "not_in_policy",
            format!("recipients[{i}].id"),
            format!(
                "`{}` is in no level of `policy`, so would never be paged",
                r.external_id
            ),
        )),
        None => Ok(()),
    }
}

/// A policy's name: a slug (`platform-oncall`), 1 to 63 characters.
pub fn policy_name(raw: String, field: &str) -> Result<String, FieldError> {
    let ok = (1..=63).contains(&raw.len())
        && raw.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_'))
        });
    if ok {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "invalid",
            field,
            "a policy name is 1 to 63 lowercase letters, digits, `-` or `_` (like `platform-oncall`)",
        ))
    }
}

/// The policy an escalation runs under once ingest looked up what it names, and what
/// the stored people it pages can be reached on.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub policy: EscalationPolicy,
    /// The stored policy's name and version, when it runs under one.
    pub stored: Option<(String, i32)>,
    /// People the policy names who are not in the request's `recipients`.
    pub stored_people: BTreeMap<String, Contacts>,
}

/// Resolves the escalation's policy with what was looked up: `stored` is the live
/// version of the policy it names (name, version, levels), `people` the contacts of
/// stored recipients by id (`None`: no such person, or erased).
///
/// An inline policy naming someone who is neither in `recipients` nor stored is `400
/// unknown_recipient`; a name no live policy has is `400 unknown_policy`. A stored
/// policy's person erased since it was saved is paged as nobody reachable (their rows
/// are suppressed with `no_address_for_channel` and the engine moves on): a page must
/// not fail at 3 a.m. because someone left.
pub fn resolve(
    escalation: &NewEscalation,
    stored: Option<(String, i32, EscalationPolicy)>,
    people: &BTreeMap<String, Option<Contacts>>,
) -> Result<Resolved, FieldError> {
    let given: HashSet<&str> = escalation
        .recipients
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    match &escalation.policy {
        PolicySource::Given {
            policy,
            stored_people,
        } => {
            let mut found = BTreeMap::new();
            for (field, id) in stored_people {
                let Some(Some(contacts)) = people.get(id) else {
                    return Err(FieldError::new(
                        "unknown_recipient",
                        field.clone(),
                        format!(
                            "`{id}` is neither one of the escalation's `recipients` nor a stored recipient"
                        ),
                    ));
                };
                found.insert(id.clone(), *contacts);
            }
            Ok(Resolved {
                policy: policy.clone(),
                stored: None,
                stored_people: found,
            })
        }
        PolicySource::Stored(name) => {
            let Some((name, version, policy)) = stored.filter(|(n, ..)| n == name) else {
                return Err(FieldError::new(
                    "unknown_policy",
                    "policy",
                    format!("no policy is named `{name}`"),
                ));
            };
            not_in_policy(&escalation.recipients, &policy)?;
            let stored_people = policy
                .levels
                .iter()
                .flat_map(|l| l.recipients.iter())
                .filter(|id| !given.contains(id.as_str()))
                .map(|id| {
                    (
                        id.clone(),
                        people.get(id).copied().flatten().unwrap_or_default(),
                    )
                })
                .collect();
            Ok(Resolved {
                policy,
                stored: Some((name, version)),
                stored_people,
            })
        }
    }
}

/// Who an escalation's ids are: the request's `recipients` first, then stored people.
pub struct People<'a> {
    pub given: &'a [NewRecipient],
    pub stored: &'a BTreeMap<String, Contacts>,
}

impl super::engine::Directory for People<'_> {
    fn find(&self, recipient: &str) -> Option<&dyn Reachable> {
        self.given
            .iter()
            .find(|r| r.external_id == recipient)
            .map(|r| r as &dyn Reachable)
            .or_else(|| self.stored.get(recipient).map(|c| c as &dyn Reachable))
    }
}

/// The body of `POST /v1/policies` and `PUT /v1/policies/{name}`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "primary-oncall",
    "description": "Alice at once, then the whole team",
    "levels": [
        {"after_minutes": 0, "recipients": ["u-alice"]},
        {"after_minutes": 15, "recipients": ["u-alice"], "channels": {"primary": ["sms"], "secondary": [], "fallback": ["voice"]}}
    ],
    "repeat": 1,
    "ack_timeout_minutes": 30
}))]
pub struct StoredPolicyRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The tiers of every level without its own (default: email, Slack and push, then
    /// SMS, then voice).
    #[schema(value_type = Option<ChannelsRequest>)]
    pub channels: Option<Object<ChannelsRequest>>,
    #[schema(required = true, value_type = Option<Vec<LevelRequest>>)]
    pub levels: Option<Vec<Object<LevelRequest>>>,
    pub repeat: Option<i64>,
    pub ack_timeout_minutes: Option<i64>,
}

/// A checked stored policy, ready to save once everyone it names is known.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStoredPolicy {
    pub name: String,
    pub description: Option<String>,
    pub policy: EscalationPolicy,
    /// (field, id) of everyone the levels name: each must be a stored recipient.
    pub people: Vec<(String, String)>,
}

impl NewStoredPolicy {
    /// `path_name`: the name in `PUT /v1/policies/{name}` (a `name` in the body must
    /// then be the same); `None` for `POST /v1/policies`, whose body names it.
    pub fn parse(req: StoredPolicyRequest, path_name: Option<&str>) -> Result<Self, FieldError> {
        let name = match (path_name, req.name) {
            (Some(path), Some(body)) if body != path => {
                return Err(FieldError::new(
                    "invalid",
                    "name",
                    "the body's `name` must be the one in the path (or left out)",
                ));
            }
            (Some(path), _) => policy_name(path.to_owned(), "name")?,
            (None, Some(body)) => policy_name(body, "name")?,
            (None, None) => {
                return Err(FieldError::new("required", "name", "`name` is required"));
            }
        };
        let description = optional_text(req.description, "description", 500)?;
        let default_channels = channels(req.channels, "channels")?;
        let (policy, people) = levels(
            PolicyRequest {
                levels: req.levels,
                repeat: req.repeat,
                ack_timeout_minutes: req.ack_timeout_minutes,
            },
            "",
            &default_channels,
        )?;
        Ok(Self {
            name,
            description,
            policy,
            people,
        })
    }
}

/// An escalation's `policy`: a stored policy's name, or one of its own.
#[derive(Debug)]
pub enum PolicyField {
    Name(String),
    Inline(PolicyRequest),
}

/// In the API document: a stored policy's name, or a [`PolicyRequest`].
impl utoipa::PartialSchema for PolicyField {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A stored policy's name (`GET /v1/policies`).")),
            )
            .item(utoipa::openapi::Ref::from_schema_name("PolicyRequest"))
            .into()
    }
}

impl utoipa::ToSchema for PolicyField {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "PolicyRequest".to_owned(),
            <PolicyRequest as utoipa::PartialSchema>::schema(),
        ));
        <PolicyRequest as utoipa::ToSchema>::schemas(schemas);
    }
}

impl<'de> Deserialize<'de> for PolicyField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameOrObject;
        impl<'de> Visitor<'de> for NameOrObject {
            type Value = PolicyField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stored policy's name or a JSON object")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PolicyField, E> {
                Ok(PolicyField::Name(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PolicyField, A::Error> {
                PolicyRequest::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(PolicyField::Inline)
            }
        }
        deserializer.deserialize_any(NameOrObject)
    }
}

impl super::engine::Directory for Vec<NewRecipient> {
    fn find(&self, recipient: &str) -> Option<&dyn Reachable> {
        self.iter()
            .find(|r| r.external_id == recipient)
            .map(|r| r as &dyn Reachable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<NewEscalation, Vec<FieldError>> {
        let req = IngestRequest::from_json(v.to_string().as_bytes()).map_err(|e| vec![e])?;
        NewEscalation::try_from(req)
    }

    fn first_field(v: serde_json::Value) -> String {
        parse(v).expect_err("should be rejected")[0].field.clone()
    }

    fn valid() -> serde_json::Value {
        json!({
            "title": "DB down", "priority": "critical",
            "recipients": [{"id": "u1", "email": "a@example.com"}]
        })
    }

    #[test]
    fn minimal_request_gets_defaults() {
        let e = parse(valid()).expect("valid");
        assert_eq!(e.alert_count, 1);
        assert_eq!(e.channels, ChannelPolicy::default());
        assert_eq!(e.body, "");
    }

    #[test]
    fn missing_title_is_named() {
        let mut v = valid();
        v.as_object_mut().map(|o| o.remove("title"));
        assert_eq!(first_field(v), "title");
    }

    #[test]
    fn overlong_title_is_rejected() {
        let mut v = valid();
        v["title"] = json!("x".repeat(MAX_TITLE_CHARS + 1));
        assert_eq!(first_field(v), "title");
    }

    #[test]
    fn body_over_64_kib_is_rejected() {
        let mut v = valid();
        v["body"] = json!("x".repeat(MAX_BODY_BYTES + 1));
        assert_eq!(first_field(v), "body");
    }

    #[test]
    fn nul_in_body_is_rejected_but_line_breaks_are_kept() {
        let mut v = valid();
        v["body"] = json!("a\u{0}b");
        assert_eq!(first_field(v), "body");
        let mut v = valid();
        v["body"] = json!("line 1\nline 2\ttabbed");
        assert_eq!(parse(v).expect("valid").body, "line 1\nline 2\ttabbed");
    }

    #[test]
    fn bad_email_names_its_recipient() {
        let mut v = valid();
        v["recipients"][0]["email"] = json!("not-an-email");
        assert_eq!(first_field(v), "recipients[0].email");
    }

    #[test]
    fn non_e164_phone_is_rejected() {
        let mut v = valid();
        v["recipients"][0]["phone"] = json!("415-555-0101");
        assert_eq!(first_field(v), "recipients[0].phone");
    }

    #[test]
    fn without_a_policy_everyone_is_paged_at_once_on_the_channels() {
        let mut v = valid();
        v["channels"] = json!({"primary": ["sms"]});
        let e = parse(v).expect("valid");
        let policy = given(&e);
        assert_eq!(policy.levels.len(), 1);
        assert_eq!(policy.levels[0].recipients, ["u1"]);
        assert_eq!(policy.levels[0].channels.primary, [Channel::Sms]);
        assert_eq!(policy.repeat, 0);
    }

    #[test]
    fn a_policy_level_takes_the_escalations_channels_and_default_delays() {
        let mut v = valid();
        v["channels"] = json!({"primary": ["email"], "fallback": ["voice"]});
        v["policy"] = json!({"levels": [
            {"after_minutes": 0, "recipients": ["u1"]},
            {"after_minutes": 30, "recipients": ["u1"], "channels": {"primary": ["slack"]},
             "secondary_after_minutes": 12}
        ], "repeat": 2});
        let e = parse(v).expect("valid");
        let [first, second] = &given(&e).levels[..] else {
            panic!("two levels")
        };
        assert_eq!(first.channels.fallback, [Channel::Voice]);
        assert_eq!(
            (first.secondary_after_minutes, first.fallback_after_minutes),
            (5, 10)
        );
        assert_eq!(second.channels.primary, [Channel::Slack]);
        // The fallback default keeps its 5 minutes after a longer secondary delay.
        assert_eq!(
            (
                second.secondary_after_minutes,
                second.fallback_after_minutes
            ),
            (12, 17)
        );
        assert_eq!(given(&e).repeat, 2);
    }

    fn given(e: &NewEscalation) -> &EscalationPolicy {
        match &e.policy {
            PolicySource::Given { policy, .. } => policy,
            PolicySource::Stored(name) => panic!("a stored policy: {name}"),
        }
    }

    #[test]
    fn a_policy_is_a_stored_name_or_an_object() {
        let mut v = valid();
        v["policy"] = json!([{"after_minutes": 0}]);
        assert_eq!(first_field(v.clone()), "policy");
        v["policy"] = json!("platform-oncall");
        assert_eq!(
            parse(v.clone()).expect("a name").policy,
            PolicySource::Stored("platform-oncall".into())
        );
        v["policy"] = json!("Platform On-call");
        assert_eq!(first_field(v.clone()), "policy");
        v["policy"] = json!({"levels": [{"recipients": ["u1"], "delay": 3}]});
        assert_eq!(first_field(v), "policy.levels[0].delay");
    }

    #[test]
    fn unknown_channel_names_its_position() {
        let mut v = valid();
        v["channels"] = json!({"primary": ["email", "pager"]});
        assert_eq!(first_field(v), "channels.primary[1]");
    }

    #[test]
    fn empty_recipients_are_rejected() {
        let mut v = valid();
        v["recipients"] = json!([]);
        assert_eq!(first_field(v), "recipients");
    }

    #[test]
    fn duplicate_recipient_ids_are_rejected() {
        let mut v = valid();
        v["recipients"] = json!([{"id": "u1"}, {"id": "u1"}]);
        assert_eq!(first_field(v), "recipients[1].id");
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let mut v = valid();
        v["dedupe_key"] = json!("typo");
        assert_eq!(first_field(v), "dedupe_key");
        let mut v = valid();
        v["recipients"][0]["mail"] = json!("a@example.com");
        assert_eq!(first_field(v), "recipients[0].mail");
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let mut v = valid();
        v["alert_count"] = json!("three");
        assert_eq!(first_field(v), "alert_count");
    }

    #[test]
    fn unknown_priority_is_rejected() {
        let mut v = valid();
        v["priority"] = json!("urgent");
        assert_eq!(first_field(v), "priority");
    }

    #[test]
    fn triggered_at_must_be_rfc3339() {
        let mut v = valid();
        v["triggered_at"] = json!("yesterday");
        assert_eq!(first_field(v), "triggered_at");
        let mut v = valid();
        v["triggered_at"] = json!("2026-11-22T03:12:00+01:00");
        assert!(parse(v).is_ok());
    }

    #[test]
    fn inbox_expiry_is_an_rfc3339_time() {
        let mut v = valid();
        v["inbox_expires_at"] = json!("tomorrow");
        assert_eq!(first_field(v), "inbox_expires_at");
        let mut v = valid();
        v["inbox_expires_at"] = json!("2026-12-02T03:12:00Z");
        assert!(parse(v).expect("valid").inbox_expires_at.is_some());
    }

    #[test]
    fn javascript_dashboard_url_is_rejected() {
        let mut v = valid();
        v["dashboard_url"] = json!("javascript:alert(1)");
        assert_eq!(first_field(v), "dashboard_url");
    }

    #[test]
    fn all_field_errors_are_collected() {
        let errors = parse(json!({"priority": "nope"})).expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["title", "priority", "recipients"]);
    }

    #[test]
    fn arrays_are_not_objects() {
        let e = IngestRequest::from_json(br#"["t","b",null,"low"]"#).expect_err("array");
        assert_eq!((e.code, e.field.as_str()), ("invalid_type", ""));
        let mut v = valid();
        v["recipients"] = json!([["u1", "Alice", "a@example.com"]]);
        assert_eq!(first_field(v.clone()), "recipients[0]");
        let mut v = valid();
        v["channels"] = json!([["email"]]);
        let e = parse(v).expect_err("array");
        assert_eq!(
            (e[0].code, e[0].field.as_str()),
            ("invalid_type", "channels")
        );
    }

    #[test]
    fn blank_dedup_key_is_rejected() {
        let mut v = valid();
        v["dedup_key"] = json!("   ");
        let e = parse(v).expect_err("blank");
        assert_eq!((e[0].code, e[0].field.as_str()), ("empty", "dedup_key"));
    }

    #[test]
    fn timezone_must_be_an_iana_name() {
        let mut v = valid();
        v["recipients"][0]["timezone"] = json!("Europe/Paris");
        assert!(parse(v).is_ok());
        for bad in ["Mars/Olympus_Mons", "CEST+1", "Etc/Unknown"] {
            let mut v = valid();
            v["recipients"][0]["timezone"] = json!(bad);
            assert_eq!(first_field(v), "recipients[0].timezone", "{bad}");
        }
        // Any case is read, and kept as the database spells it.
        let mut v = valid();
        v["recipients"][0]["timezone"] = json!("america/NEW_york");
        assert_eq!(
            parse(v).expect("valid").recipients[0].timezone.as_deref(),
            Some("America/New_York")
        );
    }

    #[test]
    fn an_inline_policy_may_name_stored_people_and_unknown_ones_are_refused() {
        let mut v = valid();
        v["policy"] = json!({"levels": [{"recipients": ["u1", "alice"]}]});
        let e = parse(v).expect("valid");
        let PolicySource::Given { stored_people, .. } = &e.policy else {
            panic!("its own policy")
        };
        assert_eq!(
            stored_people,
            &[(
                "policy.levels[0].recipients[1]".to_owned(),
                "alice".to_owned()
            )]
        );
        let alice = Contacts {
            email: true,
            ..Contacts::default()
        };
        let known = BTreeMap::from([("alice".to_owned(), Some(alice))]);
        let r = resolve(&e, None, &known).expect("alice is stored");
        assert_eq!(r.stored_people["alice"], alice);
        assert_eq!(r.stored, None);
        let erased = BTreeMap::from([("alice".to_owned(), None)]);
        let err = resolve(&e, None, &erased).expect_err("alice is gone");
        assert_eq!(
            (err.code, err.field.as_str()),
            ("unknown_recipient", "policy.levels[0].recipients[1]")
        );
    }

    #[test]
    fn a_stored_policy_resolves_to_its_version_and_pages_an_erased_person_as_unreachable() {
        let mut v = valid();
        v.as_object_mut().map(|o| o.remove("recipients"));
        v["policy"] = json!("platform-oncall");
        let e = parse(v).expect("no recipients needed");
        let stored = EscalationPolicy::everyone(
            vec!["alice".into(), "bob".into()],
            ChannelPolicy::default(),
        );
        let people = BTreeMap::from([
            ("alice".to_owned(), Some(Contacts::default())),
            ("bob".to_owned(), None),
        ]);
        let r = resolve(
            &e,
            Some(("platform-oncall".into(), 3, stored.clone())),
            &people,
        )
        .expect("resolved");
        assert_eq!(r.policy, stored);
        assert_eq!(r.stored, Some(("platform-oncall".into(), 3)));
        assert_eq!(r.stored_people.len(), 2, "bob is paged as nobody reachable");
        let err = resolve(&e, None, &people).expect_err("no such policy");
        assert_eq!((err.code, err.field.as_str()), ("unknown_policy", "policy"));
        // Someone in the request but in no level of the stored policy.
        let mut v = valid();
        v["policy"] = json!("platform-oncall");
        let e = parse(v).expect("valid");
        let err = resolve(&e, Some(("platform-oncall".into(), 3, stored)), &people)
            .expect_err("u1 is in no level");
        assert_eq!(
            (err.code, err.field.as_str()),
            ("not_in_policy", "recipients[0].id")
        );
    }

    #[test]
    fn a_stored_policy_body_is_checked_without_a_policy_prefix() {
        let req = |v: serde_json::Value| -> StoredPolicyRequest {
            parse_json(v.to_string().as_bytes()).expect("json")
        };
        let ok = NewStoredPolicy::parse(
            req(json!({"levels": [{"recipients": ["a"]}, {"after_minutes": 10, "recipients": ["b"]}]})),
            Some("night-shift"),
        )
        .expect("valid");
        assert_eq!(ok.name, "night-shift");
        assert_eq!(ok.policy.levels[1].channels, ChannelPolicy::default());
        assert_eq!(
            ok.people[1],
            ("levels[1].recipients[0]".to_owned(), "b".to_owned())
        );
        let err = NewStoredPolicy::parse(req(json!({"levels": [{"recipients": []}]})), Some("x"))
            .expect_err("empty level");
        assert_eq!(err.field, "levels[0].recipients");
        let err = NewStoredPolicy::parse(req(json!({"name": "-x", "levels": []})), None)
            .expect_err("bad name");
        assert_eq!(err.field, "name");
    }

    #[test]
    fn urgency_is_high_unless_low_is_asked_for() {
        assert_eq!(parse(valid()).expect("valid").urgency, Urgency::High);
        let mut v = valid();
        v["urgency"] = json!("low");
        assert_eq!(parse(v).expect("valid").urgency, Urgency::Low);
        let mut v = valid();
        v["urgency"] = json!("urgent");
        assert_eq!(first_field(v), "urgency");
    }

    #[test]
    fn quiet_hours_are_normalised_kept_when_absent_and_cleared_by_an_empty_list() {
        let mut v = valid();
        v["recipients"][0]["timezone"] = json!("Europe/Paris");
        v["recipients"][0]["quiet_hours"] =
            json!([{ "days": ["fri", "mon"], "start": "22:00", "end": "00:00" }]);
        let e = parse(v).expect("valid");
        assert_eq!(
            e.recipients[0].quiet_hours,
            Some(vec![WindowSpec {
                days: vec!["mon".into(), "fri".into()],
                start: "22:00".into(),
                end: "24:00".into(),
            }])
        );
        assert_eq!(
            parse(valid()).expect("valid").recipients[0].quiet_hours,
            None
        );
        let mut v = valid();
        v["recipients"][0]["quiet_hours"] = json!([]);
        assert_eq!(
            parse(v).expect("valid").recipients[0].quiet_hours,
            Some(vec![])
        );
        let mut v = valid();
        v["recipients"][0]["quiet_hours"] =
            json!([{ "days": ["mon"], "start": "22:00", "end": "07:00" }]);
        assert_eq!(first_field(v), "recipients[0].timezone");
    }

    #[test]
    fn push_endpoint_and_slack_id_are_checked() {
        let mut v = valid();
        v["recipients"][0]["push_endpoint_arn"] =
            json!("arn:aws:sns:us-east-1:123456789012:my-topic");
        assert_eq!(first_field(v), "recipients[0].push_endpoint_arn");
        let mut v = valid();
        v["recipients"][0]["slack_user_id"] = json!("alice");
        assert_eq!(first_field(v), "recipients[0].slack_user_id");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(req) = IngestRequest::from_json(&bytes) {
                let _ = NewEscalation::try_from(req);
            }
        }
    }
}
