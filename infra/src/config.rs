//! The stack configuration (`pulumi config set ...`), read and checked before anything is declared.
//!
//! Why a separate, pure step: a missing `DomainName` discovered halfway through the program would
//! leave a half-registered stack behind. [`StackConfig::read`] takes every plain value through a
//! [`ConfigSource`] and returns a typed error naming the key, so the whole check runs (and is unit
//! tested) before the first resource exists. The one secret, `JwtSecret`, is read by
//! [`engine::read_jwt_secret`] because only the engine can hand out secret outputs.

pub mod engine;

use wspush_contract::{defaults, limits, push_clients};

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
    pub const ALL: [&str; 24] = [
        JWT_SECRET,
        JWT_ISSUER,
        JWT_AUDIENCE,
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

/// What `scripts/build-lambda.sh` (`cargo lambda build --profile lambda --arm64 --output-format zip`) writes, relative to the
/// project root (where `Pulumi.yaml` is and where the engine runs the program).
pub const DEFAULT_LAMBDA_ARTIFACT: &str = "target/lambda/bootstrap/bootstrap.zip";
pub const DEFAULT_LOG_RETENTION_DAYS: i32 = 14;
/// The authorizer, the connection routes and CreateTestJwt: about 12 MiB resident at most
/// (measured, docs/deploy.md "Memory"), so Lambda's minimum is plenty.
pub const DEFAULT_LAMBDA_MEMORY_MB: i32 = 128;
/// The event consumer: 29 MiB resident for a 10,000-subscriber fan-out, but CPU is allotted in
/// proportion to memory, and 512 MB keeps the fan-out's CPU time under its network time.
pub const DEFAULT_EVENTS_MEMORY_MB: i32 = 512;
pub const DEFAULT_THROTTLING_BURST_LIMIT: i32 = 500;
pub const DEFAULT_THROTTLING_RATE_LIMIT: f64 = 1000.0;

/// The values CloudWatch Logs accepts for a log group's retention (`PutRetentionPolicy`); 0
/// keeps events forever (the provider's spelling of "no retention policy").
pub const LOG_RETENTION_DAYS_ALLOWED: [i32; 23] = [
    0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
/// `PushConcurrency`'s error message names the ceiling: this keeps the two the same.
const _: () = assert!(defaults::PUSH_CONCURRENCY_LIMIT == 900);

const LOG_RETENTION_EXPECTED: &str = "one of CloudWatch's retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, or 0 (never expire)";

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
}

/// The Lambda instruction set; arm64 (Graviton) is the default as in the issue.
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

/// Every plain setting of the stack, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    pub stage_name: String,
    pub table_name: String,
    pub index_name: String,
    pub record_ttl_seconds: u64,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
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

/// Reads one key at a time, with its checks; `text` is the trimmed, non-empty value.
struct Reader<'a> {
    source: &'a dyn ConfigSource,
}

impl Reader<'_> {
    fn text(&self, key: &str) -> Option<String> {
        self.source
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.text(key).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(invalid(key, other, "true or false")),
        }
    }

    /// A whole number in `range`, or `default` when unset.
    fn whole(
        &self,
        key: &'static str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
        expected: &'static str,
    ) -> Result<u64, ConfigError> {
        let Some(value) = self.text(key) else {
            return Ok(default);
        };
        match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(invalid(key, &value, expected)),
        }
    }

    /// A name made of the characters `allowed` accepts, `min..=max` long.
    fn name(
        &self,
        key: &'static str,
        default: &str,
        (min, max): (usize, usize),
        allowed: fn(char) -> bool,
        expected: &'static str,
    ) -> Result<String, ConfigError> {
        let value = self.text(key).unwrap_or_else(|| default.to_string());
        if value.len() < min || value.len() > max || !value.chars().all(allowed) {
            return Err(invalid(key, &value, expected));
        }
        Ok(value)
    }
}

fn invalid(key: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        expected,
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn dynamodb_name_char(c: char) -> bool {
    name_char(c) || c == '.'
}

fn hostname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.'
}

