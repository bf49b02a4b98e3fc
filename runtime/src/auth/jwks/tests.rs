use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;

use super::*;

const JWKS: &str = include_str!("../testdata/jwks.json");

/// A provider serving documents from memory and counting what it was asked.
#[derive(Default)]
struct FakeProvider {
    documents: StdMutex<Vec<(String, String)>>,
    fetches: AtomicUsize,
}

impl FakeProvider {
    fn serve(&self, url: &str, body: &str) {
        let mut documents = self.documents.lock().expect("lock");
        documents.retain(|(u, _)| u != url);
        documents.push((url.to_string(), body.to_string()));
    }
}

#[async_trait::async_trait]
impl Fetch for FakeProvider {
    async fn get(&self, url: &str) -> Result<bytes::Bytes, String> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let documents = self.documents.lock().expect("lock");
        documents
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, body)| bytes::Bytes::from(body.clone()))
            .ok_or_else(|| "answered 404 Not Found".to_string())
    }
}

#[test]
fn key_sets_keep_signing_keys_and_their_algorithms_only() {
    let set = KeySet::parse(JWKS.as_bytes()).expect("parses");
    // The `oct` key is dropped: a public key set never yields an HMAC secret.
    assert_eq!(set.len(), 3);
    assert!(matches!(
        set.find(Some("rsa-1"), Algorithm::PS256),
        Lookup::Found(_)
    ));
    assert!(matches!(
        set.find(Some("ec-1"), Algorithm::ES256),
        Lookup::Found(_)
    ));
    assert!(matches!(
        set.find(Some("ec-1"), Algorithm::RS256),
        Lookup::Refused(TokenError::WrongAlgorithm)
    ));
    assert!(matches!(
        set.find(Some("hmac-1"), Algorithm::HS256),
        Lookup::UnknownKid
    ));
    assert!(matches!(
        set.find(Some("ed-1"), Algorithm::EdDSA),
        Lookup::Found(_)
    ));
    assert!(matches!(set.find(None, Algorithm::ES256), Lookup::Found(_)));
    let only_secrets = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
    assert!(KeySet::parse(only_secrets.as_bytes()).is_err());
}

#[test]
fn a_stated_alg_narrows_the_key_to_it() {
    let set = KeySet::parse(JWKS.as_bytes()).expect("parses");
    let mut value: serde_json::Value = serde_json::from_str(JWKS).expect("json");
    value["keys"][0]["alg"] = "RS256".into();
    let narrowed = KeySet::parse(value.to_string().as_bytes()).expect("parses");
    assert!(matches!(
        narrowed.find(Some("rsa-1"), Algorithm::PS256),
        Lookup::Refused(TokenError::WrongAlgorithm)
    ));
    assert!(matches!(
        set.find(Some("rsa-1"), Algorithm::PS256),
        Lookup::Found(_)
    ));
    // An RSA key claiming an EC algorithm is no key at all.
    value["keys"][0]["alg"] = "ES256".into();
    let mismatched = KeySet::parse(value.to_string().as_bytes()).expect("others parse");
    assert!(matches!(
        mismatched.find(Some("rsa-1"), Algorithm::ES256),
        Lookup::UnknownKid
    ));
}

#[tokio::test(start_paused = true)]
async fn keys_are_found_through_discovery_and_refetched_at_most_once_a_minute() {
    let provider = Arc::new(FakeProvider::default());
    let issuer = "http://127.0.0.1:9/realm";
    provider.serve(
        "http://127.0.0.1:9/realm/.well-known/openid-configuration",
        &format!(r#"{{"issuer":"{issuer}","jwks_uri":"http://127.0.0.1:9/keys"}}"#),
    );
    provider.serve("http://127.0.0.1:9/keys", JWKS);
    let source = KeySource::Discovery {
        issuer: issuer.into(),
    };
    let keys = ProviderKeys::load(&source, provider.clone(), Duration::from_secs(60))
        .await
        .expect("loads");
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);
    assert!(keys.key_for(Some("rsa-1"), Algorithm::RS256).await.is_ok());
    assert_eq!(
        provider.fetches.load(Ordering::SeqCst),
        2,
        "a known kid costs no fetch"
    );

    // A storm of unknown kids within the minute: none fetches.
    for i in 0..50 {
        let kid = format!("forged-{i}");
        let refused = keys.key_for(Some(&kid), Algorithm::RS256).await;
        assert!(matches!(refused, Err(TokenError::UnknownKey)));
    }
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 2);

    // After the minute, a rotated key is fetched once and then known.
    tokio::time::advance(Duration::from_secs(61)).await;
    let mut rotated: serde_json::Value = serde_json::from_str(JWKS).expect("json");
    rotated["keys"][0]["kid"] = "rsa-2".into();
    provider.serve("http://127.0.0.1:9/keys", &rotated.to_string());
    assert!(keys.key_for(Some("rsa-2"), Algorithm::RS256).await.is_ok());
    assert!(keys.key_for(Some("rsa-2"), Algorithm::RS256).await.is_ok());
    assert_eq!(provider.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer_and_urls_must_be_https() {
    let provider = Arc::new(FakeProvider::default());
    provider.serve(
        "http://127.0.0.1:9/.well-known/openid-configuration",
        r#"{"issuer":"http://127.0.0.1:9/other","jwks_uri":"http://127.0.0.1:9/keys"}"#,
    );
    let source = KeySource::Discovery {
        issuer: "http://127.0.0.1:9".into(),
    };
    let err = ProviderKeys::load(&source, provider.clone(), Duration::from_secs(60))
        .await
        .expect_err("issuer mismatch");
    assert!(err.to_string().contains("names issuer"), "{err}");

    let source = KeySource::JwksUrl("http://idp.example.com/keys".into());
    let err = ProviderKeys::load(&source, provider.clone(), Duration::from_secs(60))
        .await
        .expect_err("plain http");
    assert!(err.to_string().contains("https://"), "{err}");

    let source = KeySource::JwksUrl("http://127.0.0.1:9/missing".into());
    let err = ProviderKeys::load(&source, provider, Duration::from_secs(60))
        .await
        .expect_err("404");
    assert!(err.to_string().contains("404"), "{err}");
}
