//! `bootstrap`: the Lambda entry point. Configuration and clients are built once per cold
//! start; every invocation goes to [`wspush_runtime::Runtime::handle`].

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use wspush_runtime::{aws, config::Config, init_logging, Runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = Config::from_env()?;
    init_logging(config.json_logs);
    let sdk = aws::lambda_sdk_config().await;
    let runtime = Runtime::serving(
        aws::deps_from_config(&sdk, &config).await?,
        config.event_kinds.clone(),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let runtime = runtime.clone();
        async move {
            runtime
                .handle(event.payload)
                .await
                .map_err(Diagnostic::from)
        }
    }))
    .await
}
