//! A verified token's claims, and the checks every token passes whoever signed it.
//!
//! Claims stay a JSON object: identity providers add claims of their own (`org`, `groups`,
//! Cognito's `cognito:groups`), and the subscribe policy may name any of them, nested ones by a
//! dotted path (`data.userId`). The checks take `now` as an argument, so they are testable:
//! `exp` (required) and `nbf` with a leeway for clock skew, the issuer, the audience (or, for
//! Cognito access tokens, which carry no `aud`, `client_id` with `token_use`), and the claim
//! that names the user.

use serde_json::{Map, Value};

use super::token::{check_user_id, TokenError};

/// What a token must satisfy besides its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRules {
    /// Expected `iss`, when set.
    pub issuer: Option<String>,
    /// Expected `aud` (or Cognito's `client_id`), when set.
    pub audience: Option<String>,
    /// The dotted path of the claim naming the user; `None`: `data.userId`, else `sub`.
    pub user_claim: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
}

impl Default for ClaimRules {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            user_claim: None,
            leeway_secs: wspush_contract::defaults::JWT_LEEWAY_SECONDS,
        }
    }
}

/// The claims of a token whose signature has been verified.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims(Map<String, Value>);

/// A JSON object is a set of claims; anything else is given back.
impl TryFrom<Value> for Claims {
    type Error = Value;

    fn try_from(value: Value) -> Result<Self, Value> {
        match value {
            Value::Object(claims) => Ok(Self(claims)),
            other => Err(other),
        }
    }
}

