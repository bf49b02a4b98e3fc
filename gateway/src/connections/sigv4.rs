//! IAM authorization of `@connections` calls: the Signature Version 4 check API Gateway makes.
//!
//! It lives under [`crate::connections`] because that is the API it was written for: the
//! WebSocket side authorizes with the REQUEST authorizer, `PutEvents` and `Invoke` are not
//! checked locally. The SQS API ([`crate::sqs`]), which the runtime signs as it signs
//! PostToConnection, holds its own keys scoped to `sqs` ([`SigningKeys::for_service`]).
//!
//! Why the gateway checks signatures at all: on AWS an unsigned or wrongly signed
//! PostToConnection is refused with a 403, and the runtime builds its own signed requests
//! ([`wspush_runtime::push::SignedHttpPusher`]). A gateway that accepted anything would let a
//! signing defect reach AWS unnoticed. So every `@connections` call is verified here, written
//! from AWS's description of the algorithm ("Create a signed AWS API request", IAM User
//! Guide), independently of the `aws-sigv4` crate both of the runtime's clients sign with.
//!
//! The signature covers the request as the gateway received it: the body's own SHA-256, never
//! a hash the caller states. An `x-amz-content-sha256` header (Amazon S3's; its
//! `UNSIGNED-PAYLOAD` lets S3 skip the body) must, signed or not, equal that hash, or a replayed
//! signature could carry a body nobody signed. The query is canonicalized as RFC 3986 reads it:
//! `+` is a plus, not the space HTML forms make of it.
//!
//! The refusals ([`SignatureError`]) are AWS's: 403 `MissingAuthenticationTokenException`
//! without an `Authorization` header, `IncompleteSignatureException` for a malformed one or more
//! than one, `InvalidSignatureException` for a wrong scope, an expired timestamp (more than five
//! minutes off), an `x-amz-content-sha256` that is not the body's hash or a signature that does
//! not match, and `UnrecognizedClientException` for an access key the gateway does not know.
//! Locally the gateway knows the secrets of the keys in [`SigningKeys`] (the runtime's local key
//! and the gateway's own environment); a call signed with any other key cannot be verified, and
//! is refused as AWS refuses a key it does not know.
//!
//! Not emulated: signatures in the query string (presigned URLs), IAM policies (every known
//! key may call), session tokens (accepted as signed, never checked).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::SignatureError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name of `@connections`, the API these keys guard unless told otherwise.
const SERVICE: &str = "execute-api";
const TERMINATOR: &str = "aws4_request";
/// How far a request's `X-Amz-Date` may be from the gateway's clock.
const MAX_SKEW_SECS: i64 = 5 * 60;
/// Derived signing keys kept: one per key, day and region in use; cleared when full.
const MAX_CACHED_KEYS: usize = 64;

/// The access keys whose secrets the gateway knows, with their derived signing keys cached.
#[derive(Debug, Default)]
pub struct SigningKeys {
    secrets: HashMap<String, String>,
    /// The signing name every credential scope must name.
    service: &'static str,
    /// `(access key id, date, region)` and its signing key; a handful at most, so a list.
    derived: Mutex<Vec<(DerivedFor, [u8; 32])>>,
}

impl SigningKeys {
    /// Keys given as `(access key id, secret access key)`.
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Self::for_service(SERVICE, keys)
    }

    /// The same keys checking signatures scoped to `service` (e.g. `sqs` for the gateway's SQS
    /// API): each API the gateway emulates holds its own.
    pub fn for_service(
        service: &'static str,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        Self {
            secrets: keys.into_iter().collect(),
            service,
            derived: Mutex::default(),
        }
    }

    /// The access key ids, for messages.
    pub fn ids(&self) -> String {
        let mut ids: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids.join(", ")
    }

    /// Checks a request's SigV4 signature for `region` at time `now`.
    pub fn verify(
        &self,
        region: &str,
        now: DateTime<Utc>,
        request: &SignedRequest<'_>,
    ) -> Result<(), SignatureError> {
        let auth = Authorization::parse(authorization_header(request.headers)?)?;
        let amz_date = request
            .headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
            })?;
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| invalid(format!("X-Amz-Date {amz_date:?} is not yyyyMMddTHHmmssZ")))?
            .and_utc();
        check_skew(signed_at, now)?;
        auth.check_scope(&amz_date[..8], region, self.service)?;
        if !auth.signed_headers.contains(&"host") {
            return Err(invalid("'Host' must be a signed header.".into()));
        }
        let secret = self
            .secrets
            .get(auth.access_key)
            .ok_or_else(|| SignatureError::UnknownKey { known: self.ids() })?;
        let canonical = canonical_request(request, &auth.signed_headers)?;
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{}\n{}",
            auth.scope(),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = self.signing_key(auth.access_key, secret, auth.date, region);
        let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            Ok(())
        } else {
            Err(invalid(format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.\n\nThe Canonical String for this request should have \
                 been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            )))
        }
    }

    fn signing_key(&self, access_key: &str, secret: &str, date: &str, region: &str) -> [u8; 32] {
        let mut derived = self.derived.lock().unwrap_or_else(|p| p.into_inner());
        let cached = derived
            .iter()
            .find(|((k, d, r), _)| k == access_key && d == date && r == region);
        if let Some((_, key)) = cached {
            return *key;
        }
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, self.service.as_bytes());
        let key = hmac(&k_service, TERMINATOR.as_bytes());
        if derived.len() >= MAX_CACHED_KEYS {
            derived.clear();
        }
        derived.push((
            (access_key.to_string(), date.to_string(), region.to_string()),
            key,
        ));
        key
    }
}

