//! Verifying and minting the JWTs that identify a WebSocket client.
//!
//! Accepted shapes: the quick start's `{exp, data: {userId, firstName, lastName, sub}}`, and
//! standard claims where `sub` is the user id. Only HS256 is accepted: `alg: none`, RS256 and
//! every other algorithm are refused before the signature is looked at, which closes the
//! algorithm-confusion attacks. Time checks take `now` as an argument so they are testable.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Number;

use crate::config::JwtSettings;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;
/// Lifetime of a minted test token.
pub const TEST_TOKEN_LIFETIME_SECS: i64 = 60 * 60;

/// The verified identity of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub sub: Option<String>,
}

/// Why a token was refused. Messages are for logs; the client only ever sees 401.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no token: expected ?access_token= or Sec-WebSocket-Protocol: websocket, <token>")]
    Missing,
    #[error("token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token algorithm is not HS256")]
    WrongAlgorithm,
    #[error("token header lists critical extensions {0:?}, which this service does not understand (RFC 7515 §4.1.11)")]
    UnknownCritical(Vec<String>),
    #[error("invalid user id: {0}")]
    InvalidUserId(String),
    #[error("token signature does not match")]
    BadSignature,
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
    #[error("token names no user: expected data.userId or sub")]
    NoUser,
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

/// The quick start's nested claim object.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct DataClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
}

/// `aud` may be one string or a list of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Audience::One(a) => a == expected,
            Audience::Many(all) => all.iter().any(|a| a == expected),
        }
    }
}

/// Times are `serde_json::Number`s: RFC 7519 allows fractional NumericDates, so those are
/// read, while minted tokens carry whole seconds (some libraries refuse anything else).
#[derive(Debug, Default, Deserialize, Serialize)]
struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataClaims>,
}

/// The signing key and the claims every token must satisfy.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    settings: JwtSettings,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("secret", &"<redacted>")
            .field("settings", &self.settings)
            .finish()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], settings: JwtSettings) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            settings,
        }
    }

    /// Verifies `token` at unix time `now` and returns who it identifies.
    pub fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        // No extension is understood here, so any `crit` (even an empty one, which RFC 7515
        // forbids) makes the token unacceptable.
        if let Some(critical) = header.crit {
            return Err(TokenError::UnknownCritical(critical));
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &signature_only())
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                _ => TokenError::Malformed(e.to_string()),
            })?
            .claims;
        self.check_claims(&claims, now)?;
        let identity = identity_of(claims)?;
        check_user_id(&identity.user_id)?;
        Ok(identity)
    }

    fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        let now = now as f64;
        let leeway = LEEWAY_SECS as f64;
        // JSON numbers are always finite; the fallbacks only keep this total.
        let exp = claims.exp.as_ref().ok_or(TokenError::NoExpiry)?;
        if exp.as_f64().unwrap_or(f64::NEG_INFINITY) + leeway < now {
            return Err(TokenError::Expired);
        }
        let nbf = claims
            .nbf
            .as_ref()
            .map(|n| n.as_f64().unwrap_or(f64::INFINITY));
        if nbf.is_some_and(|nbf| nbf - leeway > now) {
            return Err(TokenError::NotYetValid);
        }
        if let Some(issuer) = &self.settings.issuer {
            if claims.iss.as_deref() != Some(issuer.as_str()) {
                return Err(TokenError::WrongIssuer);
            }
        }
        if let Some(audience) = &self.settings.audience {
            if !claims
                .aud
                .as_ref()
                .is_some_and(|aud| aud.contains(audience))
            {
                return Err(TokenError::WrongAudience);
            }
        }
        Ok(())
    }

    /// Mints a one-hour test token in the quick start's claim shape, with the configured
    /// issuer and audience so that it verifies here.
    pub fn mint(&self, request: &TestTokenRequest, now: i64) -> Result<String, TokenError> {
        let user_id = request.user_id.clone().unwrap_or_else(|| "myuserid".into());
        // A token `$connect` would refuse is no use to anyone: refuse to mint it.
        check_user_id(&user_id)?;
        let sub = request.sub.clone().unwrap_or_else(|| "examplesub".into());
        let claims = Claims {
            exp: Some((now + TEST_TOKEN_LIFETIME_SECS).into()),
            iat: Some(now.into()),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone().map(Audience::One),
            sub: Some(sub.clone()),
            data: Some(DataClaims {
                user_id: Some(user_id),
                first_name: Some(request.first_name.clone().unwrap_or_else(|| "Test".into())),
                last_name: Some(request.last_name.clone().unwrap_or_else(|| "User".into())),
                sub: Some(sub),
            }),
            nbf: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}

/// A validation that checks the HS256 signature only; the claims are checked by hand against
/// the caller's `now` (jsonwebtoken would read the system clock).
fn signature_only() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation
}

fn identity_of(claims: Claims) -> Result<Identity, TokenError> {
    let data = claims.data.unwrap_or_default();
    let user_id = non_empty(data.user_id)
        .or_else(|| non_empty(claims.sub.clone()))
        .ok_or(TokenError::NoUser)?;
    Ok(Identity {
        user_id,
        first_name: non_empty(data.first_name),
        last_name: non_empty(data.last_name),
        sub: non_empty(data.sub).or(non_empty(claims.sub)),
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

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
