//! The Lambda runtime of the WebSocket push service: one binary for every route and event.
//!
//! A tour, in the order an event travels:
//! - [`event`] classifies the incoming JSON by shape (authorizer, WebSocket route, EventBridge,
//!   SQS batch, test-token request) and [`dispatch`] sends it to its handler with one `match`,
//!   unless the function does not serve that [`event_kind`] (`EVENT_KINDS`).
//! - [`auth`] decides `$connect` (the REQUEST authorizer): HS256 test tokens and the identity
//!   provider's tokens, verified against its published keys; it mints test tokens too.
//! - [`routes`] serves `$connect`, `$disconnect`, `subscribe`, `unsubscribe`, `ping`, `resume`,
//!   `history`, `$default`, answering with the [`frames`] clients read; [`access`] decides every
//!   subscribe and history read (the policy's templates, then the application's hook).
//! - [`streams`] gives a client that was away what it missed: every entity's and user's
//!   messages are numbered and kept, replayed from a position or read in pages.
//! - [`fanout`] turns EventBridge events into pushes to every recipient, as many at once and
//!   as fast as its adaptive limit ([`fanout::adaptive`]) finds the `@connections` API allows,
//!   after writing each message to its stream's history,
//!   copying the detail's values into the frame as their JSON text ([`json_text`] measures it).
//! - [`store`] and [`push`] are the seams to DynamoDB and the `@connections` API (one frame to
//!   one connection); each has an AWS implementation, and the store has an in-memory one the
//!   local gateway embeds. [`dead_letters`] is the seam to SQS: an SQS record that can never
//!   succeed goes to its dead-letter queue at once, with the reason.
//! - [`deps`] holds what every handler runs on (store, pusher, keys, settings) and the clock.
//! - [`config`] reads the environment, [`aws`] builds the SDK-backed dependencies once per cold
//!   start, `aws_http` signs and sends the requests made without the SDK, [`error`] maps
//!   failures onto the Lambda wire.

pub mod access;
pub mod auth;
pub mod aws;
mod aws_http;
pub mod config;
pub mod dead_letters;
pub mod deps;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod event_kind;
pub mod fanout;
pub mod frames;
pub mod json_text;
pub mod push;
pub mod push_queue;
pub mod routes;
mod sqs;
pub mod store;
pub mod streams;

pub use deps::Deps;
pub use dispatch::{Runtime, TestTokenResponse};
pub use error::HandlerError;

/// Installs the `tracing` subscriber: JSON lines in Lambda (CloudWatch parses them), text
/// locally. Filter with `RUST_LOG`.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if json {
        builder.json().flatten_event(true).without_time().try_init()
    } else {
        builder.try_init()
    };
    // A second initialisation (tests, an embedding gateway) keeps the first subscriber.
    let _ = result;
}
