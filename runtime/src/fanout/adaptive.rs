//! How many PostToConnection calls one fan-out keeps in flight, and how fast it starts them.
//!
//! Why adaptive: on AWS each call is a network round trip (~20 ms), so a fixed small
//! concurrency leaves most of the account's rate unused, while an unbounded one meets the
//! account throttle (10,000 requests/s, burst 5,000, shared by all API Gateway traffic of the
//! Region) and turns into 429s. Neither figure is known in advance, and both change with what
//! else the account does, so the fan-out measures them as it goes, as TCP does:
//!
//! - **Concurrency (latency).** The window starts at `initial_concurrency` and grows by one per
//!   successful call (slow start: doubling every round trip) until a round trip's calls show a
//!   queue: their *fastest* call took more than [`LATENCY_TOLERANCE`] times the fastest call
//!   seen so far (and [`LATENCY_SLACK`] more). A round trip is counted as BBR counts one:
//!   it ends when a call started after it began has answered. The fastest call of the round is
//!   the signal, as LEDBAT (RFC 6817) filters its delay samples with a minimum, because a
//!   queue delays every call while noise delays some:
//!   - round trips to AWS vary from call to call (10 to 30 ms around 20), and an average of
//!     them compared against the fastest single call reads that jitter as a queue;
//!   - when the fan-out's own CPU is busy, answers come back in bursts and the last calls of
//!     a burst wait for it. A moving average over single calls (at hundreds in flight it spans
//!     a small part of one round trip) takes such a burst for a queue: it cuts the window 2 to
//!     8 times per 10,000-subscriber fan-out on the local gateway, where this filter cuts none. Where the round
//!     trip is what limits the rate, as on AWS, each cut costs a quarter of it for the 16
//!     round trips it takes to grow back.
//!
//!   In slow start the first signal is not a cut (as in TCP's HyStart: the ramp itself,
//!   opening connections, raises latency for a moment). The window goes back to the one the
//!   round trip began with (the signal comes a round trip late, after slow start doubled it)
//!   and holds for one round trip. If that round shows no queue, slow start goes on (as
//!   HyStart++, RFC 9406, resumes it): a burst of work at the fan-out's start shows a queue
//!   for a round trip, and slow start ended there (at 53 calls on the local gateway) would
//!   leave a window that takes 1 s to grow additively to 512, longer than the whole 0.6 s
//!   fan-out. If the queue
//!   is still there, slow start ends: the window grows by [`ADDITIVE_STEP`] calls per round
//!   trip and each later signal cuts it by [`DECREASE`], at most once per counting window.
//!   Bounded by `min_concurrency` and `max_concurrency`.
//! - **Rate (429).** Until the first 429 calls are paced only to smooth bursts (below), or at
//!   `max_rate` when one is configured. Results are counted in short windows; a window with 429s
//!   shows the rate the throttle allows (while it answers 429 its bucket is empty, so the calls
//!   it let through are exactly its refill rate), and pacing drops to that delivered rate — a
//!   multiplicative cut by as much as was measured, never below `min_rate`. Each window without
//!   429s raises the rate by a step, so the fan-out probes back up when the account's other
//!   traffic ends: [`RATE_STEP`] of the rate last measured per second at first, doubled every
//!   [`RATE_STEP_DOUBLING`] without 429s (as CUBIC's probe speeds up the longer it meets no
//!   loss), so a steady throttle is probed gently and a freed rate is taken back within seconds.
//! - **Pacing (bursts).** Calls that take the same time come back together and, started as
//!   soon as a slot frees, go out together again: the window moves in lockstep waves, and
//!   whatever serves them is idle between waves and queued within one. Unpaced, a fixed 20 ms
//!   per call runs 10–25% slower than 20 ± 10 ms for that reason on the local gateway, where
//!   two cores serve both ends. So until the first 429, calls are paced at [`PACING_GAIN`] times the
//!   window per smoothed round trip (as Linux paces TCP), which spreads each window over half
//!   a round trip without bounding the rate; after it, at the measured rate.
//!
//! Everything reads time through `tokio::time`, so the tests drive it on paused time.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A round trip's fastest call may take this multiple of the fastest call seen before the
/// window is cut.
pub const LATENCY_TOLERANCE: f64 = 2.0;
/// ...and must also be slower than it by this much: below a few milliseconds the difference
/// is scheduling noise, not a queue building up on the way to AWS.
pub const LATENCY_SLACK: Duration = Duration::from_millis(10);
/// In slow start, answers of a round trip after which its fastest call so far may end slow
/// start before the round trip does (as HyStart's delay increase does, with 8 samples).
pub const SLOW_START_SAMPLES: u32 = 8;
/// Multiplicative decrease of the window on rising latency.
pub const DECREASE: f64 = 0.75;
/// Additive increase of the window per round trip after slow start. More than TCP's one: a
/// fan-out lasts a few hundred round trips, not thousands, and must regain a cut window
/// within it.
pub const ADDITIVE_STEP: f64 = 8.0;
/// Increase of the paced rate per second in the first [`RATE_STEP_DOUBLING`] without 429s, as
/// a share of the rate last measured: slow enough that a probe just above the allowed rate
/// costs few 429s (each push has only a few attempts).
pub const RATE_STEP: f64 = 0.10;
/// The step doubles with every this long without 429s, so a rate freed by the account's other
/// traffic is taken back within seconds: at a fixed step a halved rate takes ten to regrow.
/// Near a steady throttle 429s come back sooner than this, and the step stays small.
pub const RATE_STEP_DOUBLING: Duration = Duration::from_millis(500);
/// The step never exceeds this share of the measured rate per second (reached after 1.7 s
/// without 429s): past the bucket's burst a probe that fast meets 429s within one window.
pub const MAX_RATE_STEP: f64 = 1.0;
/// Until the first 429, calls are paced at this multiple of the window per smoothed round
/// trip: each window is spread over half a round trip. Twice the rate the window allows, as
/// Linux paces TCP in slow start (`tcp_pacing_ss_ratio`), so that pacing smooths bursts
/// without bounding the rate. (Linux's 1.2 after slow start costs 14% in the jitter test
/// here: a call waiting for its turn holds its slot in the window.)
pub const PACING_GAIN: f64 = 2.0;
/// A call whose paced turn is this close goes at once: tokio's timer counts whole
/// milliseconds, and a sleep per call would cost more than the smoothing gains.
pub const PACING_SLACK: Duration = Duration::from_millis(1);
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

