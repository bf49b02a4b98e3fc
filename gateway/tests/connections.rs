//! `@connections` through the ordinary `aws-sdk-apigatewaymanagement` client, as any backend
//! would call it, and through both of the runtime's push clients, signature check included.

mod common;

use aws_sdk_apigatewaymanagement::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use common::*;
use serde_json::json;
use wspush_runtime::config::PushClient;
use wspush_runtime::push::{Endpoint, PushOutcome, Pusher, SignedHttpPusher};

fn client(gw: &TestGateway, stage_path: &str) -> aws_sdk_apigatewaymanagement::Client {
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    wspush_runtime::aws::management_client(&sdk, &format!("{}{stage_path}", gw.http()))
}

#[tokio::test]
async fn post_get_delete_and_then_gone() {
    let gw = TestGateway::start().await;
    let mut socket = gw.connect("ivan").await;
    let id = only_connection(&gw).await;
    // Ids are API Gateway's: 16 characters of base64, which may need URL encoding.
    assert_eq!(id.len(), 16, "{id}");
    let api = client(&gw, "/production");

    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"hello":"world"}"#))
        .send()
        .await
        .expect("post delivered");
    assert_eq!(next_json(&mut socket, 5).await, json!({"hello": "world"}));

    let facts = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("get");
    assert!(facts.connected_at().is_some());
    assert!(facts.last_active_at().is_some());
    let identity = facts.identity().expect("identity");
    assert_eq!(identity.source_ip(), Some("127.0.0.1"));

    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("delete");
    assert_eq!(close_code(&mut socket, 5).await, Some(1000));
    assert!(
        eventually(5, || gw.store.connection_count() == 0).await,
        "$disconnect ran"
    );

    let gone = api
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("late"))
        .send()
        .await
        .expect_err("gone");
    assert!(
        matches!(
            gone.as_service_error(),
            Some(PostToConnectionError::GoneException(_))
        ),
        "{gone:?}"
    );
    let gone = api.get_connection().connection_id(&id).send().await;
    assert!(gone.is_err());
    gw.stop().await;
}

#[tokio::test]
async fn the_stageless_path_works_and_unknown_ids_are_gone() {
    let gw = TestGateway::start().await;
    let mut socket = gw.connect("judy").await;
    let id = only_connection(&gw).await;
    let api = client(&gw, "");
    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"n":1}"#))
        .send()
        .await
        .expect("stage-less post");
    assert_eq!(next_json(&mut socket, 5).await, json!({"n": 1}));
    let unknown = api
        .post_to_connection()
        .connection_id("R0oXAdfD0kwCH6w=")
        .data(Blob::new("x"))
        .send()
        .await
        .expect_err("unknown id");
    assert!(matches!(
        unknown.as_service_error(),
        Some(PostToConnectionError::GoneException(_))
    ));
    let raw = unknown.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 410);
    gw.stop().await;
}

#[tokio::test]
async fn oversize_posts_and_wrong_stages_are_refused() {
    let gw = TestGateway::start().await;
    let _socket = gw.connect("ken").await;
    let id = only_connection(&gw).await;
    let too_big = api_post(&gw, "/production", &id, vec![b'x'; 128 * 1024 + 1]).await;
    assert!(matches!(
        too_big.as_service_error(),
        Some(PostToConnectionError::PayloadTooLargeException(_))
    ));
    let wrong_stage = api_post(&gw, "/staging", &id, b"x".to_vec()).await;
    assert!(matches!(
        wrong_stage.as_service_error(),
        Some(PostToConnectionError::ForbiddenException(_))
    ));
    gw.stop().await;
}

async fn api_post(
    gw: &TestGateway,
    stage_path: &str,
    id: &str,
    data: Vec<u8>,
) -> aws_sdk_apigatewaymanagement::error::SdkError<
    PostToConnectionError,
    aws_sdk_apigatewaymanagement::config::http::HttpResponse,
> {
    client(gw, stage_path)
        .post_to_connection()
        .connection_id(id)
        .data(Blob::new(data))
        .send()
        .await
        .expect_err("refused")
}

/// A pusher of the runtime's `client` kind for this gateway, signing with `credentials` in
/// `region`.
fn pusher_with(
    gw: &TestGateway,
    client: PushClient,
    region: &str,
    credentials: Credentials,
) -> std::sync::Arc<dyn Pusher> {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(wspush_runtime::aws::http_client())
        .build();
    wspush_runtime::aws::pusher(&sdk, &format!("{}/production", gw.http()), client)
}

fn local_key() -> Credentials {
    Credentials::new(
        wspush_runtime::aws::LOCAL_ACCESS_KEY_ID,
        wspush_runtime::aws::LOCAL_SECRET_ACCESS_KEY,
        None,
        None,
        "tests",
    )
}

