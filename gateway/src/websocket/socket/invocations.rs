//! The Lambda side of one socket: each client frame its own route invocation, as on AWS (a
//! slow one does not hold the next frame of the same connection), run within the routes
//! function's concurrency; their route responses go back through the connection's mailbox.
//! When the socket ends, `$disconnect` runs after the invocations in flight.

use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;
use wspush_contract::routes;

use super::ending::Ending;
use crate::client::Body;
use crate::ids;
use crate::integration;
use crate::registry::{ConnectionInfo, Mailbox};
use crate::state::AppState;

/// The route invocations of one connection.
pub struct Invocations {
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    mailbox: Mailbox,
    running: JoinSet<()>,
}

impl Invocations {
    pub fn new(
        state: AppState,
        info: Arc<ConnectionInfo>,
        domain: String,
        mailbox: Mailbox,
    ) -> Self {
        Self {
            state,
            info,
            domain,
            mailbox,
            running: JoinSet::new(),
        }
    }

    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Invokes the route of one client frame.
    pub fn start(&mut self, body: Body) {
        self.running.spawn(route(
            self.state.clone(),
            self.info.clone(),
            self.domain.clone(),
            body,
            self.mailbox.clone(),
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Waits for one invocation to finish.
    pub async fn join_next(&mut self) -> Option<()> {
        self.running.join_next().await.map(|_| ())
    }

    /// Frames already received are still routed before `$disconnect`, as their Lambda
    /// invocations would be in flight in AWS.
    pub async fn finish(mut self, ending: &Ending) {
        while self.running.join_next().await.is_some() {}
        disconnect(
            &self.state,
            &self.info,
            &self.domain,
            ending.code,
            &ending.reason,
        )
        .await;
    }
}

/// Runs one client frame as its own route invocation and queues its route response.
async fn route(
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    body: Body,
    mailbox: Mailbox,
) {
    let route = integration::select_route(&body);
    let event = integration::message_event(state.config(), &info, &domain, route, &body);
    let reply = match state.functions().routes.invoke(event).await {
        Ok(answer) if routes::TWO_WAY.contains(&route) => integration::route_response(answer).body,
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, route, error = %e, "route failed");
            Some(Body::Text(
                json!({
                    "message": "Internal server error",
                    "connectionId": info.connection_id,
                    "requestId": ids::request_id(),
                })
                .to_string(),
            ))
        }
    };
    if let Some(reply) = reply {
        mailbox.send(reply);
    }
}

/// Runs `$disconnect`. It waits for a free slot of the routes function rather than being
/// throttled: the records it removes would otherwise stay until their TTL.
///
/// Boxed: the invocation's future (the whole route handler) is large, and an unboxed one
/// would be part of every socket task's state for its whole life, idle or not.
pub async fn disconnect(
    state: &AppState,
    info: &ConnectionInfo,
    domain: &str,
    code: u16,
    reason: &str,
) {
    Box::pin(run_disconnect(state, info, domain, code, reason)).await;
}

async fn run_disconnect(
    state: &AppState,
    info: &ConnectionInfo,
    domain: &str,
    code: u16,
    reason: &str,
) {
    let event = integration::disconnect_event(state.config(), info, domain, code, reason);
    match state.functions().routes.invoke_when_free(event).await {
        Ok(_) => {
            tracing::info!(connection_id = %info.connection_id, code, reason, "disconnected")
        }
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, error = %e, "$disconnect failed")
        }
    }
}
