//! The Lambda side of one socket: each client frame its own route invocation, as on AWS (a
//! slow one does not hold the next frame of the same connection), run within the routes
//! function's concurrency; their route responses go back as [`Replies`].
//!
//! Before a frame is invoked, its route must admit it under the stage's route throttling
//! (API Gateway's error frame "Too Many Requests" otherwise, the connection stays open), and
//! at most `max_invocations_per_connection` run at once: the loop reads no further frame
//! until one finishes. When the socket ends, `$disconnect` runs after the invocations in
//! flight.

use std::sync::Arc;

use tokio::task::JoinSet;
use wspush_contract::routes;

use super::ending::Ending;
use super::replies::Replies;
use crate::client::Body;
use crate::integration;
use crate::registry::{ConnectionInfo, Mailbox};
use crate::state::AppState;

/// The answer to a frame the route throttling refused (see the contract's constant).
pub const THROTTLED: &str = wspush_contract::defaults::THROTTLED_MESSAGE;

/// The route invocations of one connection.
pub struct Invocations {
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    replies: Replies,
    running: JoinSet<()>,
    max_running: usize,
}

impl Invocations {
    pub fn new(
        state: AppState,
        info: Arc<ConnectionInfo>,
        domain: String,
        mailbox: Mailbox,
    ) -> Self {
        let limits = &state.config().limits;
        let replies = Replies::new(mailbox, info.clone(), limits.max_client_buffer_bytes);
        let max_running = limits.max_invocations_per_connection.max(1);
        Self {
            state,
            info,
            domain,
            replies,
            running: JoinSet::new(),
            max_running,
        }
    }

    pub fn connection(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Routes one client frame: invoked if its route's throttle admits it, answered "Too Many
    /// Requests" otherwise.
    pub fn start(&mut self, body: Body) {
        let route = integration::select_route(&body);
        if !self.state.route_throttle().admits(route) {
            self.replies.error(THROTTLED);
            return;
        }
        self.running.spawn(invoke(
            self.state.clone(),
            self.info.clone(),
            self.domain.clone(),
            route,
            body,
            self.replies.clone(),
        ));
    }

    /// Whether another frame may be routed now, or the loop must wait for an invocation.
    pub fn has_room(&self) -> bool {
        self.running.len() < self.max_running
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

/// Runs one client frame as its own invocation of its route and answers with the route
/// response, or API Gateway's error frame when the invocation fails.
async fn invoke(
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
    route: &'static str,
    body: Body,
    replies: Replies,
) {
    let event = integration::message_event(state.config(), &info, &domain, route, &body);
    match state.functions().routes.invoke(event).await {
        Ok(answer) if routes::TWO_WAY.contains(&route) => {
            if let Some(reply) = integration::route_response(answer).body {
                replies.send(reply);
            }
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(connection_id = %info.connection_id, route, error = %e, "route failed");
            replies.error("Internal server error");
        }
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
