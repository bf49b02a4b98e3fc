//! The whole program against the fake engine: which resources it registers (with and without
//! the custom domain, in preview and in update), what it exports, and how it refuses a bad
//! configuration before registering anything.

mod support;

use std::collections::BTreeMap;

use support::*;

const DOMAIN: &str = "ws.example.com";
const ZONE: &str = "Z0123456789ABC";

fn domain_config() -> Vec<(&'static str, &'static str)> {
    base_config(&[
        ("DeployCustomDomain", "true"),
        ("DomainName", DOMAIN),
        ("HostedZoneId", ZONE),
    ])
}

/// Resource counts by type of the default stack (no custom domain, no alarm email).
fn expected_counts() -> BTreeMap<String, usize> {
    [
        ("aws:apigatewayv2/api:Api", 1),
        ("aws:apigatewayv2/authorizer:Authorizer", 1),
        ("aws:apigatewayv2/deployment:Deployment", 1),
        ("aws:apigatewayv2/integration:Integration", 1),
        // one per route of `routes::ALL`, a response on each of `routes::TWO_WAY`
        ("aws:apigatewayv2/route:Route", 8),
        ("aws:apigatewayv2/routeResponse:RouteResponse", 6),
        ("aws:apigatewayv2/stage:Stage", 1),
        ("aws:cloudwatch/eventRule:EventRule", 2),
        ("aws:cloudwatch/eventTarget:EventTarget", 2),
        // five functions and the API's access log
        ("aws:cloudwatch/logGroup:LogGroup", 6),
        // one per dead-letter queue
        ("aws:cloudwatch/metricAlarm:MetricAlarm", 3),
        ("aws:dynamodb/table:Table", 1),
        // one per function (API Gateway's CloudWatch role only with `ManageApiGatewayAccount`)
        ("aws:iam/role:Role", 5),
        ("aws:iam/rolePolicy:RolePolicy", 5),
        // the two event queues to the consumer, the push queue to the pushers
        ("aws:lambda/eventSourceMapping:EventSourceMapping", 3),
        ("aws:lambda/function:Function", 5),
        ("aws:lambda/permission:Permission", 2),
        ("aws:secretsmanager/secret:Secret", 1),
        ("aws:secretsmanager/secretVersion:SecretVersion", 1),
        ("aws:sns/topic:Topic", 1),
        // two event queues and the push queue, each with its dead-letter queue
        ("aws:sqs/queue:Queue", 6),
        // each event queue and its dead-letter queue accepts its rule's events
        ("aws:sqs/queuePolicy:QueuePolicy", 4),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n))
    .collect()
}

/// The six resources `DeployCustomDomain = true` adds.
fn domain_resources() -> Vec<(String, String)> {
    [
        ("aws:acm/certificate:Certificate", "domain-certificate"),
        (
            "aws:acm/certificateValidation:CertificateValidation",
            "domain-certificate-validation",
        ),
        (
            "aws:apigatewayv2/apiMapping:ApiMapping",
            "custom-domain-mapping",
        ),
        ("aws:apigatewayv2/domainName:DomainName", "custom-domain"),
        ("aws:route53/record:Record", "custom-domain-alias"),
        (
            "aws:route53/record:Record",
            "domain-certificate-validation-record",
        ),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n.to_string()))
    .collect()
}

#[tokio::test]
async fn default_stack_registers_66_resources_no_domain_and_no_account_setting() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.counts(), expected_counts());
    assert_eq!(run.custom().len(), 66);
    // The region-wide API Gateway account setting is left alone unless asked for.
    assert!(run.of_type("aws:apigateway/account:Account").is_empty());
    // The stack resource comes first, named <project>-<stack>.
    assert_eq!(run.resources[0].type_, "pulumi:pulumi:Stack");
    assert_eq!(run.resources[0].name, format!("{PROJECT}-{STACK}"));
    assert!(!run.resources[0].custom);
    // Logical names are unique per type (Pulumi requires it).
    let names = run.names();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique);
}

