//! The retry sweep: the outbox, due retries, expired leases, exhaustion, suppression,
//! overlapping runs and the time budget.

use std::time::{Duration, Instant};

use herald::domain::Budget;
use herald::queue::Queues;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    TestApp, config_for, email_notification, escalation_for, missing_queues, sdk_config,
    unique_email,
};

/// Posts an escalation through an ingest whose SQS send always fails (its queue does not
/// exist): the rows are stored `queued` and nothing is enqueued.
async fn ingest_with_sqs_down(app: &mut TestApp, to: &str) -> (String, Uuid) {
    let sdk = sdk_config().await;
    let broken = config_for(&app.db_url, &missing_queues());
    let queues = Queues::new(&broken, &herald::aws_sdk_sqs::Client::new(&sdk));
    let broken = herald_ingest::Deps {
        queues: herald::warm::Warm::ready(queues),
        ..app.ingest.clone()
    };
    let working = std::mem::replace(&mut app.ingest, broken);
    let created = app.post_escalation(&escalation_for(to)).await;
    app.ingest = working;
    assert_eq!(created.status, 202, "{}", created.text);
    let created = created.json();
    (
        created["id"].as_str().expect("id").to_owned(),
        email_notification(&created),
    )
}

async fn status_of(app: &TestApp, id: Uuid) -> (String, i32) {
    let client = app.pool.get().await.expect("conn");
    let row = client
        .query_one(
            "SELECT status, attempt_count FROM notification_log WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn outbox_rows_the_sqs_send_lost_are_enqueued_once_and_sent() {
    let mut app = TestApp::spawn().await;
    app.retry.settings.outbox_grace = Duration::ZERO;
    let to = unique_email("outbox");
    let (_, id) = ingest_with_sqs_down(&mut app, &to).await;
    assert_eq!(app.queue_depth().await, 0, "nothing reached SQS");
    assert_eq!(status_of(&app, id).await.0, "queued");

    // Two sweeps overlap: the row is enqueued exactly once.
    let (a, b) = tokio::join!(app.retry_once(), app.retry_once());
    assert_eq!(a.requeued_outbox + b.requeued_outbox, 1, "{a:?} {b:?}");
    assert_eq!(app.queue_depth().await, 1);

    assert_eq!(app.dispatch_all().await, 1);
    assert_eq!(app.emails_to(&to).await.len(), 1);
    assert_eq!(status_of(&app, id).await, ("sent".into(), 1));

    // Nothing is left for the next run.
    let quiet = app.retry_once().await;
    assert_eq!(
        quiet.requeued_outbox + quiet.requeued_failed,
        0,
        "{quiet:?}"
    );
}

#[tokio::test]
async fn queued_rows_within_the_grace_period_are_left_to_their_message() {
    let app = TestApp::spawn().await;
    let to = unique_email("fresh");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let summary = app.retry_once().await;
    assert_eq!(summary.requeued_outbox, 0, "grace is 60 s by default");
    assert_eq!(app.queue_depth().await, 1, "only ingest's own message");
    assert_eq!(app.dispatch_all().await, 1);
    assert_eq!(
        status_of(&app, email_notification(&created)).await.0,
        "sent"
    );
}

#[tokio::test]
async fn a_due_transient_failure_is_sent_again_with_its_attempt_counted() {
    let app = TestApp::spawn().await;
    let to = unique_email("due");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let id = email_notification(&created);
    app.dispatch_all().await;
    // As the dispatcher records a throttled first attempt whose retry is now due.
    app.execute(&format!(
        "UPDATE notification_log SET status = 'failed', retryable = true, error = 'Throttling', \
         next_attempt_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;

    let summary = app.retry_once().await;
    assert_eq!(summary.requeued_failed, 1, "{summary:?}");
    assert_eq!(app.dispatch_all().await, 1);
    assert_eq!(status_of(&app, id).await, ("sent".into(), 2));
    assert_eq!(
        app.emails_to(&to).await.len(),
        2,
        "the first send plus the retry"
    );
}

#[tokio::test]
async fn a_retry_that_is_not_due_yet_stays_put() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("later")))
        .await
        .json();
    let id = email_notification(&created);
    app.dispatch_all().await;
    app.execute(&format!(
        "UPDATE notification_log SET status = 'failed', retryable = true, \
         next_attempt_at = now() + interval '5 minutes' WHERE id = '{id}'"
    ))
    .await;
    let summary = app.retry_once().await;
    assert_eq!(summary.requeued_failed, 0);
    assert_eq!(status_of(&app, id).await.0, "failed");
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_and_retried_in_the_same_run() {
    let app = TestApp::spawn().await;
    let to = unique_email("lease");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let id = email_notification(&created);
    // The dispatcher claimed the row (attempt 1) and died before recording.
    app.execute(&format!(
        "UPDATE notification_log SET status = 'sending', attempt_count = 1, \
         last_attempt_at = now() - interval '10 minutes', \
         lease_expires_at = now() - interval '5 minutes', next_attempt_at = NULL WHERE id = '{id}'"
    ))
    .await;
    app.poller
        .sqs
        .purge_queue()
        .queue_url(&app.queue.url)
        .send()
        .await
        .expect("purge");

    let summary = app.retry_once().await;
    assert_eq!(summary.reclaimed_leases, 1, "{summary:?}");
    assert_eq!(summary.requeued_failed, 1, "due at once: {summary:?}");
    assert_eq!(app.dispatch_all().await, 1);
    assert_eq!(status_of(&app, id).await, ("sent".into(), 2));
    let events = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM event_log WHERE notification_id = '{id}' \
             AND event_type = 'notification.lease_expired'"
        ))
        .await;
    assert_eq!(events, 1);
}

