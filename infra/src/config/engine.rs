//! The configuration as the Pulumi engine hands it to the program: the plain keys behind
//! [`ConfigSource`] for [`StackConfig::read`](super::StackConfig::read), and the one secret.
//!
//! The only place configuration touches gestalt, so the checks in [`super`] stay pure and unit
//! tested without an engine.

use pulumi_gestalt_rust::{Context, Output};

use super::{ConfigError, ConfigSource, keys};

/// Plain configuration values from the engine (`PULUMI_CONFIG`), in the project namespace.
pub struct EngineConfig<'a>(pub &'a Context);

/// The variable through which the language host hands the stack's configuration to the
/// program: a JSON object of `namespace:key` to value (secrets included, decrypted).
const PULUMI_CONFIG: &str = "PULUMI_CONFIG";

impl ConfigSource for EngineConfig<'_> {
    fn get(&self, key: &str) -> Option<String> {
        // `require_config` errors both for a missing key and for a secret one; a secret where a
        // plain value is expected reads as missing, which the typed errors then name.
        self.0.require_config(None, key).ok()
    }

    fn keys(&self) -> Vec<String> {
        // Gestalt reads one key at a time and cannot list them, so the list comes from the
        // same variable gestalt reads. Unparsable or absent means no keys to check.
        let prefix = format!("{}:", self.0.get_project());
        std::env::var(PULUMI_CONFIG)
            .ok()
            .and_then(|json| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json).ok()
            })
            .map(|config| {
                config
                    .keys()
                    .filter_map(|key| key.strip_prefix(&prefix).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The HS256 signing secret, which must be set with `--secret` so it never lands in plain text
/// in the stack state.
pub fn read_jwt_secret(ctx: &Context) -> Result<Output<String>, ConfigError> {
    if ctx.require_config(None, keys::JWT_SECRET).is_ok() {
        return Err(ConfigError::NotSecret {
            key: keys::JWT_SECRET,
        });
    }
    ctx.require_config_secret(None, keys::JWT_SECRET)
        .map_err(|_| ConfigError::Missing {
            key: keys::JWT_SECRET,
            why: "it signs and verifies the client tokens",
        })
}
