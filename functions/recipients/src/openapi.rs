//! The recipients function's operations in the API's OpenAPI document (see
//! `herald_ingest::openapi` for how the document is made). Each function below only
//! carries its route's description: [`crate::http_handler`] serves the route.

use herald::db::receipts::Suppression;
use herald::db::system_events::SystemEvent;
use herald::domain::Channel;
use herald::domain::escalation::{RecipientRequest, StoredPolicyRequest};
use herald::domain::opt_out::OptOutRequest;
use herald::domain::template::{Fields, TEMPLATED};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::handlers::{
    InboxItemView, InboxPageView, MarkedRead, Page, UnreadCount, WebhookRequest, WebhookView,
};
use crate::integrations::{AuthorizeView, IntegrationsView, SlackConnected, TeamsConnected};
use crate::opt_outs::{OptOutView, OptOutsView};
use crate::people::{ErasedView, RecipientPage, RecipientView};
use crate::policies::{PolicyList, PolicyView};
use crate::stats::DeliveryStats;
use crate::templates::{TemplateView, TemplatesView};

/// The people, their inboxes and connections, policies, and the operators' views.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_recipients, get_recipient, put_recipient, delete_recipient,
        list_notifications, unread_count, read_all, read_notification, delete_notification,
        list_opt_outs, put_opt_out, delete_opt_out,
        put_recipient_webhook, delete_recipient_webhook, put_team_webhook, delete_team_webhook,
        list_policies, create_policy, get_policy, put_policy, delete_policy,
        list_suppressions, delete_suppression,
        list_templates, get_template, put_template, delete_template,
        delivery_stats, list_system_events, resolve_system_event,
        list_integrations, slack_install, slack_callback_page, slack_callback, slack_uninstall,
        connect_slack, disconnect_slack, connect_teams, disconnect_teams,
        teams_callback_page, teams_callback,
    ),
    components(schemas(ProviderChannel, OptOutChannel)),
    tags(
        (name = "recipients", description = "The tenant's people: addresses, quiet hours, erasure."),
        (name = "inbox", description = "A person's in-app notifications."),
        (name = "opt-outs", description = "Channels a person asked not to be paged on."),
        (name = "policies", description = "Stored escalation policies, versioned."),
        (name = "templates", description = "The tenant's message templates per channel."),
        (name = "integrations", description = "Slack and Microsoft Teams connections and webhooks."),
        (name = "operations", description = "What operators watch: suppressions, delivery figures, system events."),
    )
)]
pub struct RecipientsApi;

/// The channels that take templates and have a suppression list (`channel` in their
/// paths), as the document lists them: [`herald::domain::template::TEMPLATED`].
pub struct ProviderChannel;

impl utoipa::PartialSchema for ProviderChannel {
    fn schema() -> RefOr<Schema> {
        names(TEMPLATED.iter().map(|c| c.as_str()))
    }
}

impl utoipa::ToSchema for ProviderChannel {}

/// An opt-out's `channel`, as the document lists it: every channel but the in-app inbox
/// (see [`herald::domain::opt_out::OptOutScope`]), or `all`.
pub struct OptOutChannel;

impl utoipa::PartialSchema for OptOutChannel {
    fn schema() -> RefOr<Schema> {
        let channels = Channel::ALL.into_iter().filter(|c| *c != Channel::InApp);
        names(channels.map(Channel::as_str).chain(["all"]))
    }
}

impl utoipa::ToSchema for OptOutChannel {}

/// A string schema of these values.
fn names<'a>(values: impl Iterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// The tenant's people, by id (keyset pages).
#[utoipa::path(get, path = "/v1/recipients", tag = "recipients", operation_id = "listRecipients",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Per page (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "A page of people", body = RecipientPage)),
    security(("api_key" = [])))]
pub fn list_recipients() {}

