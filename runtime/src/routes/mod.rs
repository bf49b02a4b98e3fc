//! The WebSocket routes: `$connect`, `$disconnect`, `subscribe`, `unsubscribe`, `ping`,
//! `resume`, `history`, `$default`.
//!
//! Each two-way route answers with a route response body (`Subscribed`, `Unsubscribed`, `Pong`,
//! `Error` with a code): API Gateway forwards it to the client as a frame, so clients can tell
//! success from failure. Errors from bad frames never close the connection.
//!
//! A subscribe is decided before it is stored ([`crate::access`]): refused with `Forbidden`,
//! or `TooManySubscriptions` past the per-connection cap. A frame from a connection whose
//! token has expired is answered `TokenExpired`, and the connection is closed. The replies
//! that carry a stream's position, and the replays before them, are [`catch_up`]'s.

mod catch_up;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::SEC_WEBSOCKET_PROTOCOL;
use aws_lambda_events::http::{self, HeaderValue};
use serde_json::{Map, Value};
use wspush_contract::{authorizer_context, error_codes, routes};

use crate::access::{Decision, Subscriber};
use crate::auth::Claims;
use crate::deps::{now, Deps};
use crate::error::HandlerError;
use crate::fanout::expiry;
use crate::frames::{parse_client_frame, ClientAction, Reply, Since};
use crate::push::PushOutcome;
use crate::store::{ConnectionRecord, Subscribed, Subscription};

/// Handles one WebSocket route invocation.
pub async fn handle(
    deps: &Deps,
    request: ApiGatewayWebsocketProxyRequest,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let context = &request.request_context;
    let connection_id = context
        .connection_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            HandlerError::InvalidEvent("requestContext.connectionId is missing".into())
        })?;
    let route_key = context.route_key.as_deref().unwrap_or(routes::DEFAULT);
    let caller = Caller::of(&request);
    match route_key {
        routes::CONNECT => connect(deps, &request, &caller, connection_id).await,
        routes::DISCONNECT => disconnect(deps, &connection_id).await,
        _ if caller.token_expired(now(), deps.token_leeway_secs) => {
            Ok(token_expired(deps, &caller, &connection_id).await)
        }
        _ => {
            let body = request.body.as_deref();
            let reply = message(deps, &caller, route_key, body, &connection_id).await;
            Ok(response(200, Some(reply.to_json())))
        }
    }
}

fn response(status: i64, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.body = body.map(Body::Text);
    response
}

/// Who sent a route event, as the authorizer's context tells every route of the connection.
struct Caller {
    /// `userId`, else `principalId`.
    user_id: Option<String>,
    token_expires_at: Option<i64>,
    /// The claims the authorizer passed on; without them, `sub` alone when it is known.
    claims: Claims,
}

impl Caller {
    fn of(request: &ApiGatewayWebsocketProxyRequest) -> Self {
        let authorizer = &request.request_context.authorizer;
        let text = |key: &str| {
            authorizer
                .other
                .get(key)
                .or_else(|| authorizer.fields.get(key))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let user_id = text(authorizer_context::USER_ID).or_else(|| text("principalId"));
        let claims = text(authorizer_context::CLAIMS)
            .and_then(|json| serde_json::from_str::<Map<String, Value>>(json).ok())
            .unwrap_or_else(|| {
                let sub = text("sub").map(|sub| ("sub".to_string(), Value::from(sub)));
                sub.into_iter().collect()
            });
        Self {
            user_id: user_id.map(str::to_string),
            token_expires_at: text(authorizer_context::TOKEN_EXPIRES_AT)
                .and_then(|exp| exp.parse().ok()),
            claims: Claims::new(claims),
        }
    }

    /// The caller as the subscribe policy sees it.
    fn subscriber<'a>(&'a self, connection_id: &'a str) -> Subscriber<'a> {
        Subscriber {
            user_id: self.user_id.as_deref().unwrap_or_default(),
            claims: &self.claims,
            connection_id,
        }
    }

    fn token_expired(&self, now: i64, leeway_secs: u64) -> bool {
        crate::auth::claims::token_expired(self.token_expires_at, now, leeway_secs)
    }
}

async fn connect(
    deps: &Deps,
    request: &ApiGatewayWebsocketProxyRequest,
    caller: &Caller,
    connection_id: String,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let Some(user_id) = caller.user_id.clone() else {
        // Only reachable when the API has no authorizer on $connect: refuse rather than store
        // a connection nobody can address.
        tracing::warn!(%connection_id, "$connect without authorizer context refused");
        return Ok(response(401, Some("Unauthorized".into())));
    };
    let now_secs = now();
    let context = &request.request_context;
    let record = ConnectionRecord {
        connection_id,
        user_id,
        connected_at_ms: if context.connected_at > 0 {
            context.connected_at
        } else {
            now_secs * 1000
        },
        ip_address: context.identity.source_ip.clone(),
        expires_at: now_secs + deps.record_ttl.as_secs() as i64,
        token_expires_at: caller.token_expires_at,
    };
    deps.store.put_connection(&record).await?;
    tracing::info!(connection_id = %record.connection_id, user_id = %record.user_id, "connected");
    let mut answer = response(200, None);
    if offers_subprotocol(request) {
        // API Gateway selects a subprotocol only when `$connect` returns it; a client that
        // offered one and gets none back (every browser, wscat -s) aborts the handshake.
        answer.headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(routes::SUBPROTOCOL),
        );
    }
    Ok(answer)
}

