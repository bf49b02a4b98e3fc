//! What API Gateway knows of a WebSocket client: its `$connect` request ([`Handshake`]) and the
//! messages it exchanges ([`Body`]).
//!
//! Plain data with no dependency on the rest of the gateway, because every stage of a
//! connection reads it: the identity sources are checked against the handshake
//! ([`crate::identity`]), the events sent to the functions carry both
//! ([`crate::integration`]), the registry queues bodies for the socket ([`crate::registry`]) and
//! `@connections` posts them ([`crate::connections`]).

use axum::http::HeaderMap;

/// What API Gateway knows about a `$connect` handshake.
#[derive(Clone, Debug)]
pub struct Handshake {
    pub connection_id: String,
    pub request_id: String,
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub domain_name: String,
    /// Header names as received, in arrival order, repeated names kept.
    pub headers: Vec<(String, String)>,
    /// Query parameters, decoded, repeated names kept.
    pub query: Vec<(String, String)>,
}

impl Handshake {
    /// Reads the headers API Gateway forwards. Values that are not visible ASCII are dropped.
    pub fn headers_from(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_string(), v.to_string()))
            })
            .collect()
    }
}

/// A message's body as API Gateway passes it, either way: text as is, binary in base64.
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
