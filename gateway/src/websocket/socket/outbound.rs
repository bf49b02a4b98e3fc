//! What the gateway writes to a socket: messages, split into frames as API Gateway splits
//! them, and close frames, after which the client's answer is awaited briefly.

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::{timeout, Duration};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::ending::Ending;
use crate::client::Body;

/// How long a closing socket waits for the client's answering close frame.
const CLOSE_HANDSHAKE_WAIT: Duration = Duration::from_secs(1);

/// Sends one message, split into frames of at most `max_frame` bytes as API Gateway splits
/// `@connections` messages over its 32 KB frame limit (the client sees one message).
pub async fn send<W>(writer: &mut W, body: Body, max_frame: usize) -> Result<(), W::Error>
where
    W: Sink<Message> + Unpin,
{
    let step = max_frame.max(1);
    // The common case, one frame: the text is handed over as it is, without a copy.
    let (bytes, data) = match body {
        Body::Text(text) if text.len() <= step => {
            return writer.send(Message::Text(text.into())).await
        }
        Body::Binary(bytes) if bytes.len() <= step => {
            return writer.send(Message::Binary(bytes.into())).await
        }
        Body::Text(text) => (Bytes::from(text), Data::Text),
        Body::Binary(bytes) => (Bytes::from(bytes), Data::Binary),
    };
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + step).min(bytes.len());
        let opcode = if start == 0 {
            OpCode::Data(data)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(bytes.slice(start..end), opcode, end == bytes.len());
        writer.feed(Message::Frame(frame)).await?;
        start = end;
    }
    writer.flush().await
}

/// Sends a close frame and waits briefly for the client's answer.
pub async fn close<W, R>(writer: &mut W, reader: &mut R, ending: &Ending)
where
    W: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(ending.code),
        reason: ending.reason.clone().into(),
    };
    if writer.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = timeout(CLOSE_HANDSHAKE_WAIT, async {
        while let Some(Ok(message)) = reader.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
