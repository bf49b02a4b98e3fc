//! The token matrix: every kind of token a client might present, and what the authorizer says.

mod support;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::{fixture, keys, now, SECRET};

use wspush_runtime::auth::{
    authorize, ClaimRules, TestTokenRequest, TokenError, TokenKeys, Unauthorized,
};

fn sign(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign test token")
}

fn quick_start_claims(exp: i64) -> Value {
    json!({"exp": exp, "data": {"userId": "myuserid", "firstName": "Test", "lastName": "User", "sub": "examplesub"}})
}

/// The authorizer fixture with the token placed in the query string or the subprotocol header.
fn request_with(
    token: Option<&str>,
    in_header: bool,
) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    let mut event = fixture("authorizer-request.json");
    if let Some(token) = token {
        if in_header {
            let value = format!("websocket, {token}");
            event["headers"]["Sec-WebSocket-Protocol"] = json!(value);
            event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = json!([value]);
        } else {
            event["queryStringParameters"]["access_token"] = json!(token);
            event["multiValueQueryStringParameters"]["access_token"] = json!([token]);
        }
    }
    serde_json::from_value(event).expect("authorizer fixture parses")
}

async fn verdict(token: Option<&str>, in_header: bool) -> Result<String, TokenError> {
    authorize(
        &request_with(token, in_header),
        &keys(),
        &BTreeSet::new(),
        now(),
    )
    .await
    .map(|r| r.principal_id.unwrap_or_default())
    .map_err(|Unauthorized(reason)| reason)
}

#[tokio::test]
async fn quick_start_claims_are_accepted_in_both_places() {
    let token = sign(&quick_start_claims(now() + 600), SECRET);
    assert_eq!(verdict(Some(&token), false).await, Ok("myuserid".into()));
    assert_eq!(verdict(Some(&token), true).await, Ok("myuserid".into()));
}

#[tokio::test]
async fn standard_sub_claim_is_the_user_when_data_is_absent() {
    let token = sign(&json!({"exp": now() + 600, "sub": "user-42"}), SECRET);
    assert_eq!(verdict(Some(&token), false).await, Ok("user-42".into()));
    assert_eq!(verdict(Some(&token), true).await, Ok("user-42".into()));
}

#[tokio::test]
async fn allow_policy_and_context_follow_the_contract() {
    let exp = now() + 600;
    let token = sign(&quick_start_claims(exp), SECRET);
    let response = authorize(
        &request_with(Some(&token), false),
        &keys(),
        &BTreeSet::new(),
        now(),
    )
    .await
    .expect("allowed");
    let json = serde_json::to_value(&response).expect("serializes");
    assert_eq!(json["principalId"], "myuserid");
    let statement = &json["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
    assert_eq!(
        statement["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abcdef123/production/$connect"])
    );
    let claims = json!({"exp": exp, "data": {"userId": "myuserid", "firstName": "Test", "lastName": "User", "sub": "examplesub"}});
    assert_eq!(
        json["context"],
        json!({"userId": "myuserid", "firstName": "Test", "lastName": "User", "sub": "examplesub",
               "tokenExpiresAt": exp.to_string(), "claims": claims.to_string()})
    );
}

#[tokio::test]
async fn a_request_without_method_arn_is_refused_not_allowed_on_a_wildcard() {
    let token = sign(&quick_start_claims(now() + 600), SECRET);
    let mut request = request_with(Some(&token), false);
    request.method_arn = None;
    assert!(matches!(
        authorize(&request, &keys(), &BTreeSet::new(), now()).await,
        Err(Unauthorized(TokenError::Malformed(_)))
    ));
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway() {
    let token = sign(&quick_start_claims(now() - 3600), SECRET);
    assert_eq!(verdict(Some(&token), false).await, Err(TokenError::Expired));
    let within_leeway = sign(&quick_start_claims(now() - 10), SECRET);
    assert_eq!(
        verdict(Some(&within_leeway), false).await,
        Ok("myuserid".into())
    );
}

#[tokio::test]
async fn not_yet_valid_tokens_are_refused() {
    let mut claims = quick_start_claims(now() + 7200);
    claims["nbf"] = json!(now() + 3600);
    assert_eq!(
        verdict(Some(&sign(&claims, SECRET)), true).await,
        Err(TokenError::NotYetValid)
    );
}

#[tokio::test]
async fn tokens_without_expiry_or_user_are_refused() {
    let no_exp = sign(&json!({"data": {"userId": "u"}}), SECRET);
    assert_eq!(
        verdict(Some(&no_exp), false).await,
        Err(TokenError::NoExpiry)
    );
    let no_user = sign(
        &json!({"exp": now() + 600, "data": {"firstName": "x"}}),
        SECRET,
    );
    assert_eq!(
        verdict(Some(&no_user), false).await,
        Err(TokenError::NoUser("data.userId or sub".into()))
    );
}

#[tokio::test]
async fn wrong_key_is_refused() {
    let token = sign(&quick_start_claims(now() + 600), b"some-other-secret");
    assert_eq!(
        verdict(Some(&token), false).await,
        Err(TokenError::BadSignature)
    );
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let token = sign(&quick_start_claims(now() + 600), SECRET);
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = quick_start_claims(now() + 600);
    claims["data"]["userId"] = json!("admin");
    let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verdict(Some(&forged), false).await,
        Err(TokenError::BadSignature)
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(quick_start_claims(now() + 600).to_string());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert!(
            matches!(
                verdict(Some(&token), false).await,
                Err(TokenError::Malformed(_))
            ),
            "{token}"
        );
    }
}

