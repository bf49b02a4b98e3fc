//! Tokens: `TokenKeys::verify` on arbitrary strings, on arbitrary claims signed with the right
//! key (so the claim checks are reached), and the mint → verify round trip for arbitrary user
//! ids. The first byte picks the mode. Never a panic; a minted token verifies to its user; a
//! verified identity always has a valid user id.
#![no_main]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wspush_fuzz::{keys, tokio, NOW, SECRET};
use wspush_runtime::auth::{check_user_id, TestTokenRequest, TokenError};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    match mode % 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(identity) = tokio().block_on(keys.verify(&text, NOW)) {
                assert!(check_user_id(&identity.user_id).is_ok());
            }
        }
        1 => {
            let Ok(claims) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            let Ok(token) = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            ) else {
                return;
            };
            match tokio().block_on(keys.verify(&token, NOW)) {
                Ok(identity) => assert!(check_user_id(&identity.user_id).is_ok()),
                Err(e) => assert!(
                    !matches!(
                        e,
                        TokenError::BadSignature | TokenError::WrongAlgorithm | TokenError::Missing
                    ),
                    "a correctly signed HS256 token was refused for {e:?}"
                ),
            }
        }
        _ => {
            let user_id = String::from_utf8_lossy(rest).into_owned();
            let request = TestTokenRequest {
                user_id: Some(user_id.clone()),
                ..TestTokenRequest::default()
            };
            match keys.mint(&request, NOW) {
                Ok(token) => {
                    let identity = tokio()
                        .block_on(keys.verify(&token, NOW))
                        .unwrap_or_else(|e| panic!("a minted token does not verify: {e}"));
                    assert_eq!(identity.user_id, user_id);
                }
                Err(e) => {
                    assert!(
                        matches!(e, TokenError::InvalidUserId(_)),
                        "mint failed: {e:?}"
                    );
                    assert!(check_user_id(&user_id).is_err());
                }
            }
        }
    }
});