/// The SigV4 check `@connections` makes: both of the runtime's push clients pass it, for real
/// ids and for ids with every character that needs encoding, and a wrong secret, an unknown
/// key, another region or a stale clock get AWS's 403s, for both clients alike.
#[tokio::test]
async fn both_push_clients_pass_the_signature_check_and_bad_signatures_do_not() {
    let gw = TestGateway::start().await;
    let mut socket = gw.connect("sig").await;
    let id = only_connection(&gw).await;
    for client in [PushClient::SignedHttp, PushClient::Sdk] {
        let pusher = pusher_with(&gw, client, "us-east-1", local_key());
        let frame = format!(r#"{{"client":"{client:?}"}}"#);
        assert_eq!(
            pusher.post_to_connection(&id, frame.as_bytes()).await,
            PushOutcome::Delivered,
            "{client:?}"
        );
        assert_eq!(
            next_json(&mut socket, 5).await,
            json!({"client": format!("{client:?}")})
        );
        // A function role's credentials carry a session token, signed as a header.
        let with_token = Credentials::new(
            wspush_runtime::aws::LOCAL_ACCESS_KEY_ID,
            wspush_runtime::aws::LOCAL_SECRET_ACCESS_KEY,
            Some("IQoJb3JpZ2luX2VjE//session+token==".to_string()),
            None,
            "tests",
        );
        assert_eq!(
            pusher_with(&gw, client, "us-east-1", with_token)
                .post_to_connection(&id, b"{}")
                .await,
            PushOutcome::Delivered,
            "{client:?} with a session token"
        );
        assert_eq!(next_json(&mut socket, 5).await, json!({}));
        // Unknown ids with characters that need encoding: past the signature check, 410.
        for odd in ["a+b/c=", "x y%z@=", "ünï=", "(*)!'~"] {
            assert_eq!(
                pusher.post_to_connection(odd, b"{}").await,
                PushOutcome::Gone,
                "{client:?}: {odd}"
            );
        }

        let refusals = [
            (
                "wrong secret",
                "us-east-1",
                Credentials::new("local", "not-the-secret", None, None, "tests"),
                "InvalidSignatureException",
            ),
            (
                "unknown key",
                "us-east-1",
                Credentials::new("AKIAUNKNOWN", "secret", None, None, "tests"),
                "UnrecognizedClientException",
            ),
            (
                "another region",
                "eu-west-1",
                local_key(),
                "InvalidSignatureException",
            ),
        ];
        for (what, region, credentials, code) in refusals {
            let outcome = pusher_with(&gw, client, region, credentials)
                .post_to_connection(&id, b"{}")
                .await;
            match outcome {
                PushOutcome::Rejected(message) => assert!(
                    message.contains(code),
                    "{client:?} {what}: expected {code}, got {message}"
                ),
                other => panic!("{client:?} {what}: expected a 403 {code}, got {other:?}"),
            }
        }
    }
    assert!(
        silent_for(&mut socket, 300).await,
        "no refused push arrived"
    );

    let stale = SignedHttpPusher::with_clock(
        Endpoint {
            base_url: format!("{}/production", gw.http()),
            region: "us-east-1".into(),
        },
        Some(SharedCredentialsProvider::new(local_key())),
        || std::time::SystemTime::now() - std::time::Duration::from_secs(6 * 60),
    );
    match stale.post_to_connection(&id, b"{}").await {
        PushOutcome::Rejected(message) => assert!(
            message.contains("InvalidSignatureException") && message.contains("Signature expired"),
            "{message}"
        ),
        other => panic!("a six-minute-old signature: expected 403, got {other:?}"),
    }
}

/// A call with no signature at all, as `curl` would make it.
#[tokio::test]
async fn an_unsigned_call_is_missing_its_authentication_token() {
    let (gw, _socket, path) = one_client("curl").await;
    let text = post_raw(&gw, &path, &[], b"{}").await;
    assert_refused(&text, "MissingAuthenticationTokenException", "unsigned");
    assert!(text.contains("missing authentication token"), "{text}");
}

/// A signed POST resent with another body and the signed body's hash in an unsigned
/// `x-amz-content-sha256` header: the signature holds only for the body it was made over, so
/// the forged body is refused and the client receives nothing. A stated hash that is not the
/// body's (`UNSIGNED-PAYLOAD` included) is refused beside the signed body too; the signature
/// itself is good, and with its own body, its hash stated or not, it is delivered.
#[tokio::test]
async fn a_body_nobody_signed_is_refused_and_never_delivered() {
    let (gw, mut socket, path) = one_client("forged").await;
    let signed_body: &[u8] = br#"{"from":"the signer"}"#;
    let forged_body: &[u8] = br#"{"from":"someone else"}"#;
    let signature = signed_headers(&gw, &path, signed_body);
    let stating = |hash: &str| {
        let mut headers = signature.clone();
        headers.push(("x-amz-content-sha256", hash.to_string()));
        headers
    };
    let refusals = [
        (
            "the signed body's hash",
            forged_body,
            sha256_hex(signed_body),
        ),
        ("its own hash", forged_body, sha256_hex(forged_body)),
        (
            "UNSIGNED-PAYLOAD",
            signed_body,
            "UNSIGNED-PAYLOAD".to_string(),
        ),
        ("another body's hash", signed_body, sha256_hex(forged_body)),
    ];
    for (stated, body, hash) in refusals {
        let answer = post_raw(&gw, &path, &stating(&hash), body).await;
        let what = format!("{} with {stated} stated", String::from_utf8_lossy(body));
        assert_refused(&answer, "InvalidSignatureException", &what);
    }
    assert!(
        silent_for(&mut socket, 300).await,
        "a refused body reached the client"
    );
    for headers in [signature.clone(), stating(&sha256_hex(signed_body))] {
        let answer = post_raw(&gw, &path, &headers, signed_body).await;
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
        assert_eq!(
            next_json(&mut socket, 5).await,
            json!({"from": "the signer"})
        );
    }
}

/// Two `Authorization` headers, one of them a good signature: whichever comes first, the call
/// is refused as a signature that does not conform, and nothing is delivered.
#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let (gw, mut socket, path) = one_client("twice").await;
    let good = signed_headers(&gw, &path, b"{}");
    let other = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=local/20261204/us-east-1/execute-api/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00"
            .to_string(),
    );
    let mut good_first = good.clone();
    good_first.push(other.clone());
    let mut good_last = vec![other];
    good_last.extend(good);
    for headers in [good_first, good_last] {
        let answer = post_raw(&gw, &path, &headers, b"{}").await;
        assert_refused(&answer, "IncompleteSignatureException", "two headers");
        assert!(answer.contains("2 authorization headers"), "{answer}");
    }
    assert!(
        silent_for(&mut socket, 300).await,
        "a refused call was delivered"
    );
}

