//! Every IAM policy the program registers: explicit actions only, each scoped to the resources
//! of this stack (the one exception, X-Ray, is the only form AWS accepts).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::*;

const TABLE_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/websocket";

fn secret_arn() -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:jwt-secret-0001-AbCdEf")
}

fn log_streams(function: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{function}:*")
}

fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-0001")
}

/// action -> resources granted, over all statements of a policy document.
fn grants(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    assert_eq!(document["Version"], "2012-10-17");
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for statement in document["Statement"].as_array().expect("statements") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        let actions = statement["Action"].as_array().expect("action list");
        let resources = statement["Resource"].as_array().expect("resource list");
        for action in actions {
            let action = action.as_str().expect("action");
            assert!(!action.contains('*'), "wildcard action {action}");
            for resource in resources {
                grants
                    .entry(action.to_string())
                    .or_default()
                    .insert(resource.as_str().expect("resource").to_string());
            }
        }
    }
    grants
}

fn expected(pairs: &[(&str, &[String])]) -> BTreeMap<String, BTreeSet<String>> {
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (action, resources) in pairs {
        grants
            .entry(action.to_string())
            .or_default()
            .extend(resources.iter().cloned());
    }
    grants
}

/// The logs and X-Ray grants every function has.
fn baseline(function: &str) -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("logs:CreateLogStream", vec![log_streams(function)]),
        ("logs:PutLogEvents", vec![log_streams(function)]),
        ("xray:PutTraceSegments", vec!["*".to_string()]),
        ("xray:PutTelemetryRecords", vec!["*".to_string()]),
    ]
}