type DerivedFor = (String, String, String);

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The request's one `Authorization` header. RFC 9110 does not let `Authorization` be a list,
/// so two of them make the request ambiguous (the check would read one, whatever reads the
/// request after it perhaps the other): refused as a signature that does not conform.
fn authorization_header(headers: &HeaderMap) -> Result<&str, SignatureError> {
    let mut values = headers.get_all("authorization").iter();
    let value = values.next().ok_or(SignatureError::Missing)?;
    let others = values.count();
    if others > 0 {
        return Err(incomplete(format!(
            "The request has {} Authorization headers; a signed request has exactly one.",
            others + 1
        )));
    }
    value
        .to_str()
        .map_err(|_| incomplete("the Authorization header is not visible ASCII"))
}

impl<'a> SignedRequest<'a> {
    /// The request whose head is `parts` and whose whole body is `body`.
    pub fn of(parts: &'a axum::http::request::Parts, body: &'a [u8]) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            body,
        }
    }
}

/// `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex`
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or(SignatureError::Missing)?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let missing = |what: &str| {
            incomplete(format!(
                "Authorization header requires '{what}' parameter. Authorization={header}"
            ))
        };
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, terminator] = parts[..] else {
            return Err(incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{credential}'"
            )));
        };
        Ok(Self {
            access_key,
            date,
            region,
            service,
            terminator,
            signed_headers: signed.split(';').collect(),
            signature,
        })
    }

    fn check_scope(
        &self,
        request_date: &str,
        region: &str,
        service: &str,
    ) -> Result<(), SignatureError> {
        if self.date != request_date {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                 date from HTTP: '{}' != '{request_date}', from '{}'.",
                self.date,
                self.scope()
            )));
        }
        if self.region != region {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'. This gateway's region \
                 is '{region}'.",
                self.region
            )));
        }
        if self.service != service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        if self.terminator != TERMINATOR {
            return Err(invalid(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
                self.terminator
            )));
        }
        Ok(())
    }

    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

fn check_skew(signed_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let format = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let skew = (now - signed_at).num_seconds();
    if skew > MAX_SKEW_SECS {
        return Err(invalid(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            format(signed_at),
            format(now - chrono::Duration::seconds(MAX_SKEW_SECS)),
            format(now)
        )));
    }
    if -skew > MAX_SKEW_SECS {
        return Err(invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            format(signed_at),
            format(now + chrono::Duration::seconds(MAX_SKEW_SECS)),
            format(now)
        )));
    }
    Ok(())
}

/// Method, URI, query, signed headers and payload hash, one per line, as SigV4 defines them.
fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[&str],
) -> Result<String, SignatureError> {
    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method.as_str());
    canonical.push('\n');
    push_canonical_uri(&mut canonical, request.uri.path());
    canonical.push('\n');
    canonical.push_str(&canonical_query(request.uri.query().unwrap_or("")));
    canonical.push('\n');
    for name in signed_headers {
        let mut values = request.headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            return Err(invalid(format!(
                "The request signature we calculated does not match the signature you provided: \
                 signed header '{name}' is not in the request."
            )));
        }
        canonical.push_str(name);
        canonical.push(':');
        for (i, value) in values.enumerate() {
            if i > 0 {
                canonical.push(',');
            }
            push_collapsed(&mut canonical, &String::from_utf8_lossy(value.as_bytes()));
        }
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(&payload_hash(request)?);
    Ok(canonical)
}

