//! Who may connect and what they may read, as the gateway's options say: the identity
//! provider whose tokens connect (besides the HS256 test tokens), the subscribe policy, the
//! application's subscribe hook and the cap on subscriptions per connection.
//!
//! The options are the deployed functions' environment (`wspush_contract::env`) under the
//! gateway's own names, read into the runtime's settings, so the gateway decides exactly as
//! the deployed functions do. The policy defaults to `*` here, the quick start's behaviour, and
//! the banner says so; a deployment must choose its own.

use std::sync::Arc;

use anyhow::Context;
use wspush_contract::defaults;
use wspush_runtime::access::{HookTarget, SubscribePolicy};
use wspush_runtime::auth::fetch::check_url;
use wspush_runtime::auth::ProviderKeys;
use wspush_runtime::config::{AccessSettings, JwtSettings};

/// The authorization options of the gateway's command line.
#[derive(Clone, Debug, clap::Args)]
pub struct AuthorizationArgs {
    /// The identity provider's issuer (`iss`): its tokens connect, verified with the keys its
    /// /.well-known/openid-configuration names. https://, or http:// on a loopback address.
    #[arg(long, env = "WSPUSH_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The audience tokens must carry (`aud`, or Cognito's `client_id`).
    #[arg(long, env = "WSPUSH_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The provider's JSON Web Key Set, when its issuer publishes no discovery document.
    #[arg(long, env = "WSPUSH_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// The claim naming the user, a dotted path (default: data.userId, else sub).
    #[arg(long, env = "WSPUSH_JWT_USER_CLAIM")]
    pub jwt_user_claim: Option<String>,
    /// Seconds of clock skew tolerated on a token's exp and nbf.
    #[arg(long, env = "WSPUSH_JWT_LEEWAY_SECS", default_value_t = defaults::JWT_LEEWAY_SECONDS)]
    pub jwt_leeway_secs: u64,
    /// Whether HS256 tokens signed with the JWT secret connect (the test tokens).
    #[arg(long, env = "WSPUSH_JWT_HS256_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub jwt_hs256_enabled: bool,
    /// Who may subscribe to what: entity-id templates such as 'user/{sub}/*,tenant/{org}/*';
    /// '*' allows every entity.
    #[arg(long, env = "WSPUSH_SUBSCRIBE_POLICY", default_value = defaults::LOCAL_SUBSCRIBE_POLICY)]
    pub subscribe_policy: String,
    /// The application's decision on subscriptions the policy does not allow: an http:// URL
    /// on a loopback address, POSTed {userId, claims, connectionId, entityId}.
    #[arg(long, env = "WSPUSH_SUBSCRIBE_AUTHORIZER")]
    pub subscribe_authorizer: Option<String>,
    /// Subscriptions one connection may hold.
    #[arg(long, env = "WSPUSH_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION)]
    pub max_subscriptions_per_connection: usize,
}

/// The runtime's settings for tokens and subscriptions, as the gateway runs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationSettings {
    pub jwt: JwtSettings,
    pub access: AccessSettings,
}

impl Default for AuthorizationSettings {
    /// The quick start's: HS256 test tokens, every entity for everyone.
    fn default() -> Self {
        Self {
            jwt: JwtSettings::default(),
            access: AccessSettings {
                policy: SubscribePolicy::parse(defaults::LOCAL_SUBSCRIBE_POLICY).ok(),
                hook: None,
                max_subscriptions_per_connection: defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION,
            },
        }
    }
}

impl AuthorizationArgs {
    /// The settings, every value checked as the deployed functions check it.
    pub fn settings(&self, region: &str) -> anyhow::Result<AuthorizationSettings> {
        for (flag, url) in [
            ("--jwt-issuer", &self.jwt_issuer),
            ("--jwks-url", &self.jwks_url),
        ] {
            if let Some(url) = url {
                check_url(url, flag).map_err(anyhow::Error::msg)?;
            }
        }
        anyhow::ensure!(
            self.jwt_leeway_secs <= 3600,
            "--jwt-leeway-secs must be at most 3600"
        );
        anyhow::ensure!(
            self.max_subscriptions_per_connection > 0,
            "--max-subscriptions-per-connection must be above 0"
        );
        let policy = SubscribePolicy::parse(&self.subscribe_policy)
            .map_err(|e| anyhow::anyhow!("--subscribe-policy: {e}"))?;
        let hook = self
            .subscribe_authorizer
            .as_deref()
            .map(|target| match HookTarget::parse(target, region) {
                Ok(HookTarget::Function { name, .. }) => Err(format!(
                    "{name:?} is a Lambda function; locally the hook is a URL (http://127.0.0.1:PORT/path)"
                )),
                other => other,
            })
            .transpose()
            .map_err(|e| anyhow::anyhow!("--subscribe-authorizer: {e}"))?;
        Ok(AuthorizationSettings {
            jwt: JwtSettings {
                issuer: self.jwt_issuer.clone(),
                audience: self.jwt_audience.clone(),
                jwks_url: self.jwks_url.clone(),
                user_claim: self.jwt_user_claim.clone(),
                leeway_secs: self.jwt_leeway_secs,
                hs256_enabled: self.jwt_hs256_enabled,
            },
            access: AccessSettings {
                policy: Some(policy),
                hook,
                max_subscriptions_per_connection: self.max_subscriptions_per_connection,
            },
        })
    }
}

/// The identity provider's keys, fetched before the gateway listens (as the deployed
/// authorizer fetches them during init); `None` without a provider.
pub async fn provider_keys(jwt: &JwtSettings) -> anyhow::Result<Option<Arc<ProviderKeys>>> {
    let Some(source) = jwt.key_source() else {
        return Ok(None);
    };
    let keys = ProviderKeys::fetch(&source)
        .await
        .context("the identity provider's keys could not be loaded (is it running?)")?;
    Ok(Some(Arc::new(keys)))
}

/// One line for the banner: which tokens connect, and who may subscribe to what.
pub fn describe(settings: &AuthorizationSettings, keys: Option<&ProviderKeys>) -> String {
    let tokens = match (keys, settings.jwt.hs256_enabled) {
        (Some(keys), true) => format!("tokens of {} and HS256 test tokens", keys.jwks_url()),
        (Some(keys), false) => format!("tokens of {} only", keys.jwks_url()),
        (None, _) => "HS256 tokens".to_string(),
    };
    let policy = match &settings.access.policy {
        Some(policy) if policy.allows_all() => {
            "subscribe policy * (every user may subscribe to every entity; --subscribe-policy restricts it)".to_string()
        }
        Some(policy) => format!("subscribe policy {policy}"),
        None => "no subscribe policy".to_string(),
    };
    let hook = match &settings.access.hook {
        Some(HookTarget::Url(url)) => format!(", subscribe hook {url}"),
        Some(HookTarget::Function { name, .. }) => format!(", subscribe hook function {name}"),
        None => String::new(),
    };
    format!(
        "{tokens}; {policy}{hook}; at most {} subscriptions per connection",
        settings.access.max_subscriptions_per_connection
    )
}
