//! What each plain key accepts, grouped by what it configures. Keys with a range or a name
//! shape are declared as data ([`WholeKey`], [`NameKey`]); keys with their own rules have a small
//! function. [`StackConfig::read`](super::StackConfig::read) applies them.

/// The API stage: its name and its default route throttling.
pub(super) mod stage {
    use wspush_contract::defaults;

    use crate::config::reader::{NameKey, WholeKey, name_char};
    use crate::config::{DEFAULT_THROTTLING_BURST_LIMIT, DEFAULT_THROTTLING_RATE_LIMIT, keys};

    pub const NAME: NameKey = NameKey {
        key: keys::STAGE_NAME,
        default: defaults::STAGE,
        length: 1..=128,
        allowed: name_char,
        expected: "1 to 128 letters, digits, '-' or '_'",
    };
    pub const THROTTLING_BURST_LIMIT: WholeKey = WholeKey {
        key: keys::THROTTLING_BURST_LIMIT,
        range: 1..=5_000,
        default: DEFAULT_THROTTLING_BURST_LIMIT as u64,
        expected: "a whole number from 1 to 5000 (the account's default burst)",
    };
    pub const THROTTLING_RATE_LIMIT: WholeKey = WholeKey {
        key: keys::THROTTLING_RATE_LIMIT,
        range: 1..=10_000,
        default: DEFAULT_THROTTLING_RATE_LIMIT as u64,
        expected: "a whole number of requests per second from 1 to 10000 (the account's default rate)",
    };
}

/// The DynamoDB table: its names and how long a record outlives its connection.
pub(super) mod table {
    use wspush_contract::{defaults, limits};

    use crate::config::keys;
    use crate::config::reader::{NameKey, WholeKey, dynamodb_name_char};

    pub const NAME: NameKey = NameKey {
        key: keys::TABLE_NAME,
        default: defaults::TABLE_NAME,
        length: 3..=255,
        allowed: dynamodb_name_char,
        expected: "a DynamoDB table name: 3 to 255 letters, digits, '-', '_' or '.'",
    };
    pub const INDEX_NAME: NameKey = NameKey {
        key: keys::INDEX_NAME,
        default: defaults::INDEX_NAME,
        length: 3..=255,
        allowed: dynamodb_name_char,
        expected: "a DynamoDB index name: 3 to 255 letters, digits, '-', '_' or '.'",
    };
    pub const RECORD_TTL_SECONDS: WholeKey = WholeKey {
        key: keys::RECORD_TTL_SECONDS,
        range: limits::MAX_CONNECTION_SECS..=u32::MAX as u64,
        default: defaults::RECORD_TTL_SECONDS,
        expected: "a whole number of seconds from 7200 (API Gateway's 2-hour connection maximum) to 4294967295",
    };
}

/// The Lambda functions: artifact, instruction set, memory and log retention.
pub(super) mod functions {
    use crate::config::reader::{Reader, WholeKey, invalid};
    use crate::config::{
        Architecture, ConfigError, DEFAULT_EVENTS_MEMORY_MB, DEFAULT_LAMBDA_ARTIFACT,
        DEFAULT_LAMBDA_MEMORY_MB, DEFAULT_LOG_RETENTION_DAYS, LOG_RETENTION_DAYS_ALLOWED, keys,
    };

    pub fn artifact(r: &Reader<'_>) -> String {
        r.text(keys::LAMBDA_ARTIFACT)
            .unwrap_or_else(|| DEFAULT_LAMBDA_ARTIFACT.to_string())
    }

    pub fn architecture(r: &Reader<'_>) -> Result<Architecture, ConfigError> {
        match r.text(keys::LAMBDA_ARCHITECTURE).as_deref() {
            None | Some("arm64") => Ok(Architecture::Arm64),
            Some("x86_64") => Ok(Architecture::X86_64),
            Some(other) => Err(invalid(keys::LAMBDA_ARCHITECTURE, other, "arm64 or x86_64")),
        }
    }

    pub const MEMORY_MB: WholeKey = WholeKey {
        key: keys::LAMBDA_MEMORY_MB,
        range: 128..=10_240,
        default: DEFAULT_LAMBDA_MEMORY_MB as u64,
        expected: "a whole number of MB from 128 to 10240 (Lambda's limits)",
    };
    pub const EVENTS_MEMORY_MB: WholeKey = WholeKey {
        key: keys::EVENTS_MEMORY_MB,
        range: 128..=10_240,
        default: DEFAULT_EVENTS_MEMORY_MB as u64,
        expected: "a whole number of MB from 128 to 10240 (Lambda's limits)",
    };

    const LOG_RETENTION_EXPECTED: &str = "one of CloudWatch's retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, or 0 (never expire)";
    const LOG_RETENTION_DAYS: WholeKey = WholeKey {
        key: keys::LOG_RETENTION_DAYS,
        range: 0..=3653,
        default: DEFAULT_LOG_RETENTION_DAYS as u64,
        expected: LOG_RETENTION_EXPECTED,
    };

