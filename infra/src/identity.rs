//! Who signs the tokens the authorizer accepts: the HS256 secret (the quick start's tokens and
//! `CreateTestJwt`'s), and with `CreateUserPool` a Cognito user pool and app client, the stack's
//! own identity provider.
//!
//! Why a part of its own, before the functions: the authorizer is told the expected issuer and
//! audience, and for the user pool those exist only once the pool and its client do. [`declare`]
//! returns them whichever way they were chosen (`JwtIssuer`/`JwtAudience` from configuration, or
//! the pool's issuer URL and client id), so the functions take one value and the exports read the
//! pool's ids from here. Data flows one way: this module imports no other part.
//!
//! The app client has no secret and allows `USER_PASSWORD_AUTH` and refresh tokens, so a user
//! can sign in with `aws cognito-idp initiate-auth` and connect with the access token it
//! returns. The pool verifies no email or phone number, so a user who signs up cannot confirm
//! themselves: an administrator confirms them (`aws cognito-idp admin-confirm-sign-up`, which
//! needs IAM credentials). The runtime checks a Cognito access token's `client_id` and
//! `token_use` where other providers' tokens carry `aud`.

use pulumi_gestalt_rust::{Context, Output, pulumi_combine};

use crate::aws::cognito::user_pool::{self, UserPoolArgs};
use crate::aws::cognito::user_pool_client::{self, UserPoolClientArgs};
use crate::aws::secretsmanager::secret::{self, SecretArgs};
use crate::aws::secretsmanager::secret_version::{self, SecretVersionArgs};
use crate::config::StackConfig;

/// The app client's sign-in flows: a user name and password (what the aws CLI sends), and
/// refreshing tokens without the password.
pub const EXPLICIT_AUTH_FLOWS: [&str; 2] = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"];

/// The user pool `CreateUserPool` declares.
pub struct UserPool {
    pub id: Output<String>,
    /// The app client's id: the audience the authorizer expects.
    pub client_id: Output<String>,
    /// `https://cognito-idp.{region}.amazonaws.com/{pool id}`, the `iss` of its tokens.
    pub issuer: Output<String>,
}

/// What the functions and the exports need to know about token signers.
pub struct Identity {
    /// The HS256 secret's ARN, known once the secret has a value.
    pub secret_arn: Output<String>,
    /// The expected `iss` (`JWT_ISSUER`), when there is one.
    pub issuer: Option<Output<String>>,
    /// The expected `aud`, or for Cognito access tokens `client_id` (`JWT_AUDIENCE`).
    pub audience: Option<Output<String>>,
    /// `None` without `CreateUserPool`.
    pub user_pool: Option<UserPool>,
}

/// The secret, and the user pool when asked for.
pub fn declare(
    ctx: &Context,
    config: &StackConfig,
    prefix: &str,
    jwt_secret: Output<String>,
) -> Identity {
    let secret_arn = declare_jwt_secret(ctx, jwt_secret);
    let tokens = &config.tokens;
    if tokens.create_user_pool {
        let pool = declare_user_pool(ctx, prefix);
        return Identity {
            secret_arn,
            issuer: Some(pool.issuer.clone()),
            audience: Some(pool.client_id.clone()),
            user_pool: Some(pool),
        };
    }
    let constant = |value: &Option<String>| value.as_ref().map(|v| ctx.new_output(v));
    Identity {
        secret_arn,
        issuer: constant(&tokens.issuer),
        audience: constant(&tokens.audience),
        user_pool: None,
    }
}

/// The secret holding the signing key; returns its ARN, known once the secret has a value.
fn declare_jwt_secret(ctx: &Context, jwt_secret: Output<String>) -> Output<String> {
    let secret = secret::create(
        ctx,
        "jwt-secret",
        SecretArgs::builder()
            .description("HS256 key that signs and verifies WebSocket client tokens (wspush)")
            .build_struct(),
    );
    let version = secret_version::create(
        ctx,
        "jwt-secret-version",
        SecretVersionArgs::builder()
            .secret_id(secret.id.clone())
            .secret_string(jwt_secret)
            .build_struct(),
    );
    // The functions read the secret by ARN; taking it through the version makes them wait until
    // the secret has a value.
    pulumi_combine!(secret.arn.clone(), version.id).map(|(arn, _)| arn)
}

/// The pool and its app client.
fn declare_user_pool(ctx: &Context, prefix: &str) -> UserPool {
    let pool = user_pool::create(
        ctx,
        "user-pool",
        UserPoolArgs::builder()
            .name(format!("{prefix}-users"))
            .build_struct(),
    );
    let client = user_pool_client::create(
        ctx,
        "user-pool-client",
        UserPoolClientArgs::builder()
            .name(format!("{prefix}-client"))
            .user_pool_id(pool.id.clone())
            // A public client (a browser, a phone, the aws CLI) cannot keep a secret.
            .generate_secret(false)
            .explicit_auth_flows(EXPLICIT_AUTH_FLOWS.map(str::to_string).to_vec())
            // Sign-in and recovery answer the same for a user who does not exist.
            .prevent_user_existence_errors("ENABLED".to_string())
            .build_struct(),
    );
    // The provider's `endpoint` is `cognito-idp.{region}.amazonaws.com/{pool id}` ("Endpoint
    // name of the user pool", pulumi-aws 7.51.1), the issuer without its scheme.
    let issuer = pool.endpoint.map(|endpoint| format!("https://{endpoint}"));
    UserPool {
        id: pool.id,
        client_id: client.id,
        issuer,
    }
}