#[tokio::test]
async fn a_lease_that_expires_on_the_last_attempt_is_a_final_failure_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("last")))
        .await
        .json();
    let id = email_notification(&created);
    app.execute(&format!(
        "UPDATE notification_log SET status = 'sending', attempt_count = 6, error = 'Throttling', \
         lease_expires_at = now() - interval '1 second', next_attempt_at = NULL WHERE id = '{id}'"
    ))
    .await;
    let summary = app.retry_once().await;
    assert_eq!(summary.exhausted, 1, "{summary:?}");
    assert_eq!(summary.requeued_failed, 0);
    let client = app.pool.get().await.expect("conn");
    let row = client
        .query_one(
            "SELECT status, next_attempt_at IS NULL, error FROM notification_log WHERE id = $1",
            &[&id],
        )
        .await
        .expect("row");
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, bool>(1), "final: no next attempt");
    let error: String = row.get(2);
    assert!(
        error.contains("lease expired") && error.contains("Throttling"),
        "{error}"
    );
    let detail: Value = client
        .query_one(
            "SELECT detail FROM event_log WHERE notification_id = $1 AND event_type = 'notification.failed'",
            &[&id],
        )
        .await
        .expect("audit row")
        .get(0);
    assert_eq!(detail["exhausted"], true);
    assert_eq!(detail["attempt"], 6);
}

#[tokio::test]
async fn a_due_retry_of_an_acknowledged_escalation_is_suppressed_not_sent() {
    let app = TestApp::spawn().await;
    let to = unique_email("acked");
    let created = app.post_escalation(&escalation_for(&to)).await.json();
    let id = email_notification(&created);
    let escalation_id = created["id"].as_str().expect("id").to_owned();
    app.dispatch_all().await;
    // Acknowledged behind the sweep's back (no suppression by the API path), with a retry
    // still due: the sweep itself must not send it.
    app.execute(&format!(
        "UPDATE notification_log SET status = 'failed', retryable = true, \
         next_attempt_at = now() - interval '1 second' WHERE id = '{id}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE escalations SET status = 'acknowledged', acknowledged_at = now() WHERE id = '{escalation_id}'"
    ))
    .await;
    let summary = app.retry_once().await;
    assert_eq!(summary.suppressed, 1, "{summary:?}");
    assert_eq!(summary.requeued_failed, 0);
    assert_eq!(app.queue_depth().await, 0);
    assert_eq!(status_of(&app, id).await.0, "suppressed");
    assert_eq!(app.emails_to(&to).await.len(), 1, "only the first send");
}

#[tokio::test]
async fn a_spent_budget_stops_the_run_before_any_work() {
    let mut app = TestApp::spawn().await;
    app.retry.settings.outbox_grace = Duration::ZERO;
    let (_, id) = ingest_with_sqs_down(&mut app, &unique_email("budget")).await;
    let summary = app
        .retry
        .run(Budget::for_duration(Instant::now(), Duration::ZERO))
        .await
        .expect("run");
    assert!(summary.stopped_early);
    assert_eq!(
        status_of(&app, id).await.0,
        "queued",
        "left for the next run"
    );
    let next = app.retry_once().await;
    assert_eq!(next.requeued_outbox, 1);
    assert!(!next.stopped_early);
}

