//! Who may read what: the decision taken before a subscription is stored.
//!
//! A subscription is allowed when the [`policy`]'s templates allow it; only what they do not
//! allow goes to the application's [`hook`], when one is configured. Everything else is refused
//! with `Forbidden`, and the refusal is logged with the user and the entity (never the token).
//! The per-connection cap on subscriptions is part of the same decision's settings: it is
//! enforced by the store, which counts the connection's subscriptions atomically.

pub mod hook;
pub mod policy;

pub use hook::{HookAnswer, HookRequest, HookTarget, SubscribeHook};
pub use policy::{PolicyError, SubscribePolicy};

use crate::auth::Claims;

/// The subscribing connection, as the authorizer's context describes it.
#[derive(Clone, Copy, Debug)]
pub struct Subscriber<'a> {
    pub user_id: &'a str,
    pub claims: &'a Claims,
    pub connection_id: &'a str,
}

/// The decision on one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused, with what the client is told.
    Forbidden {
        message: String,
    },
}

/// The policy, the hook, and the cap on subscriptions per connection.
pub struct SubscribeAccess {
    policy: SubscribePolicy,
    hook: Option<SubscribeHook>,
    max_per_connection: usize,
}

impl SubscribeAccess {
    pub fn new(
        policy: SubscribePolicy,
        hook: Option<SubscribeHook>,
        max_per_connection: usize,
    ) -> Self {
        Self {
            policy,
            hook,
            max_per_connection: max_per_connection.max(1),
        }
    }

    /// Every entity for everyone, with the default cap: the quick start's behaviour, for
    /// tests and tools.
    pub fn allow_all() -> Self {
        Self::new(
            SubscribePolicy::parse("*").unwrap_or_else(|_| SubscribePolicy::deny_all()),
            None,
            wspush_contract::defaults::MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
    }

    pub fn policy(&self) -> &SubscribePolicy {
        &self.policy
    }

    pub fn hook(&self) -> Option<&SubscribeHook> {
        self.hook.as_ref()
    }

    pub fn max_per_connection(&self) -> usize {
        self.max_per_connection
    }

    /// Whether `who` may subscribe to `entity_id`: the templates first, then the hook.
    pub async fn decide(&self, who: Subscriber<'_>, entity_id: &str) -> Decision {
        if self.policy.allows(who.claims, entity_id) {
            return Decision::Allowed;
        }
        let answer = match &self.hook {
            Some(hook) => {
                let request = HookRequest {
                    user_id: who.user_id,
                    claims: who.claims.as_map(),
                    connection_id: who.connection_id,
                    entity_id,
                };
                hook.decide(&request).await
            }
            None => HookAnswer::default(),
        };
        if answer.allow {
            return Decision::Allowed;
        }
        tracing::warn!(
            user_id = who.user_id,
            connection_id = who.connection_id,
            entity_id,
            asked_hook = self.hook.is_some(),
            "subscription refused"
        );
        Decision::Forbidden {
            message: answer.message.unwrap_or_else(|| {
                format!("you may not subscribe to {entity_id:?}: the subscribe policy does not allow it")
            }),
        }
    }
}
