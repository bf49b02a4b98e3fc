//! IAM's wildcard match and policy evaluation, as API Gateway applies an authorizer's policy.

use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};

/// Whether `statements` allow `execute-api:Invoke` on `method_arn`: some Allow statement
/// applies and no Deny statement does (an explicit deny wins, as in IAM).
pub fn allows_invoke(statements: &[IamPolicyStatement], method_arn: &str) -> bool {
    let applies = |actions: &[String], resources: &[String]| {
        actions.iter().any(|a| glob(a, "execute-api:Invoke"))
            && resources.iter().any(|r| glob(r, method_arn))
    };
    let mut allowed = false;
    for statement in statements {
        if !applies(&statement.action, &statement.resource) {
            continue;
        }
        match statement.effect {
            IamPolicyEffect::Deny => return false,
            IamPolicyEffect::Allow => allowed = true,
            // An effect IAM does not define allows nothing.
            _ => {}
        }
    }
    allowed
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_iam() {
        assert!(glob("*", "arn:aws:execute-api:x"));
        assert!(glob(
            "arn:aws:execute-api:*:*:local/production/*",
            "arn:aws:execute-api:us-east-1:0:local/production/$connect"
        ));
        assert!(glob("execute-api:Inv?ke", "execute-api:Invoke"));
        assert!(!glob("execute-api:Get*", "execute-api:Invoke"));
        assert!(!glob("a", "ab"));
    }
}
