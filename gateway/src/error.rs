//! One error type for every emulated API, answered in the shape that API uses in AWS.
//!
//! Clients parse these bodies: the SDKs read the error code from the `x-amzn-ErrorType` header
//! (REST APIs: `@connections`, Lambda) or from `__type` in the body (JSON 1.1: EventBridge;
//! JSON 1.0: SQS, which adds its query-protocol code in `x-amzn-query-error`), so both are
//! always set. Internal failures are logged with their cause and answered with a
//! generic message, as AWS does.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused request, with the status and error code its AWS API would answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `@connections` on a connection that is closed or never existed.
    #[error("connection {0:?} is gone or never existed")]
    Gone(String),
    /// A path under a stage this API does not have.
    #[error("Forbidden")]
    Forbidden,
    /// The `$connect` authorizer refused the token.
    #[error("Unauthorized")]
    Unauthorized,
    /// The account throttle is exhausted, or the client's buffer is full (`@connections`).
    #[error("{0}")]
    LimitExceeded(String),
    /// Lambda `Invoke` found every concurrency slot of the function busy.
    #[error("Rate Exceeded.")]
    TooManyRequests,
    /// A message over API Gateway's 128 KB limit.
    #[error("message is {size} bytes; the limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// A JSON 1.1 request whose `X-Amz-Target` names no operation the gateway emulates.
    #[error("{0}")]
    UnknownOperation(String),
    /// A JSON 1.1 body that is not the JSON the operation expects.
    #[error("{0}")]
    Serialization(String),
    /// A request outside an operation's constraints.
    #[error("{0}")]
    Validation(String),
    /// Lambda `Invoke` of a function the gateway does not host.
    #[error("Function not found: {0}")]
    FunctionNotFound(String),
    /// Lambda `Invoke` with a payload over Lambda's synchronous limit.
    #[error("Request must be smaller than {0} bytes for the InvokeFunction operation")]
    RequestTooLarge(usize),
    /// Lambda `Invoke` with a payload that is not JSON.
    #[error("Could not parse request body into json: {0}")]
    InvalidRequestContent(String),
    /// A WebSocket request whose URL is over API Gateway's 4096 characters.
    #[error("Request-URI Too Large: the URL is {0} characters; API Gateway accepts 4096")]
    UriTooLong(usize),
    /// More new connections a second than the account's quota (when emulated).
    #[error("Too many new connections: the account's quota is {0} a second")]
    TooManyConnections(u32),
    /// A plain HTTP request to the WebSocket endpoint.
    #[error("this is a WebSocket endpoint: connect with a WebSocket client, e.g. wscat -c \"ws://HOST/STAGE?access_token=TOKEN\"")]
    UpgradeRequired,
    /// A path no emulated API serves, or a method the path does not serve.
    #[error("no emulated API serves {0}")]
    NotFound(String),
    /// A request the router refused before any API saw it (e.g. a path segment that is not
    /// UTF-8 once percent-decoded).
    #[error("{0}")]
    BadRequest(String),
    /// A request whose `Host` names neither this machine's loopback addresses at the gateway's
    /// port nor a name allowed with `--allowed-host`: a web page reaching the gateway through
    /// DNS rebinding ([`crate::local_only`]).
    #[error("Forbidden: Host {0:?} is not this local gateway; it answers {1} (allow another name with --allowed-host)")]
    ForeignHost(String, String),
    /// A request to a `/_gateway/` view that changes state, sent by a page of another origin.
    #[error("Forbidden: a page of origin {0:?} may not change the local gateway's state; use the gateway's own console, or a client that is not a browser")]
    CrossOrigin(String),
    /// A request whose body did not arrive in full within the body timeout.
    #[error("the request body did not arrive within {0} s; the connection is closed")]
    RequestTimeout(u64),
    /// An `@connections` call whose SigV4 signature is missing, malformed or wrong.
    #[error("{0}")]
    Signature(#[from] SignatureError),
    /// An SQS request refused as SQS refuses it (AWS JSON 1.0): the error shape (`__type`, e.g.
    /// `QueueDoesNotExist`) and the query-protocol code SQS sends beside it in
    /// `x-amzn-query-error` (e.g. `AWS.SimpleQueueService.NonExistentQueue`), which SDKs that
    /// once spoke SQS's query protocol read.
    #[error("{message}")]
    Sqs {
        shape: &'static str,
        query_code: &'static str,
        message: String,
    },
    /// A fault of the gateway or the runtime; the cause is logged, not sent.
    #[error("Internal server error")]
    Internal(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Gone(_) => StatusCode::GONE,
            GatewayError::Forbidden
            | GatewayError::ForeignHost(..)
            | GatewayError::CrossOrigin(_)
            | GatewayError::Signature(_) => StatusCode::FORBIDDEN,
            GatewayError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::PayloadTooLarge { .. } | GatewayError::RequestTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            GatewayError::LimitExceeded(_) | GatewayError::TooManyRequests => {
                StatusCode::TOO_MANY_REQUESTS
            }
            GatewayError::UnknownOperation(_)
            | GatewayError::Serialization(_)
            | GatewayError::Validation(_)
            | GatewayError::InvalidRequestContent(_)
            | GatewayError::BadRequest(_)
            | GatewayError::Sqs { .. } => StatusCode::BAD_REQUEST,
            GatewayError::FunctionNotFound(_) | GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            GatewayError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            GatewayError::TooManyConnections(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error code AWS would name.
    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Gone(_) => "GoneException",
            GatewayError::Forbidden
            | GatewayError::ForeignHost(..)
            | GatewayError::CrossOrigin(_) => "ForbiddenException",
            GatewayError::RequestTimeout(_) => "RequestTimeoutException",
            GatewayError::Unauthorized => "UnauthorizedException",
            GatewayError::PayloadTooLarge { .. } => "PayloadTooLargeException",
            GatewayError::RequestTooLarge(_) => "RequestTooLargeException",
            GatewayError::LimitExceeded(_) => "LimitExceededException",
            GatewayError::TooManyRequests => "TooManyRequestsException",
            GatewayError::UnknownOperation(_) => "UnknownOperationException",
            GatewayError::Serialization(_) => "SerializationException",
            GatewayError::Validation(_) => "ValidationException",
            GatewayError::FunctionNotFound(_) => "ResourceNotFoundException",
            GatewayError::InvalidRequestContent(_) => "InvalidRequestContentException",
            GatewayError::UpgradeRequired => "UpgradeRequired",
            GatewayError::UriTooLong(_) => "RequestUriTooLong",
            GatewayError::TooManyConnections(_) => "LimitExceededException",
            GatewayError::NotFound(_) => "NotFoundException",
            GatewayError::BadRequest(_) => "BadRequestException",
            GatewayError::Signature(refusal) => refusal.code(),
            GatewayError::Sqs { shape, .. } => shape,
            GatewayError::Internal(_) => "InternalServerErrorException",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        if let GatewayError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        if let GatewayError::Sqs {
            shape,
            query_code,
            message,
        } = &self
        {
            return sqs_error(shape, query_code, message);
        }
        let status = self.status();
        let code = self.code();
        let message = self.to_string();
        // Lambda's errors carry `Type` and `Message`; the others `__type` and `message`. Both
        // spellings of the message are accepted by every SDK, so send what each API sends.
        let body = match self {
            GatewayError::FunctionNotFound(_)
            | GatewayError::InvalidRequestContent(_)
            | GatewayError::RequestTooLarge(_)
            | GatewayError::TooManyRequests => {
                json!({"Type": "User", "Message": message, "message": message})
            }
            _ => json!({"__type": code, "message": message}),
        };
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(code));
        if is_json11(code) {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
        }
        response
    }
}

