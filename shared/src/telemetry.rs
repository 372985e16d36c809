//! Tracing set-up: JSON lines on Lambda (CloudWatch parses them), readable text locally.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are no-ops (tests call it per test).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
