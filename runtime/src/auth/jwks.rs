//! The identity provider's signing keys: its JSON Web Key Set, fetched at cold start and again
//! for an unknown `kid` at most once a minute.
//!
//! The algorithm a token may use comes from the key that verifies it, never from the token:
//! the key's own `alg` when it states one, else what its type allows (RSA: RS* and PS*, EC
//! P-256: ES256, P-384: ES384, Ed25519: EdDSA). Symmetric (`oct`) keys and encryption keys in
//! a key set are ignored, so a public key can never be used as an HMAC secret (RS/HS
//! confusion), and keys a token carries itself (`jwk`, `jku`, `x5u`) are never looked at.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use wspush_contract::timeouts;

use super::fetch::{check_url, Fetch, HttpFetch};
use super::token::TokenError;

const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Where the key set is found: a JWKS URL, or an issuer's discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    JwksUrl(String),
    /// `{issuer}/.well-known/openid-configuration`, whose `jwks_uri` names the key set.
    Discovery {
        issuer: String,
    },
}

/// Why the key set could not be had.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeySetError {
    #[error("{0}")]
    Url(String),
    #[error("could not fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{url} is not a usable {what}: {message}")]
    Invalid {
        url: String,
        what: &'static str,
        message: String,
    },
}

/// One verification key and the algorithms it verifies.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The usable keys of one key set.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

/// What [`KeySet::find`] found for a token's `kid` and `alg`.
enum Lookup<'a> {
    Found(&'a VerifyingKey),
    UnknownKid,
    Refused(TokenError),
}

impl KeySet {
    /// Reads a JWKS document, keeping the keys this service can verify with.
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let keys: Vec<VerifyingKey> = set.keys.iter().filter_map(verifying_key).collect();
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is an RSA, EC (P-256, P-384) or Ed25519 signing key",
                set.keys.len()
            ));
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup<'_> {
        let Some(kid) = kid else {
            // Without a kid, only a set with exactly one key for the algorithm is unambiguous.
            let mut usable = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
            return match (usable.next(), usable.next()) {
                (Some(key), None) => Lookup::Found(key),
                (None, _) => Lookup::Refused(TokenError::WrongAlgorithm),
                (Some(_), Some(_)) => Lookup::Refused(TokenError::Malformed(
                    "token has no kid and several keys could verify it".into(),
                )),
            };
        };
        match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
            None => Lookup::UnknownKid,
            Some(key) if key.algorithms.contains(&alg) => Lookup::Found(key),
            Some(_) => Lookup::Refused(TokenError::WrongAlgorithm),
        }
    }
}

/// The key and algorithms of one JWK, or `None` when it cannot verify signatures here.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return None;
        }
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGORITHMS.to_vec(),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        // Symmetric keys never verify here: a key set is public.
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type,
        Some(stated) => {
            // The JWK `alg` name is the JWS one (RFC 7518 §3.1) for every signing algorithm.
            let name = serde_json::to_value(stated).ok()?;
            let stated: Algorithm = name.as_str()?.parse().ok()?;
            by_type.contains(&stated).then(|| vec![stated])?
        }
    };
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        key: DecodingKey::from_jwk(jwk).ok()?,
        algorithms,
    })
}

