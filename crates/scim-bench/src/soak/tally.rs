//! What the soak clients saw: answers by class of request and status, latencies, and failures.

use crate::stats::{ms, percentile};
use std::collections::BTreeMap;
use std::time::Duration;

/// Failures kept word for word; the rest are only counted.
const FAILURES_KEPT: usize = 20;

/// One class of request (say "user PATCH" or "junk: bad token").
#[derive(Debug, Default)]
pub struct ClassTally {
    pub statuses: BTreeMap<u16, u64>,
    /// Requests whose connection was reset or closed under them.
    pub resets: u64,
    /// Requests that got no answer for another reason.
    pub transport: u64,
    pub latencies: Vec<Duration>,
}

/// Everything counted by one client, or by all of them once merged.
#[derive(Debug, Default)]
pub struct Tally {
    pub classes: BTreeMap<&'static str, ClassTally>,
    pub failures: Vec<String>,
    pub failure_count: usize,
    /// 429 answers, each followed by a wait of its Retry-After.
    pub throttled: u64,
    /// Answers with a 5xx status.
    pub server_errors: u64,
}

impl Tally {
    pub fn answered(&mut self, class: &'static str, status: u16, latency: Duration) {
        let tally = self.classes.entry(class).or_default();
        *tally.statuses.entry(status).or_default() += 1;
        tally.latencies.push(latency);
        if status == 429 {
            self.throttled += 1;
        }
        if status >= 500 {
            self.server_errors += 1;
        }
    }

    pub fn unanswered(&mut self, class: &'static str, reset: bool, latency: Duration) {
        let tally = self.classes.entry(class).or_default();
        if reset {
            tally.resets += 1;
        } else {
            tally.transport += 1;
        }
        tally.latencies.push(latency);
    }

    /// A reason the run fails.
    pub fn fail(&mut self, why: String) {
        self.failure_count += 1;
        if self.failures.len() < FAILURES_KEPT {
            self.failures.push(why);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        for (class, theirs) in other.classes {
            let ours = self.classes.entry(class).or_default();
            for (status, n) in theirs.statuses {
                *ours.statuses.entry(status).or_default() += n;
            }
            ours.resets += theirs.resets;
            ours.transport += theirs.transport;
            ours.latencies.extend(theirs.latencies);
        }
        for why in other.failures {
            if self.failures.len() < FAILURES_KEPT {
                self.failures.push(why);
            }
        }
        self.failure_count += other.failure_count;
        self.throttled += other.throttled;
        self.server_errors += other.server_errors;
    }

    pub fn requests(&self) -> usize {
        self.classes.values().map(|c| c.latencies.len()).sum()
    }

    /// One line per class: count, statuses, resets, latency percentiles.
    pub fn print(&self) {
        println!(
            "{:<28} {:>7} {:>8} {:>8}  statuses",
            "class", "requests", "p50 ms", "p99 ms"
        );
        for (class, tally) in &self.classes {
            let mut sorted = tally.latencies.clone();
            sorted.sort_unstable();
            let mut statuses: Vec<String> = tally.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            if tally.resets > 0 {
                statuses.push(format!("reset×{}", tally.resets));
            }
            if tally.transport > 0 {
                statuses.push(format!("no-answer×{}", tally.transport));
            }
            println!(
                "{class:<28} {:>7} {:>8.2} {:>8.2}  {}",
                sorted.len(),
                ms(percentile(&sorted, 50.0)),
                ms(percentile(&sorted, 99.0)),
                statuses.join(" ")
            );
        }
    }

    /// Latency percentiles over every class.
    pub fn overall(&self) -> (Duration, Duration) {
        let mut all: Vec<Duration> = self
            .classes
            .values()
            .flat_map(|c| c.latencies.iter().copied())
            .collect();
        all.sort_unstable();
        (percentile(&all, 50.0), percentile(&all, 99.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_merges() {
        let mut a = Tally::default();
        a.answered("get", 200, Duration::from_millis(1));
        a.answered("get", 503, Duration::from_millis(2));
        a.answered("put", 429, Duration::from_millis(3));
        let mut b = Tally::default();
        b.answered("get", 200, Duration::from_millis(4));
        b.unanswered("junk", true, Duration::from_millis(5));
        b.fail("lost".into());
        a.merge(b);
        assert_eq!(a.classes["get"].statuses[&200], 2);
        assert_eq!((a.server_errors, a.throttled, a.failure_count), (1, 1, 1));
        assert_eq!(a.classes["junk"].resets, 1);
        assert_eq!(a.requests(), 5);
        assert_eq!(a.overall().0, Duration::from_millis(3));
    }

    #[test]
    fn keeps_only_the_first_failures() {
        let mut t = Tally::default();
        for i in 0..FAILURES_KEPT + 5 {
            t.fail(format!("f{i}"));
        }
        assert_eq!(
            (t.failures.len(), t.failure_count),
            (FAILURES_KEPT, FAILURES_KEPT + 5)
        );
    }
}
