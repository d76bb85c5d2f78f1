//! The server's resident memory over the soak: sampled once a second, and the verdict on whether
//! it stayed flat after warm-up.

use crate::server::memory_of;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The share of the run treated as warm-up (allocator arenas, connection pools and the
/// tenants' working sets fill up), and the share each compared window spans.
const WARM_UP_SHARE: f64 = 0.25;
const WINDOW_SHARE: f64 = 0.125;

/// One `VmRSS` reading, seconds after the clients started.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: f64,
    pub kb: u64,
}

/// Samples `pid` every second until `stop` is set or `limit` has passed (whichever first), so
/// the loop is bounded even if the run never sets `stop`.
pub async fn sample(pid: u32, started: Instant, limit: Duration, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
        tick.tick().await;
        // A failed read means the server is gone; the clients report that.
        if let Ok(memory) = memory_of(pid) {
            samples.push(Sample {
                at: started.elapsed().as_secs_f64(),
                kb: memory.current_kb,
            });
        }
    }
    samples
}

/// The figures of the memory verdict, in kB.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatness {
    pub start_kb: u64,
    /// Median of the first window after warm-up.
    pub after_warm_up_kb: u64,
    /// Median of the last window.
    pub end_kb: u64,
    pub growth_pct: f64,
}

impl Flatness {
    /// Compares the median of the first window after warm-up with that of the last window of a
    /// run that lasted `run` seconds. Medians, not single samples, so one burst of allocation
    /// (a large body being parsed) does not decide. `None` when there are too few samples.
    pub fn of(samples: &[Sample], run: f64) -> Option<Self> {
        let warm = run * WARM_UP_SHARE;
        let window = run * WINDOW_SHARE;
        let first: Vec<u64> = samples
            .iter()
            .filter(|s| s.at >= warm && s.at < warm + window)
            .map(|s| s.kb)
            .collect();
        let last: Vec<u64> = samples
            .iter()
            .filter(|s| s.at >= run - window)
            .map(|s| s.kb)
            .collect();
        let after_warm_up_kb = median(first)?;
        let end_kb = median(last)?;
        Some(Self {
            start_kb: samples.first()?.kb,
            after_warm_up_kb,
            end_kb,
            growth_pct: (end_kb as f64 - after_warm_up_kb as f64) / after_warm_up_kb.max(1) as f64 * 100.0,
        })
    }
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(kb: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..=100)
            .map(|i| Sample {
                at: i as f64,
                kb: kb(i as f64),
            })
            .collect()
    }

    #[test]
    fn flat_after_warm_up() {
        // Climbs during warm-up, then flat with one spike in the last window.
        let samples = run_of(|t| {
            if t == 95.0 {
                90_000
            } else {
                (t.min(20.0) as u64) * 1000 + 10_000
            }
        });
        let f = Flatness::of(&samples, 100.0).unwrap();
        assert_eq!(
            (f.start_kb, f.after_warm_up_kb, f.end_kb),
            (10_000, 30_000, 30_000)
        );
        assert_eq!(f.growth_pct, 0.0);
    }

    #[test]
    fn steady_growth_shows() {
        let samples = run_of(|t| 10_000 + (t as u64) * 100);
        let f = Flatness::of(&samples, 100.0).unwrap();
        // Windows 25..37.5 (median 31) and 87.5..100 (median 94).
        assert_eq!((f.after_warm_up_kb, f.end_kb), (13_100, 19_400));
        assert!(f.growth_pct > 40.0, "{f:?}");
    }

    #[test]
    fn too_few_samples() {
        assert_eq!(Flatness::of(&run_of(|_| 1)[..10], 100.0), None);
    }
}
