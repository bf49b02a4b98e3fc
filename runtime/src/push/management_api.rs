//! [`Pusher`] on the API Gateway Management API SDK client.
//!
//! The SDK's own retries are turned off by the caller (`aws::management_client`): the fan-out
//! retries with its own jittered backoff and needs to see every throttle to count it.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use super::{PushOutcome, Pusher};

/// Pushes through `@connections` with the ordinary SDK client; its endpoint decides whether
/// that is AWS or the local gateway.
#[derive(Clone, Debug)]
pub struct ManagementApiPusher {
    client: Client,
}

impl ManagementApiPusher {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl Pusher for ManagementApiPusher {
    async fn post_to_connection(&self, connection_id: &str, data: &[u8]) -> PushOutcome {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        match result {
            Ok(_) => PushOutcome::Delivered,
            Err(err) => classify(err),
        }
    }

    async fn delete_connection(&self, connection_id: &str) -> PushOutcome {
        let result = self
            .client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await;
        match result {
            Ok(_) => PushOutcome::Delivered,
            Err(SdkError::ServiceError(service))
                if matches!(service.err(), DeleteConnectionError::GoneException(_)) =>
            {
                PushOutcome::Gone
            }
            Err(err) => by_status(
                err.raw_response().map(|r| r.status().as_u16()),
                DisplayErrorContext(&err).to_string(),
            ),
        }
    }
}

fn classify(
    err: SdkError<PostToConnectionError, aws_sdk_apigatewaymanagement::config::http::HttpResponse>,
) -> PushOutcome {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let text = DisplayErrorContext(&err).to_string();
    if let SdkError::ServiceError(service) = &err {
        match service.err() {
            PostToConnectionError::GoneException(_) => return PushOutcome::Gone,
            PostToConnectionError::LimitExceededException(_) => {
                return PushOutcome::Throttled(text)
            }
            PostToConnectionError::PayloadTooLargeException(_)
            | PostToConnectionError::ForbiddenException(_) => return PushOutcome::Rejected(text),
            _ => {}
        }
    }
    by_status(status, text)
}

/// What an HTTP status (or no answer at all) means, for a refusal the SDK did not model.
fn by_status(status: Option<u16>, text: String) -> PushOutcome {
    match status {
        Some(410) => PushOutcome::Gone,
        Some(429) => PushOutcome::Throttled(text),
        Some(s) if s >= 500 => PushOutcome::Unavailable(text),
        Some(_) => PushOutcome::Rejected(text),
        // No response at all: timeout, refused connection, DNS. Worth another try.
        None => PushOutcome::Unavailable(text),
    }
}
