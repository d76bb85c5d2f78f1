//! Turning per-request latencies into the figures of one table row.

use std::time::Duration;

/// What one scenario measured.
#[derive(Debug)]
pub struct Outcome {
    /// One per request sent, failed ones included: a fast error still took the server's time.
    pub latencies: Vec<Duration>,
    /// Bytes of the successful responses, in all.
    pub response_bytes: u64,
    pub errors: usize,
    /// The first failure, to say why a scenario had errors without flooding the output.
    pub first_error: Option<String>,
    /// Wall time from the first request sent to the last response read.
    pub elapsed: Duration,
}

/// One table row.
#[derive(Debug)]
pub struct Summary {
    pub completed: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Mean bytes of a successful response.
    pub response_bytes: f64,
}

impl Summary {
    pub fn of(outcome: &Outcome) -> Self {
        let mut sorted = outcome.latencies.clone();
        sorted.sort_unstable();
        let seconds = outcome.elapsed.as_secs_f64();
        Self {
            completed: sorted.len(),
            errors: outcome.errors,
            per_second: if seconds > 0.0 {
                sorted.len() as f64 / seconds
            } else {
                0.0
            },
            p50: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or_default(),
            response_bytes: outcome.response_bytes as f64
                / sorted.len().saturating_sub(outcome.errors).max(1) as f64,
        }
    }
}

/// Nearest-rank percentile of ascending `sorted`: the smallest value with at least `p`% of the
/// values at or below it, so p99 of 2000 samples is the 1980th and is an observed latency.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with a fraction, the unit the table shows.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank() {
        let sorted = millis(1..=100);
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&millis([7]), 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn summary_rate_and_max() {
        let outcome = Outcome {
            latencies: millis([3, 1, 2, 4]),
            response_bytes: 300,
            errors: 1,
            first_error: None,
            elapsed: Duration::from_secs(2),
        };
        let s = Summary::of(&outcome);
        assert_eq!((s.completed, s.errors), (4, 1));
        assert!((s.per_second - 2.0).abs() < 1e-9);
        assert_eq!(s.max, Duration::from_millis(4));
        assert_eq!(s.p50, Duration::from_millis(2));
        // Three responses succeeded.
        assert!((s.response_bytes - 100.0).abs() < 1e-9);
    }
}
