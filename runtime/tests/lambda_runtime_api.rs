//! The built `bootstrap` binary against a wire-level fake of the Lambda Runtime API and of
//! Secrets Manager: proves the cold start (configuration, one secret fetch) and the error shapes
//! Lambda reports, through the real `lambda_runtime` loop.

mod support;

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::runtime_api::RuntimeApi;
use support::{fixture, keys, now};

#[tokio::test]
async fn bootstrap_serves_invocations_through_the_runtime_api() {
    let api = RuntimeApi::start().await.expect("start the fake");
    api.serve_secret("wspush/jwt", &String::from_utf8_lossy(support::SECRET));
    let token = keys().mint(&Default::default(), now()).expect("mint");
    let mut authorizer = fixture("authorizer-request.json");
    authorizer["queryStringParameters"]["access_token"] = json!(token);
    api.invoke("req-1", json!({"userId": "alice"}));
    api.invoke("req-2", fixture("authorizer-request.json"));
    api.invoke("req-3", authorizer);
    api.invoke("req-4", json!({"Records": [{"eventSource": "aws:s3"}]}));

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .envs(api.lambda_env())
        .env("JWT_SECRET_ID", "wspush/jwt")
        .env("TEST_TOKENS_ENABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start bootstrap");
    api.wait(Duration::from_secs(10), |api| api.answers().len() == 4)
        .await;
    let _ = child.kill().await;
    let (results, secret_fetches) = (api.answers(), api.secret_fetches());
    api.stop().await;

    let by_id = |id: &str| {
        results
            .iter()
            .find(|answer| answer.request_id == id)
            .map(|answer| (answer.kind, answer.body.clone()))
            .unwrap_or_else(|| panic!("no result for {id}: {results:?}"))
    };
    let (kind, minted) = by_id("req-1");
    assert_eq!(kind, "response");
    let identity = keys()
        .verify(minted["token"].as_str().expect("token"), now())
        .await
        .expect("verifies");
    assert_eq!(
        identity.user_id, "alice",
        "signed with the secret from Secrets Manager"
    );

    assert_eq!(
        by_id("req-2"),
        (
            "error",
            json!({"errorType": "Unauthorized", "errorMessage": "Unauthorized"})
        )
    );
    let (kind, allowed) = by_id("req-3");
    assert_eq!(kind, "response");
    assert_eq!(allowed["policyDocument"]["Statement"][0]["Effect"], "Allow");
    let (kind, unknown) = by_id("req-4");
    assert_eq!(
        (kind, unknown["errorType"].as_str()),
        ("error", Some("UnknownEvent"))
    );

    assert_eq!(secret_fetches, 1, "one fetch per cold start");
}
