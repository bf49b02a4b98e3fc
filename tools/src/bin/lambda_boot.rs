//! Runs a built `bootstrap` (native, or arm64 under qemu-user) against the wire-level Lambda
//! Runtime API fake the runtime's native test uses, as Lambda would run it.
//!
//! ```sh
//! # does it boot and answer? (scripts/build-lambda.sh runs this after building)
//! cargo run -p wspush-tools --bin lambda-boot -- check --bootstrap PATH [--qemu QEMU]
//! # init time: process start until the first `GET /next`, N runs per binary, interleaved;
//! # the first binary is the baseline of the ratios; --identity-provider also times each
//! # binary configured with an OpenID provider (its discovery and key set fetched in init)
//! cargo run -p wspush-tools --bin lambda-boot -- bench --runs 20 [--qemu QEMU] \
//!     [--identity-provider] before=PATH after=PATH
//! ```
//!
//! `--qemu` names the qemu-user emulator (e.g. `qemu-aarch64-static`); the dynamic loader and
//! libc come from `QEMU_LD_PREFIX` (Debian's `libc6-arm64-cross`: `/usr/aarch64-linux-gnu`).
//! The cold start includes what the deployed function does in init: reading the JWT secret
//! from Secrets Manager (served by the same fake). With `BENCH_REPORT` set, the check and each
//! binary's init time are also recorded for `docs/performance.md` (see `wspush_tools::report`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use wspush_runtime::auth::{TestTokenRequest, TokenKeys};
use wspush_tools::report::{ms, Figure};
use wspush_tools::runtime_api::{Answer, RuntimeApi};

const SECRET_ID: &str = "wspush/jwt";
const SECRET: &str = "boot-check-secret";
/// Generous: a cold start under qemu on a busy 2-core machine takes well under a second.
const BOOT_LIMIT: Duration = Duration::from_secs(60);
/// The table of `docs/performance.md` these figures go to (`scripts/build-lambda.sh` adds
/// the zip's size to it).
const TABLE: &str = "The Lambda artifact (`build-lambda.sh`, `lambda-boot`)";

/// How to start one binary: directly, or through qemu-user.
#[derive(Clone, Debug)]
struct Launcher {
    qemu: Option<String>,
}

/// One binary as timed: its label, its path, and the OpenID issuer it is configured with.
#[derive(Clone, Debug)]
struct Subject {
    label: String,
    path: PathBuf,
    issuer: Option<String>,
}

/// The runtime's test key set, served as an OpenID provider would serve it.
const TEST_JWKS: &str = include_str!("../../../runtime/src/auth/testdata/jwks.json");

/// Serves discovery and the test key set on 127.0.0.1 for as long as the process runs; the
/// issuer URL.
async fn identity_provider() -> Result<String> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/keys")}).to_string();
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { discovery }),
        )
        .route("/keys", get(|| async { TEST_JWKS }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(issuer)
}

impl Launcher {
    /// `capture_stderr` pipes the runtime's log for an error message; the bench discards it so
    /// an unread pipe can never block the runtime.
    fn command(
        &self,
        bootstrap: &Path,
        api: &RuntimeApi,
        capture_stderr: bool,
    ) -> tokio::process::Command {
        self.command_with(bootstrap, api, capture_stderr, None)
    }

    /// [`Launcher::command`], configured with the OpenID `issuer` when given.
    fn command_with(
        &self,
        bootstrap: &Path,
        api: &RuntimeApi,
        capture_stderr: bool,
        issuer: Option<&str>,
    ) -> tokio::process::Command {
        let mut command = match &self.qemu {
            Some(qemu) => {
                let mut c = tokio::process::Command::new(qemu);
                c.arg(bootstrap);
                c
            }
            None => tokio::process::Command::new(bootstrap),
        };
        command.env_clear();
        if let Ok(prefix) = std::env::var("QEMU_LD_PREFIX") {
            command.env("QEMU_LD_PREFIX", prefix);
        }
        if let Some(issuer) = issuer {
            command.env("JWT_ISSUER", issuer);
        }
        command
            .envs(api.lambda_env())
            .env("JWT_SECRET_ID", SECRET_ID)
            .env("TEST_TOKENS_ENABLED", "true")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        command
    }

    /// ` under qemu-aarch64-static`, or nothing when native.
    fn under(&self) -> String {
        self.qemu
            .as_deref()
            .map(|q| format!(" under {q}"))
            .unwrap_or_default()
    }
}

fn authorizer_event(token: Option<&str>) -> Result<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../runtime/tests/fixtures/authorizer-request.json"
    );
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let mut event: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {path}"))?;
    if let Some(token) = token {
        event["queryStringParameters"]["access_token"] = json!(token);
    }
    Ok(event)
}

fn answer<'a>(answers: &'a [Answer], id: &str) -> Result<&'a Answer> {
    answers
        .iter()
        .find(|a| a.request_id == id)
        .with_context(|| format!("no answer to {id}; answers: {answers:?}"))
}

