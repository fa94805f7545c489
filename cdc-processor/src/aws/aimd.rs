//! Adaptive concurrency for `PutEvents` (AIMD: additive increase, multiplicative decrease).
//!
//! The pipeline starts up to `PUBLISH_CONCURRENCY` requests of a window together; every
//! `PutEvents` attempt (first tries and retries alike) first takes a permit from one
//! [`AdaptiveLimit`] shared by all shards of the process, so what AWS sees is bounded by the
//! limit, not by the number of requests waiting.
//!
//! - **Decrease**: an attempt that ends in throttling (`ThrottlingException`, for the whole call
//!   or for an entry) or in a timeout (the SDK's attempt timeout, a dispatch timeout) halves the
//!   limit (never below 1). Only one decrease per round: an attempt that started before the last
//!   decrease does not decrease again, so 16 requests timing out together halve the limit once,
//!   not 16 times — but every later round that times out halves it again, down to one request at
//!   a time, which is what ends the livelock where every request of a window times out together.
//! - **Increase**: every attempt that succeeds adds `1 / limit` (one more request per round of
//!   successes), up to the configured maximum.
//!
//! Other failures (5xx, resets, per-entry `InternalFailure`) leave the limit alone: they are not
//! a sign of too much load, and their retries back off on their own.

use std::sync::Mutex;
use tokio::sync::Notify;

/// What an attempt's outcome says about the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Answered without throttling or timeout: one step up.
    Success,
    /// Throttled or timed out: halve the limit (once per round).
    Congested,
    /// Failed otherwise: no change.
    Neutral,
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    in_flight: usize,
    /// Number of decreases so far; a permit remembers the round it started in.
    round: u64,
    decreases: u64,
    lowest: usize,
}

/// A concurrency limit that adapts to throttling and timeouts; see the module docs.
#[derive(Debug)]
pub struct AdaptiveLimit {
    max: usize,
    state: Mutex<LimitState>,
    released: Notify,
}

/// A snapshot of an [`AdaptiveLimit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSnapshot {
    /// The limit now (requests allowed in flight).
    pub limit: usize,
    /// The lowest the limit has been.
    pub lowest: usize,
    /// Decreases so far.
    pub decreases: u64,
}

/// Leave to make one attempt; give it back with [`Permit::finish`] (dropping it counts as
/// [`Signal::Neutral`]).
#[derive(Debug)]
pub struct Permit<'a> {
    owner: &'a AdaptiveLimit,
    round: u64,
    done: bool,
}

impl AdaptiveLimit {
    /// A limit starting at `max` (at least 1), never above it.
    pub fn new(max: usize) -> AdaptiveLimit {
        let max = max.max(1);
        AdaptiveLimit {
            max,
            state: Mutex::new(LimitState {
                limit: max as f64,
                in_flight: 0,
                round: 0,
                decreases: 0,
                lowest: max,
            }),
            released: Notify::new(),
        }
    }

    /// The limit now, its lowest value and the number of decreases.
    pub fn snapshot(&self) -> LimitSnapshot {
        let s = self.state.lock().expect("limit lock");
        LimitSnapshot {
            limit: allowed(s.limit),
            lowest: s.lowest,
            decreases: s.decreases,
        }
    }

    /// Waits until fewer attempts than the limit are in flight, then takes a permit.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between the check and the wait wakes us.
            released.as_mut().enable();
            {
                let mut s = self.state.lock().expect("limit lock");
                if s.in_flight < allowed(s.limit) {
                    s.in_flight += 1;
                    return Permit {
                        owner: self,
                        round: s.round,
                        done: false,
                    };
                }
            }
            released.await;
        }
    }

    fn release(&self, round: u64, signal: Signal) {
        {
            let mut s = self.state.lock().expect("limit lock");
            s.in_flight = s.in_flight.saturating_sub(1);
            match signal {
                Signal::Success => {
                    s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64);
                }
                Signal::Congested if round == s.round => {
                    s.limit = (s.limit / 2.0).max(1.0);
                    s.round += 1;
                    s.decreases += 1;
                    s.lowest = s.lowest.min(allowed(s.limit));
                    tracing::info!(
                        limit = allowed(s.limit),
                        "PutEvents throttled or timed out: fewer requests in flight"
                    );
                }
                Signal::Congested | Signal::Neutral => {}
            }
        }
        self.released.notify_waiters();
    }
}

impl Permit<'_> {
    /// Gives the permit back with what the attempt's outcome says about the load.
    pub fn finish(mut self, signal: Signal) {
        self.done = true;
        self.owner.release(self.round, signal);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.owner.release(self.round, Signal::Neutral);
        }
    }
}

fn allowed(limit: f64) -> usize {
    (limit.floor() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn halves_once_per_round_and_grows_back() {
        let l = AdaptiveLimit::new(16);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // 16 attempts in flight time out together: one halving.
            let permits: Vec<_> =
                futures_util::future::join_all((0..16).map(|_| l.acquire())).await;
            for p in permits {
                p.finish(Signal::Congested);
            }
            assert_eq!(l.snapshot().limit, 8);
            // Every later round that times out halves again, down to 1.
            for want in [4, 2, 1, 1] {
                let p = l.acquire().await;
                p.finish(Signal::Congested);
                assert_eq!(l.snapshot().limit, want);
            }
            assert_eq!(l.snapshot().lowest, 1);
            // Successes add one request per round.
            for _ in 0..40 {
                l.acquire().await.finish(Signal::Success);
            }
            let grown = l.snapshot().limit;
            assert!((8..=10).contains(&grown), "{grown}");
            for _ in 0..1000 {
                l.acquire().await.finish(Signal::Success);
            }
            assert_eq!(l.snapshot().limit, 16, "never above the maximum");
            // Neutral outcomes change nothing.
            l.acquire().await.finish(Signal::Neutral);
            drop(l.acquire().await);
            assert_eq!(l.snapshot().limit, 16);
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_in_flight_than_the_limit() {
        let l = Arc::new(AdaptiveLimit::new(3));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..30)
            .map(|_| {
                let (l, in_flight, peak) = (l.clone(), in_flight.clone(), peak.clone());
                tokio::spawn(async move {
                    let p = l.acquire().await;
                    let n = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    p.finish(Signal::Success);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
