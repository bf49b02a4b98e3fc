//! Properties of the gateway's entry points over generated input (proptest), the same entry
//! points `fuzz/` drives with libFuzzer: route selection, `PutEvents` and `@connections`,
//! the last two through the whole router (`app(state)` with `tower::ServiceExt::oneshot`).
//!
//! What is asserted beyond "no panic": the selected route is one a client can reach and agrees
//! with the runtime's parsing; `PutEvents` fails exactly the entries EventBridge would fail,
//! with its error codes; every refusal of every API is AWS-shaped (an `x-amzn-ErrorType`
//! header and a JSON body with a message), and no request a client merely got wrong is a 5xx.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{signed_request, unbound_state};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Map, Value};
use tower::ServiceExt;
use wspush_contract::routes;
use wspush_gateway::client;
use wspush_gateway::integration::select_route;
use wspush_gateway::{AppState, GatewayConfig};
use wspush_runtime::frames::parse_client_frame;
use wspush_runtime::store::MemoryStore;

/// A gateway state on an in-memory store. Nothing listens on its address and its queue
/// pollers are not started: the router answers, nothing is delivered.
fn state() -> AppState {
    unbound_state(GatewayConfig::default(), Arc::new(MemoryStore::new()))
}

struct Answer {
    status: StatusCode,
    error_type: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends `request` through the whole router on a fresh current-thread runtime, with the peer
/// address the real server adds.
fn send(state: &AppState, mut request: Request<Body>) -> Answer {
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40_000,
        ))));
    let router = wspush_gateway::app(state.clone());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(async move {
            let response = router.oneshot(request).await.expect("the router answers");
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let (status, error_type, content_type) = (
                response.status(),
                header("x-amzn-ErrorType"),
                header("content-type"),
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body is read");
            Answer {
                status,
                error_type,
                content_type,
                body: body.to_vec(),
            }
        })
}

/// Never a 5xx; a 4xx names its error in the header and in a JSON body with a message.
fn check_aws_shaped(answer: &Answer, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !answer.status.is_server_error(),
        "{what}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    if !answer.status.is_client_error() {
        return Ok(());
    }
    let code = answer.error_type.as_deref();
    prop_assert!(
        code.is_some(),
        "{what}: {} without x-amzn-ErrorType: {:?}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json().unwrap_or(Value::Null);
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str);
    prop_assert!(
        message.is_some_and(|m| !m.is_empty()),
        "{what}: no message in {body}"
    );
    if let Some(kind) = body.get("__type") {
        prop_assert_eq!(kind.as_str(), code, "{}: __type and header differ", what);
    }
    Ok(())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Clone, Debug)]
struct Entry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    bus: Option<String>,
    time: Option<f64>,
    resources: Option<Vec<String>>,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                entry.insert(key.to_string(), value);
            }
        };
        put("Source", self.source.clone().map(Value::from));
        put("DetailType", self.detail_type.clone().map(Value::from));
        put("Detail", self.detail.clone().map(Value::from));
        put("EventBusName", self.bus.clone().map(Value::from));
        put("Time", self.time.map(Value::from));
        put("Resources", self.resources.clone().map(Value::from));
        Value::Object(entry)
    }

    /// The error code EventBridge gives this entry, checking in its order; `None` if accepted.
    fn expected_error(&self) -> Option<&'static str> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&self.source) || blank(&self.detail_type) || blank(&self.detail) {
            return Some("InvalidArgument");
        }
        let detail = self.detail.as_deref().unwrap_or("");
        if !matches!(serde_json::from_str::<Value>(detail), Ok(Value::Object(_))) {
            return Some("MalformedDetail");
        }
        match self.bus.as_deref() {
            None | Some("" | "default") => None,
            Some(bus) if bus.ends_with(":event-bus/default") => None,
            Some(_) => Some("InvalidArgument"),
        }
    }
}

fn optional_text(words: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        3 => select(words).prop_map(String::from),
        1 => any::<String>(),
    ])
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        optional_text(&["backend-service", "", "  ", "\u{2003}"]),
        optional_text(&["Entity Updated", "Send User Push Notification", "Other", ""]),
        optional_text(&[
            r#"{"entityId":"e","message":"m"}"#,
            r#"{"userId":"u","message":"m"}"#,
            "{}",
            "[1]",
            "\"text\"",
            "{",
            "",
        ]),
        optional_text(&[
            "default",
            "",
            "arn:aws:events:us-east-1:000000000000:event-bus/default",
            "other",
        ]),
        prop::option::of(prop_oneof![
            -1e20f64..1e20,
            select(vec![0.0, 1.764e9, 1e300, -1e300, f64::MAX, f64::MIN]),
        ]),
        prop::option::of(prop::collection::vec(any::<String>(), 0..3)),
    )
        .prop_map(
            |(source, detail_type, detail, bus, time, resources)| Entry {
                source,
                detail_type,
                detail,
                bus,
                time,
                resources,
            },
        )
}

