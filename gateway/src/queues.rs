//! The local queues: EventBridge → SQS → Lambda for events, and the push queue from the
//! planner to the pushers, with the settings `infra/` declares.
//!
//! A message is its body and its message attributes, as in SQS. On an event queue the body is
//! the JSON of the event `PutEvents` accepted, written once when EventBridge's SQS target would
//! write it, the detail's text as the publisher sent it ([`RawDetailEvent`]). The push queue
//! takes what SQS `SendMessage` and `SendMessageBatch` send to its URL ([`crate::sqs`]): the
//! events function's planner sends each push batch there, marked by its `WSPUSH_KIND`
//! attribute. Each SQS record a function receives is built from the message as the
//! `aws_lambda_events` type the runtime parses ([`SqsMessage`]).
//!
//! What feeds a queue decides which function its event source mapping invokes ([`Feed`]):
//! each rule (one per `detail-type`) targets its own queue, polled into the events function,
//! as deployed; the push queue is polled into the pushers. A poller per queue does what the
//! SQS event source mapping does: it takes a concurrency slot of its function, receives up to
//! `batch_size` visible messages (each becomes invisible for the visibility timeout and counts
//! a receive), invokes the function with an SQS event, and reads the partial batch response:
//! succeeded records are deleted; failed ones become visible again when their visibility
//! timeout ends; a record received `max_receive_count` times moves to the queue's dead-letter
//! queue when a receive would take it once more, as SQS's redrive policy moves it. A function may also move a record there itself, at once, when it can
//! never succeed: it sends it with SQS `SendMessage` to the dead-letter queue's URL
//! ([`crate::sqs`]), the reason in its `ERROR_CODE` and `ERROR_MESSAGE` attributes. Every dead
//! letter keeps why it is there. Nothing is dropped silently: dead letters stay listed under
//! `GET /_gateway/dead-letters` until redriven (`POST /_gateway/dead-letters/redrive`), which
//! puts them back on their queue, body and attributes as they were.
//!
//! The push queue may hold thousands of messages at once (a million subscribers make a
//! thousand batches), so a queue finds each message by id, keeps the visible ones in order and
//! the in-flight ones by when they become visible again: a receive and a settle cost the
//! messages they touch, not the queue's depth.
//!
//! Not emulated: persistence (the queues live in memory and end with the process), message
//! retention periods, and the poller's scaling (it runs at its function's concurrency).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use md5::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep_until, Instant};
use wspush_contract::{dead_letter_attributes, detail_types, push_queue};
use wspush_runtime::fanout::RawDetailEvent;

use crate::config::{GatewayConfig, QueueSettings};
use crate::functions::{Function, Functions, InvokeError};
use crate::ids::now_ms;

/// A message attribute as SQS holds it (and as `SendMessage` takes it): a data type
/// (`String`, `Number`, `Binary`, each with an optional `.label`) and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// Base64, as the JSON protocol carries binary values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

/// A message's attributes by name, in name order (the order SQS digests them in).
pub type MessageAttributes = BTreeMap<String, MessageAttribute>;

/// One message on a queue: its body, and what SQS keeps about it.
#[derive(Clone, Debug)]
pub struct Message {
    id: String,
    /// The body, exactly as sent.
    body: String,
    attributes: MessageAttributes,
    sent_at_ms: i64,
    first_received_ms: Option<i64>,
    receive_count: u32,
    /// When the message can be received (again).
    visible_at: Instant,
    /// Why its last receive failed.
    last_error: Option<String>,
}

impl Message {
    /// The message EventBridge's SQS target sends for `event`, now, visible at once: the
    /// event's JSON as its body.
    pub fn new(event: RawDetailEvent) -> Self {
        // An event whose detail is JSON always serializes.
        Self::sent(
            serde_json::to_string(&event).unwrap_or_default(),
            BTreeMap::new(),
        )
    }

    /// A message sent now with `body` and `attributes`, visible at once.
    pub fn sent(body: String, attributes: MessageAttributes) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            body,
            attributes,
            sent_at_ms: now_ms(),
            first_received_ms: None,
            receive_count: 0,
            visible_at: Instant::now(),
            last_error: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The body, exactly as sent.
    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn attributes(&self) -> &MessageAttributes {
        &self.attributes
    }

