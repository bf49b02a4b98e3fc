//! The environment of each function, in groups of what it reads: each function gets only
//! the variables it reads (names from `wspush_contract::env`).

use pulumi_gestalt_rust::Output;
use wspush_contract::{env, push_queue};

use super::Inputs;

/// The environment of each function, in groups of what it reads.
impl Inputs<'_> {
    pub(super) fn constant(&self, value: String) -> Output<String> {
        self.ctx.new_output(&value)
    }

    /// What every function reads (the log format), then `extra`.
    pub(super) fn common_env(
        &self,
        extra: Vec<(&str, Output<String>)>,
    ) -> Vec<(String, Output<String>)> {
        let mut vars = vec![(env::LOG_FORMAT.to_string(), self.constant("json".into()))];
        vars.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        vars
    }

    /// The expected issuer and audience, when there are any (configured, or the user pool's).
    pub(super) fn issuer_env(&self) -> Vec<(&'static str, Output<String>)> {
        let identity = self.identity;
        [
            (env::JWT_ISSUER, &identity.issuer),
            (env::JWT_AUDIENCE, &identity.audience),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
        .collect()
    }

    /// How the authorizer verifies a token: issuer, audience, key set, user claim, leeway and
    /// whether HS256 tokens are accepted.
    pub(super) fn verification_env(&self) -> Vec<(&'static str, Output<String>)> {
        let tokens = &self.config.tokens;
        let mut vars = self.issuer_env();
        let optional = [
            (env::JWKS_URL, &tokens.jwks_url),
            (env::JWT_USER_CLAIM, &tokens.user_claim),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                vars.push((name, self.constant(value.clone())));
            }
        }
        vars.push(self.leeway_env());
        vars.push((
            env::JWT_HS256_ENABLED,
            self.constant(tokens.hs256_enabled.to_string()),
        ));
        vars
    }

    /// The clock skew on `exp`: the routes and the fan-out end a connection with its token.
    pub(super) fn leeway_env(&self) -> (&'static str, Output<String>) {
        let seconds = self.config.tokens.leeway_seconds.to_string();
        (env::JWT_LEEWAY_SECONDS, self.constant(seconds))
    }

    pub(super) fn subscribe_policy(&self) -> Output<String> {
        self.constant(self.config.subscriptions.policy.clone())
    }

    /// What the functions that use the table read.
    pub(super) fn table_env(&self) -> Vec<(&'static str, Output<String>)> {
        vec![
            (env::TABLE_NAME, self.table.name.clone()),
            (
                env::INDEX_NAME,
                self.constant(self.config.index_name.clone()),
            ),
            (
                env::RECORD_TTL_SECONDS,
                self.constant(self.config.record_ttl_seconds.to_string()),
            ),
            // Every function that writes or reads subscriptions spreads them over these keys.
            (
                env::INDEX_SHARDS,
                self.constant(self.config.index_shards.to_string()),
            ),
        ]
    }

    /// What each stream's history keeps: the consumer writes it, the routes and the pushers
    /// read it.
    pub(super) fn history_env(&self) -> Vec<(&'static str, Output<String>)> {
        let history = &self.config.history;
        vec![
            (
                env::HISTORY_RETENTION_SECONDS,
                self.constant(history.retention_seconds.to_string()),
            ),
            (
                env::HISTORY_MAX_MESSAGES,
                self.constant(history.max_messages.to_string()),
            ),
        ]
    }

    /// How a function reaches `@connections`.
    pub(super) fn connections_env(&self) -> Vec<(&'static str, Output<String>)> {
        vec![
            (
                env::MANAGEMENT_ENDPOINT,
                self.api.management_endpoint.clone(),
            ),
            (
                env::PUSH_CLIENT,
                self.constant(self.config.push_client.clone()),
            ),
        ]
    }

    /// The table, `@connections` (expired connections), the policy, the hook and the cap.
    pub(super) fn connection_env(&self) -> Vec<(&'static str, Output<String>)> {
        let subscriptions = &self.config.subscriptions;
        let mut vars = self.table_env();
        vars.extend(self.history_env());
        vars.extend(self.connections_env());
        vars.push(self.leeway_env());
        vars.push((env::SUBSCRIBE_POLICY, self.subscribe_policy()));
        if let Some(arn) = &self.subscribe_authorizer_arn {
            vars.push((env::SUBSCRIBE_AUTHORIZER, arn.clone()));
        }
        vars.push((
            env::MAX_SUBSCRIPTIONS_PER_CONNECTION,
            self.constant(subscriptions.max_per_connection.to_string()),
        ));
        vars
    }

    /// What a function that pushes reads: the table (cleaning up gone connections), history
    /// (the consumer writes it, the pushers read frames from it), how it reaches
    /// `@connections`, the token leeway and how hard it pushes.
    fn pushing_env(&self) -> Vec<(&'static str, Output<String>)> {
        let config = self.config;
        let mut vars = self.table_env();
        vars.extend(self.history_env());
        vars.extend(self.connections_env());
        vars.push(self.leeway_env());
        vars.extend([
            (
                env::PUSH_CONCURRENCY,
                self.constant(config.push_concurrency.to_string()),
            ),
            (
                env::PUSH_MAX_ATTEMPTS,
                self.constant(config.push_max_attempts.to_string()),
            ),
        ]);
        vars
    }

    /// What the pushers read, when to hand an event to them and in batches of how many
    /// connections, and where refused records go.
    pub(super) fn events_env(&self) -> Vec<(&'static str, Output<String>)> {
        let plan = &self.config.push_plan;
        let mut vars = self.pushing_env();
        vars.extend([
            (env::PUSH_QUEUE_URL, self.queues.push.url.clone()),
            (
                env::PUSH_PLAN_THRESHOLD,
                self.constant(plan.threshold.to_string()),
            ),
            (
                env::PUSH_BATCH_CONNECTIONS,
                self.constant(plan.batch_connections.to_string()),
            ),
            (
                env::DEAD_LETTER_QUEUES,
                self.queues.events.dead_letter_routes(self.ctx),
            ),
        ]);
        vars
    }

    /// What a function that pushes reads, each pusher's share of `PushRateLimit`, and where
    /// refused push batches go.
    pub(super) fn pusher_env(&self) -> Vec<(&'static str, Output<String>)> {
        let rate = push_queue::rate_per_pusher(self.config.push_plan.rate_limit);
        let mut vars = self.pushing_env();
        vars.extend([
            (env::PUSH_MAX_RATE, self.constant(rate.to_string())),
            (
                env::DEAD_LETTER_QUEUES,
                self.queues.push.dead_letter_route(),
            ),
        ]);
        vars
    }
}