/// The push path's eight resources: the push queue and its dead-letter queue, the pushers'
/// function with its log group, role and policy, the mapping from the queue to the pushers, and
/// the alarm on the dead-letter queue.
#[tokio::test]
async fn the_push_path_has_its_eight_resources() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let names = run.names();
    for (type_, name) in [
        ("aws:sqs/queue:Queue", "push-queue"),
        ("aws:sqs/queue:Queue", "push-dlq"),
        ("aws:cloudwatch/logGroup:LogGroup", "pusher-logs"),
        ("aws:iam/role:Role", "pusher-role"),
        ("aws:iam/rolePolicy:RolePolicy", "pusher-policy"),
        ("aws:lambda/function:Function", "pusher-function"),
        (
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            "push-event-source",
        ),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "push-dlq-alarm"),
    ] {
        assert!(
            names.contains(&(type_.to_string(), name.to_string())),
            "no {type_} {name}"
        );
    }
}

#[tokio::test]
async fn custom_domain_adds_exactly_its_six_resources() {
    let plain = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    let with_domain = run_program(Mode::Update, &domain_config(), &["JwtSecret"]).await;
    assert!(with_domain.success, "{}", with_domain.stderr);
    assert_eq!(with_domain.custom().len(), 72);
    let added: Vec<_> = with_domain
        .names()
        .into_iter()
        .filter(|n| !plain.names().contains(n))
        .collect();
    assert_eq!(added, domain_resources());
}

#[tokio::test]
async fn preview_registers_the_same_resources_as_update() {
    for config in [base_config(&[]), domain_config()] {
        let preview = run_program(Mode::Preview, &config, &["JwtSecret"]).await;
        let update = run_program(Mode::Update, &config, &["JwtSecret"]).await;
        assert!(preview.success, "{}", preview.stderr);
        assert_eq!(preview.names(), update.names());
    }
}

#[tokio::test]
async fn preview_sends_unknowns_where_values_depend_on_new_resources() {
    let run = run_program(Mode::Preview, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    // The stage's deployment id only exists after the deployment is created.
    let stage = run.named("aws:apigatewayv2/stage:Stage", "websocket-stage");
    assert_eq!(stage.str("deploymentId"), UNKNOWN);
    // Values known from configuration are sent as they are.
    assert_eq!(stage.str("name"), "production");
    let table = run.named("aws:dynamodb/table:Table", "connections-table");
    assert_eq!(table.str("name"), "websocket");
    // Outputs that depend on computed values are unknown; the rest are known.
    assert_eq!(run.output("WebsocketUri"), UNKNOWN);
    assert_eq!(run.output("WebSocketDomainName"), "Not Provided");
    assert_eq!(run.output("TestTokenFunctionName"), "CreateTestJwt");
}

#[tokio::test]
async fn update_exports_the_stack_outputs() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let endpoint = format!("{API_ID}.execute-api.{REGION}.amazonaws.com");
    assert_eq!(
        run.outputs.as_ref().expect("outputs"),
        &serde_json::json!({
            "WebsocketUri": format!("wss://{endpoint}/production"),
            "WebSocketDomainName": "Not Provided",
            "ConnectionsEndpoint": format!("https://{endpoint}/production/@connections"),
            "TableName": "websocket",
            "TestTokenFunctionName": "CreateTestJwt",
            "AlarmTopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:dead-letter-alarms-0001"),
            "JwtIssuer": "Not Set",
            "UserPoolId": "Not Created",
            "UserPoolClientId": "Not Created",
        })
    );
}