#[tokio::test]
async fn small_batches_drain_everything_due_in_one_run() {
    let mut app = TestApp::spawn().await;
    app.retry.settings.outbox_grace = Duration::ZERO;
    app.retry.settings.batch_size = 3;
    let mut ids = Vec::new();
    for i in 0..10 {
        let (_, id) = ingest_with_sqs_down(&mut app, &unique_email(&format!("b{i}"))).await;
        ids.push(id);
    }
    let summary = app.retry_once().await;
    assert_eq!(summary.requeued_outbox, 10, "{summary:?}");
    assert_eq!(app.dispatch_all().await, 10);
    for id in ids {
        assert_eq!(status_of(&app, id).await.0, "sent");
    }
}

#[tokio::test]
async fn an_expired_lease_of_an_answered_escalation_is_suppressed_not_failed() {
    let app = TestApp::spawn().await;
    let created = app
        .post_escalation(&escalation_for(&unique_email("answered")))
        .await
        .json();
    let id = email_notification(&created);
    let escalation_id = created["id"].as_str().expect("id").to_owned();
    app.execute(&format!(
        "UPDATE notification_log SET status = 'sending', attempt_count = 6, \
         lease_expires_at = now() - interval '1 second', next_attempt_at = NULL WHERE id = '{id}'"
    ))
    .await;
    app.execute(&format!(
        "UPDATE escalations SET status = 'resolved', resolved_at = now() WHERE id = '{escalation_id}'"
    ))
    .await;
    let summary = app.retry_once().await;
    assert_eq!(summary.suppressed, 1, "{summary:?}");
    assert_eq!(summary.exhausted, 0, "no alarm for a page nobody needs");
    assert_eq!(status_of(&app, id).await.0, "suppressed");
}

/// Makes `n` sent emails look like throttled first attempts whose retry is due.
async fn due_failures(app: &mut TestApp, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let created = app
            .post_escalation(&escalation_for(&unique_email(&format!("o{i}"))))
            .await
            .json();
        ids.push(email_notification(&created));
    }
    app.dispatch_all().await;
    app.execute(
        "UPDATE notification_log SET status = 'failed', retryable = true, error = 'Throttling', \
         next_attempt_at = now() - interval '1 second' WHERE channel = 'email'",
    )
    .await;
    ids
}

#[tokio::test]
async fn overlapping_sweeps_enqueue_each_due_row_exactly_once() {
    let mut app = TestApp::spawn().await;
    app.retry.settings.batch_size = 4;
    let ids = due_failures(&mut app, 30).await;
    let (a, b, c) = tokio::join!(app.retry_once(), app.retry_once(), app.retry_once());
    assert_eq!(
        a.requeued_failed + b.requeued_failed + c.requeued_failed,
        30,
        "{a:?} {b:?} {c:?}"
    );
    assert_eq!(app.queue_depth().await, 30, "one message per row");
    assert_eq!(app.dispatch_all().await, 30);
    for id in ids {
        assert_eq!(status_of(&app, id).await, ("sent".into(), 2));
    }
}

#[tokio::test]
async fn rows_the_sweep_could_not_enqueue_wait_in_the_outbox_and_go_out_later() {
    let mut app = TestApp::spawn().await;
    let ids = due_failures(&mut app, 12).await;
    // SQS refuses everything for this run.
    let sdk = sdk_config().await;
    let broken = config_for(&app.db_url, &missing_queues());
    let working_queues = std::mem::replace(
        &mut app.retry.queues,
        herald::warm::Warm::ready(Queues::new(
            &broken,
            &herald::aws_sdk_sqs::Client::new(&sdk),
        )),
    );
    let down = app.retry_once().await;
    assert_eq!(down.enqueue_failed, 12, "{down:?}");
    assert_eq!(down.requeued_failed, 0);
    for id in &ids {
        assert_eq!(status_of(&app, *id).await.0, "queued", "kept, not lost");
    }

    // SQS is back; once the grace has passed the outbox sends them.
    app.retry.queues = working_queues;
    app.retry.settings.outbox_grace = Duration::ZERO;
    let back = app.retry_once().await;
    assert_eq!(back.requeued_outbox, 12, "{back:?}");
    assert_eq!(app.dispatch_all().await, 12);
    for id in ids {
        assert_eq!(status_of(&app, id).await, ("sent".into(), 2));
    }
}