    /// The value of a string attribute, when the message has it.
    fn text_attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .and_then(|a| a.string_value.as_deref())
    }
}

/// A message in a dead-letter queue, as `/_gateway/dead-letters` lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub queue: String,
    pub message_id: String,
    pub receive_count: u32,
    pub sent_at: i64,
    /// Why it is here, in words: the reason the function sent with it (`ERROR_MESSAGE`), or
    /// the receive its redrive policy gave up after.
    pub last_error: String,
    /// The kind of failure the function sent with it (`ERROR_CODE`); none when the redrive
    /// policy moved it.
    pub error_code: Option<String>,
    /// The body parsed as the event (or push batch) it carries; `null` when it is not JSON
    /// (the body is the record either way).
    pub event: Value,
    /// The body, exactly as it will be redriven.
    pub body: String,
    pub message_attributes: MessageAttributes,
}

/// A message in a dead-letter queue and why it is there.
#[derive(Clone, Debug)]
struct DeadMessage {
    message: Message,
    error_code: Option<String>,
    reason: String,
}

/// A queue's messages. Each message waiting or in flight is in `messages`, and its id in
/// exactly one of `visible` (in the order they became visible) and `hidden` (by when they
/// become visible again).
#[derive(Default)]
struct State {
    messages: HashMap<String, Message>,
    visible: VecDeque<String>,
    hidden: BTreeSet<(Instant, String)>,
    dead: Vec<DeadMessage>,
    counts: QueueCounts,
}

impl State {
    /// Puts `message` on the queue, visible at once.
    fn enqueue(&mut self, mut message: Message) {
        self.counts.sent += 1;
        message.visible_at = Instant::now();
        self.visible.push_back(message.id.clone());
        self.messages.insert(message.id.clone(), message);
    }

    /// Moves the messages whose visibility timeout has ended to the visible ones.
    fn reveal(&mut self, now: Instant) {
        while let Some((at, _)) = self.hidden.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.hidden.pop_first() {
                self.visible.push_back(id);
            }
        }
    }

    /// Receives up to `settings.batch_size` visible messages, each hidden for the visibility
    /// timeout from `now`, one receive more. A message already received `max_receive_count`
    /// times moves to the dead-letter queue instead, as SQS's redrive policy moves it when a
    /// receive would exceed that count.
    fn take(&mut self, now: Instant, settings: &QueueSettings) -> Vec<Message> {
        self.reveal(now);
        let hidden_until = now + settings.visibility_timeout;
        let mut batch = Vec::new();
        while batch.len() < settings.batch_size.max(1) {
            let Some(id) = self.visible.pop_front() else {
                break;
            };
            let Some(message) = self.messages.get_mut(&id) else {
                continue;
            };
            if message.receive_count >= settings.max_receive_count.max(1) {
                self.dead_letter(&id);
                continue;
            }
            message.visible_at = hidden_until;
            message.receive_count += 1;
            message.first_received_ms.get_or_insert_with(now_ms);
            self.counts.received += 1;
            if message.receive_count > 1 {
                self.counts.received_again += 1;
            }
            batch.push(message.clone());
            self.hidden.insert((hidden_until, id));
        }
        batch
    }

    /// Moves message `id` to the dead-letter queue, with why its last receive failed.
    fn dead_letter(&mut self, id: &str) {
        let Some(message) = self.remove(id) else {
            return;
        };
        let receives = message.receive_count;
        self.counts.dead_lettered += 1;
        let reason = message
            .last_error
            .clone()
            .unwrap_or_else(|| format!("received {receives} times without being deleted"));
        self.dead.push(DeadMessage {
            reason,
            error_code: None,
            message,
        });
    }

    /// Takes an in-flight message off the queue.
    fn remove(&mut self, id: &str) -> Option<Message> {
        let message = self.messages.remove(id)?;
        self.hidden
            .remove(&(message.visible_at, message.id.clone()));
        Some(message)
    }

    /// When the next in-flight message becomes visible, if any is in flight.
    fn next_visible(&self) -> Option<Instant> {
        self.hidden.first().map(|(at, _)| *at)
    }
}

