//! How the registered resources are wired: routes, authorizer, deployment and stage; functions
//! and their environment; the EventBridge -> SQS -> Lambda pipelines and their alarms; the
//! table; the custom domain.

mod support;

use std::collections::HashMap;

use serde_json::json;
use support::*;
use wspush_contract::{
    authorizer as authorizer_contract, defaults, detail_types, env, event_kinds, event_queue,
    push_queue, routes, timeouts,
};

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

fn invoke_arn(name: &str) -> String {
    format!(
        "arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{}/invocations",
        function_arn(name)
    )
}

async fn update(extra: &[(&'static str, &'static str)]) -> Run {
    let run = run_program(Mode::Update, &base_config(extra), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    run
}

#[tokio::test]
async fn api_is_a_websocket_api_selecting_routes_on_the_action_field() {
    let run = update(&[]).await;
    let api = run.named("aws:apigatewayv2/api:Api", "websocket-api");
    assert_eq!(api.str("protocolType"), "WEBSOCKET");
    assert_eq!(api.str("routeSelectionExpression"), "$request.body.action");
    assert_eq!(api.str("name"), "wspush-dev");
}

#[tokio::test]
async fn every_route_has_its_key_authorization_and_proxy_integration() {
    let run = update(&[]).await;
    let integrations = run.of_type("aws:apigatewayv2/integration:Integration");
    assert_eq!(integrations.len(), 1);
    let integration = integrations[0];
    assert_eq!(integration.str("apiId"), API_ID);
    assert_eq!(integration.str("integrationType"), "AWS_PROXY");
    assert_eq!(integration.str("integrationMethod"), "POST");
    assert_eq!(
        integration.str("integrationUri"),
        invoke_arn("wspush-dev-connection")
    );

    let route_list = run.of_type("aws:apigatewayv2/route:Route");
    let by_key: HashMap<&str, &Registered> =
        route_list.iter().map(|r| (r.str("routeKey"), *r)).collect();
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    let mut expected = routes::ALL.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);

    for (key, route) in &by_key {
        assert_eq!(route.str("apiId"), API_ID, "{key}");
        assert_eq!(
            route.str("target"),
            "integrations/connection-integration-id",
            "{key}"
        );
        if *key == routes::CONNECT {
            assert_eq!(route.str("authorizationType"), "CUSTOM");
            assert_eq!(route.str("authorizerId"), "connect-authorizer-id");
        } else {
            assert_eq!(route.str("authorizationType"), "NONE", "{key}");
            assert!(route.input("authorizerId").is_null(), "{key}");
        }
        if routes::TWO_WAY.contains(key) {
            assert_eq!(
                route.str("routeResponseSelectionExpression"),
                "$default",
                "{key}"
            );
        } else {
            assert!(
                route.input("routeResponseSelectionExpression").is_null(),
                "{key}"
            );
        }
    }

    // A `$default` route response on each two-way route, and none elsewhere.
    let responses = run.of_type("aws:apigatewayv2/routeResponse:RouteResponse");
    let mut answered: Vec<String> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.str("routeResponseKey"), "$default");
            assert_eq!(r.str("apiId"), API_ID);
            r.str("routeId").to_string()
        })
        .collect();
    answered.sort();
    let mut two_way: Vec<String> = routes::TWO_WAY
        .iter()
        .map(|k| format!("{}-route-id", k.trim_start_matches('$')))
        .collect();
    two_way.sort();
    assert_eq!(answered, two_way);
}

#[tokio::test]
async fn authorizer_lets_both_query_string_and_header_tokens_through() {
    let run = update(&[]).await;
    let authorizer = run.named(
        "aws:apigatewayv2/authorizer:Authorizer",
        "connect-authorizer",
    );
    assert_eq!(authorizer.str("authorizerType"), "REQUEST");
    assert_eq!(
        authorizer.str("authorizerUri"),
        invoke_arn("wspush-dev-authorizer")
    );
    // Exactly the contract's sources: `context.connectionId`, which every handshake has, so
    // query-string and header clients alike reach the authorizer (API Gateway answers 401
    // itself when a listed source is missing).
    assert_eq!(
        authorizer.input("identitySources"),
        &json!(authorizer_contract::IDENTITY_SOURCES)
    );
    assert_eq!(
        authorizer.input("identitySources"),
        &json!(["context.connectionId"])
    );
    assert!(authorizer.input("authorizerResultTtlInSeconds").is_null());
}

fn triggers(run: &Run) -> HashMap<String, String> {
    string_map(
        run.named(
            "aws:apigatewayv2/deployment:Deployment",
            "websocket-deployment",
        )
        .input("triggers"),
    )
}

