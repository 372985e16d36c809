//! Herald's shared library: everything the Lambda functions have in common.
//!
//! - [`domain`]: plain types and rules (parsing, policies, backoff), no I/O.
//! - [`db`]: the PostgreSQL store; all SQL lives there.
//! - [`channels`]: one provider adapter per channel behind the [`channels::Adapter`] trait.
//! - [`dispatch`]: the one claim -> send -> record pipeline, generic over the adapter.
//! - [`queue`]: the SQS envelope and batched enqueue.
//! - [`magic_link`]: token minting and hashing.
//! - [`scheduled`]: the retry sweep and retention runs.
//! - [`slack`]: Slack button clicks and the rewrite of answered Slack messages.
//! - [`sms_reply`]: acknowledging and resolving by replying to an SMS page.

pub mod actions;
pub mod api_key;
pub mod channels;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod feedback;
#[cfg(feature = "http")]
pub mod http;
pub mod ingest;
pub mod magic_link;
pub mod metrics;
pub mod oauth;
pub mod queue;
pub mod rate_limit;
pub mod scheduled;
pub mod secrets;
pub mod slack;
pub mod sms_reply;
pub mod teams_identity;
pub mod telemetry;
pub mod warm;

pub use config::Config;

// The SDK crates, re-exported so every function uses the exact same (trimmed) build.
pub use aws_config;
pub use aws_sdk_dynamodb;
pub use aws_sdk_pinpointsmsvoicev2;
pub use aws_sdk_sesv2;
pub use aws_sdk_sns;
pub use aws_sdk_sqs;
