//! Runtime configuration, read once per cold start from the environment.
//!
//! The variable names come from `wspush_contract::env`, which the infrastructure program also
//! uses to set them, so the two cannot drift apart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wspush_contract::{defaults, env, push_clients};

use crate::access::{HookTarget, SubscribePolicy};
use crate::auth::{ClaimRules, KeySource, ProviderKeys, TokenKeys};
use crate::event_kind::EventKinds;
use crate::store::Retention;

/// Where the HS256 signing secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// The secret itself (local runs, tests).
    Inline(String),
    /// A Secrets Manager secret id (name or ARN), fetched once per cold start.
    SecretsManager(String),
}

/// Which tokens are accepted, beyond the HS256 secret itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The provider's key set, when its issuer publishes no discovery document.
    pub jwks_url: Option<String>,
    /// The claim naming the user; `None`: `data.userId`, else `sub`.
    pub user_claim: Option<String>,
    pub leeway_secs: u64,
    /// Whether HS256 tokens signed with the secret connect.
    pub hs256_enabled: bool,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            jwks_url: None,
            user_claim: None,
            leeway_secs: defaults::JWT_LEEWAY_SECONDS,
            hs256_enabled: true,
        }
    }
}

impl JwtSettings {
    /// The checks every token's claims pass.
    pub fn claim_rules(&self) -> ClaimRules {
        ClaimRules {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            user_claim: self.user_claim.clone(),
            leeway_secs: self.leeway_secs,
        }
    }

    /// The keys tokens are verified and minted with: the HS256 secret (verifying only when
    /// accepted) and the provider's keys; `None` without either.
    pub fn token_keys(
        &self,
        secret: Option<&[u8]>,
        provider: Option<Arc<ProviderKeys>>,
    ) -> Option<TokenKeys> {
        if secret.is_none() && provider.is_none() {
            return None;
        }
        let mut keys = TokenKeys::without_secret(self.claim_rules());
        if let Some(secret) = secret {
            keys = keys.with_secret(secret, self.hs256_enabled);
        }
        if let Some(provider) = provider {
            keys = keys.with_provider(provider);
        }
        Some(keys)
    }

    /// Where the identity provider's keys are: the JWKS URL, else the issuer's discovery
    /// document; `None` without either (HS256 only).
    pub fn key_source(&self) -> Option<KeySource> {
        match (&self.jwks_url, &self.issuer) {
            (Some(url), _) => Some(KeySource::JwksUrl(url.clone())),
            (None, Some(issuer)) => Some(KeySource::Discovery {
                issuer: issuer.clone(),
            }),
            (None, None) => None,
        }
    }
}

/// Who may subscribe to what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessSettings {
    /// `SUBSCRIBE_POLICY`; unset, no template allows anything (only the hook can).
    pub policy: Option<SubscribePolicy>,
    /// `SUBSCRIBE_AUTHORIZER`.
    pub hook: Option<HookTarget>,
    pub max_subscriptions_per_connection: usize,
}

/// How the fan-out talks to the `@connections` API.
///
/// The concurrency adapts between `min_concurrency` and `concurrency` (the fan-out's adaptive
/// limit, `fanout::adaptive`); 429s make it pace itself at the rate that got through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSettings {
    /// Most PostToConnection calls in flight at once for one event.
    pub concurrency: usize,
    /// Fewest calls in flight the adaptive window may shrink to.
    pub min_concurrency: usize,
    /// The window at the start of each fan-out.
    pub initial_concurrency: usize,
    /// Calls per second never exceeded, when set.
    pub max_rate: Option<u32>,
    /// Attempts per connection when throttled or on 5xx, the first one included.
    pub max_attempts: u32,
    /// Base of the exponential backoff; each wait is a random fraction of `base * 2^attempt`.
    pub backoff_base: Duration,
    /// Longest single wait between two attempts.
    pub backoff_cap: Duration,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            concurrency: defaults::PUSH_CONCURRENCY,
            min_concurrency: defaults::PUSH_MIN_CONCURRENCY,
            initial_concurrency: defaults::PUSH_INITIAL_CONCURRENCY,
            max_rate: None,
            max_attempts: defaults::PUSH_MAX_ATTEMPTS,
            backoff_base: Duration::from_millis(50),
            backoff_cap: Duration::from_secs(2),
        }
    }
}