/// Whether the client offered the `websocket` subprotocol (`Sec-WebSocket-Protocol` is a
/// comma-separated list, possibly over several header lines).
fn offers_subprotocol(request: &ApiGatewayWebsocketProxyRequest) -> bool {
    let offered = |headers: &http::HeaderMap| {
        headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == routes::SUBPROTOCOL)
    };
    offered(&request.headers) || offered(&request.multi_value_headers)
}

async fn disconnect(
    deps: &Deps,
    connection_id: &str,
) -> Result<ApiGatewayProxyResponse, HandlerError> {
    let removal = deps.store.delete_connection(connection_id).await?;
    if removal.is_complete() {
        tracing::info!(%connection_id, deleted = removal.deleted, "disconnected");
    } else {
        // Not a failure (TTL removes the rest), but the records outlive their connection until
        // then, and this count is the only trace of them.
        tracing::warn!(
            %connection_id,
            deleted = removal.deleted,
            left = removal.left,
            read_all = removal.read_all,
            "disconnected; records left to TTL (more than `left` unless read_all)"
        );
    }
    Ok(response(200, None))
}

/// Answers a frame from a connection whose token has expired: the `TokenExpired` frame
/// through `@connections`, then the close. Without `@connections` (a routes function deployed
/// without `MANAGEMENT_ENDPOINT`) the frame is the route's answer and the connection stays
/// until the next push finds it expired.
async fn token_expired(
    deps: &Deps,
    caller: &Caller,
    connection_id: &str,
) -> ApiGatewayProxyResponse {
    let exp = caller.token_expires_at.unwrap_or_default();
    tracing::info!(%connection_id, user_id = caller.user_id.as_deref().unwrap_or(""), token_expires_at = exp, "frame from a connection whose token expired; closing it");
    let frame = Reply::error(
        error_codes::TOKEN_EXPIRED,
        format!("the token of this connection expired at {exp} (unix time); connect again with a new token"),
    )
    .to_json();
    let Ok(pusher) = deps.pusher() else {
        tracing::warn!(%connection_id, "cannot close a connection whose token expired: MANAGEMENT_ENDPOINT is not configured for the routes");
        return response(200, Some(frame));
    };
    match pusher
        .post_to_connection(connection_id, frame.as_bytes())
        .await
    {
        PushOutcome::Delivered | PushOutcome::Gone => {}
        other => {
            tracing::warn!(%connection_id, outcome = ?other, "TokenExpired frame not delivered")
        }
    }
    expiry::close(deps.store.as_ref(), pusher, connection_id).await;
    response(200, None)
}

/// Runs a client message and builds the reply; store faults become an `Error` reply too, so
/// the client hears about them and the connection stays up.
async fn message(
    deps: &Deps,
    caller: &Caller,
    route_key: &str,
    body: Option<&str>,
    connection_id: &str,
) -> Reply {
    let action = match parse_client_frame(route_key, body) {
        Ok(action) => action,
        Err(e) => return Reply::bad_request(&e),
    };
    match action {
        ClientAction::Ping => Reply::Pong,
        ClientAction::Subscribe { entity_id, since } => {
            subscribe(deps, caller, connection_id, entity_id, since).await
        }
        ClientAction::Resume { since } => {
            let user_id = caller.user_id.as_deref().unwrap_or_default();
            catch_up::resume(deps, user_id, connection_id, since).await
        }
        ClientAction::History {
            stream,
            page,
            limit,
        } => {
            let who = caller.subscriber(connection_id);
            catch_up::history(deps, who, stream, page, limit).await
        }
        ClientAction::Unsubscribe { entity_id } => {
            match deps
                .store
                .delete_subscription(connection_id, &entity_id)
                .await
            {
                Ok(()) => Reply::Unsubscribed { entity_id },
                Err(e) => store_fault(connection_id, route_key, &entity_id, &e),
            }
        }
    }
}

/// Decides, then stores, one subscription; the reply carries the stream's position, after a
/// replay from `since` when the client gave one.
async fn subscribe(
    deps: &Deps,
    caller: &Caller,
    connection_id: &str,
    entity_id: String,
    since: Option<Since>,
) -> Reply {
    let who = caller.subscriber(connection_id);
    if let Decision::Forbidden { message } = deps.access.decide(who, &entity_id).await {
        return Reply::refused(error_codes::FORBIDDEN, &entity_id, message);
    }
    let subscription = Subscription {
        connection_id,
        entity_id: &entity_id,
        expires_at: now() + deps.record_ttl.as_secs() as i64,
        token_expires_at: caller.token_expires_at,
    };
    let max = deps.access.max_per_connection();
    match deps.store.subscribe(&subscription, max).await {
        Ok(Subscribed::Added | Subscribed::AlreadySubscribed) => {
            catch_up::subscribed(deps, connection_id, entity_id, since).await
        }
        Ok(Subscribed::LimitReached) => {
            tracing::warn!(%connection_id, user_id = who.user_id, %entity_id, max, "subscription refused: too many on one connection");
            Reply::refused(
                error_codes::TOO_MANY_SUBSCRIPTIONS,
                &entity_id,
                format!("this connection holds {max} subscriptions, the most allowed; unsubscribe from one first"),
            )
        }
        Err(e) => store_fault(connection_id, routes::SUBSCRIBE, &entity_id, &e),
    }
}

fn store_fault(
    connection_id: &str,
    route_key: &str,
    entity_id: &str,
    error: &crate::store::StoreError,
) -> Reply {
    tracing::error!(%connection_id, error = %error, "store failed during {route_key}");
    Reply::refused(
        error_codes::UNAVAILABLE,
        entity_id,
        format!("{route_key} could not be saved, please retry"),
    )
}
