//! The workspace's structure, checked from the sources so a change that breaks it fails here:
//!
//! - infra's parts import each other in one direction only, the direction the data flows
//!   (`lib.rs` declares them in that order): a part may use what earlier parts return, never a
//!   later part;
//! - no crate's top-level modules import each other in a circle (runtime, gateway, infra,
//!   contract, tools): imports follow the data;
//! - no function of non-test code is over 60 lines, so every step has a name.
//!
//! The checks read the text of the sources with a small lexer (comments, strings and character
//! literals skipped), not the compiler's view; that is enough for the rules above and keeps the
//! test free of dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The declaration order of infra's parts (see the tour in `src/lib.rs`), and the helpers any
/// part may use.
const PARTS: [&str; 12] = [
    "config",
    "table",
    "api",
    "queues",
    "identity",
    "functions",
    "routes",
    "events",
    "pushers",
    "alarms",
    "domain",
    "exports",
];
const HELPERS: [&str; 3] = ["aws", "out", "policy"];

/// Crates whose module graph must be free of circles, relative to the workspace root.
const CRATES: [&str; 5] = ["runtime", "gateway", "infra", "contract", "tools"];

/// Where non-test code lives; every function there is at most [`MAX_FUNCTION_LINES`] long.
const NON_TEST_CODE: [&str; 6] = [
    "runtime/src",
    "gateway/src",
    "gateway/benches",
    "infra/src",
    "infra/build.rs",
    "tools/src",
];
const MAX_FUNCTION_LINES: usize = 60;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("infra/ has a parent: the workspace root")
        .to_path_buf()
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(path) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The source with comments, string and character literals blanked out (newlines kept, so
/// line numbers stay), and everything from the first `#[cfg(test)]` on removed: the code the
/// rules are about.
fn code_only(source: &str) -> String {
    let source = match source.find("#[cfg(test)]") {
        Some(at) => &source[..at],
        None => source,
    };
    let bytes = source.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, text: &[u8]| {
        out.extend(text.iter().map(|&b| if b == b'\n' { b'\n' } else { b' ' }))
    };
    while i < bytes.len() {
        let rest = &bytes[i..];
        let skip = if rest.starts_with(b"//") {
            rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            block_comment_len(rest)
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            raw_string_len(rest)
        } else if rest[0] == b'"' {
            string_len(rest)
        } else if rest[0] == b'\'' {
            char_literal_len(rest)
        } else {
            0
        };
        if skip > 0 {
            blank(&mut out, &rest[..skip]);
            i += skip;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn block_comment_len(text: &[u8]) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i + 1 < text.len() {
        match &text[i..i + 2] {
            b"/*" => {
                depth += 1;
                i += 2;
            }
            b"*/" => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    text.len()
}

fn raw_string_len(text: &[u8]) -> usize {
    let hashes = text[1..].iter().take_while(|&&b| b == b'#').count();
    if text.get(1 + hashes) != Some(&b'"') {
        return 0; // `r#ident` (a raw identifier), not a string
    }
    let mut closing = vec![b'"'];
    closing.extend(std::iter::repeat_n(b'#', hashes));
    let body = 2 + hashes;
    text[body..]
        .windows(closing.len())
        .position(|w| w == closing.as_slice())
        .map_or(text.len(), |at| body + at + closing.len())
}

fn string_len(text: &[u8]) -> usize {
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// A character literal (`'{'`, `'\''`, `'\u{7f}'`), or 0 for a lifetime (`'a`).
fn char_literal_len(text: &[u8]) -> usize {
    if text.get(1) == Some(&b'\\') {
        return text[2..]
            .iter()
            .position(|&b| b == b'\'')
            .map_or(0, |at| at + 3);
    }
    // One character, possibly several bytes of UTF-8, then the closing quote.
    let width = match text.get(1) {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(_) => 2,
        None => return 0,
    };
    if text.get(1 + width) == Some(&b'\'') {
        2 + width
    } else {
        0
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn ident_at(code: &str, at: usize) -> &str {
    let end = code[at..]
        .bytes()
        .position(|b| !is_ident(b))
        .map_or(code.len(), |n| at + n);
    &code[at..end]
}

/// Every function of `code` (already [`code_only`]) with its first line and its length in
/// lines, from the line of `fn` to the line of its closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut search = 0;
    while let Some(offset) = code[search..].find("fn ") {
        let at = search + offset;
        search = at + 3;
        if at > 0 && is_ident(bytes[at - 1]) {
            continue;
        }
        let name = ident_at(code, at + 3);
        if name.is_empty() {
            continue;
        }
        let (Some(open), semicolon) = (code[at..].find('{'), code[at..].find(';')) else {
            continue;
        };
        if semicolon.is_some_and(|semicolon| semicolon < open) {
            continue; // a declaration without a body (a trait method, `fn` in a type)
        }
        let open = at + open;
        let close = matching_brace(bytes, open);
        let first = code[..at].matches('\n').count() + 1;
        let last = code[..close].matches('\n').count() + 1;
        found.push((name.to_string(), first, last - first + 1));
    }
    found
}

fn matching_brace(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    bytes.len()
}

/// The top-level module a file belongs to (`src/auth/token.rs` → `auth`), or `None` for the
/// crate root and binaries.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// The crate's top-level modules each file of `src` imports (`crate::x`, `use crate::{x, y}`),
/// as edges between top-level modules.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top_module(src, file) else {
            continue;
        };
        let code = code_only(&read(file));
        for to in crate_imports(&code) {
            if to != from && modules.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

/// The first segment after every `crate::`, including each item of a `crate::{…}` group.
fn crate_imports(code: &str) -> Vec<String> {
    let mut imports = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue; // `wspush_crate::`, not this crate
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            imports.extend(group_heads(group));
        } else {
            imports.push(ident_at(rest, 0).to_string());
        }
    }
    imports
}

/// The first identifier of each item of a `{a, b::c, d::{e, f}}` group (text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expect_head = true,
            c if expect_head && depth == 0 && is_ident(c as u8) => {
                heads.push(ident_at(group, i).to_string());
                expect_head = false;
            }
            _ => {}
        }
    }
    heads
}

/// A circle in `graph`, as the list of modules around it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn infra_imports(source: &str) -> Vec<String> {
    crate_imports(&code_only(source))
}

#[test]
fn parts_import_only_earlier_parts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (position, part) in PARTS.iter().enumerate() {
        // The part's file and the files of its submodules (`src/functions/*.rs`).
        let mut files = vec![Path::new(&format!("{dir}/{part}.rs")).to_path_buf()];
        files.extend(rust_files(Path::new(&format!("{dir}/{part}"))));
        let imports: Vec<String> = files
            .iter()
            .flat_map(|file| infra_imports(&read(file)))
            .collect();
        for import in &imports {
            if HELPERS.contains(&import.as_str()) || import == part {
                continue;
            }
            let Some(at) = PARTS.iter().position(|p| p == import) else {
                panic!("src/{part} imports crate::{import}, which is neither a part nor a helper");
            };
            assert!(
                at < position,
                "src/{part} imports crate::{import}, a later part: data must flow one way"
            );
        }
        seen.insert(part, imports);
    }
    // The helpers import no part.
    for helper in ["out", "policy"] {
        let source = read(Path::new(&format!("{dir}/{helper}.rs")));
        for import in infra_imports(&source) {
            assert!(
                !PARTS.contains(&import.as_str()),
                "src/{helper}.rs imports the part crate::{import}"
            );
        }
    }
    assert!(seen["functions"].contains(&"api".to_string()));
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = workspace_root();
    let mut checked = 0;
    for name in CRATES {
        let src = root.join(name).join("src");
        if !src.is_dir() {
            continue;
        }
        checked += 1;
        let graph = module_graph(&src);
        if let Some(circle) = find_circle(&graph) {
            panic!(
                "{name}/src: the modules {} import each other in a circle; move what they \
                 share into a module of its own, so imports follow the data",
                circle.join(" -> ")
            );
        }
    }
    assert!(checked >= 4, "the crates' sources were not found");
}

#[test]
fn no_function_is_over_60_lines() {
    let root = workspace_root();
    let mut too_long = Vec::new();
    for place in NON_TEST_CODE {
        for file in rust_files(&root.join(place)) {
            for (name, line, lines) in functions(&code_only(&read(&file))) {
                if lines > MAX_FUNCTION_LINES {
                    let path = file
                        .strip_prefix(&root)
                        .unwrap_or(&file)
                        .display()
                        .to_string();
                    too_long.push(format!("{path}:{line} `{name}` ({lines} lines)"));
                }
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines; split each along a step you can name:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_checks_see_circles_long_functions_and_skip_literals() {
    let code = code_only(
        "use crate::{a, b::{c, d}};\nfn f() {\n let s = \"}\"; let c = '{';\n}\n// fn g() {\n\
         #[cfg(test)]\nmod tests { fn h() {} }",
    );
    assert_eq!(crate_imports(&code), ["a", "b"]);
    assert_eq!(functions(&code), [("f".to_string(), 2, 3)]);
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_circle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    graph.remove("b");
    assert_eq!(find_circle(&graph), None);
}
