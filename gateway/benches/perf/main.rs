//! The performance benches beyond the plain fan-out, one binary (each bench binary links the
//! whole SDK, and this machine has 2 cores):
//!
//! ```text
//! cargo bench -p wspush-gateway --bench perf -- limits [options]         # latency, throttle
//! cargo bench -p wspush-gateway --bench perf -- memory [options]         # gateway memory
//! cargo bench -p wspush-gateway --bench perf -- lambda-memory [options]  # bootstrap's peak
//! ```
//!
//! `scripts/bench.sh` runs them all with the fan-out bench and prints every figure with its
//! baseline from the same run. Each module's documentation says what it measures.

mod lambda_memory;
mod limits;
mod memory;
#[path = "../support/mod.rs"]
mod support;

use support::Fail;

fn main() -> Result<(), Fail> {
    // `cargo bench` adds `--bench`; the first word that names a bench picks it.
    let args: Vec<String> = std::env::args().collect();
    match args
        .iter()
        .skip(1)
        .find(|a| {
            !a.starts_with("--") && ["limits", "memory", "lambda-memory"].contains(&a.as_str())
        })
        .map(String::as_str)
    {
        Some("limits") => limits::main(&args),
        Some("memory") => memory::main(&args),
        Some("lambda-memory") => lambda_memory::main(&args),
        _ => Err("name a bench: limits, memory or lambda-memory".into()),
    }
}
