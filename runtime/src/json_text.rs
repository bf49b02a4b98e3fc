//! Facts read off JSON text without parsing it into a tree.
//!
//! The fan-out carries an event's detail as the publisher's text (a `RawValue`, see
//! `fanout::audience`), so no parse into a tree measures how deep it nests, and nothing else
//! would refuse a detail deeper than `wspush_contract::nesting::MAX_DETAIL_DEPTH`. [`walk`]
//! measures it in one pass without recursion (a scan, so any depth is safe to measure) and
//! hands every number literal to its caller: the local gateway uses the same walk at
//! `PutEvents`, for that limit and for EventBridge's range of integers.

/// Walks well-formed JSON `text` (as a `RawValue` holds it), passing every number literal to
/// `number` in order; returns the deepest nesting of arrays and objects: 0 for a scalar, 1 for
/// `{}` or `[1]`, 2 for `{"a":[]}`.
pub fn walk<'a>(text: &'a str, mut number: impl FnMut(&'a str)) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while let Some(&byte) = bytes.get(at) {
        at = match byte {
            b'"' => string_end(bytes, at + 1),
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                at + 1
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                at + 1
            }
            b'-' | b'0'..=b'9' => {
                let end = number_end(bytes, at);
                // A number is ASCII, so its ends are character boundaries.
                number(text.get(at..end).unwrap_or_default());
                end
            }
            _ => at + 1,
        };
    }
    deepest
}

/// The deepest nesting of arrays and objects in well-formed JSON `text` (see [`walk`]).
pub fn nesting_depth(text: &str) -> usize {
    walk(text, |_| {})
}

/// Whether a number literal is an integer: no fraction and no exponent.
pub fn is_integer(literal: &str) -> bool {
    !literal.contains(['.', 'e', 'E'])
}

/// Just past the closing quote of the string whose content starts at `at`.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    at
}

/// Just past the number literal starting at `at`.
fn number_end(bytes: &[u8], at: usize) -> usize {
    let is_number_byte = |b: &u8| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E');
    at + bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| is_number_byte(b))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_arrays_and_objects_but_not_brackets_in_strings() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth(r#""[{""#), 0);
        assert_eq!(nesting_depth("{}"), 1);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":[]}],"c":{}}"#), 4);
        assert_eq!(nesting_depth(r#"["\"[[[\\",[]]"#), 2);
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(nesting_depth(&deep), 5000, "no recursion, any depth");
    }

    #[test]
    fn every_number_literal_is_seen_as_written() {
        let text = r#"{"a":-12,"b":[1E2, 0.10],"s":"7 and 8","c":123456789012345678901234567890}"#;
        let mut numbers = Vec::new();
        walk(text, |n| numbers.push(n));
        assert_eq!(
            numbers,
            ["-12", "1E2", "0.10", "123456789012345678901234567890"]
        );
        assert!(is_integer("-12") && is_integer("123456789012345678901234567890"));
        assert!(!is_integer("1E2") && !is_integer("0.10") && !is_integer("1e-3"));
    }
}