#[tokio::test]
async fn create_user_pool_adds_the_pool_and_its_client_and_exports_them() {
    let plain = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    let run = run_program(
        Mode::Update,
        &base_config(&[("CreateUserPool", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.custom().len(), 68);
    let added: Vec<_> = run
        .names()
        .into_iter()
        .filter(|n| !plain.names().contains(n))
        .collect();
    assert_eq!(
        added,
        [
            ("aws:cognito/userPool:UserPool", "user-pool"),
            (
                "aws:cognito/userPoolClient:UserPoolClient",
                "user-pool-client"
            ),
        ]
        .map(|(t, n)| (t.to_string(), n.to_string()))
    );
    let pool = run.named("aws:cognito/userPool:UserPool", "user-pool");
    assert_eq!(pool.str("name"), "wspush-dev-users");
    let client = run.named(
        "aws:cognito/userPoolClient:UserPoolClient",
        "user-pool-client",
    );
    assert_eq!(client.str("userPoolId"), USER_POOL_ID);
    // A public client: no secret, and the aws CLI can sign in with a password.
    assert_eq!(client.input("generateSecret"), &serde_json::json!(false));
    assert_eq!(
        client.input("explicitAuthFlows"),
        &serde_json::json!(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    );
    let issuer = format!("https://cognito-idp.{REGION}.amazonaws.com/{USER_POOL_ID}");
    assert_eq!(run.output("JwtIssuer"), &issuer);
    assert_eq!(run.output("UserPoolId"), USER_POOL_ID);
    assert_eq!(run.output("UserPoolClientId"), USER_POOL_CLIENT_ID);
}

#[tokio::test]
async fn preview_declares_the_user_pool_with_its_ids_unknown() {
    let run = run_program(
        Mode::Preview,
        &base_config(&[("CreateUserPool", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    let client = run.named(
        "aws:cognito/userPoolClient:UserPoolClient",
        "user-pool-client",
    );
    assert_eq!(client.str("userPoolId"), UNKNOWN);
    for output in ["JwtIssuer", "UserPoolId", "UserPoolClientId"] {
        assert_eq!(run.output(output), UNKNOWN, "{output}");
    }
}

#[tokio::test]
async fn a_configured_issuer_is_exported() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("JwtIssuer", "https://example.eu.auth0.com/")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.output("JwtIssuer"), "https://example.eu.auth0.com/");
    assert_eq!(run.output("UserPoolId"), "Not Created");
}

#[tokio::test]
async fn custom_domain_changes_the_websocket_uri_and_domain_outputs() {
    let run = run_program(Mode::Update, &domain_config(), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.output("WebsocketUri"), &format!("wss://{DOMAIN}"));
    assert_eq!(run.output("WebSocketDomainName"), DOMAIN);
    // The management API stays on the execute-api host: custom domains do not serve @connections.
    assert_eq!(
        run.output("ConnectionsEndpoint"),
        &format!("https://{API_ID}.execute-api.{REGION}.amazonaws.com/production/@connections")
    );
}

#[tokio::test]
async fn stage_and_table_names_come_from_config() {
    let run = run_program(
        Mode::Update,
        &base_config(&[
            ("StageName", "v2"),
            ("TableName", "ws-records"),
            ("IndexName", "ByOwner"),
        ]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.output("TableName"), "ws-records");
    assert_eq!(
        run.output("WebsocketUri"),
        &format!("wss://{API_ID}.execute-api.{REGION}.amazonaws.com/v2")
    );
    let table = run.named("aws:dynamodb/table:Table", "connections-table");
    assert_eq!(table.input("globalSecondaryIndexes")[0]["name"], "ByOwner");
}

#[tokio::test]
async fn test_token_function_can_be_left_out() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("DeployCreateTestJwt", "false")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    // Its function, role, policy and log group go.
    assert_eq!(run.custom().len(), 62);
    assert!(
        run.of_type("aws:lambda/function:Function")
            .iter()
            .all(|f| f.str("name") != "CreateTestJwt")
    );
    assert_eq!(run.output("TestTokenFunctionName"), "Not Deployed");
}

#[tokio::test]
async fn alarm_email_adds_a_subscription() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("AlarmEmail", "ops@example.com")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.custom().len(), 67);
    let subscription = run.named(
        "aws:sns/topicSubscription:TopicSubscription",
        "dead-letter-alarms-email",
    );
    assert_eq!(subscription.str("protocol"), "email");
    assert_eq!(subscription.str("endpoint"), "ops@example.com");
    assert_eq!(subscription.input("topic"), run.output("AlarmTopicArn"));
}

#[tokio::test]
async fn api_gateway_account_setting_is_declared_only_when_asked_for() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("ManageApiGatewayAccount", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    // The account setting, its role and the role's policy.
    assert_eq!(run.custom().len(), 69);
    let account = run.named("aws:apigateway/account:Account", "apigateway-account");
    assert_eq!(
        account.str("cloudwatchRoleArn"),
        format!("arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-role-0001")
    );
    // Without it the stage still writes access logs (to a role someone else set).
    let default = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    let stage = default.named("aws:apigatewayv2/stage:Stage", "websocket-stage");
    assert!(stage.input("accessLogSettings")["destinationArn"].is_string());
}

// ---- configuration errors -------------------------------------------------------------------

/// Runs with `config` and asserts the program failed, naming `key`, with no AWS resource
/// registered (only the stack itself, which gestalt registers on start-up).
async fn assert_refused(config: &[(&str, &str)], secret_keys: &[&str], key: &str) -> String {
    for mode in [Mode::Preview, Mode::Update] {
        let run = run_program(mode, config, secret_keys).await;
        assert!(!run.success, "{mode:?}: the program accepted {config:?}");
        assert!(
            run.stderr.contains(&format!("`{key}`")),
            "{mode:?}: the error does not name {key}: {}",
            run.stderr
        );
        assert!(
            run.custom().is_empty(),
            "{mode:?}: resources were registered before the error: {:?}",
            run.names()
        );
        if mode == Mode::Update {
            return run.stderr;
        }
    }
    unreachable!()
}

#[tokio::test]
async fn custom_domain_without_domain_name_is_refused_before_anything_is_created() {
    let stderr = assert_refused(
        &base_config(&[("DeployCustomDomain", "true"), ("HostedZoneId", ZONE)]),
        &["JwtSecret"],
        "DomainName",
    )
    .await;
    assert!(stderr.contains("DeployCustomDomain is true"), "{stderr}");
}

#[tokio::test]
async fn custom_domain_without_hosted_zone_is_refused_before_anything_is_created() {
    assert_refused(
        &base_config(&[("DeployCustomDomain", "true"), ("DomainName", DOMAIN)]),
        &["JwtSecret"],
        "HostedZoneId",
    )
    .await;
}

#[tokio::test]
async fn missing_jwt_secret_is_refused() {
    assert_refused(
        &[("aws:region", REGION), ("SubscribePolicy", "*")],
        &[],
        "JwtSecret",
    )
    .await;
}

/// A deployment must choose who may subscribe to what: the error lists the common choices and
/// the command.
#[tokio::test]
async fn missing_subscribe_policy_is_refused_with_the_common_choices() {
    let config = base_config(&[]);
    let config: Vec<_> = config
        .into_iter()
        .filter(|(key, _)| *key != "SubscribePolicy")
        .collect();
    let stderr = assert_refused(&config, &["JwtSecret"], "SubscribePolicy").await;
    for expected in [
        "missing required configuration key `SubscribePolicy`",
        "  *  ",
        "every user may subscribe to every entity",
        "user/{sub}/*",
        "tenant/{org}/*",
        "pulumi config set SubscribePolicy 'user/{sub}/*'",
    ] {
        assert!(stderr.contains(expected), "{expected:?} missing: {stderr}");
    }
    // The deploy guide quotes the message as the program prints it.
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/deploy.md"))
        .expect("docs/deploy.md");
    assert!(
        guide.contains(stderr.trim()),
        "docs/deploy.md does not quote the message as printed:\n{stderr}"
    );
}

#[tokio::test]
async fn a_bad_subscribe_rule_is_refused_naming_the_rule() {
    for (policy, rule, problem) in [
        ("user/{sub/*", "user/{sub/*", "never closed"),
        ("user/{}/*", "user/{}/*", "empty placeholder"),
        ("user/*/{sub}", "user/*/{sub}", "may only end a rule"),
        ("user/{sub}/*,,tenant/{org}/*", "", "the rule is empty"),
    ] {
        let stderr = assert_refused(
            &base_config(&[("SubscribePolicy", policy)]),
            &["JwtSecret"],
            "SubscribePolicy",
        )
        .await;
        assert!(stderr.contains(&format!("bad rule {rule:?}")), "{stderr}");
        assert!(stderr.contains(problem), "{stderr}");
    }
}

#[tokio::test]
async fn a_plain_http_issuer_is_refused() {
    let stderr = assert_refused(
        &base_config(&[("JwtIssuer", "http://idp.example.com/")]),
        &["JwtSecret"],
        "JwtIssuer",
    )
    .await;
    assert!(stderr.contains("https://"), "{stderr}");
}

#[tokio::test]
async fn the_user_pool_and_another_issuer_are_refused_together() {
    let stderr = assert_refused(
        &base_config(&[
            ("CreateUserPool", "true"),
            ("JwtIssuer", "https://idp.example.com/"),
        ]),
        &["JwtSecret"],
        "JwtIssuer",
    )
    .await;
    assert!(stderr.contains("`CreateUserPool`"), "{stderr}");
}

#[tokio::test]
async fn plain_text_jwt_secret_is_refused() {
    let stderr = assert_refused(&base_config(&[]), &[], "JwtSecret").await;
    assert!(stderr.contains("--secret"), "{stderr}");
}

#[tokio::test]
async fn log_retention_outside_cloudwatch_values_is_refused() {
    let stderr = assert_refused(
        &base_config(&[("LogRetentionDays", "10")]),
        &["JwtSecret"],
        "LogRetentionDays",
    )
    .await;
    assert!(stderr.contains("1, 3, 5, 7, 14, 30"), "{stderr}");
}

/// A rate beyond what the most pushers reach, and more index shards than a fan-out reads.
#[tokio::test]
async fn push_rate_and_index_shards_out_of_bounds_are_refused() {
    for (key, value, expected) in [
        ("PushRateLimit", "3000000", "from 100 to 2500000"),
        ("IndexShards", "65", "raise it only"),
    ] {
        let config = base_config(&[(key, value)]);
        let stderr = assert_refused(&config, &["JwtSecret"], key).await;
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[tokio::test]
async fn misspelt_key_is_refused() {
    let stderr = assert_refused(
        &base_config(&[("LogRetentionDay", "30")]),
        &["JwtSecret"],
        "LogRetentionDay",
    )
    .await;
    assert!(
        stderr.contains("pulumi config rm LogRetentionDay"),
        "{stderr}"
    );
}

#[tokio::test]
async fn invalid_flag_is_refused() {
    assert_refused(
        &base_config(&[("DeployCustomDomain", "maybe")]),
        &["JwtSecret"],
        "DeployCustomDomain",
    )
    .await;
}

// ---- what gestalt 0.0.12 sends (known limits, checked so a change upstream is noticed) -------

#[tokio::test]
async fn gestalt_sends_no_resource_dependencies() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    for resource in run.custom() {
        assert!(resource.dependencies.is_empty(), "{}", resource.name);
        assert_eq!(resource.property_dependencies, 0, "{}", resource.name);
    }
    // Unset optional inputs arrive as explicit nulls.
    let api = run.named("aws:apigatewayv2/api:Api", "websocket-api");
    assert!(
        api.inputs
            .get("body")
            .is_some_and(serde_json::Value::is_null)
    );
}

// ---- the committed stack file and the guide agree with the program ---------------------------

/// `key: value` pairs under `config:` in a Pulumi stack file (the flat form used there).
fn stack_file_config(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|line| line.trim() != "config:")
        .skip(1)
        .filter(|line| line.starts_with("  ") && !line.trim_start().starts_with('#'))
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
        .collect()
}

#[tokio::test]
async fn the_committed_dev_stack_configuration_is_accepted() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Pulumi.dev.yaml");
    let text = std::fs::read_to_string(path).expect("Pulumi.dev.yaml");
    let pairs = stack_file_config(&text);
    assert!(pairs.len() >= 10, "{pairs:?}");
    let mut config: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.strip_prefix("wspush:").unwrap_or(k), v.as_str()))
        .collect();
    config.push(("JwtSecret", "test-signing-secret"));
    for mode in [Mode::Preview, Mode::Update] {
        let run = run_program(mode, &config, &["JwtSecret"]).await;
        assert!(run.success, "{mode:?}: {}", run.stderr);
        assert_eq!(run.custom().len(), 66, "{mode:?}");
    }
}

#[test]
fn the_guide_lists_every_configuration_key() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/deploy.md"))
        .expect("docs/deploy.md");
    for key in wspush_infra::config::keys::ALL {
        assert!(
            guide.contains(&format!("`{key}`")),
            "docs/deploy.md does not mention `{key}`"
        );
    }
}
