//! The controller on paused time, against the services it meets: steady and jittered
//! latency, a queue, a token-bucket throttle, a rate freed by other traffic.

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

/// A stall early in slow start (the fan-out's CPU busy for 40 ms: every answer due then
/// comes at its end) looks like a queue for one round trip, and only for one. Taken for
/// one, it would end slow start at a few dozen calls, and additive increase would take about
/// 30 round trips to reach the bound; instead the next round trip, without the queue, resumes
/// slow start.
#[tokio::test(start_paused = true)]
async fn a_moment_s_stall_does_not_end_slow_start() {
    let limit = Arc::new(AdaptiveLimit::new(Bounds {
        max_concurrency: 256,
        ..bounds()
    }));
    let began = Instant::now();
    let stall = Duration::from_millis(40)..Duration::from_millis(80);
    let stalled = move |_in_flight: usize| {
        let started = Instant::now() - began;
        let due = started + Duration::from_millis(12);
        if stall.contains(&due) {
            stall.end - started
        } else {
            Duration::from_millis(12)
        }
    };
    let limit = drive(limit.clone(), 4_000, stalled, |_| Signal::Answered).await;
    let elapsed = Instant::now() - began;
    let stats = limit.stats();
    assert_eq!(stats.peak_concurrency, 256, "{stats:?}");
    assert_eq!(stats.window_cuts, 0, "{stats:?}");
    // 256 every 12 ms once grown: 4,000 calls in under 200 ms, plus the stall and the ramp.
    assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
}

/// Calls that all take the same time, started as soon as a slot frees, would go out in
/// waves of a whole window (64 in the same millisecond, every 20 ms); paced, a window is
/// spread over half a round trip, and the rate is what the window allows.
#[tokio::test(start_paused = true)]
async fn pacing_spreads_a_window_over_the_round_trip() {
    let limit = Arc::new(AdaptiveLimit::new(Bounds {
        initial_concurrency: 64,
        ..bounds()
    }));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let record = starts.clone();
    let began = Instant::now();
    drive(
        limit,
        2_000,
        |_| Duration::from_millis(20),
        move |at| {
            record.lock().unwrap_or_else(|p| p.into_inner()).push(at);
            Signal::Answered
        },
    )
    .await;
    let elapsed = Instant::now() - began;
    let starts = starts.lock().unwrap_or_else(|p| p.into_inner());
    let mut per_ms = std::collections::BTreeMap::<u128, usize>::new();
    for at in starts
        .iter()
        .filter(|at| **at - began >= Duration::from_millis(100))
    {
        *per_ms.entry((*at - began).as_millis()).or_default() += 1;
    }
    let busiest = per_ms.values().copied().max().unwrap_or(0);
    assert!(busiest <= 16, "{busiest} calls started in one millisecond");
    // 64 every 20 ms: 2,000 calls in 625 ms.
    assert!(elapsed < Duration::from_millis(680), "{elapsed:?}");
}

/// Round trips that vary from call to call (10 to 30 ms, no queue at all) are not
/// congestion. Compared with the fastest single call they would be: the window would be cut
/// 155 times in a 10,000-subscriber fan-out, delivering 1,200 pushes a second instead of 13,000.
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
    let limit = Arc::new(AdaptiveLimit::new(Bounds {
        max_concurrency: 256,
        ..bounds()
    }));
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
    assert!(stats.peak_concurrency < 256, "{stats:?}");
    // Latency tolerance 2x of 20 ms: the window settles where the queue adds about 20 ms.
    let window = limit.concurrency();
    assert!((8..=40).contains(&window), "window {window}");
}

