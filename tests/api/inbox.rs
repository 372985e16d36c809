//! The in-app inbox: written by ingest in its one statement, delivered at once, read
//! through the API with a keyset cursor, tenant-scoped, and swept by retention.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::channels::{NASTY_TITLE, escalation_on};
use crate::helpers::TestApp;

async fn inbox(app: &TestApp, recipient: &str, query: &str) -> Value {
    let r = app
        .api(
            "GET",
            &format!("/v1/recipients/{recipient}/notifications{query}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn unread(app: &TestApp, recipient: &str) -> i64 {
    app.api(
        "GET",
        &format!("/v1/recipients/{recipient}/notifications/unread-count"),
        None,
    )
    .await
    .json()["unread"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn an_in_app_page_is_delivered_with_the_escalation_and_read_through_the_api() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_on(
            &["in_app", "email"],
            json!({ "id": "u-ina", "email": "ina@example.com" }),
        ))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let created = created.json();
    let in_app = created["notifications"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|n| n["channel"] == "in_app")
        .cloned()
        .expect("in_app row");
    assert_eq!(in_app["status"], "delivered");

    let page = inbox(&app, "u-ina", "").await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["title"], NASTY_TITLE);
    assert_eq!(items[0]["escalation_id"], created["id"]);
    assert_eq!(items[0]["is_read"], false);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(unread(&app, "u-ina").await, 1);

    let nid = items[0]["id"].as_str().expect("id").to_owned();
    let read = app
        .api(
            "POST",
            &format!("/v1/recipients/u-ina/notifications/{nid}/read"),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let first_read_at = read.json()["read_at"].clone();
    assert!(first_read_at.is_string());
    let again = app
        .api(
            "POST",
            &format!("/v1/recipients/u-ina/notifications/{nid}/read"),
            None,
        )
        .await
        .json();
    assert_eq!(
        again["read_at"], first_read_at,
        "reading twice keeps the first read_at"
    );
    assert_eq!(unread(&app, "u-ina").await, 0);
    assert!(
        inbox(&app, "u-ina", "?unread=true").await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );

    let detail = app
        .api(
            "GET",
            &format!("/v1/escalations/{}", created["id"].as_str().expect("id")),
            None,
        )
        .await
        .json();
    let row = detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["channel"] == "in_app")
        .cloned()
        .expect("in_app delivery");
    assert_eq!(row["status"], "delivered");
    assert!(row["delivered_at"].is_string());

    let deleted = app
        .api(
            "DELETE",
            &format!("/v1/recipients/u-ina/notifications/{nid}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert!(
        inbox(&app, "u-ina", "").await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
    let unknown = Uuid::new_v4();
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/v1/recipients/u-ina/notifications/{unknown}"),
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn read_all_marks_every_unread_row_and_counts_them() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.post_escalation(&escalation_on(&["in_app"], json!({ "id": "u-bulk" })))
            .await;
    }
    assert_eq!(unread(&app, "u-bulk").await, 3);
    let r = app
        .api("POST", "/v1/recipients/u-bulk/notifications/read-all", None)
        .await
        .json();
    assert_eq!(r["marked_read"], 3);
    assert_eq!(unread(&app, "u-bulk").await, 0);
    let r = app
        .api("POST", "/v1/recipients/u-bulk/notifications/read-all", None)
        .await
        .json();
    assert_eq!(r["marked_read"], 0);
}

#[tokio::test]
async fn another_tenants_recipient_is_not_found() {
    let app = TestApp::spawn().await;
    app.post_escalation(&escalation_on(&["in_app"], json!({ "id": "u-mine" })))
        .await;
    let nid = inbox(&app, "u-mine", "").await["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, other_key) =
        herald_local::stack::create_tenant(&app.pool.get().await.expect("conn"), "Other")
            .await
            .expect("tenant");
    let auth = format!(
        "Bearer {}",
        secrecy::ExposeSecret::expose_secret(&other_key)
    );
    let app = &app;
    let auth = auth.as_str();
    let as_other = |method: &'static str, path: String| async move {
        app.request(method, &path, &[("authorization", auth)], b"")
            .await
            .status
    };
    assert_eq!(
        as_other("GET", "/v1/recipients/u-mine/notifications".into()).await,
        404
    );
    assert_eq!(
        as_other(
            "GET",
            "/v1/recipients/u-mine/notifications/unread-count".into()
        )
        .await,
        404
    );
    assert_eq!(
        as_other(
            "POST",
            format!("/v1/recipients/u-mine/notifications/{nid}/read")
        )
        .await,
        404
    );
    assert_eq!(
        as_other(
            "POST",
            "/v1/recipients/u-mine/notifications/read-all".into()
        )
        .await,
        404
    );
    assert_eq!(
        as_other(
            "DELETE",
            format!("/v1/recipients/u-mine/notifications/{nid}")
        )
        .await,
        404
    );
    assert_eq!(unread(app, "u-mine").await, 1, "nothing changed");
    assert_eq!(
        app.api("GET", "/v1/recipients/u-nobody/notifications", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn bad_paging_parameters_name_their_field() {
    let app = TestApp::spawn().await;
    app.post_escalation(&escalation_on(&["in_app"], json!({ "id": "u-p" })))
        .await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?unread=maybe", "unread"),
    ] {
        let r = app
            .api(
                "GET",
                &format!("/v1/recipients/u-p/notifications{query}"),
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn paging_newest_first_sees_every_row_once_while_rows_arrive() {
    let app = TestApp::spawn().await;
    app.post_escalation(&escalation_on(&["in_app"], json!({ "id": "u-many" })))
        .await;
    let client = app.pool.get().await.expect("conn");
    // 44 more rows, a millisecond apart, plus two sharing a timestamp (the id breaks ties).
    client
        .batch_execute(&format!(
            "INSERT INTO notifications (tenant_id, recipient_id, title, created_at)
             SELECT '{tenant}', r.id, 'row ' || g, now() - g * interval '1 millisecond'
             FROM recipients r, generate_series(1, 44) g WHERE r.external_id = 'u-many';
             INSERT INTO notifications (tenant_id, recipient_id, title, created_at)
             SELECT '{tenant}', r.id, 'tie', now() - interval '20 millisecond'
             FROM recipients r WHERE r.external_id = 'u-many';",
            tenant = app.tenant_id
        ))
        .await
        .expect("seed");
    let before: HashSet<Uuid> = client
        .query(
            "SELECT n.id FROM notifications n JOIN recipients r ON r.id = n.recipient_id
             WHERE r.external_id = 'u-many'",
            &[],
        )
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(before.len(), 46);

    // New pages keep arriving while we read.
    let writer = {
        let pool = app.pool.clone();
        let tenant = app.tenant_id;
        tokio::spawn(async move {
            let client = pool.get().await.expect("conn");
            for i in 0..30 {
                client
                    .execute(
                        "INSERT INTO notifications (tenant_id, recipient_id, title)
                         SELECT $1, id, $2 FROM recipients WHERE external_id = 'u-many'",
                        &[&tenant, &format!("new {i}")],
                    )
                    .await
                    .expect("insert");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut seen: Vec<Uuid> = Vec::new();
    let mut last_created: Option<String> = None;
    let mut cursor = String::new();
    loop {
        let page = inbox(&app, "u-many", &format!("?limit=7{cursor}")).await;
        for item in page["items"].as_array().expect("items") {
            let created_at = item["created_at"].as_str().expect("time").to_owned();
            if let Some(last) = &last_created {
                assert!(
                    chrono::DateTime::parse_from_rfc3339(&created_at).expect("rfc3339")
                        <= chrono::DateTime::parse_from_rfc3339(last).expect("rfc3339"),
                    "newest first"
                );
            }
            last_created = Some(created_at);
            seen.push(item["id"].as_str().expect("id").parse().expect("uuid"));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
    let unique: HashSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no row twice");
    assert!(
        before.is_subset(&unique),
        "every row that existed when paging began, once"
    );
}

#[tokio::test]
async fn retention_deletes_expired_and_old_inbox_rows() {
    let app = TestApp::spawn().await;
    app.post_escalation(&escalation_on(&["in_app"], json!({ "id": "u-old" })))
        .await;
    let client = app.pool.get().await.expect("conn");
    client.batch_execute(&format!(
        "INSERT INTO notifications (tenant_id, recipient_id, title, expires_at)
         SELECT '{t}', id, 'expired', now() - interval '1 minute' FROM recipients WHERE external_id = 'u-old';
         INSERT INTO notifications (tenant_id, recipient_id, title, created_at)
         SELECT '{t}', id, 'ancient', now() - interval '31 days' FROM recipients WHERE external_id = 'u-old';",
        t = app.tenant_id
    ))
    .await
    .expect("seed");
    assert_eq!(
        inbox(&app, "u-old", "").await["items"]
            .as_array()
            .expect("items")
            .len(),
        2,
        "the expired row is hidden at once"
    );
    let summary = app.retention_once().await;
    assert_eq!(summary.deleted["notifications"], 2, "{summary:?}");
    let left: Vec<String> = inbox(&app, "u-old", "").await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(left, vec![NASTY_TITLE.to_owned()]);
}

#[tokio::test]
async fn an_inbox_entry_with_an_expiry_is_hidden_once_it_passes_and_then_deleted() {
    let app = TestApp::spawn().await;
    let mut body = escalation_on(&["in_app"], json!({ "id": "u-brief" }));
    body["inbox_expires_at"] =
        json!((chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339());
    assert_eq!(app.post_escalation(&body).await.status, 202);
    assert_eq!(
        inbox(&app, "u-brief", "").await["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    assert_eq!(unread(&app, "u-brief").await, 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        inbox(&app, "u-brief", "").await["items"]
            .as_array()
            .expect("items")
            .is_empty()
    );
    assert_eq!(unread(&app, "u-brief").await, 0);
    let summary = app.retention_once().await;
    assert_eq!(summary.deleted["notifications"], 1, "{summary:?}");
}
