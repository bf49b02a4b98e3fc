//! The stack configuration (`pulumi config set ...`), read and checked before anything is declared.
//!
//! Why a separate, pure step: a missing `DomainName` discovered halfway through the program would
//! leave a half-registered stack behind. [`StackConfig::read`] takes every plain value through a
//! [`ConfigSource`] and returns a typed error naming the key, so the whole check runs (and is unit
//! tested) before the first resource exists. The one secret, `JwtSecret`, is read by
//! [`engine::read_jwt_secret`] because only the engine can hand out secret outputs.

mod checks;
pub mod engine;
mod reader;

use reader::Reader;

/// Where plain (non-secret) configuration values come from: the Pulumi engine in the program, a
/// map in unit tests. `None` means the key is not set.
pub trait ConfigSource {
    fn get(&self, key: &str) -> Option<String>;
    /// Every key set in the project's namespace (plain and secret), so misspelt keys are
    /// refused instead of silently ignored.
    fn keys(&self) -> Vec<String>;
}

/// The configuration keys, spelled once. Keys live in the project namespace
/// (`wspush:DomainName`); `pulumi config set DomainName ws.example.com` writes them there.
pub mod keys {
    pub const JWT_SECRET: &str = "JwtSecret";
    pub const JWT_ISSUER: &str = "JwtIssuer";
    pub const JWT_AUDIENCE: &str = "JwtAudience";
    pub const JWKS_URL: &str = "JwksUrl";
    pub const JWT_USER_CLAIM: &str = "JwtUserClaim";
    pub const JWT_LEEWAY_SECONDS: &str = "JwtLeewaySeconds";
    pub const JWT_HS256_ENABLED: &str = "JwtHs256Enabled";
    pub const CREATE_USER_POOL: &str = "CreateUserPool";
    pub const SUBSCRIBE_POLICY: &str = "SubscribePolicy";
    pub const SUBSCRIBE_AUTHORIZER: &str = "SubscribeAuthorizer";
    pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: &str = "MaxSubscriptionsPerConnection";
    pub const HISTORY_RETENTION_SECONDS: &str = "HistoryRetentionSeconds";
    pub const HISTORY_MAX_MESSAGES: &str = "HistoryMaxMessages";
    pub const STAGE_NAME: &str = "StageName";
    pub const TABLE_NAME: &str = "TableName";
    pub const INDEX_NAME: &str = "IndexName";
    pub const RECORD_TTL_SECONDS: &str = "RecordTtlSeconds";
    pub const LAMBDA_ARTIFACT: &str = "LambdaArtifact";
    pub const LAMBDA_ARCHITECTURE: &str = "LambdaArchitecture";
    pub const LAMBDA_MEMORY_MB: &str = "LambdaMemoryMb";
    pub const EVENTS_MEMORY_MB: &str = "EventsMemoryMb";
    pub const LOG_RETENTION_DAYS: &str = "LogRetentionDays";
    pub const PUSH_CONCURRENCY: &str = "PushConcurrency";
    pub const PUSH_MAX_ATTEMPTS: &str = "PushMaxAttempts";
    pub const PUSH_CLIENT: &str = "PushClient";
    pub const PUSH_RATE_LIMIT: &str = "PushRateLimit";
    pub const PUSH_PLAN_THRESHOLD: &str = "PushPlanThreshold";
    pub const PUSH_BATCH_CONNECTIONS: &str = "PushBatchConnections";
    pub const INDEX_SHARDS: &str = "IndexShards";
    pub const THROTTLING_BURST_LIMIT: &str = "ThrottlingBurstLimit";
    pub const THROTTLING_RATE_LIMIT: &str = "ThrottlingRateLimit";
    pub const DEPLOY_TEST_JWT_FUNCTION: &str = "DeployCreateTestJwt";
    pub const TEST_TOKEN_FUNCTION_NAME: &str = "TestTokenFunctionName";
    pub const DEPLOY_CUSTOM_DOMAIN: &str = "DeployCustomDomain";
    pub const DOMAIN_NAME: &str = "DomainName";
    pub const HOSTED_ZONE_ID: &str = "HostedZoneId";
    pub const ALARM_EMAIL: &str = "AlarmEmail";
    pub const MANAGE_API_GATEWAY_ACCOUNT: &str = "ManageApiGatewayAccount";