#[tokio::test]
async fn deployment_triggers_cover_what_the_stage_serves_and_the_stage_serves_it() {
    let run = update(&[]).await;
    let triggers = triggers(&run);
    let mut keys: Vec<&str> = triggers.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = routes::ALL.to_vec();
    expected.extend(["integration", "authorizer"]);
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        triggers["integration"],
        format!(
            "connection-integration-id|AWS_PROXY|{}",
            invoke_arn("wspush-dev-connection")
        )
    );
    assert_eq!(
        triggers["authorizer"],
        format!(
            "connect-authorizer-id|REQUEST|{}|context.connectionId",
            invoke_arn("wspush-dev-authorizer")
        )
    );
    assert_eq!(
        triggers[routes::CONNECT],
        "connect-route-id|$connect|integrations/connection-integration-id|CUSTOM|connect-authorizer-id"
    );
    assert_eq!(
        triggers[routes::PING],
        "ping-route-id|ping|integrations/connection-integration-id|NONE||response:ping-route-response-id|$default"
    );

    let stage = run.named("aws:apigatewayv2/stage:Stage", "websocket-stage");
    assert_eq!(stage.str("apiId"), API_ID);
    assert_eq!(stage.str("name"), defaults::STAGE);
    assert_eq!(stage.str("deploymentId"), "websocket-deployment-id");
    assert!(stage.input("autoDeploy").is_null());
    let access_logs = stage.input("accessLogSettings");
    let log_group = run.named("aws:cloudwatch/logGroup:LogGroup", "api-access-logs");
    assert_eq!(
        access_logs["destinationArn"],
        format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/apigateway/wspush-0001")
    );
    assert_eq!(log_group.input("retentionInDays"), &json!(14.0));
    let format: serde_json::Value =
        serde_json::from_str(access_logs["format"].as_str().expect("format")).expect("JSON format");
    assert_eq!(format["routeKey"], "$context.routeKey");
    assert_eq!(format["connectionId"], "$context.connectionId");
    let throttling = stage.input("defaultRouteSettings");
    assert_eq!(throttling["throttlingBurstLimit"], json!(500.0));
    assert_eq!(throttling["throttlingRateLimit"], json!(1000.0));
}

/// Each input that changes what the stage serves, changed as AWS would report it after the
/// change, and the trigger entries that must change with it (so the provider replaces the
/// deployment, whose `triggers` force a new one, and the stage serves the change).
#[tokio::test]
async fn a_change_to_anything_the_stage_serves_makes_a_new_deployment() {
    let baseline = triggers(&update(&[]).await);
    let mut replaced_integration: Vec<&str> = routes::ALL.to_vec();
    replaced_integration.push("integration");
    let cases: Vec<(&str, &str, serde_json::Value, Vec<&str>)> = vec![
        // The integration is replaced: every route targets the new one.
        (
            "connection-integration",
            "id",
            json!("connection-integration-v2"),
            replaced_integration,
        ),
        // The integration now calls another function (updated in place, same id).
        (
            "connection-integration",
            "integrationUri",
            json!(invoke_arn("wspush-dev-connection-v2")),
            vec!["integration"],
        ),
        // The authorizer calls another function.
        (
            "connect-authorizer",
            "authorizerUri",
            json!(invoke_arn("wspush-dev-authorizer-v2")),
            vec!["authorizer"],
        ),
        // The authorizer's identity sources change.
        (
            "connect-authorizer",
            "identitySources",
            json!(["route.request.querystring.access_token"]),
            vec!["authorizer"],
        ),
        // The authorizer is replaced: `$connect` uses the new one.
        (
            "connect-authorizer",
            "id",
            json!("connect-authorizer-v2"),
            vec!["authorizer", routes::CONNECT],
        ),
        // A route's target or authorization changes in place.
        (
            "subscribe-route",
            "target",
            json!("integrations/other"),
            vec![routes::SUBSCRIBE],
        ),
        (
            "connect-route",
            "authorizationType",
            json!("NONE"),
            vec![routes::CONNECT],
        ),
        // A route is replaced.
        (
            "disconnect-route",
            "id",
            json!("disconnect-route-v2"),
            vec![routes::DISCONNECT],
        ),
        // A route response is replaced or its key changes.
        (
            "ping-route-response",
            "id",
            json!("ping-route-response-v2"),
            vec![routes::PING],
        ),
        (
            "default-route-response",
            "routeResponseKey",
            json!("$other"),
            vec![routes::DEFAULT],
        ),
    ];
    for (resource, field, value, changed) in cases {
        let overrides = Overrides::from([(
            resource.to_string(),
            serde_json::Map::from_iter([(field.to_string(), value.clone())]),
        )]);
        let run =
            run_program_with(Mode::Update, &base_config(&[]), &["JwtSecret"], overrides).await;
        assert!(run.success, "{}", run.stderr);
        let after = triggers(&run);
        let mut differing: Vec<&str> = baseline
            .keys()
            .filter(|key| baseline.get(*key) != after.get(*key))
            .map(String::as_str)
            .collect();
        differing.sort_unstable();
        let mut expected = changed.clone();
        expected.sort_unstable();
        assert_eq!(differing, expected, "{resource}.{field} = {value}");
    }
}

#[tokio::test]
async fn throttling_comes_from_config() {
    let run = update(&[
        ("ThrottlingBurstLimit", "50"),
        ("ThrottlingRateLimit", "100"),
    ])
    .await;
    let stage = run.named("aws:apigatewayv2/stage:Stage", "websocket-stage");
    assert_eq!(
        stage.input("defaultRouteSettings")["throttlingBurstLimit"],
        json!(50.0)
    );
    assert_eq!(
        stage.input("defaultRouteSettings")["throttlingRateLimit"],
        json!(100.0)
    );
}