/// The signed query as RFC 3986 reads it, as AWS does: a `+` is a plus. A signature over
/// `q=a%2Bb` holds for `q=a+b` (the same query with its plus not encoded); one over `q=a%20b`
/// (a space) does not.
#[tokio::test]
async fn a_plus_in_a_signed_query_is_a_plus_not_a_space() {
    let (gw, mut socket, path) = one_client("plus").await;
    let body: &[u8] = br#"{"query":"plus"}"#;
    let signed_as_plus = signed_headers(&gw, &format!("{path}?q=a%2Bb"), body);
    let answer = post_raw(&gw, &format!("{path}?q=a+b"), &signed_as_plus, body).await;
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert_eq!(next_json(&mut socket, 5).await, json!({"query": "plus"}));

    let signed_as_space = signed_headers(&gw, &format!("{path}?q=a%20b"), body);
    let answer = post_raw(&gw, &format!("{path}?q=a+b"), &signed_as_space, body).await;
    assert_refused(&answer, "InvalidSignatureException", "signed as a space");
    assert!(
        silent_for(&mut socket, 300).await,
        "a refused call was delivered"
    );
}

/// `answer` (lowercased, as [`post_raw`] returns it) is a 403 with `x-amzn-ErrorType` `code`.
fn assert_refused(answer: &str, code: &str, what: &str) {
    assert!(answer.starts_with("http/1.1 403"), "{what}: {answer}");
    let error_type = format!("x-amzn-errortype: {}", code.to_lowercase());
    assert!(answer.contains(&error_type), "{what}: {answer}");
}

/// A gateway with one client of `user` connected, and that client's `@connections` path.
async fn one_client(user: &str) -> (TestGateway, Client, String) {
    let gw = TestGateway::start().await;
    let socket = gw.connect(user).await;
    let path = connection_path(&only_connection(&gw).await);
    (gw, socket, path)
}

/// `/production/@connections/{id}` with the id's `+`, `/` and `=` encoded.
fn connection_path(id: &str) -> String {
    let id = id
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("/production/@connections/{id}")
}

fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// The SigV4 headers of a POST of `body` to `path_and_query` on this gateway, signed now by
/// `aws-sigv4` with the runtime's local key (SignedHeaders `host;x-amz-date`).
fn signed_headers(
    gw: &TestGateway,
    path_and_query: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let host = gw.addr.to_string();
    sigv4_headers(
        "POST",
        &host,
        path_and_query,
        body,
        std::time::SystemTime::now(),
    )
}

/// A POST of `body` to `path_and_query` over a plain TCP stream, with `headers` written as
/// given (repeated names included) after `Host`, `Content-Length` and `Connection: close`; the
/// whole answer, lowercased.
async fn post_raw(
    gw: &TestGateway,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> String {
    let raw = raw_http(gw, &format!("POST {path_and_query}"), headers, body).await;
    String::from_utf8_lossy(&raw).to_lowercase()
}