/// What a queue has seen, as `/_gateway/queues` reports it: load scripts read the receives
/// beyond the first to account for every duplicate delivery.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueCounts {
    /// Messages sent to the queue (redriven ones again).
    pub sent: u64,
    /// Receives of messages, first receives included.
    pub received: u64,
    /// Receives beyond a message's first: each is an at-least-once repeat.
    pub received_again: u64,
    /// Messages deleted after their batch reported them done.
    pub deleted: u64,
    /// Messages moved to the dead-letter queue.
    pub dead_lettered: u64,
}

/// What feeds a queue, which decides the function its event source mapping invokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// The EventBridge rule for this `detail-type`; polled into the events function.
    Rule(&'static str),
    /// SQS `SendMessage` and `SendMessageBatch` on the queue's URL (the planner's push
    /// batches); polled into the pushers.
    Senders,
}

/// One queue and its dead-letter queue.
pub struct LocalQueue {
    name: String,
    arn: String,
    /// The queue URL's path, `/{account}/{name}`.
    path: String,
    /// The dead-letter queue URL's path, `/{account}/{name}-dlq`: how `SendMessage` names it.
    dead_letter_path: String,
    region: String,
    /// The `SenderId` of its records: EventBridge for an event queue, the account for the
    /// push queue (its senders are the account's own functions).
    sender_id: String,
    feed: Feed,
    settings: QueueSettings,
    state: Mutex<State>,
    wake: Notify,
}

impl LocalQueue {
    /// The queue the rule for `detail_type` targets, with the event queues' settings.
    fn for_rule(config: &GatewayConfig, detail_type: &'static str) -> Self {
        let name = detail_type.to_lowercase().replace(' ', "-");
        Self::new(config, name, Feed::Rule(detail_type), config.queues.clone())
    }

    /// The push queue, with its own settings.
    fn push(config: &GatewayConfig) -> Self {
        Self::new(
            config,
            push_queue::NAME.to_string(),
            Feed::Senders,
            config.push_queue.clone(),
        )
    }

    fn new(config: &GatewayConfig, name: String, feed: Feed, settings: QueueSettings) -> Self {
        let account = &config.account_id;
        Self {
            arn: format!("arn:aws:sqs:{}:{account}:{name}", config.region),
            path: format!("/{account}/{name}"),
            dead_letter_path: format!("/{account}/{name}-dlq"),
            name,
            region: config.region.clone(),
            sender_id: match feed {
                Feed::Rule(_) => "events.amazonaws.com".to_string(),
                Feed::Senders => account.clone(),
            },
            feed,
            settings,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Poisoning means a panic between two plain updates: the queue is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's ARN, the `eventSourceARN` of its records.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn feed(&self) -> Feed {
        self.feed
    }

    /// The queue's URL on the gateway serving at `base_url` (`http://127.0.0.1:3001`).
    pub fn url(&self, base_url: &str) -> String {
        format!("{}{}", base_url.trim_end_matches('/'), self.path)
    }

    /// The URL of its dead-letter queue on the gateway serving at `base_url`.
    pub fn dead_letter_url(&self, base_url: &str) -> String {
        format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            self.dead_letter_path
        )
    }

    fn dead_letter_name(&self) -> String {
        format!("{}-dlq", self.name)
    }

