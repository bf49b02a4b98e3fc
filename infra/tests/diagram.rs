//! The resource diagrams in docs/ are drawn from the program's own registrations and must match
//! what the program declares: with the default configuration, and with the custom domain.
//!
//! When the program changes, regenerate them with
//! `WSPUSH_WRITE_DIAGRAMS=1 cargo test -p wspush-infra --test diagram` and commit the result.

mod support;

use std::path::PathBuf;

use support::graph::Graph;
use support::*;

const WRITE: &str = "WSPUSH_WRITE_DIAGRAMS";

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(file)
}

async fn graph(extra: &[(&'static str, &'static str)]) -> Graph {
    let run = run_program(Mode::Update, &base_config(extra), &["JwtSecret"]).await;
    assert!(run.success, "{}", run.stderr);
    Graph::of(&run)
}

/// Compares (or, with `WSPUSH_WRITE_DIAGRAMS=1`, writes) one diagram.
fn check(file: &str, svg: &str) {
    let path = docs(file);
    if std::env::var(WRITE).is_ok_and(|v| v == "1") {
        std::fs::write(&path, svg).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == svg,
        "{} is stale: the program declares something else now. Regenerate it with \
         `{WRITE}=1 cargo test -p wspush-infra --test diagram` and commit it.",
        path.display()
    );
}

#[tokio::test]
async fn default_stack_diagram_is_current() {
    let graph = graph(&[]).await;
    check(
        "infra-diagram.svg",
        &graph.to_svg("wspush: what `pulumi up` deploys (default configuration)"),
    );
}

#[tokio::test]
async fn custom_domain_diagram_is_current() {
    let graph = graph(&[
        ("DeployCustomDomain", "true"),
        ("DomainName", "ws.example.com"),
        ("HostedZoneId", "Z0123456789ABC"),
    ])
    .await;
    check(
        "infra-diagram-custom-domain.svg",
        &graph.to_svg("wspush: what `pulumi up` deploys with DeployCustomDomain=true"),
    );
}

/// The edges the diagram draws are the program's real data flow: spot checks of references
/// known from the code, and no resource left unconnected.
#[tokio::test]
async fn diagram_edges_follow_the_data_flow() {
    let graph = graph(&[]).await;
    let edges = graph.named_edges();
    let has = |user: &str, used: &str| edges.contains(&(user.to_string(), used.to_string()));
    for (user, used) in [
        ("connection-integration", "connection-function"),
        ("connection-integration", "websocket-api"),
        ("connect-route", "connect-authorizer"),
        ("connect-route", "connection-integration"),
        ("ping-route-response", "ping-route"),
        ("websocket-deployment", "connect-route"),
        ("websocket-deployment", "ping-route-response"),
        ("websocket-stage", "websocket-deployment"),
        ("websocket-stage", "api-access-logs"),
        ("events-function", "events-role"),
        ("events-function", "events-logs"),
        ("events-function", "connections-table"),
        ("events-policy", "entity-updated-queue"),
        ("entity-updated-queue", "entity-updated-dlq"),
        ("entity-updated-target", "entity-updated-rule"),
        ("entity-updated-target", "entity-updated-dlq"),
        ("entity-updated-event-source", "events-function"),
        ("entity-updated-dlq-alarm", "dead-letter-alarms"),
        ("jwt-secret-version", "jwt-secret"),
        ("authorizer-function", "jwt-secret"),
        ("push-queue", "push-dlq"),
        ("events-function", "push-queue"),
        ("events-policy", "push-queue"),
        ("pusher-function", "push-queue"),
        ("pusher-function", "push-dlq"),
        ("pusher-policy", "push-dlq"),
        ("push-event-source", "push-queue"),
        ("push-event-source", "pusher-function"),
        ("push-dlq-alarm", "push-dlq"),
    ] {
        assert!(has(user, used), "{user} -> {used} missing from {edges:?}");
    }
    // No false reference the other way round.
    assert!(!has("connection-function", "connection-integration"));
    // Every resource is connected to something.
    for (index, node) in graph.nodes.iter().enumerate() {
        assert!(
            graph.edges.iter().any(|(a, b)| *a == index || *b == index),
            "{} is unconnected",
            node.name
        );
    }
}

/// Registration order varies with timing; the diagram must not.
#[tokio::test]
async fn diagram_is_the_same_on_every_run() {
    let first = graph(&[]).await.to_svg("t");
    for _ in 0..3 {
        assert_eq!(graph(&[]).await.to_svg("t"), first);
    }
}

/// The custom domain's references, including one a name alone would get wrong: the alias
/// record is named after the domain, but the API mapping uses the domain name resource.
#[tokio::test]
async fn custom_domain_edges_follow_the_data_flow() {
    let graph = graph(&[
        ("DeployCustomDomain", "true"),
        ("DomainName", "ws.example.com"),
        ("HostedZoneId", "Z0123456789ABC"),
    ])
    .await;
    let edges = graph.named_edges();
    let has = |user: &str, used: &str| edges.contains(&(user.to_string(), used.to_string()));
    for (user, used) in [
        ("domain-certificate-validation-record", "domain-certificate"),
        (
            "domain-certificate-validation",
            "domain-certificate-validation-record",
        ),
        ("custom-domain", "domain-certificate"),
        ("custom-domain-mapping", "custom-domain"),
        ("custom-domain-mapping", "websocket-stage"),
        ("custom-domain-alias", "custom-domain"),
    ] {
        assert!(has(user, used), "{user} -> {used} missing from {edges:?}");
    }
    assert!(!has("custom-domain-mapping", "custom-domain-alias"));
}