/// SQS's JSON 1.0 error: `__type` with SQS's namespace, the query code with the fault's side.
fn sqs_error(shape: &'static str, query_code: &str, message: &str) -> Response {
    let body = json!({"__type": format!("com.amazonaws.sqs#{shape}"), "message": message});
    let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(shape));
    if let Ok(value) = HeaderValue::from_str(&format!("{query_code};Sender")) {
        headers.insert("x-amzn-query-error", value);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

/// Errors of the JSON 1.1 protocol (EventBridge) use its content type.
fn is_json11(code: &str) -> bool {
    matches!(
        code,
        "UnknownOperationException" | "SerializationException" | "ValidationException"
    )
}

/// The fallback for paths no emulated API serves.
pub async fn not_found(uri: axum::http::Uri) -> GatewayError {
    GatewayError::NotFound(uri.path().to_string())
}

/// Refusals axum makes by itself (a method the path does not serve, a path segment that is not
/// UTF-8 once percent-decoded) get the AWS shape too, so clients parse every refusal alike.
/// The fuzz target `connections_path` drives such paths; `gateway/tests/properties.rs` keeps
/// its inputs.
pub async fn aws_shaped(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if !response.status().is_client_error() || response.headers().contains_key("x-amzn-ErrorType") {
        return response;
    }
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        return GatewayError::NotFound(target).into_response();
    }
    let reason = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|text| String::from_utf8_lossy(&text).into_owned())
        .unwrap_or_default();
    let message = if reason.is_empty() {
        format!("{target} is not a valid request")
    } else {
        reason
    };
    GatewayError::BadRequest(message).into_response()
}

/// Why the SigV4 check ([`crate::connections::sigv4`]) refuses an `@connections` call; each
/// maps to the error code AWS sends. Kept here, beside the one error type it becomes, so the
/// check depends on this module and not the other way round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "The security token included in the request is invalid. (The local gateway knows the \
         access keys {known}; sign with one of them, or start the gateway with this key's \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in its environment.)"
    )]
    UnknownKey { known: String },
}

impl SignatureError {
    /// The error code AWS names in `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "MissingAuthenticationTokenException",
            SignatureError::Incomplete(_) => "IncompleteSignatureException",
            SignatureError::Invalid(_) => "InvalidSignatureException",
            SignatureError::UnknownKey { .. } => "UnrecognizedClientException",
        }
    }
}
