//! Tracing set-up: JSON lines on Lambda (CloudWatch parses them), readable text locally.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests call it per test).
pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // At trace level the runtime logs every raw event: API keys, link tokens, bodies.
    // Never below info for these, whatever RUST_LOG says.
    for target in [
        "lambda_runtime",
        "lambda_runtime_api_client",
        "lambda_http",
        "hyper",
        "aws_smithy_runtime",
    ] {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = on_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f == "JSON");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .with_ansi(false)
            .try_init()
    } else {
        builder
            .with_ansi(std::env::var_os("NO_COLOR").is_none())
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