/// One person, with the quiet stretch they are in now.
#[utoipa::path(get, path = "/v1/recipients/{id}", tag = "recipients", operation_id = "getRecipient",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 200, description = "The person", body = RecipientView)),
    security(("api_key" = [])))]
pub fn get_recipient() {}

/// Create or replace a person: every field (one left out is cleared).
#[utoipa::path(put, path = "/v1/recipients/{id}", tag = "recipients", operation_id = "putRecipient",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    request_body = RecipientRequest,
    responses(
        (status = 201, description = "Created", body = RecipientView,
            links(
                ("GetRecipient" = (operation_id = "getRecipient", parameters(("id" = "$response.body#/id")))),
                ("ListNotifications" = (operation_id = "listNotifications", parameters(("id" = "$response.body#/id")))),
                ("ListOptOuts" = (operation_id = "listOptOuts", parameters(("id" = "$response.body#/id")))),
                ("PutOptOut" = (operation_id = "putOptOut", parameters(("id" = "$response.body#/id")))),
                ("EraseRecipient" = (operation_id = "eraseRecipient", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 200, description = "Replaced", body = RecipientView),
        (status = 409, description = "The Slack user connected their account to another recipient", body = herald::http::ErrorBody),
    ),
    security(("api_key" = [])))]
pub fn put_recipient() {}

/// Erase a person: addresses, opt-outs, connections, inbox, links; their queued pages
/// are suppressed and the audit log scrubbed of them.
#[utoipa::path(delete, path = "/v1/recipients/{id}", tag = "recipients", operation_id = "eraseRecipient",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 200, description = "Erased: what was removed", body = ErasedView)),
    security(("api_key" = [])))]
pub fn delete_recipient() {}

/// A person's in-app notifications, newest first.
#[utoipa::path(get, path = "/v1/recipients/{id}/notifications", tag = "inbox", operation_id = "listNotifications",
    params(
        ("id" = String, Path, example = "u-alice", description = "Your id for the person"),
        ("unread" = Option<bool>, Query, description = "Only unread ones"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Per page (default 20)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "A page of the inbox", body = InboxPageView)),
    security(("api_key" = [])))]
pub fn list_notifications() {}

/// How many of a person's in-app notifications are unread.
#[utoipa::path(get, path = "/v1/recipients/{id}/notifications/unread-count", tag = "inbox", operation_id = "countUnread",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 200, description = "The count", body = UnreadCount)),
    security(("api_key" = [])))]
pub fn unread_count() {}

/// Mark all of a person's in-app notifications read.
#[utoipa::path(post, path = "/v1/recipients/{id}/notifications/read-all", tag = "inbox", operation_id = "markAllRead",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 200, description = "Marked", body = MarkedRead)),
    security(("api_key" = [])))]
pub fn read_all() {}

/// Mark one in-app notification read.
#[utoipa::path(post, path = "/v1/recipients/{id}/notifications/{nid}/read", tag = "inbox", operation_id = "markRead",
    params(
        ("id" = String, Path, example = "u-alice", description = "Your id for the person"),
        ("nid" = uuid::Uuid, Path, description = "The notification's id"),
    ),
    responses((status = 200, description = "The notification, read", body = InboxItemView)),
    security(("api_key" = [])))]
pub fn read_notification() {}

/// Delete one in-app notification.
#[utoipa::path(delete, path = "/v1/recipients/{id}/notifications/{nid}", tag = "inbox", operation_id = "deleteNotification",
    params(
        ("id" = String, Path, example = "u-alice", description = "Your id for the person"),
        ("nid" = uuid::Uuid, Path, description = "The notification's id"),
    ),
    responses((status = 204, description = "Deleted")),
    security(("api_key" = [])))]
pub fn delete_notification() {}

/// A person's opt-outs.
#[utoipa::path(get, path = "/v1/recipients/{id}/opt-outs", tag = "opt-outs", operation_id = "listOptOuts",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 200, description = "Their opt-outs", body = OptOutsView)),
    security(("api_key" = [])))]