/// A real queue: one server answering a call every millisecond, first come first served,
/// 20 ms away. Up to 21 calls in flight the queue stays empty; beyond, each call waits.
#[tokio::test(start_paused = true)]
async fn a_queue_cuts_the_window_without_starving_the_server() {
    let limit = Arc::new(AdaptiveLimit::new(Bounds {
        max_concurrency: 256,
        ..bounds()
    }));
    let service = Duration::from_millis(1);
    let free_at = Mutex::new(Instant::now());
    let fifo = move |_in_flight: usize| {
        let now = Instant::now();
        let mut free = free_at.lock().unwrap_or_else(|p| p.into_inner());
        *free = (*free).max(now) + service;
        *free + Duration::from_millis(20) - now
    };
    let started = Instant::now();
    let limit = drive(limit, 2_000, fifo, |_| Signal::Answered).await;
    let stats = limit.stats();
    assert!(stats.window_cuts > 0, "{stats:?}");
    // The queue doubles the round trip at about 40 in flight. Its signal comes a round
    // trip late, so slow start overshoots by up to one doubling past where it shows, but
    // never runs to the bound; then the window settles around the 40.
    assert!(stats.peak_concurrency < 160, "{stats:?}");
    let window = limit.concurrency();
    assert!((21..=64).contains(&window), "window {window}");
    // ...and never so low that the server idles: 2,000 calls at 1,000 a second.
    let elapsed = Instant::now() - started;
    assert!(elapsed < Duration::from_millis(2_300), "{elapsed:?}");
}

/// API Gateway's account throttle as a token bucket holding `burst` calls, refilled at
/// `rate(t)` calls per second `t` after it was made; it answers each call as it starts.
fn token_bucket(
    burst: f64,
    rate: impl Fn(Duration) -> f64 + Send + Sync + 'static,
) -> impl Fn(Instant) -> Signal + Send + Sync + 'static {
    let made = Instant::now();
    let bucket = Mutex::new((burst, made));
    move |now: Instant| {
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(b.1).as_secs_f64() * rate(b.1 - made);
        b.0 = (b.0 + refill).min(burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            Signal::Answered
        } else {
            Signal::Throttled
        }
    }
}

#[tokio::test(start_paused = true)]
async fn throttling_paces_at_the_rate_that_got_through() {
    // A token bucket of 1,000 calls/s, burst 100.
    let answer = token_bucket(100.0, |_| 1_000.0);
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

/// The account's other traffic takes half of its 1,000 calls/s for half a second, then
/// stops. The fan-out's pacing drops to what is left, and takes the freed rate back within
/// two seconds, not the ten it takes at a fixed step of a tenth of the cut rate. (The
/// rates are low because `drive` starts its calls one after another on a timer that ticks
/// every millisecond: above about 2,000 calls a second the timer, not the pacing, decides.)
#[tokio::test(start_paused = true)]
async fn a_rate_freed_by_other_traffic_is_taken_back_within_seconds() {
    let busy = Duration::from_millis(1_000)..Duration::from_millis(1_500);
    let left_to_us = move |t: Duration| if busy.contains(&t) { 500.0 } else { 1_000.0 };
    let limit = Arc::new(AdaptiveLimit::new(bounds()));
    let started = Instant::now();
    let sampler = {
        let limit = limit.clone();
        tokio::spawn(async move {
            let mut rates = Vec::new();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                rates.push((Instant::now() - started, limit.rate().unwrap_or_default()));
                if Arc::strong_count(&limit) == 1 {
                    return rates;
                }
            }
        })
    };
    let answer = token_bucket(200.0, left_to_us);
    let limit = drive(limit, 6_000, |_| Duration::from_millis(1), answer).await;
    let stats = limit.stats();
    drop(limit);
    let rates = sampler.await.unwrap_or_default();
    let at = |secs: f64| {
        rates
            .iter()
            .find(|(t, _)| t.as_secs_f64() >= secs)
            .map(|(_, rate)| *rate)
    };
    let cut = at(1.4).unwrap_or_default();
    assert!(
        cut < 650.0,
        "paced at {cut}/s while half was taken: {rates:?}"
    );
    let back = at(3.5).unwrap_or_default();
    assert!(
        back >= 900.0,
        "paced at {back}/s two seconds after the rate was freed: {rates:?}"
    );
    // Probing faster costs few 429s: the overshoot is found within a counting window.
    assert!(stats.throttled < 600, "{stats:?}");
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
