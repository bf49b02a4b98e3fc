//! What references what, recovered from the registrations the fake engine recorded, and the
//! resource diagram drawn from it (`docs/infra-diagram*.svg`).
//!
//! Why from the registrations and not from a hand-drawn picture: the program is the only truth
//! about what gets deployed. Gestalt sends the engine no dependencies, so the edges are found
//! the way a reader of the state would: a resource uses another when one of its inputs holds
//! one of the other's outputs (its id, ARN, URL, name ...), whole or as a delimited part
//! (`integrations/{id}`, `{log group arn}:*`, `https://{api id}.execute-api...`). A value can only
//! be used once the engine has answered with it, so only earlier registrations are candidates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::{Registered, Run};

/// One resource of the diagram.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub type_: String,
    pub name: String,
}

impl Node {
    /// `apigatewayv2` of `aws:apigatewayv2/route:Route`.
    pub fn service(&self) -> &str {
        self.type_
            .split(':')
            .nth(1)
            .and_then(|m| m.split('/').next())
            .unwrap_or("")
    }

    /// `Route` of `aws:apigatewayv2/route:Route`.
    pub fn kind(&self) -> &str {
        self.type_.rsplit(':').next().unwrap_or("")
    }
}

/// Resources and "uses" edges (`from` uses a value of `to`).
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: BTreeSet<(usize, usize)>,
}

/// Characters that may surround an identifier embedded in a longer value.
fn is_delimiter(c: char) -> bool {
    matches!(c, '/' | ':' | '|' | '.' | ',' | '"')
}

/// Whether `haystack` holds `needle` whole or between delimiters.
fn holds(haystack: &str, needle: &str) -> bool {
    if needle.len() < 4 {
        return false;
    }
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        before.is_none_or(is_delimiter) && after.is_none_or(is_delimiter)
    })
}

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// How another resource may hold one of this resource's identifiers.
struct Identifiers {
    /// Values the provider computed (ids, ARNs, URLs, autonames): held whole or as a delimited
    /// part of a longer value.
    computed: Vec<String>,
    /// Values the program itself gave this resource (a stage's name, which is also its id):
    /// held whole only. As part of a longer value they come from the configuration, not from
    /// this resource (the management endpoint ends in the stage name without using the stage).
    given: Vec<String>,
}

impl Identifiers {
    /// The id, and every string of the engine's answer that is not one of the resource's own
    /// inputs echoed back (an event target's `arn` is the queue's; a function's environment
    /// holds other resources' values). The id and `name` stay as given names when they equal an
    /// input (a stage's id is its configured name).
    fn of(resource: &Registered) -> Self {
        let mut inputs = Vec::new();
        strings(&resource.inputs, &mut inputs);
        let mut answered = Vec::new();
        strings(&resource.outputs, &mut answered);
        let name = resource.outputs.get("name").and_then(Value::as_str);
        let mut given = Vec::new();
        let mut computed = Vec::new();
        for value in std::iter::once(resource.id.as_str()).chain(answered) {
            if value.is_empty() {
                continue;
            }
            if !inputs.contains(&value) {
                computed.push(value.to_string());
            } else if value == resource.id || Some(value) == name {
                given.push(value.to_string());
            }
        }
        for list in [&mut given, &mut computed] {
            list.sort();
            list.dedup();
        }
        Self { computed, given }
    }

    /// Whether `value` holds one of these identifiers; `first_giver` tells whether a given name
    /// belongs to this resource (the first registered resource giving it).
    fn held_in(&self, value: &str, first_giver: impl Fn(&str) -> bool) -> bool {
        self.given.iter().any(|id| id == value && first_giver(id))
            || self.computed.iter().any(|id| holds(value, id))
    }
}

