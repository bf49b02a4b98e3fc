//! Identifiers and times in the formats AWS stamps them with: API Gateway's connection ids,
//! request ids and CLF request times, and the epoch milliseconds of `connectedAt` and of SQS's
//! `SentTimestamp`.
//!
//! A leaf module: the WebSocket handshake mints ids, the event builders stamp them, the queues
//! stamp their messages.

use base64::Engine;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `requestTime` in API Gateway's CLF format, e.g. `24/Nov/2025:03:31:00 +0000`.
pub fn request_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

/// A fresh id in the shape of API Gateway's request ids.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A connection id in API Gateway's form: 11 random bytes in base64, e.g. `R0oXAdfD0kwCH6w=`.
/// Ids can hold `/`, `+` and `=`, so clients must URL-encode them in `@connections` paths,
/// exactly as against AWS.
pub fn connection_id() -> String {
    let bytes: [u8; 11] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let id = connection_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }

    #[test]
    fn request_times_are_clf() {
        assert_eq!(request_time(0), "01/Jan/1970:00:00:00 +0000");
    }
}