fn put_events(target: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/")
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Body::from(body))
        .expect("a PutEvents request")
}

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::DELETE,
    Method::PUT,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "production", "@connections", "_gateway", "connections", "queues", "functions",
            "dead-letters", "redrive", "2015-03-31", "invocations", "CreateTestJwt", "",
        ]).prop_map(String::from),
        1 => any::<String>().prop_map(|s| encode(&s)),
        1 => "%[0-9A-Fa-f]{2}|%[G-Z]{2}|%",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_frame_goes_to_a_route_a_client_can_reach_and_keeps_it(
        body in prop_oneof![
            any::<String>(),
            (select(routes::ALL.to_vec()), prop::option::of(any::<String>()))
                .prop_map(|(action, id)| json!({"action": action, "entityId": id}).to_string()),
            Just(String::from(r#"{"action":"ping","action":"subscribe"}"#)),
        ],
    ) {
        let route = select_route(&client::Body::Text(body.clone()));
        prop_assert!(routes::ALL.contains(&route));
        prop_assert!(route != routes::CONNECT && route != routes::DISCONNECT, "{body} selected {route}");
        let on_default = parse_client_frame(routes::DEFAULT, Some(&body));
        if route == routes::DEFAULT {
            prop_assert!(on_default.is_err(), "$default got a valid action: {on_default:?}");
        } else {
            prop_assert_eq!(parse_client_frame(route, Some(&body)), on_default);
        }
    }

    #[test]
    fn binary_frames_go_to_default(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(select_route(&client::Body::Binary(bytes)), routes::DEFAULT);
    }

    #[test]
    fn put_events_fails_exactly_the_entries_eventbridge_fails(entries in prop::collection::vec(entry(), 0..12)) {
        let body = json!({"Entries": entries.iter().map(Entry::to_json).collect::<Vec<_>>()});
        let answer = send(&state(), put_events("AWSEvents.PutEvents", body.to_string().into_bytes()));
        check_aws_shaped(&answer, "PutEvents")?;
        if entries.is_empty() || entries.len() > 10 {
            prop_assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            prop_assert_eq!(answer.error_type.as_deref(), Some("ValidationException"));
            return Ok(());
        }
        prop_assert_eq!(answer.status, StatusCode::OK);
        prop_assert_eq!(answer.content_type.as_deref(), Some("application/x-amz-json-1.1"));
        let reply = answer.json().expect("a JSON answer");
        let results = reply["Entries"].as_array().expect("Entries");
        prop_assert_eq!(results.len(), entries.len());
        let mut failures = 0;
        for (entry, result) in entries.iter().zip(results) {
            match entry.expected_error() {
                Some(code) => {
                    failures += 1;
                    prop_assert_eq!(result["ErrorCode"].as_str(), Some(code), "{:?} → {}", entry, result);
                    prop_assert!(result["ErrorMessage"].as_str().is_some_and(|m| !m.is_empty()));
                }
                None => prop_assert!(result["EventId"].as_str().is_some_and(|id| !id.is_empty()), "{:?} → {}", entry, result),
            }
        }
        prop_assert_eq!(reply["FailedEntryCount"].as_u64(), Some(failures));
    }

    #[test]
    fn put_events_refuses_any_other_body_in_aws_shape(
        target in select(vec!["AWSEvents.PutEvents", "AWSEvents.PutRule", ""]),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            any::<String>().prop_map(String::into_bytes),
            Just(b"{\"Entries\":null}".to_vec()),
            Just(b"{\"Entries\":{}}".to_vec()),
            Just(b"[]".to_vec()),
        ],
    ) {
        let answer = send(&state(), put_events(target, body));
        check_aws_shaped(&answer, "PutEvents")?;
        if answer.status.is_client_error() {
            prop_assert_eq!(answer.content_type.as_deref(), Some("application/x-amz-json-1.1"));
        }
    }

    #[test]
    fn connections_on_unknown_ids_are_gone_unsigned_calls_refused_and_other_stages_forbidden(
        method in select(vec![Method::GET, Method::POST, Method::DELETE]),
        stage in prop_oneof![Just(String::from("production")), "[a-z]{1,10}"],
        id in any::<String>().prop_filter("an id", |id| !id.is_empty()),
        body in prop::collection::vec(any::<u8>(), 0..64),
        signed in any::<bool>(),
    ) {
        let path = format!("/{stage}/@connections/{}", encode(&id));
        let request = if signed {
            signed_request(&method, &path, body)
        } else {
            Request::builder().method(method.clone()).uri(&path).body(Body::from(body)).expect("a request")
        };
        let answer = send(&state(), request);
        check_aws_shaped(&answer, &format!("{method} {path}"))?;
        let expected = match (stage == "production", signed) {
            (false, _) => ("ForbiddenException", 403),
            (true, false) => ("MissingAuthenticationTokenException", 403),
            (true, true) => ("GoneException", 410),
        };
        prop_assert_eq!(answer.error_type.as_deref(), Some(expected.0), "{} {}", method, path);
        prop_assert_eq!(answer.status.as_u16(), expected.1);
    }

    #[test]
    fn any_method_on_any_path_gets_an_aws_shaped_answer(
        method in select(METHODS.to_vec()),
        segments in prop::collection::vec(path_segment(), 0..5),
        query in prop::option::of("[a-z_]{1,12}=[A-Za-z0-9%.]{0,12}"),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut path = format!("/{}", segments.join("/"));
        if let Some(query) = query {
            path = format!("{path}?{query}");
        }
        let Ok(request) = Request::builder().method(method.clone()).uri(&path).body(Body::from(body)) else {
            return Ok(());
        };
        let answer = send(&state(), request);
        if method != Method::HEAD {
            check_aws_shaped(&answer, &format!("{method} {path}"))?;
        } else {
            prop_assert!(!answer.status.is_server_error(), "HEAD {}: {}", path, answer.status);
        }
    }
}

