//! Authentication: the tokens clients present on `$connect`, the keys that verify them, and the
//! REQUEST authorizer decision built on them.
//!
//! - [`token`] verifies a token with the key its algorithm calls for and mints test tokens;
//! - [`jwks`] keeps the identity provider's keys, read through [`fetch`];
//! - [`claims`] checks time, issuer, audience and names the user;
//! - [`authorizer`] turns a verified token into API Gateway's answer and the context every
//!   route receives.
//!
//! Decisions are functions of their inputs and the current time, so the Lambda, the local
//! gateway and the tests share exactly one decision.

pub mod authorizer;
pub mod claims;
pub mod fetch;
pub mod jwks;
pub mod token;

pub use authorizer::{authorize, token_from_request, AuthContext, Unauthorized};
pub use claims::{ClaimRules, Claims};
pub use jwks::{KeySource, ProviderKeys};
pub use token::{
    check_user_id, Identity, TestTokenRequest, TokenError, TokenKeys, MAX_USER_ID_BYTES,
};
