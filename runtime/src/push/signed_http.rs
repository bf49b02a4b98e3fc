//! [`Pusher`] as one SigV4-signed HTTP request per call, without the SDK's per-call machinery.
//!
//! Why: a fan-out makes the same call thousands of times, and a profile of the
//! 10,000-subscriber fan-out found half of the CPU in the SDK client's per-call work (its
//! orchestrator, interceptors and config bag), not in the request itself. On Lambda, CPU is
//! what the memory setting buys, so that work bounds how fast one function can push.
//!
//! What it sends is what `aws-sdk-apigatewaymanagement` sends for `PostToConnection`, built with
//! the SDK's own parts: the path `{stage}/@connections/{id}` with the id percent-encoded as the
//! SDK encodes an HTTP label, the body as `application/octet-stream`, signed by `aws-sigv4`
//! for the `execute-api` service with the SDK configuration's credentials provider. The
//! gateway's tests send the same call through both clients and check that the gateway (which
//! verifies SigV4 the way AWS documents it) sees the same request; `PUSH_CLIENT=sdk` switches a
//! deployed function to the SDK client without a new build.
//!
//! Connections are pooled as the SDK pools them ([`wspush_contract::http_pool`]): rustls on
//! ring with the system's root certificates, TCP_NODELAY, and the same connect and attempt
//! timeouts ([`wspush_contract::timeouts`]).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_http::label::{self, EncodingStrategy};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wspush_contract::{http_pool, timeouts};

use super::{PushOutcome, Pusher};

/// The signing name of the API Gateway Management API.
const SIGNING_NAME: &str = "execute-api";

/// Credentials are fetched again this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The most of an error answer's body read for its message.
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where the calls go and how they are signed.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}` or a local gateway's URL,
    /// without a trailing slash.
    pub base_url: String,
    pub region: String,
}

/// Pushes through `@connections` with one signed HTTP request per call.
pub struct SignedHttpPusher {
    endpoint: Endpoint,
    credentials: CredentialCache,
    /// Built on the first push: loading the system's root certificates costs milliseconds,
    /// which functions that never push should not pay at cold start.
    client: OnceLock<HttpsClient>,
    clock: fn() -> SystemTime,
}

impl std::fmt::Debug for SignedHttpPusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHttpPusher")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SignedHttpPusher {
    /// Signs with `credentials`; without a provider every call says so instead of pushing
    /// unsigned.
    pub fn new(endpoint: Endpoint, credentials: Option<SharedCredentialsProvider>) -> Self {
        Self::with_clock(endpoint, credentials, SystemTime::now)
    }

    /// The same, signing at the times `clock` gives (tests compare signatures at a fixed time).
    pub fn with_clock(
        mut endpoint: Endpoint,
        credentials: Option<SharedCredentialsProvider>,
        clock: fn() -> SystemTime,
    ) -> Self {
        let trimmed = endpoint.base_url.trim_end_matches('/').len();
        endpoint.base_url.truncate(trimmed);
        Self {
            endpoint,
            credentials: CredentialCache::new(credentials),
            client: OnceLock::new(),
            clock,
        }
    }

    /// The URL of one connection, encoded by the SDK's own HTTP-label encoder: API Gateway
    /// connection ids end in `=`, which goes out as `%3D`.
    fn connection_url(&self, connection_id: &str) -> String {
        format!(
            "{}/@connections/{}",
            self.endpoint.base_url,
            label::fmt_string(connection_id, EncodingStrategy::Default)
        )
    }

    fn client(&self) -> &HttpsClient {
        self.client.get_or_init(https_client)
    }

    /// The signed request, or why it could not be built.
    fn request(
        &self,
        identity: &Identity,
        connection_id: &str,
        data: &[u8],
    ) -> Result<Request<Full<Bytes>>, String> {
        let url = self.connection_url(connection_id);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .header(http::header::CONTENT_LENGTH, data.len())
            .body(Full::new(Bytes::copy_from_slice(data)))
            .map_err(|e| format!("cannot build a request for {url}: {e}"))?;
        let params = SigningParams::builder()
            .identity(identity)
            .region(&self.endpoint.region)
            .name(SIGNING_NAME)
            .time((self.clock)())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?;
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable =
            SignableRequest::new("POST", url.as_str(), headers, SignableBody::Bytes(data))
                .map_err(|e| format!("cannot sign a request for {url}: {e}"))?;
        let (signature_headers, _query) = sign(signable, &params.into())
            .map_err(|e| format!("cannot sign a request for {url}: {e}"))?
            .into_parts()
            .0
            .into_parts();
        for header in signature_headers {
            let mut value = HeaderValue::from_str(header.value()).map_err(|_| {
                format!(
                    "the signature's {} header is not a valid value",
                    header.name()
                )
            })?;
            value.set_sensitive(header.sensitive());
            request.headers_mut().insert(header.name(), value);
        }
        Ok(request)
    }

    /// One attempt: send, and read the answer.
    async fn send(&self, request: Request<Full<Bytes>>) -> PushOutcome {
        let response = match self.client().request(request).await {
            Ok(response) => response,
            // No answer at all: refused connection, reset, DNS. Worth another try.
            Err(e) => return PushOutcome::Unavailable(format!("no answer from @connections: {e}")),
        };
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(response.into_body(), MAX_ERROR_BODY_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes());
        if status.is_success() {
            return PushOutcome::Delivered;
        }
        let body = body.unwrap_or_default();
        classify(status, error_type.as_deref(), &body)
    }
}

#[async_trait]
impl Pusher for SignedHttpPusher {
    async fn post_to_connection(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        let identity = match self.credentials.get().await {
            Ok(credentials) => credentials,
            Err(e) => return PushOutcome::Unavailable(e),
        };
        let request = match self.request(&identity, connection_id, data) {
            Ok(request) => request,
            Err(e) => return PushOutcome::Rejected(e),
        };
        let attempt = Duration::from_millis(timeouts::PUSH_ATTEMPT_MS);
        match tokio::time::timeout(attempt, self.send(request)).await {
            Ok(outcome) => outcome,
            Err(_) => PushOutcome::Unavailable(format!(
                "attempt timeout: PostToConnection to {connection_id} got no answer within {} ms",
                timeouts::PUSH_ATTEMPT_MS
            )),
        }
    }
}

/// What a refusal means for the fan-out, with the service's own words. The error code comes
/// from `x-amzn-ErrorType` or the body's `__type`, as the SDK reads a REST JSON error (both
/// may carry a suffix after `:` or a namespace before `#`).
fn classify(status: StatusCode, header_type: Option<&str>, body: &[u8]) -> PushOutcome {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|m| m.as_str())
    };
    let error_type = header_type
        .or_else(|| field("__type"))
        .or_else(|| field("code"))
        .map(|t| {
            let t = t.split(':').next().unwrap_or(t);
            t.rsplit('#').next().unwrap_or(t)
        });
    let message = field("message")
        .or_else(|| field("Message"))
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    let text = format!(
        "{} (HTTP {}): {message}",
        error_type.unwrap_or("unknown error"),
        status.as_u16()
    );
    match (status.as_u16(), error_type) {
        (410, _) | (_, Some("GoneException")) => PushOutcome::Gone,
        (429, _) | (_, Some("LimitExceededException")) => PushOutcome::Throttled(text),
        (s, _) if s >= 500 => PushOutcome::Unavailable(text),
        _ => PushOutcome::Rejected(text),
    }
}

