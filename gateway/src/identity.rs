//! The authorizer's identity sources, enforced as API Gateway enforces them: when any listed
//! source is missing from the handshake, the client gets 401 and the authorizer is not invoked;
//! an empty list invokes it always.
//!
//! The deployed list is `wspush_contract::authorizer::IDENTITY_SOURCES`, which `infra/` declares;
//! the gateway reads the same list, so what passes locally passes on AWS.
//!
//! Where it sits: the sources are parsed once, into the options ([`crate::config`], from the
//! command line or a test), and checked by the WebSocket handshake ([`crate::websocket`])
//! before it invokes the authorizer. The options hold the parsed list, so this module sits
//! below both and reads only the handshake's plain data ([`crate::client::Handshake`]).

use crate::client::Handshake;

/// One identity source expression, in the forms `CreateAuthorizer` accepts for WebSocket APIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentitySource {
    /// `route.request.header.NAME` (matched case-insensitively, as HTTP headers are).
    Header(String),
    /// `route.request.querystring.NAME`.
    QueryString(String),
    /// `stageVariables.NAME` (the local stage has none, so it is always missing).
    StageVariable(String),
    /// `context.NAME`: a request context variable of the `$connect` request.
    Context(String),
}

/// Context variables every `$connect` request has.
const CONTEXT_ALWAYS: [&str; 11] = [
    "connectionId",
    "requestId",
    "extendedRequestId",
    "routeKey",
    "eventType",
    "stage",
    "apiId",
    "domainName",
    "connectedAt",
    "requestTimeEpoch",
    "identity.sourceIp",
];

impl IdentitySource {
    /// Parses one expression, refusing what API Gateway's validation refuses ("each source must
    /// be either a request parameter, matching `route.request.querystring|header.[a-zA-Z0-9._-]+`,
    /// or a stage variable ... or a context parameter, matching `context.[a-zA-Z0-9._-]+`").
    pub fn parse(expression: &str) -> Result<Self, String> {
        let valid_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        let (build, name): (fn(String) -> Self, &str) = if let Some(name) =
            expression.strip_prefix("route.request.header.")
        {
            (IdentitySource::Header, name)
        } else if let Some(name) = expression.strip_prefix("route.request.querystring.") {
            (IdentitySource::QueryString, name)
        } else if let Some(name) = expression.strip_prefix("stageVariables.") {
            (IdentitySource::StageVariable, name)
        } else if let Some(name) = expression.strip_prefix("context.") {
            (IdentitySource::Context, name)
        } else {
            return Err(format!(
                    "invalid identity source {expression:?}: expected route.request.header.NAME, route.request.querystring.NAME, stageVariables.NAME or context.NAME"
                ));
        };
        if !valid_name(name) {
            return Err(format!(
                "invalid identity source {expression:?}: the name may hold only letters, digits, '.', '_' and '-'"
            ));
        }
        Ok(build(name.to_string()))
    }

    /// Whether the handshake carries this source (a non-empty value).
    pub fn present_in(&self, handshake: &Handshake) -> bool {
        let non_empty = |v: &String| !v.trim().is_empty();
        match self {
            IdentitySource::Header(name) => handshake
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && non_empty(v)),
            IdentitySource::QueryString(name) => handshake
                .query
                .iter()
                .any(|(n, v)| n == name && non_empty(v)),
            IdentitySource::StageVariable(_) => false,
            IdentitySource::Context(name) => {
                CONTEXT_ALWAYS.contains(&name.as_str())
                    || (name == "identity.userAgent" && handshake.user_agent.is_some())
            }
        }
    }
}

/// Parses a list of expressions (the contract's, or a test's).
pub fn parse_all<S: AsRef<str>>(expressions: &[S]) -> Result<Vec<IdentitySource>, String> {
    expressions
        .iter()
        .map(|e| IdentitySource::parse(e.as_ref()))
        .collect()
}

/// The first source missing from `handshake`, if any: API Gateway then answers 401 without
/// invoking the authorizer.
pub fn first_missing<'a>(
    sources: &'a [IdentitySource],
    handshake: &Handshake,
) -> Option<&'a IdentitySource> {
    sources.iter().find(|s| !s.present_in(handshake))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(headers: &[(&str, &str)], query: &[(&str, &str)]) -> Handshake {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Handshake {
            connection_id: "c".into(),
            request_id: "r".into(),
            connected_at_ms: 0,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            domain_name: "localhost".into(),
            headers: pairs(headers),
            query: pairs(query),
        }
    }

    #[test]
    fn the_contracts_sources_parse_and_are_always_present() {
        let sources =
            parse_all(&wspush_contract::authorizer::IDENTITY_SOURCES).expect("contract is valid");
        assert_eq!(first_missing(&sources, &handshake(&[], &[])), None);
    }

    #[test]
    fn every_listed_source_must_be_present() {
        let sources = parse_all(&[
            "route.request.header.Auth",
            "route.request.querystring.access_token",
        ])
        .expect("valid");
        let both = handshake(&[("auth", "x")], &[("access_token", "t")]);
        assert_eq!(first_missing(&sources, &both), None);
        let header_only = handshake(&[("Auth", "x")], &[]);
        assert_eq!(
            first_missing(&sources, &header_only),
            Some(&IdentitySource::QueryString("access_token".into()))
        );
        let empty_value = handshake(&[("Auth", " ")], &[("access_token", "t")]);
        assert!(first_missing(&sources, &empty_value).is_some());
        assert_eq!(first_missing(&[], &handshake(&[], &[])), None);
        let stage = parse_all(&["stageVariables.x"]).expect("valid");
        assert!(first_missing(&stage, &both).is_some());
    }

    #[test]
    fn invalid_expressions_are_refused_as_api_gateway_does() {
        assert!(IdentitySource::parse("$request.header.Authorization").is_err());
        assert!(IdentitySource::parse("route.request.header.").is_err());
        assert!(IdentitySource::parse("route.request.header.a b").is_err());
        assert_eq!(
            IdentitySource::parse("context.connectionId"),
            Ok(IdentitySource::Context("connectionId".into()))
        );
    }
}
