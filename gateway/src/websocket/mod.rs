//! API Gateway's WebSocket side: the `$connect` handshake, then the socket ([`socket`]).
//!
//! The order is API Gateway's, because clients observe it:
//! 1. The request must be a WebSocket upgrade (426 otherwise), its URL at most 4096 characters
//!    (414), and, when the account's new-connection quota is emulated, within it (429).
//! 2. Every identity source of the authorizer must be present, or 401 without invoking it.
//! 3. The REQUEST authorizer runs *before* the upgrade; a refusal is an HTTP 401 (or 403 for a
//!    deny policy, 500 for a failing or throttled authorizer) and no connection exists.
//! 4. The `$connect` route runs with the authorizer's context; a non-2xx answer refuses the
//!    handshake with that status.
//! 5. Only then the upgrade completes, selecting exactly the subprotocol `$connect` returned in
//!    its `Sec-WebSocket-Protocol` header, and none when it returned none: a client that
//!    offered one then aborts, exactly as against AWS.
//!
//! `handshake` is that list, one function per step. Steps 2–4 are [`admit`], which needs
//! nothing of HTTP and so also admits the sockets tests drive over channels; step 5 is the
//! upgrade, which hands the connection to [`socket`].

mod admission;
pub mod socket;
mod upgrade;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use wspush_contract::limits;

use crate::client::Handshake;
use crate::error::GatewayError;
use crate::ids;
use crate::state::AppState;
pub use admission::{admit, Admission, Admitted};

/// `/` and `/{stage}`: both reach the same API, as the custom domain and the stage URL do.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/{stage}", get(staged))
}

async fn root(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    handshake(state, peer, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn staged(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if stage != state.config().stage {
        return GatewayError::Forbidden.into_response();
    }
    handshake(state, peer, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The steps of the module doc, in their order.
async fn handshake(
    state: AppState,
    peer: SocketAddr,
    mut request: Request,
) -> Result<Response, GatewayError> {
    let key = upgrade::client_key(request.headers())?;
    check_url_length(request.uri())?;
    take_connection_quota(&state)?;
    let hello = handshake_facts(&request, peer)?;
    let admitted = match admit(&state, &hello).await? {
        Admission::Admitted(admitted) => admitted,
        Admission::Refused(answer) => return Ok(answer),
    };
    upgrade::start_socket(&state, &mut request, admitted.info, hello.domain_name);
    upgrade::switching_protocols(&key, admitted.subprotocol)
}

/// Step 1: a URL over API Gateway's 4096 characters is 414.
fn check_url_length(uri: &Uri) -> Result<(), GatewayError> {
    let url_chars = uri.to_string().chars().count();
    if url_chars > limits::MAX_URL_CHARS {
        return Err(GatewayError::UriTooLong(url_chars));
    }
    Ok(())
}

/// Step 1: one token of the account's new-connection quota, when it is emulated (429 when
/// none is left).
fn take_connection_quota(state: &AppState) -> Result<(), GatewayError> {
    match state.connect_rate() {
        Some(bucket) if !bucket.try_take() => Err(GatewayError::TooManyConnections(
            state.config().connect_rate.unwrap_or_default(),
        )),
        _ => Ok(()),
    }
}

/// What API Gateway knows of the handshake and passes to the authorizer and `$connect`: a new
/// connection id, the peer, and the request's headers and query string.
fn handshake_facts(request: &Request, peer: SocketAddr) -> Result<Handshake, GatewayError> {
    let query = match Query::<Vec<(String, String)>>::try_from_uri(request.uri()) {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return Err(GatewayError::Validation(format!(
                "query string: {}",
                e.body_text()
            )))
        }
    };
    let headers = request.headers();
    let text_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(Handshake {
        connection_id: ids::connection_id(),
        request_id: ids::request_id(),
        connected_at_ms: ids::now_ms(),
        source_ip: peer.ip().to_string(),
        user_agent: text_header(header::USER_AGENT),
        domain_name: text_header(header::HOST).unwrap_or_else(|| "127.0.0.1".into()),
        headers: Handshake::headers_from(headers),
        query,
    })
}
