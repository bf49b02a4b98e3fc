//! Why a socket ended: the close code and reason sent to the client and reported to
//! `$disconnect`, and which code each of the codec's read errors calls for.

use std::error::Error as _;

use tokio_tungstenite::tungstenite::Error as WsError;

pub struct Ending {
    pub code: u16,
    pub reason: String,
}

impl Ending {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The close code a read error calls for: 1009 for a frame or message over the limits,
    /// 1007 for text that is not UTF-8, 1002 for any other protocol violation; a transport
    /// failure has no close frame (1006).
    pub fn of_read_error(error: &WsError) -> Self {
        match error {
            WsError::Capacity(_) => Self::new(1009, "Message too big"),
            WsError::Utf8(_) => Self::new(1007, "Invalid frame payload data"),
            WsError::Protocol(p) => Self::new(1002, format!("Protocol error: {p}")),
            other => {
                let cause = other.source().map(ToString::to_string).unwrap_or_default();
                Self::new(1006, format!("{other} {cause}").trim().to_string())
            }
        }
    }
}
