//! The hook against a real HTTP server on 127.0.0.1 that answers as each test tells it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_credential_types::Credentials;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tokio::net::TcpListener;

use super::*;

/// What the test server answers, and what it was asked.
#[derive(Clone)]
struct Server {
    status: AxumStatus,
    body: &'static str,
    delay: Duration,
    asked: Arc<AtomicUsize>,
    last: Arc<Mutex<Option<(String, HeaderMap, String)>>>,
}

async fn answer(
    State(server): State<Server>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (AxumStatus, &'static str) {
    server.asked.fetch_add(1, Ordering::SeqCst);
    *server.last.lock().expect("lock") = Some((uri.path().to_string(), headers, body));
    tokio::time::sleep(server.delay).await;
    (server.status, server.body)
}

/// Serves `body` with `status` after `delay`; the base URL and the server's record. The
/// server task ends with the test's runtime.
async fn serve(status: u16, body: &'static str, delay: Duration) -> (String, Server) {
    let server = Server {
        status: AxumStatus::from_u16(status).expect("status"),
        body,
        delay,
        asked: Arc::new(AtomicUsize::new(0)),
        last: Arc::new(Mutex::new(None)),
    };
    let app = Router::new()
        .route("/{*path}", post(answer))
        .with_state(server.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), server)
}

fn request<'a>(claims: &'a Map<String, Value>, entity_id: &'a str) -> HookRequest<'a> {
    HookRequest {
        user_id: "alice",
        claims,
        connection_id: "conn-1",
        entity_id,
    }
}

fn url_hook(base: &str) -> SubscribeHook {
    SubscribeHook::new(HookTarget::Url(format!("{base}/decide")), None)
}

#[tokio::test]
async fn the_hook_is_asked_with_the_subscription_and_its_answer_is_kept() {
    let (base, server) = serve(200, r#"{"allow":true,"cacheSeconds":60}"#, Duration::ZERO).await;
    let claims = json!({"sub": "alice", "org": "acme"});
    let claims = claims.as_object().expect("object");
    let hook = url_hook(&base);
    let answer = hook.decide(&request(claims, "board/7")).await;
    assert!(answer.allow);
    let (path, _, body) = server.last.lock().expect("lock").clone().expect("asked");
    assert_eq!(path, "/decide");
    let asked: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        asked,
        json!({"userId": "alice", "claims": {"sub": "alice", "org": "acme"}, "connectionId": "conn-1", "entityId": "board/7"})
    );
    // Cached for this connection and entity; another entity is asked.
    assert!(hook.decide(&request(claims, "board/7")).await.allow);
    assert_eq!(server.asked.load(Ordering::SeqCst), 1);
    hook.decide(&request(claims, "board/8")).await;
    assert_eq!(server.asked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_denial_carries_its_message_and_is_asked_again_without_cache_seconds() {
    let (base, server) = serve(
        200,
        r#"{"allow":false,"message":"not a member of board 7"}"#,
        Duration::ZERO,
    )
    .await;
    let claims = Map::new();
    let hook = url_hook(&base);
    let answer = hook.decide(&request(&claims, "board/7")).await;
    assert!(!answer.allow);
    assert_eq!(answer.message.as_deref(), Some("not a member of board 7"));
    hook.decide(&request(&claims, "board/7")).await;
    assert_eq!(server.asked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn errors_slowness_and_nonsense_deny() {
    let claims = Map::new();
    for (status, body, delay) in [
        (500, r#"{"allow":true}"#, Duration::ZERO),
        (200, "yes please", Duration::ZERO),
        (200, r#"{"allow":"true"}"#, Duration::ZERO),
        (200, r#"{"allow":true}"#, Duration::from_millis(500)),
    ] {
        let (base, _server) = serve(status, body, delay).await;
        let hook = url_hook(&base).with_timeout(Duration::from_millis(100));
        let answer = hook.decide(&request(&claims, "x")).await;
        assert!(!answer.allow, "{status} {body} after {delay:?} allowed");
    }
    // Nobody listening at all.
    let hook = url_hook("http://127.0.0.1:9");
    assert!(!hook.decide(&request(&claims, "x")).await.allow);
}

#[tokio::test]
async fn a_function_is_invoked_through_lambdas_api_signed_for_lambda() {
    let (base, server) = serve(200, r#"{"allow":true}"#, Duration::ZERO).await;
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let target = HookTarget::Function {
        name: "arn:aws:lambda:eu-west-1:123456789012:function:app-decides".into(),
        endpoint: base,
        region: "eu-west-1".into(),
    };
    let hook = SubscribeHook::new(target, Some(SharedCredentialsProvider::new(credentials)));
    let claims = Map::new();
    assert!(hook.decide(&request(&claims, "x")).await.allow);
    let (path, headers, _) = server.last.lock().expect("lock").clone().expect("asked");
    assert_eq!(
        path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Aapp-decides/invocations"
    );
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .expect("signed");
    assert!(
        authorization.contains("/eu-west-1/lambda/aws4_request"),
        "{authorization}"
    );
}

#[test]
fn targets_are_urls_or_function_names() {
    assert_eq!(
        HookTarget::parse("http://127.0.0.1:8080/decide", "us-east-1"),
        Ok(HookTarget::Url("http://127.0.0.1:8080/decide".into()))
    );
    let function = HookTarget::parse(
        "arn:aws:lambda:us-east-1:123456789012:function:decide",
        "us-east-1",
    )
    .expect("an ARN");
    assert!(
        matches!(function, HookTarget::Function { endpoint, .. } if endpoint == "https://lambda.us-east-1.amazonaws.com")
    );
    assert!(HookTarget::parse("http://example.com/decide", "us-east-1").is_err());
    assert!(HookTarget::parse("decide please", "us-east-1").is_err());
}
