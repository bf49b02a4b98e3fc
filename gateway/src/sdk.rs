//! The SDK configuration every client of the gateway uses: offline, fixed, explicit.
//!
//! Why not `aws_config::load_defaults`: it reads profiles and the environment and may ask the
//! instance metadata service for credentials, none of which a local run should depend on (an
//! `AWS_ENDPOINT_URL` meant for the CLI would even redirect the store's client). The SDK still
//! signs every request, so dummy static credentials are set; nothing checks them.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// An `SdkConfig` with `region`, static dummy credentials and no lookups at all.
pub fn local_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "wspush-gateway",
        )))
        .build()
}
