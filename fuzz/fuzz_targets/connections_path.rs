//! Arbitrary methods, paths and bodies through the gateway's whole router, aimed at
//! `@connections` (`/{stage}/@connections/{id}`) but reaching every route. Never a panic,
//! never a 5xx, and every refusal AWS-shaped: an `x-amzn-ErrorType` header and a JSON body
//! with a message. The calls are unsigned, so `@connections` on a valid path is a 403
//! `MissingAuthenticationTokenException` (signed ones are `gateway/tests/properties.rs`').
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use wspush_fuzz::{assert_aws_error, assert_not_server_error, with_gateway};

const METHODS: [Method; 8] = [
    Method::GET,
    Method::POST,
    Method::DELETE,
    Method::PUT,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::TRACE,
];

/// Bytes a request target may carry as they are; every other byte is percent-encoded, as a
/// client would send it.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%?".contains(&b)
}

fn uri(path: &[u8]) -> Option<Uri> {
    let mut text = String::from("/");
    for &b in path.strip_prefix(b"/").unwrap_or(path) {
        if is_path_byte(b) {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::try_from(text).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()].clone();
    // The path ends at the first newline; what follows is the body.
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Some(uri) = uri(path) else {
        return;
    };
    let Ok(request) = Request::builder()
        .method(method.clone())
        .uri(uri.clone())
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let (response, bytes) = with_gateway(|gateway| gateway.send(request));
    let what = format!("{method} {uri}");
    assert_not_server_error(&response, &bytes, &what);
    if response.status().is_client_error() && method != Method::HEAD {
        assert_aws_error(&response, &bytes, &what);
    }
});
