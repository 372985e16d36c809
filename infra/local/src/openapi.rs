//! The API's OpenAPI document, made from the code: `herald-local openapi --write` writes
//! it to `shared/openapi.json` (which ingest serves at `GET /v1/openapi.json`),
//! `--check` fails when the checked-in copy is stale, and so does this module's test.

use std::path::PathBuf;

use utoipa::OpenApi as _;

/// The document: ingest's and recipients' operations, with what they share.
pub fn document() -> utoipa::openapi::OpenApi {
    herald::http::openapi::document([
        herald_ingest::openapi::IngestApi::openapi(),
        herald_recipients::openapi::RecipientsApi::openapi(),
    ])
}

/// The document as checked in: pretty JSON, one trailing newline.
pub fn json() -> String {
    herald::http::openapi::to_json(&document())
}

/// Where the checked-in copy lives.
pub fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/openapi.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when the code's document and `shared/openapi.json` differ (what ingest
    /// serves would be stale). `HERALD_UPDATE_OPENAPI=1` rewrites the copy instead.
    #[test]
    fn the_checked_in_document_is_the_codes() {
        let made = json();
        let path = checked_in_path();
        if std::env::var_os("HERALD_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &made).expect("writing shared/openapi.json");
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == made,
            "shared/openapi.json is not the document the code makes: run \
             `cargo run -q --bin herald-local -- openapi --write` (or this test with \
             HERALD_UPDATE_OPENAPI=1) and commit it"
        );
        // And ingest serves that same copy.
        assert_eq!(herald_ingest::http_handler::OPENAPI_JSON, checked_in);
    }

    #[test]
    fn every_operation_has_an_id_and_answers() {
        let doc: serde_json::Value = serde_json::from_str(&json()).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let mut ids = std::collections::HashSet::new();
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("path item") {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{method} {path}: operationId");
                assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
                assert!(
                    op["responses"]
                        .as_object()
                        .is_some_and(|r| r.contains_key("500")),
                    "{method} {path}: the shared error answers"
                );
            }
        }
    }
}