    /// Every key the program reads; any other key in the project namespace is refused.
    pub const ALL: [&str; 38] = [
        JWT_SECRET,
        JWT_ISSUER,
        JWT_AUDIENCE,
        JWKS_URL,
        JWT_USER_CLAIM,
        JWT_LEEWAY_SECONDS,
        JWT_HS256_ENABLED,
        CREATE_USER_POOL,
        SUBSCRIBE_POLICY,
        SUBSCRIBE_AUTHORIZER,
        MAX_SUBSCRIPTIONS_PER_CONNECTION,
        HISTORY_RETENTION_SECONDS,
        HISTORY_MAX_MESSAGES,
        STAGE_NAME,
        TABLE_NAME,
        INDEX_NAME,
        RECORD_TTL_SECONDS,
        LAMBDA_ARTIFACT,
        LAMBDA_ARCHITECTURE,
        LAMBDA_MEMORY_MB,
        EVENTS_MEMORY_MB,
        LOG_RETENTION_DAYS,
        PUSH_CONCURRENCY,
        PUSH_MAX_ATTEMPTS,
        PUSH_CLIENT,
        PUSH_RATE_LIMIT,
        PUSH_PLAN_THRESHOLD,
        PUSH_BATCH_CONNECTIONS,
        INDEX_SHARDS,
        THROTTLING_BURST_LIMIT,
        THROTTLING_RATE_LIMIT,
        DEPLOY_TEST_JWT_FUNCTION,
        TEST_TOKEN_FUNCTION_NAME,
        DEPLOY_CUSTOM_DOMAIN,
        DOMAIN_NAME,
        HOSTED_ZONE_ID,
        ALARM_EMAIL,
        MANAGE_API_GATEWAY_ACCOUNT,
    ];
}

/// What `scripts/build-lambda.sh` (`cargo lambda build --profile lambda --arm64 --output-format
/// zip`) writes, relative to the project root (where `Pulumi.yaml` is and where the engine runs
/// the program).
pub const DEFAULT_LAMBDA_ARTIFACT: &str = "target/lambda/bootstrap/bootstrap.zip";
pub const DEFAULT_LOG_RETENTION_DAYS: i32 = 14;
/// The authorizer, the connection routes and CreateTestJwt: about 12 MiB resident at most
/// (measured, docs/deploy.md "Memory"), so Lambda's minimum is plenty.
pub const DEFAULT_LAMBDA_MEMORY_MB: i32 = 128;
/// The event consumer: 29 MiB resident for a 10,000-subscriber fan-out, but CPU is allotted in
/// proportion to memory, and 512 MB keeps the fan-out's CPU time under its network time.
pub const DEFAULT_EVENTS_MEMORY_MB: i32 = 512;
/// The stage's default route throttling, from the contract the local gateway reads too.
pub const DEFAULT_THROTTLING_BURST_LIMIT: i32 =
    wspush_contract::defaults::ROUTE_THROTTLING_BURST_LIMIT as i32;
pub const DEFAULT_THROTTLING_RATE_LIMIT: f64 =
    wspush_contract::defaults::ROUTE_THROTTLING_RATE_LIMIT as f64;

/// The values CloudWatch Logs accepts for a log group's retention (`PutRetentionPolicy`); 0
/// keeps events forever (the provider's spelling of "no retention policy").
pub const LOG_RETENTION_DAYS_ALLOWED: [i32; 23] = [
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A configuration problem, found before any resource is declared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "missing required configuration key `{key}`: {why} (set it with `pulumi config set {key} <value>`)"
    )]
    Missing {
        key: &'static str,
        why: &'static str,
    },
    #[error(
        "configuration key `{key}` must be a secret: set it with `pulumi config set --secret {key} <value>`"
    )]
    NotSecret { key: &'static str },
    #[error("configuration key `{key}` is {value:?}: expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "unknown configuration key `{key}` (a typo?): remove it with `pulumi config rm {key}`; the keys this program reads are {known}"
    )]
    Unknown { key: String, known: String },
    /// A required key with no default: the deployment must choose, so the error lists the
    /// usual choices.
    #[error(
        "missing required configuration key `{key}`: {why}. Common choices:\n{choices}\nSet one with `pulumi config set {key} '{example}'` (the quotes keep the shell off the braces and the star); docs/deploy.md, \"Choosing a subscribe policy\", explains the syntax and the SubscribeAuthorizer hook."
    )]
    MissingChoice {
        key: &'static str,
        why: &'static str,
        choices: &'static str,
        example: &'static str,
    },
    #[error(
        "configuration key `{key}` has a bad rule {rule:?}: {problem}. Rules are separated by commas; a rule is an entity id with `{{claim}}` placeholders and an optional `*` at its end (`user/{{sub}}/*`); `*` alone allows every entity"
    )]
    BadRule {
        key: &'static str,
        rule: String,
        problem: &'static str,
    },
    #[error(
        "configuration key `{key}` cannot be set together with `{with}`: {why} (remove it with `pulumi config rm {key}`)"
    )]
    Conflict {
        key: &'static str,
        with: &'static str,
        why: &'static str,
    },
}