pub fn list_opt_outs() {}

/// Opt a person out of a channel (or `all`), until removed or `expires_at`. The body
/// may be empty.
#[utoipa::path(put, path = "/v1/recipients/{id}/opt-outs/{channel}", tag = "opt-outs", operation_id = "putOptOut",
    params(
        ("id" = String, Path, example = "u-alice", description = "Your id for the person"),
        ("channel" = OptOutChannel, Path, description = "A channel, or `all`"),
    ),
    request_body(content = Option<OptOutRequest>, description = "Optional: why, and until when"),
    responses((status = 200, description = "The opt-out", body = OptOutView,
        links(("DeleteOptOut" = (operation_id = "deleteOptOut",
            parameters(("id" = "$request.path.id"), ("channel" = "$request.path.channel"))))))),
    security(("api_key" = [])))]
pub fn put_opt_out() {}

/// Remove an opt-out.
#[utoipa::path(delete, path = "/v1/recipients/{id}/opt-outs/{channel}", tag = "opt-outs", operation_id = "deleteOptOut",
    params(
        ("id" = String, Path, example = "u-alice", description = "Your id for the person"),
        ("channel" = OptOutChannel, Path, description = "A channel, or `all`"),
    ),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn delete_opt_out() {}

/// Register (or replace) a person's Teams incoming webhook. The URL is sealed and never
/// shown again.
#[utoipa::path(put, path = "/v1/recipients/{id}/teams-webhook", tag = "integrations", operation_id = "putRecipientTeamsWebhook",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    request_body = WebhookRequest,
    responses((status = 200, description = "Registered", body = WebhookView)),
    security(("api_key" = [])))]
pub fn put_recipient_webhook() {}

/// Remove a person's Teams webhook.
#[utoipa::path(delete, path = "/v1/recipients/{id}/teams-webhook", tag = "integrations", operation_id = "deleteRecipientTeamsWebhook",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn delete_recipient_webhook() {}

/// Register (or replace) a team's Teams incoming webhook (an escalation's `team`).
#[utoipa::path(put, path = "/v1/teams/{team}/teams-webhook", tag = "integrations", operation_id = "putTeamTeamsWebhook",
    params(("team" = String, Path, description = "The team's name")),
    request_body = WebhookRequest,
    responses((status = 200, description = "Registered", body = WebhookView)),
    security(("api_key" = [])))]
pub fn put_team_webhook() {}

/// Remove a team's Teams webhook.
#[utoipa::path(delete, path = "/v1/teams/{team}/teams-webhook", tag = "integrations", operation_id = "deleteTeamTeamsWebhook",
    params(("team" = String, Path, description = "The team's name")),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn delete_team_webhook() {}

/// The tenant's stored policies, each at its latest version.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", operation_id = "listPolicies",
    responses((status = 200, description = "The policies", body = PolicyList)),
    security(("api_key" = [])))]
pub fn list_policies() {}

/// Store a new policy, named by the body's `name` (required here);
/// `PUT /v1/policies/{name}` saves a new version of one that exists.
#[utoipa::path(post, path = "/v1/policies", tag = "policies", operation_id = "createPolicy",
    request_body = StoredPolicyRequest,
    responses(
        (status = 201, description = "Created (or created again after a delete: the next version)", body = PolicyView,
            links(
                ("GetPolicy" = (operation_id = "getPolicy", parameters(("name" = "$response.body#/name")))),
                ("PutPolicy" = (operation_id = "putPolicy", parameters(("name" = "$response.body#/name")))),
                ("DeletePolicy" = (operation_id = "deletePolicy", parameters(("name" = "$response.body#/name")))),
            )),
        (status = 409, description = "A policy of that name exists (or was saved at the same moment)", body = herald::http::ErrorBody),
    ),
    security(("api_key" = [])))]
pub fn create_policy() {}

