//! Reading the identity provider's documents (discovery, key set) over HTTPS.
//!
//! A seam of its own ([`Fetch`]) so the key cache's refetch rules are tested without a network,
//! and one rule for every URL the runtime fetches keys from: `https://`, except loopback
//! addresses, where the local gateway's tests serve keys over plain HTTP.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use wspush_contract::timeouts;

use crate::aws_http::{https_client, HttpsClient};

/// The largest document read: key sets with many keys and certificate chains stay far below.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// GETs a document; the error says why in words.
#[async_trait]
pub trait Fetch: Send + Sync {
    async fn get(&self, url: &str) -> Result<Bytes, String>;
}

/// `url` is `https://`, or `http://` on a loopback address; `what` names it in the error.
pub fn check_url(url: &str, what: &str) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("the {what} {url:?} is not a URL: {e}"))?;
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        _ => Err(format!(
            "the {what} {url:?} must be an https:// URL (plain http:// only on 127.0.0.1, [::1] or localhost)"
        )),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// [`Fetch`] over the runtime's pooled HTTPS client, each request bounded by
/// [`timeouts::JWKS_FETCH_MS`].
pub struct HttpFetch {
    client: HttpsClient,
    timeout: Duration,
}

impl Default for HttpFetch {
    fn default() -> Self {
        Self {
            client: https_client(),
            timeout: Duration::from_millis(timeouts::JWKS_FETCH_MS),
        }
    }
}

#[async_trait]
impl Fetch for HttpFetch {
    async fn get(&self, url: &str) -> Result<Bytes, String> {
        check_url(url, "URL")?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let answer = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("no answer: {e}"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("answered {status}"));
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_accepted() {
        for ok in [
            "https://idp.example.com",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X",
            "http://127.0.0.1:8080/jwks",
            "http://localhost:3000",
            "http://[::1]:9/keys",
        ] {
            assert_eq!(check_url(ok, "issuer"), Ok(()), "{ok}");
        }
        for bad in [
            "http://idp.example.com",
            "http://10.0.0.1/jwks",
            "ftp://127.0.0.1/x",
            "idp.example.com",
            "",
        ] {
            let err = check_url(bad, "issuer").expect_err(bad);
            assert!(err.contains("issuer"), "{err}");
        }
    }
}
