//! Only the developer's own pages: the gateway answers requests addressed to it, and only its
//! own pages may change what its `/_gateway/` views hold.
//!
//! The gateway listens on 127.0.0.1 and asks no credentials of its local-only views, of
//! `CreateTestJwt` or of `PutEvents`, so a web page the developer happens to visit could try to
//! drive it. API Gateway has neither of the two problems below (it is reached by its own domain
//! names, over TLS); these checks are a local-only protection, listed as a deliberate
//! difference in `docs/fidelity.md`.
//! - DNS rebinding: a page at `attacker.example` re-resolves its own name to 127.0.0.1; the
//!   browser then treats the gateway as the page's own origin, reads every answer, and sends
//!   `Host: attacker.example`. Every request whose `Host` names anything but this gateway
//!   (127.0.0.1, `localhost` or `[::1]` at the gateway's port, or a name given with
//!   `--allowed-host`) is refused with 403 `ForbiddenException`, before routing, so the
//!   WebSocket handshake is covered too. A request without `Host` is let through: browsers
//!   always send it, and any other client could send whatever it liked.
//! - Cross-site requests: a page of any origin may send a "simple" POST (a form, or `fetch`
//!   with a plain content type) to `http://127.0.0.1:PORT` without a CORS preflight; it cannot
//!   read the answer, but the request runs. A request to a `/_gateway/` view that changes state
//!   (any method but GET, HEAD and OPTIONS) must come without `Origin` (the aws CLI, SDKs, curl)
//!   or from one of the gateway's own origins (the console), and `Sec-Fetch-Site`, when a
//!   browser sends it, must not say `cross-site` or `same-site`. The emulated AWS APIs need no
//!   such check: `@connections` needs a SigV4 signature a page cannot make, `PutEvents` an
//!   `X-Amz-Target` header that needs a preflight the gateway never grants, and a simple
//!   `Invoke` of `CreateTestJwt` mints a token the page cannot read.
//!
//! Both refusals are 403 `ForbiddenException`, not 400: the request is well-formed, and the
//! server refuses to serve it, which is what AWS answers (with that code) for a request its
//! API will not serve, so every client already reads it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;

/// The authorities (`host[:port]`) that name this gateway.
#[derive(Clone, Debug)]
pub struct OwnHosts {
    port: u16,
    /// Names that name the gateway at its own port: the loopback names and the bound address.
    loopback: Vec<String>,
    /// `--allowed-host` names: `name` admits any port, `name:port` that port only.
    allowed: Vec<String>,
}

