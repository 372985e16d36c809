//! CloudWatch metrics from every function, as embedded metric format (EMF) documents: JSON
//! lines on stdout that CloudWatch Logs turns into metrics, with no API call and nothing to
//! wait for. Counted with the `metrics` facade where the work happens, written out by
//! `metrics_cloudwatch_embedded` once per invocation ([`flushed`]).
//!
//! Namespace `Herald` (`HERALD_METRICS_NAMESPACE`), dimension `Function` on every metric,
//! plus the metric's own labels (`Channel`, `Code`, `Reason`, `Table`, `Status`,
//! `Outcome`):
//! - dispatchers: `Sent`, `Deferred`, `Suppressed` (by `Reason`), `Failed` (by `Code`,
//!   the provider's error code, never its message), `ClaimToSendMs` (from the batch's
//!   claim to the provider's acceptance of each row);
//! - feedback: `Receipts`, `ReceiptsChanged`, `AddressesSuppressed`, `EscalationsWoken`,
//!   `ReceiptsIgnored`, `ReceiptsMalformed`, `ReceiptsUnmatched`, `ReceiptsRetried`;
//! - retry: the sweep's counts (`RequeuedFailed`, `ReclaimedLeases`, `RequeuedOutbox`,
//!   `Exhausted`, `SuppressedOnSweep`, `EnqueueFailed`, `EscalationsStepped`,
//!   `LevelsFired`, `TiersStarted`, `EscalationsExhausted`, `AckTimeouts`,
//!   `StoppedEarly`), `DeadLetterChannels` (gauge) and `SweepMs`;
//! - retention: `Deleted` by `Table`, `SweepMs`;
//! - sms-reply: `SmsReplies` by `Outcome`;
//! - HTTP functions (ingest, recipients, magic-link): `Responses` by `Status` class.
//!
//! Never a label that grows without bound (no tenant, escalation or address): each label
//! set is its own CloudWatch metric.

use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// The namespace when `HERALD_METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Herald";

/// The `level` each document carries: Lambda's log-level filter treats a line without one
/// as INFO, so at `ApplicationLogLevel: WARN` the metrics would be dropped with the info
/// logs. They carry the function's own level (`AWS_LAMBDA_LOG_LEVEL`), which always passes.
pub fn document_level(lambda_log_level: Option<&str>) -> &'static str {
    match lambda_log_level.map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE") => "TRACE",
        Some("DEBUG") => "DEBUG",
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// Installs the EMF recorder for `function` (once; later calls are no-ops). Only the
/// Lambda binaries call it: elsewhere (tests, the local runner) the counters go nowhere.
pub fn init(function: &str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    let namespace = std::env::var("HERALD_METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("Function", function.to_owned())
        .init()
    {
        Ok(collector) => {
            let level = document_level(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref());
            collector.set_property("level", level);
            let _ = COLLECTOR.set(collector);
        }
        Err(e) => tracing::warn!(error.message = %e, "metrics recorder not installed; no metrics"),
    }
}

/// Writes what was counted since the last flush to stdout, one document per label set, in
/// one write (never interleaved with a log line).
pub fn flush() {
    let Some(collector) = COLLECTOR.get() else {
        return;
    };
    let mut documents = Vec::new();
    if let Err(e) = collector.flush(&mut documents) {
        tracing::warn!(error.message = %e, "could not write the metrics");
        return;
    }
    if !documents.is_empty() {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&documents).and_then(|()| out.flush());
    }
}

/// Runs one invocation and flushes its metrics, whatever it returned.
pub async fn flushed<F: Future>(invocation: F) -> F::Output {
    let out = invocation.await;
    flush();
    out
}

/// The class of an HTTP status for the `Responses` metric: `2xx`, `3xx`, `4xx`, `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts one HTTP response by its status class.
pub fn response(status: u16) {
    metrics::counter!("Responses", "Status" => status_class(status)).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_level_the_function_logs_at() {
        assert_eq!(document_level(Some("WARN")), "WARN");
        assert_eq!(document_level(Some("error")), "ERROR");
        assert_eq!(document_level(None), "INFO");
        assert_eq!(document_level(Some("loud")), "INFO");
        assert_eq!(status_class(202), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    /// The only test in this binary that installs the global recorder (nothing else
    /// unit-tested here counts anything).
    #[test]
    fn a_flush_is_one_emf_document_per_label_set() {
        init("dispatch-email");
        let collector = COLLECTOR.get().expect("installed");
        metrics::counter!("Sent", "Channel" => "email").increment(9);
        metrics::counter!("Failed", "Channel" => "email", "Code" => "Throttling").increment(1);
        metrics::histogram!("ClaimToSendMs", "Channel" => "email").record(12.5);
        let mut out = Vec::new();
        collector.flush(&mut out).expect("flush");
        let documents: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
            .collect();
        assert_eq!(documents.len(), 2, "{documents:?}");
        let sent = documents
            .iter()
            .find(|d| d.get("Sent").is_some())
            .expect("the channel's document");
        assert_eq!(sent["Sent"], 9);
        assert_eq!(sent["ClaimToSendMs"], serde_json::json!([12.5]));
        assert_eq!(sent["level"], "INFO");
        assert_eq!(sent["Function"], "dispatch-email");
        assert_eq!(sent["Channel"], "email");
        assert_eq!(
            sent["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function", "Channel"]])
        );
        assert_eq!(sent["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Herald");
        let failed = documents
            .iter()
            .find(|d| d.get("Failed").is_some())
            .expect("the code's document");
        assert_eq!(
            (failed["Failed"].as_u64(), failed["Code"].as_str()),
            (Some(1), Some("Throttling"))
        );
        // Written again only once something new is counted.
        let mut again = Vec::new();
        collector.flush(&mut again).expect("flush");
        assert!(again.is_empty(), "{}", String::from_utf8_lossy(&again));
    }
}
