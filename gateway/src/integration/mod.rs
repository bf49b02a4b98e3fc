//! What API Gateway sends to the Lambda functions, and how it reads their answers: the
//! integration side of the WebSocket API.
//!
//! Why a module of its own: these shapes are the contract with the runtime, which classifies
//! events by their fields ([`wspush_runtime::event::classify`]). Every event is built with the
//! `aws_lambda_events` types the runtime parses, and every answer is read with them, so the
//! gateway cannot drift into a private dialect only the local runtime understands (the trouble
//! with serverless-offline). The WebSocket side ([`crate::websocket`]) calls in here at each
//! step of a connection and nothing here calls back. One module per responsibility:
//!
//! - [`routing`]: route selection by `$request.body.action`, which picks the route whose
//!   integration a frame invokes (its `routeKey`);
//! - [`events`]: the REQUEST authorizer, `$connect`, message and `$disconnect` events;
//! - [`answers`]: reading the authorizer's policy and the routes' proxy responses;
//! - [`iam`]: IAM's wildcard match, for the authorizer's policy.

pub mod answers;
pub mod events;
pub mod iam;
pub mod routing;

pub use answers::{authorizer_decision, route_response, RouteResponse};
pub use events::{authorizer_event, connect_event, disconnect_event, message_event};
pub use routing::select_route;