/// The discovery document's one field used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// The provider's keys, kept current: fetched at start, fetched again when a token names a key
/// the set does not hold, at most once per refetch interval.
pub struct ProviderKeys {
    jwks_url: String,
    fetch: Arc<dyn Fetch>,
    keys: RwLock<KeySet>,
    last_fetch: Mutex<Instant>,
    refetch_interval: Duration,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl ProviderKeys {
    /// [`ProviderKeys::load`] over HTTPS, fetched again at most every
    /// [`timeouts::JWKS_REFETCH_INTERVAL_SECS`]: what the functions and the local gateway run.
    pub async fn fetch(source: &KeySource) -> Result<Self, KeySetError> {
        let refetch = Duration::from_secs(timeouts::JWKS_REFETCH_INTERVAL_SECS);
        Self::load(source, Arc::new(HttpFetch::default()), refetch).await
    }

    /// Finds the key set (through discovery if need be) and fetches it: at cold start, so the
    /// first `$connect` needs no network round trip.
    pub async fn load(
        source: &KeySource,
        fetch: Arc<dyn Fetch>,
        refetch_interval: Duration,
    ) -> Result<Self, KeySetError> {
        let jwks_url = match source {
            KeySource::JwksUrl(url) => url.clone(),
            KeySource::Discovery { issuer } => discover(fetch.as_ref(), issuer).await?,
        };
        check_url(&jwks_url, "JWKS URL").map_err(KeySetError::Url)?;
        let keys = fetch_keys(fetch.as_ref(), &jwks_url).await?;
        tracing::info!(jwks_url = %jwks_url, keys = keys.len(), "identity provider keys loaded");
        Ok(Self {
            jwks_url,
            fetch,
            keys: RwLock::new(keys),
            last_fetch: Mutex::new(Instant::now()),
            refetch_interval,
        })
    }

    pub fn jwks_url(&self) -> &str {
        &self.jwks_url
    }

    /// The key that verifies a token with header `kid` and `alg`, fetching the set again for an
    /// unknown `kid` unless it was fetched within the refetch interval.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, Algorithm), TokenError> {
        if let Some(found) = self.lookup(kid, alg).await? {
            return Ok(found);
        }
        // One refetch at a time; whoever waited finds the set fetched, or the interval not over.
        let mut last_fetch = self.last_fetch.lock().await;
        if let Some(found) = self.lookup(kid, alg).await? {
            return Ok(found);
        }
        if last_fetch.elapsed() < self.refetch_interval {
            return Err(TokenError::UnknownKey);
        }
        *last_fetch = Instant::now();
        match fetch_keys(self.fetch.as_ref(), &self.jwks_url).await {
            Ok(keys) => {
                tracing::info!(jwks_url = %self.jwks_url, keys = keys.len(), "identity provider keys fetched again for an unknown kid");
                *self.keys.write().await = keys;
            }
            Err(e) => {
                tracing::warn!(error = %e, "identity provider keys could not be fetched again; the ones held stay")
            }
        }
        drop(last_fetch);
        self.lookup(kid, alg).await?.ok_or(TokenError::UnknownKey)
    }

    async fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<(DecodingKey, Algorithm)>, TokenError> {
        match self.keys.read().await.find(kid, alg) {
            Lookup::Found(key) => Ok(Some((key.key.clone(), alg))),
            Lookup::UnknownKid => Ok(None),
            Lookup::Refused(e) => Err(e),
        }
    }
}

/// The `jwks_uri` of `issuer`'s discovery document, which must name that very issuer.
async fn discover(fetch: &dyn Fetch, issuer: &str) -> Result<String, KeySetError> {
    check_url(issuer, "issuer").map_err(KeySetError::Url)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let body = fetch
        .get(&url)
        .await
        .map_err(|message| KeySetError::Fetch {
            url: url.clone(),
            message,
        })?;
    let invalid = |message: String| KeySetError::Invalid {
        url: url.clone(),
        what: "OpenID discovery document",
        message,
    };
    let discovery: Discovery = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
    if discovery.issuer.as_deref() != Some(issuer) {
        return Err(invalid(format!(
            "it names issuer {:?}, not {issuer:?} (OpenID Connect Discovery §4.3)",
            discovery.issuer.unwrap_or_default()
        )));
    }
    discovery
        .jwks_uri
        .ok_or_else(|| invalid("it has no jwks_uri; set JWKS_URL".into()))
}

async fn fetch_keys(fetch: &dyn Fetch, url: &str) -> Result<KeySet, KeySetError> {
    let body = fetch.get(url).await.map_err(|message| KeySetError::Fetch {
        url: url.to_string(),
        message,
    })?;
    KeySet::parse(&body).map_err(|message| KeySetError::Invalid {
        url: url.to_string(),
        what: "JSON Web Key Set",
        message,
    })
}

#[cfg(test)]
mod tests;