fn with_baseline(
    function: &str,
    own: Vec<(&'static str, Vec<String>)>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = own;
    all.extend(baseline(function));
    let pairs: Vec<(&str, &[String])> = all.iter().map(|(a, r)| (*a, r.as_slice())).collect();
    expected(&pairs)
}

#[tokio::test]
async fn each_role_has_only_the_permissions_its_function_uses() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let policy = |part: &str| {
        grants(
            &run.named("aws:iam/rolePolicy:RolePolicy", &format!("{part}-policy"))
                .json("policy"),
        )
    };
    let table = vec![TABLE_ARN.to_string()];
    let index = vec![format!("{TABLE_ARN}/index/GSI1")];
    // POST (a push, an error frame) and DELETE (closing a connection whose token expired);
    // the verb is part of the resource, so POST alone would deny the DELETE.
    let connections = vec![
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/production/POST/@connections/*"),
        format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/production/DELETE/@connections/*"),
    ];
    let queues = vec![
        queue_arn("entity-updated-queue"),
        queue_arn("user-push-queue"),
    ];
    let dead_letter_queues = vec![queue_arn("entity-updated-dlq"), queue_arn("user-push-dlq")];
    let mut consumer_sends_to = dead_letter_queues.clone();
    consumer_sends_to.push(queue_arn("push-queue"));

    assert_eq!(
        policy("authorizer"),
        with_baseline(
            "wspush-dev-authorizer",
            vec![("secretsmanager:GetSecretValue", vec![secret_arn()])]
        )
    );
    assert_eq!(
        policy("test-token"),
        with_baseline(
            "CreateTestJwt",
            vec![("secretsmanager:GetSecretValue", vec![secret_arn()])]
        )
    );
    assert_eq!(
        policy("connection"),
        with_baseline(
            "wspush-dev-connection",
            vec![
                ("dynamodb:PutItem", table.clone()),
                ("dynamodb:DeleteItem", table.clone()),
                ("dynamodb:Query", table.clone()),
                ("dynamodb:BatchWriteItem", table.clone()),
                // The counted cap: the connection's count, and a repeated subscribe at the cap.
                ("dynamodb:UpdateItem", table.clone()),
                // And a stream's head, read for resume, history and subscribe with `since`.
                ("dynamodb:GetItem", table.clone()),
                // A frame from a connection whose token expired is answered, then it is closed.
                ("execute-api:ManageConnections", connections.clone()),
            ]
        )
    );
    let mut query = table.clone();
    query.extend(index.clone());
    assert_eq!(
        policy("events"),
        with_baseline(
            "wspush-dev-events",
            vec![
                ("dynamodb:Query", query),
                ("dynamodb:BatchWriteItem", table.clone()),
                // Each event's place in its stream: the head and the event's marker read, then
                // one transaction updating the head, putting the marker and the message, and
                // deleting the message trimmed out (each operation is authorised as its
                // single-item action; no ConditionCheck, so no ConditionCheckItem).
                ("dynamodb:GetItem", table.clone()),
                ("dynamodb:PutItem", table.clone()),
                ("dynamodb:UpdateItem", table.clone()),
                ("dynamodb:DeleteItem", table.clone()),
                ("execute-api:ManageConnections", connections.clone()),
                ("sqs:ReceiveMessage", queues.clone()),
                ("sqs:DeleteMessage", queues.clone()),
                ("sqs:GetQueueAttributes", queues.clone()),
                // Only to its dead-letter queues (a record that can never succeed goes there
                // at once, with its reason) and to the push queue (push batches, sent with
                // SendMessageBatch, which this action authorises).
                ("sqs:SendMessage", consumer_sends_to),
            ]
        )
    );
    let push_queue = vec![queue_arn("push-queue")];
    assert_eq!(
        policy("pusher"),
        with_baseline(
            "wspush-dev-pusher",
            vec![
                // The 410 cleanup, and a frame read by its serial from its stream's history;
                // never the index: the pushers are handed their connections.
                ("dynamodb:Query", table.clone()),
                ("dynamodb:BatchWriteItem", table.clone()),
                ("execute-api:ManageConnections", connections),
                ("sqs:ReceiveMessage", push_queue.clone()),
                ("sqs:DeleteMessage", push_queue.clone()),
                ("sqs:GetQueueAttributes", push_queue),
                ("sqs:SendMessage", vec![queue_arn("push-dlq")]),
            ]
        )
    );
}

/// The push queue is written by the event consumer only and read by the pushers only; the
/// pushers send only to its dead-letter queue.
#[tokio::test]
async fn only_the_consumer_sends_push_batches_and_only_the_pushers_receive_them() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let push_queue = queue_arn("push-queue");
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy") {
        let grants = grants(&policy.json("policy"));
        let on_push_queue =
            |action: &str| grants.get(action).is_some_and(|r| r.contains(&push_queue));
        if on_push_queue("sqs:SendMessage") {
            senders.push(policy.name.clone());
        }
        if on_push_queue("sqs:ReceiveMessage") || on_push_queue("sqs:DeleteMessage") {
            receivers.push(policy.name.clone());
        }
    }
    assert_eq!(senders, ["events-policy"]);
    assert_eq!(receivers, ["pusher-policy"]);
    // No queue policy opens the push queue or its dead-letter queue to a service.
    let push_urls = ["push-queue", "push-dlq"]
        .map(|name| format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}-0001"));
    for policy in run.of_type("aws:sqs/queuePolicy:QueuePolicy") {
        let url = policy.str("queueUrl").to_string();
        assert!(!push_urls.contains(&url), "{}", policy.name);
    }
}

/// The routes' grants with a hook: `lambda:InvokeFunction` on that function only, named or by ARN.
#[tokio::test]
async fn the_routes_may_invoke_the_subscribe_hook_and_no_other_function() {
    let named = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:may-subscribe");
    let aliased = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:may-subscribe:live");
    let elsewhere = "arn:aws:lambda:eu-west-1:210987654321:function:hook".to_string();
    for (value, arn) in [
        ("may-subscribe", named),
        ("may-subscribe:live", aliased),
        (elsewhere.as_str(), elsewhere.clone()),
    ] {
        let run = run_program(
            Mode::Update,
            &base_config(&[("SubscribeAuthorizer", value)]),
            &["JwtSecret"],
        )
        .await;
        assert!(run.success, "{}", run.stderr);
        let mut invokers = Vec::new();
        for policy in run.of_type("aws:iam/rolePolicy:RolePolicy") {
            if let Some(resources) = grants(&policy.json("policy")).get("lambda:InvokeFunction") {
                invokers.push((policy.name.clone(), resources.clone()));
            }
        }
        assert_eq!(
            invokers,
            vec![(
                "connection-policy".to_string(),
                BTreeSet::from([arn.clone()])
            )],
            "{value}"
        );
        let function = run.named("aws:lambda/function:Function", "connection-function");
        let variables = string_map(&function.input("environment")["variables"]);
        assert_eq!(variables.get("SUBSCRIBE_AUTHORIZER"), Some(&arn), "{value}");
    }
    // Without a hook no role may invoke any function.
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy") {
        assert!(
            !grants(&policy.json("policy")).contains_key("lambda:InvokeFunction"),
            "{}",
            policy.name
        );
    }
}

#[tokio::test]
async fn api_gateway_cloudwatch_role_may_only_write_this_regions_logs() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("ManageApiGatewayAccount", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    let role = run.named("aws:iam/role:Role", "apigateway-cloudwatch-role");
    let trust = role.json("assumeRolePolicy");
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "apigateway.amazonaws.com"
    );
    let policy = run.named(
        "aws:iam/rolePolicy:RolePolicy",
        "apigateway-cloudwatch-policy",
    );
    assert_eq!(policy.str("role"), "apigateway-cloudwatch-role-0001");
    let log_groups = vec![format!("arn:aws:logs:{REGION}:{ACCOUNT}:*")];
    let actions = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
    ];
    let pairs: Vec<(&str, &[String])> = actions
        .iter()
        .map(|a| (*a, log_groups.as_slice()))
        .collect();
    assert_eq!(grants(&policy.json("policy")), expected(&pairs));
    let account = run.named("aws:apigateway/account:Account", "apigateway-account");
    assert_eq!(
        account.str("cloudwatchRoleArn"),
        format!("arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-role-0001")
    );
}

#[tokio::test]
async fn only_xray_is_granted_on_every_resource() {
    // With every optional role present: the API Gateway CloudWatch role too.
    let run = run_program(
        Mode::Update,
        &base_config(&[("ManageApiGatewayAccount", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    let policies = run.of_type("aws:iam/rolePolicy:RolePolicy");
    assert_eq!(policies.len(), 6);
    for policy in policies {
        for (action, resources) in grants(&policy.json("policy")) {
            if resources.contains("*") {
                assert!(
                    action.starts_with("xray:"),
                    "{}: {action} on *",
                    policy.name
                );
            }
            for resource in resources.iter().filter(|r| *r != "*") {
                assert!(
                    resource.starts_with("arn:aws:") && !resource.ends_with(":*:*"),
                    "{}: {action} on {resource}",
                    policy.name
                );
            }
        }
    }
}

/// The engine learns no dependencies from gestalt, so a role and its inline policy may be
/// deleted in either order; with `forceDetachPolicies` deleting the role first removes the
/// policy too instead of failing with `DeleteConflict`.
#[tokio::test]
async fn every_role_can_be_deleted_before_its_policy() {
    let run = run_program(
        Mode::Update,
        &base_config(&[("ManageApiGatewayAccount", "true")]),
        &["JwtSecret"],
    )
    .await;
    assert!(run.success, "{}", run.stderr);
    let roles = run.of_type("aws:iam/role:Role");
    assert_eq!(roles.len(), 6);
    for role in roles {
        assert_eq!(
            role.input("forceDetachPolicies"),
            &serde_json::json!(true),
            "{}",
            role.name
        );
    }
}

#[tokio::test]
async fn each_function_runs_with_its_own_role_trusted_only_by_lambda() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    for part in ["authorizer", "connection", "events", "pusher", "test-token"] {
        let role = run.named("aws:iam/role:Role", &format!("{part}-role"));
        let trust = role.json("assumeRolePolicy");
        assert_eq!(trust["Statement"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com"
        );
        assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
        assert!(
            role.input("managedPolicyArns").is_null(),
            "{part}: managed policies attached"
        );
        let policy = run.named("aws:iam/rolePolicy:RolePolicy", &format!("{part}-policy"));
        assert_eq!(policy.str("role"), format!("{part}-role-0001"));
        let function = run.named("aws:lambda/function:Function", &format!("{part}-function"));
        assert_eq!(
            function.str("role"),
            format!("arn:aws:iam::{ACCOUNT}:role/{part}-role-0001")
        );
    }
}

#[tokio::test]
async fn queues_accept_messages_only_from_their_rule() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    // The queue (the rule's target) and its dead-letter queue (the target's dead-letter queue).
    for part in ["entity-updated", "user-push"] {
        for queue in [format!("{part}-queue"), format!("{part}-dlq")] {
            let policy = run.named(
                "aws:sqs/queuePolicy:QueuePolicy",
                &format!("{queue}-policy"),
            );
            assert_eq!(
                policy.str("queueUrl"),
                format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}-0001")
            );
            let document = policy.json("policy");
            let statements = document["Statement"].as_array().expect("statements");
            assert_eq!(statements.len(), 1);
            let statement = &statements[0];
            assert_eq!(statement["Principal"]["Service"], "events.amazonaws.com");
            assert_eq!(statement["Action"], serde_json::json!(["sqs:SendMessage"]));
            assert_eq!(
                statement["Resource"],
                serde_json::json!([queue_arn(&queue)])
            );
            assert_eq!(
                statement["Condition"]["ArnEquals"]["aws:SourceArn"],
                format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{part}-rule-0001")
            );
        }
    }
}

#[tokio::test]
async fn api_gateway_may_invoke_only_its_two_functions_from_this_api() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let execution_arn = format!("arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}");
    let permissions = run.of_type("aws:lambda/permission:Permission");
    assert_eq!(permissions.len(), 2);
    let connection = run.named(
        "aws:lambda/permission:Permission",
        "connection-invoke-permission",
    );
    assert_eq!(connection.str("function"), "wspush-dev-connection");
    assert_eq!(
        connection.str("sourceArn"),
        format!("{execution_arn}/production/*")
    );
    let authorizer = run.named(
        "aws:lambda/permission:Permission",
        "authorizer-invoke-permission",
    );
    assert_eq!(authorizer.str("function"), "wspush-dev-authorizer");
    assert_eq!(
        authorizer.str("sourceArn"),
        format!("{execution_arn}/authorizers/*")
    );
    for permission in permissions {
        assert_eq!(permission.str("action"), "lambda:InvokeFunction");
        assert_eq!(permission.str("principal"), "apigateway.amazonaws.com");
    }
}

#[tokio::test]
async fn the_jwt_secret_value_travels_as_a_secret() {
    let run = run_program(Mode::Update, &base_config(&[]), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    let version = run.named(
        "aws:secretsmanager/secretVersion:SecretVersion",
        "jwt-secret-version",
    );
    let value = version.input("secretString");
    assert!(is_secret(value), "sent in plain text: {value}");
    assert_eq!(unsecret(value), "test-signing-secret");
    assert_eq!(version.str("secretId"), secret_arn());
    // No function carries the secret itself, only its ARN.
    for function in run.of_type("aws:lambda/function:Function") {
        let variables = string_map(&function.input("environment")["variables"]);
        assert!(!variables.contains_key("JWT_SECRET"), "{}", function.name);
        assert!(
            !variables
                .values()
                .any(|v| v.contains("test-signing-secret"))
        );
    }
}
