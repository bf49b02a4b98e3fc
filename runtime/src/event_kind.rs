//! The kinds of event the one binary serves, and the list of them one function serves.
//!
//! A module of its own that imports nothing of the crate, because three modules read it and
//! none of them should depend on another for it: classification (`event`) names the kind of
//! each event, the configuration (`config`) reads `EVENT_KINDS` into [`EventKinds`], and the
//! error for a refused kind (`error`) names it. The names come from
//! `wspush_contract::event_kinds`, from which the infrastructure program sets `EVENT_KINDS`.

use wspush_contract::event_kinds;

/// The kinds of event, named as `wspush_contract::event_kinds` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Authorizer,
    WebSocket,
    EventBridge,
    Sqs,
    TestToken,
    /// SQS records of the push queue, each a batch of connections to push one message to.
    PushBatch,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Authorizer,
        EventKind::WebSocket,
        EventKind::EventBridge,
        EventKind::Sqs,
        EventKind::TestToken,
        EventKind::PushBatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Authorizer => event_kinds::AUTHORIZER,
            EventKind::WebSocket => event_kinds::WEBSOCKET,
            EventKind::EventBridge => event_kinds::EVENTBRIDGE,
            EventKind::Sqs => event_kinds::SQS,
            EventKind::TestToken => event_kinds::TEST_TOKEN,
            EventKind::PushBatch => event_kinds::PUSH_BATCH,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The event kinds one function serves; it refuses every other shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventKinds(Vec<EventKind>);

impl EventKinds {
    /// Every kind: the local gateway hosts all functions in one process.
    pub fn all() -> Self {
        Self(EventKind::ALL.to_vec())
    }

    pub fn only(kinds: &[EventKind]) -> Self {
        let mut kinds = kinds.to_vec();
        kinds.dedup();
        Self(kinds)
    }

    /// Reads a comma-separated list such as `sqs,eventbridge`; an unknown name is returned.
    pub fn parse(list: &str) -> Result<Self, String> {
        let kinds = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| EventKind::from_name(name).ok_or_else(|| name.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if kinds.is_empty() {
            return Err(list.to_string());
        }
        Ok(Self::only(&kinds))
    }

    pub fn contains(&self, kind: EventKind) -> bool {
        self.0.contains(&kind)
    }
}

impl std::fmt::Display for EventKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}
