//! `@connections` through the ordinary `aws-sdk-apigatewaymanagement` client, as the runtime
//! and any backend would call it.

mod common;

use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use common::*;
use serde_json::json;

fn client(gw: &TestGateway, stage_path: &str) -> aws_sdk_apigatewaymanagement::Client {
    let sdk = wspush_runtime::aws::local_sdk_config("us-east-1");
    wspush_runtime::aws::management_client(&sdk, &format!("{}{stage_path}", gw.http()))
}

#[tokio::test]
async fn post_get_delete_and_then_gone() {
    let gw = TestGateway::start().await;
    let mut socket = gw.connect("ivan").await;
    let id = only_connection(&gw).await;
    // Ids are API Gateway's: 16 characters of base64, which may need URL encoding.
    assert_eq!(id.len(), 16, "{id}");
    let api = client(&gw, "/production");

    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"hello":"world"}"#))
        .send()
        .await
        .expect("post delivered");
    assert_eq!(next_json(&mut socket, 5).await, json!({"hello": "world"}));

    let facts = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("get");
    assert!(facts.connected_at().is_some());
    assert!(facts.last_active_at().is_some());
    let identity = facts.identity().expect("identity");
    assert_eq!(identity.source_ip(), Some("127.0.0.1"));

    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("delete");
    assert_eq!(close_code(&mut socket, 5).await, Some(1000));
    assert!(
        eventually(5, || gw.store.connection_count() == 0).await,
        "$disconnect ran"
    );

    let gone = api
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("late"))
        .send()
        .await
        .expect_err("gone");
    assert!(
        matches!(
            gone.as_service_error(),
            Some(PostToConnectionError::GoneException(_))
        ),
        "{gone:?}"
    );
    let gone = api.get_connection().connection_id(&id).send().await;
    assert!(gone.is_err());
    gw.stop().await;
}

#[tokio::test]
async fn the_stageless_path_works_and_unknown_ids_are_gone() {
    let gw = TestGateway::start().await;
    let mut socket = gw.connect("judy").await;
    let id = only_connection(&gw).await;
    let api = client(&gw, "");
    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(r#"{"n":1}"#))
        .send()
        .await
        .expect("stage-less post");
    assert_eq!(next_json(&mut socket, 5).await, json!({"n": 1}));
    let unknown = api
        .post_to_connection()
        .connection_id("R0oXAdfD0kwCH6w=")
        .data(Blob::new("x"))
        .send()
        .await
        .expect_err("unknown id");
    assert!(matches!(
        unknown.as_service_error(),
        Some(PostToConnectionError::GoneException(_))
    ));
    let raw = unknown.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 410);
    gw.stop().await;
}

#[tokio::test]
async fn oversize_posts_and_wrong_stages_are_refused() {
    let gw = TestGateway::start().await;
    let _socket = gw.connect("ken").await;
    let id = only_connection(&gw).await;
    let too_big = api_post(&gw, "/production", &id, vec![b'x'; 128 * 1024 + 1]).await;
    assert!(matches!(
        too_big.as_service_error(),
        Some(PostToConnectionError::PayloadTooLargeException(_))
    ));
    let wrong_stage = api_post(&gw, "/staging", &id, b"x".to_vec()).await;
    assert!(matches!(
        wrong_stage.as_service_error(),
        Some(PostToConnectionError::ForbiddenException(_))
    ));
    gw.stop().await;
}

async fn api_post(
    gw: &TestGateway,
    stage_path: &str,
    id: &str,
    data: Vec<u8>,
) -> aws_sdk_apigatewaymanagement::error::SdkError<
    PostToConnectionError,
    aws_sdk_apigatewaymanagement::config::http::HttpResponse,
> {
    client(gw, stage_path)
        .post_to_connection()
        .connection_id(id)
        .data(Blob::new(data))
        .send()
        .await
        .expect_err("refused")
}
