//! The syntax of `SubscribePolicy` (the functions' `SUBSCRIBE_POLICY`), checked at preview.
//!
//! Why here as well as in the runtime: a rule the functions cannot parse fails their start,
//! after `pulumi up` has replaced them; a bad rule found by `pulumi preview` costs nothing. The
//! syntax is the one the functions and the local gateway read: a policy is comma-separated
//! rules; a rule is literal text with `{claim.path}` placeholders and an optional `*` at its very
//! end (any suffix); `*` alone allows every entity. Refused: an empty rule, an unclosed `{`, a
//! `{` inside a placeholder, a `}` without its `{`, an empty `{}`, a `*` anywhere but at the end
//! of its rule.

/// A rule the functions would refuse, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRule {
    pub rule: String,
    pub problem: &'static str,
}

/// The policy with each rule trimmed, joined by `,` (what the functions get), or the first bad
/// rule.
pub fn normalize(policy: &str) -> Result<String, BadRule> {
    let rules: Vec<&str> = policy.split(',').map(str::trim).collect();
    for rule in &rules {
        check_rule(rule).map_err(|problem| BadRule {
            rule: rule.to_string(),
            problem,
        })?;
    }
    Ok(rules.join(","))
}

/// Why `rule` is refused, if it is.
fn check_rule(rule: &str) -> Result<(), &'static str> {
    if rule.is_empty() {
        return Err("the rule is empty (two commas in a row, or a comma at either end)");
    }
    // The length of the open placeholder's claim path, `None` outside a placeholder.
    let mut placeholder: Option<usize> = None;
    for (at, c) in rule.char_indices() {
        placeholder = match (c, placeholder) {
            ('{', Some(_)) => return Err("a `{` inside a placeholder: close it with `}` first"),
            ('{', None) => Some(0),
            ('}', None) => return Err("a `}` without its `{`"),
            ('}', Some(0)) => return Err("an empty placeholder `{}`: name a claim, as in `{sub}`"),
            ('}', Some(_)) => None,
            ('*', _) if at + 1 < rule.len() => {
                return Err("a `*` before the end of the rule: `*` may only end a rule");
            }
            (_, Some(length)) => Some(length + 1),
            (_, None) => None,
        };
    }
    match placeholder {
        Some(_) => Err("a `{` that is never closed"),
        None => Ok(()),
    }
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
        ] {
            let bad = normalize(policy).expect_err(policy);
            assert_eq!(bad.rule, rule, "{policy}");
            assert!(bad.problem.contains(problem), "{policy}: {}", bad.problem);
        }
    }
}
