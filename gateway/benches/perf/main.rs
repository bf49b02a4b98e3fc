//! The gateway's performance benches beyond the plain fan-out, one binary (each bench binary
//! links the whole SDK, and this machine has 2 cores):
//!
//! ```text
//! cargo bench -p wspush-gateway --bench perf -- limits [options]         # latency, throttle
//! cargo bench -p wspush-gateway --bench perf -- memory [options]         # gateway memory
//! ```
//!
//! `scripts/bench.sh` runs them with the fan-out bench and the `bootstrap`'s own measurements
//! (the `wspush-tools` crate) and writes every figure, with its baseline from the same run, to
//! `docs/performance.md`. Each module's documentation says what it measures.

mod limits;
mod memory;
#[path = "../support/mod.rs"]
mod support;

use wspush_tools::Fail;

fn main() -> Result<(), Fail> {
    // `cargo bench` adds `--bench`; the first word that names a bench picks it.
    let args: Vec<String> = std::env::args().collect();
    match args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with("--") && ["limits", "memory"].contains(&a.as_str()))
        .map(String::as_str)
    {
        Some("limits") => limits::main(&args),
        Some("memory") => memory::main(&args),
        _ => Err("name a bench: limits or memory".into()),
    }
}
