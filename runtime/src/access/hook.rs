//! The subscribe hook: the application's own decision (`SUBSCRIBE_AUTHORIZER`) on a
//! subscription the policy's templates do not allow, for rules that need the application's
//! data (is this user a member of that board?).
//!
//! Deployed, the hook is a Lambda function of the application's, invoked with a SigV4-signed
//! `Invoke` request; locally, an `http://` URL on a loopback address that is POSTed to. Both get
//! the same JSON ([`HookRequest`]) and answer the same way ([`HookAnswer`]). No answer within
//! [`timeouts::SUBSCRIBE_AUTHORIZER_MS`], an error, or an answer that does not parse denies:
//! a hook that cannot decide never lets a subscription through.
//!
//! An answer may be cached for its connection and entity for up to an hour (`cacheSeconds`), so
//! a client re-subscribing after a reconnect storm does not ask the application again; the
//! cache lives in the execution environment and is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http::label::{self, EncodingStrategy};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;
use wspush_contract::timeouts;

use crate::auth::fetch::check_url;
use crate::aws_http::{exchange, https_client, sign_request, CredentialCache, HttpsClient, Scope};

/// Longest an answer may be cached.
const MAX_CACHE_SECS: u64 = 60 * 60;
/// Answers cached at once, at most.
const MAX_CACHED: usize = 10_000;

/// What the hook is asked.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HookRequest<'a> {
    pub user_id: &'a str,
    pub claims: &'a Map<String, Value>,
    pub connection_id: &'a str,
    pub entity_id: &'a str,
}

/// What the hook answers.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HookAnswer {
    pub allow: bool,
    #[serde(default)]
    pub cache_seconds: u64,
    #[serde(default)]
    pub message: Option<String>,
}

/// Where the hook is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookTarget {
    /// A loopback `http://` URL (or any `https://` one), POSTed to.
    Url(String),
    /// A Lambda function (name or ARN), invoked at `endpoint` (`https://lambda.{region}.amazonaws.com`).
    Function {
        name: String,
        endpoint: String,
        region: String,
    },
}

impl HookTarget {
    /// Reads `SUBSCRIBE_AUTHORIZER`: a URL, or a function name or ARN invoked in `region`.
    pub fn parse(value: &str, region: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.contains("://") {
            check_url(value, "subscribe authorizer URL")?;
            return Ok(Self::Url(value.to_string()));
        }
        let valid = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:.".contains(c));
        if !valid {
            return Err(format!(
                "{value:?} is neither a URL nor a Lambda function name or ARN"
            ));
        }
        Ok(Self::Function {
            name: value.to_string(),
            endpoint: format!("https://lambda.{region}.amazonaws.com"),
            region: region.to_string(),
        })
    }
}

/// A cached answer.
struct Cached {
    allow: bool,
    message: Option<String>,
    until: Instant,
}

/// The hook, its HTTP client and its cache of answers.
pub struct SubscribeHook {
    target: HookTarget,
    client: HttpsClient,
    credentials: CredentialCache,
    timeout: Duration,
    cache: Mutex<HashMap<(String, String), Cached>>,
}

impl SubscribeHook {
    /// `credentials` sign the Lambda `Invoke` (unused for a URL).
    pub fn new(target: HookTarget, credentials: Option<SharedCredentialsProvider>) -> Self {
        Self {
            target,
            client: https_client(),
            credentials: CredentialCache::new(credentials),
            timeout: Duration::from_millis(timeouts::SUBSCRIBE_AUTHORIZER_MS),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Waits `timeout` for an answer instead of [`timeouts::SUBSCRIBE_AUTHORIZER_MS`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn target(&self) -> &HookTarget {
        &self.target
    }

    /// The hook's decision, from the cache when it holds one.
    pub async fn decide(&self, request: &HookRequest<'_>) -> HookAnswer {
        let key = (
            request.connection_id.to_string(),
            request.entity_id.to_string(),
        );
        if let Some(cached) = self.cached(&key) {
            return cached;
        }
        let answer = match tokio::time::timeout(self.timeout, self.ask(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(reason)) => denial(request, reason),
            Err(_) => denial(
                request,
                format!("no answer within {} ms", self.timeout.as_millis()),
            ),
        };
        self.remember(key, &answer);
        answer
    }

    fn cached(&self, key: &(String, String)) -> Option<HookAnswer> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let cached = cache.get(key).filter(|c| c.until > Instant::now())?;
        Some(HookAnswer {
            allow: cached.allow,
            cache_seconds: 0,
            message: cached.message.clone(),
        })
    }

    fn remember(&self, key: (String, String), answer: &HookAnswer) {
        let seconds = answer.cache_seconds.min(MAX_CACHE_SECS);
        if seconds == 0 {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, cached| cached.until > now);
        }
        if cache.len() < MAX_CACHED {
            cache.insert(
                key,
                Cached {
                    allow: answer.allow,
                    message: answer.message.clone(),
                    until: now + Duration::from_secs(seconds),
                },
            );
        }
    }

    async fn ask(&self, request: &HookRequest<'_>) -> Result<HookAnswer, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let http_request = match &self.target {
            HookTarget::Url(url) => post(url, body)?,
            HookTarget::Function {
                name,
                endpoint,
                region,
            } => self.invoke(name, endpoint, region, body).await?,
        };
        let answer = exchange(&self.client, http_request)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        if answer.status != StatusCode::OK {
            return Err(format!("answered {}", answer.status));
        }
        if answer.error_type.is_some() || answer.body.is_empty() {
            return Err("the function failed".into());
        }
        serde_json::from_slice(&answer.body)
            .map_err(|e| format!("answered {e}; expected {{\"allow\": true|false}}"))
    }

    /// A signed Lambda `Invoke` (RequestResponse) of `name`.
    async fn invoke(
        &self,
        name: &str,
        endpoint: &str,
        region: &str,
        body: Vec<u8>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let identity = self.credentials.get("Invoke").await?;
        // The name as the SDK writes its `FunctionName` label: an ARN's colons percent-encoded.
        let name = label::fmt_string(name, EncodingStrategy::Default);
        let url = format!("{endpoint}/2015-03-31/functions/{name}/invocations");
        let mut request = post(&url, body.clone())?;
        let scope = Scope {
            region,
            service: "lambda",
        };
        sign_request(&mut request, &body, &identity, scope, SystemTime::now())?;
        Ok(request)
    }
}

fn post(url: &str, body: Vec<u8>) -> Result<Request<Full<Bytes>>, String> {
    Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("{url:?} is not a URL the hook can be asked at: {e}"))
}

/// A denial because the hook gave no usable answer; logged, without the claims.
fn denial(request: &HookRequest<'_>, reason: String) -> HookAnswer {
    tracing::warn!(
        user_id = request.user_id,
        connection_id = request.connection_id,
        entity_id = request.entity_id,
        reason = %reason,
        "subscribe hook gave no decision; denied"
    );
    HookAnswer {
        allow: false,
        cache_seconds: 0,
        message: None,
    }
}

#[cfg(test)]
mod tests;
