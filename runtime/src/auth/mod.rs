//! Authentication: the HS256 tokens clients present on `$connect`, and the REQUEST authorizer
//! decision built on them.
//!
//! Both are pure functions of their inputs and the current time, so the Lambda, the local
//! gateway and the tests share exactly one decision.

pub mod authorizer;
pub mod token;

pub use authorizer::{authorize, token_from_request, AuthContext, Unauthorized};
pub use token::{
    check_user_id, Identity, TestTokenRequest, TokenError, TokenKeys, MAX_USER_ID_BYTES,
};
