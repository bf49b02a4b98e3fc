//! The subscribe policy: which entity ids a token's holder may subscribe to, declared as
//! templates (`SUBSCRIBE_POLICY`).
//!
//! `user/{sub}/*,tenant/{org}/*` reads: the entities under `user/` followed by the token's
//! `sub`, and those under `tenant/` followed by its `org`. A rule is literal text with `{claim}`
//! placeholders (a dotted path for nested claims) and an optional trailing `*` for any suffix;
//! `*` alone allows every entity. A claim holding a list matches when any of its values does,
//! so `project/{projects}/*` serves a token listing the projects its holder may read.
//!
//! A claim's value is matched as literal text: a `*` inside it is no wildcard, and a rule
//! whose claim is missing, empty, or not text, a number or a list of them never matches.
//! Rules are parsed once, at cold start, with the contract's parser (`pulumi preview` uses the
//! same), so a bad rule stops the function (and the local gateway) with a message naming it,
//! instead of refusing subscriptions one by one.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;
use wspush_contract::subscribe_policy::{self, Part, Rule};

use crate::auth::Claims;

/// Values of one list claim considered at most: a token is not a database.
const MAX_LIST_VALUES: usize = 1_000;

pub use wspush_contract::subscribe_policy::BadRule as PolicyError;

/// The parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribePolicy {
    text: String,
    rules: Vec<Rule>,
}

impl SubscribePolicy {
    /// Reads a comma-separated list of rules (the syntax is the contract's, which
    /// `pulumi preview` checks too).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        Ok(Self {
            text: text.trim().to_string(),
            rules: subscribe_policy::parse(text)?,
        })
    }

    /// A policy no subscription satisfies (no rule at all).
    pub fn deny_all() -> Self {
        Self {
            text: String::new(),
            rules: Vec::new(),
        }
    }

    pub fn allows_all(&self) -> bool {
        self.rules.contains(&Rule::Everything)
    }

    /// Whether any rule matches `entity_id` with these claims.
    pub fn allows(&self, claims: &Claims, entity_id: &str) -> bool {
        self.rules.iter().any(|rule| match rule {
            Rule::Everything => true,
            Rule::Template { parts, any_suffix } => matches(parts, *any_suffix, claims, entity_id),
        })
    }

    /// Every claim path a rule names: the claims the authorizer must pass on to the routes.
    pub fn claim_paths(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .flat_map(|rule| match rule {
                Rule::Everything => &[][..],
                Rule::Template { parts, .. } => parts.as_slice(),
            })
            .filter_map(|part| match part {
                Part::Claim(path) => Some(path.as_str()),
                Part::Text(_) => None,
            })
            .collect()
    }
}

impl fmt::Display for SubscribePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `parts` (then any suffix, if allowed) spell `entity_id` exactly.
fn matches(parts: &[Part], any_suffix: bool, claims: &Claims, entity_id: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return any_suffix || entity_id.is_empty();
    };
    match first {
        Part::Text(text) => entity_id
            .strip_prefix(text.as_str())
            .is_some_and(|left| matches(rest, any_suffix, claims, left)),
        Part::Claim(path) => claim_values(claims, path).iter().any(|value| {
            entity_id
                .strip_prefix(value.as_str())
                .is_some_and(|left| matches(rest, any_suffix, claims, left))
        }),
    }
}

/// The texts a claim stands for: a string or a number, or each of a list of them; never an
/// empty one.
fn claim_values(claims: &Claims, path: &str) -> Vec<String> {
    let scalar = |value: &Value| match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    match claims.get(path) {
        Some(Value::Array(values)) => values
            .iter()
            .take(MAX_LIST_VALUES)
            .filter_map(scalar)
            .collect(),
        Some(value) => scalar(value).into_iter().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn allowed(policy: &str, claims: Value, entity_id: &str) -> bool {
        let claims = Claims::try_from(claims).expect("claims are an object");
        SubscribePolicy::parse(policy)
            .expect("policy parses")
            .allows(&claims, entity_id)
    }

    #[test]
    fn templates_match_the_holders_own_entities_only() {
        let policy = "user/{sub}/*,tenant/{org}/*";
        let alice = json!({"sub": "alice", "org": "acme"});
        assert!(allowed(policy, alice.clone(), "user/alice/orders/7"));
        assert!(allowed(policy, alice.clone(), "tenant/acme/board"));
        assert!(!allowed(policy, alice.clone(), "user/bob/orders/7"));
        assert!(!allowed(policy, alice.clone(), "user/alice"));
        assert!(!allowed(policy, alice.clone(), "tenant/acme2/board"));
        assert!(!allowed(policy, json!({"sub": "alice"}), "tenant//board"));
        assert!(!allowed(policy, json!({"sub": ""}), "user//x"));
    }

    #[test]
    fn star_alone_allows_everything_and_exact_rules_allow_one_id() {
        assert!(allowed("*", json!({}), "anything at all"));
        assert!(allowed("news, user/{sub}", json!({"sub": "a"}), "news"));
        assert!(allowed("news, user/{sub}", json!({"sub": "a"}), "user/a"));
        assert!(!allowed(
            "news, user/{sub}",
            json!({"sub": "a"}),
            "user/a/b"
        ));
        assert!(!allowed("news", json!({}), "newsroom"));
    }

    #[test]
    fn list_claims_match_any_value_and_nested_paths_resolve() {
        let token = json!({"projects": ["p1", "p2", 7, {"x": 1}], "data": {"userId": "q"}});
        assert!(allowed(
            "project/{projects}/*",
            token.clone(),
            "project/p2/doc"
        ));
        assert!(allowed(
            "project/{projects}/*",
            token.clone(),
            "project/7/doc"
        ));
        assert!(!allowed(
            "project/{projects}/*",
            token.clone(),
            "project/p3/doc"
        ));
        assert!(allowed("u/{data.userId}", token.clone(), "u/q"));
    }

    #[test]
    fn a_claims_text_is_literal_never_a_wildcard() {
        let token = json!({"sub": "*"});
        assert!(allowed("user/{sub}", token.clone(), "user/*"));
        assert!(!allowed("user/{sub}", token, "user/bob"));
    }

    #[test]
    fn bad_rules_are_named() {
        let err = SubscribePolicy::parse("user/{sub}/*, a/*/b").expect_err("a * inside");
        assert_eq!(err.rule, "a/*/b");
        assert!(err.to_string().contains("may only end a rule"), "{err}");
    }

    #[test]
    fn claim_paths_are_what_the_authorizer_passes_on() {
        let policy = SubscribePolicy::parse("user/{sub}/*,t/{org.id}/{sub}").expect("parses");
        assert_eq!(
            policy.claim_paths().into_iter().collect::<Vec<_>>(),
            ["org.id", "sub"]
        );
    }
}
