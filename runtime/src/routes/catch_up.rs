//! The replies that carry a stream's position: a subscribe's, a `resume`'s, a `history` page.
//!
//! A subscribe stores the subscription first and reads the stream after, so every message
//! after the position it replies with reaches the connection, live or replayed. The policy
//! that decides a subscribe decides a `history` read of the same entity; a user's stream is
//! read only by that user's connections.

use wspush_contract::error_codes;

use crate::access::{Decision, Subscriber};
use crate::deps::{now, Deps};
use crate::frames::{Page, Position, Reply, Since, StreamName, USER_STREAM};
use crate::store::Stream;
use crate::streams::{self, Replay};

const STREAMS_OFF: &str =
    "streams are switched off on this deployment (HISTORY_MAX_MESSAGES is 0): nothing is kept to resume or read";

/// The reply to a stored subscription: the entity stream's position, after replaying what
/// followed `since` when the client gave one.
pub(super) async fn subscribed(
    deps: &Deps,
    connection_id: &str,
    entity_id: String,
    since: Option<Since>,
) -> Reply {
    if deps.history.is_off() {
        return Reply::Subscribed {
            entity_id,
            position: None,
        };
    }
    let outcome = catch_up(
        deps,
        connection_id,
        Stream::Entity(&entity_id),
        since.as_ref(),
    )
    .await;
    match settle(outcome, since.is_some()) {
        Ok(position) => Reply::Subscribed {
            entity_id,
            position: Some(position),
        },
        Err(failure) => failure.reply(Some(entity_id), None),
    }
}

/// The reply to `resume`: the caller's user stream, replayed after `since` when given.
pub(super) async fn resume(
    deps: &Deps,
    user_id: &str,
    connection_id: &str,
    since: Option<Since>,
) -> Reply {
    if deps.history.is_off() {
        return Reply::error(error_codes::HISTORY_DISABLED, STREAMS_OFF);
    }
    let outcome = catch_up(deps, connection_id, Stream::User(user_id), since.as_ref()).await;
    match settle(outcome, since.is_some()) {
        Ok(position) => Reply::Resumed {
            stream: USER_STREAM,
            position,
        },
        Err(failure) => failure.reply(None, Some(USER_STREAM)),
    }
}

async fn catch_up(
    deps: &Deps,
    connection_id: &str,
    stream: Stream<'_>,
    since: Option<&Since>,
) -> Replay {
    match since {
        Some(since) => streams::replay(deps, connection_id, stream, since, now()).await,
        None => streams::position(deps, stream, now()).await,
    }
}

/// A replay's outcome: the position it leaves the client at, or why continuity failed.
fn settle(outcome: Replay, replaying: bool) -> Result<Position, Failure> {
    match outcome {
        Replay::Resumed {
            stream_id,
            serial,
            replayed,
            more,
        } => Ok(Position {
            stream_id,
            serial,
            replayed: replaying.then_some(replayed),
            more,
        }),
        Replay::Failed {
            reason,
            stream_id,
            oldest_serial,
            serial,
        } => Err(Failure {
            reason,
            stream_id,
            oldest_serial,
            serial,
        }),
    }
}

/// What a failed replay tells the client.
struct Failure {
    reason: &'static str,
    stream_id: Option<String>,
    oldest_serial: Option<u64>,
    serial: u64,
}

impl Failure {
    fn reply(self, entity_id: Option<String>, stream: Option<&'static str>) -> Reply {
        Reply::ResumeFailed {
            entity_id,
            stream,
            reason: self.reason,
            stream_id: self.stream_id,
            oldest_serial: self.oldest_serial,
            serial: self.serial,
        }
    }
}

/// The reply to `history`: a page of a stream the caller may read.
pub(super) async fn history(
    deps: &Deps,
    who: Subscriber<'_>,
    name: StreamName,
    page: Page,
    limit: usize,
) -> Reply {
    if deps.history.is_off() {
        return Reply::error(error_codes::HISTORY_DISABLED, STREAMS_OFF);
    }
    let (stream, entity_id, stream_name) = match &name {
        StreamName::Entity(id) => (Stream::Entity(id), Some(id.clone()), None),
        StreamName::User => (Stream::User(who.user_id), None, Some(USER_STREAM)),
    };
    if let Some(id) = &entity_id {
        if let Decision::Forbidden { message } = deps.access.decide(who, id).await {
            return Reply::refused(error_codes::FORBIDDEN, id, message);
        }
    }
    match streams::page(deps.store.as_ref(), stream, page, limit, now()).await {
        Ok(page) => Reply::History {
            entity_id,
            stream: stream_name,
            stream_id: page.stream_id,
            oldest_serial: page.oldest_serial,
            serial: page.serial,
            messages: page.messages,
            more: page.more,
        },
        Err(e) => {
            tracing::error!(connection_id = who.connection_id, stream = %stream.key(), error = %e, "history unreadable");
            Reply::Error {
                code: error_codes::UNAVAILABLE,
                entity_id,
                message: "history could not be read, please retry".into(),
            }
        }
    }
}