#[tokio::test]
async fn functions_share_the_artifact_runtime_tracing_and_own_log_groups() {
    let run = update(&[]).await;
    let functions = run.of_type("aws:lambda/function:Function");
    let mut names: Vec<&str> = functions.iter().map(|f| f.str("name")).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "CreateTestJwt",
            "wspush-dev-authorizer",
            "wspush-dev-connection",
            "wspush-dev-events",
            "wspush-dev-pusher"
        ]
    );
    for function in functions {
        let name = function.str("name");
        assert_eq!(function.str("runtime"), "provided.al2023", "{name}");
        assert_eq!(function.str("handler"), "bootstrap", "{name}");
        assert_eq!(function.input("architectures"), &json!(["arm64"]), "{name}");
        assert_eq!(
            function.input("code"),
            &json!({SIG_KEY: "0def7320c3a5731c473e5ecbe6d01bc7", "path": "target/lambda/bootstrap/bootstrap.zip"}),
            "{name}"
        );
        assert_eq!(
            function.input("tracingConfig"),
            &json!({"mode": "Active"}),
            "{name}"
        );
        assert_eq!(
            function.input("loggingConfig")["logGroup"],
            format!("/aws/lambda/{name}")
        );
        let log_group = run
            .of_type("aws:cloudwatch/logGroup:LogGroup")
            .into_iter()
            .find(|g| g.input("name") == &json!(format!("/aws/lambda/{name}")))
            .unwrap_or_else(|| panic!("no log group for {name}"));
        assert_eq!(log_group.input("retentionInDays"), &json!(14.0));
    }
}

#[tokio::test]
async fn architecture_artifact_and_retention_come_from_config() {
    let run = update(&[
        ("LambdaArchitecture", "x86_64"),
        ("LambdaArtifact", "dist/bootstrap.zip"),
        ("LogRetentionDays", "30"),
    ])
    .await;
    for function in run.of_type("aws:lambda/function:Function") {
        assert_eq!(function.input("architectures"), &json!(["x86_64"]));
        assert_eq!(function.input("code")["path"], "dist/bootstrap.zip");
    }
    for group in run.of_type("aws:cloudwatch/logGroup:LogGroup") {
        assert_eq!(group.input("retentionInDays"), &json!(30.0));
    }
}

const EVERY_FUNCTION: [&str; 5] = ["authorizer", "connection", "events", "pusher", "test-token"];

/// The environment of each of `parts`' functions, by logical name prefix (`authorizer`, ...).
fn environments(
    run: &Run,
    parts: &[&'static str],
) -> HashMap<&'static str, HashMap<String, String>> {
    parts
        .iter()
        .copied()
        .map(|part| {
            let function = run.named("aws:lambda/function:Function", &format!("{part}-function"));
            (
                part,
                string_map(&function.input("environment")["variables"]),
            )
        })
        .collect()
}

fn as_map(pairs: Vec<(&str, String)>) -> HashMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[tokio::test]
async fn each_function_gets_only_the_environment_it_reads() {
    let run = update(&[
        ("JwtIssuer", "https://issuer.example.com"),
        ("SubscribePolicy", "user/{sub}/*"),
    ])
    .await;
    let mut variables = environments(&run, &EVERY_FUNCTION);
    let secret_arn =
        format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:jwt-secret-0001-AbCdEf");
    let table_vars = [
        (env::TABLE_NAME, "websocket".to_string()),
        (env::INDEX_NAME, "GSI1".to_string()),
        (
            env::RECORD_TTL_SECONDS,
            defaults::RECORD_TTL_SECONDS.to_string(),
        ),
        (env::INDEX_SHARDS, defaults::INDEX_SHARDS.to_string()),
    ];
    let history_vars = [
        (
            env::HISTORY_RETENTION_SECONDS,
            defaults::HISTORY_RETENTION_SECONDS.to_string(),
        ),
        (
            env::HISTORY_MAX_MESSAGES,
            defaults::HISTORY_MAX_MESSAGES.to_string(),
        ),
    ];
    let connections_vars = [
        (
            env::MANAGEMENT_ENDPOINT,
            format!("https://{API_ID}.execute-api.{REGION}.amazonaws.com/production"),
        ),
        (
            env::PUSH_CLIENT,
            wspush_contract::push_clients::SIGNED_HTTP.to_string(),
        ),
    ];
    let log_format = (env::LOG_FORMAT, "json".to_string());
    let issuer = (env::JWT_ISSUER, "https://issuer.example.com".to_string());
    let leeway = (
        env::JWT_LEEWAY_SECONDS,
        defaults::JWT_LEEWAY_SECONDS.to_string(),
    );
    let policy = (env::SUBSCRIBE_POLICY, "user/{sub}/*".to_string());

    // Verifies tokens, and passes on the claims the policy names.
    let authorizer = vec![
        log_format.clone(),
        issuer.clone(),
        leeway.clone(),
        (env::JWT_HS256_ENABLED, "true".to_string()),
        (env::JWT_SECRET_ID, secret_arn.clone()),
        policy.clone(),
        (env::EVENT_KINDS, "authorizer".to_string()),
    ];
    assert_eq!(variables["authorizer"], as_map(authorizer));

    // Mints tokens the authorizer accepts.
    let test_token = vec![
        log_format.clone(),
        issuer.clone(),
        (env::JWT_SECRET_ID, secret_arn.clone()),
        (env::TEST_TOKENS_ENABLED, "true".to_string()),
        (env::EVENT_KINDS, "test-token".to_string()),
    ];
    assert_eq!(variables["test-token"], as_map(test_token));

    // Decides subscriptions, reads history, and answers and closes connections whose token
    // expired.
    let mut connection = vec![log_format.clone(), leeway.clone(), policy.clone()];
    connection.extend(table_vars.iter().cloned());
    connection.extend(history_vars.iter().cloned());
    connection.extend(connections_vars.iter().cloned());
    connection.push((
        env::MAX_SUBSCRIPTIONS_PER_CONNECTION,
        defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION.to_string(),
    ));
    connection.push((env::EVENT_KINDS, "websocket".to_string()));
    assert_eq!(variables["connection"], as_map(connection));

    // What both functions that push read.
    let mut pushing = vec![log_format.clone(), leeway.clone()];
    pushing.extend(table_vars.iter().cloned());
    pushing.extend(history_vars.iter().cloned());
    pushing.extend(connections_vars.iter().cloned());
    pushing.push((
        env::PUSH_CONCURRENCY,
        defaults::PUSH_CONCURRENCY.to_string(),
    ));
    pushing.push((
        env::PUSH_MAX_ATTEMPTS,
        defaults::PUSH_MAX_ATTEMPTS.to_string(),
    ));
    let queue_arn = |name: &str| format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-0001");
    let queue_url =
        |name: &str| format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}-0001");
    // A JSON object: compared as JSON, not as text.
    let parse = |vars: &mut HashMap<String, String>| -> serde_json::Value {
        let text = vars.remove(env::DEAD_LETTER_QUEUES).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    };

    // Writes each event into its stream, pushes to small audiences and hands large ones to
    // the pushers.
    let mut events = pushing.clone();
    events.extend([
        (env::PUSH_QUEUE_URL, queue_url("push-queue")),
        (
            env::PUSH_PLAN_THRESHOLD,
            defaults::PUSH_PLAN_THRESHOLD.to_string(),
        ),
        (
            env::PUSH_BATCH_CONNECTIONS,
            defaults::PUSH_BATCH_CONNECTIONS.to_string(),
        ),
    ]);
    let dead_letter_queues = json!({
        queue_arn("entity-updated-queue"): queue_url("entity-updated-dlq"),
        queue_arn("user-push-queue"): queue_url("user-push-dlq"),
    });
    events.push((env::DEAD_LETTER_QUEUES, dead_letter_queues.to_string()));
    events.push((env::EVENT_KINDS, "sqs,eventbridge".to_string()));
    let mut events = as_map(events);
    let actual = variables.get_mut("events").expect("events");
    assert_eq!(parse(actual), parse(&mut events), "DEAD_LETTER_QUEUES");
    assert_eq!(*actual, events);

    // Pushes the batches, at its share of the rate.
    let mut pusher = pushing;
    pusher.push((
        env::PUSH_MAX_RATE,
        push_queue::rate_per_pusher(defaults::PUSH_RATE_LIMIT).to_string(),
    ));
    let dead_letter_queues = json!({queue_arn("push-queue"): queue_url("push-dlq")});
    pusher.push((env::DEAD_LETTER_QUEUES, dead_letter_queues.to_string()));
    pusher.push((env::EVENT_KINDS, "push-batch".to_string()));
    let mut pusher = as_map(pusher);
    let actual = variables.get_mut("pusher").expect("pusher");
    assert_eq!(parse(actual), parse(&mut pusher), "DEAD_LETTER_QUEUES");
    assert_eq!(*actual, pusher);

    let test_token_function = run.named("aws:lambda/function:Function", "test-token-function");
    assert_eq!(
        test_token_function.str("name"),
        defaults::TEST_TOKEN_FUNCTION
    );
}