impl Claims {
    pub fn new(claims: Map<String, Value>) -> Self {
        Self(claims)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The claim at a dotted `path` (`org`, `data.userId`); a claim whose own name holds a dot
    /// (`cognito:groups` has none, but `https://example.com/roles` has) is found whole first.
    pub fn get(&self, path: &str) -> Option<&Value> {
        if let Some(value) = self.0.get(path) {
            return Some(value);
        }
        let mut parts = path.split('.');
        let first = self.0.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.as_object()?.get(part))
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.get(path)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `exp`, whole seconds (fractional NumericDates are allowed by RFC 7519 and rounded down).
    pub fn expires_at(&self) -> Option<i64> {
        self.0.get("exp").and_then(numeric_date)
    }

    /// Checks time, issuer and audience at unix time `now`, and returns the user id.
    pub fn check(&self, rules: &ClaimRules, now: i64) -> Result<String, TokenError> {
        self.check_time(rules.leeway_secs, now)?;
        self.check_issuer(rules.issuer.as_deref())?;
        self.check_audience(rules.audience.as_deref())?;
        let user_id = self.user_id(rules.user_claim.as_deref())?;
        check_user_id(&user_id)?;
        Ok(user_id)
    }

    fn check_time(&self, leeway_secs: u64, now: i64) -> Result<(), TokenError> {
        let leeway = i64::try_from(leeway_secs).unwrap_or(i64::MAX);
        let exp = self.expires_at().ok_or(TokenError::NoExpiry)?;
        if token_expired(Some(exp), now, leeway_secs) {
            return Err(TokenError::Expired);
        }
        let nbf = self
            .0
            .get("nbf")
            .map(|n| numeric_date(n).unwrap_or(i64::MAX));
        if nbf.is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    fn check_issuer(&self, issuer: Option<&str>) -> Result<(), TokenError> {
        match issuer {
            Some(expected) if self.text("iss") != Some(expected) => Err(TokenError::WrongIssuer),
            _ => Ok(()),
        }
    }

    /// `aud` may be one string or a list (RFC 7519 §4.1.3). Cognito's access tokens carry the
    /// app client in `client_id` instead, with `token_use: access`; its ID tokens carry `aud`.
    fn check_audience(&self, audience: Option<&str>) -> Result<(), TokenError> {
        let Some(expected) = audience else {
            return Ok(());
        };
        let in_aud = match self.0.get("aud") {
            Some(Value::String(aud)) => aud == expected,
            Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(expected)),
            _ => false,
        };
        let cognito_access =
            self.text("token_use") == Some("access") && self.text("client_id") == Some(expected);
        if in_aud || cognito_access {
            Ok(())
        } else {
            Err(TokenError::WrongAudience)
        }
    }

    /// The user id: the configured claim, else the quick start's `data.userId`, else `sub`.
    fn user_id(&self, user_claim: Option<&str>) -> Result<String, TokenError> {
        let found = match user_claim {
            Some(path) => self.text(path),
            None => self.text("data.userId").or_else(|| self.text("sub")),
        };
        found.map(str::to_string).ok_or_else(|| {
            TokenError::NoUser(user_claim.unwrap_or("data.userId or sub").to_string())
        })
    }

    /// A display name from the quick start's claims or the standard ones, when present.
    pub fn names(&self) -> (Option<String>, Option<String>) {
        let first = self
            .text("data.firstName")
            .or_else(|| self.text("given_name"));
        let last = self
            .text("data.lastName")
            .or_else(|| self.text("family_name"));
        (first.map(str::to_string), last.map(str::to_string))
    }

    /// `sub`, or the quick start's `data.sub`.
    pub fn subject(&self) -> Option<String> {
        self.text("data.sub")
            .or_else(|| self.text("sub"))
            .map(str::to_string)
    }
}

/// Whether a token expiring at `expires_at` (unknown: never) has expired at `now`, with
/// `leeway_secs` of clock skew tolerated: at `$connect`, and for a connection's later frames
/// and pushes alike.
pub fn token_expired(expires_at: Option<i64>, now: i64, leeway_secs: u64) -> bool {
    let leeway = i64::try_from(leeway_secs).unwrap_or(i64::MAX);
    expires_at.is_some_and(|exp| exp.saturating_add(leeway) < now)
}

/// A NumericDate as whole seconds: an integer, or a fraction rounded down.
fn numeric_date(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        Claims::try_from(value).expect("claims are an object")
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn time_is_checked_with_the_leeway() {
        let rules = ClaimRules::default();
        let ok = claims(json!({"exp": NOW - 10, "sub": "u"}));
        assert_eq!(ok.check(&rules, NOW), Ok("u".into()));
        let strict = ClaimRules {
            leeway_secs: 0,
            ..ClaimRules::default()
        };
        assert_eq!(ok.check(&strict, NOW), Err(TokenError::Expired));
        let none = claims(json!({"sub": "u"}));
        assert_eq!(none.check(&rules, NOW), Err(TokenError::NoExpiry));
        let early = claims(json!({"exp": NOW + 60, "nbf": NOW + 31, "sub": "u"}));
        assert_eq!(early.check(&rules, NOW), Err(TokenError::NotYetValid));
        let fraction = claims(json!({"exp": (NOW as f64) + 0.5, "sub": "u"}));
        assert_eq!(fraction.expires_at(), Some(NOW));
    }

    #[test]
    fn audience_accepts_lists_and_cognito_access_tokens() {
        let rules = ClaimRules {
            audience: Some("app".into()),
            ..ClaimRules::default()
        };
        let exp = NOW + 60;
        for ok in [
            json!({"exp": exp, "sub": "u", "aud": "app"}),
            json!({"exp": exp, "sub": "u", "aud": ["other", "app"]}),
            json!({"exp": exp, "sub": "u", "token_use": "access", "client_id": "app"}),
        ] {
            assert_eq!(
                claims(ok.clone()).check(&rules, NOW),
                Ok("u".into()),
                "{ok}"
            );
        }
        for bad in [
            json!({"exp": exp, "sub": "u"}),
            json!({"exp": exp, "sub": "u", "aud": "other"}),
            json!({"exp": exp, "sub": "u", "token_use": "id", "client_id": "app"}),
        ] {
            assert_eq!(
                claims(bad.clone()).check(&rules, NOW),
                Err(TokenError::WrongAudience),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_user_claim_is_configurable_and_nested_paths_resolve() {
        let token = claims(json!({
            "exp": NOW + 60, "sub": "s-1", "data": {"userId": "quick"}, "custom": {"id": "c-9"}
        }));
        assert_eq!(token.check(&ClaimRules::default(), NOW), Ok("quick".into()));
        let rules = |path: &str| ClaimRules {
            user_claim: Some(path.into()),
            ..ClaimRules::default()
        };
        assert_eq!(token.check(&rules("sub"), NOW), Ok("s-1".into()));
        assert_eq!(token.check(&rules("custom.id"), NOW), Ok("c-9".into()));
        assert_eq!(
            token.check(&rules("missing"), NOW),
            Err(TokenError::NoUser("missing".into()))
        );
    }

    #[test]
    fn issuer_must_match_when_configured() {
        let rules = ClaimRules {
            issuer: Some("https://idp".into()),
            ..ClaimRules::default()
        };
        let good = claims(json!({"exp": NOW + 60, "sub": "u", "iss": "https://idp"}));
        assert!(good.check(&rules, NOW).is_ok());
        let bad = claims(json!({"exp": NOW + 60, "sub": "u", "iss": "https://evil"}));
        assert_eq!(bad.check(&rules, NOW), Err(TokenError::WrongIssuer));
    }
}
