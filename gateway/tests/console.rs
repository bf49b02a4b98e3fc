//! The console's routes and the `/_gateway/connections` listing it reads: the page and its assets
//! with their headers through `app(state)`, the browser redirect of `/`, and subscriptions per
//! connection through a real server and real sockets. The page's behaviour in a browser is
//! tested by `e2e/browser/console.test.mjs` (scripts/browser.sh).

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use common::*;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn get(gw: &TestGateway, path: &str, accept: &str) -> axum::response::Response {
    wspush_gateway::app(gw.state.clone())
        .oneshot(
            Request::get(path)
                .header(header::ACCEPT, accept)
                // What the real server adds to every request; the WebSocket handler reads it.
                .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    50_000,
                ))))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response")
}

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn header_of(response: &axum::response::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let gw = TestGateway::start().await;
    let page = get(&gw, "/_gateway/console", "text/html").await;
    assert_eq!(page.status(), 200);
    assert!(header_of(&page, header::CONTENT_TYPE).starts_with("text/html"));
    let policy = header_of(&page, header::CONTENT_SECURITY_POLICY);
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self' ws: wss:"), "{policy}");
    let html = text(page).await;
    assert!(html.contains(r#"<script type="module" src="/_gateway/console/console.js">"#));
    assert!(html.contains(r#"href="/_gateway/console/console.css""#));

    for (path, kind) in [
        ("/_gateway/console/console.js", "text/javascript"),
        ("/_gateway/console/library-connection.js", "text/javascript"),
        ("/_gateway/console/wspush-client.js", "text/javascript"),
        ("/_gateway/console/console.css", "text/css"),
    ] {
        let asset = get(&gw, path, "*/*").await;
        assert_eq!(asset.status(), 200, "{path}");
        assert!(
            header_of(&asset, header::CONTENT_TYPE).starts_with(kind),
            "{path}"
        );
        assert_eq!(header_of(&asset, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(!text(asset).await.is_empty(), "{path}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn settings_name_the_stage_the_token_function_and_both_examples() {
    let gw = TestGateway::start().await;
    let settings: Value =
        serde_json::from_str(&text(get(&gw, "/_gateway/console/settings.json", "*/*").await).await)
            .expect("JSON");
    assert_eq!(settings["stage"], "production");
    assert_eq!(settings["testTokenFunction"], "CreateTestJwt");
    let examples = settings["examples"].as_array().expect("examples");
    let files: Vec<&str> = examples.iter().filter_map(|e| e["file"].as_str()).collect();
    assert_eq!(
        files,
        ["entity-updated.json", "send-user-push-notification.json"]
    );
    let entries: Value =
        serde_json::from_str(examples[0]["entries"].as_str().expect("text")).expect("entries");
    assert_eq!(entries[0]["DetailType"], "Entity Updated");
    gw.stop().await;
}

#[tokio::test]
async fn a_browser_visiting_the_root_is_sent_to_the_console_and_other_clients_are_not() {
    let gw = TestGateway::start().await;
    let browser = get(&gw, "/", "text/html,application/xhtml+xml,*/*;q=0.8").await;
    assert_eq!(browser.status(), 307);
    assert_eq!(header_of(&browser, header::LOCATION), "/_gateway/console");
    // A plain HTTP client of the WebSocket endpoint still gets API Gateway's answer.
    let other = get(&gw, "/", "*/*").await;
    assert_eq!(other.status(), 426);
    let staged = get(&gw, "/production", "text/html").await;
    assert_eq!(staged.status(), 426);
    gw.stop().await;
}

#[tokio::test]
async fn the_connection_listing_shows_each_connections_subscriptions() {
    let gw = TestGateway::start().await;
    let mut alice = gw.connect("alice").await;
    let mut bob = gw.connect("bob").await;
    for entity in ["b-entity", "a-entity"] {
        send_json(
            &mut alice,
            json!({"action": "subscribe", "entityId": entity}),
        )
        .await;
        assert_eq!(next_json(&mut alice, 5).await["type"], "Subscribed");
    }
    send_json(
        &mut bob,
        json!({"action": "subscribe", "entityId": "a-entity"}),
    )
    .await;
    assert_eq!(next_json(&mut bob, 5).await["type"], "Subscribed");
    send_json(
        &mut bob,
        json!({"action": "unsubscribe", "entityId": "a-entity"}),
    )
    .await;
    assert_eq!(next_json(&mut bob, 5).await["type"], "Unsubscribed");

    let listing: Value =
        serde_json::from_str(&text(get(&gw, "/_gateway/connections", "*/*").await).await)
            .expect("JSON");
    let connections = listing["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 2);
    let of = |user: &str| {
        connections
            .iter()
            .find(|c| c["authorizer"]["userId"] == user)
            .map(|c| c["subscriptions"].clone())
            .unwrap_or_else(|| panic!("{user} is listed: {listing}"))
    };
    assert_eq!(of("alice"), json!(["a-entity", "b-entity"]));
    assert_eq!(of("bob"), json!([]));
    gw.stop().await;
}