/// What one boot of the binary under check left behind.
struct Boot {
    answered: bool,
    /// Start until the third answer (or the limit).
    elapsed: Duration,
    /// Start until the first `GET /next`: the init phase.
    init: Option<Duration>,
    answers: Vec<Answer>,
    init_errors: Vec<Value>,
    secret_fetches: usize,
    stderr: String,
}

/// Boots the binary once with three invocations queued: an authorizer with no token, one with
/// `token`, and a test-token request.
async fn boot_with_invocations(bootstrap: &Path, launcher: &Launcher, token: &str) -> Result<Boot> {
    let api = RuntimeApi::start().await.context("starting the fake")?;
    api.serve_secret(SECRET_ID, SECRET);
    api.invoke("no-token", authorizer_event(None)?);
    api.invoke("valid-token", authorizer_event(Some(token))?);
    api.invoke("mint", json!({"userId": "alice"}));

    let started = Instant::now();
    let mut child = launcher
        .command(bootstrap, &api, true)
        .spawn()
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let answered = api.wait(BOOT_LIMIT, |api| api.answers().len() >= 3).await;
    let elapsed = started.elapsed();
    let _ = child.kill().await;
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut err, &mut stderr).await;
    }
    let boot = Boot {
        answered,
        elapsed,
        init: api.first_next().map(|t| t.duration_since(started)),
        answers: api.answers(),
        init_errors: api.init_errors(),
        secret_fetches: api.secret_fetches(),
        stderr,
    };
    api.stop().await;
    Ok(boot)
}

/// The three answers are what Lambda expects: `Unauthorized` without a token, an Allow policy
/// with one, and a minted token that verifies with the secret from Secrets Manager (read once).
async fn verify_answers(boot: &Boot, keys: &TokenKeys, now: i64) -> Result<()> {
    let answers = &boot.answers;
    let refused = answer(answers, "no-token")?;
    ensure!(
        refused.kind == "error" && refused.body["errorType"] == "Unauthorized",
        "no token: expected an Unauthorized error, got {refused:?}"
    );
    let allowed = answer(answers, "valid-token")?;
    let effect = &allowed.body["policyDocument"]["Statement"][0]["Effect"];
    ensure!(
        allowed.kind == "response" && effect == "Allow",
        "valid token: expected an Allow policy, got {allowed:?}"
    );
    let minted = answer(answers, "mint")?;
    let minted_token = minted.body["token"].as_str().unwrap_or_default();
    let identity = keys
        .verify(minted_token, now)
        .await
        .with_context(|| format!("minted token does not verify with the secret: {minted:?}"))?;
    ensure!(
        identity.user_id == "alice",
        "minted token is for {}",
        identity.user_id
    );
    let fetches = boot.secret_fetches;
    ensure!(fetches == 1, "expected one secret fetch, saw {fetches}");
    Ok(())
}

/// Boots the binary once and checks its three answers (see [`verify_answers`]).
async fn check(bootstrap: PathBuf, launcher: Launcher) -> Result<()> {
    let keys = TokenKeys::new(
        SECRET.as_bytes(),
        wspush_runtime::auth::ClaimRules::default(),
    );
    let now = chrono::Utc::now().timestamp();
    let token = keys
        .mint(&TestTokenRequest::default(), now)
        .context("minting a token")?;
    let boot = boot_with_invocations(&bootstrap, &launcher, &token).await?;
    let stderr = &boot.stderr;
    ensure!(
        boot.init_errors.is_empty(),
        "init error reported: {:?}\n{stderr}",
        boot.init_errors
    );
    ensure!(
        boot.answered,
        "{} answered {} of 3 invocations within {BOOT_LIMIT:?}: {:?}\n{stderr}",
        bootstrap.display(),
        boot.answers.len(),
        boot.answers
    );
    verify_answers(&boot, &keys, now).await?;

    let first_next = boot
        .init
        .map(|d| format!("{:.1} ms", ms(d)))
        .unwrap_or_else(|| "?".into());
    let answers = "authorizer without token -> Unauthorized, valid token -> Allow, test token \
                   minted with the Secrets Manager secret";
    println!(
        "boot check passed: {} started{}, first /next after {first_next}, 3 invocations \
         answered in {:.1} ms ({answers})",
        bootstrap.display(),
        launcher.under(),
        ms(boot.elapsed),
    );
    Figure::new(
        TABLE,
        format!("boot check of the built binary{}", launcher.under()),
        format!("passed: first `GET /next` after {first_next}; {answers}"),
    )
    .target("boots and answers as on Lambda", true)
    .record()?;
    Ok(())
}