/// The Lambda instruction set; arm64 (Graviton) is the default, the one `scripts/build-lambda.sh`
/// builds for unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Architecture {
    /// The spelling Lambda's `Architectures` property takes.
    pub fn as_lambda(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

/// The custom domain, present only with `DeployCustomDomain = true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomDomain {
    pub domain_name: String,
    pub hosted_zone_id: String,
}

/// How client tokens are verified (the authorizer) and minted (CreateTestJwt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// The expected `iss` (`JwtIssuer`); with `CreateUserPool` the pool's issuer is used instead.
    pub issuer: Option<String>,
    /// The expected `aud` (`JwtAudience`); with `CreateUserPool` the app client's id.
    pub audience: Option<String>,
    /// The provider's key set, when its issuer publishes no discovery document.
    pub jwks_url: Option<String>,
    /// The claim naming the user (a dotted path); unset: the runtime's default.
    pub user_claim: Option<String>,
    pub leeway_seconds: u64,
    /// Whether HS256 tokens signed with `JwtSecret` (the quick start's, CreateTestJwt's) connect.
    pub hs256_enabled: bool,
    /// Declare a Cognito user pool and app client as the identity provider.
    pub create_user_pool: bool,
}

/// The application's own decision on subscriptions the policy does not allow
/// (`SubscribeAuthorizer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscribeAuthorizer {
    /// `name` or `name:qualifier` (an alias or version), a function of the stack's account and
    /// region: its ARN is built from the stack's.
    Name(String),
    /// A function ARN, used as given.
    Arn(String),
}

/// Who may subscribe to what, and how many subscriptions a connection may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscriptions {
    /// `SubscribePolicy`, each rule checked and trimmed.
    pub policy: String,
    pub authorizer: Option<SubscribeAuthorizer>,
    pub max_per_connection: u64,
}

/// What each stream's history keeps, for resume and `history`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// How long a message stays in its stream's history.
    pub retention_seconds: u64,
    /// The most messages a stream keeps; 0 switches streams off.
    pub max_messages: u64,
}

/// How an event with a large audience is pushed: above `threshold` recipients the event
/// consumer hands it to the pushers in batches of `batch_connections` on the push queue, and
/// the pushers together stay within `rate_limit` `@connections` calls a second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPlan {
    /// `PushRateLimit`: what the pushers' count and each one's rate are derived from
    /// (`wspush_contract::push_queue::{pushers, rate_per_pusher}`).
    pub rate_limit: u32,
    pub threshold: usize,
    pub batch_connections: usize,
}

/// Every plain setting of the stack, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    pub stage_name: String,
    pub table_name: String,
    pub index_name: String,
    /// Index keys each entity's subscriptions are spread over (`INDEX_SHARDS`).
    pub index_shards: u32,
    pub record_ttl_seconds: u64,
    pub tokens: Tokens,
    pub subscriptions: Subscriptions,
    pub history: History,
    pub lambda_artifact: String,
    pub architecture: Architecture,
    /// MemorySize of the authorizer, the routes and CreateTestJwt.
    pub memory_mb: i32,
    /// MemorySize of the event consumer (the fan-out).
    pub events_memory_mb: i32,
    pub log_retention_days: i32,
    pub push_concurrency: usize,
    pub push_max_attempts: u32,
    /// How the fan-out reaches `@connections` (`PUSH_CLIENT`): one of `push_clients::ALL`.
    pub push_client: String,
    pub push_plan: PushPlan,
    pub throttling_burst_limit: i32,
    pub throttling_rate_limit: f64,
    pub deploy_test_jwt_function: bool,
    /// The physical name of the token-minting function (account-wide, not scoped to the stack,
    /// so `aws lambda invoke --function-name CreateTestJwt` works as the quick start's did).
    pub test_token_function_name: String,
    pub custom_domain: Option<CustomDomain>,
    pub alarm_email: Option<String>,
    /// Whether this stack sets the region's API Gateway CloudWatch role (needed once per account
    /// and region before a WebSocket stage may write access logs). Off by default: it is a
    /// region-wide setting other stacks may own.
    pub manage_api_gateway_account: bool,
}

