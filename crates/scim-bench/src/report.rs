//! The text the bench prints: parameters, one aligned row per scenario, memory.

use crate::args::Args;
use crate::server::Memory;
use crate::stats::{ms, Summary};
use std::time::Duration;

const NAME_WIDTH: usize = 36;

pub fn parameters(args: &Args, seed_concurrency: usize) {
    println!("scim-bench");
    println!("  server       {}", args.server.display());
    println!(
        "  users        {} (seeded {seed_concurrency} in flight, no password)",
        args.users
    );
    println!(
        "  requests     {} per scenario, capped at {} s",
        args.requests, args.seconds
    );
    println!("  concurrency  {}", args.concurrency);
    println!();
}

pub fn seeding(users: usize, elapsed: Duration) {
    let rate = users as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "seeded {users} users in {:.2} s ({rate:.0} users/s)",
        elapsed.as_secs_f64()
    );
    println!();
}

pub fn header() {
    println!(
        "{:<NAME_WIDTH$} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8}",
        "scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"
    );
}

pub fn row(name: &str, s: &Summary) {
    println!(
        "{name:<NAME_WIDTH$} {:>8} {:>6} {:>9.1} {:>8.2} {:>8.2} {:>8.2}",
        s.completed,
        s.errors,
        s.per_second,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

pub fn memory(pid: u32, memory: Memory) {
    println!();
    println!(
        "server RSS (pid {pid}): peak {:.1} MiB (VmHWM), now {:.1} MiB (VmRSS)",
        mib(memory.peak_kb),
        mib(memory.current_kb)
    );
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