/// The hash the signature covers: the SHA-256 of the body received, lowercase hex. Every
/// `x-amz-content-sha256` header, signed or not, must state exactly that hash: execute-api has
/// no unsigned payloads, and a stated hash is never taken in place of the body's.
fn payload_hash(request: &SignedRequest<'_>) -> Result<String, SignatureError> {
    let hash = hex::encode(Sha256::digest(request.body));
    for stated in request.headers.get_all("x-amz-content-sha256") {
        if stated.as_bytes() != hash.as_bytes() {
            return Err(invalid(format!(
                "The request signature we calculated does not match the signature you provided: \
                 the x-amz-content-sha256 header is '{}', but the SHA-256 of the body received \
                 is '{hash}'. execute-api signs the hash of the body itself; UNSIGNED-PAYLOAD \
                 and the STREAMING- payloads are Amazon S3's.",
                String::from_utf8_lossy(stated.as_bytes())
            )));
        }
    }
    Ok(hash)
}

/// The path as sent, normalized, each byte outside the unreserved set encoded once more:
/// services other than S3 sign the already-encoded path encoded a second time (so `%3D`
/// becomes `%253D`).
fn push_canonical_uri(out: &mut String, path: &str) {
    for byte in normalized_path(path).bytes() {
        push_encoded(out, byte, true);
    }
}

/// SigV4's path normalization: RFC 3986's dot segments removed, and the redundant empty
/// segments of `//` too; a path that ends in a directory keeps its trailing `/`.
fn normalized_path(path: &str) -> std::borrow::Cow<'_, str> {
    let plain = path.starts_with('/')
        && !path.contains("//")
        && !path.split('/').any(|s| s == "." || s == "..");
    if plain {
        return path.into();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            segment => kept.push(segment),
        }
    }
    let directory = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    let mut normalized = format!("/{}", kept.join("/"));
    if directory && !normalized.ends_with('/') {
        normalized.push('/');
    }
    normalized.into()
}

/// Parameters sorted by name then value, each decoded and encoded again. A `+` stays a plus
/// (`%2B`): RFC 3986 gives it no meaning in a query, and reading it as a space (as HTML forms
/// do) would let a signature over `a%20b` also pass for `a+b`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode(name)), encode(&decode(value)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        push_encoded(&mut out, byte, false);
    }
    out
}

fn push_encoded(out: &mut String, byte: u8, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || (keep_slash && byte == b'/') {
        out.push(char::from(byte));
    } else {
        out.push('%');
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xF)]));
    }
}

