//! The ingest function's operations in the API's OpenAPI document. Nothing here runs on
//! Lambda: `herald-local openapi` assembles the document from these descriptions and
//! the request and response types the handlers use (`herald::http::openapi`), checks it
//! in as `shared/openapi.json`, and ingest serves that copy at `GET /v1/openapi.json`.
//! Each function below only carries its route's description: [`crate::http_handler`]
//! serves the route.

use herald::domain::IngestRequest;
use utoipa::OpenApi;

use crate::api::{EscalationCreated, EscalationView, TimelineView, TransitionView};

/// The escalations API: `/v1/escalations*`, and the document itself.
#[derive(OpenApi)]
#[openapi(
    paths(create, get, timeline, acknowledge, resolve, document),
    tags((name = "escalations", description = "Page people until someone answers: create, read, acknowledge, resolve, and the audit log."))
)]
pub struct IngestApi;

/// Start an escalation (or count an alert on an open one with the same `dedup_key`).
///
/// The recipients' deliveries are stored and queued in one transaction before the
/// answer; the escalation policy (inline, stored by name, or everyone at once on
/// `channels`) decides who is paged when, and the engine keeps paging until someone
/// acknowledges.
#[utoipa::path(
    post,
    path = "/v1/escalations",
    tag = "escalations",
    operation_id = "createEscalation",
    request_body = IngestRequest,
    responses(
        (status = 202, description = "Stored; its first deliveries are queued", body = EscalationCreated,
            headers(("Location" = String, description = "The escalation's URL")),
            links(
                ("GetEscalation" = (operation_id = "getEscalation", parameters(("id" = "$response.body#/id")))),
                ("GetEscalationTimeline" = (operation_id = "getEscalationTimeline", parameters(("id" = "$response.body#/id")))),
                ("AcknowledgeEscalation" = (operation_id = "acknowledgeEscalation", parameters(("id" = "$response.body#/id")))),
                ("ResolveEscalation" = (operation_id = "resolveEscalation", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 200, description = "An escalation with the same `dedup_key` is open: the alert is counted on it and nothing more is sent", body = EscalationCreated),
    ),
    security(("api_key" = []))
)]
pub fn create() {}

/// An escalation, where its policy stands, and every delivery with its attempts.
#[utoipa::path(
    get,
    path = "/v1/escalations/{id}",
    tag = "escalations",
    operation_id = "getEscalation",
    params(("id" = uuid::Uuid, Path, description = "The escalation's id")),
    responses((status = 200, description = "The escalation", body = EscalationView)),
    security(("api_key" = []))
)]
pub fn get() {}

/// The escalation's audit log, oldest first, with who did what (it outlives the
/// escalation itself).
#[utoipa::path(
    get,
    path = "/v1/escalations/{id}/timeline",
    tag = "escalations",
    operation_id = "getEscalationTimeline",
    params(
        ("id" = uuid::Uuid, Path, description = "The escalation's id"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Entries per page (default 200)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `next_after` of the previous page"),
    ),
    responses((status = 200, description = "A page of the log", body = TimelineView)),
    security(("api_key" = []))
)]
pub fn timeline() {}

/// Acknowledge: someone is on it, so nothing more is sent.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/acknowledge",
    tag = "escalations",
    operation_id = "acknowledgeEscalation",
    params(("id" = uuid::Uuid, Path, description = "The escalation's id")),
    responses((status = 200, description = "Acknowledged (`changed` is false when it already was, or was resolved)", body = TransitionView)),
    security(("api_key" = []))
)]
pub fn acknowledge() {}

/// Resolve: the problem is over.
#[utoipa::path(
    post,
    path = "/v1/escalations/{id}/resolve",
    tag = "escalations",
    operation_id = "resolveEscalation",
    params(("id" = uuid::Uuid, Path, description = "The escalation's id")),
    responses((status = 200, description = "Resolved (`changed` is false when it already was)", body = TransitionView)),
    security(("api_key" = []))
)]
pub fn resolve() {}

/// This document (OpenAPI 3.1). No API key needed.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "escalations",
    operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The API's OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub fn document() {}
