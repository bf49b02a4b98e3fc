//! The stack configuration (`pulumi config set ...`), read and checked before anything is declared.
//!
//! Why a separate, pure step: a missing `DomainName` discovered halfway through the program would
//! leave a half-registered stack behind. [`StackConfig::read`] takes every plain value through a
//! [`ConfigSource`] and returns a typed error naming the key, so the whole check runs (and is unit
//! tested) before the first resource exists. The one secret, `JwtSecret`, is read by
//! `crate::read_jwt_secret` because only the engine can hand out secret outputs.

use wspush_contract::defaults;

/// Where plain (non-secret) configuration values come from: the Pulumi engine in the program, a
/// map in unit tests. `None` means the key is not set.
pub trait ConfigSource {
    fn get(&self, key: &str) -> Option<String>;
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
    pub const LOG_RETENTION_DAYS: &str = "LogRetentionDays";
    pub const PUSH_CONCURRENCY: &str = "PushConcurrency";
    pub const PUSH_MAX_ATTEMPTS: &str = "PushMaxAttempts";
    pub const THROTTLING_BURST_LIMIT: &str = "ThrottlingBurstLimit";
    pub const THROTTLING_RATE_LIMIT: &str = "ThrottlingRateLimit";
    pub const DEPLOY_TEST_JWT_FUNCTION: &str = "DeployCreateTestJwt";
    pub const DEPLOY_CUSTOM_DOMAIN: &str = "DeployCustomDomain";
    pub const DOMAIN_NAME: &str = "DomainName";
    pub const HOSTED_ZONE_ID: &str = "HostedZoneId";
    pub const ALARM_EMAIL: &str = "AlarmEmail";
    pub const MANAGE_API_GATEWAY_ACCOUNT: &str = "ManageApiGatewayAccount";
}

/// What `cargo lambda build --release --arm64 --output-format zip` writes, relative to the
/// project root (where `Pulumi.yaml` is and where the engine runs the program).
pub const DEFAULT_LAMBDA_ARTIFACT: &str = "target/lambda/bootstrap/bootstrap.zip";
pub const DEFAULT_LOG_RETENTION_DAYS: i32 = 14;
pub const DEFAULT_LAMBDA_MEMORY_MB: i32 = 256;
pub const DEFAULT_THROTTLING_BURST_LIMIT: i32 = 500;
pub const DEFAULT_THROTTLING_RATE_LIMIT: f64 = 1000.0;

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
    pub memory_mb: i32,
    pub log_retention_days: i32,
    pub push_concurrency: usize,
    pub push_max_attempts: u32,
    pub throttling_burst_limit: i32,
    pub throttling_rate_limit: f64,
    pub deploy_test_jwt_function: bool,
    pub custom_domain: Option<CustomDomain>,
    pub alarm_email: Option<String>,
    /// Whether this stack sets the region's API Gateway CloudWatch role (needed once per account
    /// and region before a WebSocket stage may write access logs).
    pub manage_api_gateway_account: bool,
}

