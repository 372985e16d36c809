//! The API's OpenAPI document: served by ingest without an API key, the checked-in copy
//! (a test in `herald-local` fails when it is not the code's document).

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_is_served_without_a_key() {
    let app = TestApp::spawn().await;
    let got = app.request("GET", "/v1/openapi.json", &[], b"").await;
    assert_eq!(got.status, 200);
    let doc: Value = got.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/escalations"]["post"].is_object());
    assert!(doc["paths"]["/v1/templates/{channel}"]["put"].is_object());
}
