use herald::db;

use crate::helpers::{connect, fresh_database};

const TABLES: [&str; 22] = [
    "tenants",
    "api_keys",
    "recipients",
    "escalations",
    "notification_log",
    "magic_link_tokens",
    "event_log",
    "credentials",
    "notifications",
    "slack_installations",
    "slack_request_signatures",
    "sms_reply_counters",
    "sms_reply_codes",
    "sms_replies",
    "oauth_states",
    "slack_connections",
    "teams_connections",
    "opt_outs",
    "policies",
    "suppressions",
    "admin_system_events",
    "templates",
];

async fn tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_migrio_changelog' ORDER BY 1",
            &[],
        )
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let (_, url) = fresh_database().await;
    let mut client = connect(&url).await;
    let dir = db::migrations_dir();

    db::migrate(&mut client, &dir).await.expect("all ups");
    let mut expected: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    expected.sort();
    assert_eq!(tables(&client).await, expected);

    db::migrate_down(&mut client, &dir, 0)
        .await
        .expect("all downs");
    assert!(
        tables(&client).await.is_empty(),
        "down scripts leave nothing behind"
    );
    let functions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE proname = 'event_log_reject_update'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(functions, 0);

    db::migrate(&mut client, &dir).await.expect("all ups again");
    assert_eq!(tables(&client).await, expected);
}

#[tokio::test]
async fn every_up_has_a_down() {
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    for entry in std::fs::read_dir(db::migrations_dir()).expect("migrations dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        if let Some(stem) = name.strip_suffix(".up.sql") {
            ups.push(stem.to_owned());
        } else if let Some(stem) = name.strip_suffix(".down.sql") {
            downs.push(stem.to_owned());
        } else {
            panic!("{name}: migrations are NNNN_name.up.sql / NNNN_name.down.sql pairs");
        }
    }
    ups.sort();
    downs.sort();
    assert!(!ups.is_empty());
    assert_eq!(ups, downs);
}

#[tokio::test]
async fn event_log_is_append_only() {
    let (_, url) = fresh_database().await;
    let mut client = connect(&url).await;
    db::migrate(&mut client, &db::migrations_dir())
        .await
        .expect("ups");
    client
        .batch_execute(
            "INSERT INTO event_log (tenant_id, event_type, actor_type) VALUES (gen_random_uuid(), 'x', 'system')",
        )
        .await
        .expect("insert");
    let err = client
        .batch_execute("UPDATE event_log SET event_type = 'y'")
        .await
        .expect_err("updates are refused");
    // Refused by the append-only trigger, not by anything else that could go wrong.
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code(), &tokio_postgres::error::SqlState::RAISE_EXCEPTION);
    assert_eq!(db.message(), "event_log is append-only");
    let unchanged = client
        .query_one("SELECT count(*) FROM event_log WHERE event_type = 'x'", &[])
        .await
        .expect("count");
    assert_eq!(unchanged.get::<_, i64>(0), 1);
}
