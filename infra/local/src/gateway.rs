use std::net::IpAddr;

use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The function a route belongs to, as in `infra/template.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ingest,
    Recipients,
    MagicLink,
}

/// A matched route: its function, its API Gateway route key and path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub target: Target,
    pub route_key: &'static str,
    pub path_parameters: Vec<(&'static str, String)>,
}

/// The HTTP API's routes (keep in step with the template).
pub fn match_route(method: &str, path: &str) -> Option<RouteMatch> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let m = |target, route_key, params: Vec<(&'static str, String)>| {
        Some(RouteMatch {
            target,
            route_key,
            path_parameters: params,
        })
    };
    match (method, segments.as_slice()) {
        ("GET", ["v1", "openapi.json"]) => m(Target::Ingest, "GET /v1/openapi.json", vec![]),
        ("POST", ["v1", "escalations"]) => m(Target::Ingest, "POST /v1/escalations", vec![]),
        ("GET", ["v1", "escalations", id]) => m(
            Target::Ingest,
            "GET /v1/escalations/{id}",
            vec![("id", (*id).to_owned())],
        ),
        ("GET", ["v1", "escalations", id, "timeline"]) => m(
            Target::Ingest,
            "GET /v1/escalations/{id}/timeline",
            vec![("id", (*id).to_owned())],
        ),
        ("POST", ["v1", "escalations", id, "acknowledge"]) => m(
            Target::Ingest,
            "POST /v1/escalations/{id}/acknowledge",
            vec![("id", (*id).to_owned())],
        ),
        ("POST", ["v1", "escalations", id, "resolve"]) => m(
            Target::Ingest,
            "POST /v1/escalations/{id}/resolve",
            vec![("id", (*id).to_owned())],
        ),
        ("GET", ["v1", "recipients"]) => m(Target::Recipients, "GET /v1/recipients", vec![]),
        ("GET", ["v1", "system-events"]) => m(Target::Recipients, "GET /v1/system-events", vec![]),
        ("POST", ["v1", "system-events", id, "resolve"]) => m(
            Target::Recipients,
            "POST /v1/system-events/{id}/resolve",
            vec![("id", (*id).to_owned())],
        ),
        ("GET", ["v1", "stats", "deliveries"]) => {
            m(Target::Recipients, "GET /v1/stats/deliveries", vec![])
        }
        ("GET", ["v1", "templates"]) => m(Target::Recipients, "GET /v1/templates", vec![]),
        (method @ ("GET" | "PUT" | "DELETE"), ["v1", "templates", channel]) => m(
            Target::Recipients,
            match method {
                "GET" => "GET /v1/templates/{channel}",
                "PUT" => "PUT /v1/templates/{channel}",
                _ => "DELETE /v1/templates/{channel}",
            },
            vec![("channel", (*channel).to_owned())],
        ),
        ("GET", ["v1", "suppressions"]) => m(Target::Recipients, "GET /v1/suppressions", vec![]),
        ("DELETE", ["v1", "suppressions", channel, address]) => m(
            Target::Recipients,
            "DELETE /v1/suppressions/{channel}/{address}",
            vec![
                ("channel", (*channel).to_owned()),
                ("address", (*address).to_owned()),
            ],
        ),
        (method @ ("GET" | "POST"), ["v1", "policies"]) => m(
            Target::Recipients,
            if method == "GET" {
                "GET /v1/policies"
            } else {
                "POST /v1/policies"
            },
            vec![],
        ),
        (method @ ("GET" | "PUT" | "DELETE"), ["v1", "policies", name]) => m(
            Target::Recipients,
            match method {
                "GET" => "GET /v1/policies/{name}",
                "PUT" => "PUT /v1/policies/{name}",
                _ => "DELETE /v1/policies/{name}",
            },
            vec![("name", (*name).to_owned())],
        ),
        (method @ ("GET" | "PUT" | "DELETE"), ["v1", "recipients", id]) => m(
            Target::Recipients,
            match method {
                "GET" => "GET /v1/recipients/{id}",
                "PUT" => "PUT /v1/recipients/{id}",
                _ => "DELETE /v1/recipients/{id}",
            },
            vec![("id", (*id).to_owned())],
        ),
        ("GET", ["v1", "recipients", id, "notifications"]) => m(
            Target::Recipients,
            "GET /v1/recipients/{id}/notifications",
            vec![("id", (*id).to_owned())],
        ),
        ("GET", ["v1", "recipients", id, "notifications", "unread-count"]) => m(
            Target::Recipients,
            "GET /v1/recipients/{id}/notifications/unread-count",
            vec![("id", (*id).to_owned())],
        ),
        ("POST", ["v1", "recipients", id, "notifications", "read-all"]) => m(
            Target::Recipients,
            "POST /v1/recipients/{id}/notifications/read-all",
            vec![("id", (*id).to_owned())],
        ),
        ("POST", ["v1", "recipients", id, "notifications", nid, "read"]) => m(
            Target::Recipients,
            "POST /v1/recipients/{id}/notifications/{nid}/read",
            vec![("id", (*id).to_owned()), ("nid", (*nid).to_owned())],
        ),
        ("DELETE", ["v1", "recipients", id, "notifications", nid]) => m(
            Target::Recipients,
            "DELETE /v1/recipients/{id}/notifications/{nid}",
            vec![("id", (*id).to_owned()), ("nid", (*nid).to_owned())],
        ),
        ("PUT", ["v1", "recipients", id, "teams-webhook"]) => m(
            Target::Recipients,
            "PUT /v1/recipients/{id}/teams-webhook",
            vec![("id", (*id).to_owned())],
        ),
        ("DELETE", ["v1", "recipients", id, "teams-webhook"]) => m(
            Target::Recipients,
            "DELETE /v1/recipients/{id}/teams-webhook",
            vec![("id", (*id).to_owned())],
        ),
        ("PUT", ["v1", "teams", team, "teams-webhook"]) => m(
            Target::Recipients,
            "PUT /v1/teams/{team}/teams-webhook",
            vec![("team", (*team).to_owned())],
        ),
        ("DELETE", ["v1", "teams", team, "teams-webhook"]) => m(
            Target::Recipients,
            "DELETE /v1/teams/{team}/teams-webhook",
            vec![("team", (*team).to_owned())],
        ),
        ("GET", ["v1", "recipients", id, "opt-outs"]) => m(
            Target::Recipients,
            "GET /v1/recipients/{id}/opt-outs",
            vec![("id", (*id).to_owned())],
        ),
        (method @ ("PUT" | "DELETE"), ["v1", "recipients", id, "opt-outs", channel]) => m(
            Target::Recipients,
            if method == "PUT" {
                "PUT /v1/recipients/{id}/opt-outs/{channel}"
            } else {
                "DELETE /v1/recipients/{id}/opt-outs/{channel}"
            },
            vec![("id", (*id).to_owned()), ("channel", (*channel).to_owned())],
        ),
        (method @ ("GET" | "DELETE"), ["v1", "recipients", id, "connections", "slack"]) => m(
            Target::Recipients,
            if method == "GET" {
                "GET /v1/recipients/{id}/connections/slack"
            } else {
                "DELETE /v1/recipients/{id}/connections/slack"
            },
            vec![("id", (*id).to_owned())],
        ),
        (method @ ("GET" | "DELETE"), ["v1", "recipients", id, "connections", "teams"]) => m(
            Target::Recipients,
            if method == "GET" {
                "GET /v1/recipients/{id}/connections/teams"
            } else {
                "DELETE /v1/recipients/{id}/connections/teams"
            },
            vec![("id", (*id).to_owned())],
        ),
        (method @ ("GET" | "POST"), ["v1", "integrations", "teams", "callback"]) => m(
            Target::Recipients,
            if method == "GET" {
                "GET /v1/integrations/teams/callback"
            } else {
                "POST /v1/integrations/teams/callback"
            },
            vec![],
        ),
        ("GET", ["v1", "integrations"]) => m(Target::Recipients, "GET /v1/integrations", vec![]),
        ("GET", ["v1", "integrations", "slack", "install"]) => m(
            Target::Recipients,
            "GET /v1/integrations/slack/install",
            vec![],
        ),
        (method @ ("GET" | "POST"), ["v1", "integrations", "slack", "callback"]) => m(
            Target::Recipients,
            if method == "GET" {
                "GET /v1/integrations/slack/callback"
            } else {
                "POST /v1/integrations/slack/callback"
            },
            vec![],
        ),
        ("DELETE", ["v1", "integrations", "slack"]) => {
            m(Target::Recipients, "DELETE /v1/integrations/slack", vec![])
        }
        ("GET", ["l", token]) => m(
            Target::MagicLink,
            "GET /l/{token}",
            vec![("token", (*token).to_owned())],
        ),
        ("POST", ["l", token]) => m(
            Target::MagicLink,
            "POST /l/{token}",
            vec![("token", (*token).to_owned())],
        ),
        ("POST", ["slack", "actions"]) => m(Target::MagicLink, "POST /slack/actions", vec![]),
        ("POST", ["slack", "events"]) => m(Target::MagicLink, "POST /slack/events", vec![]),
        _ => None,
    }
}

/// Builds the API Gateway HTTP API payload v2.0 event for a request, then lets
/// `lambda_http` parse it exactly as it parses what API Gateway sends.
pub fn to_lambda_request(
    route: &RouteMatch,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    source_ip: IpAddr,
) -> anyhow::Result<Request> {
    let mut header_map = Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let merged = match header_map.get(&name).and_then(Value::as_str) {
            Some(existing) => format!("{existing},{value}"),
            None => value.clone(),
        };
        header_map.insert(name, Value::String(merged));
    }
    let user_agent = header_map.get("user-agent").cloned().unwrap_or(Value::Null);
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    let now = Utc::now();
    let path_parameters: Map<String, Value> = route
        .path_parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip.to_string(),
                "userAgent": user_agent,
            },
            "requestId": Uuid::new_v4().to_string(),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "pathParameters": path_parameters,
        "body": if body.is_empty() { Value::Null } else { Value::String(body) },
        "isBase64Encoded": is_base64,
    });
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

/// API Gateway's answer when no route matches.
pub fn not_found() -> Response<Body> {
    Response::builder()
        .status(404)
        .header("content-type", "application/json")
        .body(Body::Text(r#"{"message":"Not Found"}"#.to_owned()))
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    #[test]
    fn routes_match_the_template() {
        assert_eq!(
            match_route("POST", "/v1/escalations").map(|r| r.target),
            Some(Target::Ingest)
        );
        assert_eq!(
            match_route("GET", "/v1/recipients/u1/notifications").map(|r| r.target),
            Some(Target::Recipients)
        );
        assert_eq!(
            match_route("PUT", "/v1/teams/platform/teams-webhook").map(|r| r.target),
            Some(Target::Recipients)
        );
        assert_eq!(
            match_route("GET", "/l/abc").map(|r| r.target),
            Some(Target::MagicLink)
        );
        assert_eq!(
            match_route("POST", "/slack/actions").map(|r| r.target),
            Some(Target::MagicLink)
        );
        assert_eq!(match_route("DELETE", "/v1/escalations"), None);
    }

    #[test]
    fn built_event_parses_as_api_gateway_v2() {
        let route = match_route("GET", "/l/tok").expect("route");
        let req = to_lambda_request(
            &route,
            "GET",
            "/l/tok",
            "",
            &[("User-Agent".into(), "curl/8".into())],
            b"",
            "127.0.0.1".parse().expect("ip"),
        )
        .expect("parses");
        assert_eq!(req.path_parameters().first("token"), Some("tok"));
        assert!(matches!(
            req.request_context_ref(),
            Some(lambda_http::request::RequestContext::ApiGatewayV2(_))
        ));
    }
}
