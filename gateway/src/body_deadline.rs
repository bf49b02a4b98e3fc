//! Every request body has a deadline: a client that sends a request's headers and then holds
//! its body back is answered 408 and its connection closed.
//!
//! Why it matters: a TCP connection holds one of the server's pending-connection slots
//! ([`crate::serve`]) until it upgrades to a WebSocket or closes. Hyper closes a connection whose
//! headers are late (the handshake timeout), but once the headers are in, a handler reading the
//! body (`@connections`, `PutEvents`, `Invoke`) would wait for it forever; enough such
//! connections would take every slot and refuse every new WebSocket client. The body must
//! therefore arrive within [`crate::Limits::body_timeout`] of the request's headers, a total
//! deadline rather than one per chunk, so a body trickled a byte at a time is cut off too.
//!
//! The deadline sits around the whole router, so every route has it: the handler runs while
//! the body is read, and if the body has neither ended nor been dropped by the deadline, the
//! handler is dropped (it has done nothing yet: every handler reads its whole body before it
//! acts) and the answer is 408 `RequestTimeoutException` with `Connection: close`. Once the
//! body is in, the handler takes as long as it takes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

use crate::error::GatewayError;

/// Runs the request's handler, answering 408 and closing the connection if the request's body
/// is still unfinished `timeout` after its headers arrived.
pub async fn within_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (finished, body_done) = oneshot::channel::<()>();
    let request = request.map(|body| {
        Body::new(Watched {
            inner: body,
            finished: Some(finished),
        })
    });
    let expired = async {
        tokio::select! {
            // Ended or dropped: the deadline no longer applies.
            _ = body_done => std::future::pending::<()>().await,
            () = tokio::time::sleep(timeout) => {}
        }
    };
    tokio::select! {
        response = next.run(request) => response,
        () = expired => timed_out(timeout),
    }
}

/// 408, and the connection closes once it is written: the rest of the body is never read.
fn timed_out(timeout: Duration) -> Response {
    let mut response = GatewayError::RequestTimeout(timeout.as_secs()).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that drops `finished` once it has ended or failed, or is itself dropped.
struct Watched {
    inner: Body,
    finished: Option<oneshot::Sender<()>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let over = matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_))));
        if over || this.inner.is_end_stream() {
            this.finished = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn app() -> Router {
        Router::new()
            .route(
                "/",
                post(|body: Bytes| async move {
                    // Slower than the deadline once the body is in: not cut off.
                    tokio::time::sleep(TIMEOUT * 2).await;
                    body
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                TIMEOUT,
                within_deadline,
            ))
    }

    /// A body of one chunk and then nothing, until the sender is dropped.
    fn held_back_body() -> (
        futures::channel::mpsc::Sender<Result<Bytes, std::io::Error>>,
        Body,
    ) {
        let (mut tx, rx) = futures::channel::mpsc::channel(1);
        tx.try_send(Ok(Bytes::from_static(b"{\"Entries\":")))
            .expect("room for one chunk");
        (tx, Body::from_stream(rx))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_held_back_is_answered_408_with_connection_close() {
        let (_held, body) = held_back_body();
        let request = Request::post("/").body(body).expect("request");
        let response = app().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(
            response.headers()["x-amzn-ErrorType"],
            "RequestTimeoutException"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_handled_however_long_the_handler_takes() {
        let request = Request::post("/")
            .body(Body::from_stream(futures::stream::iter([
                Ok::<_, std::io::Error>(Bytes::from_static(b"a")),
                Ok(Bytes::from_static(b"b")),
            ])))
            .expect("request");
        let response = app().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 16)
            .await
            .expect("body");
        assert_eq!(&body[..], b"ab");
    }
}