/// One cold start: spawn until the first `GET /next`.
async fn init_time(subject: &Subject, launcher: &Launcher) -> Result<Duration> {
    let bootstrap = &subject.path;
    let api = RuntimeApi::start().await.context("starting the fake")?;
    api.serve_secret(SECRET_ID, SECRET);
    let started = Instant::now();
    let mut child = launcher
        .command_with(bootstrap, &api, false, subject.issuer.as_deref())
        .spawn()
        .with_context(|| format!("starting {}", bootstrap.display()))?;
    let polled = api.wait(BOOT_LIMIT, |api| api.first_next().is_some()).await;
    let first = api.first_next();
    let _ = child.kill().await;
    api.stop().await;
    match (polled, first) {
        (true, Some(first)) => Ok(first.duration_since(started)),
        _ => bail!("{} never asked for /next", bootstrap.display()),
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Init times in ms, `runs` per subject, each list sorted.
async fn init_times(
    subjects: &[Subject],
    runs: usize,
    launcher: &Launcher,
) -> Result<Vec<Vec<f64>>> {
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); subjects.len()];
    // One warm-up start each so the page cache holds every binary, then interleaved rounds so
    // machine noise hits all binaries alike.
    for subject in subjects {
        init_time(subject, launcher).await?;
    }
    for _ in 0..runs {
        for (i, subject) in subjects.iter().enumerate() {
            times[i].push(ms(init_time(subject, launcher).await?));
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    Ok(times)
}

/// The binaries as timed: each alone, and each with an OpenID provider when asked.
async fn subjects(binaries: Vec<(String, PathBuf)>, with_provider: bool) -> Result<Vec<Subject>> {
    let plain = binaries.iter().map(|(label, path)| Subject {
        label: label.clone(),
        path: path.clone(),
        issuer: None,
    });
    let mut all: Vec<Subject> = plain.collect();
    if with_provider {
        let issuer = identity_provider().await?;
        all.extend(binaries.into_iter().map(|(label, path)| Subject {
            label: format!("{label} + OpenID provider"),
            path,
            issuer: Some(issuer.clone()),
        }));
    }
    Ok(all)
}

async fn bench(subjects: Vec<Subject>, runs: usize, launcher: Launcher) -> Result<()> {
    ensure!(runs > 0, "--runs must be at least 1");
    let times = init_times(&subjects, runs, &launcher).await?;
    println!(
        "init time (process start -> first GET /next, incl. one Secrets Manager call), {runs} runs{}",
        launcher.under()
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>12} {:>14}",
        "binary", "min ms", "median ms", "max ms", "bytes", "median/base"
    );
    let mut base: Option<(&str, f64)> = None;
    for (Subject { label, path, .. }, t) in subjects.iter().zip(times) {
        let med = median(&t);
        let (base_label, base_med) = *base.get_or_insert((label, med));
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let (min, max) = (t[0], t[t.len() - 1]);
        println!(
            "{label:<12} {min:>10.2} {med:>10.2} {max:>10.2} {bytes:>12} {:>14.2}",
            med / base_med
        );
        let mut figure = Figure::new(
            TABLE,
            format!(
                "init of `{label}`{}: process start → first `GET /next` (one Secrets Manager \
                 call), median of {runs}",
                launcher.under()
            ),
            format!("{med:.1} ms (min {min:.1}, max {max:.1})"),
        );
        if base_label != label {
            figure = figure
                .baseline(format!("`{base_label}`: {base_med:.1} ms"))
                .ratio(med / base_med);
        }
        figure.record()?;
    }
    Ok(())
}

fn usage() -> &'static str {
    "usage: lambda-boot check --bootstrap PATH [--qemu QEMU]\n       \
     lambda-boot bench [--runs N] [--qemu QEMU] [--identity-provider] LABEL=PATH [LABEL=PATH ...]"
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().context(usage())?;
    let mut launcher = Launcher { qemu: None };
    let mut bootstrap = None;
    let mut runs = 20usize;
    let mut binaries = Vec::new();
    let mut with_provider = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--identity-provider" => with_provider = true,
            "--qemu" => launcher.qemu = Some(args.next().context("--qemu needs a program")?),
            "--bootstrap" => {
                bootstrap = Some(PathBuf::from(
                    args.next().context("--bootstrap needs a path")?,
                ))
            }
            "--runs" => {
                let value = args.next().context("--runs needs a number")?;
                runs = value
                    .parse()
                    .with_context(|| format!("--runs: {value:?} is not a number"))?;
            }
            other => match other.split_once('=') {
                Some((label, path)) if command == "bench" => {
                    binaries.push((label.to_string(), PathBuf::from(path)))
                }
                _ => bail!("unexpected argument {other:?}\n{}", usage()),
            },
        }
    }
    match command.as_str() {
        "check" => check(bootstrap.context(usage())?, launcher).await,
        "bench" => {
            ensure!(!binaries.is_empty(), "{}", usage());
            bench(subjects(binaries, with_provider).await?, runs, launcher).await
        }
        _ => bail!("unknown command {command:?}\n{}", usage()),
    }
}