/// Which client sends PostToConnection calls (`PUSH_CLIENT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PushClient {
    /// One SigV4-signed HTTP request per call ([`crate::push::SignedHttpPusher`]).
    #[default]
    SignedHttp,
    /// The `aws-sdk-apigatewaymanagement` client ([`crate::push::ManagementApiPusher`]).
    Sdk,
}

impl std::str::FromStr for PushClient {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim() {
            push_clients::SIGNED_HTTP => Ok(Self::SignedHttp),
            push_clients::SDK => Ok(Self::Sdk),
            other => Err(format!(
                "{other:?} is not a push client: signed-http or sdk"
            )),
        }
    }
}

/// Everything the runtime reads from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub index_name: String,
    pub record_ttl: Duration,
    /// Base URL of the `@connections` API; required only by functions that push.
    pub management_endpoint: Option<String>,
    pub push_client: PushClient,
    /// Required only by functions that verify or mint tokens.
    pub jwt_secret: Option<SecretSource>,
    pub jwt: JwtSettings,
    pub access: AccessSettings,
    pub test_tokens_enabled: bool,
    pub push: PushSettings,
    /// `HISTORY_RETENTION_SECONDS` and `HISTORY_MAX_MESSAGES`.
    pub history: Retention,
    pub json_logs: bool,
    /// The event kinds this function serves (`EVENT_KINDS`); every kind when unset.
    pub event_kinds: EventKinds,
    /// Each source queue's ARN to the URL of its dead-letter queue (`DEAD_LETTER_QUEUES`);
    /// empty when unset.
    pub dead_letter_queues: BTreeMap<String, String>,
    /// The push queue's URL (`PUSH_QUEUE_URL`); unset: every event is pushed directly.
    pub push_queue_url: Option<String>,
    /// `PUSH_PLAN_THRESHOLD` and `PUSH_BATCH_CONNECTIONS`.
    pub plan: PlanSettings,
    /// Index keys per entity (`INDEX_SHARDS`).
    pub index_shards: u32,
}

/// When the events function plans an event into push batches instead of pushing it, and how
/// many connections each batch holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanSettings {
    /// Recipients above which an entity's event is planned (with a push queue configured).
    pub threshold: usize,
    /// Connection ids per push batch.
    pub batch_connections: usize,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            threshold: defaults::PUSH_PLAN_THRESHOLD,
            batch_connections: defaults::PUSH_BATCH_CONNECTIONS,
        }
    }
}

/// A configuration value that is present but unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("environment variable {name} is {value:?}: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        Ok(Self {
            table_name: vars
                .text(env::TABLE_NAME)
                .unwrap_or_else(|| defaults::TABLE_NAME.into()),
            index_name: vars
                .text(env::INDEX_NAME)
                .unwrap_or_else(|| defaults::INDEX_NAME.into()),
            record_ttl: Duration::from_secs(
                vars.number(env::RECORD_TTL_SECONDS, defaults::RECORD_TTL_SECONDS)?,
            ),
            management_endpoint: vars.text(env::MANAGEMENT_ENDPOINT),
            push_client: read_push_client(&vars)?,
            jwt_secret: read_jwt_secret(&vars),
            jwt: read_jwt_settings(&vars)?,
            access: read_access_settings(&vars)?,
            test_tokens_enabled: parse_flag(
                env::TEST_TOKENS_ENABLED,
                vars.text(env::TEST_TOKENS_ENABLED),
            )?,
            push: read_push_settings(&vars)?,
            history: read_history(&vars)?,
            json_logs: vars.text(env::LOG_FORMAT).is_none_or(|f| f != "text"),
            event_kinds: read_event_kinds(&vars)?,
            dead_letter_queues: read_dead_letter_queues(&vars)?,
            push_queue_url: read_push_queue_url(&vars)?,
            plan: read_plan(&vars)?,
            index_shards: within(
                &vars,
                env::INDEX_SHARDS,
                u64::from(defaults::INDEX_SHARDS),
                1..=u64::from(defaults::INDEX_SHARDS_LIMIT),
            )? as u32,
        })
    }
}

