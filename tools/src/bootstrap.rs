//! The built `bootstrap` started as Lambda starts the event consumer (the function that fans
//! out), against the wire-level Runtime API fake ([`crate::runtime_api`]), and the SQS batch
//! it is handed: one EventBridge "Entity Updated" event.

use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};
use wspush_contract::{defaults, env, event_kinds};

use crate::runtime_api::{Answer, RuntimeApi};
use crate::Fail;

/// Where the event consumer finds its subscribers and pushes to.
pub struct EventsFunction<'a> {
    pub bootstrap: &'a Path,
    /// DynamoDB Local's URL.
    pub dynamodb: &'a str,
    pub table: &'a str,
    /// The `@connections` endpoint, `http://host:port/{stage}`.
    pub management_endpoint: &'a str,
    /// [`env::PUSH_CLIENT`], when not the runtime's default.
    pub push_client: Option<&'a str>,
}

impl EventsFunction<'_> {
    /// The process, with the environment Lambda and the stack give the event consumer; its
    /// output is discarded so an unread pipe can never block it.
    pub fn command(&self, api: &RuntimeApi) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.bootstrap);
        command
            .env_clear()
            .envs(api.lambda_env())
            .env("AWS_LAMBDA_FUNCTION_NAME", "events")
            .env("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb)
            .env(env::TABLE_NAME, self.table)
            .env(env::INDEX_NAME, defaults::INDEX_NAME)
            .env(env::MANAGEMENT_ENDPOINT, self.management_endpoint)
            .env(env::EVENT_KINDS, event_kinds::EVENTS_FUNCTION.join(","))
            .env(env::LOG_FORMAT, "json")
            .env("RUST_LOG", "warn")
            .envs(self.push_client.map(|c| (env::PUSH_CLIENT, c)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// One SQS record holding one EventBridge "Entity Updated" event for `entity`.
pub fn sqs_batch(entity: &str) -> Value {
    let event = json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Entity Updated",
        "source": "bench", "account": "123456789012", "time": "2026-11-25T08:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"entityId": entity, "message": "bench"}
    });
    json!({"Records": [{
        "messageId": uuid::Uuid::new_v4().to_string(),
        "receiptHandle": "bench",
        "body": event.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000",
            "SenderId": "bench", "ApproximateFirstReceiveTimestamp": "1764000000001"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:wspush-entity-updated",
        "awsRegion": "us-east-1"
    }]})
}

/// The answer to `request_id`: an SQS batch response with no failed record.
pub fn delivered_answer<'a>(answers: &'a [Answer], request_id: &str) -> Result<&'a Answer, Fail> {
    let answer = answers
        .iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| format!("no answer to {request_id}: {answers:?}"))?;
    let failures = answer.body["batchItemFailures"].as_array().map(Vec::len);
    if answer.kind != "response" || failures != Some(0) {
        return Err(format!("invocation {request_id}: {} {}", answer.kind, answer.body).into());
    }
    Ok(answer)
}
