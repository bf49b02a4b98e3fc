//! Verifying the JWTs that identify a WebSocket client, and minting the quick start's test
//! tokens.
//!
//! Two kinds of key verify a token, chosen by its header's `alg` and never mixed:
//! - HS256 with the deployment's own secret (the quick start's tokens, `CreateTestJwt`), unless
//!   switched off (`JWT_HS256_ENABLED=false`);
//! - the identity provider's published keys ([`super::jwks`]) for RS256/384/512,
//!   PS256/384/512, ES256/384 and EdDSA, each key verifying only the algorithms it is for.
//!
//! `alg: none` does not parse, HS384/HS512 have no key, a `crit` header is refused, and keys a
//! token carries itself (`jwk`, `jku`, `x5u`) are never used. Claims are then checked
//! ([`super::claims`]) against the caller's `now`.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::claims::{ClaimRules, Claims};
use super::jwks::ProviderKeys;

/// Lifetime of a minted test token.
pub const TEST_TOKEN_LIFETIME_SECS: i64 = 60 * 60;

/// The verified identity of a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub user_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub sub: Option<String>,
    /// The token's `exp`, whole seconds: the connection ends with it.
    pub expires_at: i64,
    pub claims: Claims,
}

/// Why a token was refused. Messages are for logs (never with the token); the client only
/// ever sees 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no token: expected ?access_token= or Sec-WebSocket-Protocol: websocket, <token>")]
    Missing,
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token algorithm is not one a configured key verifies")]
    WrongAlgorithm,
    #[error("token header lists critical extensions {0:?}, which this service does not understand (RFC 7515 §4.1.11)")]
    UnknownCritical(Vec<String>),
    #[error("invalid user id: {0}")]
    InvalidUserId(String),
    #[error("token signature does not match")]
    BadSignature,
    #[error("token names a key (kid) the identity provider's key set does not hold")]
    UnknownKey,
    #[error("token has no exp claim")]
    NoExpiry,
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token issuer does not match")]
    WrongIssuer,
    #[error("token audience does not match")]
    WrongAudience,
    #[error("token names no user: expected the claim {0}")]
    NoUser(String),
    #[error(
        "the claims the subscribe policy needs do not fit API Gateway's 8 KB authorizer context"
    )]
    ClaimsTooLarge,
    #[error("could not sign token: {0}")]
    Signing(String),
}

/// Overrides accepted by the test-token function; every field is optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestTokenRequest {
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub sub: Option<String>,
}

/// The deployment's HS256 secret: mints test tokens, and verifies HS256 tokens when accepted.
#[derive(Clone)]
struct Hs256Secret {
    encoding: EncodingKey,
    decoding: DecodingKey,
    accepted: bool,
}

/// Every key that verifies or mints tokens, and the claims every token must satisfy.
#[derive(Clone)]
pub struct TokenKeys {
    secret: Option<Hs256Secret>,
    provider: Option<Arc<ProviderKeys>>,
    rules: ClaimRules,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("provider", &self.provider.as_ref().map(|p| p.jwks_url()))
            .field("rules", &self.rules)
            .finish()
    }
}

impl TokenKeys {
    /// HS256 with `secret` (minting and verifying), checking claims by `rules`.
    pub fn new(secret: &[u8], rules: ClaimRules) -> Self {
        Self::without_secret(rules).with_secret(secret, true)
    }

    /// No key yet: add the secret, the provider, or both.
    pub fn without_secret(rules: ClaimRules) -> Self {
        Self {
            secret: None,
            provider: None,
            rules,
        }
    }

    /// The HS256 secret; `accepted: false` keeps it for minting only.
    pub fn with_secret(mut self, secret: &[u8], accepted: bool) -> Self {
        self.secret = Some(Hs256Secret {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            accepted,
        });
        self
    }

    /// The identity provider's keys.
    pub fn with_provider(mut self, provider: Arc<ProviderKeys>) -> Self {
        self.provider = Some(provider);
        self
    }