/// A stored policy, at its latest version or `?version=`.
#[utoipa::path(get, path = "/v1/policies/{name}", tag = "policies", operation_id = "getPolicy",
    params(
        ("name" = String, Path, example = "primary-oncall", description = "The policy's name"),
        ("version" = Option<i32>, Query, minimum = 1, description = "An earlier version"),
    ),
    responses((status = 200, description = "The policy", body = PolicyView)),
    security(("api_key" = [])))]
pub fn get_policy() {}

/// Store a policy under the path's name (a new version when it exists).
#[utoipa::path(put, path = "/v1/policies/{name}", tag = "policies", operation_id = "putPolicy",
    params(("name" = String, Path, example = "primary-oncall", description = "The policy's name")),
    request_body = StoredPolicyRequest,
    responses(
        (status = 201, description = "Created (or created again after a delete: the next version)", body = PolicyView),
        (status = 200, description = "A new version", body = PolicyView),
        (status = 409, description = "Saved by someone else at the same moment: read it and try again", body = herald::http::ErrorBody),
    ),
    security(("api_key" = [])))]
pub fn put_policy() {}

/// Delete a stored policy (escalations running under it keep their copy).
#[utoipa::path(delete, path = "/v1/policies/{name}", tag = "policies", operation_id = "deletePolicy",
    params(("name" = String, Path, example = "primary-oncall", description = "The policy's name")),
    responses((status = 204, description = "Deleted")),
    security(("api_key" = [])))]
pub fn delete_policy() {}

/// The tenant's suppression list: addresses a provider reported bad (a permanent bounce,
/// a complaint), newest first.
#[utoipa::path(get, path = "/v1/suppressions", tag = "operations", operation_id = "listSuppressions",
    params(
        ("channel" = Option<ProviderChannel>, Query, description = "Only this channel"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Per page (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "A page of the list", body = Page<Suppression>)),
    security(("api_key" = [])))]
pub fn list_suppressions() {}

/// Remove an address from the suppression list: it can be paged again.
#[utoipa::path(delete, path = "/v1/suppressions/{channel}/{address}", tag = "operations", operation_id = "deleteSuppression",
    params(
        ("channel" = ProviderChannel, Path, description = "`email`, `sms`, `push` or `voice`"),
        ("address" = String, Path, description = "The address, as listed"),
    ),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn delete_suppression() {}

/// The tenant's templates, and the variables a template may use.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", operation_id = "listTemplates",
    responses((status = 200, description = "The templates", body = TemplatesView)),
    security(("api_key" = [])))]
pub fn list_templates() {}

/// The channel's template.
#[utoipa::path(get, path = "/v1/templates/{channel}", tag = "templates", operation_id = "getTemplate",
    params(("channel" = ProviderChannel, Path, description = "`email`, `sms`, `push` or `voice`")),
    responses((status = 200, description = "The template", body = TemplateView)),
    security(("api_key" = [])))]
pub fn get_template() {}

/// Store the channel's template: checked first (an unknown variable, a syntax error or
/// an SMS over its segment budget is a 400 naming the field).
#[utoipa::path(put, path = "/v1/templates/{channel}", tag = "templates", operation_id = "putTemplate",
    params(("channel" = ProviderChannel, Path, description = "`email`, `sms`, `push` or `voice`")),
    request_body = Fields,
    responses((status = 200, description = "Stored", body = TemplateView,
            links(
                ("GetTemplate" = (operation_id = "getTemplate", parameters(("channel" = "$response.body#/channel")))),
                ("DeleteTemplate" = (operation_id = "deleteTemplate", parameters(("channel" = "$response.body#/channel")))),
            ))),
    security(("api_key" = [])))]
pub fn put_template() {}

/// Back to Herald's default message for the channel.
#[utoipa::path(delete, path = "/v1/templates/{channel}", tag = "templates", operation_id = "deleteTemplate",
    params(("channel" = ProviderChannel, Path, description = "`email`, `sms`, `push` or `voice`")),
    responses((status = 204, description = "Deleted")),
    security(("api_key" = [])))]
