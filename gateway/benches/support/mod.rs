//! What the gateway's benches add to the measuring harness of `wspush-tools`: the gateway they
//! measure is the `wspush-gateway` binary cargo built for this bench, or `WSPUSH_GATEWAY_BIN`
//! (`scripts/profile-fanout.sh` points it at a wrapper that adds options).

use wspush_tools::gateway::Gateway;
use wspush_tools::Fail;

pub fn gateway_binary() -> String {
    std::env::var("WSPUSH_GATEWAY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wspush-gateway").into())
}

/// Starts the gateway with `extra` options, embedded store unless `extra` says otherwise.
pub async fn start_gateway(extra: &[String]) -> Result<Gateway, Fail> {
    wspush_tools::gateway::start_gateway(&gateway_binary(), extra).await
}
