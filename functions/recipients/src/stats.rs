//! `GET /v1/stats/deliveries?window=1h`: the tenant's delivery figures per channel over
//! the rows queued in the window (see `herald::db::stats`).

use chrono::{DateTime, Utc};
use herald::db::stats::{self, ChannelStats};
use herald::db::tenants::Principal;
use herald::domain::stats::parse_window;
use herald::http::{ApiError, json};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::handlers::{invalid, query};

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryStats {
    window: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    channels: Vec<ChannelStats>,
}

pub async fn deliveries(
    client: &herald::db::Client,
    principal: &Principal,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let window = query(req, "window").unwrap_or_else(|| "1h".to_owned());
    let span = parse_window(&window).map_err(|why| invalid("window", &why))?;
    let to = Utc::now();
    let from = to - span;
    let channels = stats::deliveries(client, principal.tenant_id, from, to).await?;
    Ok(json(
        StatusCode::OK,
        &DeliveryStats {
            window,
            from,
            to,
            channels,
        },
    ))
}
