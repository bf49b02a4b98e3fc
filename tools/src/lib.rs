//! Measuring tools for wspush: what the benchmark scripts run besides `cargo bench`, and the
//! harness the gateway's benches share with them. Nothing here ships; the crate is not
//! published.
//!
//! The binaries measure the runtime's built `bootstrap`, the Lambda function's process, so they
//! live here and not under the runtime (whose `examples/` would read as usage examples) or the
//! gateway's benches (which measure the gateway):
//!
//! - `lambda-boot`: boots a built `bootstrap` (native, or arm64 under qemu-user) against the
//!   wire-level Lambda Runtime API fake; `check` proves it answers, `bench` times its init;
//! - `lambda-memory`: the `bootstrap`'s peak memory for one fan-out through the local gateway;
//! - `lambda-fanout-rss`: its CPU time and memory for one fan-out to a counting `@connections`
//!   endpoint, per push client.
//!
//! The library, in the order data flows through a measurement:
//!
//! - [`cli`]: command-line options and the tokio runtime every tool and bench starts;
//! - [`gateway`]: the real `wspush-gateway` binary as a child process, and the runtime's
//!   fan-out tallies read from its log;
//! - [`clients`]: WebSocket clients in this process, subscribed and counting every frame;
//! - [`local_api`]: the gateway's HTTP APIs a measurement calls (PutEvents, the connection list);
//! - [`bootstrap`]: the built `bootstrap` started as Lambda starts the events function, and the
//!   SQS batch it is handed;
//! - [`runtime_api`]: the wire-level Lambda Runtime API fake the runtime's own tests use;
//! - [`procfs`]: memory and CPU time of a child process, from `/proc`;
//! - [`report`]: each figure printed and, when `BENCH_REPORT` names a file, appended to it as
//!   one JSON line, which `scripts/report/render.py` turns into `docs/performance.md`.

pub mod bootstrap;
pub mod cli;
pub mod clients;
pub mod gateway;
pub mod local_api;
pub mod procfs;
pub mod report;
#[path = "../../runtime/tests/support/runtime_api.rs"]
pub mod runtime_api;

/// The error of a measurement: anything that makes its figure meaningless.
pub type Fail = Box<dyn std::error::Error + Send + Sync>;
