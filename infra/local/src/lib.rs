// The local runner awaits every function's handler inside one spawned, Send future: deep
// enough that proving it Send needs more than the default recursion limit.
#![recursion_limit = "256"]

//! Herald on one machine: the same handlers as on Lambda, fed the way AWS feeds them.
//!
//! - [`fakes`]: local fake providers for Teams, End User Messaging voice and the Slack
//!   Web API, which the emulator does not have.
//! - [`gateway`]: turns a plain HTTP request into an API Gateway HTTP API (v2) event and
//!   routes it to `ingest`, `recipients` or `magic-link`, like the HTTP API's routes do.
//! - [`openapi`]: the API's OpenAPI document, made from the functions' descriptions.
//! - [`poller`]: polls an SQS queue into a dispatcher with Lambda's batch semantics
//!   (batches of up to 10, partial batch failures, visibility timeout, DLQ redrive).
//! - [`schedules`]: fires the `retry` and `retention` schedules on their period or on
//!   demand.
//! - [`stack`]: creates the queues and the SES sender identity in the emulator, and
//!   tenants with API keys.

pub mod bench;
pub mod bench_channels;
pub mod bench_receipts;
pub mod bench_scheduled;
pub mod demo;
pub mod fakes;
pub mod gateway;
pub mod openapi;
pub mod poller;
pub mod schedules;
pub mod serve;
pub mod stack;