/// The round trip being counted, for the latency signal.
#[derive(Debug)]
struct RoundTrip {
    /// It ends when a call started at or after this instant answers.
    started: Instant,
    /// The fastest call answered in it so far, and how many answered.
    fastest: Option<Duration>,
    samples: u32,
    /// The window when it began.
    window: f64,
}

impl RoundTrip {
    fn new(started: Instant, window: f64) -> Self {
        Self {
            started,
            fastest: None,
            samples: 0,
            window,
        }
    }
}

/// Where the window is in its growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// One more call per answer: the window doubles every round trip.
    SlowStart,
    /// Slow start's first queue, held for one round trip at the window that showed it: the
    /// first round begun `since` then confirms it (slow start ends) or not (it goes on).
    Confirming { since: Instant },
    /// [`ADDITIVE_STEP`] more calls per round trip, a cut by [`DECREASE`] on a queue.
    Avoidance,
}

#[derive(Debug)]
struct State {
    window: f64,
    in_flight: usize,
    phase: Phase,
    rate: Option<f64>,
    /// The rate measured at the last cut: the additive step is a share of it.
    measured: f64,
    /// When the last counting window with 429s closed: the step grows with the time since.
    last_throttled: Instant,
    next_slot: Instant,
    /// The fastest call so far: what an uncongested call takes.
    base_latency: Option<Duration>,
    round: RoundTrip,
    /// Whether the last round trip showed a queue: the window does not grow meanwhile.
    queued: bool,
    /// The usual 1/8 moving average of latencies (RFC 6298's SRTT), for the counting windows.
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
                phase: Phase::SlowStart,
                rate: bounds.max_rate,
                measured: bounds.max_rate.unwrap_or(bounds.min_rate),
                last_throttled: now,
                next_slot: now,
                base_latency: None,
                round: RoundTrip::new(now, bounds.initial_concurrency as f64),
                queued: false,
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
                    if let Some(gap) = Self::pacing_gap(&state) {
                        state.next_slot = turn + gap;
                    }
                    Some((turn, now))
                } else {
                    None
                }
            };
            match turn {
                Some((turn, now)) => {
                    if turn > now + PACING_SLACK {
                        tokio::time::sleep_until(turn).await;
                    }
                    return Permit {
                        started: Instant::now(),
                    };
                }
                None => freed.await,
            }
        }
    }

    /// The time between two calls' starts: the paced rate once 429s came (or `max_rate`),
    /// otherwise the window spread over half a smoothed round trip ([`PACING_GAIN`]).
    fn pacing_gap(state: &State) -> Option<Duration> {
        let rate = match state.rate {
            Some(rate) => rate,
            None => PACING_GAIN * state.window / state.smoothed?.as_secs_f64(),
        };
        (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate))
    }

    /// Gives the slot back and learns from how the call ended.
    pub fn finish(&self, permit: Permit, signal: Signal) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(permit.started);
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            match signal {
                Signal::Answered => self.answered(&mut state, &permit, now, latency),
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

    fn answered(&self, state: &mut State, permit: &Permit, now: Instant, latency: Duration) {
        state.counting.answered += 1;
        state.smoothed = Some(state.smoothed.map_or(latency, |s| (s * 7 + latency) / 8));
        state.base_latency = Some(state.base_latency.map_or(latency, |b| b.min(latency)));
        let round = &mut state.round;
        round.fastest = Some(round.fastest.map_or(latency, |f| f.min(latency)));
        round.samples += 1;
        if permit.started >= round.started {
            self.end_round(state, now);
        } else if state.phase == Phase::SlowStart
            && state.round.samples >= SLOW_START_SAMPLES
            && self.shows_queue(state, state.round.fastest)
        {
            // The window doubles within a round trip: waiting for its end would overshoot.
            state.queued = true;
            self.confirm_queue(state, state.round.window, now);
        }
        let max = self.bounds.max_concurrency as f64;
        state.window = match state.phase {
            // Hold until a round trip without a queue.
            _ if state.queued => state.window,
            Phase::SlowStart => (state.window + 1.0).min(max),
            Phase::Confirming { .. } => state.window,
            Phase::Avoidance => (state.window + ADDITIVE_STEP / state.window).min(max),
        };
    }

    /// A round trip ended: its fastest call says whether calls queue, and a queue cuts the
    /// window (or, in slow start, holds it for a round trip that confirms the queue or not).
    fn end_round(&self, state: &mut State, now: Instant) {
        let ended = std::mem::replace(&mut state.round, RoundTrip::new(now, state.window));
        let (fastest, round_window) = (ended.fastest, ended.window);
        if matches!(state.phase, Phase::Confirming { since } if ended.started < since) {
            // The round that showed the queue: the next one confirms it.
            return;
        }
        state.queued = self.shows_queue(state, fastest);
        tracing::debug!(
            window = state.window,
            in_flight = state.in_flight,
            ?fastest,
            base = ?state.base_latency,
            queued = state.queued,
            phase = ?state.phase,
            "adaptive round trip"
        );
        match state.phase {
            Phase::SlowStart if state.queued => self.confirm_queue(state, round_window, now),
            // Without the queue it was a moment's: slow start goes on.
            Phase::Confirming { .. } if !state.queued => state.phase = Phase::SlowStart,
            Phase::Confirming { .. } => state.phase = Phase::Avoidance,
            Phase::Avoidance if state.queued => self.cut_window(state, now),
            Phase::SlowStart | Phase::Avoidance => {}
        }
    }

    /// A queue after slow start cuts the window by [`DECREASE`], at most once per counting
    /// window.
    fn cut_window(&self, state: &mut State, now: Instant) {
        let recent_cut = state
            .last_cut
            .is_some_and(|at| now.saturating_duration_since(at) < self.window_length(state));
        if !recent_cut {
            let min = self.bounds.min_concurrency as f64;
            state.window = (state.window * DECREASE).max(min);
            state.last_cut = Some(now);
            state.stats.window_cuts += 1;
        }
    }

    /// Slow start's queue is held for a round trip before it ends slow start, as HyStart++
    /// (RFC 9406) grows conservatively for a while before it leaves slow start for good: a
    /// burst of work (the fan-out's first page of subscribers, a wave of new connections)
    /// delays a round's first answers for a moment, and additive increase would then take
    /// seconds to reach the window slow start was heading for. The calls that showed the queue
    /// were started with the window the round trip began with, and in slow start the window
    /// has grown since (doubled, unless at its bound): it goes back to `round_window`, as TCP's
    /// slow start ends on a loss.
    fn confirm_queue(&self, state: &mut State, round_window: f64, now: Instant) {
        state.phase = Phase::Confirming { since: now };
        state.window = state.window.min(round_window);
        state.round.window = state.window;
        state.last_cut = Some(now);
    }

    /// Whether a round trip whose fastest call took `fastest` shows a queue.
    fn shows_queue(&self, state: &State, fastest: Option<Duration>) -> bool {
        match (fastest, state.base_latency) {
            (Some(fastest), Some(base)) => {
                fastest.as_secs_f64() > base.as_secs_f64() * LATENCY_TOLERANCE
                    && fastest > base + LATENCY_SLACK
            }
            _ => false,
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
            state.last_throttled = now;
            state.stats.rate_cuts += 1;
            state.phase = Phase::Avoidance;
            // Calls already given a turn at the old pace keep it; new ones queue after them.
        } else if let Some(rate) = state.rate {
            // Only a rate that was actually used is worth raising.
            if f64::from(answered) >= rate * seconds * 0.5 {
                let step = state.measured * Self::rate_step(now - state.last_throttled) * seconds;
                state.rate = Some(self.clamp_rate(rate + step));
            }
        }
        state.counting = Window {
            started: now,
            answered: 0,
            throttled: 0,
        };
    }

    /// The share of the measured rate the pacing grows by per second, `quiet` after the last
    /// 429s: [`RATE_STEP`], doubled every [`RATE_STEP_DOUBLING`], at most [`MAX_RATE_STEP`].
    fn rate_step(quiet: Duration) -> f64 {
        let doublings = quiet.as_secs_f64() / RATE_STEP_DOUBLING.as_secs_f64();
        (RATE_STEP * doublings.exp2()).min(MAX_RATE_STEP)
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
mod tests;