impl StackConfig {
    /// Reads and checks every plain key; the first problem is returned.
    pub fn read(source: &dyn ConfigSource) -> Result<Self, ConfigError> {
        let text = |key: &str| source.get(key).filter(|v| !v.trim().is_empty());
        let custom_domain = if flag(
            keys::DEPLOY_CUSTOM_DOMAIN,
            text(keys::DEPLOY_CUSTOM_DOMAIN),
            false,
        )? {
            const WHY: &str = "DeployCustomDomain is true";
            let domain_name = text(keys::DOMAIN_NAME).ok_or(ConfigError::Missing {
                key: keys::DOMAIN_NAME,
                why: WHY,
            })?;
            let hosted_zone_id = text(keys::HOSTED_ZONE_ID).ok_or(ConfigError::Missing {
                key: keys::HOSTED_ZONE_ID,
                why: WHY,
            })?;
            // `aws route53 list-hosted-zones` prints `/hostedzone/Z123`; Route53 wants `Z123`.
            let hosted_zone_id = hosted_zone_id
                .trim()
                .trim_start_matches("/hostedzone/")
                .to_string();
            Some(CustomDomain {
                domain_name: domain_name.trim().trim_end_matches('.').to_string(),
                hosted_zone_id,
            })
        } else {
            None
        };
        let architecture = match text(keys::LAMBDA_ARCHITECTURE).as_deref().map(str::trim) {
            None | Some("arm64") => Architecture::Arm64,
            Some("x86_64") => Architecture::X86_64,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: keys::LAMBDA_ARCHITECTURE,
                    value: other.to_string(),
                    expected: "arm64 or x86_64",
                });
            }
        };
        let stage_name = text(keys::STAGE_NAME).unwrap_or_else(|| defaults::STAGE.to_string());
        if !stage_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || stage_name.len() > 128
        {
            return Err(ConfigError::Invalid {
                key: keys::STAGE_NAME,
                value: stage_name,
                expected: "1 to 128 letters, digits, '-' or '_'",
            });
        }
        Ok(Self {
            stage_name,
            table_name: text(keys::TABLE_NAME).unwrap_or_else(|| defaults::TABLE_NAME.to_string()),
            index_name: text(keys::INDEX_NAME).unwrap_or_else(|| defaults::INDEX_NAME.to_string()),
            record_ttl_seconds: number(
                keys::RECORD_TTL_SECONDS,
                text(keys::RECORD_TTL_SECONDS),
                defaults::RECORD_TTL_SECONDS,
            )?,
            jwt_issuer: text(keys::JWT_ISSUER),
            jwt_audience: text(keys::JWT_AUDIENCE),
            lambda_artifact: text(keys::LAMBDA_ARTIFACT)
                .unwrap_or_else(|| DEFAULT_LAMBDA_ARTIFACT.to_string()),
            architecture,
            memory_mb: small_number(
                keys::LAMBDA_MEMORY_MB,
                text(keys::LAMBDA_MEMORY_MB),
                DEFAULT_LAMBDA_MEMORY_MB,
            )?,
            log_retention_days: small_number(
                keys::LOG_RETENTION_DAYS,
                text(keys::LOG_RETENTION_DAYS),
                DEFAULT_LOG_RETENTION_DAYS,
            )?,
            push_concurrency: number(
                keys::PUSH_CONCURRENCY,
                text(keys::PUSH_CONCURRENCY),
                defaults::PUSH_CONCURRENCY as u64,
            )? as usize,
            push_max_attempts: small_number(
                keys::PUSH_MAX_ATTEMPTS,
                text(keys::PUSH_MAX_ATTEMPTS),
                defaults::PUSH_MAX_ATTEMPTS as i32,
            )? as u32,
            throttling_burst_limit: small_number(
                keys::THROTTLING_BURST_LIMIT,
                text(keys::THROTTLING_BURST_LIMIT),
                DEFAULT_THROTTLING_BURST_LIMIT,
            )?,
            throttling_rate_limit: small_number(
                keys::THROTTLING_RATE_LIMIT,
                text(keys::THROTTLING_RATE_LIMIT),
                DEFAULT_THROTTLING_RATE_LIMIT as i32,
            )?
            .into(),
            deploy_test_jwt_function: flag(
                keys::DEPLOY_TEST_JWT_FUNCTION,
                text(keys::DEPLOY_TEST_JWT_FUNCTION),
                true,
            )?,
            custom_domain,
            alarm_email: text(keys::ALARM_EMAIL),
            manage_api_gateway_account: flag(
                keys::MANAGE_API_GATEWAY_ACCOUNT,
                text(keys::MANAGE_API_GATEWAY_ACCOUNT),
                true,
            )?,
        })
    }
}

fn flag(key: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError::Invalid {
            key,
            value: other.to_string(),
            expected: "true or false",
        }),
    }
}

fn number(key: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 && n <= u64::from(u32::MAX) => Ok(n),
        _ => Err(ConfigError::Invalid {
            key,
            value,
            expected: "a whole number between 1 and 4294967295",
        }),
    }
}

/// A positive number that fits the `i32` properties of the AWS schema.
fn small_number(
    key: &'static str,
    value: Option<String>,
    default: i32,
) -> Result<i32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<i32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::Invalid {
            key,
            value,
            expected: "a whole number between 1 and 2147483647",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl ConfigSource for Map {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| v.to_string())
        }
    }

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<StackConfig, ConfigError> {
        StackConfig::read(&Map(pairs.iter().copied().collect()))
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
    fn invalid_values_name_the_key() {
        for (key, value) in [
            (keys::DEPLOY_CUSTOM_DOMAIN, "yes please"),
            (keys::LAMBDA_ARCHITECTURE, "sparc"),
            (keys::RECORD_TTL_SECONDS, "-1"),
            (keys::STAGE_NAME, "a/b"),
            (keys::LOG_RETENTION_DAYS, "0"),
        ] {
            let err = read(&[(key, value)]).expect_err("refused");
            assert!(
                matches!(&err, ConfigError::Invalid { key: k, .. } if *k == key),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn test_jwt_function_can_be_left_out() {
        let config = read(&[(keys::DEPLOY_TEST_JWT_FUNCTION, "false")]).expect("valid");
        assert!(!config.deploy_test_jwt_function);
    }
}
