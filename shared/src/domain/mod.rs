//! Plain types and rules. No I/O here: everything is a value or a pure function, so it is
//! unit-tested beside the code.

pub mod address;
pub mod backoff;
pub mod budget;
pub mod channel;
pub mod email;
pub mod engine;
pub mod escalation;
pub mod oauth;
pub mod opt_out;
pub mod phone;
pub mod policy;
pub mod priority;
pub mod quiet_hours;
pub mod rate_limit;
pub mod receipt;
pub mod slack;
pub mod sms;
pub mod sms_reply;
pub mod stats;
pub mod status;
pub mod system_events;
pub mod template;
pub mod text;
pub mod webhook;

pub use address::{Address, PushEndpointArn, SlackUserId};
pub use backoff::{RetryPolicies, RetryPolicy};
pub use budget::{AdaptiveBatch, Budget};
pub use channel::Channel;
pub use email::EmailAddress;
pub use escalation::{FieldError, IngestRequest, NewEscalation, NewRecipient, parse_json};
pub use phone::PhoneE164;
pub use policy::{ChannelPolicy, EscalationPolicy, Level, PlannedNotification, Tier};
pub use priority::Priority;
pub use quiet_hours::{QuietHours, Urgency};
pub use status::{Action, EscalationStatus, NotificationStatus};
