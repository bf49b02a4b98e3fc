//! Signed HTTP requests to AWS APIs, built from the SDK's own parts without the SDK's per-call
//! machinery: the pooled HTTPS client, the credentials the signer reads, SigV4 signing, and
//! reading an error answer.
//!
//! Two callers send one request shape each, many times or with little else to do:
//! [`crate::push::SignedHttpPusher`] (PostToConnection, thousands of times per fan-out) and
//! [`crate::dead_letters::SqsDeadLetters`] (SQS SendMessage). Each builds its own request; this
//! module signs it with `aws-sigv4` and the SDK configuration's credentials provider, sends it
//! over rustls on ring with the system's root certificates (as the SDK's client), and reads the
//! error code and message the way the SDK reads them.
//!
//! Connections are pooled as the SDK pools them ([`wspush_contract::http_pool`]), with the same
//! connect timeout ([`wspush_contract::timeouts`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use wspush_contract::{http_pool, timeouts};

/// Credentials are fetched again this long before they expire.
const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The most of an answer's body read (error answers carry a code and a message).
const MAX_ANSWER_BODY_BYTES: usize = 16 * 1024;

/// The pooled HTTPS (and, for local endpoints, plain HTTP) client.
pub(crate) type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Who signs: the region and the service's signing name, e.g. `execute-api` or `sqs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Signs `request` (whose body is `body`) in place: adds `x-amz-date`, `authorization` and,
/// with session credentials, `x-amz-security-token`. Every header already set is signed.
pub(crate) fn sign_request(
    request: &mut Request<Full<Bytes>>,
    body: &[u8],
    identity: &Identity,
    scope: Scope<'_>,
    time: SystemTime,
) -> Result<(), String> {
    let url = request.uri().to_string();
    let params = SigningParams::builder()
        .identity(identity)
        .region(scope.region)
        .name(scope.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("cannot sign: {e}"))?;
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let signable = SignableRequest::new(
        request.method().as_str(),
        url.as_str(),
        headers,
        SignableBody::Bytes(body),
    )
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
    Ok(())
}

/// What came back: the status, the error type header, and the body (at most 16 KB of it).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub error_type: Option<String>,
    pub body: Bytes,
}

/// Sends `request` and reads the answer; an error when no answer came (refused connection,
/// reset, DNS).
pub(crate) async fn exchange(
    client: &HttpsClient,
    request: Request<Full<Bytes>>,
) -> Result<Answer, hyper_util::client::legacy::Error> {
    let response = client.request(request).await?;
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read to the end (within the bound) so the connection goes back to the pool.
    let body = Limited::new(response.into_body(), MAX_ANSWER_BODY_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Answer {
        status,
        error_type,
        body,
    })
}

/// A refusal's error code and message, as the SDK reads a JSON error: the code from
/// `x-amzn-ErrorType` or the body's `__type` (or `code`), without a suffix after `:` or a
/// namespace before `#`; the message from `message` or `Message`, else the body's start.
pub(crate) fn error_parts(header_type: Option<&str>, body: &[u8]) -> (Option<String>, String) {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|m| m.as_str())
    };
    let code = header_type
        .or_else(|| field("__type"))
        .or_else(|| field("code"))
        .map(|t| {
            let t = t.split(':').next().unwrap_or(t);
            t.rsplit('#').next().unwrap_or(t).to_string()
        });
    let message = field("message")
        .or_else(|| field("Message"))
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    (code, message)
}

/// The HTTPS client: rustls on ring with the system's roots (as the SDK's client), plain HTTP
/// for local endpoints, HTTP/1.1 with a bounded pool of reused connections.
pub(crate) fn https_client() -> HttpsClient {
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
pub(crate) struct CredentialCache {
    provider: Option<SharedCredentialsProvider>,
    current: Mutex<Option<Identity>>,
    /// One refresh at a time: hundreds of calls in flight must not each ask the provider.
    refreshing: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    pub(crate) fn new(provider: Option<SharedCredentialsProvider>) -> Self {
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

    /// The identity to sign `operation` with, or why there is none.
    pub(crate) async fn get(&self, operation: &str) -> Result<Identity, String> {
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(credentials) = self.fresh() {
            return Ok(credentials);
        }
        let provider = self.provider.as_ref().ok_or_else(|| {
            format!(
                "no AWS credentials to sign {operation}: the SDK configuration has no \
                 credentials provider"
            )
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to sign {operation}: {e}"))?;
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

    #[test]
    fn error_codes_lose_their_namespace_and_suffix() {
        let (code, message) = error_parts(
            None,
            br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        );
        assert_eq!(code.as_deref(), Some("QueueDoesNotExist"));
        assert_eq!(message, "The specified queue does not exist.");
        let (code, message) = error_parts(Some("ForbiddenException:http://x/"), b"<html>");
        assert_eq!(code.as_deref(), Some("ForbiddenException"));
        assert_eq!(message, "<html>");
    }
}
