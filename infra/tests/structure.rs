//! The parts of the program import each other in one direction only, the direction the data
//! flows (`lib.rs` declares them in that order): a part may use what earlier parts return, never
//! a later part. Checked from the sources, so a new import circle fails here.

use std::collections::BTreeMap;

/// The declaration order of the parts (see the tour in `src/lib.rs`), and the helpers any part
/// may use.
const PARTS: [&str; 10] = [
    "config",
    "table",
    "api",
    "queues",
    "functions",
    "routes",
    "events",
    "alarms",
    "domain",
    "exports",
];
const HELPERS: [&str; 3] = ["aws", "out", "policy"];

fn imports(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.trim().strip_prefix("use crate::"))
        .filter_map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn parts_import_only_earlier_parts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (position, part) in PARTS.iter().enumerate() {
        let source = std::fs::read_to_string(format!("{dir}/{part}.rs"))
            .unwrap_or_else(|e| panic!("src/{part}.rs: {e}"));
        for import in imports(&source) {
            if HELPERS.contains(&import.as_str()) {
                continue;
            }
            let Some(at) = PARTS.iter().position(|p| *p == import) else {
                panic!(
                    "src/{part}.rs imports crate::{import}, which is neither a part nor a helper"
                );
            };
            assert!(
                at < position,
                "src/{part}.rs imports crate::{import}, a later part: data must flow one way"
            );
        }
        seen.insert(part, imports(&source));
    }
    // The helpers import no part.
    for helper in ["out", "policy"] {
        let source = std::fs::read_to_string(format!("{dir}/{helper}.rs")).expect("helper");
        for import in imports(&source) {
            assert!(
                !PARTS.contains(&import.as_str()),
                "src/{helper}.rs imports the part crate::{import}"
            );
        }
    }
    assert!(seen["functions"].contains(&"api".to_string()));
}