/// The environment as [`Config::from_lookup`] reads it: a blank value counts as unset.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// A whole number from 1 to `u32::MAX`, or `default` when unset.
    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        parse_number(name, self.text(name), default)
    }
}

/// The `JWT_*` settings and `JWKS_URL`; URLs must be `https://` (or loopback `http://`).
fn read_jwt_settings(vars: &Vars) -> Result<JwtSettings, ConfigError> {
    let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
        let Some(value) = vars.text(name) else {
            return Ok(None);
        };
        match crate::auth::fetch::check_url(&value, name) {
            Ok(()) => Ok(Some(value)),
            Err(expected) => Err(ConfigError {
                name,
                value,
                expected,
            }),
        }
    };
    let leeway = match vars.text(env::JWT_LEEWAY_SECONDS) {
        None => defaults::JWT_LEEWAY_SECONDS,
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= 3600)
            .ok_or(ConfigError {
                name: env::JWT_LEEWAY_SECONDS,
                value: text,
                expected: "a whole number of seconds from 0 to 3600".into(),
            })?,
    };
    Ok(JwtSettings {
        issuer: url(env::JWT_ISSUER)?,
        audience: vars.text(env::JWT_AUDIENCE),
        jwks_url: url(env::JWKS_URL)?,
        user_claim: vars.text(env::JWT_USER_CLAIM),
        leeway_secs: leeway,
        hs256_enabled: parse_flag_or(
            env::JWT_HS256_ENABLED,
            vars.text(env::JWT_HS256_ENABLED),
            true,
        )?,
    })
}

/// `SUBSCRIBE_POLICY`, `SUBSCRIBE_AUTHORIZER` (a function is invoked in `AWS_REGION`) and
/// `MAX_SUBSCRIPTIONS_PER_CONNECTION`.
fn read_access_settings(vars: &Vars) -> Result<AccessSettings, ConfigError> {
    let policy = vars
        .text(env::SUBSCRIBE_POLICY)
        .map(|text| {
            SubscribePolicy::parse(&text).map_err(|e| ConfigError {
                name: env::SUBSCRIBE_POLICY,
                value: text,
                expected: e.to_string(),
            })
        })
        .transpose()?;
    let region = vars
        .text("AWS_REGION")
        .unwrap_or_else(|| "us-east-1".into());
    let hook = vars
        .text(env::SUBSCRIBE_AUTHORIZER)
        .map(|text| {
            HookTarget::parse(&text, &region).map_err(|expected| ConfigError {
                name: env::SUBSCRIBE_AUTHORIZER,
                value: text,
                expected,
            })
        })
        .transpose()?;
    let max = vars.number(
        env::MAX_SUBSCRIPTIONS_PER_CONNECTION,
        defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION as u64,
    )?;
    Ok(AccessSettings {
        policy,
        hook,
        max_subscriptions_per_connection: max as usize,
    })
}

/// The history every stream keeps when nothing is configured.
pub fn default_retention() -> Retention {
    Retention {
        secs: defaults::HISTORY_RETENTION_SECONDS,
        max_messages: defaults::HISTORY_MAX_MESSAGES,
    }
}

/// `HISTORY_RETENTION_SECONDS` (60 s to a week) and `HISTORY_MAX_MESSAGES` (0, streams off, to
/// [`defaults::HISTORY_MAX_MESSAGES_LIMIT`]).
fn read_history(vars: &Vars) -> Result<Retention, ConfigError> {
    Ok(Retention {
        secs: within(
            vars,
            env::HISTORY_RETENTION_SECONDS,
            defaults::HISTORY_RETENTION_SECONDS,
            60..=defaults::HISTORY_MAX_RETENTION_SECONDS,
        )?,
        max_messages: within(
            vars,
            env::HISTORY_MAX_MESSAGES,
            defaults::HISTORY_MAX_MESSAGES,
            0..=defaults::HISTORY_MAX_MESSAGES_LIMIT,
        )?,
    })
}

/// A whole number within `range`, or `default` when unset.
fn within(
    vars: &Vars,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(text) = vars.text(name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| ConfigError {
            name,
            value: text,
            expected: format!("a whole number from {} to {}", range.start(), range.end()),
        })
}

