//! Properties of the runtime's entry points over generated input (proptest), the same entry
//! points `fuzz/` drives with libFuzzer: event classification and dispatch, client frames and
//! tokens. They run in `cargo test`, so every case count is kept small enough for the whole
//! file to finish in a few seconds.
//!
//! What is asserted beyond "no panic": a refused event is refused with the typed, permanent
//! errors; `handle` refuses exactly what `classify` refuses; a frame's action agrees with its
//! route; a minted token verifies to its user; a tampered token never verifies; expiry follows
//! `exp` and the leeway exactly.

mod support;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use support::{fixture, keys, SECRET};
use wspush_contract::defaults::JWT_LEEWAY_SECONDS;
use wspush_contract::routes;

/// The leeway as a signed number of seconds.
const LEEWAY: i64 = JWT_LEEWAY_SECONDS as i64;
use wspush_runtime::auth::{check_user_id, TestTokenRequest, TokenError, MAX_USER_ID_BYTES};
use wspush_runtime::config::PushSettings;
use wspush_runtime::event::classify;
use wspush_runtime::frames::{
    parse_client_frame, ClientAction, FrameError, Reply, MAX_ENTITY_ID_BYTES,
};
use wspush_runtime::store::MemoryStore;
use wspush_runtime::{Deps, HandlerError, Runtime};

const NOW: i64 = 1_764_000_000;

/// Field names and values the classifier and the handlers look at, so generated events reach
/// past the first check.
const KEYS: &[&str] = &[
    "requestContext",
    "routeKey",
    "connectionId",
    "eventType",
    "body",
    "isBase64Encoded",
    "type",
    "methodArn",
    "headers",
    "queryStringParameters",
    "Records",
    "eventSource",
    "messageId",
    "detail-type",
    "source",
    "detail",
    "id",
    "entityId",
    "userId",
    "message",
    "action",
    "authorizer",
    "firstName",
    "sub",
];
const WORDS: &[&str] = &[
    "REQUEST",
    "aws:sqs",
    "aws:s3",
    "$connect",
    "$disconnect",
    "$default",
    "subscribe",
    "unsubscribe",
    "ping",
    "Entity Updated",
    "Send User Push Notification",
    "CONNECT",
    "MESSAGE",
    "",
    "myEntityId",
];
const FIXTURES: &[&str] = &[
    "authorizer-request.json",
    "eventbridge-entity-updated.json",
    "eventbridge-user-push.json",
    "sqs-eventbridge-batch.json",
    "test-token-empty.json",
    "test-token-overrides.json",
    "unknown-s3.json",
    "websocket-connect.json",
    "websocket-default.json",
    "websocket-disconnect.json",
    "websocket-ping.json",
    "websocket-subscribe.json",
    "websocket-unsubscribe.json",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(WORDS).prop_map(String::from),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            3 => select(KEYS).prop_map(String::from),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every JSON pointer inside `value`, the root excluded.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        let path = format!("{at}/{key}");
        out.push(path.clone());
        pointers(child, path, out);
    }
}