/// Every token and subscription key reaches the functions that read it, and no other.
#[tokio::test]
async fn token_and_subscription_settings_reach_the_functions_that_read_them() {
    let run = update(&[
        ("JwtIssuer", "https://example.eu.auth0.com/"),
        ("JwtAudience", "https://api.example.com"),
        (
            "JwksUrl",
            "https://example.eu.auth0.com/.well-known/jwks.json",
        ),
        ("JwtUserClaim", "https://example.com/user_id"),
        ("JwtLeewaySeconds", "5"),
        ("JwtHs256Enabled", "false"),
        ("DeployCreateTestJwt", "false"),
        ("SubscribePolicy", "user/{sub}/*, tenant/{org_id}/*"),
        ("SubscribeAuthorizer", "may-subscribe"),
        ("MaxSubscriptionsPerConnection", "50"),
    ])
    .await;
    // Without CreateTestJwt: its HS256 tokens would be refused.
    let variables = environments(&run, &EVERY_FUNCTION[..4]);
    let get = |part: &str, name: &str| variables[part].get(name).cloned();
    let set = |value: &str| Some(value.to_string());
    for (name, value) in [
        (env::JWT_ISSUER, "https://example.eu.auth0.com/"),
        (env::JWT_AUDIENCE, "https://api.example.com"),
        (
            env::JWKS_URL,
            "https://example.eu.auth0.com/.well-known/jwks.json",
        ),
        (env::JWT_USER_CLAIM, "https://example.com/user_id"),
        (env::JWT_HS256_ENABLED, "false"),
    ] {
        assert_eq!(get("authorizer", name), set(value), "{name}");
        for part in ["connection", "events", "pusher"] {
            assert_eq!(get(part, name), None, "{part}: {name}");
        }
    }
    let policy = "user/{sub}/*,tenant/{org_id}/*";
    assert_eq!(get("authorizer", env::SUBSCRIBE_POLICY), set(policy));
    assert_eq!(get("connection", env::SUBSCRIBE_POLICY), set(policy));
    assert_eq!(get("events", env::SUBSCRIBE_POLICY), None);
    assert_eq!(get("pusher", env::SUBSCRIBE_POLICY), None);
    for part in ["authorizer", "connection", "events", "pusher"] {
        assert_eq!(get(part, env::JWT_LEEWAY_SECONDS), set("5"), "{part}");
    }
    let hook = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:may-subscribe");
    assert_eq!(get("connection", env::SUBSCRIBE_AUTHORIZER), Some(hook));
    assert_eq!(
        get("connection", env::MAX_SUBSCRIPTIONS_PER_CONNECTION),
        set("50")
    );
    for (part, name) in [
        ("authorizer", env::SUBSCRIBE_AUTHORIZER),
        ("events", env::SUBSCRIBE_AUTHORIZER),
        ("pusher", env::SUBSCRIBE_AUTHORIZER),
        ("authorizer", env::MAX_SUBSCRIPTIONS_PER_CONNECTION),
        ("pusher", env::MAX_SUBSCRIPTIONS_PER_CONNECTION),
        ("authorizer", env::MANAGEMENT_ENDPOINT),
    ] {
        assert_eq!(get(part, name), None, "{part}: {name}");
    }
}

