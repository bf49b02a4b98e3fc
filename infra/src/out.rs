//! Small helpers over gestalt's `Output`: joining many outputs into one value.
//!
//! Why: policies, environment maps and deployment triggers each depend on several resources.
//! `pulumi_combine!` takes a fixed number of outputs; these fold any number of them.

use std::collections::HashMap;

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};

/// All values of `outputs`, in order, once every one is known.
pub fn all(ctx: &Context, outputs: Vec<Output<String>>) -> Output<Vec<String>> {
    outputs
        .into_iter()
        .fold(ctx.new_output(&Vec::new()), |acc, next| {
            pulumi_combine!(acc, next).map(|(mut values, value)| {
                values.push(value);
                values
            })
        })
}

/// A string map whose values are outputs (environment variables, deployment triggers).
pub fn map(
    ctx: &Context,
    entries: Vec<(String, Output<String>)>,
) -> Output<HashMap<String, String>> {
    let (keys, values): (Vec<String>, Vec<Output<String>>) = entries.into_iter().unzip();
    all(ctx, values).map(move |values| keys.iter().cloned().zip(values).collect())
}
