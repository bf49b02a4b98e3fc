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
    /// The error message below names the ceiling: this keeps the two the same.
    const _: () = assert!(defaults::INDEX_SHARDS_LIMIT == 64);

    pub const INDEX_SHARDS: WholeKey = WholeKey {
        key: keys::INDEX_SHARDS,
        range: 1..=defaults::INDEX_SHARDS_LIMIT as u64,
        default: defaults::INDEX_SHARDS as u64,
        expected: "a whole number from 1 to 64, the index keys each entity's subscriptions are spread over; raise it only: every fan-out reads the keys below it, so lowering it hides the subscriptions written under the higher keys until they expire",
    };
    pub const RECORD_TTL_SECONDS: WholeKey = WholeKey {
        key: keys::RECORD_TTL_SECONDS,
        range: limits::MAX_CONNECTION_SECS..=u32::MAX as u64,
        default: defaults::RECORD_TTL_SECONDS,
        expected: "a whole number of seconds from 7200 (API Gateway's 2-hour connection maximum) to 4294967295",
    };
}

/// Each stream's history: how long a message is kept and how many a stream keeps, for resume
/// and `history`. Both bounds come from the contract the runtime and the gateway read.
pub(super) mod history {
    use wspush_contract::defaults;

    use crate::config::reader::{Reader, WholeKey};
    use crate::config::{ConfigError, History, keys};

    // The error messages below name the bounds: this keeps them the same.
    const _: () = assert!(defaults::HISTORY_MAX_RETENTION_SECONDS == 604_800);
    const _: () = assert!(defaults::HISTORY_MAX_MESSAGES_LIMIT == 10_000);

    pub const RETENTION_SECONDS: WholeKey = WholeKey {
        key: keys::HISTORY_RETENTION_SECONDS,
        range: 60..=defaults::HISTORY_MAX_RETENTION_SECONDS,
        default: defaults::HISTORY_RETENTION_SECONDS,
        expected: "a whole number of seconds from 60 to 604800 (a week), how long each message stays in its stream's history",
    };
    pub const MAX_MESSAGES: WholeKey = WholeKey {
        key: keys::HISTORY_MAX_MESSAGES,
        range: 0..=defaults::HISTORY_MAX_MESSAGES_LIMIT,
        default: defaults::HISTORY_MAX_MESSAGES,
        expected: "a whole number from 0 to 10000, the most messages each stream keeps (a resume replays at most that many); 0 switches streams off",
    };

    pub fn history(r: &Reader<'_>) -> Result<History, ConfigError> {
        Ok(History {
            retention_seconds: r.whole(&RETENTION_SECONDS)?,
            max_messages: r.whole(&MAX_MESSAGES)?,
        })
    }
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

/// The fan-out to `@connections`: how many calls in flight, how many tries, which client; and
/// when an event goes to the pushers, in batches of how many connections, at what rate.
pub(super) mod push {
    use wspush_contract::{defaults, push_clients, push_queue};

    use crate::config::reader::{Reader, WholeKey, invalid};
    use crate::config::{ConfigError, PushPlan, keys};

    /// The most `PushRateLimit` may be: the most pushers an event source mapping runs, each at
    /// its share.
    const MAX_RATE_LIMIT: u32 = push_queue::MAX_PUSHERS * push_queue::RATE_PER_PUSHER;

    // The error messages below name the bounds: this keeps them the same.
    const _: () = assert!(defaults::PUSH_CONCURRENCY_LIMIT == 900);
    const _: () = assert!(MAX_RATE_LIMIT == 2_500_000);
    const _: () = assert!(defaults::PUSH_BATCH_CONNECTIONS_LIMIT == 5_000);

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

    pub const RATE_LIMIT: WholeKey = WholeKey {
        key: keys::PUSH_RATE_LIMIT,
        range: 100..=MAX_RATE_LIMIT as u64,
        default: defaults::PUSH_RATE_LIMIT as u64,
        expected: "a whole number of @connections calls per second from 100 to 2500000 that the pushers share; at most the account's API Gateway throttle in the Region (10000 a second by default, 2500 in some Regions, more once AWS raised it)",
    };
    pub const PLAN_THRESHOLD: WholeKey = WholeKey {
        key: keys::PUSH_PLAN_THRESHOLD,
        range: 1..=1_000_000,
        default: defaults::PUSH_PLAN_THRESHOLD as u64,
        expected: "a whole number of recipients from 1 to 1000000, above which an event is handed to the pushers",
    };
    pub const BATCH_CONNECTIONS: WholeKey = WholeKey {
        key: keys::PUSH_BATCH_CONNECTIONS,
        range: 1..=defaults::PUSH_BATCH_CONNECTIONS_LIMIT as u64,
        default: defaults::PUSH_BATCH_CONNECTIONS as u64,
        expected: "a whole number of connections per push batch from 1 to 5000",
    };

