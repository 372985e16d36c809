//! Integration tests: real PostgreSQL (a fresh database per test) and the AWS emulator
//! (a fresh queue per test), through the same handlers Lambda runs.

mod ack_timeout;
mod channels;
mod dispatch;
mod engine;
mod engine_props;
mod events;
mod faults;
mod feedback;
mod helpers;
mod inbox;
mod ingest;
mod magic_link;
mod migrations;
mod openapi;
mod opt_outs;
mod policies;
mod quiet_hours;
mod rate_limits;
mod recipients;
mod retention;
mod retry;
mod robustness;
mod sdk_config;
mod slack;
mod slack_actions;
mod slack_events;
mod slack_install;
mod sms_reply;
mod system_events;
mod teams;
mod teams_connect;
mod templates;
mod timeline;
