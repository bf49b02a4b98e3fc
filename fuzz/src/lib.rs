//! What every fuzz target shares: the runtime and the gateway built as the tests build them
//! (in-memory store, no network), and the properties every answer must have.
//!
//! Each target feeds arbitrary input to one entry point and asserts more than "no panic":
//! errors are the typed ones, and every HTTP answer of the gateway is AWS-shaped (a status,
//! an `x-amzn-ErrorType` header naming the error, and a JSON body with a message). A failed
//! assertion is a crash, so libFuzzer keeps the input.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::Value;
use tower::ServiceExt;
use wspush_gateway::{AppState, GatewayConfig};
use wspush_runtime::auth::TokenKeys;
use wspush_runtime::config::PushSettings;
use wspush_runtime::store::MemoryStore;
use wspush_runtime::{Deps, Runtime};

pub const SECRET: &[u8] = b"fuzz-secret-for-wspush";

/// The unix time every target verifies and mints at, so a crash reproduces.
pub const NOW: i64 = 1_764_000_000;

/// One single-threaded tokio runtime per process; the targets only `block_on` it.
pub fn tokio() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime for the fuzz targets: {e}"))
    })
}

pub fn keys() -> TokenKeys {
    TokenKeys::new(SECRET, wspush_runtime::auth::ClaimRules::default())
}

/// A runtime serving every event kind on a fresh in-memory store, with no pusher (a fan-out
/// stops at a typed `NotConfigured` error instead of reaching for the network).
pub fn runtime() -> Runtime {
    Runtime::new(Deps {
        store: Arc::new(MemoryStore::new()),
        pusher: None,
        dead_letters: None,
        tokens: Some(keys()),
        access: std::sync::Arc::new(wspush_runtime::access::SubscribeAccess::allow_all()),
        token_leeway_secs: 30,
        record_ttl: std::time::Duration::from_secs(7200),
        push: PushSettings::default(),
        push_queue: None,
        plan: wspush_runtime::config::PlanSettings::default(),
        history: wspush_runtime::config::default_retention(),
        test_tokens_enabled: true,
    })
}

/// The gateway's router on an in-memory store. Nothing listens on its address and the queue
/// pollers are not started, so accepted events stay in their queues: [`with_gateway`] starts
/// afresh every [`REQUESTS_PER_GATEWAY`] requests.
pub struct Gateway {
    router: axum::Router,
    used: u32,
}

/// Requests one [`Gateway`] serves before it is rebuilt.
pub const REQUESTS_PER_GATEWAY: u32 = 500;

impl Gateway {
    fn new() -> Self {
        const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 9);
        let _entered = tokio().enter();
        let state = AppState::new(
            GatewayConfig::default(),
            Arc::new(MemoryStore::new()),
            SECRET,
            SocketAddr::from(ADDR),
        );
        // Built once: building the router costs more than most requests.
        Self {
            router: wspush_gateway::app(state),
            used: 0,
        }
    }

    /// Sends `request` through the whole router, with the peer address `serve` adds.
    pub fn send(&self, mut request: Request<Body>) -> (Response<Body>, Vec<u8>) {
        let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let router = self.router.clone();
        tokio().block_on(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_else(|e| panic!("response body could not be read: {e}"));
            (Response::from_parts(parts, Body::empty()), bytes.to_vec())
        })
    }
}

/// Runs `f` on this thread's gateway, rebuilding it every [`REQUESTS_PER_GATEWAY`] requests.
pub fn with_gateway<T>(f: impl FnOnce(&Gateway) -> T) -> T {
    thread_local! {
        static GATEWAY: std::cell::RefCell<Option<Gateway>> = const { std::cell::RefCell::new(None) };
    }
    GATEWAY.with_borrow_mut(|slot| {
        let gateway = match slot {
            Some(gateway) if gateway.used < REQUESTS_PER_GATEWAY => gateway,
            _ => slot.insert(Gateway::new()),
        };
        gateway.used += 1;
        f(gateway)
    })
}

/// Every refusal is AWS-shaped: an `x-amzn-ErrorType` header, and a JSON object body carrying a
/// message (`message`, or Lambda's `Message`) and, outside Lambda, `__type` equal to the header.
pub fn assert_aws_error(response: &Response<Body>, body: &[u8], what: &str) {
    let status = response.status();
    let code = response
        .headers()
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: {status} without x-amzn-ErrorType; body {body:?}"));
    let json: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{what}: {status} {code} body is not JSON ({e}): {body:?}"));
    let message = json
        .get("message")
        .or_else(|| json.get("Message"))
        .and_then(Value::as_str);
    assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{what}: {status} {code} has no message: {json}"
    );
    if let Some(kind) = json.get("__type") {
        assert_eq!(
            kind.as_str(),
            Some(code),
            "{what}: __type and header differ"
        );
    }
}

/// The gateway never answers a request it merely refused with a 5xx.
pub fn assert_not_server_error(response: &Response<Body>, body: &[u8], what: &str) {
    assert!(
        !response.status().is_server_error(),
        "{what}: {} {:?}",
        response.status(),
        String::from_utf8_lossy(body)
    );
}