impl StackConfig {
    /// Reads and checks every plain key; the first problem is returned. What each key accepts
    /// is in `checks`, by group; the order of the fields below is the order the keys are
    /// checked in (a struct expression evaluates its fields as written), so it decides which
    /// problem is reported when several keys are wrong.
    pub fn read(source: &dyn ConfigSource) -> Result<Self, ConfigError> {
        refuse_unknown_keys(source)?;
        let r = Reader { source };
        Ok(Self {
            custom_domain: checks::domain::custom_domain(&r)?,
            architecture: checks::functions::architecture(&r)?,
            log_retention_days: checks::functions::log_retention_days(&r)?,
            alarm_email: checks::alarms::email(&r)?,
            stage_name: r.name(&checks::stage::NAME)?,
            table_name: r.name(&checks::table::NAME)?,
            index_name: r.name(&checks::table::INDEX_NAME)?,
            index_shards: r.whole(&checks::table::INDEX_SHARDS)? as u32,
            record_ttl_seconds: r.whole(&checks::table::RECORD_TTL_SECONDS)?,
            tokens: checks::identity::tokens(&r)?,
            subscriptions: checks::subscriptions::subscriptions(&r)?,
            history: checks::history::history(&r)?,
            lambda_artifact: checks::functions::artifact(&r),
            memory_mb: r.whole(&checks::functions::MEMORY_MB)? as i32,
            events_memory_mb: r.whole(&checks::functions::EVENTS_MEMORY_MB)? as i32,
            push_concurrency: r.whole(&checks::push::CONCURRENCY)? as usize,
            push_max_attempts: r.whole(&checks::push::MAX_ATTEMPTS)? as u32,
            push_client: checks::push::client(&r)?,
            push_plan: checks::push::plan(&r)?,
            throttling_burst_limit: r.whole(&checks::stage::THROTTLING_BURST_LIMIT)? as i32,
            throttling_rate_limit: r.whole(&checks::stage::THROTTLING_RATE_LIMIT)? as f64,
            deploy_test_jwt_function: r.flag(keys::DEPLOY_TEST_JWT_FUNCTION, true)?,
            test_token_function_name: r.name(&checks::tokens::TEST_TOKEN_FUNCTION_NAME)?,
            manage_api_gateway_account: r.flag(keys::MANAGE_API_GATEWAY_ACCOUNT, false)?,
        })
    }
}