/// Percent-decoding: `%` and two hex digits is that byte; every other byte, a `%` without two
/// hex digits after it included, stands for itself.
fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// The value trimmed, each run of spaces inside it one space.
fn push_collapsed(out: &mut String, value: &str) {
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn incomplete(message: impl Into<String>) -> SignatureError {
    SignatureError::Incomplete(message.into())
}

fn invalid(message: String) -> SignatureError {
    SignatureError::Invalid(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// AWS's worked example ("get-vanilla" of the SigV4 test suite), with this service's
    /// scope: the canonical request and signature are computed by hand from the documented
    /// algorithm, so the verifier is checked against the specification, not against itself.
    #[test]
    fn the_documented_example_signs_as_the_specification_says() {
        let keys = SigningKeys::new([(
            "AKIDEXAMPLE".to_string(),
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
        )]);
        let uri: Uri = "/".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        );
        let request = SignedRequest {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
            body: b"",
        };
        let canonical = canonical_request(&request, &["host", "x-amz-date"]).expect("canonical");
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The suite's signature is for service "service"; compute it the documented way.
        assert_eq!(
            sign_by_hand(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830T123600Z",
                "us-east-1/service",
                &canonical
            ),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        // With this service's name the scope is refused before any signature is compared.
        let now = DateTime::parse_from_rfc3339("2015-08-30T12:37:00Z")
            .expect("time")
            .to_utc();
        assert_eq!(
            keys.verify("us-east-1", now, &request),
            Err(invalid(
                "Credential should be scoped to correct service: 'execute-api'.".into()
            ))
        );
    }

    /// The signature of `canonical` by the documented steps: the string to sign, the key
    /// derived for the date and `region_service` ("region/service"), the HMAC.
    fn sign_by_hand(secret: &str, amz_date: &str, region_service: &str, canonical: &str) -> String {
        let date = &amz_date[..8];
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{date}/{region_service}/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        for part in region_service.split('/').chain(["aws4_request"]) {
            key = hmac(&key, part.as_bytes());
        }
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }

    /// A signature that is right for the hash a `x-amz-content-sha256` header states (as an
    /// S3-style signer makes it, the header signed) passes only when that hash is the body's:
    /// `UNSIGNED-PAYLOAD` and the hash of another body are refused although the signature
    /// matches them.
    #[test]
    fn a_stated_payload_hash_passes_only_when_it_is_the_bodys() {
        let keys = SigningKeys::new([("local".to_string(), "local".to_string())]);
        let now = DateTime::parse_from_rfc3339("2026-12-04T12:00:30Z")
            .expect("time")
            .to_utc();
        let uri: Uri = "/production/@connections/abc".parse().expect("uri");
        let body = br#"{"signed":true}"#;
        let body_hash = hex::encode(Sha256::digest(body));
        let other_hash = hex::encode(Sha256::digest(br#"{"signed":false}"#));
        for stated in [body_hash.as_str(), "UNSIGNED-PAYLOAD", other_hash.as_str()] {
            let canonical = format!(
                "POST\n/production/%40connections/abc\n\nhost:gw.test\n\
                 x-amz-content-sha256:{stated}\nx-amz-date:20261204T120000Z\n\n\
                 host;x-amz-content-sha256;x-amz-date\n{stated}"
            );
            let signature = sign_by_hand(
                "local",
                "20261204T120000Z",
                "us-east-1/execute-api",
                &canonical,
            );
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("gw.test"));
            headers.insert("x-amz-date", HeaderValue::from_static("20261204T120000Z"));
            headers.insert(
                "x-amz-content-sha256",
                HeaderValue::from_str(stated).expect("ascii"),
            );
            let authorization = format!(
                "{ALGORITHM} Credential=local/20261204/us-east-1/execute-api/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}"
            );
            headers.insert(
                "authorization",
                HeaderValue::from_str(&authorization).expect("ascii"),
            );
            let request = SignedRequest {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body,
            };
            let verdict = keys.verify("us-east-1", now, &request);
            if stated == body_hash {
                assert_eq!(verdict, Ok(()));
            } else {
                assert!(
                    matches!(&verdict, Err(SignatureError::Invalid(m))
                        if m.contains(&format!("the x-amz-content-sha256 header is '{stated}'"))
                            && m.contains(&body_hash)),
                    "{stated}: {verdict:?}"
                );
            }
        }
    }

    #[test]
    fn a_plus_in_the_query_is_a_plus() {
        assert_eq!(canonical_query("q=a+b"), "q=a%2Bb");
        assert_eq!(canonical_query("q=a%2Bb"), "q=a%2Bb");
        assert_eq!(canonical_query("q=a%20b"), "q=a%20b");
        assert_eq!(canonical_query("a+b=1"), "a%2Bb=1");
        // A `%` without two hex digits after it stands for itself; `+1` is not hex.
        assert_eq!(canonical_query("q=%+1&r=%4"), "q=%25%2B1&r=%254");
    }

    #[test]
    fn paths_are_encoded_a_second_time() {
        let canonical_uri = |path: &str| {
            let mut out = String::new();
            push_canonical_uri(&mut out, path);
            out
        };
        assert_eq!(
            canonical_uri("/production/@connections/abc%3D"),
            "/production/%40connections/abc%253D"
        );
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(
            canonical_uri("/production/@connections/."),
            "/production/%40connections/"
        );
        assert_eq!(canonical_uri("/a/./b/../c//d/.."), "/a/c/");
        assert_eq!(canonical_uri("/../x"), "/x");
        assert_eq!(canonical_uri("/a.b/c..d"), "/a.b/c..d");
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
    }

    #[test]
    fn malformed_authorization_headers_say_what_is_missing() {
        assert!(matches!(
            Authorization::parse("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00"),
            Err(SignatureError::Incomplete(m)) if m.contains("'Credential'")
        ));
        assert!(matches!(
            Authorization::parse("AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=0"),
            Err(SignatureError::Incomplete(m)) if m.contains("5 slash-delimited")
        ));
        assert!(matches!(
            Authorization::parse("Bearer abc"),
            Err(SignatureError::Missing)
        ));
        let mut two = HeaderMap::new();
        for value in [
            "AWS4-HMAC-SHA256 Credential=a",
            "AWS4-HMAC-SHA256 Credential=b",
        ] {
            two.append("authorization", HeaderValue::from_static(value));
        }
        assert!(matches!(
            authorization_header(&two),
            Err(SignatureError::Incomplete(m)) if m.contains("2 Authorization headers")
        ));
    }

    #[test]
    fn timestamps_more_than_five_minutes_off_are_refused() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").to_utc();
        let signed = at("2026-12-04T12:00:00Z");
        assert!(check_skew(signed, at("2026-12-04T12:05:00Z")).is_ok());
        assert!(check_skew(signed, at("2026-12-04T11:55:00Z")).is_ok());
        assert!(matches!(
            check_skew(signed, at("2026-12-04T12:05:01Z")),
            Err(SignatureError::Invalid(m)) if m.starts_with("Signature expired: 20261204T120000Z")
        ));
        assert!(matches!(
            check_skew(signed, at("2026-12-04T11:54:59Z")),
            Err(SignatureError::Invalid(m)) if m.starts_with("Signature not yet current")
        ));
    }
}