/// Pinned inputs of `any_method_on_any_path_gets_an_aws_shaped_answer`: a path segment that is
/// not UTF-8 once percent-decoded is a `BadRequestException` in AWS's shape, with
/// `x-amzn-ErrorType`, not axum's plain-text 400 ("Invalid URL: Invalid UTF-8 in `stage`").
#[test]
fn regression_a_path_segment_that_is_not_utf8_is_a_bad_request_exception() {
    let state = state();
    for path in [
        "/%A0",
        "/production/@connections/%FF%FE",
        "/2015-03-31/functions/%C3%28/invocations",
    ] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let answer = send(&state, signed_request(&method, path, Vec::new()));
            if answer.status == StatusCode::NOT_FOUND {
                // No route for this method and path at all: the fallback's AWS error.
                assert_eq!(answer.error_type.as_deref(), Some("NotFoundException"));
                continue;
            }
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{method} {path}");
            assert_eq!(
                answer.error_type.as_deref(),
                Some("BadRequestException"),
                "{method} {path}"
            );
            let body = answer.json().expect("a JSON body");
            assert_eq!(body["__type"], "BadRequestException");
            assert!(
                body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("UTF-8")),
                "{body}"
            );
        }
    }
}

/// Pinned inputs of `any_method_on_any_path_gets_an_aws_shaped_answer`: a method a path does
/// not serve is a `NotFoundException` in AWS's shape, not axum's bare 405 with an empty body.
#[test]
fn regression_a_method_a_path_does_not_serve_is_an_aws_error() {
    let state = state();
    for (method, path) in [
        (Method::PUT, "/production/@connections/abc"),
        (Method::PATCH, "/@connections/abc"),
        (
            Method::GET,
            "/2015-03-31/functions/CreateTestJwt/invocations",
        ),
        (Method::DELETE, "/_gateway/queues"),
        (Method::POST, "/production"),
    ] {
        let answer = send(&state, empty_request(&method, path));
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(answer.error_type.as_deref(), Some("NotFoundException"));
        let body = answer.json().expect("a JSON body");
        assert_eq!(
            body["message"],
            format!("no emulated API serves {method} {path}")
        );
    }
}

/// A request without a body.
fn empty_request(method: &Method, path: &str) -> Request<Body> {
    Request::builder()
        .method(method.clone())
        .uri(path)
        .body(Body::empty())
        .expect("a request")
}

/// Pinned inputs of
/// `connections_on_unknown_ids_are_gone_unsigned_calls_refused_and_other_stages_forbidden`: an
/// id of `.` or `..` is a dot segment, which SigV4 normalizes away before signing, so the
/// gateway's check normalizes the path too (else it would answer `InvalidSignatureException`).
#[test]
fn regression_dot_segment_ids_are_signed_over_the_normalized_path() {
    let state = state();
    for id in [".", "..", "a/../b"] {
        let path = format!("/production/@connections/{}", id.replace('/', "%2F"));
        let answer = send(&state, signed_request(&Method::POST, &path, b"{}".to_vec()));
        assert_eq!(
            answer.error_type.as_deref(),
            Some("GoneException"),
            "{path}"
        );
    }
}