/// Any key in the project namespace this program does not read is a mistake worth stopping
/// for: `pulumi config set LogRetentionDay 30` would otherwise be ignored without a word.
fn refuse_unknown_keys(source: &dyn ConfigSource) -> Result<(), ConfigError> {
    let mut unknown: Vec<String> = source
        .keys()
        .into_iter()
        .filter(|key| !keys::ALL.contains(&key.as_str()))
        .collect();
    unknown.sort();
    match unknown.into_iter().next() {
        None => Ok(()),
        Some(key) => Err(ConfigError::Unknown {
            key,
            known: keys::ALL.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use wspush_contract::defaults;

    struct Map(HashMap<String, String>);

    impl ConfigSource for Map {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }

        fn keys(&self) -> Vec<String> {
            self.0.keys().cloned().collect()
        }
    }

    /// Reads `pairs`, with `SubscribePolicy` `*` unless `pairs` sets it (every stack must).
    fn read(pairs: &[(&str, &str)]) -> Result<StackConfig, ConfigError> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry(keys::SUBSCRIBE_POLICY.to_string())
            .or_insert_with(|| "*".to_string());
        StackConfig::read(&Map(map))
    }

    /// Reads exactly `pairs`.
    fn read_only(pairs: &[(&str, &str)]) -> Result<StackConfig, ConfigError> {
        StackConfig::read(&Map(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()))
    }

    #[test]
    fn defaults_come_from_the_contract() {
        let config = read(&[]).expect("defaults are valid");
        assert_eq!(config.stage_name, defaults::STAGE);
        assert_eq!(config.table_name, defaults::TABLE_NAME);
        assert_eq!(config.index_name, defaults::INDEX_NAME);
        assert_eq!(config.record_ttl_seconds, defaults::RECORD_TTL_SECONDS);
        assert_eq!(config.index_shards, defaults::INDEX_SHARDS);
        assert_eq!(
            config.push_plan,
            PushPlan {
                rate_limit: defaults::PUSH_RATE_LIMIT,
                threshold: defaults::PUSH_PLAN_THRESHOLD,
                batch_connections: defaults::PUSH_BATCH_CONNECTIONS,
            }
        );
        assert_eq!(config.architecture, Architecture::Arm64);
        assert_eq!(config.lambda_artifact, DEFAULT_LAMBDA_ARTIFACT);
        assert!(config.deploy_test_jwt_function);
        assert_eq!(config.custom_domain, None);
        assert!(!config.manage_api_gateway_account);
        assert_eq!(
            config.test_token_function_name,
            defaults::TEST_TOKEN_FUNCTION
        );
        assert_eq!(
            config.tokens,
            Tokens {
                issuer: None,
                audience: None,
                jwks_url: None,
                user_claim: None,
                leeway_seconds: defaults::JWT_LEEWAY_SECONDS,
                hs256_enabled: true,
                create_user_pool: false,
            }
        );
        assert_eq!(
            config.subscriptions,
            Subscriptions {
                policy: "*".into(),
                authorizer: None,
                max_per_connection: defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION as u64,
            }
        );
        assert_eq!(
            config.history,
            History {
                retention_seconds: defaults::HISTORY_RETENTION_SECONDS,
                max_messages: defaults::HISTORY_MAX_MESSAGES,
            }
        );
    }

    #[test]
    fn every_allowed_retention_is_accepted_and_the_error_lists_them() {
        for days in LOG_RETENTION_DAYS_ALLOWED {
            let value = days.to_string();
            let config = read(&[(keys::LOG_RETENTION_DAYS, &value)]).expect("allowed");
            assert_eq!(config.log_retention_days, days);
        }
        let err = read(&[(keys::LOG_RETENTION_DAYS, "10")]).expect_err("refused");
        let message = err.to_string();
        assert!(message.contains("`LogRetentionDays`"), "{message}");
        assert!(message.contains("1, 3, 5, 7, 14, 30"), "{message}");
        assert!(message.contains("3653"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones() {
        let err = read(&[("LogRetentionDay", "30")]).expect_err("refused");
        assert_eq!(
            err,
            ConfigError::Unknown {
                key: "LogRetentionDay".into(),
                known: keys::ALL.join(", "),
            }
        );
        let message = err.to_string();
        assert!(message.contains("`LogRetentionDay`"), "{message}");
        assert!(message.contains("LogRetentionDays"), "{message}");
    }

    #[test]
    fn every_checked_key_refuses_garbage_naming_the_key_and_what_is_allowed() {
        // Free text: the JWT claims, the artifact path (Pulumi reads it), the secret (read by
        // the program through the engine) and the domain keys (checked only with
        // DeployCustomDomain, below).
        let free_text = [
            keys::JWT_SECRET,
            keys::JWT_AUDIENCE,
            // Literal text is a valid rule (an entity id); its syntax is tested below.
            keys::SUBSCRIBE_POLICY,
            keys::LAMBDA_ARTIFACT,
            keys::DOMAIN_NAME,
            keys::HOSTED_ZONE_ID,
        ];
        for key in keys::ALL.into_iter().filter(|k| !free_text.contains(k)) {
            let err = read(&[(key, "not valid!")]).expect_err(key);
            let message = err.to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains("expected "), "{message}");
        }
        for (key, value) in [
            (keys::DOMAIN_NAME, "not valid!"),
            (keys::HOSTED_ZONE_ID, "Z/12"),
        ] {
            let mut pairs = vec![
                (keys::DEPLOY_CUSTOM_DOMAIN, "true"),
                (keys::DOMAIN_NAME, "ws.example.com"),
                (keys::HOSTED_ZONE_ID, "Z123"),
            ];
            pairs.retain(|(k, _)| *k != key);
            pairs.push((key, value));
            let err = read(&pairs).expect_err(key);
            assert!(err.to_string().contains(&format!("`{key}`")), "{err}");
        }
    }

    #[test]
    fn custom_domain_requires_both_keys_and_names_the_missing_one() {
        let err = read(&[(keys::DEPLOY_CUSTOM_DOMAIN, "true")]).expect_err("refused");
        assert_eq!(
            err,
            ConfigError::Missing {
                key: keys::DOMAIN_NAME,
                why: "DeployCustomDomain is true"
            }
        );
        assert!(err.to_string().contains("`DomainName`"), "{err}");

        let err = read(&[
            (keys::DEPLOY_CUSTOM_DOMAIN, "true"),
            (keys::DOMAIN_NAME, "ws.example.com"),
        ])
        .expect_err("refused");
        assert!(err.to_string().contains("`HostedZoneId`"), "{err}");
    }

    #[test]
    fn hosted_zone_prefix_is_stripped() {
        let config = read(&[
            (keys::DEPLOY_CUSTOM_DOMAIN, "true"),
            (keys::DOMAIN_NAME, "ws.example.com."),
            (keys::HOSTED_ZONE_ID, "/hostedzone/Z123"),
        ])
        .expect("valid");
        assert_eq!(
            config.custom_domain,
            Some(CustomDomain {
                domain_name: "ws.example.com".into(),
                hosted_zone_id: "Z123".into()
            })
        );
    }

    #[test]
    fn invalid_values_name_the_key_and_the_allowed_values() {
        for (key, value) in [
            (keys::DEPLOY_CUSTOM_DOMAIN, "yes please"),
            (keys::LAMBDA_ARCHITECTURE, "sparc"),
            (keys::RECORD_TTL_SECONDS, "-1"),
            (keys::STAGE_NAME, "a/b"),
            (keys::LOG_RETENTION_DAYS, "13"),
            (keys::LOG_RETENTION_DAYS, "-1"),
            (keys::LOG_RETENTION_DAYS, "forever"),
            (keys::RECORD_TTL_SECONDS, "3600"),
            (keys::LAMBDA_MEMORY_MB, "64"),
            (keys::PUSH_CONCURRENCY, "0"),
            (keys::PUSH_CONCURRENCY, "901"),
            (keys::PUSH_MAX_ATTEMPTS, "100"),
            (keys::PUSH_CLIENT, "fast"),
            (keys::THROTTLING_BURST_LIMIT, "1e9"),
            (keys::THROTTLING_RATE_LIMIT, "0"),
            (keys::TABLE_NAME, "my table"),
            (keys::INDEX_NAME, "ix"),
            (keys::TEST_TOKEN_FUNCTION_NAME, "Create:TestJwt"),
            (keys::MANAGE_API_GATEWAY_ACCOUNT, "1"),
            (keys::DEPLOY_TEST_JWT_FUNCTION, "no"),
            (keys::ALARM_EMAIL, "ops"),
            (keys::JWT_USER_CLAIM, "data..userId"),
            (keys::JWT_USER_CLAIM, "user id"),
            (keys::JWT_LEEWAY_SECONDS, "301"),
            (keys::JWT_HS256_ENABLED, "no"),
            (keys::CREATE_USER_POOL, "yes"),
            (keys::MAX_SUBSCRIPTIONS_PER_CONNECTION, "0"),
            (keys::MAX_SUBSCRIPTIONS_PER_CONNECTION, "10001"),
            (keys::HISTORY_RETENTION_SECONDS, "59"),
            (keys::HISTORY_RETENTION_SECONDS, "604801"),
            (keys::HISTORY_MAX_MESSAGES, "-1"),
            (keys::HISTORY_MAX_MESSAGES, "10001"),
            (keys::PUSH_RATE_LIMIT, "99"),
            (keys::PUSH_RATE_LIMIT, "2500001"),
            (keys::PUSH_PLAN_THRESHOLD, "0"),
            (keys::PUSH_PLAN_THRESHOLD, "1000001"),
            (keys::PUSH_BATCH_CONNECTIONS, "0"),
            (keys::PUSH_BATCH_CONNECTIONS, "5001"),
            (keys::INDEX_SHARDS, "0"),
            (keys::INDEX_SHARDS, "65"),
        ] {
            let err = read(&[(key, value)]).expect_err("refused");
            assert!(
                matches!(&err, ConfigError::Invalid { key: k, .. } if *k == key),
                "{key}={value}: {err}"
            );
            assert!(err.to_string().contains("expected "), "{err}");
        }
    }

    #[test]
    fn history_takes_its_bounds_and_zero_switches_streams_off() {
        for (retention, max) in [("60", "0"), ("604800", "10000"), ("3600", "1")] {
            let config = read(&[
                (keys::HISTORY_RETENTION_SECONDS, retention),
                (keys::HISTORY_MAX_MESSAGES, max),
            ])
            .expect("within bounds");
            assert_eq!(config.history.retention_seconds.to_string(), retention);
            assert_eq!(config.history.max_messages.to_string(), max);
        }
        let err = read(&[(keys::HISTORY_RETENTION_SECONDS, "30")]).expect_err("too short");
        let message = err.to_string();
        assert!(message.contains("`HistoryRetentionSeconds`"), "{message}");
        assert!(message.contains("from 60 to 604800"), "{message}");
        let err = read(&[(keys::HISTORY_MAX_MESSAGES, "20000")]).expect_err("too many");
        let message = err.to_string();
        assert!(message.contains("`HistoryMaxMessages`"), "{message}");
        assert!(message.contains("0 switches streams off"), "{message}");
    }

    #[test]
    fn the_push_plan_and_the_index_shards_take_their_bounds() {
        for (rate, threshold, batch, shards) in [
            ("100", "1", "1", "1"),
            ("2500000", "1000000", "5000", "64"),
            ("25000", "20000", "500", "8"),
        ] {
            let config = read(&[
                (keys::PUSH_RATE_LIMIT, rate),
                (keys::PUSH_PLAN_THRESHOLD, threshold),
                (keys::PUSH_BATCH_CONNECTIONS, batch),
                (keys::INDEX_SHARDS, shards),
            ])
            .expect("within bounds");
            assert_eq!(config.push_plan.rate_limit.to_string(), rate);
            assert_eq!(config.push_plan.threshold.to_string(), threshold);
            assert_eq!(config.push_plan.batch_connections.to_string(), batch);
            assert_eq!(config.index_shards.to_string(), shards);
        }
    }

    #[test]
    fn push_plan_and_index_shard_errors_name_the_key_and_the_bounds() {
        for (key, value, bounds) in [
            (keys::PUSH_RATE_LIMIT, "50", "from 100 to 2500000"),
            (keys::PUSH_PLAN_THRESHOLD, "0", "from 1 to 1000000"),
            (keys::PUSH_BATCH_CONNECTIONS, "6000", "from 1 to 5000"),
            (keys::INDEX_SHARDS, "100", "from 1 to 64"),
        ] {
            let message = read(&[(key, value)]).expect_err(key).to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains(bounds), "{message}");
        }
        let message = read(&[(keys::PUSH_RATE_LIMIT, "0")])
            .expect_err("too low")
            .to_string();
        assert!(
            message.contains("account's API Gateway throttle"),
            "{message}"
        );
        let message = read(&[(keys::INDEX_SHARDS, "0")])
            .expect_err("too low")
            .to_string();
        assert!(message.contains("raise it only"), "{message}");
    }

    #[test]
    fn test_jwt_function_can_be_left_out() {
        let config = read(&[(keys::DEPLOY_TEST_JWT_FUNCTION, "false")]).expect("valid");
        assert!(!config.deploy_test_jwt_function);
    }
    #[test]
    fn a_missing_subscribe_policy_names_the_key_the_choices_and_the_command() {
        let err = read_only(&[]).expect_err("refused");
        assert!(
            matches!(err, ConfigError::MissingChoice { key, .. } if key == keys::SUBSCRIBE_POLICY)
        );
        let message = err.to_string();
        for expected in [
            "`SubscribePolicy`",
            "every user may subscribe to every entity",
            "user/{sub}/*",
            "tenant/{org}/*",
            "pulumi config set SubscribePolicy 'user/{sub}/*'",
        ] {
            assert!(message.contains(expected), "{expected}: {message}");
        }
    }

    #[test]
    fn a_bad_subscribe_rule_is_named() {
        for (policy, rule) in [
            ("user/{sub/*", "user/{sub/*"),
            ("user/{}/*", "user/{}/*"),
            ("*/x", "*/x"),
            ("user/{sub}/*,,x", ""),
        ] {
            let err = read(&[(keys::SUBSCRIBE_POLICY, policy)]).expect_err(policy);
            assert!(
                matches!(&err, ConfigError::BadRule { key, rule: r, .. }
                    if *key == keys::SUBSCRIBE_POLICY && r == rule),
                "{policy}: {err}"
            );
            let message = err.to_string();
            assert!(message.contains("`SubscribePolicy`"), "{message}");
            assert!(message.contains(&format!("{rule:?}")), "{message}");
        }
        let config =
            read(&[(keys::SUBSCRIBE_POLICY, " user/{sub}/* , tenant/{org}/*")]).expect("valid");
        assert_eq!(config.subscriptions.policy, "user/{sub}/*,tenant/{org}/*");
    }

    #[test]
    fn identity_provider_urls_must_be_https() {
        for key in [keys::JWT_ISSUER, keys::JWKS_URL] {
            for url in [
                "http://idp.example.com/",
                "idp.example.com",
                "https://",
                "https:///x",
                "https://idp example.com",
            ] {
                let err = read(&[(key, url)]).expect_err(url);
                assert!(
                    matches!(&err, ConfigError::Invalid { key: k, .. } if *k == key),
                    "{key}={url}: {err}"
                );
                assert!(err.to_string().contains("https://"), "{err}");
            }
        }
        let config = read(&[
            (keys::JWT_ISSUER, "https://example.eu.auth0.com/"),
            (
                keys::JWKS_URL,
                "https://example.eu.auth0.com/.well-known/jwks.json",
            ),
            (keys::JWT_AUDIENCE, "https://api.example.com"),
            (keys::JWT_USER_CLAIM, "https://example.com/user.id"),
            (keys::JWT_LEEWAY_SECONDS, "0"),
        ])
        .expect("valid");
        // The issuer is compared with `iss` as it is: its trailing slash stays.
        assert_eq!(
            config.tokens.issuer.as_deref(),
            Some("https://example.eu.auth0.com/")
        );
        assert_eq!(config.tokens.leeway_seconds, 0);
    }

    #[test]
    fn the_user_pool_is_the_only_issuer() {
        let config = read(&[(keys::CREATE_USER_POOL, "true")]).expect("valid");
        assert!(config.tokens.create_user_pool);
        for key in [keys::JWT_ISSUER, keys::JWT_AUDIENCE, keys::JWKS_URL] {
            let err = read(&[
                (keys::CREATE_USER_POOL, "true"),
                (key, "https://idp.example.com/"),
            ])
            .expect_err(key);
            assert!(
                matches!(&err, ConfigError::Conflict { key: k, with, .. }
                    if *k == key && *with == keys::CREATE_USER_POOL),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains(&format!("`{key}`")), "{message}");
            assert!(message.contains("`CreateUserPool`"), "{message}");
        }
    }

    #[test]
    fn hs256_can_be_switched_off_only_with_a_provider_and_without_test_tokens() {
        let err = read(&[(keys::JWT_HS256_ENABLED, "false")]).expect_err("no provider");
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if *key == keys::JWT_HS256_ENABLED),
            "{err}"
        );
        let err = read(&[
            (keys::JWT_HS256_ENABLED, "false"),
            (keys::CREATE_USER_POOL, "true"),
        ])
        .expect_err("test tokens still deployed");
        assert!(
            matches!(&err, ConfigError::Invalid { key, .. } if *key == keys::DEPLOY_TEST_JWT_FUNCTION),
            "{err}"
        );
        for provider in [
            (keys::CREATE_USER_POOL, "true"),
            (keys::JWT_ISSUER, "https://idp.example.com"),
            (keys::JWKS_URL, "https://idp.example.com/keys"),
        ] {
            let config = read(&[
                (keys::JWT_HS256_ENABLED, "false"),
                (keys::DEPLOY_TEST_JWT_FUNCTION, "false"),
                provider,
            ])
            .expect("valid");
            assert!(!config.tokens.hs256_enabled);
        }
    }

    #[test]
    fn the_subscribe_hook_is_a_function_name_or_arn() {
        for (value, expected) in [
            (
                "may-subscribe",
                SubscribeAuthorizer::Name("may-subscribe".into()),
            ),
            (
                "may_subscribe:live",
                SubscribeAuthorizer::Name("may_subscribe:live".into()),
            ),
            (
                "hook:$LATEST",
                SubscribeAuthorizer::Name("hook:$LATEST".into()),
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:hook",
                SubscribeAuthorizer::Arn(
                    "arn:aws:lambda:eu-west-1:123456789012:function:hook".into(),
                ),
            ),
            (
                "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:hook:7",
                SubscribeAuthorizer::Arn(
                    "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:hook:7".into(),
                ),
            ),
        ] {
            let config = read(&[(keys::SUBSCRIBE_AUTHORIZER, value)]).expect(value);
            assert_eq!(config.subscriptions.authorizer, Some(expected));
        }
        for value in [
            "http://127.0.0.1:9000/hook",
            "my hook",
            "arn:aws:lambda:eu-west-1:1234:function:hook",
            "arn:aws:s3:::bucket",
            "arn:aws:lambda:eu-west-1:123456789012:function:",
            "a:b:c",
            &"x".repeat(65),
        ] {
            let err = read(&[(keys::SUBSCRIBE_AUTHORIZER, value)]).expect_err(value);
            assert!(
                matches!(&err, ConfigError::Invalid { key, .. } if *key == keys::SUBSCRIBE_AUTHORIZER),
                "{value}: {err}"
            );
        }
    }
}
