//! Tracing set-up: JSON lines on Lambda (CloudWatch parses them), readable text locally.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The log filter from `RUST_LOG` (`info`, or `warn,herald=debug`: a default level and
/// per-target levels; default `info`), read with `Targets`, which needs no regex engine.
fn filter() -> Targets {
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // At trace level the runtime logs every raw event: API keys, link tokens, bodies.
    // Never below info for these, whatever RUST_LOG says.
    for target in [
        "lambda_runtime",
        "lambda_runtime_api_client",
        "lambda_http",
        "hyper",
        "aws_smithy_runtime",
    ] {
        filter = filter.with_target(target, LevelFilter::INFO);
    }
    filter
}

/// Installs the global subscriber once; later calls are no-ops (tests call it per test).
pub fn init() {
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = on_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f == "JSON");
    let registry = tracing_subscriber::registry().with(filter());
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .without_time()
                    .with_ansi(false)
                    .with_target(false),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::env::var_os("NO_COLOR").is_none())
                    .with_target(false),
            )
            .try_init()
    };
}

/// An error and its causes on one line, safe to log: a PostgreSQL error shows its
/// SQLSTATE, message, table and constraint, never its DETAIL (a constraint violation's
/// DETAIL quotes the whole failing row, message body and addresses included).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            parts.push(match pg.as_db_error() {
                Some(db) => format!(
                    "database error {}: {}{}{}",
                    db.code().code(),
                    db.message(),
                    db.table()
                        .map(|t| format!(" (table {t})"))
                        .unwrap_or_default(),
                    db.constraint()
                        .map(|c| format!(" (constraint {c})"))
                        .unwrap_or_default(),
                ),
                None if pg.is_closed() => "database connection closed".to_owned(),
                None => "database error (no server detail)".to_owned(),
            });
            break;
        }
        if let Some(db) = e.downcast_ref::<tokio_postgres::error::DbError>() {
            parts.push(format!(
                "database error {}: {}",
                db.code().code(),
                db.message()
            ));
            break;
        }
        // First line only: PostgreSQL's DETAIL and HINT follow a line break even when
        // the database error is wrapped (anyhow shows the innermost Display at the top).
        parts.push(e.to_string().lines().next().unwrap_or_default().to_owned());
        current = e.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_never_logs_below_info() {
        let filter: Targets = "trace".parse::<Targets>().expect("valid");
        let filter = ["lambda_runtime", "hyper"]
            .into_iter()
            .fold(filter, |f, t| f.with_target(t, LevelFilter::INFO));
        assert!(filter.would_enable("herald", &tracing::Level::TRACE));
        assert!(!filter.would_enable("lambda_runtime", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("hyper::client", &tracing::Level::TRACE));
    }

    #[test]
    fn multi_line_messages_keep_their_first_line() {
        let e = anyhow::anyhow!(
            "ERROR: new row violates check constraint\nDETAIL: Failing row contains (secret)"
        );
        assert_eq!(
            describe(e.as_ref()),
            "ERROR: new row violates check constraint"
        );
    }

    #[test]
    fn plain_chains_are_joined() {
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(e.as_ref()), "outer: inner");
    }
}
