//! How many PostToConnection calls one fan-out keeps in flight, and how fast it starts them.
//!
//! Why adaptive: on AWS each call is a network round trip (~20 ms), so a fixed small
//! concurrency leaves most of the account's rate unused, while an unbounded one meets the
//! account throttle (10,000 requests/s, burst 5,000, shared by all API Gateway traffic of the
//! Region) and turns into 429s. Neither figure is known in advance, and both change with what
//! else the account does, so the fan-out measures them as it goes, as TCP does:
//!
//! - **Concurrency (latency).** The window starts at `initial_concurrency` and grows by one per
//!   successful call (slow start: doubling every round trip) until the smoothed latency rises
//!   above [`LATENCY_TOLERANCE`] times its own lowest value (plus [`LATENCY_SLACK`]). The
//!   baseline is the lowest *smoothed* latency once [`WARM_UP_SAMPLES`] calls have answered,
//!   not the fastest single call: round trips to AWS vary from call to call, and against the
//!   fastest one ordinary jitter (10 to 30 ms around 20) reads as a queue and cuts the window
//!   again and again. That first
//!   signal only ends slow start (as TCP's HyStart does: the ramp itself, opening connections,
//!   raises latency for a moment); from then on the window grows by [`ADDITIVE_STEP`] calls per
//!   round trip and each later signal cuts it by [`DECREASE`], at most once per counting
//!   window. Bounded by `min_concurrency` and `max_concurrency`.
//! - **Rate (429).** Until the first 429 calls are not paced at all (or paced at `max_rate` when
//!   one is configured). Results are counted in short windows; a window with 429s shows the
//!   rate the throttle allows (while it answers 429 its bucket is empty, so the calls it let
//!   through are exactly its refill rate), and pacing drops to that delivered rate — a
//!   multiplicative cut by as much as was measured, never below `min_rate`. Each window
//!   without 429s raises the rate by a fixed step ([`RATE_STEP`] of the rate last measured per
//!   second): additive increase, so the fan-out probes back up when the account's other
//!   traffic ends.
//!
//! Everything reads time through `tokio::time`, so the tests drive it on paused time.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The smoothed latency may reach this multiple of its lowest value before the window is cut.
pub const LATENCY_TOLERANCE: f64 = 2.0;
/// ...and must also exceed its lowest value by this much: below a few milliseconds the
/// latency is scheduling noise, not a queue building up on the way to AWS.
pub const LATENCY_SLACK: Duration = Duration::from_millis(10);
/// Answers before the smoothed latency is taken as a baseline: by then it has moved most of the
/// way from the first call's latency to the usual one (each answer weighs 1/8).
pub const WARM_UP_SAMPLES: u32 = 16;
/// Multiplicative decrease of the window on rising latency.
pub const DECREASE: f64 = 0.75;
/// Additive increase of the window per round trip after slow start. More than TCP's one: a
/// fan-out lasts a few hundred round trips, not thousands, and must regain a cut window
/// within it.
pub const ADDITIVE_STEP: f64 = 8.0;
/// Additive increase of the paced rate per second without 429s, as a share of the rate last
/// measured: slow enough that a probe above the allowed rate costs few 429s (each push has
/// only a few attempts), fast enough to take back a freed-up rate within seconds.
pub const RATE_STEP: f64 = 0.10;
/// A window with this many 429s...
pub const EARLY_THROTTLES: u32 = 16;
/// ...among this many calls, over at least one round trip, ends early.
pub const EARLY_SAMPLES: u32 = 32;
/// The shortest counting window; longer when calls take longer (two smoothed round trips).
pub const MIN_WINDOW: Duration = Duration::from_millis(50);

/// What the configuration allows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub min_concurrency: usize,
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    /// Calls per second never exceeded, when set (a share of the account's throttle).
    pub max_rate: Option<f64>,
    /// Calls per second the pacing never goes below.
    pub min_rate: f64,
}