/// A real fixture with a few of its fields replaced by arbitrary values or removed.
fn mutated_fixture() -> impl Strategy<Value = Value> {
    let edit = (any::<Index>(), prop::option::of(json_value()));
    (select(FIXTURES), prop::collection::vec(edit, 1..4)).prop_map(|(name, edits)| {
        let mut event = fixture(name);
        for (which, replacement) in edits {
            let mut paths = Vec::new();
            pointers(&event, String::new(), &mut paths);
            if paths.is_empty() {
                break;
            }
            let path = which.get(&paths).clone();
            let (parent, key) = path.rsplit_once('/').unwrap_or(("", &path));
            let key = key.replace("~1", "/").replace("~0", "~");
            match (event.pointer_mut(parent), replacement) {
                (Some(Value::Object(map)), None) => {
                    map.remove(&key);
                }
                (Some(Value::Object(map)), Some(value)) => {
                    map.insert(key, value);
                }
                (Some(Value::Array(items)), replacement) => {
                    if let Ok(i) = key.parse::<usize>() {
                        match replacement {
                            Some(value) if i < items.len() => items[i] = value,
                            _ if i < items.len() => {
                                items.remove(i);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        event
    })
}

fn runtime() -> Runtime {
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

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(future)
}

/// `classify` and `handle` on one event: refusals are typed and agree.
fn check_event(event: Value) -> Result<(), TestCaseError> {
    let classified = classify(event.clone());
    if let Err(e) = &classified {
        prop_assert!(
            matches!(
                e,
                HandlerError::UnknownEvent(_) | HandlerError::InvalidEvent(_)
            ),
            "classify refused with {e:?}"
        );
        prop_assert!(e.is_permanent());
    }
    let handled = block_on(runtime().handle(event));
    match (classified, handled) {
        (Err(refused), Err(e)) => prop_assert_eq!(refused.to_string(), e.to_string()),
        (Err(refused), Ok(answer)) => {
            return Err(TestCaseError::fail(format!(
                "classify refused ({refused}) but handle answered {answer}"
            )))
        }
        (Ok(_), Err(e)) => {
            let diagnostic = lambda_runtime::Diagnostic::from(e);
            prop_assert!(!diagnostic.error_type.is_empty());
            prop_assert!(!diagnostic.error_message.is_empty());
        }
        (Ok(_), Ok(_)) => {}
    }
    Ok(())
}

fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("sign a test token")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_events_are_classified_or_refused_with_typed_errors(event in json_value()) {
        check_event(event)?;
    }

    #[test]
    fn mutated_fixtures_are_handled_or_refused_with_typed_errors(event in mutated_fixture()) {
        check_event(event)?;
    }

    #[test]
    fn any_frame_on_any_route_is_parsed_or_refused(route in text(), body in prop::option::of(any::<String>())) {
        // Any route key, even one API Gateway never sends: an answer, never a panic.
        let _ = parse_client_frame(&route, body.as_deref());
    }

    #[test]
    fn a_frame_parses_to_the_action_it_names(
        action in select(vec!["subscribe", "unsubscribe", "ping", "dance", "$connect", "$default"]),
        entity_id in prop::option::of(prop_oneof![any::<String>(), "[a-z]{995,1005}"]),
    ) {
        let mut frame = json!({"action": action});
        if let Some(id) = &entity_id {
            frame["entityId"] = json!(id);
        }
        let body = frame.to_string();
        let parsed = parse_client_frame(routes::DEFAULT, Some(&body));
        let expected_id = match entity_id.as_deref() {
            None => Err(FrameError::MissingEntityId(if action == "subscribe" { "subscribe" } else { "unsubscribe" })),
            Some("") => Err(FrameError::EmptyEntityId),
            Some(id) if id.len() > MAX_ENTITY_ID_BYTES => Err(FrameError::EntityIdTooLong),
            Some(id) => Ok(id.to_string()),
        };
        let expected = match action {
            "subscribe" => expected_id.map(|entity_id| ClientAction::Subscribe { entity_id, since: None }),
            "unsubscribe" => expected_id.map(|entity_id| ClientAction::Unsubscribe { entity_id }),
            "ping" => Ok(ClientAction::Ping),
            other => Err(FrameError::UnknownAction(other.to_string())),
        };
        prop_assert_eq!(&parsed, &expected);
        // The route API Gateway selects for it gives the same answer (the route is stable).
        if let Ok(action) = &parsed {
            let route = match action {
                ClientAction::Subscribe { .. } => routes::SUBSCRIBE,
                ClientAction::Unsubscribe { .. } => routes::UNSUBSCRIBE,
                ClientAction::Ping => routes::PING,
                ClientAction::Resume { .. } => routes::RESUME,
                ClientAction::History { .. } => routes::HISTORY,
            };
            prop_assert_eq!(parse_client_frame(route, Some(&body)), Ok(action.clone()));
        }
        // The reply a client gets names the same entity id, as JSON.
        if let Ok(ClientAction::Subscribe { entity_id, .. }) = &parsed {
            let reply: Value = serde_json::from_str(&Reply::Subscribed { entity_id: entity_id.clone(), position: None }.to_json())
                .expect("a reply is JSON");
            prop_assert_eq!(reply, json!({"type": "Subscribed", "entityId": entity_id}));
        }
    }

    #[test]
    fn arbitrary_strings_never_verify(token in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{0,43}"]) {
        let verdict = block_on(keys().verify(&token, NOW));
        prop_assert!(verdict.is_err(), "{token:?} verified: {verdict:?}");
    }

    #[test]
    fn a_minted_token_verifies_to_its_user(user_id in prop_oneof![any::<String>(), "[a-z]{1020,1030}"]) {
        let keys = keys();
        let request = TestTokenRequest { user_id: Some(user_id.clone()), ..TestTokenRequest::default() };
        match keys.mint(&request, NOW) {
            Ok(token) => {
                prop_assert!(check_user_id(&user_id).is_ok());
                let identity = block_on(keys.verify(&token, NOW)).map_err(|e| TestCaseError::fail(format!("{e}")))?;
                prop_assert_eq!(identity.user_id, user_id);
            }
            Err(e) => {
                prop_assert!(matches!(e, TokenError::InvalidUserId(_)), "{e:?}");
                prop_assert!(user_id.is_empty() || user_id.len() > MAX_USER_ID_BYTES || user_id.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn a_tampered_token_never_verifies(at in any::<Index>(), replacement in "[A-Za-z0-9_.=+/-]") {
        let keys = keys();
        let token = keys.mint(&TestTokenRequest::default(), NOW).expect("mint the default token");
        let at = at.index(token.len());
        let original = &token[at..=at];
        prop_assume!(original != replacement);
        let tampered = format!("{}{}{}", &token[..at], replacement, &token[at + 1..]);
        let verdict = block_on(keys.verify(&tampered, NOW));
        prop_assert!(verdict.is_err(), "{tampered} verified: {verdict:?}");
    }

    #[test]
    fn expiry_follows_exp_and_the_leeway(offset in -200i64..200, nbf_offset in prop::option::of(-200i64..200)) {
        let mut claims = json!({"exp": NOW + offset, "sub": "u"});
        if let Some(nbf) = nbf_offset {
            claims["nbf"] = json!(NOW + nbf);
        }
        let verdict = block_on(keys().verify(&sign(&claims), NOW));
        let expected = if offset + LEEWAY < 0 {
            Err(TokenError::Expired)
        } else if nbf_offset.is_some_and(|nbf| nbf - LEEWAY > 0) {
            Err(TokenError::NotYetValid)
        } else {
            Ok("u".to_string())
        };
        prop_assert_eq!(verdict.map(|identity| identity.user_id), expected);
    }

    #[test]
    fn correctly_signed_arbitrary_claims_fail_only_on_claims(claims in json_value()) {
        match block_on(keys().verify(&sign(&claims), NOW)) {
            Ok(identity) => prop_assert!(check_user_id(&identity.user_id).is_ok()),
            Err(e) => prop_assert!(
                !matches!(e, TokenError::BadSignature | TokenError::WrongAlgorithm | TokenError::Missing),
                "{e:?}"
            ),
        }
    }
}
