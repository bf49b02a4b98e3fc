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
//! The pooled client, the signing and the reading of error answers are [`crate::aws_http`]'s,
//! which the dead-letter sender shares; every attempt is bounded by
//! [`wspush_contract::timeouts::PUSH_ATTEMPT_MS`].

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http::label::{self, EncodingStrategy};
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use wspush_contract::timeouts;

use super::{PushOutcome, Pusher};
use crate::aws_http::{self, CredentialCache, HttpsClient, Scope};

/// The signing name of the API Gateway Management API.
const SIGNING_NAME: &str = "execute-api";

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
        self.client.get_or_init(aws_http::https_client)
    }

    /// The signed request (a POST of `data`, or a DELETE without a body), or why it could not
    /// be built.
    fn request(
        &self,
        identity: &Identity,
        method: Method,
        connection_id: &str,
        data: &[u8],
    ) -> Result<Request<Full<Bytes>>, String> {
        let url = self.connection_url(connection_id);
        let mut builder = Request::builder().method(method.clone()).uri(&url);
        if method == Method::POST {
            builder = builder
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .header(http::header::CONTENT_LENGTH, data.len());
        }
        let mut request = builder
            .body(Full::new(Bytes::copy_from_slice(data)))
            .map_err(|e| format!("cannot build a request for {url}: {e}"))?;
        let scope = Scope {
            region: &self.endpoint.region,
            service: SIGNING_NAME,
        };
        aws_http::sign_request(&mut request, data, identity, scope, (self.clock)())?;
        Ok(request)
    }

    /// One attempt: send, and read the answer.
    async fn send(&self, request: Request<Full<Bytes>>) -> PushOutcome {
        match aws_http::exchange(self.client(), request).await {
            Ok(answer) if answer.status.is_success() => PushOutcome::Delivered,
            Ok(answer) => classify(answer.status, answer.error_type.as_deref(), &answer.body),
            // No answer at all: refused connection, reset, DNS. Worth another try.
            Err(e) => PushOutcome::Unavailable(format!("no answer from @connections: {e}")),
        }
    }
}

impl SignedHttpPusher {
    /// One call, `operation` by name: signed, sent, and bounded by the attempt timeout.
    async fn call(
        &self,
        operation: &str,
        method: Method,
        connection_id: &str,
        data: &[u8],
    ) -> PushOutcome {
        let identity = match self.credentials.get(operation).await {
            Ok(credentials) => credentials,
            Err(e) => return PushOutcome::Unavailable(e),
        };
        let request = match self.request(&identity, method, connection_id, data) {
            Ok(request) => request,
            Err(e) => return PushOutcome::Rejected(e),
        };
        let attempt = Duration::from_millis(timeouts::PUSH_ATTEMPT_MS);
        match tokio::time::timeout(attempt, self.send(request)).await {
            Ok(outcome) => outcome,
            Err(_) => PushOutcome::Unavailable(format!(
                "attempt timeout: {operation} to {connection_id} got no answer within {} ms",
                timeouts::PUSH_ATTEMPT_MS
            )),
        }
    }
}

#[async_trait]
impl Pusher for SignedHttpPusher {
    async fn post_to_connection(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        self.call("PostToConnection", Method::POST, connection_id, data)
            .await
    }

    async fn delete_connection(&self, connection_id: &str) -> PushOutcome {
        self.call("DeleteConnection", Method::DELETE, connection_id, &[])
            .await
    }
}

/// What a refusal means for the fan-out, with the service's own words (read as the SDK reads
/// a REST JSON error, [`aws_http::error_parts`]).
fn classify(status: StatusCode, header_type: Option<&str>, body: &[u8]) -> PushOutcome {
    let (error_type, message) = aws_http::error_parts(header_type, body);
    let text = format!(
        "{} (HTTP {}): {message}",
        error_type.as_deref().unwrap_or("unknown error"),
        status.as_u16()
    );
    match (status.as_u16(), error_type.as_deref()) {
        (410, _) | (_, Some("GoneException")) => PushOutcome::Gone,
        (429, _) | (_, Some("LimitExceededException")) => PushOutcome::Throttled(text),
        (s, _) if s >= 500 => PushOutcome::Unavailable(text),
        _ => PushOutcome::Rejected(text),
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
}