impl OwnHosts {
    /// The gateway listening on `addr`, also reachable as each of `allowed`.
    pub fn new(addr: SocketAddr, allowed: &[String]) -> Self {
        let bound = match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let mut loopback: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
            .map(str::to_string)
            .to_vec();
        if !loopback.contains(&bound) {
            loopback.push(bound);
        }
        Self {
            port: addr.port(),
            loopback,
            allowed: allowed.iter().map(|a| a.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `authority` (a `Host` value, or an origin without its scheme) names this
    /// gateway. Names compare without regard to case; anything after the authority (a path,
    /// user info) does not name it.
    pub fn admits(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let Some((name, port)) = split_port(&authority) else {
            return false;
        };
        let at_own_port = port.map_or(self.port == 80, |p| p == self.port);
        (at_own_port && self.loopback.iter().any(|own| own == name))
            || self
                .allowed
                .iter()
                .any(|allowed| *allowed == authority || *allowed == name)
    }

    /// The names this gateway answers to, for the refusal's message.
    pub fn describe(&self) -> String {
        let own = self
            .loopback
            .iter()
            .map(|name| format!("{name}:{}", self.port));
        own.chain(self.allowed.iter().cloned())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether `text` is an authority a `Host` header could carry: a name, and a port if any.
pub fn is_authority(text: &str) -> bool {
    split_port(text).is_some()
}

/// `host[:port]` split into the host and the port, when the port is a number; `None` when the
/// authority is not one (a port that is not a number, a path, user info, an empty name).
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = match authority.rfind(':') {
        // A colon inside brackets belongs to an IPv6 address.
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    let valid_name = !name.is_empty() && !name.contains(['/', '@', ' ', '\\', '?', '#']);
    let port = match port {
        None => None,
        Some(digits) => Some(digits.parse::<u16>().ok()?),
    };
    valid_name.then_some((name, port))
}

/// Refuses requests addressed to another host, and cross-origin requests that would change a
/// `/_gateway/` view's state; passes every other request on untouched.
pub async fn only_own_pages(
    State(hosts): State<Arc<OwnHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let checked =
        addressed_here(&hosts, &request).and_then(|()| sent_by_own_page(&hosts, &request));
    match checked {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The request's `Host` (and the authority of an absolute-form target, which HTTP/1.1 lets
/// replace it) must name this gateway.
fn addressed_here(hosts: &OwnHosts, request: &Request) -> Result<(), GatewayError> {
    let refuse = |host: &str| GatewayError::ForeignHost(host.to_string(), hosts.describe());
    if let Some(authority) = request.uri().authority() {
        if !hosts.admits(authority.as_str()) {
            return Err(refuse(authority.as_str()));
        }
    }
    match request.headers().get(header::HOST) {
        None => Ok(()),
        Some(value) => match value.to_str() {
            Ok(host) if hosts.admits(host) => Ok(()),
            _ => Err(refuse(&String::from_utf8_lossy(value.as_bytes()))),
        },
    }
}

/// A request that would change a `/_gateway/` view's state must not come from another
/// origin's page.
fn sent_by_own_page(hosts: &OwnHosts, request: &Request) -> Result<(), GatewayError> {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || !request.uri().path().starts_with("/_gateway/") {
        return Ok(());
    }
    let headers = request.headers();
    let text = |name| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if let Some(origin) = text(header::ORIGIN) {
        // `https://` too: a TLS proxy in front of the gateway, under an `--allowed-host` name.
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| hosts.admits(authority));
        if !own {
            return Err(GatewayError::CrossOrigin(origin));
        }
    }
    match text(header::HeaderName::from_static("sec-fetch-site")).as_deref() {
        Some(site @ ("cross-site" | "same-site")) => Err(GatewayError::CrossOrigin(format!(
            "(Sec-Fetch-Site: {site})"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(allowed: &[&str]) -> OwnHosts {
        let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        OwnHosts::new(SocketAddr::from(([127, 0, 0, 1], 3001)), &allowed)
    }

    #[test]
    fn the_loopback_names_at_the_gateways_port_are_admitted() {
        let own = hosts(&[]);
        for host in [
            "127.0.0.1:3001",
            "localhost:3001",
            "LocalHost:3001",
            "[::1]:3001",
        ] {
            assert!(own.admits(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:3001",
            "localhost",
            "localhost:3002",
            "127.0.0.1",
            "localhost.:3001",
            "127.0.0.1:3001/x",
            "user@127.0.0.1:3001",
            "127.0.0.1:port",
            "[::1]",
            ":3001",
            "",
        ] {
            assert!(!own.admits(host), "{host}");
        }
    }

    #[test]
    fn port_80_may_be_left_out() {
        let own = OwnHosts::new(SocketAddr::from(([127, 0, 0, 1], 80)), &[]);
        assert!(own.admits("localhost"));
        assert!(own.admits("127.0.0.1:80"));
        assert!(!own.admits("localhost:3001"));
    }

    #[test]
    fn allowed_names_admit_any_port_and_allowed_authorities_one() {
        let own = hosts(&["gateway.test", "Proxy.Test:8080"]);
        assert!(own.admits("gateway.test"));
        assert!(own.admits("gateway.test:9999"));
        assert!(own.admits("proxy.test:8080"));
        assert!(!own.admits("proxy.test:8081"));
        assert!(!own.admits("proxy.test"));
        assert!(!own.admits("sub.gateway.test"));
    }

    fn redrive(headers: &[(&str, &str)]) -> Request {
        let mut request = Request::post("/_gateway/dead-letters/redrive");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn only_the_gateways_own_origins_change_its_views() {
        let own = hosts(&["gateway.test"]);
        for headers in [
            &[][..],
            &[("origin", "http://127.0.0.1:3001")],
            &[("origin", "https://gateway.test")],
            &[
                ("origin", "http://localhost:3001"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert!(
                sent_by_own_page(&own, &redrive(headers)).is_ok(),
                "{headers:?}"
            );
        }
        for headers in [
            &[("origin", "http://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "file://")],
            &[("sec-fetch-site", "same-site")],
        ] {
            assert!(
                sent_by_own_page(&own, &redrive(headers)).is_err(),
                "{headers:?}"
            );
        }
        let foreign_read = Request::get("/_gateway/connections")
            .header("origin", "http://evil.example")
            .body(axum::body::Body::empty())
            .expect("request");
        assert!(
            sent_by_own_page(&own, &foreign_read).is_ok(),
            "reads are not checked"
        );
    }

    #[test]
    fn the_description_names_every_admitted_host() {
        assert_eq!(
            hosts(&["gateway.test"]).describe(),
            "127.0.0.1:3001, localhost:3001, [::1]:3001, gateway.test"
        );
    }
}