    pub fn plan(r: &Reader<'_>) -> Result<PushPlan, ConfigError> {
        Ok(PushPlan {
            rate_limit: r.whole(&RATE_LIMIT)? as u32,
            threshold: r.whole(&PLAN_THRESHOLD)? as usize,
            batch_connections: r.whole(&BATCH_CONNECTIONS)? as usize,
        })
    }

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
    use crate::config::reader::Reader;
    use crate::config::{ConfigError, keys};

    /// An address shaped `name@host.tld` without whitespace, or `None` when unset.
    pub fn email(r: &Reader<'_>) -> Result<Option<String>, ConfigError> {
        let valid = |email: &str| {
            email
                .split_once('@')
                .is_some_and(|(local, host)| !local.is_empty() && host.contains('.'))
                && !email.contains(char::is_whitespace)
        };
        r.optional(
            keys::ALARM_EMAIL,
            valid,
            "an email address (name@example.com)",
        )
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

/// How client tokens are verified: the identity provider (`JwtIssuer`, `JwksUrl`, or the user
/// pool `CreateUserPool` declares), the claims, and whether the HS256 test tokens still connect.
pub(super) mod identity {
    use wspush_contract::defaults;

    use crate::config::reader::{Reader, WholeKey, invalid};
    use crate::config::{ConfigError, Tokens, keys};

    pub const LEEWAY_SECONDS: WholeKey = WholeKey {
        key: keys::JWT_LEEWAY_SECONDS,
        range: 0..=300,
        default: defaults::JWT_LEEWAY_SECONDS,
        expected: "a whole number of seconds from 0 to 300 (the clock skew tolerated on a token's exp and nbf)",
    };

    /// Every token key, with the combinations that cannot work refused.
    pub fn tokens(r: &Reader<'_>) -> Result<Tokens, ConfigError> {
        let tokens = Tokens {
            issuer: https_url(
                r,
                keys::JWT_ISSUER,
                "the identity provider's issuer: an https:// URL spelt exactly as its tokens' `iss` claim (https://example.eu.auth0.com/)",
            )?,
            audience: r.text(keys::JWT_AUDIENCE),
            jwks_url: https_url(
                r,
                keys::JWKS_URL,
                "an https:// URL of the provider's JSON Web Key Set (the functions fetch it over the internet)",
            )?,
            user_claim: user_claim(r)?,
            leeway_seconds: r.whole(&LEEWAY_SECONDS)?,
            hs256_enabled: r.flag(keys::JWT_HS256_ENABLED, true)?,
            create_user_pool: r.flag(keys::CREATE_USER_POOL, false)?,
        };
        refuse_a_second_issuer(&tokens)?;
        refuse_unusable_hs256_switch(r, &tokens)?;
        Ok(tokens)
    }

    /// An `https://` URL with a host, or `None` when unset. Plain `http://` is refused: the
    /// functions fetch keys from it across the internet.
    fn https_url(
        r: &Reader<'_>,
        key: &'static str,
        expected: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        let valid = |url: &str| {
            url.strip_prefix("https://")
                .is_some_and(|rest| !rest.starts_with(['/', '?', '#']) && !rest.is_empty())
                && !url.contains(char::is_whitespace)
        };
        r.optional(key, valid, expected)
    }

    /// A claim name or dotted path (`sub`, `data.userId`, `custom:tenant`).
    fn user_claim(r: &Reader<'_>) -> Result<Option<String>, ConfigError> {
        let valid = |claim: &str| {
            !claim.contains(char::is_whitespace)
                && claim.split('.').all(|segment| !segment.is_empty())
        };
        r.optional(
            keys::JWT_USER_CLAIM,
            valid,
            "a claim name or a dotted path to a nested claim (sub, email, data.userId), without spaces",
        )
    }

    /// The user pool is the issuer and its app client the audience: one issuer per stack.
    fn refuse_a_second_issuer(tokens: &Tokens) -> Result<(), ConfigError> {
        if !tokens.create_user_pool {
            return Ok(());
        }
        let set = [
            (keys::JWT_ISSUER, tokens.issuer.is_some()),
            (keys::JWT_AUDIENCE, tokens.audience.is_some()),
            (keys::JWKS_URL, tokens.jwks_url.is_some()),
        ];
        match set.into_iter().find(|(_, is_set)| *is_set) {
            None => Ok(()),
            Some((key, _)) => Err(ConfigError::Conflict {
                key,
                with: keys::CREATE_USER_POOL,
                why: "the user pool CreateUserPool declares is the issuer, its app client the audience, and its keys are found through the issuer (one identity provider per stack; set CreateUserPool false to use another)",
            }),
        }
    }

    /// `JwtHs256Enabled false` needs another way to verify tokens, and makes CreateTestJwt's
    /// tokens useless.
    fn refuse_unusable_hs256_switch(r: &Reader<'_>, tokens: &Tokens) -> Result<(), ConfigError> {
        if tokens.hs256_enabled {
            return Ok(());
        }
        let has_provider =
            tokens.issuer.is_some() || tokens.jwks_url.is_some() || tokens.create_user_pool;
        if !has_provider {
            return Err(invalid(
                keys::JWT_HS256_ENABLED,
                "false",
                "true unless an identity provider is configured (JwtIssuer, JwksUrl or CreateUserPool): without one no token could connect",
            ));
        }
        if r.flag(keys::DEPLOY_TEST_JWT_FUNCTION, true)? {
            return Err(invalid(
                keys::DEPLOY_TEST_JWT_FUNCTION,
                "true",
                "false when JwtHs256Enabled is false: CreateTestJwt mints HS256 tokens the authorizer would refuse (`pulumi config set DeployCreateTestJwt false`)",
            ));
        }
        Ok(())
    }
}

/// Who may subscribe to what (`SubscribePolicy`, required: a deployment must choose), the
/// application's hook for the rest (`SubscribeAuthorizer`), and the cap per connection.
pub(super) mod subscriptions {
    use wspush_contract::{defaults, subscribe_policy};

    use crate::config::reader::{Reader, WholeKey, invalid, name_char};
    use crate::config::{ConfigError, SubscribeAuthorizer, Subscriptions, keys};

    /// What the error for a missing `SubscribePolicy` offers.
    pub const POLICY_CHOICES: &str = "  *                            every user may subscribe to every entity: anyone with a valid token reads every entity's updates (the quick start's behaviour)
  user/{sub}/*                 a user may subscribe only to entity ids that start with user/<the token's sub claim>/
  tenant/{org}/*               only to entity ids under the tenant the token's org claim names
  user/{sub}/*,tenant/{org}/*  either (rules are separated by commas; one matching rule allows)";
    pub const POLICY_EXAMPLE: &str = "user/{sub}/*";

    pub const MAX_PER_CONNECTION: WholeKey = WholeKey {
        key: keys::MAX_SUBSCRIPTIONS_PER_CONNECTION,
        range: 1..=10_000,
        default: defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION as u64,
        expected: "a whole number from 1 to 10000",
    };

    pub fn subscriptions(r: &Reader<'_>) -> Result<Subscriptions, ConfigError> {
        Ok(Subscriptions {
            policy: policy(r)?,
            authorizer: authorizer(r)?,
            max_per_connection: r.whole(&MAX_PER_CONNECTION)?,
        })
    }

    /// Required, with no default: an error listing the common choices when unset.
    fn policy(r: &Reader<'_>) -> Result<String, ConfigError> {
        let policy = r
            .text(keys::SUBSCRIBE_POLICY)
            .ok_or(ConfigError::MissingChoice {
                key: keys::SUBSCRIBE_POLICY,
                why: "it decides which entities each user may subscribe to, and a deployment must choose",
                choices: POLICY_CHOICES,
                example: POLICY_EXAMPLE,
            })?;
        // The functions' own parser: a rule preview accepts is one they accept.
        subscribe_policy::normalize(&policy).map_err(|bad| ConfigError::BadRule {
            key: keys::SUBSCRIBE_POLICY,
            rule: bad.rule,
            problem: bad.problem,
        })
    }

    const AUTHORIZER_EXPECTED: &str = "a Lambda function of this stack's account and region: its name (my-authorizer, or my-authorizer:live for an alias) or its ARN (arn:aws:lambda:<region>:<account>:function:<name>)";

    fn authorizer(r: &Reader<'_>) -> Result<Option<SubscribeAuthorizer>, ConfigError> {
        let Some(value) = r.text(keys::SUBSCRIBE_AUTHORIZER) else {
            return Ok(None);
        };
        let parsed = if value.starts_with("arn:") {
            lambda_arn(&value).then(|| SubscribeAuthorizer::Arn(value.clone()))
        } else {
            qualified_name(&value).then(|| SubscribeAuthorizer::Name(value.clone()))
        };
        parsed
            .map(Some)
            .ok_or_else(|| invalid(keys::SUBSCRIBE_AUTHORIZER, &value, AUTHORIZER_EXPECTED))
    }

    /// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    fn lambda_arn(value: &str) -> bool {
        let parts: Vec<&str> = value.splitn(7, ':').collect();
        let region = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        matches!(
            parts.as_slice(),
            ["arn", partition, "lambda", region_part, account, "function", name]
                if partition.starts_with("aws")
                    && region(region_part)
                    && account.len() == 12
                    && account.chars().all(|c| c.is_ascii_digit())
                    && qualified_name(name)
        )
    }

    /// A function name (1 to 64 letters, digits, `-`, `_`) with an optional `:alias` or
    /// `:version`.
    fn qualified_name(value: &str) -> bool {
        let (name, qualifier) = match value.split_once(':') {
            Some((name, qualifier)) => (name, Some(qualifier)),
            None => (value, None),
        };
        let name_ok = (1..=64).contains(&name.len()) && name.chars().all(name_char);
        let qualifier_ok = qualifier.is_none_or(|q| {
            (1..=128).contains(&q.len()) && q.chars().all(|c| name_char(c) || c == '$')
        });
        name_ok && qualifier_ok
    }
}
