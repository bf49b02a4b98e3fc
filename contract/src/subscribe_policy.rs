//! The syntax of the subscribe policy (`SUBSCRIBE_POLICY`), read by the infrastructure
//! program at preview, by the functions at cold start and by the local gateway at start.
//!
//! Why here: the three must accept exactly the same rules. A rule the functions refused after
//! `pulumi up` had replaced them would stop every subscription; parsed by one function, a
//! rule `pulumi preview` accepts is a rule the functions accept.
//!
//! A policy is comma-separated rules. A rule is literal text with `{claim.path}` placeholders
//! and an optional `*` at its very end (any suffix); `*` alone allows every entity. Refused: an
//! empty rule, an unclosed `{`, a `{` inside a placeholder, a `}` without its `{`, an empty `{}`,
//! a claim path with an empty segment or a space, a `*` anywhere but at the end of its rule.
//! What a rule means (matching entity ids against a token's claims) is the runtime's.

use std::fmt;

/// A piece of a rule: literal text, or the claim at a dotted path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Claim(String),
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `*` alone: every entity.
    Everything,
    /// Its parts, in order, then any suffix when `any_suffix`.
    Template { parts: Vec<Part>, any_suffix: bool },
}

/// A rule that is refused, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRule {
    pub rule: String,
    pub problem: &'static str,
}

impl fmt::Display for BadRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscribe policy rule {:?}: {}", self.rule, self.problem)
    }
}

impl std::error::Error for BadRule {}

/// The rules of `policy`, each trimmed, or the first bad one.
pub fn parse(policy: &str) -> Result<Vec<Rule>, BadRule> {
    policy
        .split(',')
        .map(str::trim)
        .map(|rule| {
            parse_rule(rule).map_err(|problem| BadRule {
                rule: rule.to_string(),
                problem,
            })
        })
        .collect()
}

/// The policy as the functions get it: each rule trimmed, joined by `,`; or the first bad rule.
pub fn normalize(policy: &str) -> Result<String, BadRule> {
    parse(policy)?;
    Ok(policy
        .split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(","))
}

fn parse_rule(rule: &str) -> Result<Rule, &'static str> {
    if rule.is_empty() {
        return Err("the rule is empty (two commas in a row, or a comma at either end)");
    }
    if rule == "*" {
        return Ok(Rule::Everything);
    }
    let (body, any_suffix) = match rule.strip_suffix('*') {
        Some(body) => (body, true),
        None => (rule, false),
    };
    let mut parts = Vec::new();
    let mut text = String::new();
    // The claim path being read, `None` outside a placeholder.
    let mut claim: Option<String> = None;
    for c in body.chars() {
        claim = match (c, claim) {
            ('*', _) => return Err("a `*` before the end of the rule: `*` may only end a rule"),
            ('{', Some(_)) => return Err("a `{` inside a placeholder: close it with `}` first"),
            ('{', None) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                Some(String::new())
            }
            ('}', None) => return Err("a `}` without its `{`"),
            ('}', Some(path)) => {
                parts.push(Part::Claim(check_path(path)?));
                None
            }
            (c, Some(mut path)) => {
                path.push(c);
                Some(path)
            }
            (c, None) => {
                text.push(c);
                None
            }
        };
    }
    if claim.is_some() {
        return Err("a `{` that is never closed");
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(Rule::Template { parts, any_suffix })
}

fn check_path(path: String) -> Result<String, &'static str> {
    if path.is_empty() {
        return Err("an empty placeholder `{}`: name a claim, as in `{sub}`");
    }
    if path.split('.').any(str::is_empty) || path.contains(char::is_whitespace) {
        return Err("a placeholder that is not a claim path (names joined by dots, no spaces)");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_policies_are_accepted_and_trimmed() {
        for (policy, normalized) in [
            ("*", "*"),
            ("user/{sub}/*", "user/{sub}/*"),
            (
                "user/{sub}/*, tenant/{org}/*",
                "user/{sub}/*,tenant/{org}/*",
            ),
            ("project/{projects}/*", "project/{projects}/*"),
            ("{data.userId}", "{data.userId}"),
            (
                "orders/{custom:tenant}-{sub}",
                "orders/{custom:tenant}-{sub}",
            ),
            ("public/*,*", "public/*,*"),
        ] {
            assert_eq!(normalize(policy), Ok(normalized.to_string()), "{policy}");
        }
    }

    #[test]
    fn rules_read_as_their_parts() {
        let rules = parse("*, user/{sub}/*, t/{org.id}-{sub}").expect("parses");
        let text = |t: &str| Part::Text(t.to_string());
        let claim = |c: &str| Part::Claim(c.to_string());
        assert_eq!(
            rules,
            [
                Rule::Everything,
                Rule::Template {
                    parts: vec![text("user/"), claim("sub"), text("/")],
                    any_suffix: true
                },
                Rule::Template {
                    parts: vec![text("t/"), claim("org.id"), text("-"), claim("sub")],
                    any_suffix: false
                },
            ]
        );
    }

    #[test]
    fn bad_rules_are_named_with_the_reason() {
        for (policy, rule, problem) in [
            ("user/{sub/*", "user/{sub/*", "never closed"),
            ("user/{sub", "user/{sub", "never closed"),
            ("user/{}/*", "user/{}/*", "empty placeholder"),
            ("*/user", "*/user", "may only end a rule"),
            ("user/*/{sub}", "user/*/{sub}", "may only end a rule"),
            ("{*}", "{*}", "may only end a rule"),
            ("user/{sub}/*,,tenant/{org}/*", "", "empty"),
            ("user/{sub}/*,", "", "empty"),
            ("", "", "empty"),
            ("a/{b{c}}", "a/{b{c}}", "inside a placeholder"),
            ("a/b}", "a/b}", "without its `{`"),
            ("ok/*, bad/{", "bad/{", "never closed"),
            ("u/{a..b}", "u/{a..b}", "not a claim path"),
            ("u/{a b}", "u/{a b}", "not a claim path"),
        ] {
            let bad = normalize(policy).expect_err(policy);
            assert_eq!(bad.rule, rule, "{policy}");
            assert!(bad.problem.contains(problem), "{policy}: {}", bad.problem);
            assert!(bad.to_string().contains(&format!("{rule:?}")), "{bad}");
        }
    }
}