impl Bounds {
    /// Orders the bounds so that min ≤ initial ≤ max and every figure is at least 1.
    fn normalized(mut self) -> Self {
        self.max_concurrency = self.max_concurrency.max(1);
        self.min_concurrency = self.min_concurrency.clamp(1, self.max_concurrency);
        self.initial_concurrency = self
            .initial_concurrency
            .clamp(self.min_concurrency, self.max_concurrency);
        self.min_rate = self.min_rate.max(1.0);
        self.max_rate = self.max_rate.map(|r| r.max(self.min_rate));
        self
    }
}

/// How one call ended, as far as the controller cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Answered (delivered, gone or refused): the call's latency is a fair sample.
    Answered,
    /// 429: over the allowed rate.
    Throttled,
    /// 5xx or no answer: says nothing about rate or queueing.
    Failed,
}

/// Counters for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    pub throttled: usize,
    pub window_cuts: usize,
    pub rate_cuts: usize,
    pub peak_concurrency: usize,
    /// The paced rate when the fan-out ended (None: never throttled, never paced).
    pub rate: Option<f64>,
}

/// One counting window.
#[derive(Debug)]
struct Window {
    started: Instant,
    answered: u32,
    throttled: u32,
}

#[derive(Debug)]
struct State {
    window: f64,
    in_flight: usize,
    slow_start: bool,
    rate: Option<f64>,
    /// The rate measured at the last cut: the additive step is a share of it.
    measured: f64,
    next_slot: Instant,
    /// The lowest smoothed latency after the warm-up: what an uncongested call takes.
    base_latency: Option<Duration>,
    /// Answers so far, for the warm-up.
    samples: u32,
    smoothed: Option<Duration>,
    last_cut: Option<Instant>,
    counting: Window,
    stats: Stats,
}

/// The adaptive limit of one fan-out.
#[derive(Debug)]
pub struct AdaptiveLimit {
    bounds: Bounds,
    state: Mutex<State>,
    freed: Notify,
}

/// One call's slot; give it back with [`AdaptiveLimit::finish`].
#[derive(Debug)]
#[must_use = "a permit is given back with AdaptiveLimit::finish"]
pub struct Permit {
    started: Instant,
}

