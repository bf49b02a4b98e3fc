//! IAM policy documents as plain data, rendered to the JSON strings the AWS resources take.
//!
//! Why not string templates: every role's permissions are the product's security boundary, and
//! the fake-engine tests parse these documents back to check each action and resource. Building
//! them from typed statements keeps them well-formed and makes "no wildcard action" a property
//! of the type ([`Statement::allow`] refuses one).

use serde_json::{Value, json};

/// One `Allow` statement: explicit actions on explicit resources, with optional conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

impl Statement {
    /// Panics on a wildcard action: that is a programming error in this crate, never input.
    pub fn allow(actions: &[&'static str], resources: Vec<String>) -> Self {
        assert!(
            actions.iter().all(|a| !a.contains('*')),
            "wildcard action in {actions:?}"
        );
        Self {
            actions: actions.to_vec(),
            resources,
            condition: None,
        }
    }

    pub fn with_condition(mut self, condition: Value) -> Self {
        self.condition = Some(condition);
        self
    }

    fn to_json(&self, principal: Option<&Value>) -> Value {
        let mut statement = json!({
            "Effect": "Allow",
            "Action": self.actions,
            "Resource": self.resources,
        });
        if let Some(principal) = principal {
            statement["Principal"] = principal.clone();
        }
        if let Some(condition) = &self.condition {
            statement["Condition"] = condition.clone();
        }
        statement
    }
}

/// An identity policy (attached to a role).
pub fn identity_policy(statements: &[Statement]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": statements.iter().map(|s| s.to_json(None)).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A resource policy (on a queue) granting one AWS service principal.
pub fn service_resource_policy(service: &str, statements: &[Statement]) -> String {
    let principal = json!({ "Service": service });
    json!({
        "Version": "2012-10-17",
        "Statement": statements.iter().map(|s| s.to_json(Some(&principal))).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The trust policy letting the Lambda service assume a function's role.
pub fn lambda_assume_role_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "lambda.amazonaws.com" },
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_policy_lists_actions_and_resources() {
        let doc = identity_policy(&[Statement::allow(
            &["dynamodb:Query"],
            vec!["arn:aws:dynamodb:r:1:table/t".into()],
        )]);
        let doc: Value = serde_json::from_str(&doc).expect("json");
        assert_eq!(doc["Statement"][0]["Action"], json!(["dynamodb:Query"]));
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!(["arn:aws:dynamodb:r:1:table/t"])
        );
        assert!(doc["Statement"][0].get("Principal").is_none());
    }

    #[test]
    #[should_panic(expected = "wildcard action")]
    fn wildcard_actions_are_refused() {
        let _ = Statement::allow(&["dynamodb:*"], vec![]);
    }

    #[test]
    fn resource_policy_names_the_service_and_condition() {
        let doc = service_resource_policy(
            "events.amazonaws.com",
            &[Statement::allow(&["sqs:SendMessage"], vec!["q".into()])
                .with_condition(json!({"ArnEquals": {"aws:SourceArn": "rule"}}))],
        );
        let doc: Value = serde_json::from_str(&doc).expect("json");
        assert_eq!(
            doc["Statement"][0]["Principal"]["Service"],
            "events.amazonaws.com"
        );
        assert_eq!(
            doc["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            "rule"
        );
    }
}