/// The history settings reach the event consumer (which writes streams), the routes and the
/// pushers (which read them), and no other function; 0 (streams off) is passed on as it is.
#[tokio::test]
async fn history_settings_reach_the_functions_that_write_and_read_streams() {
    for (retention, max) in [("3600", "250"), ("60", "0")] {
        let run = update(&[
            ("HistoryRetentionSeconds", retention),
            ("HistoryMaxMessages", max),
        ])
        .await;
        let variables = environments(&run, &EVERY_FUNCTION);
        for (part, expected) in [
            ("connection", [Some(retention), Some(max)]),
            ("events", [Some(retention), Some(max)]),
            ("pusher", [Some(retention), Some(max)]),
            ("authorizer", [None, None]),
            ("test-token", [None, None]),
        ] {
            let got = [env::HISTORY_RETENTION_SECONDS, env::HISTORY_MAX_MESSAGES]
                .map(|name| variables[part].get(name).map(String::as_str));
            assert_eq!(got, expected, "{part} with {retention}/{max}");
        }
    }
}

/// With `CreateUserPool` the pool is the issuer and its app client the audience, for the
/// authorizer and for the tokens CreateTestJwt mints.
#[tokio::test]
async fn the_user_pool_is_wired_as_the_issuer() {
    let run = update(&[("CreateUserPool", "true")]).await;
    let variables = environments(&run, &EVERY_FUNCTION);
    let issuer = format!("https://cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}");
    for part in ["authorizer", "test-token"] {
        assert_eq!(
            variables[part].get(env::JWT_ISSUER),
            Some(&issuer),
            "{part}"
        );
        assert_eq!(
            variables[part].get(env::JWT_AUDIENCE),
            Some(&USER_POOL_CLIENT_ID.to_string()),
            "{part}"
        );
    }
    // Keys are found through the issuer's discovery document.
    assert_eq!(variables["authorizer"].get(env::JWKS_URL), None);
    for part in ["connection", "events", "pusher"] {
        assert_eq!(variables[part].get(env::JWT_ISSUER), None, "{part}");
    }
}

#[tokio::test]
async fn each_function_is_told_which_event_kinds_it_serves_and_has_the_contract_timeout() {
    let run = update(&[]).await;
    for (part, kinds, timeout) in [
        (
            "authorizer",
            &event_kinds::AUTHORIZER_FUNCTION[..],
            timeouts::ROUTE_FUNCTION_SECS,
        ),
        (
            "connection",
            &event_kinds::ROUTES_FUNCTION[..],
            timeouts::ROUTE_FUNCTION_SECS,
        ),
        (
            "events",
            &event_kinds::EVENTS_FUNCTION[..],
            timeouts::EVENTS_FUNCTION_SECS,
        ),
        (
            "pusher",
            &event_kinds::PUSHER_FUNCTION[..],
            timeouts::PUSHER_FUNCTION_SECS,
        ),
        (
            "test-token",
            &event_kinds::TEST_TOKEN_FUNCTION[..],
            timeouts::ROUTE_FUNCTION_SECS,
        ),
    ] {
        let function = run.named("aws:lambda/function:Function", &format!("{part}-function"));
        let variables = string_map(&function.input("environment")["variables"]);
        assert_eq!(variables[env::EVENT_KINDS], kinds.join(","), "{part}");
        // Every listed kind is one the runtime knows.
        for kind in kinds {
            assert!(event_kinds::ALL.contains(kind), "{part}: {kind}");
        }
        assert_eq!(function.input("timeout"), &json!(timeout as f64), "{part}");
    }
}