impl AdaptiveLimit {
    pub fn new(bounds: Bounds) -> Self {
        let bounds = bounds.normalized();
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                window: bounds.initial_concurrency as f64,
                in_flight: 0,
                slow_start: true,
                rate: bounds.max_rate,
                measured: bounds.max_rate.unwrap_or(bounds.min_rate),
                next_slot: now,
                base_latency: None,
                samples: 0,
                smoothed: None,
                last_cut: None,
                counting: Window {
                    started: now,
                    answered: 0,
                    throttled: 0,
                },
                stats: Stats::default(),
            }),
            bounds,
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Poisoning leaves plain numbers behind: still usable for a limiter.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current concurrency window (whole calls).
    pub fn concurrency(&self) -> usize {
        self.lock().window as usize
    }

    /// The current paced rate in calls per second, if pacing.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate
    }

    pub fn stats(&self) -> Stats {
        let state = self.lock();
        Stats {
            rate: state.rate,
            ..state.stats
        }
    }

    /// Waits for a free slot in the window and, when pacing, for this call's turn.
    pub async fn acquire(&self) -> Permit {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let turn = {
                let mut state = self.lock();
                if state.in_flight < (state.window as usize).max(1) {
                    state.in_flight += 1;
                    state.stats.peak_concurrency =
                        state.stats.peak_concurrency.max(state.in_flight);
                    let now = Instant::now();
                    let turn = state.next_slot.max(now);
                    if let Some(rate) = state.rate {
                        state.next_slot = turn + Duration::from_secs_f64(1.0 / rate);
                    }
                    Some(turn)
                } else {
                    None
                }
            };
            match turn {
                Some(turn) => {
                    tokio::time::sleep_until(turn).await;
                    return Permit {
                        started: Instant::now(),
                    };
                }
                None => freed.await,
            }
        }
    }

    /// Gives the slot back and learns from how the call ended.
    pub fn finish(&self, permit: Permit, signal: Signal) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(permit.started);
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            match signal {
                Signal::Answered => self.answered(&mut state, now, latency),
                Signal::Throttled => {
                    state.counting.throttled += 1;
                    state.stats.throttled += 1;
                }
                Signal::Failed => {}
            }
            self.roll_window(&mut state, now);
        }
        // Wake every waiter: the window may have grown by more than one.
        self.freed.notify_waiters();
    }

    fn answered(&self, state: &mut State, now: Instant, latency: Duration) {
        state.counting.answered += 1;
        state.samples = state.samples.saturating_add(1);
        // The usual 1/8 exponentially weighted moving average (RFC 6298's SRTT).
        let smoothed = state.smoothed.map_or(latency, |s| (s * 7 + latency) / 8);
        state.smoothed = Some(smoothed);
        if state.samples >= WARM_UP_SAMPLES {
            let base = state.base_latency.map_or(smoothed, |b| b.min(smoothed));
            state.base_latency = Some(base);
        }
        let congested = state.base_latency.is_some_and(|base| {
            smoothed.as_secs_f64() > base.as_secs_f64() * LATENCY_TOLERANCE
                && smoothed > base + LATENCY_SLACK
        });
        let max = self.bounds.max_concurrency as f64;
        let min = self.bounds.min_concurrency as f64;
        if congested && state.slow_start {
            state.slow_start = false;
            state.last_cut = Some(now);
        } else if congested {
            let recent_cut = state
                .last_cut
                .is_some_and(|at| now.saturating_duration_since(at) < self.window_length(state));
            if !recent_cut {
                state.window = (state.window * DECREASE).max(min);
                state.last_cut = Some(now);
                state.stats.window_cuts += 1;
            }
        } else if state.slow_start {
            state.window = (state.window + 1.0).min(max);
        } else {
            state.window = (state.window + ADDITIVE_STEP / state.window).min(max);
        }
    }

    fn window_length(&self, state: &State) -> Duration {
        state
            .smoothed
            .map_or(MIN_WINDOW, |s| (s * 2).max(MIN_WINDOW))
    }

    /// Closes the counting window when it is over: a window with 429s sets the rate to what
    /// got through, one without raises it by a step.
    ///
    /// A window ends after [`Self::window_length`], or early once it holds
    /// [`EARLY_THROTTLES`] 429s among [`EARLY_SAMPLES`] calls, more 429s than answers, over at
    /// least one round trip: far above the allowed rate (the unpaced start of a fan-out) calls
    /// meet an empty bucket by the thousand per window otherwise. Near the allowed rate windows
    /// run their full length, so the delivered rate is measured over enough calls.
    fn roll_window(&self, state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.counting.started);
        let (answered, throttled) = (state.counting.answered, state.counting.throttled);
        let round_trip = state.smoothed.unwrap_or(Duration::ZERO);
        let early = throttled >= EARLY_THROTTLES
            && throttled > answered
            && answered + throttled >= EARLY_SAMPLES
            && elapsed >= round_trip;
        if (elapsed < self.window_length(state) && !early) || elapsed.is_zero() {
            return;
        }
        let seconds = elapsed.as_secs_f64();
        if throttled > 0 {
            let delivered = f64::from(answered) / seconds;
            let attempted = f64::from(answered + throttled) / seconds;
            let current = state.rate.map_or(attempted, |r| r.min(attempted));
            // Down to what got through, but at most halved per window: a short window's count
            // is noisy, and halving finds the rate within a few round trips anyway.
            let rate = self.clamp_rate(delivered.min(current).max(current * 0.5));
            state.rate = Some(rate);
            state.measured = rate;
            state.stats.rate_cuts += 1;
            state.slow_start = false;
            // Calls already given a turn at the old pace keep it; new ones queue after them.
        } else if let Some(rate) = state.rate {
            // Only a rate that was actually used is worth raising.
            if f64::from(answered) >= rate * seconds * 0.5 {
                let step = state.measured * RATE_STEP * seconds;
                state.rate = Some(self.clamp_rate(rate + step));
            }
        }
        state.counting = Window {
            started: now,
            answered: 0,
            throttled: 0,
        };
    }

    fn clamp_rate(&self, rate: f64) -> f64 {
        let rate = rate.max(self.bounds.min_rate);
        match self.bounds.max_rate {
            Some(max) => rate.min(max),
            None => rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn bounds() -> Bounds {
        Bounds {
            min_concurrency: 2,
            initial_concurrency: 4,
            max_concurrency: 64,
            max_rate: None,
            min_rate: 10.0,
        }
    }

    /// Runs `calls` calls, each taking `latency` and ending as `answer` says for the call
    /// started at that instant; returns the controller.
    async fn drive(
        limit: Arc<AdaptiveLimit>,
        calls: usize,
        latency: impl Fn(usize) -> Duration + Send + Sync + 'static,
        answer: impl Fn(Instant) -> Signal + Send + Sync + 'static,
    ) -> Arc<AdaptiveLimit> {
        let latency = Arc::new(latency);
        let answer = Arc::new(answer);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..calls {
            let permit = limit.acquire().await;
            let in_flight = limit.lock().in_flight;
            let (limit, latency, answer) = (limit.clone(), latency.clone(), answer.clone());
            tasks.spawn(async move {
                let signal = answer(Instant::now());
                tokio::time::sleep(latency(in_flight)).await;
                limit.finish(permit, signal);
            });
        }
        while tasks.join_next().await.is_some() {}
        limit
    }

    #[tokio::test(start_paused = true)]
    async fn bounds_are_ordered() {
        let limit = AdaptiveLimit::new(Bounds {
            min_concurrency: 50,
            initial_concurrency: 0,
            max_concurrency: 10,
            max_rate: Some(0.0),
            min_rate: 0.0,
        });
        assert_eq!(limit.concurrency(), 10);
        assert_eq!(limit.rate(), Some(1.0));
    }

    #[tokio::test(start_paused = true)]
    async fn steady_latency_grows_the_window_to_its_bound() {
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        let started = Instant::now();
        let limit = drive(
            limit,
            2_000,
            |_| Duration::from_millis(20),
            |_| Signal::Answered,
        )
        .await;
        assert_eq!(limit.concurrency(), 64, "grew to max_concurrency");
        let stats = limit.stats();
        assert_eq!(stats.peak_concurrency, 64);
        assert_eq!(stats.window_cuts, 0);
        assert_eq!(stats.rate, None, "never throttled, never paced");
        // Slow start: 4 → 64 takes about four round trips, then 64 per 20 ms.
        let elapsed = Instant::now() - started;
        assert!(
            elapsed < Duration::from_millis(20 * (2_000 / 64 + 6)),
            "{elapsed:?}"
        );
    }

    /// Round trips that vary from call to call (10 to 30 ms, no queue at all) are not
    /// congestion. Against the fastest single call they were: the window was cut 155 times in
    /// a 10,000-subscriber fan-out and delivered 1,200 pushes a second instead of 13,000.
    #[tokio::test(start_paused = true)]
    async fn jittered_latency_without_a_queue_grows_the_window_to_its_bound() {
        let seed = std::sync::atomic::AtomicU64::new(1);
        let jittered = move |_in_flight: usize| {
            // A fixed linear congruential sequence: the same run every time.
            let x = seed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Duration::from_millis(10 + (x >> 33) % 21)
        };
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        let started = Instant::now();
        let limit = drive(limit, 4_000, jittered, |_| Signal::Answered).await;
        let stats = limit.stats();
        assert_eq!(stats.peak_concurrency, 64, "{stats:?}");
        assert!(stats.window_cuts <= 2, "{stats:?}");
        // 64 in flight at 20 ms on average: about 3,200 calls a second once grown.
        let elapsed = Instant::now() - started;
        assert!(
            elapsed < Duration::from_millis(20 * (4_000 / 64 + 10)),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rising_latency_cuts_the_window() {
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        // A queue in front of the service: 20 ms, plus 2 ms for every call in flight beyond 8.
        let limit = drive(
            limit,
            2_000,
            |in_flight| Duration::from_millis(20 + 2 * in_flight.saturating_sub(8) as u64),
            |_| Signal::Answered,
        )
        .await;
        let stats = limit.stats();
        assert!(stats.window_cuts > 0, "{stats:?}");
        assert!(stats.peak_concurrency < 64, "{stats:?}");
        // Latency tolerance 2x of 20 ms: the window settles where the queue adds about 20 ms.
        let window = limit.concurrency();
        assert!((8..=40).contains(&window), "window {window}");
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_paces_at_the_rate_that_got_through() {
        // A token bucket of 1,000 calls/s, burst 100, answering at once.
        let bucket = Arc::new(Mutex::new((100.0_f64, Instant::now())));
        let answer = move |now: Instant| {
            let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
            let refill = now.saturating_duration_since(b.1).as_secs_f64() * 1_000.0;
            b.0 = (b.0 + refill).min(100.0);
            b.1 = now;
            if b.0 >= 1.0 {
                b.0 -= 1.0;
                Signal::Answered
            } else {
                Signal::Throttled
            }
        };
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        let started = Instant::now();
        let limit = drive(limit, 5_000, |_| Duration::from_millis(1), answer).await;
        let elapsed = (Instant::now() - started).as_secs_f64();
        let stats = limit.stats();
        assert!(stats.throttled > 0 && stats.rate_cuts > 0, "{stats:?}");
        let rate = stats.rate.unwrap_or_default();
        // Pacing holds near the bucket's rate: it probes above by steps and is cut back.
        assert!((800.0..=1_300.0).contains(&rate), "rate {rate}");
        // Throttled calls are a small share of all calls once the rate is found.
        assert!(
            stats.throttled < 1_000,
            "{} throttled of 5,000 in {elapsed:.2} s",
            stats.throttled
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_rises_again_when_429s_stop() {
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        // Every third call throttled during the first 20 ms, then never again.
        let start = Instant::now();
        let limit = drive(
            limit,
            20_000,
            |_| Duration::from_millis(1),
            move |now| {
                if now - start < Duration::from_millis(20)
                    && (now - start).as_micros().is_multiple_of(3)
                {
                    Signal::Throttled
                } else {
                    Signal::Answered
                }
            },
        )
        .await;
        let stats = limit.stats();
        assert!(stats.rate_cuts > 0, "{stats:?}");
        let at_cut = limit.lock().measured;
        let rate = stats.rate.unwrap_or_default();
        assert!(rate > at_cut, "rate {rate} rose above the cut {at_cut}");
    }

    #[tokio::test(start_paused = true)]
    async fn max_rate_paces_from_the_start() {
        let limit = Arc::new(AdaptiveLimit::new(Bounds {
            max_rate: Some(100.0),
            ..bounds()
        }));
        let started = Instant::now();
        let limit = drive(limit, 101, |_| Duration::ZERO, |_| Signal::Answered).await;
        let elapsed = Instant::now() - started;
        // 101 calls at 100/s: the first at once, the last a second later.
        assert!(
            elapsed >= Duration::from_millis(999) && elapsed < Duration::from_millis(1_100),
            "{elapsed:?}"
        );
        assert_eq!(limit.rate(), Some(100.0), "never above max_rate");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_teach_nothing() {
        let limit = Arc::new(AdaptiveLimit::new(bounds()));
        let limit = drive(limit, 200, |_| Duration::from_millis(5), |_| Signal::Failed).await;
        assert_eq!(limit.concurrency(), 4, "5xx neither grows nor cuts");
        assert_eq!(limit.rate(), None);
    }
}
