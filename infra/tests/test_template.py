#!/usr/bin/env python3
"""Checks infra/template.yaml for what cfn-lint does not: Herald's own invariants.

cfn-lint validates the CloudFormation schema but not, e.g., a misspelt
FunctionResponseTypes value, a visibility timeout shorter than the consumer's
timeout, or a route wired to the wrong function. This script checks those, then
runs cfn-lint itself and fails on any finding.

Run from anywhere (paths are relative to this file):
    python3 infra/tests/test_template.py
Needs only cfn-lint (pip install cfn-lint). Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import decode

INFRA = Path(__file__).resolve().parent.parent
TEMPLATE = INFRA / "template.yaml"
REPO = INFRA.parent

BINARIES = {
    "ingest",
    "recipients",
    "dispatch-email",
    "dispatch-sms",
    "dispatch-push",
    "dispatch-teams",
    "dispatch-voice",
    "dispatch-slack",
    "magic-link",
    "retry",
    "retention",
    "sms-reply",
    "feedback",
}
EXPECTED_ROUTES = {
    ("GET", "/v1/openapi.json"): "IngestFunction",
    ("POST", "/v1/escalations"): "IngestFunction",
    ("GET", "/v1/escalations/{id}"): "IngestFunction",
    ("GET", "/v1/escalations/{id}/timeline"): "IngestFunction",
    ("POST", "/v1/escalations/{id}/acknowledge"): "IngestFunction",
    ("POST", "/v1/escalations/{id}/resolve"): "IngestFunction",
    ("GET", "/v1/recipients"): "RecipientsFunction",
    ("GET", "/v1/suppressions"): "RecipientsFunction",
    ("GET", "/v1/templates"): "RecipientsFunction",
    ("GET", "/v1/templates/{channel}"): "RecipientsFunction",
    ("PUT", "/v1/templates/{channel}"): "RecipientsFunction",
    ("DELETE", "/v1/templates/{channel}"): "RecipientsFunction",
    ("GET", "/v1/stats/deliveries"): "RecipientsFunction",
    ("GET", "/v1/system-events"): "RecipientsFunction",
    ("POST", "/v1/system-events/{id}/resolve"): "RecipientsFunction",
    ("DELETE", "/v1/suppressions/{channel}/{address}"): "RecipientsFunction",
    ("GET", "/v1/policies"): "RecipientsFunction",
    ("POST", "/v1/policies"): "RecipientsFunction",
    ("GET", "/v1/policies/{name}"): "RecipientsFunction",
    ("PUT", "/v1/policies/{name}"): "RecipientsFunction",
    ("DELETE", "/v1/policies/{name}"): "RecipientsFunction",
    ("GET", "/v1/recipients/{id}"): "RecipientsFunction",
    ("PUT", "/v1/recipients/{id}"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}"): "RecipientsFunction",
    ("GET", "/v1/recipients/{id}/notifications"): "RecipientsFunction",
    ("GET", "/v1/recipients/{id}/notifications/unread-count"): "RecipientsFunction",
    ("POST", "/v1/recipients/{id}/notifications/read-all"): "RecipientsFunction",
    ("POST", "/v1/recipients/{id}/notifications/{nid}/read"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}/notifications/{nid}"): "RecipientsFunction",
    ("GET", "/v1/recipients/{id}/opt-outs"): "RecipientsFunction",
    ("PUT", "/v1/recipients/{id}/opt-outs/{channel}"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}/opt-outs/{channel}"): "RecipientsFunction",
    ("PUT", "/v1/recipients/{id}/teams-webhook"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}/teams-webhook"): "RecipientsFunction",
    ("PUT", "/v1/teams/{team}/teams-webhook"): "RecipientsFunction",
    ("DELETE", "/v1/teams/{team}/teams-webhook"): "RecipientsFunction",
    # The tenant's connections and "Add to Slack" (Slack OAuth v2); the callback carries no
    # API key (the signed state authenticates) but is served by the same function.
    ("GET", "/v1/integrations"): "RecipientsFunction",
    ("GET", "/v1/integrations/slack/install"): "RecipientsFunction",
    ("GET", "/v1/integrations/slack/callback"): "RecipientsFunction",
    ("POST", "/v1/integrations/slack/callback"): "RecipientsFunction",
    ("GET", "/v1/recipients/{id}/connections/slack"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}/connections/slack"): "RecipientsFunction",
    ("DELETE", "/v1/integrations/slack"): "RecipientsFunction",
    # A person's Teams (Entra ID) connection: 302 to Microsoft's consent page, removal, and
    # Microsoft's redirect back (no API key: the signed, single-use state authenticates).
    ("GET", "/v1/recipients/{id}/connections/teams"): "RecipientsFunction",
    ("DELETE", "/v1/recipients/{id}/connections/teams"): "RecipientsFunction",
    ("GET", "/v1/integrations/teams/callback"): "RecipientsFunction",
    ("POST", "/v1/integrations/teams/callback"): "RecipientsFunction",
    ("GET", "/l/{token}"): "MagicLinkFunction",
    ("POST", "/l/{token}"): "MagicLinkFunction",
    # The Slack app's Interactivity Request URL (signed button clicks).
    ("POST", "/slack/actions"): "MagicLinkFunction",
    ("POST", "/slack/events"): "MagicLinkFunction",
}
# Path prefixes and the one function serving every route under them: escalations (the
# paging path) apart from the inbox / webhook registration / Slack installs (which hold the
# secret keys and the Slack client secret); a Slack button click acts through the same path
# a magic link takes.
ROUTE_PREFIXES = {
    "/v1/escalations": "IngestFunction",
    "/v1/openapi.json": "IngestFunction",
    "/v1/recipients": "RecipientsFunction",
    "/v1/policies": "RecipientsFunction",
    "/v1/suppressions": "RecipientsFunction",
    "/v1/templates": "RecipientsFunction",
    "/v1/stats/": "RecipientsFunction",
    "/v1/system-events": "RecipientsFunction",
    "/v1/teams/": "RecipientsFunction",
    "/v1/integrations": "RecipientsFunction",
    "/l/": "MagicLinkFunction",
    "/slack/": "MagicLinkFunction",
}
DB_ENV = {
    "RUST_LOG",
    "HERALD_DATABASE_HOST",
    "HERALD_DATABASE_PORT",
    "HERALD_DATABASE_NAME",
    "HERALD_DATABASE_USER",
    "HERALD_DATABASE_SECRET_ARN",
    "HERALD_DATABASE_SSLMODE",
    "HERALD_DB_POOL_SIZE",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
    "HERALD_METRICS_NAMESPACE",
}
# Channel -> (its queue, that queue's DLQ, the dispatcher consuming it, its binary). Each
# dispatcher consumes its own queue only; ingest and retry enqueue to exactly these.
CHANNELS = {
    "email": ("EmailQueue", "EmailDLQ", "DispatchEmailFunction", "dispatch-email"),
    "sms": ("SmsQueue", "SmsDLQ", "DispatchSmsFunction", "dispatch-sms"),
    "push": ("PushQueue", "PushDLQ", "DispatchPushFunction", "dispatch-push"),
    "teams": ("TeamsQueue", "TeamsDLQ", "DispatchTeamsFunction", "dispatch-teams"),
    "voice": ("VoiceQueue", "VoiceDLQ", "DispatchVoiceFunction", "dispatch-voice"),
    "slack": ("SlackQueue", "SlackDLQ", "DispatchSlackFunction", "dispatch-slack"),
}
REFERENCE_CHANNEL = "email"  # the other channels copy its queue / event source settings
# Inbound queues (not channels): name -> (its queue, that queue's DLQ, the function consuming
# it, its binary). End User Messaging two-way SMS publishes every inbound SMS to
# SMS_INBOUND_TOPIC, which delivers raw to the queue; sms-reply acknowledges / resolves,
# announces on SlackQueue and confirms by SMS. Queue and DLQ settings as the reference
# channel's; nobody enqueues to it (SNS does, through its queue policy).
INBOUND = {"sms-inbound": ("SmsInboundQueue", "SmsInboundDLQ", "SmsReplyFunction", "sms-reply"),
           "feedback": ("FeedbackQueue", "FeedbackDLQ", "FeedbackFunction", "feedback")}
# SES and End User Messaging publish delivery receipts to FEEDBACK_TOPIC (same key, same
# shape as the inbound SMS topic); feedback applies them, and reaches nothing but the database.
FEEDBACK_TOPIC = "FeedbackTopic"
# Topics AWS services publish to Herald: topic -> (the queue it delivers to, the service
# principals that may publish, the queue's policy).
PUBLISHED_TOPICS = {
    "SmsInboundTopic": ("SmsInboundQueue", {"sms-voice.amazonaws.com"}, "SmsInboundQueuePolicy"),
    FEEDBACK_TOPIC: ("FeedbackQueue", {"ses.amazonaws.com", "sms-voice.amazonaws.com"}, "FeedbackQueuePolicy"),
}
SMS_INBOUND_TOPIC = "SmsInboundTopic"
SMS_INBOUND_KEY = "SmsInboundKey"
# Replies are few: fewer pollers than the dispatchers (2 is the smallest Lambda allows).
INBOUND_MAX_CONCURRENCY = 2
# Event source settings an inbound consumer shares with the reference dispatcher.
INBOUND_SAME_EVENT_KEYS = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes")
# Outputs of the inbound path: name -> the resource its Value is a Ref of.
INBOUND_OUTPUTS = {"SmsInboundTopicArn": "SmsInboundTopic", "SmsInboundQueueUrl": "SmsInboundQueue",
                   "SmsInboundDLQUrl": "SmsInboundDLQ", "FeedbackTopicArn": "FeedbackTopic",
                   "FeedbackQueueUrl": "FeedbackQueue", "FeedbackDLQUrl": "FeedbackDLQ"}
# Service principals that may use the topic's key, and the only actions they get: the
# publisher (End User Messaging) needs a data key; SNS itself delivers.
INBOUND_KEY_SERVICES = {"sms-voice.amazonaws.com", "ses.amazonaws.com", "sns.amazonaws.com"}
INBOUND_KEY_ACTIONS = {"kms:GenerateDataKey*", "kms:Decrypt"}
SOURCE_ACCOUNT = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
# Send SMS to phone numbers (Resource "*"), so both must deny sns:Publish to every SNS ARN.
SMS_SENDERS = ("DispatchSmsFunction", "SmsReplyFunction")
ENQUEUERS = ("IngestFunction", "RetryFunction")
# Functions that announce answers (acknowledged / resolved escalations) to the channels that
# rewrite their messages, and the only queues each may send to: magic-link sends one
# {"answered_escalation_id": ...} message to the Slack queue (dispatch-slack does the
# chat.update). No other queue, no other SQS action. (Ingest announces too, through the
# SlackQueue it already enqueues to.) sms-reply announces the answers it takes by SMS the
# same way.
ANNOUNCERS = {"MagicLinkFunction": {"SlackQueue"}, "SmsReplyFunction": {"SlackQueue"}}
# Variables a function once had and must not get back.
FORBIDDEN_ENV = {
    "MagicLinkFunction": {
        "HERALD_SECRET_KEYS_ARN": "it opens no bot token: dispatch-slack rewrites the messages",
        "HERALD_SLACK_INTERACTIVE": "it builds no Slack message: only dispatch-slack reads it",
        "HERALD_SLACK_API_BASE_URL": "it calls no Slack API",
    },
}
QUEUE_URL_ENV = {f"HERALD_QUEUE_URL_{ch.upper()}" for ch in CHANNELS}
# The retry sweep watches the channel DLQs' depths (dlq_messages system events).
DLQ_URL_ENV = {f"HERALD_DLQ_URL_{ch.upper()}" for ch in CHANNELS}
# The escalation engine plans in ingest (the first wave) and retry: both know how long each
# channel's provider has to confirm a send.
RECEIPT_WINDOWS = {"EMAIL": "EmailReceiptWindowMinutes", "SMS": "SmsReceiptWindowMinutes",
                   "VOICE": "VoiceReceiptWindowMinutes"}
RECEIPT_WINDOW_ENV = {f"HERALD_RECEIPT_WINDOW_MINUTES_{ch}" for ch in RECEIPT_WINDOWS}
DISPATCH_ENV = {"HERALD_PUBLIC_BASE_URL", "HERALD_MAGIC_LINK_TTL_SECS", "HERALD_MAX_ATTEMPTS",
                "HERALD_SENDING_LEASE_SECS", "HERALD_RATE_LIMIT_TABLE"}
FUNCTION_ENV = {
    "IngestFunction": QUEUE_URL_ENV | RECEIPT_WINDOW_ENV,
    # HERALD_PUBLIC_BASE_URL: the Slack and Teams OAuth redirect_uris are built on it.
    "RecipientsFunction": {"HERALD_SECRET_KEYS_ARN", "HERALD_SLACK_CLIENT_ID", "HERALD_SLACK_CLIENT_SECRET_ARN",
                           "HERALD_TEAMS_CLIENT_ID", "HERALD_TEAMS_CLIENT_SECRET_ARN", "HERALD_TEAMS_AUTHORITY_URL",
                           "HERALD_PUBLIC_BASE_URL"},
    "DispatchEmailFunction": DISPATCH_ENV | {"HERALD_SES_FROM", "HERALD_SES_CONFIGURATION_SET"},
    "DispatchSmsFunction": DISPATCH_ENV | {"HERALD_SMS_SENDER_ID", "HERALD_SMS_ORIGINATION_NUMBER",
                                           "HERALD_SMS_REPLY_CODES"},
    "DispatchPushFunction": set(DISPATCH_ENV),
    "DispatchTeamsFunction": DISPATCH_ENV | {"HERALD_SECRET_KEYS_ARN"},
    "DispatchVoiceFunction": DISPATCH_ENV | {"HERALD_VOICE_ORIGINATION_IDENTITY", "HERALD_VOICE_ID",
                                             "HERALD_VOICE_CONFIGURATION_SET"},
    # No HERALD_SLACK_API_BASE_URL: it defaults to https://slack.com/api in code.
    "DispatchSlackFunction": DISPATCH_ENV | {"HERALD_SECRET_KEYS_ARN", "HERALD_SLACK_INTERACTIVE"},
    "MagicLinkFunction": {"HERALD_QUEUE_URL_SLACK", "HERALD_SLACK_SIGNING_SECRET_ARN"},
    # The answer announcement, and the fallback sender of the confirmation SMS.
    "SmsReplyFunction": {"HERALD_QUEUE_URL_SLACK", "HERALD_SMS_ORIGINATION_NUMBER"},
    "FeedbackFunction": set(),
    "RetryFunction": QUEUE_URL_ENV | DLQ_URL_ENV | RECEIPT_WINDOW_ENV | {
        "HERALD_MAX_ATTEMPTS",
        "HERALD_SENDING_LEASE_SECS",
        "HERALD_OUTBOX_GRACE_SECS",
        "HERALD_RETRY_BATCH_SIZE",
    },
    "RetentionFunction": {
        "HERALD_TOKEN_RETENTION_HOURS",
        "HERALD_RESOLVED_RETENTION_DAYS",
        "HERALD_EVENT_LOG_RETENTION_DAYS",
        "HERALD_INBOX_RETENTION_DAYS",
        "HERALD_RETENTION_MAX_BATCH",
    },
}
# Environment variables that are a Ref of one parameter, and which parameter.
ENV_FROM_PARAMETER = {
    ("RecipientsFunction", "HERALD_SECRET_KEYS_ARN"): "SecretKeysSecretArn",
    ("DispatchTeamsFunction", "HERALD_SECRET_KEYS_ARN"): "SecretKeysSecretArn",
    ("DispatchSlackFunction", "HERALD_SECRET_KEYS_ARN"): "SecretKeysSecretArn",
    ("DispatchSmsFunction", "HERALD_SMS_SENDER_ID"): "SmsSenderId",
    ("DispatchSmsFunction", "HERALD_SMS_ORIGINATION_NUMBER"): "SmsOriginationNumber",
    ("DispatchSmsFunction", "HERALD_SMS_REPLY_CODES"): "SmsReplyCodes",
    ("SmsReplyFunction", "HERALD_SMS_ORIGINATION_NUMBER"): "SmsOriginationNumber",
    ("DispatchVoiceFunction", "HERALD_VOICE_ORIGINATION_IDENTITY"): "VoiceOriginationIdentityArn",
    ("DispatchVoiceFunction", "HERALD_VOICE_ID"): "VoiceId",
    ("DispatchVoiceFunction", "HERALD_VOICE_CONFIGURATION_SET"): "VoiceConfigurationSet",
    ("RetentionFunction", "HERALD_INBOX_RETENTION_DAYS"): "InboxRetentionDays",
    ("RecipientsFunction", "HERALD_TEAMS_AUTHORITY_URL"): "TeamsAuthorityUrl",
    **{(fn, f"HERALD_RECEIPT_WINDOW_MINUTES_{ch}"): param
       for fn in ("IngestFunction", "RetryFunction") for ch, param in RECEIPT_WINDOWS.items()},
}
# Slack interactivity is on exactly when SlackSigningSecretArn is set: magic-link then gets
# the secret to check POST /slack/actions with, and the one Slack sender (dispatch-slack,
# which posts and rewrites the messages) makes buttons that post back instead of magic
# links. These variables are set by exactly these functions, to exactly these values.
SLACK_INTERACTIVITY_CONDITION = "HasSlackSigningSecret"
SLACK_INTERACTIVE = {"Fn::If": [SLACK_INTERACTIVITY_CONDITION, "true", "false"]}
# "Add to Slack" is on exactly when SlackClientId and SlackClientSecretArn are both set:
# recipients then gets both (and nothing of them otherwise).
SLACK_OAUTH_CONDITION = "HasSlackOAuth"
# Teams connections likewise: on exactly when TeamsClientId and TeamsClientSecretArn are both set.
TEAMS_OAUTH_CONDITION = "HasTeamsOAuth"
CONDITIONAL_ENV = {
    "HERALD_SLACK_SIGNING_SECRET_ARN": {
        "MagicLinkFunction": {"Fn::If": [SLACK_INTERACTIVITY_CONDITION, {"Ref": "SlackSigningSecretArn"},
                                         {"Ref": "AWS::NoValue"}]},
    },
    "HERALD_SLACK_INTERACTIVE": {
        "DispatchSlackFunction": SLACK_INTERACTIVE,
    },
    "HERALD_SLACK_CLIENT_ID": {
        "RecipientsFunction": {"Fn::If": [SLACK_OAUTH_CONDITION, {"Ref": "SlackClientId"}, {"Ref": "AWS::NoValue"}]},
    },
    "HERALD_SLACK_CLIENT_SECRET_ARN": {
        "RecipientsFunction": {"Fn::If": [SLACK_OAUTH_CONDITION, {"Ref": "SlackClientSecretArn"},
                                          {"Ref": "AWS::NoValue"}]},
    },
    "HERALD_TEAMS_CLIENT_ID": {
        "RecipientsFunction": {"Fn::If": [TEAMS_OAUTH_CONDITION, {"Ref": "TeamsClientId"}, {"Ref": "AWS::NoValue"}]},
    },
    "HERALD_TEAMS_CLIENT_SECRET_ARN": {
        "RecipientsFunction": {"Fn::If": [TEAMS_OAUTH_CONDITION, {"Ref": "TeamsClientSecretArn"},
                                          {"Ref": "AWS::NoValue"}]},
    },
}
# Every action a function's role allows (the DB secret is everyone's). Nothing more.
# secretsmanager:GetSecretValue is on the DB secret only, except for SECRET_KEYS_READERS.
FUNCTION_ACTIONS = {
    "IngestFunction": {"sqs:SendMessage", "secretsmanager:GetSecretValue"},
    "RecipientsFunction": {"secretsmanager:GetSecretValue"},
    "DispatchEmailFunction": {"ses:SendEmail", "secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "DispatchSmsFunction": {"sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut", "secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "DispatchPushFunction": {"sns:Publish", "secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "DispatchTeamsFunction": {"secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "DispatchVoiceFunction": {"sms-voice:SendVoiceMessage", "secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "DispatchSlackFunction": {"secretsmanager:GetSecretValue", "dynamodb:UpdateItem"},
    "MagicLinkFunction": {"sqs:SendMessage", "secretsmanager:GetSecretValue"},
    "RetryFunction": {"sqs:SendMessage", "sqs:GetQueueAttributes", "secretsmanager:GetSecretValue"},
    "RetentionFunction": {"secretsmanager:GetSecretValue"},
    # The confirmation SMS (no opt-out check: the replier just texted us), the answer
    # announcement; no ses, no sms-voice, no dynamodb.
    "SmsReplyFunction": {"sns:Publish", "sqs:SendMessage", "secretsmanager:GetSecretValue"},
    # Receipts only touch the database.
    "FeedbackFunction": {"secretsmanager:GetSecretValue"},
}
# The only Allow statements that may say Resource "*", and their exact actions: SMS to a
# phone number and the opt-out check have no resource ARN to scope to.
STAR_RESOURCE_ALLOWED = {"DispatchSmsFunction": {"sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"},
                         "SmsReplyFunction": {"sns:Publish"}}
# Read the key secret: recipients seals the Teams webhooks and the bot tokens of Slack
# installs, dispatch-teams opens the webhooks, dispatch-slack opens the Slack bot tokens to
# post and to rewrite (chat.update) once an escalation is answered.
# Nobody else (ingest and magic-link in particular) may name SecretKeysSecretArn or get
# HERALD_SECRET_KEYS_ARN.
SECRET_KEYS_READERS = {"RecipientsFunction", "DispatchTeamsFunction", "DispatchSlackFunction"}
# Read the Slack signing secret, and only when one is configured (the statement sits under
# HasSlackSigningSecret: an empty parameter would make an empty Resource). Nobody else may
# name SlackSigningSecretArn.
SLACK_SIGNING_SECRET_READERS = {"MagicLinkFunction"}
# Read the Slack app's client secret (oauth.v2.access, the install state's key), and only
# when installs are configured (under HasSlackOAuth). Nobody else may name SlackClientSecretArn.
SLACK_CLIENT_SECRET_READERS = {"RecipientsFunction"}
# Read the Entra app registration's client secret (the token endpoint, the connection
# state's key), and only when Teams connections are configured (under HasTeamsOAuth).
TEAMS_CLIENT_SECRET_READERS = {"RecipientsFunction"}
# Optional secrets: parameter -> (the condition its one Allow sits under, its readers).
CONDITIONAL_SECRETS = {
    "SlackSigningSecretArn": (SLACK_INTERACTIVITY_CONDITION, SLACK_SIGNING_SECRET_READERS),
    "SlackClientSecretArn": (SLACK_OAUTH_CONDITION, SLACK_CLIENT_SECRET_READERS),
    "TeamsClientSecretArn": (TEAMS_OAUTH_CONDITION, TEAMS_CLIENT_SECRET_READERS),
}
# Client-id parameter -> (its secret ARN parameter, the condition needing both): a Rule makes
# the id require the secret, and the condition is exactly "both set".
OAUTH_CLIENTS = {
    "SlackClientId": ("SlackClientSecretArn", SLACK_OAUTH_CONDITION),
    "TeamsClientId": ("TeamsClientSecretArn", TEAMS_OAUTH_CONDITION),
}
# OAuth parameters that are no secret ARN, and the only functions that may name them.
SLACK_PARAMETER_USERS = {"SlackClientId": {"RecipientsFunction"}, "TeamsClientId": {"RecipientsFunction"},
                         "TeamsAuthorityUrl": {"RecipientsFunction"}}
# Run in EgressSubnetIds (a NAT route to the internet); every other function stays in
# PrivateSubnetIds, which need no internet route. recipients calls oauth.v2.access;
# magic-link calls no Slack API any more (it announces answers on SlackQueue), so it is
# private.
EGRESS_FUNCTIONS = {"DispatchTeamsFunction", "DispatchSlackFunction", "RecipientsFunction"}
# The paging path: never any Slack secret or setting (it only enqueues Slack rows).
NO_SLACK_FUNCTIONS = {"IngestFunction"}
# Functions deployed exactly like another one (network, logging level, sizing, environment,
# IAM statements): dispatch-slack is dispatch-teams with another provider. Only the binary,
# the queue and the log group differ (those are checked per channel).
MIRRORS = {"DispatchSlackFunction": "DispatchTeamsFunction"}
MIRROR_KEYS = ("VpcConfig", "Timeout", "MemorySize", "Layers", "LoggingConfig", "Runtime", "Architectures",
               "CodeUri", "Tracing")
# The mirror's own environment variables (absent from its model): Slack buttons post back
# or link to magic links.
MIRROR_ENV_EXTRA = {"DispatchSlackFunction": {"HERALD_SLACK_INTERACTIVE"}}
# Functions placed in the network like another one, with the same extension layer:
# recipients calls oauth.v2.access on slack.com as dispatch-slack calls chat.postMessage;
# magic-link reaches only AWS APIs (SQS, Secrets Manager) and the database, as ingest does
# (the Globals' private VpcConfig).
# sms-reply too: SNS, SQS and Secrets Manager through the interface endpoints, no NAT.
NETWORK_LIKE = {"MagicLinkFunction": "IngestFunction", "RecipientsFunction": "DispatchSlackFunction",
                "SmsReplyFunction": "IngestFunction", "FeedbackFunction": "IngestFunction"}
NETWORK_KEYS = ("VpcConfig", "Layers")
EXTENSION_LAYER = {"Ref": "ParametersSecretsExtensionLayerArn"}
# Secrets a function reads by ARN through the Parameters and Secrets extension (needs the layer).
EXTENSION_SECRET_ENV = {"HERALD_DATABASE_SECRET_ARN", "HERALD_SECRET_KEYS_ARN", "HERALD_SLACK_SIGNING_SECRET_ARN",
                        "HERALD_SLACK_CLIENT_SECRET_ARN", "HERALD_TEAMS_CLIENT_SECRET_ARN"}
# Outputs: name -> (what the ApiUrl output's URL is followed by, the route it names).
API_URL_OUTPUTS = {"SlackInteractivityUrl": ("/slack/actions", ("POST", "/slack/actions")),
                   "SlackEventsUrl": ("/slack/events", ("POST", "/slack/events"))}
# Outputs that must equal a URL a function builds from its HERALD_PUBLIC_BASE_URL (Slack
# and Entra ID compare the OAuth redirect_uri exactly): name -> (function, path appended,
# the route).
BASE_URL_OUTPUTS = {
    "SlackOAuthRedirectUrl": ("RecipientsFunction", "/v1/integrations/slack/callback",
                              ("GET", "/v1/integrations/slack/callback")),
    "TeamsOAuthRedirectUrl": ("RecipientsFunction", "/v1/integrations/teams/callback",
                              ("GET", "/v1/integrations/teams/callback")),
}
# Where each redirect URL output goes, as its provider's console names the list.
REDIRECT_LISTS = {"SlackOAuthRedirectUrl": "Redirect URLs", "TeamsOAuthRedirectUrl": "Redirect URIs"}
# The Entra ID authority: an https:// URL without a trailing slash (the code appends
# /oauth2/v2.0/...); the default takes work or school accounts of any tenant.
TEAMS_AUTHORITY_DEFAULT = "https://login.microsoftonline.com/organizations"
# Interface endpoints for every AWS API the functions (or the secrets extension) call.
ENDPOINT_SERVICES = {"sqs", "email", "secretsmanager", "logs", "sns", "sms-voice"}
# Parameters that must stay optional (deployable without a value), with their defaults.
PARAMETER_DEFAULTS = {
    "PublicSubnetId": "",
    "EgressRouteTableId": "",
    "SmsSenderId": "",
    "SmsOriginationNumber": "",
    "VoiceOriginationIdentityArn": "",
    "VoiceId": "JOANNA",  # End User Messaging v2 voice ids are upper case
    "VoiceConfigurationSet": "",
    "InboxRetentionDays": 30,
    "SlackSigningSecretArn": "",  # empty: Slack interactivity off, buttons are magic links
    "SlackClientId": "",  # empty: "Add to Slack" off
    "SlackClientSecretArn": "",
    "TeamsClientId": "",  # empty: Teams connections off (their routes answer 404)
    "TeamsClientSecretArn": "",
    "TeamsAuthorityUrl": TEAMS_AUTHORITY_DEFAULT,
    "SmsReplyCodes": "false",  # reply codes need the two-way number set up first
    # 0 turns the cap off (an account whose Lambda concurrency quota is too small).
    "RecipientsReservedConcurrency": 20,
}
PARAMETER_TYPES = {
    "EgressSubnetIds": "List<AWS::EC2::Subnet::Id>",
    "PrivateRouteTableIds": "CommaDelimitedList",
    "DynamoDbPrefixListId": "String",
    "PublicSubnetId": "String",
    "EgressRouteTableId": "String",
    "SecretKeysSecretArn": "String",
    "SlackSigningSecretArn": "String",
    "SlackClientId": "String",
    "SlackClientSecretArn": "String",
    "TeamsClientId": "String",
    "TeamsClientSecretArn": "String",
    "TeamsAuthorityUrl": "String",
    "SmsReplyCodes": "String",
    "RecipientsReservedConcurrency": "Number",
}
# checkov runs in the test command with no failed check; a check that does not apply is
# skipped in the template (Metadata: checkov: skip, each with its reason). The checks each
# resource type may skip; any other finding is fixed instead.
CHECKOV_SKIPS = {
    # SSE-SQS (SqsManagedSseEnabled); checkov's CloudFormation check wants a KMS key.
    "AWS::SQS::Queue": {"CKV_AWS_27"},
    # Reserved concurrency, a function DLQ, a KMS key for the environment.
    "AWS::Serverless::Function": {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_173"},
    # KMS on the function log groups (the access log group has its key).
    "AWS::Logs::LogGroup": {"CKV_AWS_158"},
    # Point-in-time recovery and a customer managed key for the rate-limit counters.
    "AWS::DynamoDB::Table": {"CKV_AWS_28", "CKV_AWS_119"},
    "AWS::RDS::DBCluster": {"CKV_AWS_162"},  # IAM database authentication
    "AWS::RDS::DBInstance": {"CKV_AWS_118"},  # Enhanced Monitoring
}
# The log group holding personal data (caller IPs) and the key that encrypts it.
ACCESS_LOGS, ACCESS_LOGS_KEY = "HttpApiAccessLogs", "AccessLogsKey"
ACCESS_LOGS_KEY_ACTIONS = {"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"}
# Environment variables no function may set (any more, or ever).
REMOVED_ENV = {
    "HERALD_VOICE_LANGUAGE": "the End User Messaging v2 API has no language parameter",
    # Local fakes only; deployed, the code's default https://slack.com/api is the one host
    # a bot token may be sent to.
    "HERALD_SLACK_API_BASE_URL": "the deployed dispatcher calls the real Slack Web API (the code default)",
    # Secrets come from Secrets Manager (the *_ARN variables), never inline in the template.
    "HERALD_SECRET_KEYS": "the keys are read from HERALD_SECRET_KEYS_ARN, never inline",
    "HERALD_SLACK_SIGNING_SECRET": "the signing secret is read from HERALD_SLACK_SIGNING_SECRET_ARN, never inline",
    "HERALD_SLACK_CLIENT_SECRET": "the client secret is read from HERALD_SLACK_CLIENT_SECRET_ARN, never inline",
    "HERALD_TEAMS_CLIENT_SECRET": "the client secret is read from HERALD_TEAMS_CLIENT_SECRET_ARN, never inline",
    # Local fakes only; deployed, installs go to Slack's own consent page (the code default).
    "HERALD_SLACK_AUTHORIZE_URL": "the deployed installer sends admins to Slack's own consent page (the code default)",
}
# Parameters that must be gone (replaced, or no longer meaningful).
REMOVED_PARAMETERS = {
    "EgressRouteTableIds": "replaced by the single EgressRouteTableId",
    "VoiceLanguage": "the End User Messaging v2 API has no language parameter",
}
# Scheduled functions: the one schedule each must have, and the longest Timeout allowed
# (a retry run must end before the next tick; Lambda's own maximum is 900 s).
EXPECTED_SCHEDULES = {
    "RetryFunction": ("rate(1 minute)", 59),
    "RetentionFunction": ("rate(1 hour)", 900),
}
RETENTION_WINDOWS = (
    "HERALD_TOKEN_RETENTION_HOURS",
    "HERALD_RESOLVED_RETENTION_DAYS",
    "HERALD_EVENT_LOG_RETENTION_DAYS",
    "HERALD_INBOX_RETENTION_DAYS",
)
LOG_LEVELS = ["trace", "debug", "info", "warn", "error"]

passed: list[str] = []
failed: list[str] = []


def check(ok: bool, what: str, detail: str = "") -> bool:
    if ok:
        passed.append(what)
        print(f"ok   {what}")
    else:
        failed.append(what)
        print(f"FAIL {what}" + (f": {detail}" if detail else ""))
    return ok


# ------------------------------------------------------------------ helpers


def ref_target(value) -> str | None:
    """Logical id behind {"Ref": X} or {"Fn::GetAtt": [X, attr]} / "X.attr"."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            if isinstance(arg, str):
                return arg.split(".", 1)[0]
            if isinstance(arg, list) and arg:
                return arg[0]
    return None