pub fn delete_template() {}

/// Delivery figures per channel over a recent window: queued→sent and sent→delivered
/// p50/p99, delivery and bounce rates.
#[utoipa::path(get, path = "/v1/stats/deliveries", tag = "operations", operation_id = "deliveryStats",
    params(("window" = Option<String>, Query, pattern = "^[0-9]{1,5}[mhd]$", description = "Minutes, hours or days from `1m` to `7d`: `15m`, `1h`, `24h`... (default `1h`)")),
    responses((status = 200, description = "The figures", body = DeliveryStats)),
    security(("api_key" = [])))]
pub fn delivery_stats() {}

/// System events: the tenant's and Herald's own (a provider failing, messages in a
/// dead-letter queue, sending paused, an escalation nobody answered, a revoked
/// credential), newest first, one open event per outage.
#[utoipa::path(get, path = "/v1/system-events", tag = "operations", operation_id = "listSystemEvents",
    params(
        ("severity" = Option<herald::domain::system_events::Severity>, Query, description = "Only this severity"),
        ("unresolved" = Option<bool>, Query, description = "Only open ones"),
        ("tenant_scoped" = Option<bool>, Query, description = "`true`: the tenant's own only; `false`: Herald's own only"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Per page (default 50)"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "A page of events", body = Page<SystemEvent>)),
    security(("api_key" = [])))]
pub fn list_system_events() {}

/// Resolve an open system event.
#[utoipa::path(post, path = "/v1/system-events/{id}/resolve", tag = "operations", operation_id = "resolveSystemEvent",
    params(("id" = uuid::Uuid, Path, description = "The event's id")),
    responses((status = 200, description = "Resolved", body = SystemEvent)),
    security(("api_key" = [])))]
pub fn resolve_system_event() {}

/// What the tenant has connected (no secret in it).
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", operation_id = "listIntegrations",
    responses((status = 200, description = "Slack, Teams connections and webhooks", body = IntegrationsView)),
    security(("api_key" = [])))]
pub fn list_integrations() {}

/// "Add to Slack": a redirect to Slack's consent page (the link works once, for ten
/// minutes).
#[utoipa::path(get, path = "/v1/integrations/slack/install", tag = "integrations", operation_id = "installSlack",
    responses(
        (status = 302, description = "To Slack's consent page", body = AuthorizeView,
            headers(("Location" = String, description = "Slack's consent page"))),
        (status = 404, description = "No Slack app is configured (HERALD_SLACK_CLIENT_ID)", body = herald::http::ErrorBody),
    ),
    security(("api_key" = [])))]
pub fn slack_install() {}

/// Where Slack sends the browser back: a page showing which Herald account (and person)
/// this connects, with a button; nothing is stored until it is pressed. No API key (the
/// signed, single-use `state` authenticates).
#[utoipa::path(get, path = "/v1/integrations/slack/callback", tag = "integrations", operation_id = "slackCallbackPage",
    params(
        ("code" = Option<String>, Query, description = "Slack's code"),
        ("state" = Option<String>, Query, description = "The state Herald signed"),
        ("error" = Option<String>, Query, description = "Slack's error (the person declined)"),
    ),
    responses((status = 200, description = "The confirmation page", content_type = "text/html", body = String)))]
pub fn slack_callback_page() {}

/// The confirmation page's button: exchanges the code and stores the (sealed) token.
#[utoipa::path(post, path = "/v1/integrations/slack/callback", tag = "integrations", operation_id = "slackCallback",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`code` and `state`, as the page posts them"),
    responses(
        (status = 200, description = "Connected", body = SlackConnected),
        (status = 409, description = "The workspace is another tenant's, or the Slack user another person's", body = herald::http::ErrorBody),
        (status = 502, description = "Slack's answer could not be used", body = herald::http::ErrorBody),
    ))]
