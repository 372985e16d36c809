//! People connect their Microsoft Teams identity (seed 001's `teams_connections`): the
//! sign-in redirect carries a signed, single-use state; the callback trades the code at
//! the token endpoint (the local fake), keeps who signed in and their refresh token
//! sealed; listed without a secret, shown `expired` once the token lapses, removed.

use std::collections::HashMap;

use herald_local::fakes::FAKE_ENTRA_TENANT;
use herald_local::stack::{LOCAL_TEAMS_CLIENT_ID, LOCAL_TEAMS_CLIENT_SECRET};

use crate::helpers::{TestApp, TestResponse, capture_logs};
use crate::slack_install::{confirm, get};

const BO: &str = "6e1f4a1c-5b2e-4d9a-9c1b-2a3b4c5d6e7f";
const CY: &str = "0b7e9d64-8a3c-4f21-b5d0-9e8f7a6b5c4d";

/// Microsoft's sign-in page query for `recipient`, as the browser is sent there.
async fn start(app: &TestApp, recipient: &str) -> HashMap<String, String> {
    let answer = get(
        app,
        &format!("/v1/recipients/{recipient}/connections/teams"),
    )
    .await;
    assert_eq!(answer.status, 302, "{}", answer.text);
    let location = answer
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned();
    let url = url::Url::parse(&location).expect("a URL");
    assert!(
        url.path()
            .ends_with("/login/organizations/oauth2/v2.0/authorize"),
        "{location}"
    );
    url.query_pairs().into_owned().collect()
}

async fn callback(app: &TestApp, code: &str, state: &str) -> TestResponse {
    confirm(app, "teams", code, state, |_| ()).await
}

#[tokio::test]
async fn a_person_connects_their_teams_identity_with_the_token_sealed() {
    let (_guard, logs) = capture_logs();
    let app = TestApp::spawn().await;
    let query = start(&app, "u-bo").await;
    assert_eq!(query["client_id"], LOCAL_TEAMS_CLIENT_ID);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "openid profile offline_access User.Read");
    assert_eq!(
        query["redirect_uri"],
        format!(
            "{}/v1/integrations/teams/callback",
            crate::helpers::PUBLIC_BASE_URL
        )
    );
    let done = callback(&app, &format!("person-{BO}"), &query["state"]).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json()["aad_object_id"], BO);
    assert_eq!(done.json()["aad_tenant_id"], FAKE_ENTRA_TENANT);

    // Microsoft was asked once, with the app's secret and the code grant.
    let calls = app.fakes.microsoft_token_calls().await;
    assert_eq!(calls.len(), 1);

    // The refresh token is sealed, never listed or logged.
    let refresh = format!("0.fake-refresh-person-{BO}");
    let stored: Vec<u8> = app
        .pool
        .get()
        .await
        .expect("conn")
        .query_one(
            "SELECT ciphertext FROM credentials WHERE kind = 'teams_user_token'",
            &[],
        )
        .await
        .expect("the sealed token")
        .get(0);
    assert!(!String::from_utf8_lossy(&stored).contains("fake-refresh"));
    let listing = get(&app, "/v1/integrations").await;
    let connection = listing.json()["teams_connections"][0].clone();
    assert_eq!(connection["recipient_id"], "u-bo", "{}", listing.text);
    assert_eq!(connection["aad_object_id"], BO);
    assert_eq!(connection["display_name"], "Fake Person");
    assert_eq!(connection["status"], "connected");
    assert!(!listing.text.contains("fake-refresh"), "{}", listing.text);
    assert!(!listing.text.contains("fake-access"), "{}", listing.text);
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    assert!(
        !logs.contains(&refresh),
        "the refresh token is in a log line"
    );
    assert!(
        !logs.contains(LOCAL_TEAMS_CLIENT_SECRET),
        "the client secret is in a log line"
    );

    // The state worked once.
    let again = callback(&app, &format!("person-{BO}"), &query["state"]).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json()["error"]["field"], "state");
    assert_eq!(app.fakes.microsoft_token_calls().await.len(), 1);

    // One Microsoft identity is one recipient.
    let query = start(&app, "u-cy").await;
    let taken = callback(&app, &format!("person-{BO}"), &query["state"]).await;
    assert_eq!(taken.status, 409, "{}", taken.text);

    // Removed once (204), then nothing to remove (404), the token with it.
    for expected in [204, 404] {
        let bearer = app.bearer();
        let answer = app
            .request(
                "DELETE",
                "/v1/recipients/u-bo/connections/teams",
                &[("authorization", bearer.as_str())],
                b"",
            )
            .await;
        assert_eq!(answer.status, expected, "{}", answer.text);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM credentials WHERE kind = 'teams_user_token'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_lapsed_token_is_shown_expired_to_admins() {
    let app = TestApp::spawn().await;
    // Without offline_access Microsoft gives an access token only: it lapses in an hour.
    let query = start(&app, "u-cy").await;
    let done = callback(&app, &format!("noffline-{CY}"), &query["state"]).await;
    assert_eq!(done.status, 200, "{}", done.text);
    let listing = get(&app, "/v1/integrations").await.json();
    assert_eq!(listing["teams_connections"][0]["status"], "connected");
    app.scalar_i64(
        "WITH x AS (UPDATE teams_connections SET expires_at = now() - interval '1 minute' RETURNING 1) \
         SELECT count(*) FROM x",
    )
    .await;
    let listing = get(&app, "/v1/integrations").await.json();
    assert_eq!(
        listing["teams_connections"][0]["status"], "expired",
        "{listing}"
    );
    // Connecting again (with offline_access this time) makes it good for 90 days.
    let query = start(&app, "u-cy").await;
    assert_eq!(
        callback(&app, &format!("person-{CY}"), &query["state"])
            .await
            .status,
        200
    );
    let listing = get(&app, "/v1/integrations").await.json();
    assert_eq!(listing["teams_connections"][0]["status"], "connected");
}

#[tokio::test]
async fn forged_states_refused_codes_and_denials_store_nothing() {
    let app = TestApp::spawn().await;
    // A Slack state is not a Teams state, and neither is garbage.
    let slack = get(&app, "/v1/integrations/slack/install").await.json();
    let slack_state: String = url::Url::parse(slack["authorize_url"].as_str().expect("url"))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    for state in [slack_state.as_str(), "garbage"] {
        let refused = callback(&app, &format!("person-{BO}"), state).await;
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert_eq!(refused.json()["error"]["field"], "state");
    }
    assert!(app.fakes.microsoft_token_calls().await.is_empty());

    let query = start(&app, "u-bo").await;
    let refused = callback(&app, "bad-code", &query["state"]).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(refused.text.contains("invalid_grant"), "{}", refused.text);
    let denied = app
        .request(
            "GET",
            "/v1/integrations/teams/callback?error=access_denied&state=x",
            &[],
            b"",
        )
        .await;
    assert_eq!(denied.status, 400, "{}", denied.text);
    let anonymous = app
        .request("GET", "/v1/recipients/u-bo/connections/teams", &[], b"")
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM teams_connections")
            .await,
        0
    );
}
