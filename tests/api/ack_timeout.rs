//! The acknowledgement timeout (PagerDuty's): an escalation acknowledged but not
//! resolved within the policy's `ack_timeout_minutes` goes back to `triggered` and the
//! policy starts over from its first level, recorded in the audit log. Off by default.

use chrono::{TimeDelta, Utc};
use herald::domain::Channel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique_email};

fn paging(email: &str, ack_timeout: Option<u32>) -> Value {
    let mut policy =
        json!({ "levels": [{ "after_minutes": 0, "recipients": ["ana"] }], "repeat": 1 });
    if let Some(minutes) = ack_timeout {
        policy["ack_timeout_minutes"] = json!(minutes);
    }
    json!({
        "title": "Payments queue backing up", "priority": "high",
        "recipients": [{ "id": "ana", "email": email }],
        "channels": { "primary": ["email"] },
        "policy": policy
    })
}

async fn acknowledge(app: &TestApp, id: &str) {
    let ack = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
}

async fn detail(app: &TestApp, id: &str) -> Value {
    app.api("GET", &format!("/v1/escalations/{id}"), None)
        .await
        .json()
}

#[tokio::test]
async fn an_acknowledgement_that_times_out_pages_again_from_the_first_level() {
    let app = TestApp::spawn().await;
    let email = unique_email("ana");
    let created = app.post_escalation(&paging(&email, Some(30))).await;
    assert_eq!(created.status, 202, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    acknowledge(&app, &id).await;
    let acked = Utc::now();
    let shown = detail(&app, &id).await;
    assert_eq!(shown["policy"]["ack_timeout_minutes"], 30);
    let due = chrono::DateTime::parse_from_rfc3339(
        shown["next_escalation_at"]
            .as_str()
            .expect("the timeout is due"),
    )
    .expect("rfc3339");
    assert!(
        (due.with_timezone(&Utc) - acked - TimeDelta::minutes(30))
            .num_seconds()
            .abs()
            <= 5
    );

    // Not yet: nothing happens at minute 29.
    let early = app.escalate_at(acked + TimeDelta::minutes(29)).await;
    assert_eq!(
        (early.ack_timeouts, early.levels_fired),
        (0, 0),
        "{early:?}"
    );

    // Minute 31: triggered again, level 0 of a new round in the same run.
    let run = app.escalate_at(acked + TimeDelta::minutes(31)).await;
    assert_eq!((run.ack_timeouts, run.levels_fired), (1, 1), "{run:?}");
    let shown = detail(&app, &id).await;
    assert_eq!(shown["status"], "triggered");
    assert!(shown["acknowledged"].is_null());
    assert_eq!(shown["current_round"], 1);
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM event_log WHERE event_type = 'escalation.ack_timed_out' \
             AND (detail->>'round')::int = 1 AND (detail->>'ack_timeout_minutes')::int = 30"
        )
        .await,
        1
    );
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    assert_eq!(app.emails_to(&email).await.len(), 2, "paged again");
    // Overlapping runs later change nothing more.
    let (a, b) = tokio::join!(
        app.escalate_at(acked + TimeDelta::minutes(32)),
        app.escalate_at(acked + TimeDelta::minutes(32))
    );
    assert_eq!(a.ack_timeouts + b.ack_timeouts, 0);

    // The new pass has its repeat again: one more round, then exhausted.
    app.escalate_at(acked + TimeDelta::minutes(37)).await;
    let last = app.escalate_at(acked + TimeDelta::minutes(43)).await;
    assert_eq!(last.exhausted, 1, "{last:?}");
    let rounds: Vec<i64> = detail(&app, &id).await["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| d["round"].as_i64().expect("round"))
        .collect();
    assert_eq!(rounds, [0, 1, 2]);
}

#[tokio::test]
async fn a_resolution_before_the_timeout_or_no_timeout_stays_quiet() {
    let app = TestApp::spawn().await;
    let email = unique_email("ana");
    let timed = app.post_escalation(&paging(&email, Some(10))).await;
    let timed = timed.json()["id"].as_str().expect("id").to_owned();
    let plain = app
        .post_escalation(&{
            let mut v = paging(&email, None);
            v["dedup_key"] = json!("plain");
            v
        })
        .await;
    assert_eq!(plain.status, 202, "{}", plain.text);
    let plain = plain.json()["id"].as_str().expect("id").to_owned();
    acknowledge(&app, &timed).await;
    acknowledge(&app, &plain).await;
    assert!(detail(&app, &plain).await["next_escalation_at"].is_null());
    let resolve = app
        .api("POST", &format!("/v1/escalations/{timed}/resolve"), None)
        .await;
    assert_eq!(resolve.status, 200, "{}", resolve.text);

    let run = app.escalate_at(Utc::now() + TimeDelta::days(2)).await;
    assert_eq!((run.ack_timeouts, run.levels_fired), (0, 0), "{run:?}");
    assert_eq!(detail(&app, &timed).await["status"], "resolved");
    assert_eq!(detail(&app, &plain).await["status"], "acknowledged");
}

#[tokio::test]
async fn an_ack_timeout_out_of_range_is_400() {
    let app = TestApp::spawn().await;
    for bad in [0, 1441] {
        let got = app
            .post_escalation(&paging(&unique_email("ana"), Some(bad)))
            .await;
        assert_eq!(got.status, 400, "{bad}: {}", got.text);
        assert_eq!(got.json()["error"]["field"], "policy.ack_timeout_minutes");
    }
}
