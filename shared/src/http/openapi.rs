//! The API's OpenAPI 3.1 document, assembled from each HTTP function's operations (their
//! `openapi` modules, utoipa descriptions over the request and response types the
//! handlers use) with what every operation shares: the API-key scheme and the error
//! answers of [`super::ApiError`]. `herald-local openapi` writes it to
//! `shared/openapi.json`; a test fails when that copy and the code disagree.

use utoipa::PartialSchema as _;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, ResponseBuilder,
};

use super::{ErrorBody, ErrorDetail};

/// The error answers operations share: (status, component name, when).
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "A parameter or the body is not valid: `error.field` names it",
    ),
    (401, "Unauthorized", "The API key is missing or unknown"),
    (
        404,
        "NotFound",
        "No such thing in the caller's tenant (or no such route)",
    ),
    (
        413,
        "PayloadTooLarge",
        "The body is larger than 256 KiB (262,144 bytes)",
    ),
    (
        415,
        "UnsupportedMediaType",
        "The body is not JSON (`Content-Type: application/json`)",
    ),
    (
        500,
        "InternalError",
        "Herald failed; `error.request_id` ties the answer to its logs",
    ),
    (
        503,
        "Unavailable",
        "The store could not be reached in time: retry (`Retry-After`)",
    ),
];

/// The whole document: `parts` (one per function) merged, then the shared pieces.
pub fn document(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Herald")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Escalations that keep paging people (email, SMS, push, Slack, Teams, \
                     voice, in-app) until someone answers. Every operation but this \
                     document's takes the tenant's API key as `Authorization: Bearer`.",
                )),
        )
        .build();
    for part in parts {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "api_key",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The tenant's API key (`herald-local tenant create` prints one)",
                ))
                .build(),
        ),
    );
    components
        .schemas
        .insert("ErrorBody".to_owned(), ErrorBody::<'static>::schema());
    components
        .schemas
        .insert("ErrorDetail".to_owned(), ErrorDetail::<'static>::schema());
    for (_, name, description) in ERRORS {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            ),
        );
    }
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_errors(operation);
        }
    }
    doc
}

/// The document as JSON, pretty, with one trailing newline. utoipa 5.5 writes a Link
/// Object's fields in Rust's spelling (`operation_id`); OpenAPI's is `operationId`, and
/// schemathesis follows links only spelled that way. No schema of the API has a property
/// of those names, so only links' keys are renamed.
pub fn to_json(doc: &OpenApi) -> String {
    let mut text = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    for (rust, oas) in [
        ("\"operation_id\": ", "\"operationId\": "),
        ("\"operation_ref\": ", "\"operationRef\": "),
        ("\"request_body\": ", "\"requestBody\": "),
    ] {
        text = text.replace(rust, oas);
    }
    text.push('\n');
    text
}

/// The shared error answers an operation can give, unless it describes its own: 401 only
/// with an API key, 413 and 415 only with a JSON body (the form posts of the sign-in
/// callbacks are read as they come).
fn add_errors(operation: &mut Operation) {
    let keyed = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    for (status, name, _) in ERRORS {
        let applies = match status {
            401 => keyed,
            413 | 415 => has_body,
            _ => true,
        };
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))));
        }
    }
}