impl StackConfig {
    /// Reads and checks every plain key; the first problem is returned.
    pub fn read(source: &dyn ConfigSource) -> Result<Self, ConfigError> {
        refuse_unknown_keys(source)?;
        let r = Reader { source };
        let custom_domain = if r.flag(keys::DEPLOY_CUSTOM_DOMAIN, false)? {
            Some(read_custom_domain(&r)?)
        } else {
            None
        };
        let architecture = match r.text(keys::LAMBDA_ARCHITECTURE).as_deref() {
            None | Some("arm64") => Architecture::Arm64,
            Some("x86_64") => Architecture::X86_64,
            Some(other) => {
                return Err(invalid(keys::LAMBDA_ARCHITECTURE, other, "arm64 or x86_64"));
            }
        };
        let log_retention_days = r.whole(
            keys::LOG_RETENTION_DAYS,
            0..=3653,
            DEFAULT_LOG_RETENTION_DAYS as u64,
            LOG_RETENTION_EXPECTED,
        )? as i32;
        if !LOG_RETENTION_DAYS_ALLOWED.contains(&log_retention_days) {
            return Err(invalid(
                keys::LOG_RETENTION_DAYS,
                &log_retention_days.to_string(),
                LOG_RETENTION_EXPECTED,
            ));
        }
        let alarm_email = r.text(keys::ALARM_EMAIL);
        if let Some(email) = &alarm_email {
            let valid = email
                .split_once('@')
                .is_some_and(|(local, host)| !local.is_empty() && host.contains('.'))
                && !email.contains(char::is_whitespace);
            if !valid {
                return Err(invalid(
                    keys::ALARM_EMAIL,
                    email,
                    "an email address (name@example.com)",
                ));
            }
        }
        Ok(Self {
            stage_name: r.name(
                keys::STAGE_NAME,
                defaults::STAGE,
                (1, 128),
                name_char,
                "1 to 128 letters, digits, '-' or '_'",
            )?,
            table_name: r.name(
                keys::TABLE_NAME,
                defaults::TABLE_NAME,
                (3, 255),
                dynamodb_name_char,
                "a DynamoDB table name: 3 to 255 letters, digits, '-', '_' or '.'",
            )?,
            index_name: r.name(
                keys::INDEX_NAME,
                defaults::INDEX_NAME,
                (3, 255),
                dynamodb_name_char,
                "a DynamoDB index name: 3 to 255 letters, digits, '-', '_' or '.'",
            )?,
            record_ttl_seconds: r.whole(
                keys::RECORD_TTL_SECONDS,
                limits::MAX_CONNECTION_SECS..=u64::from(u32::MAX),
                defaults::RECORD_TTL_SECONDS,
                "a whole number of seconds from 7200 (API Gateway's 2-hour connection maximum) to 4294967295",
            )?,
            jwt_issuer: r.text(keys::JWT_ISSUER),
            jwt_audience: r.text(keys::JWT_AUDIENCE),
            lambda_artifact: r
                .text(keys::LAMBDA_ARTIFACT)
                .unwrap_or_else(|| DEFAULT_LAMBDA_ARTIFACT.to_string()),
            architecture,
            memory_mb: r.whole(
                keys::LAMBDA_MEMORY_MB,
                128..=10_240,
                DEFAULT_LAMBDA_MEMORY_MB as u64,
                "a whole number of MB from 128 to 10240 (Lambda's limits)",
            )? as i32,
            events_memory_mb: r.whole(
                keys::EVENTS_MEMORY_MB,
                128..=10_240,
                DEFAULT_EVENTS_MEMORY_MB as u64,
                "a whole number of MB from 128 to 10240 (Lambda's limits)",
            )? as i32,
            log_retention_days,
            // Every call in flight holds a socket, and a Lambda execution environment has 1,024
            // file descriptors: the ceiling leaves room for the runtime's own.
            push_concurrency: r.whole(
                keys::PUSH_CONCURRENCY,
                1..=defaults::PUSH_CONCURRENCY_LIMIT as u64,
                defaults::PUSH_CONCURRENCY as u64,
                "a whole number from 1 to 900 (a Lambda environment has 1,024 file descriptors)",
            )? as usize,
            push_max_attempts: r.whole(
                keys::PUSH_MAX_ATTEMPTS,
                1..=20,
                u64::from(defaults::PUSH_MAX_ATTEMPTS),
                "a whole number from 1 to 20",
            )? as u32,
            push_client: match r.text(keys::PUSH_CLIENT) {
                None => push_clients::SIGNED_HTTP.to_string(),
                Some(client) if push_clients::ALL.contains(&client.as_str()) => client,
                Some(other) => {
                    return Err(invalid(
                        keys::PUSH_CLIENT,
                        &other,
                        "signed-http (one signed HTTP request per push) or sdk (the AWS SDK client)",
                    ))
                }
            },
            throttling_burst_limit: r.whole(
                keys::THROTTLING_BURST_LIMIT,
                1..=5_000,
                DEFAULT_THROTTLING_BURST_LIMIT as u64,
                "a whole number from 1 to 5000 (the account's default burst)",
            )? as i32,
            throttling_rate_limit: r.whole(
                keys::THROTTLING_RATE_LIMIT,
                1..=10_000,
                DEFAULT_THROTTLING_RATE_LIMIT as u64,
                "a whole number of requests per second from 1 to 10000 (the account's default rate)",
            )? as f64,
            deploy_test_jwt_function: r.flag(keys::DEPLOY_TEST_JWT_FUNCTION, true)?,
            test_token_function_name: r.name(
                keys::TEST_TOKEN_FUNCTION_NAME,
                defaults::TEST_TOKEN_FUNCTION,
                (1, 64),
                name_char,
                "a Lambda function name: 1 to 64 letters, digits, '-' or '_'",
            )?,
            custom_domain,
            alarm_email,
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

fn read_custom_domain(r: &Reader<'_>) -> Result<CustomDomain, ConfigError> {
    const WHY: &str = "DeployCustomDomain is true";
    let domain_name = r.text(keys::DOMAIN_NAME).ok_or(ConfigError::Missing {
        key: keys::DOMAIN_NAME,
        why: WHY,
    })?;
    let hosted_zone_id = r.text(keys::HOSTED_ZONE_ID).ok_or(ConfigError::Missing {
        key: keys::HOSTED_ZONE_ID,
        why: WHY,
    })?;
    let domain_name = domain_name.trim_end_matches('.').to_ascii_lowercase();
    let labels_ok = domain_name
        .split('.')
        .all(|label| !label.is_empty() && label.len() <= 63 && !label.starts_with('-'));
    if !domain_name.contains('.')
        || domain_name.len() > 253
        || !labels_ok
        || !domain_name.chars().all(hostname_char)
    {
        return Err(invalid(
            keys::DOMAIN_NAME,
            &domain_name,
            "a fully qualified host name such as ws.example.com",
        ));
    }
    // `aws route53 list-hosted-zones` prints `/hostedzone/Z123`; Route53 wants `Z123`.
    let hosted_zone_id = hosted_zone_id
        .trim_start_matches("/hostedzone/")
        .to_string();
    if hosted_zone_id.is_empty()
        || hosted_zone_id.len() > 32
        || !hosted_zone_id.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid(
            keys::HOSTED_ZONE_ID,
            &hosted_zone_id,
            "a Route 53 hosted zone id such as Z0123456789ABC (`aws route53 list-hosted-zones`)",
        ));
    }
    Ok(CustomDomain {
        domain_name,
        hosted_zone_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<String, String>);

    impl ConfigSource for Map {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }

        fn keys(&self) -> Vec<String> {
            self.0.keys().cloned().collect()
        }
    }

    fn read(pairs: &[(&str, &str)]) -> Result<StackConfig, ConfigError> {
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
        assert_eq!(config.architecture, Architecture::Arm64);
        assert_eq!(config.lambda_artifact, DEFAULT_LAMBDA_ARTIFACT);
        assert!(config.deploy_test_jwt_function);
        assert_eq!(config.custom_domain, None);
        assert!(!config.manage_api_gateway_account);
        assert_eq!(
            config.test_token_function_name,
            defaults::TEST_TOKEN_FUNCTION
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
            keys::JWT_ISSUER,
            keys::JWT_AUDIENCE,
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
    fn test_jwt_function_can_be_left_out() {
        let config = read(&[(keys::DEPLOY_TEST_JWT_FUNCTION, "false")]).expect("valid");
        assert!(!config.deploy_test_jwt_function);
    }
}
