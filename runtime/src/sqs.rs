//! SQS operations as single SigV4-signed HTTP requests in SQS's AWS JSON 1.0 protocol, the
//! protocol the current SDKs speak: `POST /` to the queue's endpoint (the scheme and host of its
//! URL, `https://sqs.{region}.amazonaws.com` on AWS, the local gateway's own address locally),
//! `Content-Type: application/x-amz-json-1.0`, `X-Amz-Target: AmazonSQS.{Operation}`, signed by
//! `aws-sigv4` for the `sqs` service.
//!
//! Why not `aws-sdk-sqs`: everything a request needs is in the artifact already for
//! PostToConnection ([`crate::aws_http`]: the signer, the credentials, rustls on ring and the
//! pooled client), so it adds no dependency and little code, where the SDK crate would add its
//! generated client for every SQS operation to the binary every cold start loads. Two callers:
//! [`crate::dead_letters`] (`SendMessage`) and [`crate::push_queue`] (`SendMessageBatch`).

use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;

use crate::aws_http::{self, HttpsClient, Scope};

/// SQS's signing name.
const SIGNING_NAME: &str = "sqs";
const JSON_10: &str = "application/x-amz-json-1.0";

/// One SQS call.
pub(crate) struct Call<'a> {
    pub queue_url: &'a str,
    /// The operation's `X-Amz-Target`, `AmazonSQS.SendMessage`.
    pub target: &'a str,
    pub region: &'a str,
    /// The JSON request body.
    pub body: Vec<u8>,
    /// The longest the call may take.
    pub limit: Duration,
}

/// Sends `call` signed with `identity`: the answer's body on success, else why it failed, in
/// words (the error's code and message as SQS gave them).
pub(crate) async fn send(
    client: &HttpsClient,
    identity: &Identity,
    call: Call<'_>,
) -> Result<Bytes, String> {
    let request = signed_request(identity, &call)?;
    let limit_ms = call.limit.as_millis();
    let answer = tokio::time::timeout(call.limit, aws_http::exchange(client, request))
        .await
        .map_err(|_| format!("no answer within {limit_ms} ms"))?
        .map_err(|e| format!("no answer from SQS: {e}"))?;
    if answer.status.is_success() {
        return Ok(answer.body);
    }
    let (code, message) = aws_http::error_parts(answer.error_type.as_deref(), &answer.body);
    Err(format!(
        "{} (HTTP {}): {message}",
        code.as_deref().unwrap_or("unknown error"),
        answer.status.as_u16()
    ))
}

fn signed_request(identity: &Identity, call: &Call<'_>) -> Result<Request<Full<Bytes>>, String> {
    let endpoint = endpoint_of(call.queue_url)?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(&endpoint)
        .header(http::header::CONTENT_TYPE, JSON_10)
        .header("x-amz-target", call.target)
        .header(http::header::CONTENT_LENGTH, call.body.len())
        .body(Full::new(Bytes::from(call.body.clone())))
        .map_err(|e| format!("cannot build a request for {endpoint}: {e}"))?;
    let scope = Scope {
        region: call.region,
        service: SIGNING_NAME,
    };
    aws_http::sign_request(&mut request, &call.body, identity, scope, SystemTime::now())?;
    Ok(request)
}

/// Where a queue's requests go: its URL's scheme and host, at the root path.
pub(crate) fn endpoint_of(queue_url: &str) -> Result<String, String> {
    let uri: http::Uri = queue_url
        .parse()
        .map_err(|e| format!("{queue_url:?} is not a queue URL: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("http" | "https")), Some(authority)) => {
            Ok(format!("{scheme}://{authority}/"))
        }
        _ => Err(format!(
            "{queue_url:?} is not a queue URL: expected http(s)://host/account/name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_to_the_root_of_the_queues_host() {
        assert_eq!(
            endpoint_of("https://sqs.eu-west-1.amazonaws.com/123456789012/user-push-dlq"),
            Ok("https://sqs.eu-west-1.amazonaws.com/".to_string())
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:3001/000000000000/entity-updated-dlq"),
            Ok("http://127.0.0.1:3001/".to_string())
        );
        assert!(endpoint_of("sqs/123/queue").is_err());
        assert!(endpoint_of("ftp://host/123/queue").is_err());
    }
}
