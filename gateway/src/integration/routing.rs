//! Route selection: `$request.body.action`, falling back to `$default`.
//!
//! It sits with the event builders rather than in the socket loop that calls it: the route it
//! selects is the `routeKey` of the event sent, and decides which route's integration answers,
//! so it is part of what API Gateway sends to the functions.

use serde_json::Value;
use wspush_contract::routes;

use crate::client::Body;

/// The route a frame goes to: `$request.body.action` when it names a route, else `$default`.
/// Binary frames and text that is not a JSON object go to `$default`, as on API Gateway.
pub fn select_route(body: &Body) -> &'static str {
    let Body::Text(text) = body else {
        return routes::DEFAULT;
    };
    let action = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_string));
    match action.as_deref() {
        Some(action) => routes::ALL
            .into_iter()
            .filter(|route| !route.starts_with('$'))
            .find(|route| *route == action)
            .unwrap_or(routes::DEFAULT),
        None => routes::DEFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_come_from_the_action() {
        let text = |s: &str| Body::Text(s.to_string());
        assert_eq!(
            select_route(&text(r#"{"action":"subscribe"}"#)),
            "subscribe"
        );
        assert_eq!(select_route(&text(r#"{"action":"ping"}"#)), "ping");
        assert_eq!(select_route(&text(r#"{"action":"$connect"}"#)), "$default");
        assert_eq!(select_route(&text(r#"{"action":"dance"}"#)), "$default");
        assert_eq!(select_route(&text("not json")), "$default");
        assert_eq!(select_route(&Body::Binary(vec![1, 2])), "$default");
    }
}