#[tokio::test]
async fn rs256_and_public_key_as_hmac_secret_are_refused() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let private = std::fs::read(format!("{dir}/rsa-test-key.pem")).expect("rsa key fixture");
    let public =
        std::fs::read(format!("{dir}/rsa-test-key.pub.pem")).expect("rsa public key fixture");
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &quick_start_claims(now() + 600),
        &EncodingKey::from_rsa_pem(&private).expect("rsa pem"),
    )
    .expect("sign rs256");
    assert_eq!(
        verdict(Some(&rs256), false).await,
        Err(TokenError::WrongAlgorithm)
    );
    // The classic confusion: HS256 signed with the RSA public key as the HMAC secret.
    let confused = sign(&quick_start_claims(now() + 600), &public);
    assert_eq!(
        verdict(Some(&confused), false).await,
        Err(TokenError::BadSignature)
    );
    // Another HMAC size with the right secret is still not HS256.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &quick_start_claims(now() + 600),
        &EncodingKey::from_secret(SECRET),
    )
    .expect("sign hs512");
    assert_eq!(
        verdict(Some(&hs512), false).await,
        Err(TokenError::WrongAlgorithm)
    );
}

#[tokio::test]
async fn garbage_and_missing_tokens_are_refused() {
    for garbage in ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.%%%.sig", "...."] {
        assert!(
            matches!(
                verdict(Some(garbage), false).await,
                Err(TokenError::Malformed(_) | TokenError::BadSignature)
            ),
            "{garbage}"
        );
    }
    assert_eq!(verdict(None, false).await, Err(TokenError::Missing));
    assert_eq!(verdict(Some(""), false).await, Err(TokenError::Missing));
    // The subprotocol header with only "websocket" carries no token.
    let mut request = request_with(None, true);
    request.headers.insert(
        "sec-websocket-protocol",
        "websocket".parse().expect("header value"),
    );
    assert_eq!(
        authorize(&request, &keys(), &BTreeSet::new(), now())
            .await
            .map(|_| ()),
        Err(Unauthorized(TokenError::Missing))
    );
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let strict = TokenKeys::new(
        SECRET,
        ClaimRules {
            issuer: Some("https://issuer.example".into()),
            audience: Some("wspush".into()),
            ..ClaimRules::default()
        },
    );
    let mut claims = quick_start_claims(now() + 600);
    assert_eq!(
        strict.verify(&sign(&claims, SECRET), now()).await,
        Err(TokenError::WrongIssuer)
    );
    claims["iss"] = json!("https://issuer.example");
    assert_eq!(
        strict.verify(&sign(&claims, SECRET), now()).await,
        Err(TokenError::WrongAudience)
    );
    claims["aud"] = json!(["other", "wspush"]);
    assert_eq!(
        strict
            .verify(&sign(&claims, SECRET), now())
            .await
            .map(|i| i.user_id),
        Ok("myuserid".into())
    );
}

#[tokio::test]
async fn fractional_times_are_read_and_minted_times_are_whole_seconds() {
    let claims = json!({"exp": now() as f64 + 600.5, "nbf": now() as f64 - 0.5, "sub": "u"});
    assert_eq!(
        verdict(Some(&sign(&claims, SECRET)), false).await,
        Ok("u".into())
    );
    let minted = keys()
        .mint(&TestTokenRequest::default(), now())
        .expect("mint");
    let payload = minted.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    assert!(claims["exp"].is_i64() && claims["iat"].is_i64(), "{claims}");
}

