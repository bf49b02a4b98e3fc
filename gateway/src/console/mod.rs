//! The console: one page, served by the gateway, that shows the socket, the subscriptions and
//! the pushes.
//!
//! A new user would otherwise juggle the gateway, wscat and the aws CLI in three terminals and
//! read JSON by eye. The page mints test tokens through the gateway's own Lambda `Invoke`
//! (`CreateTestJwt`), opens several sockets side by side (token in the query string or as a
//! subprotocol), logs every frame, publishes the `examples/` events through `PutEvents`, and
//! reads the local-only listings under `/_gateway/`. It talks to the gateway only through those
//! public paths, the same ones the aws CLI and wscat use, so it also works against a deployed
//! stack's WebSocket URL (publishing then happens with the aws CLI; the page says so).
//!
//! Plain HTML, CSS and JavaScript, embedded in the binary with `include_str!`: no build step,
//! nothing fetched from the network at run time. A strict Content-Security-Policy keeps the page
//! to its own scripts and styles; it may connect to any `ws:`/`wss:` URL the user types.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Where the console lives; printed at start-up.
pub const PATH: &str = "/_gateway/console";

const HTML: &str = include_str!("console.html");
const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The two EventBridge entries files users pass to `aws events put-events --entries file://…`,
/// offered in the page as editable starting points.
const EXAMPLES: [(&str, &str); 2] = [
    (
        "entity-updated.json",
        include_str!("../../../examples/entity-updated.json"),
    ),
    (
        "send-user-push-notification.json",
        include_str!("../../../examples/send-user-push-notification.json"),
    ),
];

/// Only this origin's scripts and styles; sockets to any WebSocket URL (a deployed stack too).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page))
        .route("/_gateway/console/console.css", get(stylesheet))
        .route("/_gateway/console/console.js", get(script))
        .route("/_gateway/console/settings.json", get(settings))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

/// What the page cannot know by itself: the stage (for the default WebSocket URL), the function
/// that mints tokens, and the example entries.
async fn settings(State(state): State<AppState>) -> Json<serde_json::Value> {
    let examples: Vec<_> = EXAMPLES
        .iter()
        .map(|(file, text)| json!({"file": file, "entries": text}))
        .collect();
    Json(json!({
        "stage": state.config().stage,
        "testTokenFunction": wspush_contract::defaults::TEST_TOKEN_FUNCTION,
        "examples": examples,
    }))
}

/// Sends a browser that opens the gateway's root URL to the console, instead of answering
/// `426 Upgrade Required`. Only a plain `GET /` that asks for HTML and is not a WebSocket
/// upgrade is redirected; every client of the emulated APIs reaches them untouched.
pub async fn redirect_browsers(request: Request, next: Next) -> Response {
    if is_browser_visit(request.method(), request.uri().path(), request.headers()) {
        return Redirect::temporary(PATH).into_response();
    }
    next.run(request).await
}

fn is_browser_visit(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    method == Method::GET && path == "/" && !headers.contains_key(header::UPGRADE) && wants_html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).expect("ascii"));
        }
        map
    }

    #[test]
    fn only_plain_html_visits_of_the_root_are_redirected() {
        let html = headers(&[(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")]);
        assert!(is_browser_visit(&Method::GET, "/", &html));
        assert!(!is_browser_visit(&Method::POST, "/", &html));
        assert!(!is_browser_visit(&Method::GET, "/production", &html));
        let upgrade = headers(&[
            (header::ACCEPT, "text/html"),
            (header::UPGRADE, "websocket"),
        ]);
        assert!(!is_browser_visit(&Method::GET, "/", &upgrade));
        assert!(!is_browser_visit(&Method::GET, "/", &HeaderMap::new()));
        let json = headers(&[(header::ACCEPT, "application/json")]);
        assert!(!is_browser_visit(&Method::GET, "/", &json));
    }

    #[test]
    fn the_examples_are_the_entries_files() {
        for (file, text) in EXAMPLES {
            let entries: serde_json::Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(entries.as_array().is_some_and(|a| !a.is_empty()), "{file}");
        }
    }
}