impl Graph {
    /// The graph of an update run's registrations.
    pub fn of(run: &Run) -> Self {
        let resources = run.custom();
        let nodes: Vec<Node> = resources
            .iter()
            .map(|r| Node {
                type_: r.type_.clone(),
                name: r.name.clone(),
            })
            .collect();
        let identifiers: Vec<Identifiers> = resources.iter().map(|r| Identifiers::of(r)).collect();
        // A name given to several resources (the alias record is named after the domain it
        // points at) belongs to the first one registered; the others repeat the configuration.
        let mut first_giver: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, ids) in identifiers.iter().enumerate() {
            for name in &ids.given {
                first_giver.entry(name.as_str()).or_insert(index);
            }
        }
        let mut edges = BTreeSet::new();
        for (user, resource) in resources.iter().enumerate() {
            let mut held = Vec::new();
            strings(&resource.inputs, &mut held);
            for (used, ids) in identifiers.iter().enumerate().take(user) {
                let owns = |name: &str| first_giver.get(name) == Some(&used);
                if held.iter().any(|s| ids.held_in(s, owns)) {
                    edges.insert((user, used));
                }
            }
        }
        Self { nodes, edges }
    }

    /// `(user, used)` pairs by name, sorted: a stable view for assertions.
    pub fn named_edges(&self) -> Vec<(String, String)> {
        let mut named: Vec<(String, String)> = self
            .edges
            .iter()
            .map(|(a, b)| (self.nodes[*a].name.clone(), self.nodes[*b].name.clone()))
            .collect();
        named.sort();
        named
    }

    /// The column of each node: 0 for resources that use no other, else one more than the
    /// deepest resource they use, so every arrow points left to right.
    fn columns(&self) -> Vec<usize> {
        let mut column = vec![0usize; self.nodes.len()];
        // Edges point from later registrations to earlier ones, so one pass in registration
        // order settles every column.
        for user in 0..self.nodes.len() {
            for (a, b) in &self.edges {
                if *a == user {
                    column[user] = column[user].max(column[*b] + 1);
                }
            }
        }
        column
    }

    /// The diagram as SVG: one column per depth, resources sorted by service and name within
    /// a column, an arrow from each resource to every resource that uses it.
    pub fn to_svg(&self, title: &str) -> String {
        const BOX_W: usize = 250;
        const BOX_H: usize = 38;
        const GAP_X: usize = 90;
        const GAP_Y: usize = 14;
        const MARGIN: usize = 20;
        const HEADER: usize = 64;

        let columns = self.columns();
        let mut by_column: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (node, column) in columns.iter().enumerate() {
            by_column.entry(*column).or_default().push(node);
        }
        let mut position = vec![(0usize, 0usize); self.nodes.len()];
        let mut tallest = 0;
        for (column, members) in &mut by_column {
            members.sort_by(|a, b| {
                let (a, b) = (&self.nodes[*a], &self.nodes[*b]);
                (a.service(), &a.name).cmp(&(b.service(), &b.name))
            });
            tallest = tallest.max(members.len());
            for (row, node) in members.iter().enumerate() {
                position[*node] = (
                    MARGIN + column * (BOX_W + GAP_X),
                    HEADER + row * (BOX_H + GAP_Y),
                );
            }
        }
        let width = MARGIN * 2 + by_column.len() * (BOX_W + GAP_X) - GAP_X;
        let height = HEADER + tallest * (BOX_H + GAP_Y) + MARGIN;

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
        );
        svg.push_str(concat!(
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" ",
            "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">",
            "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n"
        ));
        let _ = writeln!(
            svg,
            r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="{MARGIN}" y="26" font-size="18" font-weight="bold">{}</text>"##,
            escape(title)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{MARGIN}" y="46" font-size="12" fill="#444">{} resources. An arrow A → B: B's inputs hold an output of A (id, ARN, URL or name). Generated by `cargo test -p wspush-infra --test diagram` from the program's registrations.</text>"##,
            self.nodes.len()
        );
        // Emitted in a canonical order (registration order varies with timing).
        let mut edges: Vec<(usize, usize)> = self.edges.iter().copied().collect();
        edges.sort_by_key(|(user, used)| (position[*used], position[*user]));
        for (used_by, used) in &edges {
            let (ux, uy) = position[*used];
            let (bx, by) = position[*used_by];
            let (x1, y1) = (ux + BOX_W, uy + BOX_H / 2);
            let (x2, y2) = (bx, by + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = writeln!(
                svg,
                r##"<path d="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" fill="none" stroke="#888" stroke-width="1" opacity="0.7" marker-end="url(#arrow)"/>"##
            );
        }
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by_key(|index| position[*index]);
        for index in order {
            let node = &self.nodes[index];
            let (x, y) = position[index];
            let _ = writeln!(
                svg,
                r##"<g><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{}" stroke="#333"/><text x="{}" y="{}" font-size="12" font-weight="bold">{}</text><text x="{}" y="{}" font-size="10" fill="#333">{} {}</text></g>"##,
                colour(node.service()),
                x + 8,
                y + 16,
                escape(&node.name),
                x + 8,
                y + 31,
                escape(node.service()),
                escape(node.kind()),
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn colour(service: &str) -> &'static str {
    match service {
        "apigatewayv2" | "apigateway" => "#f9d5e5",
        "lambda" => "#ffe0b2",
        "iam" => "#e0e0e0",
        "dynamodb" => "#c5cae9",
        "sqs" => "#fff59d",
        "cloudwatch" => "#c8e6c9",
        "sns" => "#f8bbd0",
        "secretsmanager" => "#d1c4e9",
        "acm" | "route53" => "#b2ebf2",
        _ => "#ffffff",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