    /// A whole number of days that is also one of CloudWatch's retention periods.
    pub fn log_retention_days(r: &Reader<'_>) -> Result<i32, ConfigError> {
        let days = r.whole(&LOG_RETENTION_DAYS)? as i32;
        if !LOG_RETENTION_DAYS_ALLOWED.contains(&days) {
            return Err(invalid(
                keys::LOG_RETENTION_DAYS,
                &days.to_string(),
                LOG_RETENTION_EXPECTED,
            ));
        }
        Ok(days)
    }
}

/// The fan-out to `@connections`: how many calls in flight, how many tries, which client.
pub(super) mod push {
    use wspush_contract::{defaults, push_clients};

    use crate::config::reader::{Reader, WholeKey, invalid};
    use crate::config::{ConfigError, keys};

    /// The error message below names the ceiling: this keeps the two the same.
    const _: () = assert!(defaults::PUSH_CONCURRENCY_LIMIT == 900);

    // Every call in flight holds a socket, and a Lambda execution environment has 1,024 file
    // descriptors: the ceiling leaves room for the runtime's own.
    pub const CONCURRENCY: WholeKey = WholeKey {
        key: keys::PUSH_CONCURRENCY,
        range: 1..=defaults::PUSH_CONCURRENCY_LIMIT as u64,
        default: defaults::PUSH_CONCURRENCY as u64,
        expected: "a whole number from 1 to 900 (a Lambda environment has 1,024 file descriptors)",
    };
    pub const MAX_ATTEMPTS: WholeKey = WholeKey {
        key: keys::PUSH_MAX_ATTEMPTS,
        range: 1..=20,
        default: defaults::PUSH_MAX_ATTEMPTS as u64,
        expected: "a whole number from 1 to 20",
    };

    /// One of `push_clients::ALL`, `signed-http` when unset.
    pub fn client(r: &Reader<'_>) -> Result<String, ConfigError> {
        match r.text(keys::PUSH_CLIENT) {
            None => Ok(push_clients::SIGNED_HTTP.to_string()),
            Some(client) if push_clients::ALL.contains(&client.as_str()) => Ok(client),
            Some(other) => Err(invalid(
                keys::PUSH_CLIENT,
                &other,
                "signed-http (one signed HTTP request per push) or sdk (the AWS SDK client)",
            )),
        }
    }
}

/// The token-minting function `CreateTestJwt`.
pub(super) mod tokens {
    use wspush_contract::defaults;

    use crate::config::keys;
    use crate::config::reader::{NameKey, name_char};

    pub const TEST_TOKEN_FUNCTION_NAME: NameKey = NameKey {
        key: keys::TEST_TOKEN_FUNCTION_NAME,
        default: defaults::TEST_TOKEN_FUNCTION,
        length: 1..=64,
        allowed: name_char,
        expected: "a Lambda function name: 1 to 64 letters, digits, '-' or '_'",
    };
}

/// Where the dead-letter alarms are mailed, besides the topic.
pub(super) mod alarms {
    use crate::config::reader::{Reader, invalid};
    use crate::config::{ConfigError, keys};

    /// An address shaped `name@host.tld` without whitespace, or `None` when unset.
    pub fn email(r: &Reader<'_>) -> Result<Option<String>, ConfigError> {
        let Some(email) = r.text(keys::ALARM_EMAIL) else {
            return Ok(None);
        };
        let valid = email
            .split_once('@')
            .is_some_and(|(local, host)| !local.is_empty() && host.contains('.'))
            && !email.contains(char::is_whitespace);
        if !valid {
            return Err(invalid(
                keys::ALARM_EMAIL,
                &email,
                "an email address (name@example.com)",
            ));
        }
        Ok(Some(email))
    }
}

/// The optional custom domain: both keys are required once `DeployCustomDomain` is true.
pub(super) mod domain {
    use crate::config::reader::{Reader, hostname_char, invalid};
    use crate::config::{ConfigError, CustomDomain, keys};

    /// `None` unless `DeployCustomDomain` is true.
    pub fn custom_domain(r: &Reader<'_>) -> Result<Option<CustomDomain>, ConfigError> {
        const WHY: &str = "DeployCustomDomain is true";
        if !r.flag(keys::DEPLOY_CUSTOM_DOMAIN, false)? {
            return Ok(None);
        }
        let domain_name = r.text(keys::DOMAIN_NAME).ok_or(ConfigError::Missing {
            key: keys::DOMAIN_NAME,
            why: WHY,
        })?;
        let hosted_zone_id = r.text(keys::HOSTED_ZONE_ID).ok_or(ConfigError::Missing {
            key: keys::HOSTED_ZONE_ID,
            why: WHY,
        })?;
        Ok(Some(CustomDomain {
            domain_name: checked_domain_name(&domain_name)?,
            hosted_zone_id: checked_hosted_zone_id(&hosted_zone_id)?,
        }))
    }

    /// A fully qualified host name, lower case, without the root's trailing dot.
    fn checked_domain_name(value: &str) -> Result<String, ConfigError> {
        let domain_name = value.trim_end_matches('.').to_ascii_lowercase();
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
        Ok(domain_name)
    }

    /// A Route 53 zone id. `aws route53 list-hosted-zones` prints `/hostedzone/Z123`; Route53
    /// wants `Z123`.
    fn checked_hosted_zone_id(value: &str) -> Result<String, ConfigError> {
        let hosted_zone_id = value.trim_start_matches("/hostedzone/").to_string();
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
        Ok(hosted_zone_id)
    }
}
