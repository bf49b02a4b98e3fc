//! Tokens of an identity provider, through the authorizer: keys found by discovery on a real
//! HTTP server, every signing algorithm the key set offers, Cognito's documented token shapes,
//! and the attacks on key choice (RS/HS confusion, embedded keys, unknown `kid`s).
//!
//! The tokens are signed here with `jsonwebtoken`'s encoder and the keys in
//! `src/auth/testdata`; the end-to-end suite makes its edge cases with an independent JOSE
//! library against a real OpenID provider.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use support::{fixture, now, SECRET};
use tokio::net::TcpListener;
use wspush_runtime::access::SubscribePolicy;
use wspush_runtime::auth::fetch::HttpFetch;
use wspush_runtime::auth::{
    authorize, ClaimRules, KeySource, ProviderKeys, TokenError, TokenKeys, Unauthorized,
};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/auth/testdata");
const COGNITO_ISSUER: &str = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_example";

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).expect("test key")
}

/// Serves discovery (naming `issuer`) and the test key set on 127.0.0.1; the issuer URL.
async fn provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let jwks = String::from_utf8(key_file("jwks.json")).expect("utf-8");
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")}).to_string();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { discovery }),
        )
        .route("/keys", get(move || async move { jwks }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    issuer
}

async fn keys_of(issuer: &str, rules: ClaimRules) -> TokenKeys {
    let source = KeySource::Discovery {
        issuer: issuer.to_string(),
    };
    let provider = ProviderKeys::load(
        &source,
        Arc::new(HttpFetch::default()),
        Duration::from_secs(60),
    )
    .await
    .expect("keys load");
    // The secret stays for minting; HS256 tokens are not accepted.
    TokenKeys::without_secret(rules)
        .with_secret(SECRET, false)
        .with_provider(Arc::new(provider))
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(&key_file("rsa.pem")).expect("rsa")
}

async fn verdict(keys: &TokenKeys, token: &str) -> Result<String, TokenError> {
    keys.verify(token, now())
        .await
        .map(|identity| identity.user_id)
}

#[tokio::test]
async fn every_algorithm_the_key_set_offers_verifies_and_none_other() {
    let issuer = provider().await;
    let rules = ClaimRules {
        issuer: Some(issuer.clone()),
        audience: Some("wspush".into()),
        ..ClaimRules::default()
    };
    let keys = keys_of(&issuer, rules).await;
    let claims = json!({"exp": now() + 600, "sub": "u-1", "iss": issuer, "aud": "wspush"});
    let ec = EncodingKey::from_ec_pem(&key_file("ec.pem")).expect("ec");
    let ed = EncodingKey::from_ed_pem(&key_file("ed25519.pem")).expect("ed");
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa-1", rsa()),
        (Algorithm::RS512, "rsa-1", rsa()),
        (Algorithm::PS256, "rsa-1", rsa()),
        (Algorithm::ES256, "ec-1", ec.clone()),
        (Algorithm::EdDSA, "ed-1", ed),
    ] {
        let token = sign(alg, Some(kid), &key, &claims);
        assert_eq!(verdict(&keys, &token).await, Ok("u-1".into()), "{alg:?}");
    }
    // The EC key verifies ES256 only; the RSA key's token under the EC key's kid fails.
    let mismatched = sign(Algorithm::RS256, Some("ec-1"), &rsa(), &claims);
    assert_eq!(
        verdict(&keys, &mismatched).await,
        Err(TokenError::WrongAlgorithm)
    );
    // The set's `oct` key is never an HMAC secret, and HS256 is off.
    let hmac = sign(
        Algorithm::HS256,
        Some("hmac-1"),
        &EncodingKey::from_secret(b"secret-in-a-key-set"),
        &claims,
    );
    assert_eq!(verdict(&keys, &hmac).await, Err(TokenError::WrongAlgorithm));
    let test_token = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET),
        &claims,
    );
    assert_eq!(
        verdict(&keys, &test_token).await,
        Err(TokenError::WrongAlgorithm)
    );
}

#[tokio::test]
async fn keys_a_token_brings_or_names_are_never_used() {
    let issuer = provider().await;
    let keys = keys_of(&issuer, ClaimRules::default()).await;
    let claims = json!({"exp": now() + 600, "sub": "mallory"});
    let attacker = EncodingKey::from_rsa_pem(&key_file("rsa-other.pem")).expect("rsa");
    // RS/HS confusion: HS256 with the provider's public key as the secret.
    let public = key_file("rsa.pub.pem");
    let confused = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(&public),
        &claims,
    );
    assert_eq!(
        verdict(&keys, &confused).await,
        Err(TokenError::WrongAlgorithm)
    );
    // The attacker's own key, embedded in the header, with the provider's kid or a new one.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"
    }))
    .expect("jwk");
    for kid in ["rsa-1", "attacker"] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        header.jwk = Some(jwk.clone());
        header.jku = Some("https://attacker.example/keys".into());
        let token = jsonwebtoken::encode(&header, &claims, &attacker).expect("sign");
        let refused = verdict(&keys, &token).await;
        assert!(
            matches!(
                refused,
                Err(TokenError::BadSignature | TokenError::UnknownKey)
            ),
            "{kid}: {refused:?}"
        );
    }
}

fn cognito_claims(name: &str) -> Value {
    let mut claims = fixture(name);
    claims["exp"] = json!(now() + 600);
    claims["iat"] = json!(now());
    claims
}

#[tokio::test]
async fn cognito_access_and_id_tokens_verify_by_their_documented_claims() {
    let issuer = provider().await;
    // Cognito's issuer is https; the keys here come from the local provider, so only the
    // claims' issuer is Cognito's.
    let rules = |audience: &str| ClaimRules {
        issuer: Some(COGNITO_ISSUER.into()),
        audience: Some(audience.into()),
        user_claim: Some("sub".into()),
        ..ClaimRules::default()
    };
    let access = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
        &cognito_claims("cognito-access-token-claims.json"),
    );
    let id = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa(),
        &cognito_claims("cognito-id-token-claims.json"),
    );
    let user = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let client = keys_of(&issuer, rules("57cbishk4j24pabc1234567890")).await;
    assert_eq!(verdict(&client, &access).await, Ok(user.into()));
    assert_eq!(verdict(&client, &id).await, Err(TokenError::WrongAudience));
    let id_client = keys_of(&issuer, rules("xxxxxxxxxxxxexample")).await;
    assert_eq!(verdict(&id_client, &id).await, Ok(user.into()));
    assert_eq!(
        verdict(&id_client, &access).await,
        Err(TokenError::WrongAudience)
    );

    // Its groups reach the routes through the authorizer's context, for the policy to read.
    let policy = SubscribePolicy::parse("board/{cognito:groups}/*").expect("policy");
    let mut event = fixture("authorizer-request.json");
    event["queryStringParameters"]["access_token"] = json!(access);
    event["multiValueQueryStringParameters"]["access_token"] = json!([access]);
    let request: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
        serde_json::from_value(event).expect("request");
    let needed: BTreeSet<&str> = policy.claim_paths();
    let response = authorize(&request, &client, &needed, now())
        .await
        .map_err(|Unauthorized(e)| e)
        .expect("allowed");
    let claims: serde_json::Map<String, Value> =
        serde_json::from_str(response.context.claims.as_deref().expect("claims")).expect("json");
    let claims = wspush_runtime::auth::Claims::new(claims);
    assert!(policy.allows(&claims, "board/board-7/cards"));
    assert!(!policy.allows(&claims, "board/board-8/cards"));
}