#[tokio::test]
async fn each_detail_type_flows_through_a_queue_with_a_dead_letter_queue_to_the_consumer() {
    let run = update(&[]).await;
    let rules = run.of_type("aws:cloudwatch/eventRule:EventRule");
    let mut patterns: Vec<serde_json::Value> =
        rules.iter().map(|r| r.json("eventPattern")).collect();
    patterns.sort_by_key(|p| p.to_string());
    assert_eq!(
        patterns,
        vec![
            json!({"detail-type": [detail_types::ENTITY_UPDATED]}),
            json!({"detail-type": [detail_types::USER_PUSH]}),
        ]
    );
    for part in ["entity-updated", "user-push"] {
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{part}-queue-0001");
        let dlq_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{part}-dlq-0001");
        let rule = run.named(
            "aws:cloudwatch/eventRule:EventRule",
            &format!("{part}-rule"),
        );
        assert!(rule.input("eventBusName").is_null(), "the default bus");
        let target = run.named(
            "aws:cloudwatch/eventTarget:EventTarget",
            &format!("{part}-target"),
        );
        assert_eq!(target.str("rule"), format!("{part}-rule-0001"));
        assert_eq!(target.str("arn"), queue_arn);
        // EventBridge retries delivery to the queue, then keeps the event in the dead-letter
        // queue (as the quick start's targets did).
        assert_eq!(
            target.input("retryPolicy"),
            &json!({
                "maximumEventAgeInSeconds": event_queue::TARGET_MAX_EVENT_AGE_SECS as f64,
                "maximumRetryAttempts": event_queue::TARGET_MAX_RETRY_ATTEMPTS as f64,
            })
        );
        assert_eq!(target.input("deadLetterConfig"), &json!({"arn": dlq_arn}));

        let queue = run.named("aws:sqs/queue:Queue", &format!("{part}-queue"));
        assert_eq!(
            queue.json("redrivePolicy"),
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": event_queue::MAX_RECEIVE_COUNT})
        );
        // AWS's guidance for Lambda SQS sources: at least 5 receives, a visibility timeout of
        // at least six times the function timeout.
        let receives = queue.json("redrivePolicy")["maxReceiveCount"]
            .as_u64()
            .unwrap_or_default();
        assert!(receives >= 5, "{part}: maxReceiveCount {receives}");
        let visibility = queue
            .input("visibilityTimeoutSeconds")
            .as_f64()
            .unwrap_or_default();
        let consumer_timeout = run
            .named("aws:lambda/function:Function", "events-function")
            .input("timeout")
            .as_f64()
            .unwrap_or(f64::MAX);
        assert!(visibility >= 6.0 * consumer_timeout, "{part}: {visibility}");
        assert_eq!(
            visibility,
            event_queue::VISIBILITY_TIMEOUT_SECS as f64,
            "the gateway's local queues use the same value"
        );
        let dlq = run.named("aws:sqs/queue:Queue", &format!("{part}-dlq"));
        assert_eq!(
            dlq.input("messageRetentionSeconds"),
            &json!(event_queue::DLQ_RETENTION_SECS as f64)
        );

        let mapping = run.named(
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            &format!("{part}-event-source"),
        );
        assert_eq!(mapping.str("eventSourceArn"), queue_arn);
        assert_eq!(
            mapping.str("functionName"),
            function_arn("wspush-dev-events")
        );
        assert_eq!(
            mapping.input("functionResponseTypes"),
            &json!(["ReportBatchItemFailures"])
        );
        assert_eq!(
            mapping.input("batchSize"),
            &json!(event_queue::BATCH_SIZE as f64)
        );
    }
}

#[tokio::test]
async fn dead_letter_queues_raise_alarms_on_the_topic() {
    let run = update(&[]).await;
    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:dead-letter-alarms-0001");
    let alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm");
    assert_eq!(alarms.len(), 3);
    for part in ["entity-updated", "user-push", "push"] {
        let alarm = run.named(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            &format!("{part}-dlq-alarm"),
        );
        assert_eq!(alarm.str("namespace"), "AWS/SQS");
        assert_eq!(
            alarm.str("metricName"),
            "ApproximateNumberOfMessagesVisible"
        );
        assert_eq!(
            alarm.input("dimensions"),
            &json!({"QueueName": format!("{part}-dlq-0001")})
        );
        assert_eq!(alarm.str("comparisonOperator"), "GreaterThanThreshold");
        assert_eq!(alarm.input("threshold"), &json!(0.0));
        assert_eq!(alarm.input("alarmActions"), &json!([topic_arn]));
    }
    assert!(
        run.of_type("aws:sns/topicSubscription:TopicSubscription")
            .is_empty()
    );
}