def getatt(value) -> tuple[str, str] | None:
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        arg = value["Fn::GetAtt"]
        if isinstance(arg, str) and "." in arg:
            res, attr = arg.split(".", 1)
            return res, attr
        if isinstance(arg, list) and len(arg) == 2:
            return arg[0], arg[1]
    return None


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def is_intrinsic(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (next(iter(value)).startswith("Fn::")
                                                            or next(iter(value)) in ("Ref", "Condition"))


def sam_merge(glob, local):
    """SAM's Globals rules: maps merge recursively (the function's keys win), lists are the
    Globals' entries followed by the function's, scalars and intrinsics: the function's."""
    if local is None:
        return glob
    if isinstance(glob, dict) and isinstance(local, dict) and not (is_intrinsic(glob) or is_intrinsic(local)):
        return {**glob, **{k: sam_merge(glob.get(k), v) for k, v in local.items()}}
    if isinstance(glob, list) and isinstance(local, list):
        return glob + local
    return local


def merged(globals_fn: dict, props: dict, key: str):
    """Property as SAM sees it (see sam_merge)."""
    return sam_merge(globals_fn.get(key), props.get(key))


def merged_env(globals_fn: dict, props: dict) -> dict:
    env = dict(globals_fn.get("Environment", {}).get("Variables", {}))
    env.update(props.get("Environment", {}).get("Variables", {}))
    return env


def workspace_binaries() -> set[str]:
    """[[bin]] names of the workspace's function packages (read-only cross-check)."""
    names: set[str] = set()
    for manifest in sorted(REPO.glob("functions/*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        for b in data.get("bin", []):
            names.add(b["name"])
    return names


def workspace_members() -> set[str] | None:
    """members of the root Cargo.toml's [workspace] (read-only cross-check); None: unreadable."""
    try:
        data = tomllib.loads((REPO / "Cargo.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return set(data.get("workspace", {}).get("members", []))


def binary_packages() -> dict[str, str]:
    """[[bin]] name -> its package directory (relative to the repo), for functions/*."""
    out: dict[str, str] = {}
    for manifest in sorted(REPO.glob("functions/*/Cargo.toml")):
        data = tomllib.loads(manifest.read_text())
        for b in data.get("bin", []):
            out[b["name"]] = manifest.parent.relative_to(REPO).as_posix()
    return out


def scalar_values(value, template: dict) -> list[str] | None:
    """Every value a scalar can take: literals, Ref of a parameter (its AllowedValues, or
    its Default), Fn::FindInMap over every value of a Ref'd key. None: cannot tell."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    params = template.get("Parameters", {})
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in params:
        p = params[value["Ref"]]
        return [str(v) for v in p.get("AllowedValues", [p["Default"]] if "Default" in p else [])] or None
    if isinstance(value, dict) and list(value) == ["Fn::FindInMap"]:
        mname, key, col = value["Fn::FindInMap"]
        keys = scalar_values(key, template)
        mapping = template.get("Mappings", {}).get(mname, {})
        if keys is None or not isinstance(col, str):
            return None
        try:
            return [str(mapping[k][col]) for k in keys]
        except KeyError:
            return None
    return None


def raw_statements(policies) -> list:
    """Statement entries as written: statements, or Fn::If around one."""
    out = []
    for p in as_list(policies or []):
        if isinstance(p, dict) and "Statement" in p:
            out.extend(as_list(p["Statement"]))
        elif isinstance(p, dict) and "PolicyDocument" in p:
            out.extend(as_list(p["PolicyDocument"].get("Statement", [])))
    return out


def policy_statements(policies) -> list[dict]:
    """Every statement the role may get: a conditional entry (Fn::If [cond, statement,
    statement or AWS::NoValue]) counts with each of its statements."""
    out = []
    for st in raw_statements(policies):
        if isinstance(st, dict) and list(st) == ["Fn::If"] and len(st["Fn::If"]) == 3:
            out.extend(b for b in st["Fn::If"][1:] if isinstance(b, dict) and b != {"Ref": "AWS::NoValue"})
        else:
            out.append(st)
    return out


# ------------------------------------------------------------------ checks


def main() -> int:
    template, matches = decode(str(TEMPLATE))
    if not check(template is not None and not matches, f"{TEMPLATE.relative_to(REPO)} decodes",
                 "; ".join(str(m) for m in matches or [])):
        return finish()

    resources: dict = template["Resources"]
    globals_fn: dict = template.get("Globals", {}).get("Function", {})
    by_type = lambda t: {k: v for k, v in resources.items() if v.get("Type") == t}  # noqa: E731
    functions = by_type("AWS::Serverless::Function")
    queues = by_type("AWS::SQS::Queue")
    http_apis = by_type("AWS::Serverless::HttpApi")

    log_groups = by_type("AWS::Logs::LogGroup")
    alarms = by_type("AWS::CloudWatch::Alarm")
    metric_filters = by_type("AWS::Logs::MetricFilter")

    check(template.get("Transform") == "AWS::Serverless-2016-10-31", "SAM transform declared")
    check(set(functions) == set(FUNCTION_ENV), "functions are exactly " + ", ".join(sorted(FUNCTION_ENV)),
          f"found {sorted(functions)}")

    # --- every function: runtime, arch, handler, build method, binary
    ws_bins = workspace_binaries()
    seen_bins: dict[str, str] = {}
    for name, res in sorted(functions.items()):
        props = res.get("Properties", {})
        meta = res.get("Metadata", {})
        check(merged(globals_fn, props, "Runtime") == "provided.al2023", f"{name}: runtime provided.al2023")
        check(merged(globals_fn, props, "Architectures") == ["arm64"], f"{name}: architectures [arm64]")
        check(merged(globals_fn, props, "Handler") == "bootstrap", f"{name}: handler bootstrap")
        check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod rust-cargolambda",
              repr(meta.get("BuildMethod")))
        binary = meta.get("BuildProperties", {}).get("Binary")
        check(binary in BINARIES, f"{name}: Binary {binary!r} is one of {sorted(BINARIES)}")
        check(binary not in seen_bins, f"{name}: Binary not shared with another function",
              f"also used by {seen_bins.get(binary)}")
        seen_bins[binary] = name
        if ws_bins:
            check(binary in ws_bins, f"{name}: Binary {binary!r} is a [[bin]] of functions/*/Cargo.toml",
                  f"workspace has {sorted(ws_bins)}")
        code_uri = merged(globals_fn, props, "CodeUri")
        root = (INFRA / str(code_uri)).resolve() if isinstance(code_uri, str) else None
        check(root is not None and (root / "Cargo.toml").is_file()
              and "[workspace]" in (root / "Cargo.toml").read_text(),
              f"{name}: CodeUri {code_uri!r} is the Cargo workspace root")
        vpc = merged(globals_fn, props, "VpcConfig") or {}
        check(bool(vpc.get("SubnetIds")) and bool(vpc.get("SecurityGroupIds")), f"{name}: runs in the VPC")
        env = merged_env(globals_fn, props)
        missing = (DB_ENV | FUNCTION_ENV.get(name, set())) - set(env)
        check(not missing, f"{name}: environment complete", f"missing {sorted(missing)}")
        check(env.get("HERALD_METRICS_NAMESPACE") == {"Fn::Sub": "Herald/${AWS::StackName}"},
              f"{name}: metrics in the stack's own namespace Herald/<stack>", repr(env.get("HERALD_METRICS_NAMESPACE")))
        # Nothing beyond the Globals and its FUNCTION_ENV entry (least privilege: an ARN or a
        # queue URL it does not need is one it could be granted by mistake later).
        extra_env = set(env) - DB_ENV - set(globals_fn.get("Environment", {}).get("Variables", {})) \
            - FUNCTION_ENV.get(name, set())
        check(not extra_env, f"{name}: no environment variable beyond the Globals and its own list",
              f"extra {sorted(extra_env)}")
        for var in sorted(FORBIDDEN_ENV.get(name, {})):
            check(var not in env, f"{name}: no {var} ({FORBIDDEN_ENV[name][var]})", repr(env.get(var)))
        logging = merged(globals_fn, props, "LoggingConfig") or {}
        check(logging.get("LogFormat") == "JSON" or env.get("AWS_LAMBDA_LOG_FORMAT") == "JSON",
              f"{name}: JSON logs")
        timeout = merged(globals_fn, props, "Timeout")
        check(isinstance(timeout, int) and 1 <= timeout <= 900, f"{name}: Timeout set ({timeout})")

    check(set(seen_bins) == BINARIES, "every binary is deployed", f"deployed {sorted(seen_bins)}")
    # cargo lambda builds --bin <Binary> from the workspace root: its package must be a member.
    members, packages = workspace_members(), binary_packages()
    if members is not None and packages:
        for binary in sorted(seen_bins):
            pkg = packages.get(binary)
            check(pkg is not None and pkg in members,
                  f"{seen_bins[binary]}: package of {binary!r} ({pkg}) is a workspace member",
                  f"members {sorted(members)}")

    # --- SQS: redrive for every non-DLQ queue
    redrive_targets: set[str] = set()
    for qname, q in queues.items():
        rp = q.get("Properties", {}).get("RedrivePolicy")
        if isinstance(rp, dict) and ref_target(rp.get("deadLetterTargetArn")):
            redrive_targets.add(ref_target(rp["deadLetterTargetArn"]))
    event_dlq_targets: set[str] = set()
    for fname, res in functions.items():
        for ev in res.get("Properties", {}).get("Events", {}).values():
            dlc = ev.get("Properties", {}).get("DeadLetterConfig")
            if isinstance(dlc, dict) and ref_target(dlc.get("Arn")):
                event_dlq_targets.add(ref_target(dlc["Arn"]))

    def named_dlq(qname: str) -> bool:
        qn = queues[qname].get("Properties", {}).get("QueueName")
        qn = qn.get("Fn::Sub") if isinstance(qn, dict) else qn
        return qname.lower().endswith("dlq") or (isinstance(qn, str) and qn.lower().endswith("dlq"))

    dlqs = redrive_targets | event_dlq_targets | {q for q in queues if named_dlq(q)}
    for qname in sorted(q for q in dlqs if q in queues):
        check(qname in redrive_targets or qname in event_dlq_targets,
              f"{qname}: is the RedrivePolicy or event DeadLetterConfig target of something")
    for qname in sorted(event_dlq_targets):
        check(qname in queues and queues[qname].get("Properties", {}).get("RedrivePolicy") is None,
              f"{qname}: event DeadLetterConfig target is a queue of this template with no redrive of its own")
    for qname, q in sorted(queues.items()):
        props = q.get("Properties", {})
        check(props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props,
              f"{qname}: encrypted at rest")
        if qname in dlqs or qname.endswith("DLQ"):
            check(props.get("MessageRetentionPeriod") == 1209600, f"{qname}: DLQ keeps messages 14 days",
                  repr(props.get("MessageRetentionPeriod")))
            continue
        rp = props.get("RedrivePolicy")
        target = getatt(rp.get("deadLetterTargetArn")) if isinstance(rp, dict) else None
        check(target is not None and target[1] == "Arn" and target[0] in queues and target[0] != qname,
              f"{qname}: RedrivePolicy targets an existing queue's Arn", repr(rp))
        mrc = rp.get("maxReceiveCount") if isinstance(rp, dict) else None
        check(isinstance(mrc, int) and 1 <= mrc <= 10, f"{qname}: maxReceiveCount in 1..10 ({mrc})")

    depth_alarms: dict[str, list[str]] = {}
    for aname, a in alarms.items():
        ap = a.get("Properties", {})
        if ap.get("Namespace") != "AWS/SQS" or ap.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        for d in ap.get("Dimensions", []):
            if d.get("Name") == "QueueName" and getatt(d.get("Value")) is not None:
                depth_alarms.setdefault(getatt(d["Value"])[0], []).append(aname)
    for dlq in sorted(dlqs):
        got = depth_alarms.get(dlq, [])
        check(len(got) == 1, f"{dlq}: exactly one ApproximateNumberOfMessagesVisible alarm", f"got {got}")
        for aname in got:
            ap = alarms[aname]["Properties"]
            check(getatt(next(d["Value"] for d in ap["Dimensions"] if d["Name"] == "QueueName"))[1] == "QueueName"
                  and ap.get("ComparisonOperator") == "GreaterThanThreshold" and ap.get("Threshold") == 0,
                  f"{aname}: fires on the first message in {dlq}")

    # every alarm notifies the optional topic (an alarm nobody hears is no alarm)
    for aname, a in sorted(alarms.items()):
        actions = json.dumps(a.get("Properties", {}).get("AlarmActions"))
        check('"AlarmTopicArn"' in actions, f"{aname}: AlarmActions go to AlarmTopicArn", actions)

    # --- SQS event sources
    sqs_sources = 0
    for fname, res in sorted(functions.items()):
        props = res.get("Properties", {})
        timeout = merged(globals_fn, props, "Timeout") or 3
        for ename, ev in sorted(props.get("Events", {}).items()):
            if ev.get("Type") != "SQS":
                continue
            sqs_sources += 1
            ep = ev.get("Properties", {})
            where = f"{fname}.{ename}"
            check(ep.get("FunctionResponseTypes") == ["ReportBatchItemFailures"],
                  f"{where}: FunctionResponseTypes == ['ReportBatchItemFailures']",
                  repr(ep.get("FunctionResponseTypes")))
            bs = ep.get("BatchSize")
            check(isinstance(bs, int) and 1 <= bs <= 10, f"{where}: BatchSize set and <= 10 ({bs})")
            qid = ref_target(ep.get("Queue"))
            if not check(qid in queues, f"{where}: consumes a queue of this template ({qid})"):
                continue
            vt = queues[qid].get("Properties", {}).get("VisibilityTimeout", 30)
            check(isinstance(vt, int) and vt >= 6 * timeout,
                  f"{where}: {qid} VisibilityTimeout {vt} >= 6 x Timeout {timeout}")
            capped = (ep.get("ScalingConfig", {}).get("MaximumConcurrency")
                      or props.get("ReservedConcurrentExecutions"))
            check(bool(capped), f"{where}: concurrency capped (protects the database)")
    check(sqs_sources >= 1, "at least one SQS event source")

    # --- HTTP API routes
    routes: dict[tuple[str, str], list[str]] = {}
    for fname, res in functions.items():
        for ename, ev in res.get("Properties", {}).get("Events", {}).items():
            if ev.get("Type") != "HttpApi":
                continue
            ep = ev.get("Properties", {})
            key = (str(ep.get("Method", "ANY")).upper(), ep.get("Path"))
            routes.setdefault(key, []).append(fname)
            check(ref_target(ep.get("ApiId")) in http_apis, f"{fname}.{ename}: attached to the template's HttpApi")
            check(str(ep.get("PayloadFormatVersion", "2.0")) == "2.0", f"{fname}.{ename}: payload format 2.0")
    for (method, path), fname in sorted(EXPECTED_ROUTES.items()):
        got = routes.get((method, path), [])
        check(got == [fname], f"route {method} {path} -> {fname}", f"got {got}")
    extra = sorted(set(routes) - set(EXPECTED_ROUTES))
    check(not extra, "no unexpected routes", repr(extra))
    for prefix, fname in sorted(ROUTE_PREFIXES.items()):
        under = sorted(k for k in routes if str(k[1]).startswith(prefix))
        wrong = [(k, routes[k]) for k in under if routes[k] != [fname]]
        check(bool(under) and not wrong, f"every {prefix}* route -> {fname}", repr(wrong or under))
    for fname in sorted(set(ROUTE_PREFIXES.values())):
        served = sorted(k for k, fns in routes.items() if fname in fns)
        outside = [k for k in served
                   if not any(str(k[1]).startswith(p) for p, f in ROUTE_PREFIXES.items() if f == fname)]
        check(not outside, f"{fname}: serves only "
              + ", ".join(sorted(p + "*" for p, f in ROUTE_PREFIXES.items() if f == fname)), repr(outside))

    # --- The OpenAPI document (shared/openapi.json) describes every API route the
    # template serves, and nothing it does not (the magic links and Slack's own requests
    # are not the tenant's API).
    document = json.loads((INFRA.parent / "shared" / "openapi.json").read_text())
    documented = {(m.upper(), p) for p, item in document.get("paths", {}).items() for m in item}
    api_routes = {k for k in routes if str(k[1]).startswith("/v1/")}
    check(documented == api_routes, "shared/openapi.json documents every /v1 route of the template",
          f"undocumented {sorted(api_routes - documented)}, not served {sorted(documented - api_routes)}")

    # --- IAM: no wildcard actions, no wildcard resources
    for rname, res in sorted(resources.items()):
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function":
            stmts = policy_statements(props.get("Policies"))
            check(all(isinstance(p, dict) and "Statement" in p for p in as_list(props.get("Policies") or [])),
                  f"{rname}: inline policy documents only (no managed policies or SAM policy templates)")
        elif res.get("Type") == "AWS::IAM::Role":
            stmts = policy_statements(props.get("Policies"))
        else:
            continue
        actions = [a for s in stmts for a in as_list(s.get("Action", []))]
        bad = [a for a in actions if a == "*" or (isinstance(a, str) and a.endswith(":*"))]
        check(actions and not bad, f"{rname}: no '*' actions ({len(actions)} actions)", repr(bad))
        star_res = [s for s in stmts if "*" in as_list(s.get("Resource", []))]
        allowed = STAR_RESOURCE_ALLOWED.get(rname)
        if allowed is None:
            check(not star_res, f"{rname}: no Resource '*'", repr(star_res))
        else:
            check(len(star_res) == 1 and star_res[0].get("Effect") == "Allow"
                  and as_list(star_res[0].get("Resource")) == ["*"]
                  and set(as_list(star_res[0].get("Action", []))) == allowed
                  and len(as_list(star_res[0].get("Action", []))) == len(allowed),
                  f"{rname}: its one Resource '*' statement allows exactly {sorted(allowed)}", repr(star_res))
        not_res = [s for s in stmts if "NotResource" in s or "NotAction" in s]
        check(not not_res, f"{rname}: no NotResource / NotAction", repr(not_res))

    # --- SES send is pinned to the configured sender
    dispatch_stmts = policy_statements(functions.get("DispatchEmailFunction", {})
                                       .get("Properties", {}).get("Policies"))
    ses = [s for s in dispatch_stmts if "ses:SendEmail" in as_list(s.get("Action", []))]
    check(bool(ses) and all("ses:FromAddress" in json.dumps(s.get("Condition", {})) for s in ses),
          "DispatchEmailFunction: ses:SendEmail conditioned on ses:FromAddress")

    # --- access logs never carry the raw path (magic-link tokens)
    for aname, api in sorted(http_apis.items()):
        fmt = api.get("Properties", {}).get("AccessLogSettings", {}).get("Format")
        if not check(isinstance(fmt, str), f"{aname}: access logging configured"):
            continue
        check("$context.path" not in fmt, f"{aname}: access log format has no $context.path")
        try:
            json.loads(fmt)
            ok = True
        except ValueError:
            ok = False
        check(ok, f"{aname}: access log format is valid JSON")

    # --- database reached through a TLS-only proxy
    proxies = by_type("AWS::RDS::DBProxy")
    check(len(proxies) == 1 and all(p["Properties"].get("RequireTLS") is True for p in proxies.values()),
          "one RDS Proxy, TLS required")
    host = globals_fn.get("Environment", {}).get("Variables", {}).get("HERALD_DATABASE_HOST")
    check(getatt(host) is not None and getatt(host)[0] in proxies, "functions connect to the proxy endpoint",
          repr(host))

    # --- scheduled functions: one ScheduleV2 each, no scheduler retries, a DLQ, a short run
    for fname, res in sorted(functions.items()):
        props = res.get("Properties", {})
        schedules = {en: ev for en, ev in props.get("Events", {}).items()
                     if ev.get("Type") in ("Schedule", "ScheduleV2")}
        if fname not in EXPECTED_SCHEDULES:
            check(not schedules, f"{fname}: no schedule", repr(sorted(schedules)))
            continue
        rate, max_timeout = EXPECTED_SCHEDULES[fname]
        if not check(len(schedules) == 1 and next(iter(schedules.values())).get("Type") == "ScheduleV2",
                     f"{fname}: exactly one ScheduleV2 event", repr(schedules)):
            continue
        (ename, ev), = schedules.items()
        ep = ev.get("Properties", {})
        where = f"{fname}.{ename}"
        check(ep.get("ScheduleExpression") == rate, f"{where}: {rate}", repr(ep.get("ScheduleExpression")))
        check(ep.get("State", "ENABLED") == "ENABLED", f"{where}: enabled")
        check(ep.get("RetryPolicy", {}).get("MaximumRetryAttempts") == 0,
              f"{where}: RetryPolicy.MaximumRetryAttempts 0 (the next tick is the retry)")
        dlq = ref_target(ep.get("DeadLetterConfig", {}).get("Arn"))
        check(dlq in queues and dlq in depth_alarms, f"{where}: DeadLetterConfig is an alarmed queue ({dlq})")
        check(ep.get("OmitName") is True or "Name" in ep,
              f"{where}: OmitName or an explicit Name (SAM's default name collides across stacks)")
        timeout = merged(globals_fn, props, "Timeout")
        check(isinstance(timeout, int) and timeout <= max_timeout,
              f"{fname}: Timeout {timeout} <= {max_timeout}")
        eic = props.get("EventInvokeConfig", {})
        check(eic.get("MaximumRetryAttempts") == 0,
              f"{fname}: EventInvokeConfig.MaximumRetryAttempts 0 (no async retries piling onto the next tick)",
              repr(eic))

    # --- IAM of the scheduled functions: exactly what they need
    def actions_of(fname: str) -> list[tuple[str, dict]]:
        stmts = policy_statements(functions.get(fname, {}).get("Properties", {}).get("Policies"))
        return [(a, s) for s in stmts for a in as_list(s.get("Action", []))]

    consumed = {ref_target(ev.get("Properties", {}).get("Queue"))
                for res in functions.values()
                for ev in res.get("Properties", {}).get("Events", {}).values() if ev.get("Type") == "SQS"}
    inbound_queues = {q for q, _, _, _ in INBOUND.values()}
    inbound_dlqs = {d for _, d, _, _ in INBOUND.values()}
    channel_queues = {q for q in consumed if q in queues and q not in dlqs and q not in inbound_queues}
    expected_queues = {q for q, _, _, _ in CHANNELS.values()}
    check(channel_queues == expected_queues, f"the consumed channel queues are exactly {sorted(expected_queues)}",
          repr(sorted(channel_queues)))
    consumed_inbound = {q for q in consumed if q in queues and q not in dlqs and q not in expected_queues}
    check(consumed_inbound == inbound_queues, f"the consumed non-channel queues are exactly {sorted(inbound_queues)}",
          repr(sorted(consumed_inbound)))
    for fname in ENQUEUERS:
        sqs = [(a, s) for a, s in actions_of(fname)
               if str(a).lower().startswith("sqs:") and str(a) != "sqs:GetQueueAttributes"]
        check(bool(sqs) and {a for a, _ in sqs} == {"sqs:SendMessage"},
              f"{fname}: its only SQS action is sqs:SendMessage", repr(sorted({a for a, _ in sqs})))
        sqs_res = [r for _, s in sqs for r in as_list(s.get("Resource", []))]
        check(bool(sqs_res) and all(getatt(r) is not None and getatt(r)[0] in channel_queues
                                    and getatt(r)[1] == "Arn" for r in sqs_res)
              and {getatt(r)[0] for r in sqs_res} == expected_queues and len(sqs_res) == len(expected_queues),
              f"{fname}: sqs:SendMessage on exactly the {len(expected_queues)} channel queues "
              f"{sorted(expected_queues)} (no DLQ)", repr(sqs_res))
        check(all(s.get("Effect") == "Allow" for _, s in sqs),
              f"{fname}: sqs:SendMessage statements are Allows", repr([s for _, s in sqs]))
    retry_actions = actions_of("RetryFunction")
    check({a for a, _ in retry_actions} == {"sqs:SendMessage", "sqs:GetQueueAttributes",
                                            "secretsmanager:GetSecretValue"},
          "RetryFunction: actions are sqs:SendMessage + sqs:GetQueueAttributes + "
          "secretsmanager:GetSecretValue, nothing else",
          repr(sorted({a for a, _ in retry_actions})))
    # The DLQ watch: depths of exactly the channel DLQs, each given by URL (voice's only
    # with an origination identity, like its queue); nobody else asks.
    channel_dlqs = {d for _, d, _, _ in CHANNELS.values()}
    watched = [r for a, s in retry_actions if a == "sqs:GetQueueAttributes" and s.get("Effect") == "Allow"
               for r in as_list(s.get("Resource", []))]
    check(len(watched) == len(channel_dlqs) and {getatt(r) for r in watched} == {(d, "Arn") for d in channel_dlqs},
          f"RetryFunction: sqs:GetQueueAttributes on exactly the channel DLQs {sorted(channel_dlqs)}", repr(watched))
    retry_env = functions.get("RetryFunction", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
    for ch, (_, dlq, _, _) in CHANNELS.items():
        value = retry_env.get(f"HERALD_DLQ_URL_{ch.upper()}")
        expected = ({"Fn::If": ["HasVoiceOriginationIdentity", {"Ref": dlq}, {"Ref": "AWS::NoValue"}]}
                    if ch == "voice" else {"Ref": dlq})
        check(value == expected, f"RetryFunction: HERALD_DLQ_URL_{ch.upper()} is Ref {dlq}", repr(value))
    for fname in sorted(set(functions) - {"RetryFunction"}):
        asks = [a for a, _ in actions_of(fname) if a == "sqs:GetQueueAttributes"]
        check(not asks, f"{fname}: no sqs:GetQueueAttributes (only the retry sweep watches DLQs)", repr(asks))
    retention_actions = {str(a) for a, _ in actions_of("RetentionFunction")}
    check(not any(a.lower().startswith(("sqs:", "ses:", "sesv2:", "sns:", "sms-voice:")) for a in retention_actions),
          "RetentionFunction: no sqs/ses/sns/sms-voice actions", repr(sorted(retention_actions)))
    check(retention_actions == {"secretsmanager:GetSecretValue"},
          "RetentionFunction: only reads the DB secret", repr(sorted(retention_actions)))

    # --- IAM of every function: exactly the actions it needs; the secrets it may read
    db_secret = {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
    keys_secret = {"Ref": "SecretKeysSecretArn"}
    signing_secret = {"Ref": "SlackSigningSecretArn"}
    client_secret = {"Ref": "SlackClientSecretArn"}
    teams_client_secret = {"Ref": "TeamsClientSecretArn"}
    for fname in sorted(functions):
        allow = {str(a) for a, s in actions_of(fname) if s.get("Effect") == "Allow"}
        expected = FUNCTION_ACTIONS.get(fname, set())
        check(allow == expected, f"{fname}: allowed actions are exactly {sorted(expected)}", repr(sorted(allow)))
        secret_res = [r for a, s in actions_of(fname) if a == "secretsmanager:GetSecretValue"
                      for r in as_list(s.get("Resource"))]
        norm = [{"Fn::GetAtt": list(getatt(r))} if getatt(r) else r for r in secret_res]
        may_read = ([db_secret] + ([keys_secret] if fname in SECRET_KEYS_READERS else [])
                    + ([signing_secret] if fname in SLACK_SIGNING_SECRET_READERS else [])
                    + ([client_secret] if fname in SLACK_CLIENT_SECRET_READERS else [])
                    + ([teams_client_secret] if fname in TEAMS_CLIENT_SECRET_READERS else []))
        check(bool(norm) and all(r in may_read for r in norm),
              f"{fname}: secretsmanager:GetSecretValue only on "
              + " and ".join(["the DB master secret"] + (["SecretKeysSecretArn"] if fname in SECRET_KEYS_READERS else [])
                             + (["SlackSigningSecretArn"] if fname in SLACK_SIGNING_SECRET_READERS else [])
                             + (["SlackClientSecretArn"] if fname in SLACK_CLIENT_SECRET_READERS else [])
                             + (["TeamsClientSecretArn"] if fname in TEAMS_CLIENT_SECRET_READERS else [])),
              repr(secret_res))
        check(db_secret in norm, f"{fname}: reads the DB master secret (ReadDatabaseSecret)")
        if fname in SECRET_KEYS_READERS:
            check(keys_secret in norm, f"{fname}: reads SecretKeysSecretArn")
        else:
            # Not even through an intrinsic or an environment variable.
            check('"SecretKeysSecretArn"' not in json.dumps(functions[fname]),
                  f"{fname}: never names SecretKeysSecretArn (no key secret outside {sorted(SECRET_KEYS_READERS)})")
    keys_env_users = sorted(f for f in functions if "HERALD_SECRET_KEYS_ARN" in merged_env(globals_fn, functions[f]
                                                                                             .get("Properties", {})))
    check(set(keys_env_users) == SECRET_KEYS_READERS, f"only {sorted(SECRET_KEYS_READERS)} get HERALD_SECRET_KEYS_ARN",
          repr(keys_env_users))
    check("HERALD_SECRET_KEYS_ARN" not in globals_fn.get("Environment", {}).get("Variables", {}),
          "HERALD_SECRET_KEYS_ARN is not a Globals variable")
    # The optional Slack secrets: each has one Allow on exactly its ARN, and only under its
    # condition (Fn::If [cond, statement, AWS::NoValue]); nobody else names it.
    conditions = template.get("Conditions", {})
    is_set = lambda p: {"Fn::Not": [{"Fn::Equals": [{"Ref": p}, ""]}]}  # noqa: E731
    check(json.dumps(conditions.get(SLACK_INTERACTIVITY_CONDITION)) == json.dumps(is_set("SlackSigningSecretArn")),
          f"{SLACK_INTERACTIVITY_CONDITION}: SlackSigningSecretArn is not empty",
          repr(conditions.get(SLACK_INTERACTIVITY_CONDITION)))
    for id_param, (secret_param, cond_name) in sorted(OAUTH_CLIENTS.items()):
        oauth_cond = {"Fn::And": [is_set(id_param), is_set(secret_param)]}
        check(json.dumps(conditions.get(cond_name), sort_keys=True) == json.dumps(oauth_cond, sort_keys=True),
              f"{cond_name}: {id_param} and {secret_param} both not empty", repr(conditions.get(cond_name)))
    for pname, (cond, readers) in sorted(CONDITIONAL_SECRETS.items()):
        for fname in sorted(functions):
            raw = raw_statements(functions[fname].get("Properties", {}).get("Policies"))
            if fname not in readers:
                check(f'"{pname}"' not in json.dumps(functions[fname]),
                      f"{fname}: never names {pname} (read by {sorted(readers)} only)")
                continue
            naming = [st for st in raw if f'"{pname}"' in json.dumps(st)]
            branch = naming[0].get("Fn::If") if len(naming) == 1 and isinstance(naming[0], dict) else None
            stmt = branch[1] if isinstance(branch, list) and len(branch) == 3 else {}
            check(isinstance(branch, list) and len(branch) == 3 and branch[0] == cond
                  and branch[2] == {"Ref": "AWS::NoValue"} and isinstance(stmt, dict) and stmt.get("Effect") == "Allow"
                  and as_list(stmt.get("Action")) == ["secretsmanager:GetSecretValue"]
                  and as_list(stmt.get("Resource")) == [{"Ref": pname}] and "Condition" not in stmt,
                  f"{fname}: exactly one statement names {pname}: secretsmanager:GetSecretValue on it, only "
                  f"under {cond}", repr(naming))
        param = template.get("Parameters", {}).get(pname, {})
        pattern = param.get("AllowedPattern", "")
        check(bool(pattern) and bool(re.fullmatch(pattern, ""))
              and bool(re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/slack-AbC123"))
              and not re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/slack")
              and not re.fullmatch(pattern, "*"),
              f"{pname}: empty or a full secret ARN (with the suffix the exact-ARN grant needs)", repr(param))
        doc = str(param.get("Description", ""))
        for fname in sorted(readers):
            binary = functions.get(fname, {}).get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            check(bool(binary) and str(binary) in doc, f"{pname}: description names its reader {binary}", doc)
    for pname, users in sorted(SLACK_PARAMETER_USERS.items()):
        for fname in sorted(set(functions) - users):
            check(f'"{pname}"' not in json.dumps(functions[fname]),
                  f"{fname}: never names {pname} (used by {sorted(users)} only)")
    # The paging path holds nothing of Slack: no Slack parameter, no HERALD_SLACK_* variable.
    slack_params = sorted(p for p in template.get("Parameters", {}) if p.startswith("Slack"))
    for fname in sorted(NO_SLACK_FUNCTIONS):
        text = json.dumps(functions.get(fname, {}))
        named = [p for p in slack_params if f'"{p}"' in text or "${" + p + "}" in text]
        slack_env = sorted(v for v in merged_env(globals_fn, functions.get(fname, {}).get("Properties", {}))
                           if v.startswith("HERALD_SLACK_"))
        check(fname in functions and not named and not slack_env,
              f"{fname}: no Slack parameter ({', '.join(slack_params)}) and no HERALD_SLACK_* variable",
              repr(named + slack_env))
    # Conditional environment: exactly these functions, exactly these values.
    for var, expected in sorted(CONDITIONAL_ENV.items()):
        users = sorted(f for f in functions if var in merged_env(globals_fn, functions[f].get("Properties", {})))
        check(set(users) == set(expected), f"only {sorted(expected)} get {var}", repr(users))
        for fname, value in sorted(expected.items()):
            got = merged_env(globals_fn, functions.get(fname, {}).get("Properties", {})).get(var)
            check(got == value, f"{fname}: {var} is {json.dumps(value)}", repr(got))
    signing_param = template.get("Parameters", {}).get("SlackSigningSecretArn", {})
    signing_pattern = signing_param.get("AllowedPattern", "")
    check(bool(signing_pattern) and bool(re.fullmatch(signing_pattern, ""))
          and bool(re.fullmatch(signing_pattern,
                                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/slack-signing-AbC123"))
          and not re.fullmatch(signing_pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/slack")
          and not re.fullmatch(signing_pattern, "*"),
          "SlackSigningSecretArn: empty or a full secret ARN (with the suffix the exact-ARN grant needs)",
          repr(signing_param))
    signing_doc = str(signing_param.get("Description", ""))
    for fname in sorted(SLACK_SIGNING_SECRET_READERS):
        binary = functions.get(fname, {}).get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(bool(binary) and str(binary) in signing_doc,
              f"SlackSigningSecretArn: description names its reader {binary}", signing_doc)
    # The parameter's description names every reader (by binary), so an operator knows who
    # holds the keys.
    keys_doc = str(template.get("Parameters", {}).get("SecretKeysSecretArn", {}).get("Description", ""))
    for fname in sorted(SECRET_KEYS_READERS):
        binary = functions.get(fname, {}).get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(bool(binary) and str(binary) in keys_doc,
              f"SecretKeysSecretArn: description names its reader {binary}", keys_doc)
    for fname in sorted(set(functions) - SECRET_KEYS_READERS):
        binary = functions[fname].get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(bool(binary) and not re.search(rf"(?<![\w-]){re.escape(str(binary))}(?![\w-])", keys_doc),
              f"SecretKeysSecretArn: description does not name {binary} (no reader)", keys_doc)
    # Mirrors: same deployment as their model, except the binary, the queue and the log group.
    for fname, model in sorted(MIRRORS.items()):
        if not check(fname in functions and model in functions, f"{fname} and {model} exist"):
            continue
        fp, mp = functions[fname].get("Properties", {}), functions[model].get("Properties", {})
        for key in MIRROR_KEYS:
            a, b = merged(globals_fn, fp, key), merged(globals_fn, mp, key)
            if key == "LoggingConfig":  # each its own log group (checked per channel)
                a, b = ({k: v for k, v in (x or {}).items() if k != "LogGroup"} for x in (a, b))
            check(a == b, f"{fname}: {key} as {model}'s", f"{a!r} vs {b!r}")
        a_env, b_env = merged_env(globals_fn, fp), merged_env(globals_fn, mp)
        extra = MIRROR_ENV_EXTRA.get(fname, set())
        check(extra <= set(a_env) and not extra & set(b_env),
              f"{fname}: sets {sorted(extra)} of its own, {model} none of them", repr(sorted(extra)))
        a_env = {k: v for k, v in a_env.items() if k not in extra}
        check(a_env == b_env, f"{fname}: environment as {model}'s (same names and values"
              + (f", besides {sorted(extra)})" if extra else ")"),
              repr({k: (a_env.get(k), b_env.get(k)) for k in set(a_env) | set(b_env)
                    if a_env.get(k) != b_env.get(k)}))
        strip = lambda stmts: sorted(json.dumps({k: v for k, v in st.items() if k != "Sid"}, sort_keys=True)  # noqa: E731
                                     for st in stmts)
        a_st, b_st = (strip(policy_statements(x.get("Policies"))) for x in (fp, mp))
        check(a_st == b_st, f"{fname}: IAM statements as {model}'s", f"{a_st!r} vs {b_st!r}")
    # Same network placement and extension layer as another function (not a full mirror).
    for fname, model in sorted(NETWORK_LIKE.items()):
        if not check(fname in functions and model in functions, f"{fname} and {model} exist"):
            continue
        for key in NETWORK_KEYS:
            a = merged(globals_fn, functions[fname].get("Properties", {}), key)
            b = merged(globals_fn, functions[model].get("Properties", {}), key)
            check(a == b, f"{fname}: {key} as {model}'s", f"{a!r} vs {b!r}")
    # Whoever reads a secret by ARN does so through the Parameters and Secrets extension.
    for fname in sorted(functions):
        props = functions[fname].get("Properties", {})
        reads = sorted(EXTENSION_SECRET_ENV & set(merged_env(globals_fn, props)))
        if reads:
            layers = as_list(merged(globals_fn, props, "Layers") or [])
            check(EXTENSION_LAYER in layers, f"{fname}: has the Parameters and Secrets extension layer "
                                             f"(reads {', '.join(reads)} through it)", repr(layers))
    # Announcers: exactly sqs:SendMessage on exactly their queues, and exactly those queues'
    # URLs (magic-link: SlackQueue).
    for fname, allowed_queues in sorted(ANNOUNCERS.items()):
        if not check(fname in functions, f"{fname} exists (announcer)"):
            continue
        sqs = [(a, s) for a, s in actions_of(fname) if str(a).lower().startswith("sqs:")]
        check(bool(sqs) and {str(a) for a, _ in sqs} == {"sqs:SendMessage"}
              and all(s.get("Effect") == "Allow" and "Condition" not in s for _, s in sqs),
              f"{fname}: its only SQS action is sqs:SendMessage (an Allow)", repr(sqs))
        sqs_res = [r for _, s in sqs for r in as_list(s.get("Resource", []))]
        check(len(sqs_res) == len(allowed_queues)
              and {getatt(r) for r in sqs_res} == {(q, "Arn") for q in allowed_queues},
              f"{fname}: sqs:SendMessage on exactly {sorted(allowed_queues)} (no other queue, no DLQ)",
              repr(sqs_res))
        fenv = merged_env(globals_fn, functions[fname].get("Properties", {}))
        queue_env = {v: fenv[v] for v in fenv if v.startswith("HERALD_QUEUE_URL_")}
        expected_env = {f"HERALD_QUEUE_URL_{ch.upper()}": {"Ref": q}
                        for ch, (q, _, _, _) in CHANNELS.items() if q in allowed_queues}
        check(len(expected_env) == len(allowed_queues) and queue_env == expected_env,
              f"{fname}: its HERALD_QUEUE_URL_* are exactly "
              + ", ".join(f"{k} = Ref {v['Ref']}" for k, v in sorted(expected_env.items())), repr(queue_env))
    # Who may send to which queue: ingest and retry to every channel queue, the announcers
    # to theirs; nobody to a DLQ.
    for qname in sorted(queues):
        senders = sorted(f for f in functions for a, s in actions_of(f)
                         if str(a) == "sqs:SendMessage" and s.get("Effect") == "Allow"
                         and any(ref_target(r) == qname for r in as_list(s.get("Resource", []))))
        expected = sorted(({*ENQUEUERS} if qname in expected_queues else set())
                          | {f for f, qs in ANNOUNCERS.items() if qname in qs})
        check(senders == expected, f"{qname}: sqs:SendMessage allowed to exactly {expected}", repr(senders))
    # Only the enqueuers and announcers touch SQS or know a queue URL (recipients writes no queue).
    for fname in sorted(functions):
        if fname in ENQUEUERS or fname in ANNOUNCERS:
            continue
        sqs_actions = sorted({str(a) for a, _ in actions_of(fname) if str(a).lower().startswith("sqs:")})
        check(not sqs_actions, f"{fname}: no sqs:* action (not an enqueuer or announcer)", repr(sqs_actions))
        queue_env = sorted(v for v in merged_env(globals_fn, functions[fname].get("Properties", {}))
                           if v.startswith("HERALD_QUEUE_URL_"))
        check(not queue_env, f"{fname}: no HERALD_QUEUE_URL_* (not an enqueuer or announcer)", repr(queue_env))
    # Same Lambda settings as ingest (Globals): sizing, layers, logging. Not the network:
    # recipients calls oauth.v2.access, so it is placed like dispatch-slack (NETWORK_LIKE).
    if "IngestFunction" in functions and "RecipientsFunction" in functions:
        ip, rp = functions["IngestFunction"].get("Properties", {}), functions["RecipientsFunction"].get("Properties", {})
        for key in ("Timeout", "MemorySize", "Layers", "LoggingConfig", "Runtime", "Architectures", "CodeUri"):
            a, b = merged(globals_fn, rp, key), merged(globals_fn, ip, key)
            check(a == b, f"RecipientsFunction: {key} as IngestFunction's", f"{a!r} vs {b!r}")
    keys_param = template.get("Parameters", {}).get("SecretKeysSecretArn", {})
    pattern = keys_param.get("AllowedPattern", "")
    check("Default" not in keys_param and bool(pattern)
          and bool(re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/keys-AbC123"))
          and not re.fullmatch(pattern, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:herald/keys"),
          "SecretKeysSecretArn: required, a full secret ARN (with the suffix the exact-ARN grant needs)",
          repr(keys_param))

    # --- dispatcher and retry sweep agree on attempts; the lease outlives a dispatch
    envs = {f: merged_env(globals_fn, r.get("Properties", {})) for f, r in functions.items()}
    sqs_triggered = sorted(f for f, r in functions.items()
                           if any(ev.get("Type") == "SQS" for ev in r.get("Properties", {}).get("Events", {}).values()))
    inbound_consumers = {fn for _, _, fn, _ in INBOUND.values()}
    # The inbound consumers deliver nothing (no notification rows, no attempts): not dispatchers.
    dispatchers = [f for f in sqs_triggered if f not in inbound_consumers]
    for dname in dispatchers:
        for var in sorted(v for v in set(envs[dname]) | set(envs.get("RetryFunction", {}))
                          if v == "HERALD_MAX_ATTEMPTS" or v.startswith("HERALD_MAX_ATTEMPTS_")
                          or v == "HERALD_SENDING_LEASE_SECS"):
            a, b = envs[dname].get(var), envs.get("RetryFunction", {}).get(var)
            check(a is not None and a == b, f"{var} identical for {dname} and RetryFunction", f"{a!r} vs {b!r}")
        lease = envs[dname].get("HERALD_SENDING_LEASE_SECS")
        dtimeout = merged(globals_fn, functions[dname].get("Properties", {}), "Timeout")
        check(isinstance(lease, str) and lease.isdigit() and isinstance(dtimeout, int)
              and int(lease) >= 2 * dtimeout,
              f"{dname}: HERALD_SENDING_LEASE_SECS {lease} well above (>= 2x) its Timeout {dtimeout}")

    # --- retention windows are operator parameters with a floor
    params = template.get("Parameters", {})
    for var in RETENTION_WINDOWS:
        value = envs.get("RetentionFunction", {}).get(var)
        pname = value.get("Ref") if isinstance(value, dict) else None
        p = params.get(pname, {})
        check(p.get("Type") == "Number" and isinstance(p.get("MinValue"), int) and p["MinValue"] >= 1
              and isinstance(p.get("Default"), int) and p["Default"] >= p["MinValue"],
              f"RetentionFunction: {var} is a Number parameter with MinValue >= 1 ({pname})", repr(p))

    # --- RetriesExhausted: one filter on the retry log, one per dispatcher log, an alarm
    def function_log_group(fname: str) -> str | None:
        """LogGroup resource the function writes to: LoggingConfig.LogGroup, or one named
        /aws/lambda/${Function}."""
        props = functions[fname].get("Properties", {})
        target = ref_target((merged(globals_fn, props, "LoggingConfig") or {}).get("LogGroup"))
        if target:
            return target if target in log_groups else None
        for lname, lg in log_groups.items():
            if lg.get("Properties", {}).get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{fname}}}"}:
                return lname
        return None

    def level_floor(fname: str, level: str) -> None:
        """The function keeps `level` lines whatever LogLevel is (RUST_LOG and Lambda's filter)."""
        props = functions[fname].get("Properties", {})
        order = LOG_LEVELS
        app = scalar_values((merged(globals_fn, props, "LoggingConfig") or {}).get("ApplicationLogLevel"), template)
        rust = scalar_values(envs[fname].get("RUST_LOG"), template)
        ok = (app is not None and rust is not None
              and all(v.lower() in order and order.index(v.lower()) <= order.index(level) for v in app + rust))
        check(ok, f"{fname}: keeps {level} lines for every LogLevel (else its metric filter goes blind)",
              f"ApplicationLogLevel {app}, RUST_LOG {rust}")

    filters_by_group: dict[str, list[dict]] = {}
    for mf in metric_filters.values():
        mp = mf.get("Properties", {})
        filters_by_group.setdefault(ref_target(mp.get("LogGroupName")), []).append(mp)
    exhausted_metrics = set()

    def exhausted_filter(fname: str, pattern_parts: tuple[str, ...], value: str, level: str) -> None:
        group = function_log_group(fname)
        if not check(group is not None, f"{fname}: has a log group resource ({group})"):
            return
        days = log_groups[group].get("Properties", {}).get("RetentionInDays")
        check(isinstance(days, int) and days > 0, f"{group}: RetentionInDays set ({days})")
        found = [mp for mp in filters_by_group.get(group, [])
                 for t in mp.get("MetricTransformations", [])
                 if t.get("MetricName") == "RetriesExhausted"
                 and all(part in mp.get("FilterPattern", "") for part in pattern_parts)
                 and str(t.get("MetricValue")) == value]
        if check(len(found) == 1, f"{fname}: RetriesExhausted metric filter on {group} "
                                  f"({' && '.join(pattern_parts)} -> {value})"):
            t = found[0]["MetricTransformations"][0]
            exhausted_metrics.add(json.dumps(t.get("MetricNamespace"), sort_keys=True))
            ns = t.get("MetricNamespace")
            ns = ns.get("Fn::Sub") if isinstance(ns, dict) else ns
            check(isinstance(ns, str) and ns.startswith("Herald"), f"{fname}: metric in a Herald namespace ({ns})")
            check(t.get("DefaultValue") == 0, f"{fname}: RetriesExhausted DefaultValue 0")
        level_floor(fname, level)

    exhausted_filter("RetryFunction", ('$.message = "retry sweep done"', "$.exhausted > 0"), "$.exhausted", "info")
    for dname in dispatchers:
        exhausted_filter(dname, ("$.retries_exhausted IS TRUE",), "1", "warn")
    check(len(exhausted_metrics) == 1, "RetriesExhausted filters share one namespace", repr(exhausted_metrics))
    ex_alarms = [a["Properties"] for a in alarms.values()
                 if a.get("Properties", {}).get("MetricName") == "RetriesExhausted"
                 and json.dumps(a["Properties"].get("Namespace"), sort_keys=True) in exhausted_metrics]
    check(len(ex_alarms) == 1 and ex_alarms[0].get("Statistic") == "Sum" and ex_alarms[0].get("Period") == 300
          and ex_alarms[0].get("Threshold") == 0 and ex_alarms[0].get("ComparisonOperator") == "GreaterThanThreshold",
          "RetriesExhaustedAlarm: Sum over 300 s > 0 on the filters' metric", repr(ex_alarms))

    errors_alarmed = {ref_target(d.get("Value"))
                      for a in alarms.values()
                      if a.get("Properties", {}).get("Namespace") == "AWS/Lambda"
                      and a["Properties"].get("MetricName") == "Errors"
                      for d in a["Properties"].get("Dimensions", []) if d.get("Name") == "FunctionName"}
    for fname in sorted(EXPECTED_SCHEDULES):
        check(fname in errors_alarmed, f"{fname}: AWS/Lambda Errors alarm")

    # --- channels: each dispatcher consumes its own queue, each queue has its own DLQ +
    #     alarm, settings copied from the reference channel
    check(set(dispatchers) == {d for _, _, d, _ in CHANNELS.values()},
          "the SQS-triggered functions besides the inbound consumers are exactly the channel dispatchers",
          repr(dispatchers))
    check(set(sqs_triggered) == {d for _, _, d, _ in CHANNELS.values()} | inbound_consumers,
          f"the SQS-triggered functions are exactly the channel dispatchers and {sorted(inbound_consumers)}",
          repr(sqs_triggered))
    consumers: dict[str, list[str]] = {}
    for fname, res in functions.items():
        for ev in res.get("Properties", {}).get("Events", {}).values():
            if ev.get("Type") == "SQS":
                consumers.setdefault(ref_target(ev.get("Properties", {}).get("Queue")), []).append(fname)
    redrive_of = {qn: getatt((q.get("Properties", {}).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
                  for qn, q in queues.items()}
    ref_q, ref_dlq, ref_fn, _ = CHANNELS[REFERENCE_CHANNEL]
    ref_qp = queues.get(ref_q, {}).get("Properties", {})
    ref_dlqp = queues.get(ref_dlq, {}).get("Properties", {})
    ref_ev = next((ev.get("Properties", {}) for ev in functions.get(ref_fn, {}).get("Properties", {})
                   .get("Events", {}).values() if ev.get("Type") == "SQS"), {})
    same_queue_keys = ("VisibilityTimeout", "MessageRetentionPeriod", "SqsManagedSseEnabled", "DelaySeconds")

    def queue_settings(qp: dict) -> dict:
        return {**{k: qp.get(k) for k in same_queue_keys},
                "maxReceiveCount": (qp.get("RedrivePolicy") or {}).get("maxReceiveCount")}
    ref_settings = queue_settings(ref_qp)
    same_event_keys = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig")
    outputs = template.get("Outputs", {})
    output_refs = {ref_target(o.get("Value")) for o in outputs.values() if isinstance(o.get("Value"), dict)
                   and list(o["Value"]) == ["Ref"]}
    log_groups_seen: dict[str, str] = {}
    for ch, (qname, dlq, dname, binary) in sorted(CHANNELS.items()):
        if not check(qname in queues and dlq in queues and dname in functions,
                     f"{ch}: {qname}, {dlq} and {dname} exist"):
            continue
        qp, dp = queues[qname].get("Properties", {}), queues[dlq].get("Properties", {})
        check(qp.get("QueueName") == {"Fn::Sub": f"${{AWS::StackName}}-{ch}"},
              f"{qname}: named ${{AWS::StackName}}-{ch}", repr(qp.get("QueueName")))
        check(dp.get("QueueName") == {"Fn::Sub": f"${{AWS::StackName}}-{ch}-dlq"},
              f"{dlq}: named ${{AWS::StackName}}-{ch}-dlq", repr(dp.get("QueueName")))
        check(redrive_of.get(qname) == (dlq, "Arn"), f"{qname}: redrives to its own {dlq}",
              repr(redrive_of.get(qname)))
        others = sorted(q for q, t in redrive_of.items() if t and t[0] == dlq and q != qname)
        check(not others, f"{dlq}: no other queue redrives into it", repr(others))
        check(dlq in depth_alarms, f"{dlq}: has a depth alarm", repr(depth_alarms.get(dlq)))
        diff = {k: (v, ref_settings[k]) for k, v in queue_settings(qp).items() if v != ref_settings[k]}
        check(not diff, f"{qname}: same settings as {ref_q}", repr(diff))
        check(dp.get("MessageRetentionPeriod") == ref_dlqp.get("MessageRetentionPeriod")
              and dp.get("SqsManagedSseEnabled") == ref_dlqp.get("SqsManagedSseEnabled"),
              f"{dlq}: same settings as {ref_dlq}")
        check(consumers.get(qname) == [dname], f"{qname}: consumed by {dname} only", repr(consumers.get(qname)))
        check(not consumers.get(dlq), f"{dlq}: consumed by nothing (inspect, then redrive)",
              repr(consumers.get(dlq)))
        props = functions[dname].get("Properties", {})
        sqs_events = [ev.get("Properties", {}) for ev in props.get("Events", {}).values() if ev.get("Type") == "SQS"]
        check(len(sqs_events) == 1 and getatt(sqs_events[0].get("Queue")) == (qname, "Arn"),
              f"{dname}: exactly one SQS event source, on {qname}.Arn", repr(sqs_events))
        if sqs_events:
            diff = {k: (sqs_events[0].get(k), ref_ev.get(k)) for k in same_event_keys
                    if sqs_events[0].get(k) != ref_ev.get(k)}
            check(not diff, f"{dname}: event source settings as {ref_fn}'s", repr(diff))
        check(functions[dname].get("Metadata", {}).get("BuildProperties", {}).get("Binary") == binary,
              f"{dname}: Binary {binary}")
        check(merged(globals_fn, props, "Timeout") == merged(globals_fn, functions[ref_fn].get("Properties", {}),
                                                              "Timeout"), f"{dname}: Timeout as {ref_fn}'s")
        group = function_log_group(dname)
        if group:
            check(group not in log_groups_seen, f"{dname}: log group {group} is its own",
                  f"shared with {log_groups_seen.get(group)}")
            log_groups_seen[group] = dname
            check(log_groups[group].get("Properties", {}).get("LogGroupName")
                  == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{binary}"},
                  f"{group}: named /aws/lambda/${{AWS::StackName}}/{binary}")
        env_var = f"HERALD_QUEUE_URL_{ch.upper()}"
        for fname in ENQUEUERS:
            value = envs.get(fname, {}).get(env_var)
            if ch == "voice":
                # No origination identity, no calls: the voice queue is then not given to
                # ingest/retry, so voice rows are suppressed / channel_not_enabled.
                expected = {"Fn::If": ["HasVoiceOriginationIdentity", {"Ref": qname}, {"Ref": "AWS::NoValue"}]}
                check(value == expected, f"{fname}: {env_var} is Ref {qname} when an origination identity is set",
                      repr(value))
            else:
                check(value == {"Ref": qname}, f"{fname}: {env_var} is Ref {qname}", repr(value))
        check(qname in output_refs and dlq in output_refs, f"{ch}: outputs give the URLs of {qname} and {dlq}")
        if ch != REFERENCE_CHANNEL:
            for var in ("HERALD_PUBLIC_BASE_URL", "HERALD_MAGIC_LINK_TTL_SECS"):
                check(envs[dname].get(var) == envs.get(ref_fn, {}).get(var), f"{dname}: {var} as {ref_fn}'s")
    # --- inbound SMS replies: End User Messaging two-way SMS -> SmsInboundTopic (KMS) ->
    #     SmsInboundQueue (raw, + DLQ + alarm) -> SmsReplyFunction (private, announcer)
    for name, (qname, dlq, fname, binary) in sorted(INBOUND.items()):
        if not check(qname in queues and dlq in queues and fname in functions,
                     f"{name}: {qname}, {dlq} and {fname} exist"):
            continue
        qp, dp = queues[qname].get("Properties", {}), queues[dlq].get("Properties", {})
        check(qp.get("QueueName") == {"Fn::Sub": f"${{AWS::StackName}}-{name}"},
              f"{qname}: named ${{AWS::StackName}}-{name}", repr(qp.get("QueueName")))
        check(dp.get("QueueName") == {"Fn::Sub": f"${{AWS::StackName}}-{name}-dlq"},
              f"{dlq}: named ${{AWS::StackName}}-{name}-dlq", repr(dp.get("QueueName")))
        check(redrive_of.get(qname) == (dlq, "Arn"), f"{qname}: redrives to its own {dlq}",
              repr(redrive_of.get(qname)))
        others = sorted(q for q, t in redrive_of.items() if t and t[0] == dlq and q != qname)
        check(not others, f"{dlq}: no other queue redrives into it", repr(others))
        check(len(depth_alarms.get(dlq, [])) == 1, f"{dlq}: has a depth alarm", repr(depth_alarms.get(dlq)))
        diff = {k: (v, ref_settings[k]) for k, v in queue_settings(qp).items() if v != ref_settings[k]}
        check(not diff, f"{qname}: same settings as {ref_q}", repr(diff))
        check(dp.get("MessageRetentionPeriod") == ref_dlqp.get("MessageRetentionPeriod")
              and dp.get("SqsManagedSseEnabled") is True and ref_dlqp.get("SqsManagedSseEnabled") is True,
              f"{dlq}: same settings as {ref_dlq} (SqsManagedSseEnabled)")
        check(qp.get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in qp,
              f"{qname}: SqsManagedSseEnabled (no queue KMS key SNS would need access to)")
        check(consumers.get(qname) == [fname], f"{qname}: consumed by {fname} only", repr(consumers.get(qname)))
        check(not consumers.get(dlq), f"{dlq}: consumed by nothing (inspect, then redrive)",
              repr(consumers.get(dlq)))
        props = functions[fname].get("Properties", {})
        check(functions[fname].get("Metadata", {}).get("BuildProperties", {}).get("Binary") == binary,
              f"{fname}: Binary {binary}")
        check(functions[fname].get("Metadata", {}).get("BuildMethod") == "rust-cargolambda"
              and props.get("CodeUri") == "../", f"{fname}: built with rust-cargolambda from CodeUri ../")
        check(merged(globals_fn, props, "Timeout") == 30
              and merged(globals_fn, props, "Timeout") == merged(globals_fn, functions[ref_fn].get("Properties", {}),
                                                                 "Timeout"), f"{fname}: Timeout 30, as {ref_fn}'s")
        check(bool(props.get("Description")), f"{fname}: has a Description")
        sqs_events = [ev.get("Properties", {}) for ev in props.get("Events", {}).values() if ev.get("Type") == "SQS"]
        other_events = sorted(en for en, ev in props.get("Events", {}).items() if ev.get("Type") != "SQS")
        check(len(sqs_events) == 1 and getatt(sqs_events[0].get("Queue")) == (qname, "Arn") and not other_events,
              f"{fname}: exactly one event source, SQS on {qname}.Arn", repr(props.get("Events")))
        if sqs_events:
            ev = sqs_events[0]
            check(ev.get("BatchSize") == 10 and ev.get("MaximumBatchingWindowInSeconds") == 1
                  and ev.get("FunctionResponseTypes") == ["ReportBatchItemFailures"],
                  f"{fname}: BatchSize 10, MaximumBatchingWindowInSeconds 1, ReportBatchItemFailures", repr(ev))
            diff = {k: (ev.get(k), ref_ev.get(k)) for k in INBOUND_SAME_EVENT_KEYS if ev.get(k) != ref_ev.get(k)}
            check(not diff, f"{fname}: event source settings as {ref_fn}'s (but the concurrency)", repr(diff))
            check(ev.get("ScalingConfig") == {"MaximumConcurrency": INBOUND_MAX_CONCURRENCY},
                  f"{fname}: ScalingConfig.MaximumConcurrency {INBOUND_MAX_CONCURRENCY} (inbound replies are few)",
                  repr(ev.get("ScalingConfig")))
            check(ev.get("Enabled", True) is True, f"{fname}: event source enabled")
        group = function_log_group(fname)
        if check(group is not None, f"{fname}: has a log group resource ({group})"):
            check(group not in log_groups_seen, f"{fname}: log group {group} is its own",
                  f"shared with {log_groups_seen.get(group)}")
            log_groups_seen[group] = fname
            check(ref_target((props.get("LoggingConfig") or {}).get("LogGroup")) == group,
                  f"{fname}: LoggingConfig.LogGroup is Ref {group}")
            check(log_groups[group].get("Properties", {}).get("LogGroupName")
                  == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{binary}"},
                  f"{group}: named /aws/lambda/${{AWS::StackName}}/{binary}")
            days = log_groups[group].get("Properties", {}).get("RetentionInDays")
            check(days == log_groups.get(function_log_group(ref_fn) or "", {}).get("Properties", {})
                  .get("RetentionInDays") and isinstance(days, int), f"{group}: RetentionInDays as {ref_fn}'s ({days})")
        level_floor(fname, "warn")
        for fn in ENQUEUERS:
            check(not any(ref_target(r) == qname for a, st in actions_of(fn) for r in as_list(st.get("Resource", []))),
                  f"{fn}: never enqueues to {qname} (End User Messaging does, through SNS)")
        check(qname in output_refs and dlq in output_refs, f"{name}: outputs give the URLs of {qname} and {dlq}")

    # The reply function: private, the Globals' network only; exactly its actions.
    sr = functions.get("SmsReplyFunction", {}).get("Properties", {})
    sr_vpc = merged(globals_fn, sr, "VpcConfig") or {}
    check("VpcConfig" not in sr and sr_vpc.get("SubnetIds") == {"Ref": "PrivateSubnetIds"}
          and [ref_target(g) for g in as_list(sr_vpc.get("SecurityGroupIds") or [])] == ["LambdaSecurityGroup"],
          "SmsReplyFunction: the Globals' VpcConfig only (PrivateSubnetIds, LambdaSecurityGroup; no egress subnets)",
          repr(sr_vpc))
    sr_text = json.dumps(functions.get("SmsReplyFunction", {}))
    check('"EgressSubnetIds"' not in sr_text and '"EgressLambdaSecurityGroup"' not in sr_text,
          "SmsReplyFunction: never names EgressSubnetIds or EgressLambdaSecurityGroup")
    endpoint_services = {json.dumps(e.get("Properties", {}).get("ServiceName"))
                         for e in by_type("AWS::EC2::VPCEndpoint").values()
                         if e.get("Properties", {}).get("VpcEndpointType") == "Interface"}
    for svc in ("sns", "sqs", "secretsmanager"):
        check(json.dumps({"Fn::Sub": "com.amazonaws.${AWS::Region}." + svc}) in endpoint_services,
              f"SmsReplyFunction: reaches {svc} through its interface endpoint", repr(sorted(endpoint_services)))
    sr_actions = {str(a) for a, _ in actions_of("SmsReplyFunction")}
    check("sns:CheckIfPhoneNumberIsOptedOut" not in sr_actions,
          "SmsReplyFunction: no sns:CheckIfPhoneNumberIsOptedOut (the replier just texted us)",
          repr(sorted(sr_actions)))
    banned = sorted(a for a in sr_actions
                    if a.lower().startswith(("ses:", "sesv2:", "dynamodb:", "sms-voice:", "kms:")))
    check(not banned, "SmsReplyFunction: no ses, sesv2, dynamodb, sms-voice or kms action", repr(banned))
    sr_sns = [(a, st) for a, st in actions_of("SmsReplyFunction") if str(a).startswith("sns:")]
    check({str(a) for a, _ in sr_sns} == {"sns:Publish"}
          and [st.get("Effect") for _, st in sr_sns].count("Allow") == 1
          and all(as_list(st.get("Resource")) == ["*"] for _, st in sr_sns if st.get("Effect") == "Allow")
          and all("Condition" not in st for _, st in sr_sns),
          "SmsReplyFunction: one Allow of sns:Publish on '*' (phone numbers), besides the Deny", repr(sr_sns))
    sr_sqs = [r for a, st in actions_of("SmsReplyFunction") if str(a).startswith("sqs:")
              for r in as_list(st.get("Resource", []))]
    check([getatt(r) for r in sr_sqs] == [("SlackQueue", "Arn")],
          "SmsReplyFunction: sqs:SendMessage on SlackQueue.Arn only (no other queue, no DLQ)", repr(sr_sqs))
    check(envs.get("SmsReplyFunction", {}).get("HERALD_QUEUE_URL_SLACK") == {"Ref": "SlackQueue"},
          "SmsReplyFunction: HERALD_QUEUE_URL_SLACK is Ref SlackQueue")
    check(envs.get("SmsReplyFunction", {}).get("RUST_LOG") == envs.get(ref_fn, {}).get("RUST_LOG")
          and (sr.get("LoggingConfig") or {}).get("ApplicationLogLevel")
          == (functions.get(ref_fn, {}).get("Properties", {}).get("LoggingConfig") or {}).get("ApplicationLogLevel"),
          f"SmsReplyFunction: RUST_LOG and ApplicationLogLevel as {ref_fn}'s (LogLevels mapping)")

    # The reply-codes switch: a true/false parameter, read by dispatch-sms only.
    rc = params.get("SmsReplyCodes", {})
    check(rc.get("Type") == "String" and rc.get("AllowedValues") == ["true", "false"] and rc.get("Default") == "false",
          'parameter SmsReplyCodes: String, AllowedValues ["true", "false"], Default "false"', repr(rc))
    rc_doc = str(rc.get("Description", ""))
    check("SmsOriginationNumber" in rc_doc and SMS_INBOUND_TOPIC in rc_doc and "two-way" in rc_doc,
          "parameter SmsReplyCodes: description names the two-way SmsOriginationNumber and SmsInboundTopic", rc_doc)
    rc_users = sorted(f for f, e in envs.items() if "HERALD_SMS_REPLY_CODES" in e)
    check(rc_users == ["DispatchSmsFunction"], "only DispatchSmsFunction gets HERALD_SMS_REPLY_CODES", repr(rc_users))
    rc_namers = sorted(f for f in functions if '"SmsReplyCodes"' in json.dumps(functions[f]))
    check(rc_namers == ["DispatchSmsFunction"], "only DispatchSmsFunction names SmsReplyCodes", repr(rc_namers))

    # The topic: KMS-encrypted with its own key; only End User Messaging of this account publishes.
    topics = by_type("AWS::SNS::Topic")
    for tname, t in sorted(topics.items()):
        check("KmsMasterKeyId" in t.get("Properties", {}), f"{tname}: KMS-encrypted (KmsMasterKeyId)")
    tp = topics.get(SMS_INBOUND_TOPIC, {}).get("Properties", {})
    check(SMS_INBOUND_TOPIC in topics and ref_target(tp.get("KmsMasterKeyId")) == SMS_INBOUND_KEY
          and not tp.get("FifoTopic"),
          f"{SMS_INBOUND_TOPIC}: standard topic, encrypted with {SMS_INBOUND_KEY}", repr(tp))
    check(tp.get("TopicName") == {"Fn::Sub": "${AWS::StackName}-sms-inbound"},
          f"{SMS_INBOUND_TOPIC}: named ${{AWS::StackName}}-sms-inbound", repr(tp.get("TopicName")))
    check(not tp.get("Subscription"), f"{SMS_INBOUND_TOPIC}: no inline subscriptions (see AWS::SNS::Subscription)")
    keys = by_type("AWS::KMS::Key")
    kp = keys.get(SMS_INBOUND_KEY, {}).get("Properties", {})
    check(SMS_INBOUND_KEY in keys and kp.get("EnableKeyRotation") is True
          and kp.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
          and kp.get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT",
          f"{SMS_INBOUND_KEY}: symmetric, rotation enabled", repr({k: v for k, v in kp.items() if k != "KeyPolicy"}))
    kstmts = as_list((kp.get("KeyPolicy") or {}).get("Statement", []))
    root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    admins = [st for st in kstmts if isinstance(st, dict) and st.get("Principal") == {"AWS": root}]
    check(len(admins) == 1 and admins[0].get("Effect") == "Allow" and "Condition" not in admins[0],
          f"{SMS_INBOUND_KEY}: the account root administers the key (one statement)", repr(admins))
    key_principals = [st.get("Principal") for st in kstmts if isinstance(st, dict)]
    check(all(p == {"AWS": root} or (isinstance(p, dict) and list(p) == ["Service"]) for p in key_principals)
          and all(st.get("Effect") == "Allow" and "NotPrincipal" not in st and "NotAction" not in st
                  for st in kstmts if isinstance(st, dict)),
          f"{SMS_INBOUND_KEY}: Allows only, to the account root and service principals (no '*')", repr(key_principals))
    services_on_key = {}
    for st in kstmts:
        svc = (st.get("Principal") or {}).get("Service") if isinstance(st, dict) else None
        if svc is not None:
            for sv in as_list(svc):
                services_on_key.setdefault(sv, []).append(st)
    check(set(services_on_key) == INBOUND_KEY_SERVICES,
          f"{SMS_INBOUND_KEY}: the service principals are exactly {sorted(INBOUND_KEY_SERVICES)}",
          repr(sorted(services_on_key)))
    for svc, sts in sorted(services_on_key.items()):
        st = sts[0]
        check(len(sts) == 1 and as_list(st.get("Principal", {}).get("Service")) == [svc]
              and set(as_list(st.get("Action"))) == INBOUND_KEY_ACTIONS
              and len(as_list(st.get("Action"))) == len(INBOUND_KEY_ACTIONS),
              f"{SMS_INBOUND_KEY}: {svc} may only {' and '.join(sorted(INBOUND_KEY_ACTIONS))}", repr(sts))
        check(st.get("Condition", {}).get("StringEquals") == SOURCE_ACCOUNT["StringEquals"],
              f"{SMS_INBOUND_KEY}: {svc} only with aws:SourceAccount = this account", repr(st.get("Condition")))
    sv = (services_on_key.get("sms-voice.amazonaws.com") or [{}])[0]
    check((sv.get("Condition") or {}).get("ArnLike") == {"aws:SourceArn": {
              "Fn::Sub": "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:*"}},
          f"{SMS_INBOUND_KEY}: sms-voice.amazonaws.com only for this account's End User Messaging resources "
          "(aws:SourceArn)", repr(sv.get("Condition")))
    # Each topic AWS publishes to Herald: one topic policy admitting its publishers only,
    # one queue policy letting SNS deliver from that topic only, one raw subscription.
    # No other topic policy, queue policy or subscription exists.
    tpols = [r.get("Properties", {}) for r in by_type("AWS::SNS::TopicPolicy").values()]
    qpols = by_type("AWS::SQS::QueuePolicy")
    on_q = {n: r.get("Properties", {}) for n, r in qpols.items()}
    subs = {n: r for n, r in by_type("AWS::SNS::Subscription").items()}
    check(len(tpols) == len(PUBLISHED_TOPICS) and len(on_q) == len(PUBLISHED_TOPICS)
          and len(subs) == len(PUBLISHED_TOPICS),
          f"one topic policy, queue policy and subscription per topic AWS publishes to ({sorted(PUBLISHED_TOPICS)})",
          repr((len(tpols), sorted(on_q), sorted(subs))))
    for topic, (inbound_q, publishers, qpolicy) in sorted(PUBLISHED_TOPICS.items()):
        on_topic = [tpol for tpol in tpols if any(ref_target(t) == topic for t in as_list(tpol.get("Topics")))]
        if check(len(on_topic) == 1 and as_list(on_topic[0].get("Topics")) == [{"Ref": topic}],
                 f"{topic}: one topic policy, on it alone", repr(tpols)):
            pst = as_list(on_topic[0].get("PolicyDocument", {}).get("Statement", []))
            st = pst[0] if len(pst) == 1 else {}
            principals = set(as_list((st.get("Principal") or {}).get("Service")))
            check(len(pst) == 1 and st.get("Effect") == "Allow" and principals == publishers
                  and as_list(st.get("Action")) == ["sns:Publish"]
                  and as_list(st.get("Resource")) == [{"Ref": topic}],
                  f"{topic}: only {' and '.join(sorted(publishers))} may sns:Publish (one statement)", repr(pst))
            check(st.get("Condition") == SOURCE_ACCOUNT,
                  f"{topic}: publishing only with aws:SourceAccount = ${{AWS::AccountId}}",
                  repr(st.get("Condition")))
        mine = {n: q for n, q in on_q.items() if as_list(q.get("Queues")) == [{"Ref": inbound_q}]}
        check(list(mine) == [qpolicy], f"one queue policy on {inbound_q} ({qpolicy})", repr(sorted(mine)))
        for qpn, qpp in sorted(mine.items()):
            pst = as_list(qpp.get("PolicyDocument", {}).get("Statement", []))
            st = pst[0] if len(pst) == 1 else {}
            check(len(pst) == 1 and st.get("Effect") == "Allow"
                  and st.get("Principal") == {"Service": "sns.amazonaws.com"}
                  and as_list(st.get("Action")) == ["sqs:SendMessage"]
                  and [getatt(r) for r in as_list(st.get("Resource"))] == [(inbound_q, "Arn")],
                  f"{qpn}: only sns.amazonaws.com may sqs:SendMessage to {inbound_q} (one statement)", repr(pst))
            check(st.get("Condition") == {"ArnEquals": {"aws:SourceArn": {"Ref": topic}}},
                  f"{qpn}: only with ArnEquals aws:SourceArn = {topic}", repr(st.get("Condition")))
        on_t = {n: r for n, r in subs.items() if ref_target(r.get("Properties", {}).get("TopicArn")) == topic}
        check(len(on_t) == 1, f"{topic}: exactly one subscription", repr(sorted(on_t)))
        for sn, sub in sorted(on_t.items()):
            sp = sub.get("Properties", {})
            check(sp.get("Protocol") == "sqs" and getatt(sp.get("Endpoint")) == (inbound_q, "Arn")
                  and sp.get("TopicArn") == {"Ref": topic},
                  f"{sn}: {topic} -> sqs {inbound_q}.Arn", repr(sp))
            check(sp.get("RawMessageDelivery") is True, f"{sn}: RawMessageDelivery true",
                  repr(sp.get("RawMessageDelivery")))
            check(not sp.get("FilterPolicy"), f"{sn}: no filter policy (every message reaches its function)")
            check(qpolicy in as_list(sub.get("DependsOn", [])),
                  f"{sn}: created after {qpolicy} (the first delivery is allowed)", repr(sub.get("DependsOn")))
    # SNS SMS delivery-status logs: two subscription filters and one invoke permission, all
    # under ReadsSmsDeliveryLogs, all to FeedbackFunction, only for this account's groups.
    log_subs = by_type("AWS::Logs::SubscriptionFilter")
    check(sorted(log_subs) == ["SmsDeliveredLogsSubscription", "SmsFailedLogsSubscription"],
          "the SMS delivery-log subscriptions are exactly the two SNS log groups'", repr(sorted(log_subs)))
    for name, sub in sorted(log_subs.items()):
        sp = sub.get("Properties", {})
        check(sub.get("Condition") == "ReadsSmsDeliveryLogs"
              and getatt(sp.get("DestinationArn")) == ("FeedbackFunction", "Arn")
              and "SmsDeliveryLogsInvokeFeedback" in as_list(sub.get("DependsOn", []))
              and "DirectPublishToPhoneNumber" in json.dumps(sp.get("LogGroupName")),
              f"{name}: under ReadsSmsDeliveryLogs, to FeedbackFunction, after its permission", repr(sub))
    perms = by_type("AWS::Lambda::Permission")
    lp = perms.get("SmsDeliveryLogsInvokeFeedback", {})
    lpp = lp.get("Properties", {})
    check(list(perms) == ["SmsDeliveryLogsInvokeFeedback"] and lp.get("Condition") == "ReadsSmsDeliveryLogs"
          and lpp.get("Principal") == "logs.amazonaws.com" and lpp.get("SourceAccount") == {"Ref": "AWS::AccountId"}
          and getatt(lpp.get("FunctionName")) == ("FeedbackFunction", "Arn")
          and "DirectPublishToPhoneNumber" in json.dumps(lpp.get("SourceArn")),
          "one invoke permission: CloudWatch Logs of this account's SNS SMS log groups -> FeedbackFunction",
          repr(perms))
    for oname, target in sorted(INBOUND_OUTPUTS.items()):
        o = outputs.get(oname, {})
        check(o.get("Value") == {"Ref": target}, f"output {oname}: Ref {target}", repr(o.get("Value")))
        check(bool(o.get("Description")), f"output {oname}: has a Description")
    two_way_doc = str(outputs.get("SmsInboundTopicArn", {}).get("Description", ""))
    check("update-phone-number" in two_way_doc and "--two-way-enabled" in two_way_doc
          and "--two-way-channel-arn" in two_way_doc,
          "output SmsInboundTopicArn: says to set it as the number's two-way channel (update-phone-number "
          "--two-way-enabled --two-way-channel-arn)", two_way_doc)

    # The Slack OAuth redirect_uri is built on the same base the magic links use.
    check(envs.get("RecipientsFunction", {}).get("HERALD_PUBLIC_BASE_URL")
          == envs.get(ref_fn, {}).get("HERALD_PUBLIC_BASE_URL") is not None,
          f"RecipientsFunction: HERALD_PUBLIC_BASE_URL as {ref_fn}'s",
          repr(envs.get("RecipientsFunction", {}).get("HERALD_PUBLIC_BASE_URL")))
    # URLs to paste elsewhere: the ApiUrl output's URL plus a path that is a route.
    api_url = outputs.get("ApiUrl", {}).get("Value")
    api_sub = api_url.get("Fn::Sub") if isinstance(api_url, dict) else None
    for oname, (suffix, route) in sorted(API_URL_OUTPUTS.items()):
        value = outputs.get(oname, {}).get("Value")
        check(isinstance(api_sub, str) and value == {"Fn::Sub": api_sub + suffix},
              f"output {oname}: the ApiUrl output's URL + {suffix}", repr(value))
        check(route[1] == suffix and routes.get(route) == [EXPECTED_ROUTES.get(route)],
              f"output {oname}: names the route {route[0]} {route[1]} -> {EXPECTED_ROUTES.get(route)}",
              repr(routes.get(route)))
        check(bool(outputs.get(oname, {}).get("Description")), f"output {oname}: has a Description")

    def plus_path(value, suffix: str):
        """The URL `value` + suffix, as the template writes it: Ref P -> Sub ${P}suffix,
        Sub s -> Sub s+suffix, Fn::If [c, a, b] -> Fn::If [c, a+suffix, b+suffix]."""
        if isinstance(value, dict) and list(value) == ["Ref"]:
            return {"Fn::Sub": "${" + value["Ref"] + "}" + suffix}
        if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
            return {"Fn::Sub": value["Fn::Sub"] + suffix}
        if isinstance(value, dict) and list(value) == ["Fn::If"] and len(value["Fn::If"]) == 3:
            c, a, b = value["Fn::If"]
            return {"Fn::If": [c, plus_path(a, suffix), plus_path(b, suffix)]}
        return None
    for oname, (fname, suffix, route) in sorted(BASE_URL_OUTPUTS.items()):
        value = outputs.get(oname, {}).get("Value")
        base = envs.get(fname, {}).get("HERALD_PUBLIC_BASE_URL")
        check(base is not None and value == plus_path(base, suffix),
              f"output {oname}: {fname}'s HERALD_PUBLIC_BASE_URL + {suffix} (the exact redirect_uri it sends)",
              f"{value!r} vs base {base!r}")
        # Without PublicBaseUrl: the ApiUrl output's URL + the path.
        branch = value.get("Fn::If") if isinstance(value, dict) else None
        check(isinstance(api_sub, str) and isinstance(branch, list) and len(branch) == 3
              and branch[0] == "HasPublicBaseUrl" and branch[2] == {"Fn::Sub": api_sub + suffix},
              f"output {oname}: the ApiUrl output's URL + {suffix} when PublicBaseUrl is empty", repr(value))
        check(route[1] == suffix and routes.get(route) == [EXPECTED_ROUTES.get(route)] == [fname],
              f"output {oname}: names the route {route[0]} {route[1]} -> {fname}", repr(routes.get(route)))
        where = REDIRECT_LISTS.get(oname, "Redirect URLs")
        check(where in str(outputs.get(oname, {}).get("Description", "")),
              f"output {oname}: Description says where it goes ({where})")
    extra_q = sorted(set(queues) - {q for q, _, _, _ in CHANNELS.values()} - {d for _, d, _, _ in CHANNELS.values()}
                     - inbound_queues - inbound_dlqs - event_dlq_targets)
    check(not extra_q, "no queues besides the channel queues, the inbound SMS queue, their DLQs and the schedule DLQ",
          repr(extra_q))

    for var, why in sorted(REMOVED_ENV.items()):
        users = sorted(f for f, e in envs.items() if var in e)
        check(not users, f"no function sets {var} ({why})", repr(users))
    for (fname, var), pname in sorted(ENV_FROM_PARAMETER.items()):
        value = envs.get(fname, {}).get(var)
        check(value == {"Ref": pname}, f"{fname}: {var} is Ref {pname}", repr(value))

    # --- provider permissions, one channel each
    def statements_of(fname: str) -> list[dict]:
        return policy_statements(functions.get(fname, {}).get("Properties", {}).get("Policies"))

    sns_users = sorted(f for f in functions for a, _ in actions_of(f) if str(a).startswith("sns:"))
    check(set(sns_users) == {"DispatchSmsFunction", "DispatchPushFunction", "SmsReplyFunction"},
          "only the SMS and push dispatchers and sms-reply have sns actions", repr(sns_users))
    for fname in SMS_SENDERS:
        sms_deny = [s for s in statements_of(fname) if s.get("Effect") == "Deny"]
        check(len(sms_deny) == 1 and as_list(sms_deny[0].get("Action")) == ["sns:Publish"]
              and as_list(sms_deny[0].get("Resource")) == [{"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}]
              and "Condition" not in sms_deny[0],
              f"{fname}: sns:Publish to any SNS ARN (topics, endpoints) denied; phone numbers only",
              repr(sms_deny))
    push = [s for s in statements_of("DispatchPushFunction") if "sns:Publish" in as_list(s.get("Action", []))]
    check(bool(push) and all(as_list(s.get("Resource")) == [
        {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:endpoint/*"}] for s in push),
          "DispatchPushFunction: sns:Publish only on platform endpoints of this account and region", repr(push))
    voice = [s for s in statements_of("DispatchVoiceFunction")
             if "sms-voice:SendVoiceMessage" in as_list(s.get("Action", []))]
    vres = [r for s in voice for r in as_list(s.get("Resource"))]
    # The second resource: the configuration set a call names, only when one is set.
    config_set = vres[1].get("Fn::If") if len(vres) == 2 and isinstance(vres[1], dict) else None
    check(isinstance(config_set, list) and config_set[0] == "HasVoiceConfigurationSet"
          and config_set[2] == {"Ref": "AWS::NoValue"} and "configuration-set/" in json.dumps(config_set[1])
          and "*" not in json.dumps(config_set[1]),
          "DispatchVoiceFunction: SendVoiceMessage also on the configured configuration set, only when set",
          repr(vres[1:]))
    cond = vres[0].get("Fn::If") if len(vres) == 2 and isinstance(vres[0], dict) else None
    ok = (isinstance(cond, list) and len(cond) == 3 and cond[1] == {"Ref": "VoiceOriginationIdentityArn"}
          and json.dumps(template.get("Conditions", {}).get(cond[0])) == json.dumps(
              {"Fn::Not": [{"Fn::Equals": [{"Ref": "VoiceOriginationIdentityArn"}, ""]}]})
          and isinstance(cond[2], dict) and ":sms-voice:" in json.dumps(cond[2]) and "*" not in json.dumps(cond[2]))
    check(ok, "DispatchVoiceFunction: sms-voice:SendVoiceMessage only from VoiceOriginationIdentityArn "
              "(a non-matching placeholder when empty)", repr(vres))
    voice_pattern = template.get("Parameters", {}).get("VoiceOriginationIdentityArn", {}).get("AllowedPattern", "")
    check(bool(voice_pattern)
          and bool(re.fullmatch(voice_pattern, "arn:aws:sms-voice:us-east-1:123456789012:pool/pool-0123abcd"))
          and not any(re.fullmatch(voice_pattern, v) for v in (
              "*", "arn:aws:sms-voice:us-east-1:123456789012:phone-number/*", "arn:aws:sms-voice:*:*:*")),
          "VoiceOriginationIdentityArn: AllowedPattern admits one identity ARN, no wildcard", voice_pattern)

    # --- network: only the internet-calling functions sit in the egress subnets, with the
    #     only security group that reaches 0.0.0.0/0 (HTTPS only)
    sgs = by_type("AWS::EC2::SecurityGroup")
    internet_sgs = {n for n, g in sgs.items() for e in g.get("Properties", {}).get("SecurityGroupEgress", [])
                    if e.get("CidrIp") == "0.0.0.0/0" or e.get("CidrIpv6") == "::/0"}
    for n in sorted(internet_sgs):
        wide = [e for e in sgs[n]["Properties"]["SecurityGroupEgress"]
                if e.get("CidrIp") == "0.0.0.0/0" or e.get("CidrIpv6") == "::/0"]
        check(all(str(e.get("IpProtocol")) == "tcp" and e.get("FromPort") == 443 and e.get("ToPort") == 443
                  for e in wide), f"{n}: internet egress is HTTPS (tcp 443) only", repr(wide))
    egress_rules = by_type("AWS::EC2::SecurityGroupEgress")
    check(not any(r.get("Properties", {}).get("CidrIp") == "0.0.0.0/0" for r in egress_rules.values()),
          "no separate 0.0.0.0/0 egress rules")
    ingress = [r.get("Properties", {}) for r in by_type("AWS::EC2::SecurityGroupIngress").values()]

    def allows(into: str, source: str, port: int) -> bool:
        return any(ref_target(i.get("GroupId")) == into and ref_target(i.get("SourceSecurityGroupId")) == source
                   and i.get("FromPort", -1) <= port <= i.get("ToPort", -1) for i in ingress)

    for fname, res in sorted(functions.items()):
        vpc = merged(globals_fn, res.get("Properties", {}), "VpcConfig") or {}
        subnets = vpc.get("SubnetIds")
        fn_sgs = {ref_target(g) for g in as_list(vpc.get("SecurityGroupIds") or [])}
        if fname in EGRESS_FUNCTIONS:
            check(subnets == {"Ref": "EgressSubnetIds"}, f"{fname}: runs in EgressSubnetIds", repr(subnets))
            check(bool(fn_sgs & internet_sgs), f"{fname}: security group with HTTPS egress to the internet",
                  repr(sorted(fn_sgs)))
        else:
            check(subnets == {"Ref": "PrivateSubnetIds"}, f"{fname}: runs in PrivateSubnetIds (no internet route)",
                  repr(subnets))
            check(not fn_sgs & internet_sgs, f"{fname}: no security group with internet egress",
                  repr(sorted(fn_sgs & internet_sgs)))
        for sg in sorted(fn_sgs):
            check(allows("EndpointSecurityGroup", sg, 443), f"{fname}: {sg} may reach the interface endpoints (443)")
            check(allows("DatabaseProxySecurityGroup", sg, 5432), f"{fname}: {sg} may reach RDS Proxy (5432)")

    egress_doc = str(template.get("Parameters", {}).get("EgressSubnetIds", {}).get("Description", ""))
    for fname in sorted(EGRESS_FUNCTIONS):
        binary = functions.get(fname, {}).get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(bool(binary) and str(binary) in egress_doc,
              f"EgressSubnetIds: description names {binary} (runs there)", egress_doc)
    for fname in sorted(set(functions) - EGRESS_FUNCTIONS):
        binary = functions[fname].get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(bool(binary) and not re.search(rf"(?<![\w-]){re.escape(str(binary))}(?![\w-])", egress_doc),
              f"EgressSubnetIds: description does not name {binary} (runs in PrivateSubnetIds)", egress_doc)

    endpoints = by_type("AWS::EC2::VPCEndpoint")
    services = {}
    for ename, e in endpoints.items():
        ep = e.get("Properties", {})
        sn = ep.get("ServiceName")
        sn = sn.get("Fn::Sub") if isinstance(sn, dict) else sn
        if isinstance(sn, str) and sn.startswith("com.amazonaws.${AWS::Region}."):
            services[sn.split("}.", 1)[1]] = (ename, ep)
    for svc in sorted(ENDPOINT_SERVICES):
        if not check(svc in services, f"interface endpoint for {svc}", repr(sorted(services))):
            continue
        ename, ep = services[svc]
        check(ep.get("VpcEndpointType") == "Interface" and ep.get("PrivateDnsEnabled") is True
              and ep.get("SubnetIds") == {"Ref": "PrivateSubnetIds"}
              and [ref_target(g) for g in ep.get("SecurityGroupIds", [])] == ["EndpointSecurityGroup"],
              f"{ename}: interface, private DNS, PrivateSubnetIds, EndpointSecurityGroup")

    # --- the rate-limit counters: one table (TTL on expires_at, encrypted), reached by the
    #     dispatchers only, through a gateway endpoint limited to it, with UpdateItem only
    tables = by_type("AWS::DynamoDB::Table")
    if check(set(tables) == {"RateLimitTable"}, "one DynamoDB table: RateLimitTable", repr(sorted(tables))):
        tp = tables["RateLimitTable"].get("Properties", {})
        check(tp.get("BillingMode") == "PAY_PER_REQUEST"
              and tp.get("KeySchema") == [{"AttributeName": "pk", "KeyType": "HASH"}]
              and tp.get("TimeToLiveSpecification") == {"AttributeName": "expires_at", "Enabled": True}
              and tp.get("SSESpecification", {}).get("SSEEnabled") is True,
              "RateLimitTable: on demand, key pk, TTL on expires_at, encrypted", repr(tp))
    table_arn = {"Fn::GetAtt": ["RateLimitTable", "Arn"]}
    for fname, fn in sorted(functions.items()):
        props = fn.get("Properties", {})
        env = merged_env(globals_fn, props)
        statements = [st for st in policy_statements(props.get("Policies"))
                      if "dynamodb" in json.dumps(st.get("Action"))]
        if fname.startswith("Dispatch"):
            check(ref_target(env.get("HERALD_RATE_LIMIT_TABLE")) == "RateLimitTable",
                  f"{fname}: HERALD_RATE_LIMIT_TABLE is the RateLimitTable", repr(env.get("HERALD_RATE_LIMIT_TABLE")))
            check(len(statements) == 1 and statements[0].get("Effect") == "Allow"
                  and as_list(statements[0].get("Action")) == ["dynamodb:UpdateItem"]
                  and as_list(statements[0].get("Resource")) == [table_arn],
                  f"{fname}: dynamodb:UpdateItem on RateLimitTable only", repr(statements))
        else:
            check(not statements and "HERALD_RATE_LIMIT_TABLE" not in env,
                  f"{fname}: no rate-limit counters (only the dispatchers count)", repr(statements))
    if check("dynamodb" in services, "gateway endpoint for dynamodb", repr(sorted(services))):
        ename, ep = services["dynamodb"]
        doc = ep.get("PolicyDocument", {}).get("Statement", [])
        check(ep.get("VpcEndpointType") == "Gateway" and ep.get("RouteTableIds") == {"Ref": "PrivateRouteTableIds"}
              and [as_list(st.get("Resource")) for st in doc] == [[table_arn]],
              f"{ename}: gateway, in PrivateRouteTableIds, its policy limited to RateLimitTable", repr(ep))
    egress_rules = [r.get("Properties", {}) for r in by_type("AWS::EC2::SecurityGroupEgress").values()]
    check(any(ref_target(r.get("GroupId")) == "LambdaSecurityGroup" and r.get("FromPort") == 443
              and r.get("DestinationPrefixListId") == {"Ref": "DynamoDbPrefixListId"} for r in egress_rules),
          "LambdaSecurityGroup: HTTPS to the DynamoDB prefix list", repr(egress_rules))

    # --- the optional NAT path: everything behind CreateNatGateway (PublicSubnetId +
    #     EgressRouteTableId), one 0.0.0.0/0 route in that route table -> the NAT gateway
    nat_cond = {"Fn::And": [{"Fn::Not": [{"Fn::Equals": [{"Ref": "PublicSubnetId"}, ""]}]},
                            {"Fn::Not": [{"Fn::Equals": [{"Ref": "EgressRouteTableId"}, ""]}]}]}
    check(json.dumps(conditions.get("CreateNatGateway"), sort_keys=True) == json.dumps(nat_cond, sort_keys=True),
          "CreateNatGateway: PublicSubnetId and EgressRouteTableId both set", repr(conditions.get("CreateNatGateway")))
    nat_types = ("AWS::EC2::EIP", "AWS::EC2::NatGateway", "AWS::EC2::Route", "AWS::EC2::InternetGateway",
                 "AWS::EC2::RouteTable", "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::Subnet")
    nat_res = {n: r for n, r in resources.items() if r.get("Type") in nat_types}
    for n, r in sorted(nat_res.items()):
        check(r.get("Condition") == "CreateNatGateway",
              f"{n}: only created when PublicSubnetId and EgressRouteTableId are given", repr(r.get("Condition")))
    counts = {t: sorted(n for n, r in nat_res.items() if r["Type"] == t) for t in nat_types}
    check(all(len(counts[t]) == (1 if t in ("AWS::EC2::EIP", "AWS::EC2::NatGateway", "AWS::EC2::Route") else 0)
              for t in nat_types),
          "NAT path is one Elastic IP, one NAT gateway, one route (no subnets, route tables, internet gateways)",
          repr({t: c for t, c in counts.items() if c}))
    nats = set(counts["AWS::EC2::NatGateway"])
    for n in sorted(nats):
        np_ = nat_res[n]["Properties"]
        check(np_.get("SubnetId") == {"Ref": "PublicSubnetId"}, f"{n}: in PublicSubnetId", repr(np_.get("SubnetId")))
        alloc = getatt(np_.get("AllocationId"))
        check(alloc is not None and alloc[1] == "AllocationId" and resources.get(alloc[0], {}).get("Type") == "AWS::EC2::EIP"
              and resources[alloc[0]].get("Condition") == nat_res[n].get("Condition"),
              f"{n}: public, with an Elastic IP of the same condition")
    for n in counts["AWS::EC2::Route"]:
        rp = nat_res[n].get("Properties", {})
        check(rp.get("DestinationCidrBlock") == "0.0.0.0/0" and ref_target(rp.get("NatGatewayId")) in nats,
              f"{n}: 0.0.0.0/0 -> the NAT gateway")
        check(rp.get("RouteTableId") == {"Ref": "EgressRouteTableId"}, f"{n}: in the EgressRouteTableId route table",
              repr(rp.get("RouteTableId")))
    leftovers = sorted(n for n, r in resources.items()
                       if r.get("Type") in ("AWS::CloudFormation::WaitCondition", "AWS::CloudFormation::WaitConditionHandle"))
    check(not leftovers, "no wait conditions (nothing left of the route-slot guard)", repr(leftovers))
    slot_conds = sorted(c for c in conditions if c != "CreateNatGateway" and "EgressRouteTable" in json.dumps(conditions[c]))
    check(not slot_conds, "EgressRouteTableId is used by CreateNatGateway only (no route-slot conditions)",
          repr(slot_conds))
    cond_users = {r.get("Condition") for r in resources.values()} | {
        o.get("Condition") for o in template.get("Outputs", {}).values()}
    cond_text = json.dumps([resources, template.get("Outputs", {}), conditions])
    unused = sorted(c for c in conditions if c not in cond_users and f'"Condition": "{c}"' not in cond_text
                    and f'"Fn::If": ["{c}"' not in cond_text)
    check(not unused, "every condition is used", repr(unused))
    rules = template.get("Rules", {})

    def rule_pairs() -> set[tuple[str, str]]:
        out = set()
        for r in rules.values():
            for a, b in (("PublicSubnetId", "EgressRouteTableId"), ("EgressRouteTableId", "PublicSubnetId")):
                if r.get("RuleCondition") == is_set(a) and any(x.get("Assert") == is_set(b)
                                                               for x in r.get("Assertions", [])):
                    out.add((a, b))
        return out
    check(rule_pairs() == {("PublicSubnetId", "EgressRouteTableId"), ("EgressRouteTableId", "PublicSubnetId")},
          "Rules: PublicSubnetId and EgressRouteTableId are given together or not at all", repr(sorted(rule_pairs())))
    # A client id without its secret would offer installs that can never finish.
    for id_param, (secret_param, _) in sorted(OAUTH_CLIENTS.items()):
        id_rules = [n for n, r in rules.items() if r.get("RuleCondition") == is_set(id_param)
                    and any(x.get("Assert") == is_set(secret_param) and x.get("AssertDescription")
                            for x in r.get("Assertions", []))]
        check(len(id_rules) == 1, f"Rules: {id_param} needs {secret_param}", repr(id_rules))
    # The Entra ID authority: https only, no trailing slash; the description says how to
    # restrict it to one tenant.
    authority = params.get("TeamsAuthorityUrl", {})
    a_pattern = authority.get("AllowedPattern", "")
    check(bool(a_pattern) and all(re.fullmatch(a_pattern, v) for v in (
              TEAMS_AUTHORITY_DEFAULT, "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000",
              "https://login.microsoftonline.com/contoso.onmicrosoft.com"))
          and not any(re.fullmatch(a_pattern, v) for v in (
              "", "http://login.microsoftonline.com/organizations", "https://login.microsoftonline.com/organizations/",
              "login.microsoftonline.com/organizations", "https://")),
          "parameter TeamsAuthorityUrl: AllowedPattern admits https:// URLs only (no trailing slash)", repr(a_pattern))
    check("https://login.microsoftonline.com/{your Entra tenant id}" in str(authority.get("Description", "")),
          "parameter TeamsAuthorityUrl: description says how to allow only your organisation",
          repr(authority.get("Description")))
    rtb_pattern = params.get("EgressRouteTableId", {}).get("AllowedPattern", "")
    check(rtb_pattern == "^(rtb-[0-9a-f]+)?$", "parameter EgressRouteTableId: AllowedPattern ^(rtb-[0-9a-f]+)?$",
          repr(rtb_pattern))
    nat_doc = " ".join(str(params.get(p, {}).get("Description", "")) for p in ("PublicSubnetId", "EgressRouteTableId"))
    check("0.045" in nat_doc and "interface endpoints" in nat_doc and "AZ" in nat_doc,
          "PublicSubnetId / EgressRouteTableId: describe the NAT cost, the endpoints and the single AZ", nat_doc)

    # --- checkov: only the skips this spec allows, each with its reason
    def checkov_skips(rname: str) -> set[str]:
        ckv = (resources[rname].get("Metadata") or {}).get("checkov") or {}
        return {s.get("id") for s in as_list(ckv.get("skip", [])) if isinstance(s, dict)}

    for rname, res in sorted(resources.items()):
        if "checkov" not in (res.get("Metadata") or {}):
            continue
        ckv = res["Metadata"]["checkov"]
        skips = ckv.get("skip") if isinstance(ckv, dict) else None
        ids = [s.get("id") for s in skips or [] if isinstance(s, dict)]
        check(isinstance(skips, list) and bool(skips) and list(ckv) == ["skip"]
              and len(ids) == len(skips) and len(set(ids)) == len(ids),
              f"{rname}: Metadata.checkov is a list of skips, each check at most once", repr(ckv))
        allowed = CHECKOV_SKIPS.get(res.get("Type"), set())
        for s in skips or []:
            cid = s.get("id") if isinstance(s, dict) else None
            check(cid in allowed, f"{rname}: checkov skip {cid} is one a {res.get('Type')} may skip",
                  f"allowed: {sorted(allowed)}")
            comment = s.get("comment") if isinstance(s, dict) else None
            check(isinstance(s, dict) and set(s) == {"id", "comment"} and isinstance(comment, str)
                  and len(comment.split()) >= 10,
                  f"{rname}: checkov skip {cid} gives its reason", repr(s))
    for qname, q in sorted(queues.items()):
        if "CKV_AWS_27" in checkov_skips(qname):
            check(q.get("Properties", {}).get("SqsManagedSseEnabled") is True,
                  f"{qname}: skips CKV_AWS_27 only because SSE-SQS encrypts it")
    # Reserved concurrency: recipients (inbox polling) is capped by a parameter that 0 turns
    # off; the paging path (ingest) never is, and an SQS consumer is capped by its event
    # source's MaximumConcurrency instead (a reservation would throttle batches toward the DLQ).
    rc_param = params.get("RecipientsReservedConcurrency", {})
    check(rc_param.get("MinValue") == 0 and isinstance(rc_param.get("MaxValue"), int),
          "parameter RecipientsReservedConcurrency: 0 (off) up to a maximum", repr(rc_param))
    check(conditions.get("CapsRecipientsConcurrency")
          == {"Fn::Not": [{"Fn::Equals": [{"Ref": "RecipientsReservedConcurrency"}, "0"]}]},
          "CapsRecipientsConcurrency: RecipientsReservedConcurrency is not 0",
          repr(conditions.get("CapsRecipientsConcurrency")))
    rc = functions.get("RecipientsFunction", {}).get("Properties", {}).get("ReservedConcurrentExecutions")
    check(rc == {"Fn::If": ["CapsRecipientsConcurrency", {"Ref": "RecipientsReservedConcurrency"},
                            {"Ref": "AWS::NoValue"}]},
          "RecipientsFunction: ReservedConcurrentExecutions is RecipientsReservedConcurrency (unless 0)", repr(rc))
    check("CKV_AWS_115" not in checkov_skips("RecipientsFunction"),
          "RecipientsFunction: does not skip CKV_AWS_115 (it is capped)")
    for fname, res in sorted(functions.items()):
        props = res.get("Properties", {})
        has_rc = "ReservedConcurrentExecutions" in props or "ReservedConcurrentExecutions" in globals_fn
        check(has_rc != ("CKV_AWS_115" in checkov_skips(fname)),
              f"{fname}: reserved concurrency, or CKV_AWS_115 skipped with its reason")
        sqs_events = [e for e in props.get("Events", {}).values() if e.get("Type") == "SQS"]
        if sqs_events or fname == "IngestFunction":
            check(not has_rc, f"{fname}: no reserved concurrency (the paging path, or an SQS consumer "
                              "capped by MaximumConcurrency)", repr(props.get("ReservedConcurrentExecutions")))
    # KMS on the log group that holds personal data: the HTTP API access log (caller IPs).
    alg = log_groups.get(ACCESS_LOGS, {}).get("Properties", {})
    check(getatt(alg.get("KmsKeyId")) == (ACCESS_LOGS_KEY, "Arn") and "CKV_AWS_158" not in checkov_skips(ACCESS_LOGS)
          if ACCESS_LOGS in log_groups else False,
          f"{ACCESS_LOGS}: encrypted with {ACCESS_LOGS_KEY} (KmsKeyId: !GetAtt {ACCESS_LOGS_KEY}.Arn)", repr(alg))
    check(all(ref_target(api.get("Properties", {}).get("AccessLogSettings", {}).get("DestinationArn")) == ACCESS_LOGS
              for api in http_apis.values()), f"the HTTP API logs to {ACCESS_LOGS}")
    akey = by_type("AWS::KMS::Key").get(ACCESS_LOGS_KEY, {}).get("Properties", {})
    check(akey.get("EnableKeyRotation") is True and akey.get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
          and akey.get("KeyUsage", "ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT",
          f"{ACCESS_LOGS_KEY}: symmetric, rotation enabled", repr({k: v for k, v in akey.items() if k != "KeyPolicy"}))
    ast = [st for st in as_list((akey.get("KeyPolicy") or {}).get("Statement", [])) if isinstance(st, dict)]
    acct_root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    logs_st = [st for st in ast if st.get("Principal") == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}]
    check(len(ast) == 2 and all(st.get("Effect") == "Allow" for st in ast)
          and sum(st.get("Principal") == acct_root and "Condition" not in st for st in ast) == 1 and len(logs_st) == 1,
          f"{ACCESS_LOGS_KEY}: two Allows, the account root administers it and CloudWatch Logs of this region "
          "uses it", repr(ast))
    if logs_st:
        st = logs_st[0]
        check(set(as_list(st.get("Action"))) == ACCESS_LOGS_KEY_ACTIONS
              and len(as_list(st.get("Action"))) == len(ACCESS_LOGS_KEY_ACTIONS),
              f"{ACCESS_LOGS_KEY}: CloudWatch Logs may only {', '.join(sorted(ACCESS_LOGS_KEY_ACTIONS))}",
              repr(st.get("Action")))
        check(st.get("Condition") == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
                  "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}}},
              f"{ACCESS_LOGS_KEY}: CloudWatch Logs only for log groups of this account and region "
              "(encryption context)", repr(st.get("Condition")))
    # checkov merges the Globals into each function like SAM, but an intrinsic with an
    # intrinsic of another kind into a two-key map, which crashes it: a property a function
    # overrides uses the Globals' kind of intrinsic (or neither is one).
    def intrinsic_clashes(glob, local, path: str) -> list[str]:
        if not (isinstance(glob, dict) and isinstance(local, dict)):
            return []
        if is_intrinsic(glob) or is_intrinsic(local):
            return [] if list(glob) == list(local) else [f"{path}: {list(glob)} vs {list(local)}"]
        return [c for k in glob.keys() & local.keys() for c in intrinsic_clashes(glob[k], local[k], f"{path}.{k}")]

    for fname, res in sorted(functions.items()):
        clashes = intrinsic_clashes(globals_fn, res.get("Properties", {}), fname)
        check(not clashes, f"{fname}: overrides Globals with the same kind of intrinsic", "; ".join(clashes))
    # So the Globals' RUST_LOG goes through LogLevels too, whose Rust column is LogLevel itself.
    check(globals_fn.get("Environment", {}).get("Variables", {}).get("RUST_LOG")
          == {"Fn::FindInMap": ["LogLevels", {"Ref": "LogLevel"}, "Rust"]},
          "Globals: RUST_LOG is !FindInMap [LogLevels, !Ref LogLevel, Rust]")
    level_map = template.get("Mappings", {}).get("LogLevels", {})
    level_values = params.get("LogLevel", {}).get("AllowedValues", [])
    check(bool(level_values) and all(level_map.get(v, {}).get("Rust") == v for v in level_values),
          "LogLevels: the Rust column maps every LogLevel to itself", repr({k: v.get("Rust") for k, v in level_map.items()}))

    # --- parameters: optional ones stay optional, types, defaults match their patterns
    for pname, default in sorted(PARAMETER_DEFAULTS.items()):
        got = params.get(pname, {}).get("Default", "<none>")
        check(got == default, f"parameter {pname}: Default {default!r}", repr(got))
    for pname, why in sorted(REMOVED_PARAMETERS.items()):
        check(pname not in params, f"parameter {pname}: removed ({why})")
    for pname, ptype in sorted(PARAMETER_TYPES.items()):
        check(params.get(pname, {}).get("Type") == ptype, f"parameter {pname}: Type {ptype}",
              repr(params.get(pname, {}).get("Type")))
    for pname, pdef in sorted(params.items()):
        if "AllowedPattern" in pdef and "Default" in pdef:
            values = (str(pdef["Default"]).split(",") if pdef.get("Type") == "CommaDelimitedList"
                      else [str(pdef["Default"])])
            check(all(re.fullmatch(pdef["AllowedPattern"], v) for v in values),
                  f"parameter {pname}: Default matches its AllowedPattern", repr(pdef["Default"]))
        check(bool(pdef.get("Description")), f"parameter {pname}: has a Description")

    # --- cfn-lint itself: any output is a failure
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    cmd = [exe, str(TEMPLATE)] if os.path.exists(exe) else [sys.executable, "-m", "cfnlint", str(TEMPLATE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    out = (proc.stdout + proc.stderr).strip()
    check(proc.returncode == 0 and not out, "cfn-lint reports nothing", f"exit {proc.returncode}\n{out}")

    return finish()


def finish() -> int:
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