/// `PUSH_PLAN_THRESHOLD` (at least 1) and `PUSH_BATCH_CONNECTIONS` (1 to
/// [`defaults::PUSH_BATCH_CONNECTIONS_LIMIT`]).
fn read_plan(vars: &Vars) -> Result<PlanSettings, ConfigError> {
    Ok(PlanSettings {
        threshold: vars.number(
            env::PUSH_PLAN_THRESHOLD,
            defaults::PUSH_PLAN_THRESHOLD as u64,
        )? as usize,
        batch_connections: within(
            vars,
            env::PUSH_BATCH_CONNECTIONS,
            defaults::PUSH_BATCH_CONNECTIONS as u64,
            1..=defaults::PUSH_BATCH_CONNECTIONS_LIMIT as u64,
        )? as usize,
    })
}

/// `PUSH_QUEUE_URL`, an `http(s)://host/account/name` URL.
fn read_push_queue_url(vars: &Vars) -> Result<Option<String>, ConfigError> {
    let Some(url) = vars.text(env::PUSH_QUEUE_URL) else {
        return Ok(None);
    };
    match crate::sqs::endpoint_of(&url) {
        Ok(_) => Ok(Some(url)),
        Err(_) => Err(ConfigError {
            name: env::PUSH_QUEUE_URL,
            value: url,
            expected: "a queue URL (https://host/account/name)".into(),
        }),
    }
}

/// `PUSH_CLIENT`, the signed HTTP client when unset.
fn read_push_client(vars: &Vars) -> Result<PushClient, ConfigError> {
    match vars.text(env::PUSH_CLIENT) {
        None => Ok(PushClient::default()),
        Some(value) => value.parse().map_err(|_| ConfigError {
            name: env::PUSH_CLIENT,
            value,
            expected: "signed-http or sdk".into(),
        }),
    }
}

/// The inline `JWT_SECRET` when set, else the Secrets Manager `JWT_SECRET_ID`.
fn read_jwt_secret(vars: &Vars) -> Option<SecretSource> {
    match (vars.text(env::JWT_SECRET), vars.text(env::JWT_SECRET_ID)) {
        (Some(secret), _) => Some(SecretSource::Inline(secret)),
        (None, Some(id)) => Some(SecretSource::SecretsManager(id)),
        (None, None) => None,
    }
}

/// The `PUSH_*` settings, each defaulting to [`PushSettings::default`]'s.
fn read_push_settings(vars: &Vars) -> Result<PushSettings, ConfigError> {
    let push_defaults = PushSettings::default();
    let count = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
        Ok(vars.number(name, default as u64)? as usize)
    };
    Ok(PushSettings {
        concurrency: count(env::PUSH_CONCURRENCY, push_defaults.concurrency)?,
        min_concurrency: count(env::PUSH_MIN_CONCURRENCY, push_defaults.min_concurrency)?,
        initial_concurrency: count(
            env::PUSH_INITIAL_CONCURRENCY,
            push_defaults.initial_concurrency,
        )?,
        max_rate: vars
            .text(env::PUSH_MAX_RATE)
            .map(|v| parse_number(env::PUSH_MAX_RATE, Some(v), 0).map(|n| n as u32))
            .transpose()?,
        max_attempts: vars.number(
            env::PUSH_MAX_ATTEMPTS,
            u64::from(push_defaults.max_attempts),
        )? as u32,
        ..push_defaults
    })
}

/// `EVENT_KINDS`, every kind when unset.
fn read_event_kinds(vars: &Vars) -> Result<EventKinds, ConfigError> {
    match vars.text(env::EVENT_KINDS) {
        None => Ok(EventKinds::all()),
        Some(list) => EventKinds::parse(&list).map_err(|_| ConfigError {
            name: env::EVENT_KINDS,
            value: list,
            expected:
                "a comma-separated list of authorizer, websocket, eventbridge, sqs, test-token, push-batch"
                    .into(),
        }),
    }
}

/// `DEAD_LETTER_QUEUES`: a JSON object of source queue ARNs to dead-letter queue URLs, each an
/// `http(s)://host/…` URL; empty when unset.
fn read_dead_letter_queues(vars: &Vars) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(text) = vars.text(env::DEAD_LETTER_QUEUES) else {
        return Ok(BTreeMap::new());
    };
    let routes = serde_json::from_str::<BTreeMap<String, String>>(&text)
        .ok()
        .filter(|routes| {
            routes
                .values()
                .all(|url| crate::sqs::endpoint_of(url).is_ok())
        });
    routes.ok_or(ConfigError {
        name: env::DEAD_LETTER_QUEUES,
        value: text,
        expected: "a JSON object of source queue ARNs to dead-letter queue URLs (https://host/account/name)".into(),
    })
}

