//! One socket from upgrade to `$disconnect`.
//!
//! One task owns the socket whole and handles one event at a time: a frame from the client
//! becomes a route invocation (`invocations`), throttled and bounded in number, answered
//! within the client's buffer (`replies`); a push, route response or close from the
//! connection's mailbox is written (`outbound`); a time limit (`deadlines`) closes it.
//! Every way out of the loop (client close, dropped TCP, oversize or malformed frame, idle or
//! lifetime limit, DELETE, shutdown) ends in the same place with its close code (`ending`):
//! off the registry, in-flight invocations finished, then `$disconnect`.
//!
//! The loop sees the socket only as a [`Sink`] of messages and a [`Stream`] of what the codec
//! read: the two halves of tungstenite's codec on the upgraded connection. Nothing in it needs
//! TCP, so tests drive it over channels on paused time; what only the codec does (answering
//! pings and close frames, detecting oversize and malformed frames) is tested on real sockets.

mod deadlines;
mod ending;
mod invocations;
mod outbound;
mod replies;

pub use invocations::{disconnect, THROTTLED};

use std::fmt::Display;
use std::ops::ControlFlow;
use std::sync::Arc;

use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::client::Body;
use crate::config::Limits;
use crate::ids;
use crate::registry::{self, charge, ConnectionInfo, Inbox, Outbound};
use crate::state::AppState;
use deadlines::Deadlines;
use ending::Ending;
use invocations::Invocations;

/// Owns one socket from upgrade to `$disconnect`. `writer` and `reader` are its two halves;
/// the reader's errors are the codec's, which decide the close code.
pub async fn run<W, R>(
    writer: W,
    reader: R,
    state: AppState,
    info: Arc<ConnectionInfo>,
    domain: String,
) where
    W: Sink<Message> + Unpin,
    W::Error: Display,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let (mailbox, inbox) = registry::mailbox();
    state.registry().insert(info.clone(), mailbox.clone());
    let mut invocations = Invocations::new(state.clone(), info.clone(), domain, mailbox);
    let mut socket = Socket::new(writer, reader, inbox, &state.config().limits);
    let ending = socket.serve(&mut invocations).await;
    state.registry().remove(&info.connection_id);
    drop(socket);
    invocations.finish(&ending).await;
}

/// The socket's side of the loop: its halves, its mailbox and its time limits.
struct Socket<W, R> {
    writer: W,
    reader: R,
    inbox: Inbox,
    deadlines: Deadlines,
    max_frame_bytes: usize,
}

impl<W, R> Socket<W, R>
where
    W: Sink<Message> + Unpin,
    W::Error: Display,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    fn new(writer: W, reader: R, inbox: Inbox, limits: &Limits) -> Self {
        Self {
            writer,
            reader,
            inbox,
            deadlines: Deadlines::new(limits),
            max_frame_bytes: limits.max_frame_bytes,
        }
    }

    /// One event at a time, until one ends the socket. While the connection has as many
    /// invocations running as it may, its next frame waits unread.
    async fn serve(&mut self, invocations: &mut Invocations) -> Ending {
        loop {
            let next = tokio::select! {
                frame = self.reader.next(), if invocations.has_room() => {
                    self.on_client_frame(frame, invocations).await
                }
                Some(_) = invocations.join_next(), if !invocations.is_empty() => {
                    ControlFlow::Continue(())
                }
                command = self.inbox.recv() => self.on_outbound(command).await,
                () = sleep_until(self.deadlines.idle_at()) => self.go_away("Idle timeout").await,
                () = sleep_until(self.deadlines.closes_at()) => {
                    self.go_away("Maximum connection duration exceeded").await
                }
            };
            if let ControlFlow::Break(ending) = next {
                return ending;
            }
        }
    }

    /// What the codec read: data is routed; a close, a read error or the end of the stream
    /// ends the socket.
    async fn on_client_frame(
        &mut self,
        frame: Option<Result<Message, WsError>>,
        invocations: &mut Invocations,
    ) -> ControlFlow<Ending> {
        let message = match frame {
            None => return ControlFlow::Break(Ending::new(1006, "Connection closed abnormally")),
            Some(Err(error)) => return ControlFlow::Break(self.refuse(&error).await),
            Some(Ok(message)) => message,
        };
        self.deadlines.client_active();
        invocations.connection().touch(ids::now_ms());
        match message {
            Message::Text(text) => invocations.start(Body::Text(text.to_string())),
            Message::Binary(bytes) => invocations.start(Body::Binary(bytes.to_vec())),
            // The codec answers pings itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            Message::Close(frame) => return ControlFlow::Break(self.closed_by_client(frame).await),
        }
        ControlFlow::Continue(())
    }

    /// The client closed: the codec has queued the answering close frame, which the flush
    /// sends. `$disconnect` gets the client's code and reason.
    async fn closed_by_client(&mut self, frame: Option<CloseFrame>) -> Ending {
        let _ = self.writer.flush().await;
        match frame {
            Some(f) => Ending::new(f.code.into(), f.reason.to_string()),
            None => Ending::new(1005, ""),
        }
    }

    /// A read error ends the socket with its close code, sent to the client unless the
    /// connection itself failed (1006: there is nobody to send it to).
    async fn refuse(&mut self, error: &WsError) -> Ending {
        let ending = Ending::of_read_error(error);
        if ending.code != 1006 {
            self.close(&ending).await;
        }
        ending
    }

    /// From the mailbox: a message to write, or a close from `@connections` or shutdown.
    async fn on_outbound(&mut self, command: Option<Outbound>) -> ControlFlow<Ending> {
        match command {
            Some(Outbound::Message(body)) => self.write_message(body).await,
            Some(Outbound::Close { code, reason }) => {
                let ending = Ending::new(code, reason);
                self.close(&ending).await;
                ControlFlow::Break(ending)
            }
            None => ControlFlow::Break(Ending::new(1006, "gateway dropped the connection")),
        }
    }

    /// Writes one message. Its bytes count against the client's buffer until written: a
    /// client that stops reading fills it, and `@connections` then answers 429.
    async fn write_message(&mut self, body: Body) -> ControlFlow<Ending> {
        let size = charge(&body);
        let sent = outbound::send(&mut self.writer, body, self.max_frame_bytes).await;
        self.inbox.sent(size);
        match sent {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Ending::new(1006, e.to_string())),
        }
    }

    /// A time limit closes with 1001 "Going away"; `$disconnect` is told which limit.
    async fn go_away(&mut self, limit: &str) -> ControlFlow<Ending> {
        self.close(&Ending::new(1001, "Going away")).await;
        ControlFlow::Break(Ending::new(1001, limit))
    }

    /// Boxed: a close happens once, and its future would otherwise be part of every socket
    /// task's state for its whole life.
    async fn close(&mut self, ending: &Ending) {
        Box::pin(outbound::close(&mut self.writer, &mut self.reader, ending)).await;
    }
}