    pub fn rules(&self) -> &ClaimRules {
        &self.rules
    }

    /// Verifies `token` at unix time `now` and returns who it identifies.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        // No extension is understood here, so any `crit` (even an empty one, which RFC 7515
        // forbids) makes the token unacceptable.
        if let Some(critical) = header.crit {
            return Err(TokenError::UnknownCritical(critical));
        }
        let (key, alg) = self.key_for(header.kid.as_deref(), header.alg).await?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &signature_only(alg))
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed(e.to_string()),
            })?
            .claims;
        identity_of(Claims::new(claims), &self.rules, now)
    }

    /// The key for a token's `alg` (and `kid`): the secret for HS256 when accepted, the
    /// provider's keys for the asymmetric algorithms, nothing else.
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(DecodingKey, Algorithm), TokenError> {
        match alg {
            Algorithm::HS256 => match &self.secret {
                Some(secret) if secret.accepted => Ok((secret.decoding.clone(), alg)),
                _ => Err(TokenError::WrongAlgorithm),
            },
            Algorithm::HS384 | Algorithm::HS512 => Err(TokenError::WrongAlgorithm),
            _ => match &self.provider {
                Some(provider) => provider.key_for(kid, alg).await,
                None => Err(TokenError::WrongAlgorithm),
            },
        }
    }

    /// Mints a one-hour test token in the quick start's claim shape, with the configured
    /// issuer and audience so that it verifies here.
    pub fn mint(&self, request: &TestTokenRequest, now: i64) -> Result<String, TokenError> {
        let secret = self
            .secret
            .as_ref()
            .ok_or_else(|| TokenError::Signing("no JWT secret is configured".into()))?;
        let user_id = request.user_id.clone().unwrap_or_else(|| "myuserid".into());
        // A token `$connect` would refuse is no use to anyone: refuse to mint it.
        check_user_id(&user_id)?;
        let sub = request.sub.clone().unwrap_or_else(|| "examplesub".into());
        let mut claims = json!({
            "exp": now + TEST_TOKEN_LIFETIME_SECS,
            "iat": now,
            "sub": sub,
            "data": {
                "userId": user_id,
                "firstName": request.first_name.as_deref().unwrap_or("Test"),
                "lastName": request.last_name.as_deref().unwrap_or("User"),
                "sub": sub,
            },
        });
        if let Some(issuer) = &self.rules.issuer {
            claims["iss"] = json!(issuer);
        }
        if let Some(audience) = &self.rules.audience {
            claims["aud"] = json!(audience);
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &secret.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}

/// A validation that checks the signature with `alg` only; the claims are checked by hand
/// against the caller's `now` (jsonwebtoken would read the system clock).
fn signature_only(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

fn identity_of(claims: Claims, rules: &ClaimRules, now: i64) -> Result<Identity, TokenError> {
    let user_id = claims.check(rules, now)?;
    let expires_at = claims.expires_at().ok_or(TokenError::NoExpiry)?;
    let (first_name, last_name) = claims.names();
    Ok(Identity {
        user_id,
        first_name,
        last_name,
        sub: claims.subject(),
        expires_at,
        claims,
    })
}

/// Longest user id accepted: it becomes a DynamoDB index key (at most 2048 bytes) and travels
/// in the authorizer's context (at most 8 KB in all).
pub const MAX_USER_ID_BYTES: usize = 1024;

/// The one definition of a valid user id, used by the authorizer and by CreateTestJwt: not
/// empty, at most [`MAX_USER_ID_BYTES`] bytes, no control characters.
pub fn check_user_id(user_id: &str) -> Result<(), TokenError> {
    if user_id.is_empty() {
        return Err(TokenError::InvalidUserId("it is empty".into()));
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(TokenError::InvalidUserId(format!(
            "it is {} bytes; at most {MAX_USER_ID_BYTES} are allowed",
            user_id.len()
        )));
    }
    if user_id.chars().any(char::is_control) {
        return Err(TokenError::InvalidUserId(
            "it contains control characters".into(),
        ));
    }
    Ok(())
}