fn parse_number(
    name: &'static str,
    value: Option<String>,
    default: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 && n <= u64::from(u32::MAX) => Ok(n),
        _ => Err(ConfigError {
            name,
            value,
            expected: "a whole number between 1 and 4294967295".into(),
        }),
    }
}

fn parse_flag(name: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    parse_flag_or(name, value, false)
}

fn parse_flag_or(
    name: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError {
            name,
            value: value.unwrap_or_default(),
            expected: "true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]).expect("empty environment is valid");
        assert_eq!(c.table_name, "websocket");
        assert_eq!(c.index_name, "GSI1");
        assert_eq!(c.record_ttl, Duration::from_secs(3 * 3600));
        assert!(!c.test_tokens_enabled);
        assert_eq!(c.jwt_secret, None);
        assert!(c.json_logs);
    }

    #[test]
    fn planning_settings_are_read_and_checked() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.plan, PlanSettings::default());
        assert_eq!(c.push_queue_url, None);
        assert_eq!(c.index_shards, defaults::INDEX_SHARDS);
        let c = config(&[
            (
                env::PUSH_QUEUE_URL,
                "https://sqs.eu-west-1.amazonaws.com/1/push-abc",
            ),
            (env::PUSH_PLAN_THRESHOLD, "50000"),
            (env::PUSH_BATCH_CONNECTIONS, "5000"),
            (env::INDEX_SHARDS, "64"),
        ])
        .expect("valid");
        assert_eq!(
            c.push_queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/1/push-abc")
        );
        assert_eq!(
            c.plan,
            PlanSettings {
                threshold: 50_000,
                batch_connections: 5_000
            }
        );
        assert_eq!(c.index_shards, 64);
        for (name, value) in [
            (env::PUSH_QUEUE_URL, "push"),
            (env::PUSH_PLAN_THRESHOLD, "0"),
            (env::PUSH_BATCH_CONNECTIONS, "5001"),
            (env::INDEX_SHARDS, "0"),
            (env::INDEX_SHARDS, "65"),
        ] {
            let err = config(&[(name, value)]).expect_err("out of bounds");
            assert_eq!((err.name, err.value.as_str()), (name, value));
        }
    }

    #[test]
    fn inline_secret_wins_over_secret_id() {
        let c =
            config(&[(env::JWT_SECRET, "s3cret"), (env::JWT_SECRET_ID, "arn:x")]).expect("valid");
        assert_eq!(c.jwt_secret, Some(SecretSource::Inline("s3cret".into())));
        let c = config(&[(env::JWT_SECRET_ID, "arn:x")]).expect("valid");
        assert_eq!(
            c.jwt_secret,
            Some(SecretSource::SecretsManager("arn:x".into()))
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[(env::PUSH_CONCURRENCY, "many")]).expect_err("not a number");
        assert_eq!(err.name, env::PUSH_CONCURRENCY);
        assert!(err.to_string().contains("PUSH_CONCURRENCY"));
        let err = config(&[(env::TEST_TOKENS_ENABLED, "maybe")]).expect_err("not a flag");
        assert_eq!(err.name, env::TEST_TOKENS_ENABLED);
        assert!(config(&[(env::RECORD_TTL_SECONDS, "0")]).is_err());
        let err = config(&[(env::EVENT_KINDS, "sqs,dance")]).expect_err("unknown kind");
        assert_eq!(err.name, env::EVENT_KINDS);
    }

    #[test]
    fn push_settings_are_read_and_checked() {
        let c = config(&[]).expect("valid");
        assert_eq!(c.push, PushSettings::default());
        assert_eq!(c.push.max_rate, None);
        let c = config(&[
            (env::PUSH_CONCURRENCY, "100"),
            (env::PUSH_MIN_CONCURRENCY, "2"),
            (env::PUSH_INITIAL_CONCURRENCY, "10"),
            (env::PUSH_MAX_RATE, "500"),
        ])
        .expect("valid");
        let p = &c.push;
        assert_eq!(
            (p.min_concurrency, p.initial_concurrency, p.concurrency),
            (2, 10, 100)
        );
        assert_eq!(p.max_rate, Some(500));
        let err = config(&[(env::PUSH_MAX_RATE, "-1")]).expect_err("not a rate");
        assert_eq!(err.name, env::PUSH_MAX_RATE);
        let err = config(&[(env::PUSH_MIN_CONCURRENCY, "0")]).expect_err("zero");
        assert_eq!(err.name, env::PUSH_MIN_CONCURRENCY);
    }

    #[test]
    fn dead_letter_queues_are_a_map_of_queue_arns_to_urls() {
        assert!(config(&[]).expect("valid").dead_letter_queues.is_empty());
        let routes =
            r#"{"arn:aws:sqs:us-east-1:1:a":"https://sqs.us-east-1.amazonaws.com/1/a-dlq"}"#;
        let c = config(&[(env::DEAD_LETTER_QUEUES, routes)]).expect("valid");
        assert_eq!(
            c.dead_letter_queues["arn:aws:sqs:us-east-1:1:a"],
            "https://sqs.us-east-1.amazonaws.com/1/a-dlq"
        );
        for bad in [r#"["x"]"#, r#"{"a": 1}"#, r#"{"a": "not a url"}"#] {
            let err = config(&[(env::DEAD_LETTER_QUEUES, bad)]).expect_err(bad);
            assert_eq!(err.name, env::DEAD_LETTER_QUEUES);
        }
    }

    #[test]
    fn identity_provider_and_access_settings_are_read_and_checked() {
        let c = config(&[]).expect("valid");
        assert_eq!(c.jwt, JwtSettings::default());
        assert_eq!(c.jwt.key_source(), None);
        assert_eq!(c.access.policy, None);
        assert_eq!(c.access.max_subscriptions_per_connection, 200);
        let c = config(&[
            (env::JWT_ISSUER, "https://idp.example.com/realm"),
            (env::JWT_USER_CLAIM, "data.userId"),
            (env::JWT_LEEWAY_SECONDS, "0"),
            (env::JWT_HS256_ENABLED, "false"),
            (env::SUBSCRIBE_POLICY, "user/{sub}/*"),
            (env::SUBSCRIBE_AUTHORIZER, "decide"),
            (env::MAX_SUBSCRIPTIONS_PER_CONNECTION, "3"),
            ("AWS_REGION", "eu-west-1"),
        ])
        .expect("valid");
        assert_eq!(
            c.jwt.key_source(),
            Some(KeySource::Discovery {
                issuer: "https://idp.example.com/realm".into()
            })
        );
        assert_eq!((c.jwt.leeway_secs, c.jwt.hs256_enabled), (0, false));
        assert!(
            matches!(&c.access.hook, Some(HookTarget::Function { region, .. }) if region == "eu-west-1")
        );
        assert_eq!(c.access.max_subscriptions_per_connection, 3);
        for (name, bad) in [
            (env::JWT_ISSUER, "http://idp.example.com"),
            (env::JWKS_URL, "not a url"),
            (env::SUBSCRIBE_POLICY, "user/{sub"),
            (env::SUBSCRIBE_AUTHORIZER, "http://example.com/x"),
            (env::JWT_LEEWAY_SECONDS, "-1"),
            (env::JWT_HS256_ENABLED, "perhaps"),
        ] {
            let err = config(&[(name, bad)]).expect_err(bad);
            assert_eq!(err.name, name);
        }
        let err = config(&[(env::SUBSCRIBE_POLICY, "a/*/b")]).expect_err("bad rule");
        assert!(err.to_string().contains("\"a/*/b\""), "{err}");
    }

    #[test]
    fn event_kinds_default_to_all_and_parse_lists() {
        use crate::event_kind::EventKind;
        assert_eq!(config(&[]).expect("valid").event_kinds, EventKinds::all());
        let c = config(&[(env::EVENT_KINDS, "sqs, eventbridge")]).expect("valid");
        assert!(c.event_kinds.contains(EventKind::Sqs));
        assert!(c.event_kinds.contains(EventKind::EventBridge));
        assert!(!c.event_kinds.contains(EventKind::WebSocket));
    }
}