/// Every queue anything dead-letters into (SQS redrive or an EventBridge target) is watched by
/// an alarm on its visible messages.
#[tokio::test]
async fn every_dead_letter_queue_has_an_alarm() {
    let run = update(&[]).await;
    let queue_name = |arn: &str| arn.rsplit(':').next().unwrap_or_default().to_string();
    let mut dead_letter_queues: Vec<String> = run
        .of_type("aws:sqs/queue:Queue")
        .into_iter()
        .filter(|q| q.input("redrivePolicy").is_string())
        .map(|q| {
            queue_name(
                q.json("redrivePolicy")["deadLetterTargetArn"]
                    .as_str()
                    .unwrap_or_default(),
            )
        })
        .chain(
            run.of_type("aws:cloudwatch/eventTarget:EventTarget")
                .into_iter()
                .map(|t| {
                    queue_name(
                        t.input("deadLetterConfig")["arn"]
                            .as_str()
                            .unwrap_or_default(),
                    )
                }),
        )
        .collect();
    dead_letter_queues.sort();
    dead_letter_queues.dedup();
    assert_eq!(
        dead_letter_queues,
        [
            "entity-updated-dlq-0001",
            "push-dlq-0001",
            "user-push-dlq-0001"
        ]
    );
    let mut watched: Vec<String> = run
        .of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        .into_iter()
        .filter(|a| a.str("metricName") == "ApproximateNumberOfMessagesVisible")
        .map(|a| {
            a.input("dimensions")["QueueName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    watched.sort();
    assert_eq!(watched, dead_letter_queues);
}

#[tokio::test]
async fn the_push_queue_feeds_the_pushers_and_redrives_to_its_dead_letter_queue() {
    let run = update(&[]).await;
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:push-queue-0001");
    let dlq_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:push-dlq-0001");
    let queue = run.named("aws:sqs/queue:Queue", "push-queue");
    assert_eq!(
        queue.json("redrivePolicy"),
        json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": push_queue::MAX_RECEIVE_COUNT})
    );
    assert_eq!(queue.input("sqsManagedSseEnabled"), &json!(true));
    // Six times the pushers' timeout, as AWS advises; the gateway's local queue uses the same.
    let pusher = run.named("aws:lambda/function:Function", "pusher-function");
    let pusher_timeout = pusher.input("timeout").as_f64().unwrap_or(f64::MAX);
    let visibility = queue
        .input("visibilityTimeoutSeconds")
        .as_f64()
        .unwrap_or_default();
    assert!(visibility >= 6.0 * pusher_timeout, "{visibility}");
    assert_eq!(visibility, push_queue::VISIBILITY_TIMEOUT_SECS as f64);
    let dlq = run.named("aws:sqs/queue:Queue", "push-dlq");
    assert_eq!(
        dlq.input("messageRetentionSeconds"),
        &json!(event_queue::DLQ_RETENTION_SECS as f64)
    );
    // Only the event consumer sends to it (by its role): no rule targets it.
    assert!(
        run.of_type("aws:cloudwatch/eventTarget:EventTarget")
            .iter()
            .all(|t| t.str("arn") != queue_arn)
    );

    let mapping = run.named(
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "push-event-source",
    );
    assert_eq!(mapping.str("eventSourceArn"), queue_arn);
    assert_eq!(
        mapping.str("functionName"),
        function_arn("wspush-dev-pusher")
    );
    assert_eq!(
        mapping.input("batchSize"),
        &json!(push_queue::BATCH_SIZE as f64)
    );
    assert_eq!(
        mapping.input("functionResponseTypes"),
        &json!(["ReportBatchItemFailures"])
    );
    // Nothing else reads the push queue, and the pushers read nothing else.
    for mapping in run.of_type("aws:lambda/eventSourceMapping:EventSourceMapping") {
        let to_pusher = mapping.str("functionName") == function_arn("wspush-dev-pusher");
        let from_push_queue = mapping.str("eventSourceArn") == queue_arn;
        assert_eq!(to_pusher, from_push_queue, "{}", mapping.name);
    }
}

/// `PushRateLimit` decides how many pushers run at once and each one's rate, so that together
/// they never exceed it.
#[tokio::test]
async fn the_push_rate_limit_sets_how_many_pushers_run_and_each_ones_rate() {
    for (limit, pushers, rate) in [
        ("10000", 4, 2_500),
        ("25000", 10, 2_500),
        ("100", 2, 50),
        ("12345", 5, 2_469),
        ("2500000", 1_000, 2_500),
    ] {
        let run = update(&[("PushRateLimit", limit)]).await;
        let mapping = run.named(
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            "push-event-source",
        );
        assert_eq!(
            mapping.input("scalingConfig"),
            &json!({"maximumConcurrency": pushers as f64}),
            "{limit}"
        );
        let variables = environments(&run, &["pusher"]);
        assert_eq!(
            variables["pusher"][env::PUSH_MAX_RATE],
            rate.to_string(),
            "{limit}"
        );
        let limit: u32 = limit.parse().expect("a number");
        assert_eq!(push_queue::pushers(limit), pushers, "{limit}");
        assert_eq!(push_queue::rate_per_pusher(limit), rate, "{limit}");
        assert!(pushers * rate <= limit, "{limit}");
    }
    // The event consumer paces itself by 429s alone, as before.
    let run = update(&[("PushRateLimit", "25000")]).await;
    let variables = environments(&run, &["events"]);
    assert_eq!(variables["events"].get(env::PUSH_MAX_RATE), None);
}

/// Only the pushers serve push batches, and they serve nothing else.
#[tokio::test]
async fn only_the_pushers_serve_push_batches() {
    let run = update(&[]).await;
    let variables = environments(&run, &EVERY_FUNCTION);
    for (part, vars) in &variables {
        let kinds: Vec<&str> = vars[env::EVENT_KINDS].split(',').collect();
        if *part == "pusher" {
            assert_eq!(kinds, [event_kinds::PUSH_BATCH]);
        } else {
            assert!(
                !kinds.contains(&event_kinds::PUSH_BATCH),
                "{part}: {kinds:?}"
            );
        }
    }
}

/// The planner's settings reach the event consumer only; the index shards reach every
/// function that writes or reads subscriptions (the routes, the consumer, the pushers), so all
/// spread them over the same keys.
#[tokio::test]
async fn plan_settings_reach_the_consumer_and_index_shards_every_subscription_reader() {
    let run = update(&[
        ("PushPlanThreshold", "20000"),
        ("PushBatchConnections", "500"),
        ("IndexShards", "8"),
    ])
    .await;
    let variables = environments(&run, &EVERY_FUNCTION);
    let get = |part: &str, name: &str| variables[part].get(name).map(String::as_str);
    for (name, value) in [
        (env::PUSH_PLAN_THRESHOLD, "20000"),
        (env::PUSH_BATCH_CONNECTIONS, "500"),
    ] {
        for part in EVERY_FUNCTION {
            let expected = (part == "events").then_some(value);
            assert_eq!(get(part, name), expected, "{part}: {name}");
        }
    }
    let push_queue_url = format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/push-queue-0001");
    for part in EVERY_FUNCTION {
        let expected = (part == "events").then_some(push_queue_url.as_str());
        assert_eq!(get(part, env::PUSH_QUEUE_URL), expected, "{part}");
        let expected = ["connection", "events", "pusher"]
            .contains(&part)
            .then_some("8");
        assert_eq!(get(part, env::INDEX_SHARDS), expected, "{part}");
    }
}

#[tokio::test]
async fn table_follows_the_data_model() {
    let run = update(&[]).await;
    let table = run.named("aws:dynamodb/table:Table", "connections-table");
    assert_eq!(table.str("name"), defaults::TABLE_NAME);
    assert_eq!(table.str("billingMode"), "PAY_PER_REQUEST");
    assert_eq!(table.str("hashKey"), "pk");
    assert_eq!(table.str("rangeKey"), "sk");
    let mut attributes: Vec<String> = table
        .input("attributes")
        .as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            assert_eq!(a["type"], "S");
            a["name"].as_str().expect("name").to_string()
        })
        .collect();
    attributes.sort();
    assert_eq!(attributes, ["GSI1PK", "GSI1SK", "pk", "sk"]);
    assert_eq!(
        table.input("globalSecondaryIndexes")[0],
        json!({
            "name": defaults::INDEX_NAME,
            "keySchemas": [
                {"attributeName": "GSI1PK", "keyType": "HASH"},
                {"attributeName": "GSI1SK", "keyType": "RANGE"},
            ],
            "projectionType": "KEYS_ONLY",
            "hashKey": null, "nonKeyAttributes": null, "onDemandThroughput": null,
            "rangeKey": null, "readCapacity": null, "warmThroughput": null, "writeCapacity": null,
        })
    );
    assert_eq!(
        table.input("ttl"),
        &json!({"attributeName": "ttl", "enabled": true})
    );
    assert_eq!(table.input("pointInTimeRecovery")["enabled"], true);
}

#[tokio::test]
async fn custom_domain_is_validated_by_dns_and_mapped_to_the_stage() {
    let run = update(&[
        ("DeployCustomDomain", "true"),
        ("DomainName", "ws.example.com"),
        ("HostedZoneId", "/hostedzone/Z0123456789ABC"),
    ])
    .await;
    let certificate = run.named("aws:acm/certificate:Certificate", "domain-certificate");
    assert_eq!(certificate.str("domainName"), "ws.example.com");
    assert_eq!(certificate.str("validationMethod"), "DNS");
    let validation_record = run.named(
        "aws:route53/record:Record",
        "domain-certificate-validation-record",
    );
    assert_eq!(validation_record.str("zoneId"), "Z0123456789ABC");
    assert_eq!(validation_record.str("name"), "_abc.ws.example.com.");
    assert_eq!(validation_record.str("type"), "CNAME");
    assert_eq!(
        validation_record.input("records"),
        &json!(["_def.acm-validations.aws."])
    );
    let validation = run.named(
        "aws:acm/certificateValidation:CertificateValidation",
        "domain-certificate-validation",
    );
    assert_eq!(
        validation.input("validationRecordFqdns"),
        &json!(["_abc.ws.example.com"])
    );
    let certificate_arn = format!("arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0000-1111");
    assert_eq!(validation.str("certificateArn"), certificate_arn);

    let domain = run.named("aws:apigatewayv2/domainName:DomainName", "custom-domain");
    assert_eq!(domain.str("domainName"), "ws.example.com");
    let configuration = domain.input("domainNameConfiguration");
    assert_eq!(configuration["endpointType"], "REGIONAL");
    assert_eq!(configuration["securityPolicy"], "TLS_1_2");
    assert_eq!(configuration["certificateArn"], certificate_arn);

    let mapping = run.named(
        "aws:apigatewayv2/apiMapping:ApiMapping",
        "custom-domain-mapping",
    );
    assert_eq!(mapping.str("apiId"), API_ID);
    assert_eq!(mapping.str("domainName"), "ws.example.com");
    assert_eq!(mapping.str("stage"), "production");

    let alias = run.named("aws:route53/record:Record", "custom-domain-alias");
    assert_eq!(alias.str("zoneId"), "Z0123456789ABC");
    assert_eq!(alias.str("name"), "ws.example.com");
    assert_eq!(alias.str("type"), "A");
    assert_eq!(
        alias.input("aliases"),
        &json!([{
            "name": format!("d-0123456789.execute-api.{REGION}.amazonaws.com"),
            "zoneId": "Z1UJRXOUMOOFQ8",
            "evaluateTargetHealth": false,
        }])
    );
}

/// MemorySize comes from measurement (docs/deploy.md "Memory"): the fan-out gets more, for the
/// CPU share that comes with it; each is configurable on its own.
#[tokio::test]
async fn memory_sizes_follow_the_measured_needs_and_the_config() {
    let run = update(&[]).await;
    let memory = |run: &support::Run, part: &str| {
        run.named("aws:lambda/function:Function", &format!("{part}-function"))
            .input("memorySize")
            .clone()
    };
    for part in ["authorizer", "connection", "test-token"] {
        assert_eq!(memory(&run, part), json!(128.0), "{part}");
    }
    // The pushers push as the event consumer does, and are sized with it.
    for part in ["events", "pusher"] {
        assert_eq!(memory(&run, part), json!(512.0), "{part}");
    }
    let run = update(&[("LambdaMemoryMb", "256"), ("EventsMemoryMb", "1024")]).await;
    assert_eq!(memory(&run, "connection"), json!(256.0));
    for part in ["events", "pusher"] {
        assert_eq!(memory(&run, part), json!(1024.0), "{part}");
    }
}