/// The HTTPS client: rustls on ring with the system's roots (as the SDK's client), plain HTTP
/// for local endpoints, HTTP/1.1 with a bounded pool of reused connections.
fn https_client() -> HttpsClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_millis(timeouts::CONNECT_MS)));
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(errors = ?native.errors, "some system root certificates did not load");
    }
    let (_valid, invalid) = roots.add_parsable_certificates(native.certs);
    if invalid > 0 {
        tracing::warn!(invalid, "some system root certificates did not parse");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    let tls = match tls {
        Ok(tls) => tls,
        // ring supports every default protocol version; this would be a build defect.
        Err(e) => unreachable!("ring's provider refuses TLS 1.2/1.3: {e}"),
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(http_pool::IDLE_TIMEOUT_SECS))
        .pool_max_idle_per_host(http_pool::MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// The credentials provider's answer, kept as the signer's identity until shortly before it
/// expires.
struct CredentialCache {
    provider: Option<SharedCredentialsProvider>,
    current: Mutex<Option<Identity>>,
    /// One refresh at a time: hundreds of calls in flight must not each ask the provider.
    refreshing: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Identity> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|identity| still_fresh(identity.expiration()))
            .cloned()
    }

    async fn get(&self) -> Result<Identity, String> {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let provider = self.provider.as_ref().ok_or(
            "no AWS credentials to sign PostToConnection: the SDK configuration has no \
             credentials provider",
        )?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to sign PostToConnection: {e}"))?;
        let identity = Identity::from(credentials);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(identity.clone());
        Ok(identity)
    }
}

/// Whether credentials expiring at `expiry` are good for a while yet.
fn still_fresh(expiry: Option<SystemTime>) -> bool {
    match expiry {
        None => true,
        Some(expiry) => expiry
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > CREDENTIALS_REFRESH_MARGIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn pusher(base_url: &str) -> SignedHttpPusher {
        SignedHttpPusher::new(
            Endpoint {
                base_url: base_url.into(),
                region: "us-east-1".into(),
            },
            Some(SharedCredentialsProvider::new(Credentials::new(
                "a", "s", None, None, "t",
            ))),
        )
    }

    #[test]
    fn connection_ids_are_encoded_as_the_sdk_encodes_a_label() {
        let p = pusher("https://abc.execute-api.us-east-1.amazonaws.com/production/");
        assert_eq!(
            p.connection_url("L0SM9cOFvHcCIhw="),
            "https://abc.execute-api.us-east-1.amazonaws.com/production/@connections/L0SM9cOFvHcCIhw%3D"
        );
        assert_eq!(
            p.connection_url("a/b+c d~e_f.g-h"),
            "https://abc.execute-api.us-east-1.amazonaws.com/production/@connections/a%2Fb%2Bc%20d~e_f.g-h"
        );
    }

    #[test]
    fn refusals_are_classified_by_status_and_error_type() {
        let body = br#"{"message":"Rate exceeded"}"#;
        assert_eq!(
            classify(StatusCode::GONE, Some("GoneException"), b"{}"),
            PushOutcome::Gone
        );
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                Some("LimitExceededException"),
                body
            ),
            PushOutcome::Throttled("LimitExceededException (HTTP 429): Rate exceeded".into())
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, b"<html>"),
            PushOutcome::Unavailable(m) if m.contains("HTTP 502") && m.contains("<html>")
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, Some("ForbiddenException"), b"{\"message\":\"Forbidden\"}"),
            PushOutcome::Rejected(m) if m == "ForbiddenException (HTTP 403): Forbidden"
        ));
    }

    #[test]
    fn credentials_close_to_expiry_are_not_fresh() {
        let expiring = |secs: Option<u64>| {
            let expiry = secs.map(|s| SystemTime::now() + Duration::from_secs(s));
            Credentials::new("a", "s", None, expiry, "t")
        };
        assert!(!still_fresh(expiring(Some(60)).expiry()));
        assert!(still_fresh(expiring(Some(3600)).expiry()));
        assert!(still_fresh(expiring(None).expiry()));
    }
}