    /// The function its event source mapping invokes.
    fn consumer<'f>(&self, functions: &'f Functions) -> &'f Function {
        match self.feed {
            Feed::Rule(_) => &functions.events,
            Feed::Senders => &functions.pusher,
        }
    }

    /// Enqueues messages (one request's together, so a batch can hold them all).
    pub fn send(&self, messages: Vec<Message>) {
        {
            let mut state = self.lock();
            for message in messages {
                state.enqueue(message);
            }
        }
        self.wake.notify_one();
    }

    /// Waits for visible messages and receives up to `batch_size` of them.
    async fn receive(&self) -> Vec<Message> {
        loop {
            let next_visible = {
                let mut state = self.lock();
                let dead_before = state.dead.len();
                let batch = state.take(Instant::now(), &self.settings);
                if state.dead.len() > dead_before {
                    tracing::warn!(queue = %self.name, moved = state.dead.len() - dead_before, "moved to the dead-letter queue after their last receive");
                }
                if !batch.is_empty() {
                    return batch;
                }
                state.next_visible()
            };
            match next_visible {
                Some(at) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = sleep_until(at) => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// The SQS event the event source mapping sends for `batch`: one record per message.
    pub fn sqs_event(&self, batch: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = batch.iter().map(|m| self.sqs_record(m)).collect();
        event
    }

    /// The record of one message: its body and message attributes as sent.
    fn sqs_record(&self, message: &Message) -> SqsMessage {
        let body = message.body.clone();
        let mut record = SqsMessage::default();
        record.message_id = Some(message.id.clone());
        record.receipt_handle = Some(format!("{}#{}", message.id, message.receive_count));
        record.md5_of_body = Some(format!("{:x}", md5::Md5::digest(body.as_bytes())));
        record.body = Some(body);
        record.attributes = [
            ("ApproximateReceiveCount", message.receive_count.to_string()),
            ("SentTimestamp", message.sent_at_ms.to_string()),
            ("SenderId", self.sender_id.clone()),
            (
                "ApproximateFirstReceiveTimestamp",
                message.first_received_ms.unwrap_or_default().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        record.message_attributes = record_attributes(&message.attributes);
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(self.arn.clone());
        record.aws_region = Some(self.region.clone());
        record
    }

    /// Applies `function`'s answer to `batch`: deletes what succeeded; what failed keeps why,
    /// and becomes visible again when its visibility timeout ends (the next receive past its
    /// last moves it to the dead-letter queue). A message received again since, its
    /// visibility timeout having ended first, is deleted all the same when this receive
    /// succeeded, as SQS deletes it with an older receipt handle.
    fn settle(&self, function: &str, batch: &[Message], result: Result<Value, InvokeError>) {
        let failed = self.failed_ids(batch, result);
        let function = function.to_lowercase();
        let mut state = self.lock();
        for received in batch {
            let id = received.id.as_str();
            if !failed.contains(id) {
                if state.remove(id).is_some() {
                    state.counts.deleted += 1;
                }
                continue;
            }
            let receive = received.receive_count;
            if let Some(message) = state.messages.get_mut(id) {
                message.last_error = Some(format!(
                    "the {function} function reported the record failed on receive {receive}"
                ));
                tracing::info!(queue = %self.name, message_id = %id, receive, "record failed; it becomes visible again after the visibility timeout");
            }
        }
        drop(state);
        self.wake.notify_one();
    }

    /// The ids of the records the answer reports failed: all of them when the invocation
    /// failed or its answer is not a batch response, as on AWS.
    fn failed_ids(&self, batch: &[Message], result: Result<Value, InvokeError>) -> HashSet<String> {
        let all = || batch.iter().map(|m| m.id.clone()).collect();
        match result {
            Ok(answer) => match serde_json::from_value::<SqsBatchResponse>(answer) {
                Ok(response) => response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect(),
                Err(_) => all(),
            },
            Err(e) => {
                tracing::warn!(queue = %self.name, error = %e, "batch failed");
                all()
            }
        }
    }

    /// Takes a message `SendMessage` sent to the dead-letter queue: a function's record, with
    /// its reason in the `ERROR_CODE` and `ERROR_MESSAGE` attributes.
    pub fn send_dead_letter(&self, message: Message) {
        let reason = message
            .text_attribute(dead_letter_attributes::ERROR_MESSAGE)
            .unwrap_or("sent to the dead-letter queue with SendMessage, without an ERROR_MESSAGE")
            .to_string();
        let error_code = message
            .text_attribute(dead_letter_attributes::ERROR_CODE)
            .map(str::to_string);
        tracing::warn!(queue = %self.dead_letter_name(), message_id = %message.id, error_code = error_code.as_deref().unwrap_or(""), %reason, "dead letter received");
        let mut state = self.lock();
        state.counts.dead_lettered += 1;
        state.dead.push(DeadMessage {
            message,
            error_code,
            reason,
        });
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock()
            .dead
            .iter()
            .map(|dead| {
                let m = &dead.message;
                DeadLetter {
                    queue: self.dead_letter_name(),
                    message_id: m.id.clone(),
                    receive_count: m.receive_count,
                    sent_at: m.sent_at_ms,
                    last_error: dead.reason.clone(),
                    error_code: dead.error_code.clone(),
                    event: serde_json::from_str(&m.body).unwrap_or(Value::Null),
                    body: m.body.clone(),
                    message_attributes: m.attributes.clone(),
                }
            })
            .collect()
    }

    /// Moves every dead letter back to the queue, as a fresh message with the same body and
    /// attributes.
    fn redrive(&self) -> usize {
        let count = {
            let mut state = self.lock();
            let dead = std::mem::take(&mut state.dead);
            let count = dead.len();
            for DeadMessage { mut message, .. } in dead {
                message.receive_count = 0;
                message.first_received_ms = None;
                state.enqueue(message);
            }
            count
        };
        self.wake.notify_one();
        count
    }

    /// Messages waiting or in flight.
    pub fn depth(&self) -> usize {
        self.lock().messages.len()
    }

    pub fn counts(&self) -> QueueCounts {
        self.lock().counts
    }

    /// Messages in the dead-letter queue.
    pub fn dead_depth(&self) -> usize {
        self.lock().dead.len()
    }
}

/// A message's attributes as its SQS record carries them (`messageAttributes`).
fn record_attributes(attributes: &MessageAttributes) -> HashMap<String, SqsMessageAttribute> {
    attributes
        .iter()
        .map(|(name, attribute)| {
            let mut value = SqsMessageAttribute::default();
            value.data_type = Some(attribute.data_type.clone());
            value.string_value = attribute.string_value.clone();
            // The record's type reads the Base64 text the JSON protocol carried.
            value.binary_value = attribute
                .binary_value
                .clone()
                .and_then(|encoded| serde_json::from_value(Value::String(encoded)).ok());
            (name.clone(), value)
        })
        .collect()
}

/// Where a URL sent to with SQS `SendMessage` leads.
#[derive(Clone, Copy)]
pub enum Destination<'a> {
    /// A queue its senders feed (the push queue).
    Queue(&'a Arc<LocalQueue>),
    /// A queue's dead-letter queue.
    DeadLetters(&'a Arc<LocalQueue>),
}

impl Destination<'_> {
    /// Puts `messages` there, one request's together.
    pub fn send(self, messages: Vec<Message>) {
        match self {
            Destination::Queue(queue) => queue.send(messages),
            Destination::DeadLetters(queue) => {
                for message in messages {
                    queue.send_dead_letter(message);
                }
            }
        }
    }
}

/// The queues of a deployment: one per rule, and the push queue.
pub struct Queues {
    /// Every queue, the push queue last.
    queues: Vec<Arc<LocalQueue>>,
    push: Arc<LocalQueue>,
    stop: watch::Sender<bool>,
}

impl Queues {
    pub fn new(config: &GatewayConfig) -> Self {
        let mut queues: Vec<Arc<LocalQueue>> = detail_types::ALL
            .into_iter()
            .map(|t| Arc::new(LocalQueue::for_rule(config, t)))
            .collect();
        let push = Arc::new(LocalQueue::push(config));
        queues.push(push.clone());
        Self {
            queues,
            push,
            stop: watch::channel(false).0,
        }
    }

    /// The queue the rule for `detail_type` targets, if a rule matches it.
    pub fn for_detail_type(&self, detail_type: &str) -> Option<&Arc<LocalQueue>> {
        self.queues
            .iter()
            .find(|q| matches!(q.feed, Feed::Rule(t) if t == detail_type))
    }

    /// The push queue, which the planner sends push batches to.
    pub fn push_queue(&self) -> &Arc<LocalQueue> {
        &self.push
    }

    /// Routes accepted events to their rules' queues, one request's events together.
    pub fn send(&self, events: Vec<RawDetailEvent>) {
        let mut unmatched = events;
        for queue in &self.queues {
            let Feed::Rule(detail_type) = queue.feed else {
                continue;
            };
            let (mine, rest): (Vec<_>, Vec<_>) = unmatched
                .into_iter()
                .partition(|e| e.detail_type == detail_type);
            unmatched = rest;
            if !mine.is_empty() {
                queue.send(mine.into_iter().map(Message::new).collect());
            }
        }
        for event in &unmatched {
            let event_id = event.id.as_deref().unwrap_or_default();
            tracing::info!(%event_id, detail_type = %event.detail_type, "no rule matches; event dropped, as EventBridge drops it");
        }
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.queues.iter().flat_map(|q| q.dead_letters()).collect()
    }

    /// Where `SendMessage` to a queue URL with the path `path` leads: a dead-letter queue
    /// (`/{account}/{name}-dlq`), or a queue its senders feed (`/{account}/push`). The event
    /// queues take only what their rules send.
    pub fn destination(&self, path: &str) -> Option<Destination<'_>> {
        self.queues.iter().find_map(|q| {
            if q.dead_letter_path == path {
                Some(Destination::DeadLetters(q))
            } else if q.path == path && q.feed == Feed::Senders {
                Some(Destination::Queue(q))
            } else {
                None
            }
        })
    }

    /// Each queue's ARN and the URL of its dead-letter queue on the gateway serving at
    /// `base_url`: the functions' `DEAD_LETTER_QUEUES`.
    pub fn dead_letter_routes(&self, base_url: &str) -> BTreeMap<String, String> {
        self.queues
            .iter()
            .map(|q| (q.arn.clone(), q.dead_letter_url(base_url)))
            .collect()
    }

    pub fn redrive(&self) -> usize {
        self.queues.iter().map(|q| q.redrive()).sum()
    }

    pub fn all(&self) -> &[Arc<LocalQueue>] {
        &self.queues
    }

    /// Runs every queue's poller, each invoking its function, until [`Queues::stop`].
    pub async fn poll(self: Arc<Self>, functions: Arc<Functions>) {
        let pollers: Vec<_> = self
            .queues
            .iter()
            .map(|queue| {
                tokio::spawn(poll(
                    queue.clone(),
                    functions.clone(),
                    self.stop.subscribe(),
                ))
            })
            .collect();
        for poller in pollers {
            let _ = poller.await;
        }
    }

    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

async fn poll(queue: Arc<LocalQueue>, functions: Arc<Functions>, mut stop: watch::Receiver<bool>) {
    loop {
        let slot = tokio::select! {
            slot = queue.consumer(&functions).reserve() => slot,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let Some(slot) = slot else { return };
        let batch = tokio::select! {
            batch = queue.receive() => batch,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let event = serde_json::to_value(queue.sqs_event(&batch)).unwrap_or(Value::Null);
        let (queue, functions) = (queue.clone(), functions.clone());
        tokio::spawn(async move {
            let function = queue.consumer(&functions);
            let result = function.invoke_reserved(slot, event).await;
            queue.settle(function.name(), &batch, result);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn push_queue(visibility_secs: u64, max_receive_count: u32) -> LocalQueue {
        let config = GatewayConfig {
            push_queue: QueueSettings {
                batch_size: 10,
                max_receive_count,
                visibility_timeout: Duration::from_secs(visibility_secs),
            },
            ..GatewayConfig::default()
        };
        LocalQueue::push(&config)
    }

    fn messages(count: usize) -> Vec<Message> {
        (0..count)
            .map(|i| Message::sent(format!("m{i}"), MessageAttributes::new()))
            .collect()
    }

    fn failing(ids: &[&Message]) -> Result<Value, InvokeError> {
        let failures: Vec<Value> = ids
            .iter()
            .map(|m| json!({"itemIdentifier": m.id()}))
            .collect();
        Ok(json!({ "batchItemFailures": failures }))
    }

    #[tokio::test(start_paused = true)]
    async fn failed_records_come_back_after_the_visibility_timeout_then_go_to_the_dead_letter_queue(
    ) {
        let queue = push_queue(30, 2);
        queue.send(messages(3));
        let first = queue.receive().await;
        assert_eq!(first.len(), 3);
        let started = Instant::now();
        queue.settle("Pusher", &first, failing(&[&first[1]]));
        assert_eq!(queue.depth(), 1, "the two that succeeded are deleted");

        let again = queue.receive().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(30),
            "hidden until its timeout"
        );
        assert_eq!(
            (again.len(), again[0].id(), again[0].receive_count),
            (1, first[1].id(), 2)
        );
        queue.settle("Pusher", &again, Err(InvokeError::Throttled));
        assert_eq!(
            (queue.depth(), queue.dead_depth()),
            (1, 0),
            "hidden once more"
        );

        // The receive after its last moves it instead of handing it out.
        let nothing = tokio::time::timeout(Duration::from_secs(60), queue.receive()).await;
        assert!(nothing.is_err(), "nothing to receive: {nothing:?}");
        assert_eq!((queue.depth(), queue.dead_depth()), (0, 1));
        let dead = queue.dead_letters();
        assert_eq!(dead[0].queue, "push-dlq");
        assert_eq!(dead[0].receive_count, 2);
        assert_eq!(
            dead[0].last_error,
            "the pusher function reported the record failed on receive 2"
        );
        assert_eq!(
            queue.counts(),
            QueueCounts {
                sent: 3,
                received: 4,
                received_again: 1,
                deleted: 2,
                dead_lettered: 1,
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_whose_invocations_overlap_is_dead_lettered_after_its_last_receive() {
        let queue = push_queue(1, 3);
        queue.send(messages(1));
        // Each invocation outlasts the visibility timeout: the message is received again
        // before any answer, then moved when a fourth receive would take it.
        let receives = [
            queue.receive().await,
            queue.receive().await,
            queue.receive().await,
        ];
        let counts: Vec<u32> = receives.iter().map(|b| b[0].receive_count).collect();
        assert_eq!(counts, [1, 2, 3]);
        queue.settle("Pusher", &receives[0], failing(&[&receives[0][0]]));
        let nothing = tokio::time::timeout(Duration::from_secs(60), queue.receive()).await;
        assert!(nothing.is_err());
        assert_eq!(queue.dead_depth(), 1);
        assert_eq!(
            queue.dead_letters()[0].last_error,
            "the pusher function reported the record failed on receive 1"
        );
        // The later invocations' answers find nothing left to settle.
        queue.settle("Pusher", &receives[2], failing(&[]));
        assert_eq!(queue.counts().deleted, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_deletes_the_message_though_it_was_received_again_since() {
        let queue = push_queue(1, 5);
        queue.send(messages(1));
        let first = queue.receive().await;
        let second = queue.receive().await;
        assert_eq!(second[0].receive_count, 2);
        queue.settle("Pusher", &first, failing(&[]));
        assert_eq!((queue.depth(), queue.counts().deleted), (0, 1));
        queue.settle("Pusher", &second, failing(&[]));
        assert_eq!(queue.counts().deleted, 1, "deleted once");
    }

    /// Every message in flight at once, as when pushers hold a planned event's batches: each
    /// receive and each settle costs the messages it touches, not the queue's depth (a scan
    /// per receive would take minutes here).
    #[test]
    fn receives_and_settles_cost_what_they_touch_however_many_are_in_flight() {
        let count = 50_000;
        let mut state = State::default();
        for message in messages(count) {
            state.enqueue(message);
        }
        let settings = QueueSettings::push();
        let started = std::time::Instant::now();
        let now = Instant::now();
        let received: Vec<Message> = (0..count)
            .flat_map(|_| state.take(now, &settings))
            .collect();
        assert_eq!(received.len(), count);
        assert!(state.take(now, &settings).is_empty(), "all in flight");
        for message in &received {
            assert!(state.remove(&message.id).is_some());
        }
        assert!(state.messages.is_empty() && state.hidden.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?} for {count} receives and deletes",
            started.elapsed()
        );
    }
}
