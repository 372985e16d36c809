//! The escalation engine against the real store: tiers over time, levels, repeats,
//! exhaustion, overlapping sweeps, and nothing after an acknowledgement. Time moves by
//! handing the engine a later clock.

use chrono::{DateTime, TimeDelta, Utc};
use herald::db::notifications::{self, AttemptOutcome, AttemptResult};
use herald::domain::Channel;
use serde_json::{Value, json};

use crate::helpers::{TestApp, unique_email, unique_phone};

fn minutes(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

/// Alice on email then SMS at level 0, Bob on email at minute 15.
fn two_levels(repeat: u8) -> (Value, String) {
    let alice_phone = unique_phone();
    let body = json!({
        "title": "Payments API 5xx above 20%",
        "priority": "high",
        "recipients": [
            { "id": "alice", "email": unique_email("alice"), "phone": alice_phone },
            { "id": "bob", "email": unique_email("bob") }
        ],
        "channels": { "primary": ["email"], "secondary": ["sms"] },
        "policy": {
            "levels": [
                { "after_minutes": 0, "recipients": ["alice"] },
                { "after_minutes": 15, "recipients": ["bob"] }
            ],
            "repeat": repeat
        }
    });
    (body, alice_phone)
}

async fn post(app: &TestApp, body: &Value) -> (String, DateTime<Utc>) {
    let created = app.post_escalation(body).await;
    assert_eq!(created.status, 202, "{}", created.text);
    (
        created.json()["id"].as_str().expect("id").to_owned(),
        Utc::now(),
    )
}

async fn detail(app: &TestApp, id: &str) -> Value {
    let got = app.api("GET", &format!("/v1/escalations/{id}"), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    got.json()
}

/// (round, level, recipient, tier, channel, status) of every delivery, in order.
fn steps(detail: &Value) -> Vec<(i64, i64, String, String, String, String)> {
    detail["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["round"].as_i64().expect("round"),
                d["level"].as_i64().expect("level"),
                d["recipient_id"].as_str().expect("recipient").to_owned(),
                d["tier"].as_str().expect("tier").to_owned(),
                d["channel"].as_str().expect("channel").to_owned(),
                d["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn step(
    round: i64,
    level: i64,
    who: &str,
    tier: &str,
    channel: &str,
    status: &str,
) -> (i64, i64, String, String, String, String) {
    (
        round,
        level,
        who.to_owned(),
        tier.to_owned(),
        channel.to_owned(),
        status.to_owned(),
    )
}

async fn events(app: &TestApp, id: &str) -> Vec<String> {
    let client = app.pool.get().await.expect("conn");
    client
        .query(
            "SELECT event_type FROM event_log WHERE escalation_id = $1::text::uuid AND event_type LIKE 'escalation.%' ORDER BY id",
            &[&id],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn an_unanswered_page_goes_over_tiers_and_levels_then_ends_exhausted() {
    let app = TestApp::spawn().await;
    let (body, alice_phone) = two_levels(0);
    let (id, t0) = post(&app, &body).await;
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);
    let d = detail(&app, &id).await;
    assert_eq!(d["current_level"], 0);
    assert_eq!(d["policy"]["levels"][1]["after_minutes"], 15);
    assert_eq!(d["policy"]["levels"][0]["secondary_after_minutes"], 5);

    // Before secondary_after: nothing.
    let early = app.escalate_at(t0 + minutes(4)).await;
    assert_eq!(early.escalations, 0, "{early:?}");

    // Alice did not answer in 5 minutes: her SMS.
    let run = app.escalate_at(t0 + minutes(6)).await;
    assert_eq!((run.tiers_started, run.enqueued), (1, 1), "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.sms_to(&alice_phone).await.len(), 1);

    // Level 1 at minute 15: Bob.
    assert_eq!(app.escalate_at(t0 + minutes(14)).await.levels_fired, 0);
    let run = app.escalate_at(t0 + minutes(16)).await;
    assert_eq!((run.levels_fired, run.enqueued), (1, 1), "{run:?}");
    assert_eq!(app.dispatch_channel(Channel::Email).await, 1);

    // Bob had his 5 minutes: the only round is over.
    let run = app.escalate_at(t0 + minutes(22)).await;
    assert_eq!(run.exhausted, 1, "{run:?}");
    assert_eq!(app.escalate_at(t0 + minutes(120)).await.escalations, 0);

    let d = detail(&app, &id).await;
    assert_eq!(d["status"], "triggered");
    assert_eq!(d["current_level"], 1);
    assert!(d["exhausted_at"].is_string(), "{d}");
    assert!(d["next_escalation_at"].is_null(), "{d}");
    assert_eq!(
        steps(&d),
        [
            step(0, 0, "alice", "primary", "email", "sent"),
            step(0, 0, "alice", "secondary", "sms", "sent"),
            step(0, 1, "bob", "primary", "email", "sent"),
            // Bob has no phone: his SMS tier is recorded, suppressed with its reason,
            // and as it gave up his level is done at once.
            step(0, 1, "bob", "secondary", "sms", "suppressed"),
        ]
    );
    assert_eq!(
        events(&app, &id).await,
        [
            "escalation.triggered",
            "escalation.level_fired",
            "escalation.tier_started",
            "escalation.level_fired",
            "escalation.tier_started",
            "escalation.exhausted"
        ]
    );
}

#[tokio::test]
async fn repeats_page_the_levels_again_in_a_new_round() {
    let app = TestApp::spawn().await;
    let (body, _) = two_levels(1);
    let (id, t0) = post(&app, &body).await;
    for m in [6, 16, 22] {
        app.escalate_at(t0 + minutes(m)).await;
    }
    let d = detail(&app, &id).await;
    assert_eq!(d["current_round"], 1, "{d}");
    assert!(d["exhausted_at"].is_null());
    let round_1: Vec<_> = steps(&d).into_iter().filter(|s| s.0 == 1).collect();
    assert_eq!(round_1, [step(1, 0, "alice", "primary", "email", "queued")]);
    // The round's own clock: Bob comes 15 minutes after it started.
    for m in [28, 36] {
        app.escalate_at(t0 + minutes(m)).await;
    }
    let run = app.escalate_at(t0 + minutes(38)).await;
    assert_eq!(run.levels_fired, 1, "{run:?}");
    let run = app.escalate_at(t0 + minutes(44)).await;
    assert_eq!(run.exhausted, 1, "{run:?}");
    // Two rounds of Alice's email and SMS and Bob's email and (suppressed) SMS.
    assert_eq!(steps(&detail(&app, &id).await).len(), 8);
}

#[tokio::test]
async fn nothing_fires_after_an_acknowledgement() {
    let app = TestApp::spawn().await;
    let (body, _) = two_levels(3);
    let (id, t0) = post(&app, &body).await;
    let ack = app
        .api("POST", &format!("/v1/escalations/{id}/acknowledge"), None)
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    for m in [6, 16, 60, 600] {
        let run = app.escalate_at(t0 + minutes(m)).await;
        assert_eq!(run.escalations, 0, "{run:?}");
    }
    let d = detail(&app, &id).await;
    assert_eq!(steps(&d).len(), 1);
    assert!(d["next_escalation_at"].is_null());
}

/// An acknowledgement that waits on an engine run starting a tier: once the run
/// commits, the acknowledgement suppresses the rows it just wrote too (found by the
/// fault-injection test: they stayed `queued` on an acknowledged escalation).
#[tokio::test]
async fn an_acknowledgement_waiting_on_an_engine_run_suppresses_the_rows_it_wrote() {
    let app = TestApp::spawn().await;
    let (body, _) = two_levels(0);
    let (id, t0) = post(&app, &body).await;
    // Another session holds a lock the engine's write statement needs (the inbox table):
    // the run claims the escalation, then waits here.
    let holder = crate::helpers::connect(&app.db_url).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE notifications IN SHARE MODE")
        .await
        .expect("lock");
    // Waits until `n` sessions of this database wait on a lock.
    let waiting = |n: i64| {
        let app = &app;
        async move {
            for _ in 0..400 {
                let waiters = app
                    .scalar_i64(
                        "SELECT count(*) FROM pg_stat_activity \
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .await;
                if waiters >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            panic!("fewer than {n} sessions waited on a lock");
        }
    };
    let engine = app.escalate_at(t0 + minutes(6));
    let answer = async {
        // The engine's write waits on the inbox table; then the acknowledgement waits on
        // the escalation the engine holds; then the engine may go on.
        waiting(1).await;
        let path = format!("/v1/escalations/{id}/acknowledge");
        let ack = app.api("POST", &path, None);
        let release = async {
            waiting(2).await;
            holder.batch_execute("ROLLBACK").await.expect("release");
        };
        tokio::join!(ack, release).0
    };
    let (run, ack) = tokio::join!(engine, answer);
    assert_eq!(
        run.tiers_started, 1,
        "the engine started alice's SMS: {run:?}"
    );
    assert_eq!(ack.status, 200, "{}", ack.text);
    let d = detail(&app, &id).await;
    let statuses: Vec<(String, String)> = steps(&d)
        .into_iter()
        .map(|(_, _, _, _, channel, status)| (channel, status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("email".to_owned(), "suppressed".to_owned()),
            ("sms".to_owned(), "suppressed".to_owned())
        ]
    );
}

#[tokio::test]
async fn overlapping_sweeps_start_each_tier_once() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    let mut t0 = Utc::now();
    for _ in 0..12 {
        let (body, _) = two_levels(0);
        let (id, at) = post(&app, &body).await;
        ids.push(id);
        t0 = at;
    }
    let at = t0 + minutes(6);
    let (a, b, c) = tokio::join!(
        app.escalate_at(at),
        app.escalate_at(at),
        app.escalate_at(at)
    );
    assert_eq!(
        a.tiers_started + b.tiers_started + c.tiers_started,
        12,
        "{a:?} {b:?} {c:?}"
    );
    for id in &ids {
        let secondaries = steps(&detail(&app, id).await)
            .into_iter()
            .filter(|s| s.3 == "secondary")
            .count();
        assert_eq!(secondaries, 1);
    }
}

/// The `tier` rows of escalation `id` failed for good, recorded the way the dispatcher's
/// record statement does it (the same statement, through `notifications::record`).
async fn give_up(app: &TestApp, id: &str, tier: &str) {
    let client = app.pool.get().await.expect("conn");
    let rows = client
        .query(
            "UPDATE notification_log SET status = 'sending', attempt_count = attempt_count + 1 \
             WHERE escalation_id = $1::text::uuid AND tier = $2 RETURNING id, attempt_count",
            &[&id, &tier],
        )
        .await
        .expect("claim");
    let results: Vec<AttemptResult> = rows
        .iter()
        .map(|r| AttemptResult {
            id: r.get(0),
            attempt: r.get(1),
            outcome: AttemptOutcome::Failed {
                error: "bounced for good".into(),
                retryable: false,
                next_attempt_at: None,
            },
            revoked_credential: None,
        })
        .collect();
    notifications::record(&client, &results)
        .await
        .expect("record");
}

#[tokio::test]
async fn a_tier_that_failed_for_good_moves_on_without_waiting() {
    let app = TestApp::spawn().await;
    let (body, _) = two_levels(0);
    let (id, t0) = post(&app, &body).await;
    // Alice's email bounced for good a moment after it was queued (as the dispatcher
    // records it: the row final, the escalation due at once).
    give_up(&app, &id, "primary").await;
    let run = app.escalate_at(t0 + minutes(1)).await;
    assert_eq!(run.tiers_started, 1, "{run:?}");
    // Her SMS fails for good too: Bob does not wait for minute 15.
    give_up(&app, &id, "secondary").await;
    let run = app.escalate_at(t0 + minutes(2)).await;
    assert_eq!(run.levels_fired, 1, "{run:?}");
}

#[tokio::test]
async fn a_person_unreachable_on_primary_gets_the_next_tier_at_ingest() {
    let app = TestApp::spawn().await;
    let phone = unique_phone();
    let (id, _) = post(
        &app,
        &json!({
            "title": "Disk full on db-3", "priority": "critical",
            "recipients": [{ "id": "carol", "phone": phone }],
            "channels": { "primary": ["email"], "secondary": ["sms"], "fallback": ["voice"] }
        }),
    )
    .await;
    assert_eq!(
        steps(&detail(&app, &id).await),
        [
            step(0, 0, "carol", "primary", "email", "suppressed"),
            step(0, 0, "carol", "secondary", "sms", "queued"),
        ]
    );
    assert_eq!(app.dispatch_channel(Channel::Sms).await, 1);
    assert_eq!(app.sms_to(&phone).await.len(), 1);
}

#[tokio::test]
async fn a_bad_policy_is_400_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({ "levels": [{ "after_minutes": 0, "recipients": ["alice", "mallory"] }] }),
            "policy.levels[0].recipients[1]",
        ),
        (
            json!({ "levels": [{ "after_minutes": 5, "recipients": ["alice"] }] }),
            "policy.levels[0].after_minutes",
        ),
        (
            json!({ "levels": [{ "after_minutes": 0, "recipients": ["alice"] },
                            { "after_minutes": 0, "recipients": ["alice"] }] }),
            "policy.levels[1].after_minutes",
        ),
        (
            json!({ "levels": [{ "after_minutes": 0, "recipients": ["alice"] }], "repeat": 10 }),
            "policy.repeat",
        ),
        (
            json!({ "levels": [{ "after_minutes": 0, "recipients": ["alice"],
                              "secondary_after_minutes": 10, "fallback_after_minutes": 10 }] }),
            "policy.levels[0].fallback_after_minutes",
        ),
        (
            json!({ "levels": [{ "after_minutes": 0, "recipients": ["alice"],
                              "channels": { "primary": ["pager"] } }] }),
            "policy.levels[0].channels.primary[0]",
        ),
        (json!({ "levels": [] }), "policy.levels"),
        (json!("platform-oncall"), "policy"),
    ];
    for (policy, field) in cases {
        let got = app
            .post_escalation(&json!({
                "title": "t", "priority": "low",
                "recipients": [{ "id": "alice", "email": unique_email("a") }],
                "policy": policy
            }))
            .await;
        assert_eq!(got.status, 400, "{policy}: {}", got.text);
        assert_eq!(
            got.json()["error"]["field"],
            field,
            "{policy}: {}",
            got.text
        );
    }
    // Bob is listed but in no level: he would never be paged.
    let got = app
        .post_escalation(&json!({
            "title": "t", "priority": "low",
            "recipients": [{ "id": "alice", "email": unique_email("a") }, { "id": "bob", "email": unique_email("b") }],
            "policy": { "levels": [{ "after_minutes": 0, "recipients": ["alice"] }] }
        }))
        .await;
    assert_eq!(got.status, 400, "{}", got.text);
    assert_eq!(got.json()["error"]["field"], "recipients[1].id");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM escalations").await, 0);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM recipients").await, 0);
}
