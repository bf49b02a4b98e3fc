//! Generates the AWS bindings from the committed, pruned schema (no Pulumi CLI, no network).
//!
//! `infra/schema/aws-subset.json` is rebuilt by hand with `infra/scripts/aws_schema_subset.py`
//! when the resource list changes; see that script for why the schema is rebuilt from the
//! `pulumi-aws` wheel and where it departs from the real one.

use std::path::Path;

/// Every module the schema holds; the filter keeps the generated code to these.
const MODULES: &[&str] = &[
    "acm",
    "apigateway",
    "apigatewayv2",
    "cloudwatch",
    "cognito",
    "dynamodb",
    "iam",
    "lambda",
    "route53",
    "secretsmanager",
    "sns",
    "sqs",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    pulumi_gestalt_build::generate_from_schema_with_filter(
        Path::new("schema/aws-subset.json"),
        MODULES,
    )?;
    Ok(())
}