pub fn slack_callback() {}

/// Remove the tenant's Slack installation (its bot token is deleted).
#[utoipa::path(delete, path = "/v1/integrations/slack", tag = "integrations", operation_id = "uninstallSlack",
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn slack_uninstall() {}

/// A person connects their own Slack account: a redirect to Slack's consent page.
#[utoipa::path(get, path = "/v1/recipients/{id}/connections/slack", tag = "integrations", operation_id = "connectSlack",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses(
        (status = 302, description = "To Slack's consent page", body = AuthorizeView,
            headers(("Location" = String, description = "Slack's consent page"))),
        (status = 409, description = "The tenant has not installed Slack yet", body = herald::http::ErrorBody),
    ),
    security(("api_key" = [])))]
pub fn connect_slack() {}

/// Remove a person's Slack connection (their token is deleted).
#[utoipa::path(delete, path = "/v1/recipients/{id}/connections/slack", tag = "integrations", operation_id = "disconnectSlack",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn disconnect_slack() {}

/// A person connects their Microsoft Teams identity: a redirect to Microsoft's sign-in.
#[utoipa::path(get, path = "/v1/recipients/{id}/connections/teams", tag = "integrations", operation_id = "connectTeams",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses(
        (status = 302, description = "To Microsoft's sign-in page", body = AuthorizeView,
            headers(("Location" = String, description = "Microsoft's sign-in page"))),
    ),
    security(("api_key" = [])))]
pub fn connect_teams() {}

/// Remove a person's Teams connection (their token is deleted).
#[utoipa::path(delete, path = "/v1/recipients/{id}/connections/teams", tag = "integrations", operation_id = "disconnectTeams",
    params(("id" = String, Path, example = "u-alice", description = "Your id for the person")),
    responses((status = 204, description = "Removed")),
    security(("api_key" = [])))]
pub fn disconnect_teams() {}

/// Where Microsoft sends the browser back: the confirmation page. No API key.
#[utoipa::path(get, path = "/v1/integrations/teams/callback", tag = "integrations", operation_id = "teamsCallbackPage",
    params(
        ("code" = Option<String>, Query, description = "Microsoft's code"),
        ("state" = Option<String>, Query, description = "The state Herald signed"),
        ("error" = Option<String>, Query, description = "Microsoft's error (the person declined)"),
    ),
    responses((status = 200, description = "The confirmation page", content_type = "text/html", body = String)))]
pub fn teams_callback_page() {}

/// The confirmation page's button: exchanges the code and keeps the (sealed) token.
#[utoipa::path(post, path = "/v1/integrations/teams/callback", tag = "integrations", operation_id = "teamsCallback",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`code` and `state`, as the page posts them"),
    responses(
        (status = 200, description = "Connected", body = TeamsConnected),
        (status = 409, description = "That Microsoft identity is another person's", body = herald::http::ErrorBody),
        (status = 502, description = "Microsoft's answer could not be used", body = herald::http::ErrorBody),
    ))]
pub fn teams_callback() {}

#[cfg(test)]
mod tests {
    use herald::domain::Channel;
    use herald::domain::opt_out::OptOutScope;
    use utoipa::PartialSchema;

    fn values<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).expect("JSON");
        schema["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect()
    }

    /// The document's lists are the ones the handlers accept.
    #[test]
    fn the_documented_channels_are_the_accepted_ones() {
        let templated: Vec<String> = herald::domain::template::TEMPLATED
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        assert_eq!(values::<super::ProviderChannel>(), templated);
        let opt_outs = values::<super::OptOutChannel>();
        for raw in &opt_outs {
            assert!(OptOutScope::parse(raw).is_ok(), "{raw}");
        }
        // Every channel but the in-app inbox, and `all`.
        assert_eq!(opt_outs.len(), Channel::ALL.len());
        assert!(OptOutScope::parse(Channel::InApp.as_str()).is_err());
    }
}