#[tokio::test]
async fn minted_test_tokens_verify_with_defaults_and_overrides() {
    let keys = keys();
    let token = keys
        .mint(&TestTokenRequest::default(), now())
        .expect("mint");
    let identity = keys.verify(&token, now()).await.expect("verifies");
    assert_eq!(identity.user_id, "myuserid");
    assert_eq!(identity.first_name.as_deref(), Some("Test"));
    assert_eq!(identity.last_name.as_deref(), Some("User"));
    assert_eq!(identity.sub.as_deref(), Some("examplesub"));
    // One hour: still valid after 59 minutes, expired after 61.
    assert!(keys.verify(&token, now() + 59 * 60).await.is_ok());
    assert_eq!(
        keys.verify(&token, now() + 61 * 60).await,
        Err(TokenError::Expired)
    );

    let request = TestTokenRequest {
        user_id: Some("alice".into()),
        first_name: Some("Alice".into()),
        ..TestTokenRequest::default()
    };
    let identity = keys
        .verify(&keys.mint(&request, now()).expect("mint"), now())
        .await
        .expect("verifies");
    assert_eq!(identity.user_id, "alice");
    assert_eq!(identity.first_name.as_deref(), Some("Alice"));
}

#[tokio::test]
async fn unknown_critical_header_extensions_are_refused() {
    // RFC 7515 §4.1.11: a recipient that does not understand a `crit` extension must reject.
    for crit in [vec!["exp".to_string()], vec!["b64".to_string()], vec![]] {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = Some(crit.clone());
        let token = jsonwebtoken::encode(
            &header,
            &quick_start_claims(now() + 600),
            &EncodingKey::from_secret(SECRET),
        )
        .expect("sign");
        assert_eq!(
            verdict(Some(&token), false).await,
            Err(TokenError::UnknownCritical(crit))
        );
    }
}

#[tokio::test]
async fn one_definition_of_a_user_id_for_the_authorizer_and_create_test_jwt() {
    let with_user = |user: &str| {
        sign(
            &json!({"exp": now() + 600, "data": {"userId": user}}),
            SECRET,
        )
    };
    let longest = "u".repeat(wspush_runtime::auth::MAX_USER_ID_BYTES);
    assert_eq!(
        verdict(Some(&with_user(&longest)), false).await,
        Ok(longest.clone())
    );
    for bad in [
        "u".repeat(1025),
        "a\u{0}b".to_string(),
        "line\nbreak".to_string(),
    ] {
        assert!(
            matches!(
                verdict(Some(&with_user(&bad)), false).await,
                Err(TokenError::InvalidUserId(_))
            ),
            "authorizer accepts {bad:?}"
        );
        let minted = keys().mint(
            &TestTokenRequest {
                user_id: Some(bad.clone()),
                ..TestTokenRequest::default()
            },
            now(),
        );
        assert!(
            matches!(minted, Err(TokenError::InvalidUserId(_))),
            "CreateTestJwt mints {bad:?}"
        );
    }
    let minted = keys()
        .mint(
            &TestTokenRequest {
                user_id: Some(longest.clone()),
                ..TestTokenRequest::default()
            },
            now(),
        )
        .expect("the longest valid id is minted");
    assert_eq!(verdict(Some(&minted), true).await, Ok(longest));
}

#[tokio::test]
async fn claims_too_many_for_the_context_are_cut_to_those_the_policy_reads() {
    let exp = now() + 600;
    let big = "x".repeat(9_000);
    let needed = BTreeSet::from(["org"]);
    let token = sign(
        &json!({"exp": exp, "sub": "u-1", "org": "acme", "bio": big}),
        SECRET,
    );
    let response = authorize(&request_with(Some(&token), false), &keys(), &needed, now())
        .await
        .expect("allowed");
    let claims: Value =
        serde_json::from_str(response.context.claims.as_deref().expect("claims")).expect("json");
    assert_eq!(claims, json!({"org": "acme", "sub": "u-1"}));
    assert_eq!(response.context.token_expires_at, exp.to_string());

    // A claim the policy needs that cannot fit is no reason to decide without it.
    let token = sign(&json!({"exp": exp, "sub": "u-1", "org": big}), SECRET);
    assert_eq!(
        authorize(&request_with(Some(&token), false), &keys(), &needed, now())
            .await
            .map(|_| ()),
        Err(Unauthorized(TokenError::ClaimsTooLarge))
    );
}
