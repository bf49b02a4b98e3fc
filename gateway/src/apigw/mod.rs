//! What API Gateway sends to the Lambda functions, and how it reads their answers.
//!
//! Why a module of its own: these shapes are the contract with the runtime, which classifies
//! events by their fields ([`wspush_runtime::event::classify`]). Every event is built with the
//! `aws_lambda_events` types the runtime parses, and every answer is read with them, so the
//! gateway cannot drift into a private dialect only the local runtime understands (the trouble
//! with serverless-offline). One module per responsibility:
//!
//! - [`ids`]: connection ids, request ids and API Gateway's clock formats;
//! - [`identity`]: the authorizer's identity sources, checked before it is invoked;
//! - [`events`]: the REQUEST authorizer, `$connect`, message and `$disconnect` events;
//! - [`routing`]: route selection by `$request.body.action`;
//! - [`answers`]: reading the authorizer's policy and the routes' proxy responses;
//! - [`iam`]: IAM's wildcard match, for the authorizer's policy.

pub mod answers;
pub mod events;
pub mod iam;
pub mod identity;
pub mod ids;
pub mod routing;

pub use answers::{authorizer_decision, route_response, RouteResponse};
pub use events::{authorizer_event, connect_event, disconnect_event, message_event, Handshake};
pub use routing::select_route;

/// A message frame's body as API Gateway passes it: text as is, binary in base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

impl Body {
    pub fn len(&self) -> usize {
        match self {
            Body::Text(text) => text.len(),
            Body::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
