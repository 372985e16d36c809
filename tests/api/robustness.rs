//! Arbitrary JSON bodies never make ingest answer 5xx or panic.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

const KEYS: [&str; 14] = [
    "dedup_key",
    "title",
    "body",
    "priority",
    "service",
    "team",
    "alert_count",
    "dashboard_url",
    "triggered_at",
    "recipients",
    "channels",
    "id",
    "email",
    "phone",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        // Control characters (NUL included) inside otherwise plain text.
        "\\PC{0,8}\\p{Cc}\\PC{0,8}".prop_map(Value::String),
        prop_oneof![
            Just("critical"),
            Just("email"),
            Just("a@b.co"),
            Just("+14155550101"),
            Just("2026-11-22T03:12:00Z"),
            Just("nul \u{0} inside"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..8).prop_map(
                |kv| Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>()
                )
            ),
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_json_bodies_never_cause_a_server_error() {
    let app = TestApp::spawn().await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&json_value(), |body| {
            let res = tokio::task::block_in_place(|| handle.block_on(app.post_escalation(&body)));
            prop_assert!(res.status < 500, "{} for {body}: {}", res.status, res.text);
            prop_assert!(
                [200, 202, 400].contains(&res.status),
                "{} for {body}",
                res.status
            );
            Ok(())
        })
        .expect("no 5xx");
}
